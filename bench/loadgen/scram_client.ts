/**
 * The client side of SASL SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677),
 * computed for real: PBKDF2, client proof, server signature check. The
 * PBKDF2 result (ClientKey and ServerKey) may be cached per password, salt
 * and iteration count, as RFC 5802 §5.1 allows a client to do, so that a
 * login storm measures the server rather than the client's key derivation.
 *
 * @module
 */

import { createHash, createHmac, type Hash, pbkdf2, randomBytes } from "node:crypto";

/** SCRAM hash functions the load generator speaks. */
export type ScramClientHash = "SHA-1" | "SHA-256";

/** ClientKey and ServerKey derived from one password, salt and iteration count. */
export interface ScramKeys {
  clientKey: Uint8Array;
  serverKey: Uint8Array;
}

/** A cache of derived keys, keyed by hash, iterations, salt and password. */
export type ScramKeyCache = Map<string, ScramKeys>;

/** The pieces of a server-first message (RFC 5802 §5.1). */
export interface ServerFirst {
  /** The combined nonce. */
  nonce: string;
  /** The salt, base64 as sent. */
  salt: string;
  /** The iteration count. */
  iterations: number;
}

/**
 * Parses a server-first message.
 *
 * @param message The decoded `r=...,s=...,i=...` text.
 * @returns Nonce, salt and iteration count.
 * @throws {SyntaxError} If a field is missing.
 *
 * @example Usage
 * ```ts
 * import { parseServerFirst } from "./scram_client.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseServerFirst("r=abc,s=c2FsdA==,i=4096"),
 *   { nonce: "abc", salt: "c2FsdA==", iterations: 4096 });
 * ```
 */
export function parseServerFirst(message: string): ServerFirst {
  let nonce: string | undefined;
  let salt: string | undefined;
  let iterations = Number.NaN;
  for (const part of message.split(",")) {
    const value = part.slice(2);
    if (part.startsWith("r=")) nonce = value;
    else if (part.startsWith("s=")) salt = value;
    else if (part.startsWith("i=")) iterations = Number(value);
  }
  if (nonce === undefined || salt === undefined || !(iterations > 0)) {
    throw new SyntaxError(`Cannot parse SCRAM server-first message '${message}'`);
  }
  return { nonce, salt, iterations };
}

function nodeHash(hash: ScramClientHash): "sha1" | "sha256" {
  return hash === "SHA-1" ? "sha1" : "sha256";
}

/**
 * Derives ClientKey and ServerKey (PBKDF2 off the main thread), using and
 * filling `cache` when given.
 *
 * @param hash The SCRAM hash.
 * @param password The password.
 * @param first The server-first fields (salt, iterations).
 * @param cache Optional key cache.
 * @returns The keys.
 *
 * @example Usage
 * ```ts
 * import { deriveScramKeys } from "./scram_client.ts";
 * import assert from "node:assert/strict";
 *
 * const cache = new Map();
 * const first = { nonce: "n", salt: btoa("salt"), iterations: 4096 };
 * const keys = await deriveScramKeys("SHA-1", "pencil", first, cache);
 * assert.equal(keys.clientKey.length, 20);
 * assert.equal(await deriveScramKeys("SHA-1", "pencil", first, cache), keys);
 * ```
 */
export async function deriveScramKeys(
  hash: ScramClientHash,
  password: string,
  first: ServerFirst,
  cache?: ScramKeyCache,
): Promise<ScramKeys> {
  const key = `${hash}\0${first.iterations}\0${first.salt}\0${password}`;
  const hit = cache?.get(key);
  if (hit !== undefined) return hit;
  const algorithm = nodeHash(hash);
  const length = hash === "SHA-1" ? 20 : 32;
  const salted = await new Promise<Uint8Array>((resolve, reject) => {
    pbkdf2(
      password,
      Buffer.from(first.salt, "base64"),
      first.iterations,
      length,
      algorithm,
      (error, derived) => error ? reject(error) : resolve(derived),
    );
  });
  const keys = {
    clientKey: createHmac(algorithm, salted).update("Client Key").digest(),
    serverKey: createHmac(algorithm, salted).update("Server Key").digest(),
  };
  cache?.set(key, keys);
  return keys;
}

/**
 * HMAC (RFC 2104) with the key's padded blocks hashed once: a signature
 * copies the two prepared hashes instead of building an HMAC, which costs
 * Deno's `createHmac` about 40% more (measured: 4.5 against 7.3 µs).
 */
class PreparedHmac {
  #inner: Hash;
  #outer: Hash;

  constructor(algorithm: "sha1" | "sha256", key: Uint8Array) {
    // SCRAM's keys are hash outputs, shorter than the 64-byte block.
    const inner = new Uint8Array(64).fill(0x36);
    const outer = new Uint8Array(64).fill(0x5c);
    for (let i = 0; i < key.length; i++) {
      inner[i]! ^= key[i]!;
      outer[i]! ^= key[i]!;
    }
    this.#inner = createHash(algorithm).update(inner);
    this.#outer = createHash(algorithm).update(outer);
  }

  sign(message: string): Buffer {
    return this.#outer.copy().update(this.#inner.copy().update(message).digest()).digest();
  }
}

/** What every login with the same keys signs with: HMAC(StoredKey, ·) and HMAC(ServerKey, ·). */
interface Signers {
  client: PreparedHmac;
  server: PreparedHmac;
}

const signersByKeys = new WeakMap<ScramKeys, Signers>();

function signersFor(algorithm: "sha1" | "sha256", keys: ScramKeys): Signers {
  let signers = signersByKeys.get(keys);
  if (signers === undefined) {
    const storedKey = createHash(algorithm).update(keys.clientKey).digest();
    signers = {
      client: new PreparedHmac(algorithm, storedKey),
      server: new PreparedHmac(algorithm, keys.serverKey),
    };
    signersByKeys.set(keys, signers);
  }
  return signers;
}

/** One SCRAM exchange from the client side. */
export class ScramExchange {
  readonly hash: ScramClientHash;
  #clientFirstBare: string;
  #authMessage = "";
  #serverSignature = "";

  /**
   * @param hash The SCRAM hash.
   * @param username The localpart (`=` and `,` are escaped).
   * @param nonce The client nonce. @default {18 random bytes, base64}
   */
  constructor(hash: ScramClientHash, username: string, nonce?: string) {
    this.hash = hash;
    nonce ??= randomBytes(18).toString("base64");
    const name = username.replaceAll("=", "=3D").replaceAll(",", "=2C");
    this.#clientFirstBare = `n=${name},r=${nonce}`;
  }

  /** The SASL mechanism name. */
  get mechanism(): string {
    return this.hash === "SHA-1" ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
  }

  /** The client-first message (no channel binding), to be base64-encoded. */
  clientFirst(): string {
    return "n,," + this.#clientFirstBare;
  }

  /**
   * Computes the client-final message.
   *
   * @param serverFirst The decoded server-first message.
   * @param keys Keys for the salt and iterations it names.
   * @returns The client-final message, to be base64-encoded.
   * @throws {Error} If the server's nonce does not extend the client's.
   *
   * @example Usage
   * ```ts
   * import { deriveScramKeys, parseServerFirst, ScramExchange } from "./scram_client.ts";
   * import assert from "node:assert/strict";
   *
   * const exchange = new ScramExchange("SHA-1", "user");
   * const clientNonce = exchange.clientFirst().split("r=")[1];
   * const serverFirst = `r=${clientNonce}srv,s=${btoa("salt")},i=4096`;
   * const keys = await deriveScramKeys("SHA-1", "pencil", parseServerFirst(serverFirst));
   * assert.match(exchange.clientFinal(serverFirst, keys), /^c=biws,r=.*srv,p=/);
   * ```
   */
  clientFinal(serverFirst: string, keys: ScramKeys): string {
    const first = parseServerFirst(serverFirst);
    const clientNonce = this.#clientFirstBare.slice(this.#clientFirstBare.indexOf(",r=") + 3);
    if (!first.nonce.startsWith(clientNonce)) {
      throw new Error("Cannot continue SCRAM: the server nonce does not extend ours");
    }
    const algorithm = nodeHash(this.hash);
    const withoutProof = `c=biws,r=${first.nonce}`;
    this.#authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const signers = signersFor(algorithm, keys);
    const proof = signers.client.sign(this.#authMessage);
    for (let i = 0; i < proof.length; i++) proof[i]! ^= keys.clientKey[i]!;
    this.#serverSignature = signers.server.sign(this.#authMessage).toString("base64");
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /**
   * Checks the server-final message (`v=...`).
   *
   * @param serverFinal The decoded server-final message.
   * @returns Whether the server proved it knows the keys.
   */
  verifyServerFinal(serverFinal: string): boolean {
    return serverFinal === `v=${this.#serverSignature}`;
  }
}
