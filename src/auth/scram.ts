/**
 * The server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677)
 * without channel binding.
 *
 * Logins cost two HMACs and a hash (no PBKDF2: the stored keys are already
 * salted), computed synchronously in TypeScript (`_sha.ts`: cheaper than
 * `node:crypto` for a few hundred bytes) into scratch space, as every new
 * typed array costs about half a microsecond in Deno; the proof is compared
 * in constant time.
 *
 * @module
 */

import { hmac, type HmacKey, hmacKey, shaDigest } from "./_sha.ts";
import type { SaslContext, SaslExchange, SaslMechanism, SaslStep } from "./sasl_mechanism.ts";
import type { AccountRecord, ScramCredentials, ScramHash } from "../storage/account_store.ts";
import { DEFAULT_SCRAM_ITERATIONS } from "./credentials.ts";
import { Jid } from "../jid/jid.ts";
import { prepLocalpart } from "../jid/prep.ts";
import { decodeBase64 } from "../core/base64.ts";
import { RandomPool } from "../core/random_pool.ts";

/** Options for {@linkcode createScramMechanism}. */
export interface ScramMechanismOptions {
  /**
   * Finds an account by normalised localpart. A rejection is passed on by
   * {@linkcode SaslExchange.step}; the caller answers `temporary-auth-failure`.
   */
  lookup(username: string): Promise<AccountRecord | undefined>;
  /**
   * Finds one hash's credentials by normalised localpart, where that is
   * cheaper than {@linkcode ScramMechanismOptions.lookup} (a login needs
   * one hash); used instead of `lookup` when given. Rejections are handled
   * like `lookup`'s.
   */
  credentials?(username: string, hash: ScramHash): Promise<ScramCredentials | undefined>;
  /**
   * Makes the server's part of the nonce: printable ASCII without `,`.
   *
   * @default {24 base64 characters of 18 random bytes}
   */
  nonce?: () => string;
  /**
   * The served domain: when set, an authzid given as a bare JID must be on
   * it; when unset only its localpart is compared.
   */
  domain?: string;
  /**
   * Iteration count shown for unknown users; set it to the count new
   * accounts are created with, or `i=` tells unknown users apart.
   *
   * @default {4096}
   */
  iterations?: number;
  /**
   * Key for the fake salts shown for unknown users. Set it from configuration
   * so that fake salts stay the same across restarts, like real ones.
   *
   * @default {32 random bytes per mechanism}
   */
  secret?: Uint8Array;
}

/**
 * Creates a SCRAM mechanism (`SCRAM-SHA-1` or `SCRAM-SHA-256`).
 *
 * Unknown users get the same exchange as known ones, with a salt derived
 * from `secret` and the username, and fail `not-authorized` at the end, so the
 * answers do not reveal whether an account exists. A `p=` GS2 flag is refused
 * (`-PLUS` is not offered); `y` is accepted for the same reason.
 *
 * @param hash The hash function.
 * @param options Account lookup, nonce source, served domain, and what unknown users see.
 * @returns The mechanism.
 * @throws {TypeError} If `hash` is not `SHA-1` or `SHA-256`.
 * @throws {RangeError} If `iterations` is not a positive integer.
 *
 * @example Usage
 * ```ts
 * import { createScramMechanism } from "./scram.ts";
 * import { createAccountRecord } from "./credentials.ts";
 * import assert from "node:assert/strict";
 *
 * const record = await createAccountRecord("user", "pencil");
 * const mechanism = createScramMechanism("SHA-256", {
 *   lookup: (username) => Promise.resolve(username === "user" ? record : undefined),
 * });
 * assert.equal(mechanism.name, "SCRAM-SHA-256");
 * const exchange = mechanism.start({ encrypted: true });
 * const step = await exchange.step(new TextEncoder().encode("n,,n=user,r=abc"));
 * assert.equal(step.kind, "challenge");
 * ```
 */
export function createScramMechanism(
  hash: ScramHash,
  options: ScramMechanismOptions,
): SaslMechanism {
  if (!SCRAM_HASHES.includes(hash)) {
    throw new TypeError(`Cannot create SCRAM mechanism: unknown hash '${hash}'`);
  }
  const config: ScramConfig = {
    hash,
    lookup: options.lookup,
    credentials: options.credentials,
    nonce: options.nonce ?? randomNonce,
    domain: options.domain,
    secret: hmacKey(hash, options.secret ?? crypto.getRandomValues(new Uint8Array(32))),
    iterations: options.iterations ?? DEFAULT_SCRAM_ITERATIONS,
  };
  if (!Number.isSafeInteger(config.iterations) || config.iterations < 1) {
    throw new RangeError(
      `Cannot create SCRAM mechanism: 'iterations' must be a positive integer, got ${config.iterations}`,
    );
  }
  return {
    name: `SCRAM-${hash}`,
    start(_context: SaslContext): SaslExchange {
      return new ScramExchange(config);
    },
  };
}

interface ScramConfig {
  hash: ScramHash;
  lookup(username: string): Promise<AccountRecord | undefined>;
  credentials:
    | ((username: string, hash: ScramHash) => Promise<ScramCredentials | undefined>)
    | undefined;
  nonce(): string;
  domain: string | undefined;
  secret: HmacKey;
  iterations: number;
}

/** The SCRAM hashes `_sha.ts` computes. */
const SCRAM_HASHES: readonly string[] = ["SHA-1", "SHA-256"];
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const ENCODER = new TextEncoder();
/** RFC 5802 §7 `printable`: %x21-2B / %x2D-7E. */
const NONCE_REGEXP = /^[\x21-\x2b\x2d-\x7e]+$/;
/** RFC 5802 §7 `attr-val` for extensions. */
const EXTENSION_REGEXP = /^[A-Za-z]=/;
const RANDOM = new RandomPool();
/** Bytes of a server nonce: 24 base64 characters. */
const NONCE_BYTES = 18;

// Scratch space: the code that uses it runs synchronously from start to end.
/** The decoded `c=` and `p=` of a client-final message, when they fit. */
const BINDING = new Uint8Array(64);
const PROOF = new Uint8Array(64);
/** ClientSignature, then H(ClientKey), then ServerSignature. */
const SIGNATURE: Record<ScramHash, Uint8Array> = {
  "SHA-1": new Uint8Array(20),
  "SHA-256": new Uint8Array(32),
};
/** The keyed digest behind an unknown user's credentials. */
const DECOY: Record<ScramHash, Uint8Array> = {
  "SHA-1": new Uint8Array(20),
  "SHA-256": new Uint8Array(32),
};

type State = "initial" | "awaiting-client-first" | "awaiting-client-final" | "done";

/** One SCRAM exchange: client-first → server-first → client-final → server-final. */
class ScramExchange implements SaslExchange {
  #config: ScramConfig;
  #state: State = "initial";
  /** The GS2 header as the client sent it, which `c=` must repeat. */
  #gs2Header = "";
  #clientFirstBare = "";
  #serverFirst = "";
  #nonce = "";
  #credentials: ScramCredentials | undefined;
  #username: string | undefined;

  constructor(config: ScramConfig) {
    this.#config = config;
  }

  async step(response: Uint8Array): Promise<SaslStep> {
    switch (this.#state) {
      case "initial":
        // RFC 6120 §6.4.2: no initial response, so send an empty challenge.
        if (response.length === 0) {
          this.#state = "awaiting-client-first";
          return { kind: "challenge", data: new Uint8Array(0) };
        }
        return await this.#clientFirst(response);
      case "awaiting-client-first":
        return await this.#clientFirst(response);
      case "awaiting-client-final":
        this.#state = "done";
        return this.#clientFinal(response);
      case "done":
        return failure("malformed-request", "The exchange is over");
    }
  }

  async #clientFirst(response: Uint8Array): Promise<SaslStep> {
    this.#state = "done";
    const message = decode(response);
    if (message === undefined) return failure("malformed-request", "Not UTF-8");
    // RFC 5802 §7: gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const flag = message.charCodeAt(0);
    if (flag === 0x70) {
      // "p=": the client wants channel binding, which only -PLUS offers.
      return failure("malformed-request", "Channel binding is not supported");
    }
    // "y": the client could bind but thinks we cannot; true, as no -PLUS is offered.
    if ((flag !== 0x6e && flag !== 0x79) || message.charCodeAt(1) !== 0x2c) {
      return failure("malformed-request", "Bad GS2 header");
    }
    const authzidEnd = message.indexOf(",", 2);
    if (authzidEnd === -1) return failure("malformed-request", "Bad GS2 header");
    let authzid: string | undefined;
    if (authzidEnd > 2) {
      if (!message.startsWith("a=", 2)) return failure("malformed-request", "Bad GS2 header");
      authzid = decodeSaslname(message.slice(4, authzidEnd));
      if (authzid === undefined) return failure("malformed-request", "Bad authzid");
    }
    this.#gs2Header = message.slice(0, authzidEnd + 1);

    const bare = message.slice(authzidEnd + 1);
    const attributes = bare.split(",");
    const [userAttribute, nonceAttribute] = attributes;
    // "m=" is a mandatory extension nobody defines; the server must fail.
    if (userAttribute === undefined || !userAttribute.startsWith("n=")) {
      return failure("malformed-request", "Expected n= first");
    }
    if (nonceAttribute === undefined || !nonceAttribute.startsWith("r=")) {
      return failure("malformed-request", "Expected r= second");
    }
    const clientNonce = nonceAttribute.slice(2);
    const name = decodeSaslname(userAttribute.slice(2));
    if (name === undefined) return failure("malformed-request", "Bad username");
    if (!NONCE_REGEXP.test(clientNonce)) return failure("malformed-request", "Bad nonce");
    for (let i = 2; i < attributes.length; i++) {
      if (!EXTENSION_REGEXP.test(attributes[i] ?? "")) {
        return failure("malformed-request", "Bad extension");
      }
    }

    const username = normaliseUsername(name);
    if (authzid !== undefined && !this.#authzidMatches(authzid, username)) {
      return failure("invalid-authzid", "The authzid is not the authenticated user");
    }
    const credentials = username === undefined ? undefined : await this.#find(username);
    // Derived for known users too, so both paths do the same work.
    const decoy = this.#decoy(username ?? name);
    this.#credentials = credentials ?? decoyCredentials(decoy, this.#config.iterations);
    this.#username = credentials === undefined ? undefined : username;

    const serverNonce = this.#config.nonce();
    if (!NONCE_REGEXP.test(serverNonce)) {
      throw new TypeError(
        `Cannot use server nonce '${serverNonce}': it must be printable ASCII without ','`,
      );
    }
    this.#nonce = clientNonce + serverNonce;
    this.#clientFirstBare = bare;
    this.#serverFirst =
      `r=${this.#nonce},s=${this.#credentials.salt.toBase64()},i=${this.#credentials.iterations}`;
    this.#state = "awaiting-client-final";
    return { kind: "challenge", data: this.#serverFirst };
  }

  #clientFinal(response: Uint8Array): SaslStep {
    const message = decode(response);
    if (message === undefined) return failure("malformed-request", "Not UTF-8");
    // RFC 5802 §7: channel-binding "," nonce ["," extensions] "," proof
    const proofStart = message.lastIndexOf(",p=");
    if (!message.startsWith("c=") || proofStart === -1) {
      return failure("malformed-request", "Expected c= first and p= last");
    }
    const withoutProof = message.slice(0, proofStart);
    const attributes = withoutProof.split(",");
    const [binding = "", nonce] = attributes;
    if (nonce === undefined || !nonce.startsWith("r=")) {
      return failure("malformed-request", "Expected r= second");
    }
    for (let i = 2; i < attributes.length; i++) {
      if (!EXTENSION_REGEXP.test(attributes[i] ?? "")) {
        return failure("malformed-request", "Bad extension");
      }
    }
    const bindingBytes = decodeBase64(binding, BINDING, 2);
    const proof = decodeBase64(message, PROOF, proofStart + 3);
    if (bindingBytes === undefined || proof === undefined) {
      return failure("malformed-request", "Bad base64");
    }
    const credentials = this.#credentials;
    const { hash } = this.#config;
    if (
      credentials === undefined || proof.length !== credentials.storedKey.length ||
      proof.length !== SIGNATURE[hash].length
    ) {
      return failure("malformed-request", "Bad proof length");
    }
    // RFC 5802 §5.1: c= repeats the GS2 header (no channel-binding data here).
    if (!isUtf8Of(bindingBytes, this.#gs2Header)) {
      return failure("not-authorized", "Channel binding does not match the GS2 header");
    }
    // The nonce must be the client's followed by ours, unchanged.
    if (nonce.slice(2) !== this.#nonce) return failure("not-authorized", "Nonce mismatch");

    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const signature = SIGNATURE[hash];
    hmac(hash, credentials.storedKey, authMessage, signature);
    // The proof becomes the ClientKey, whose hash must be the StoredKey.
    for (let i = 0; i < proof.length; i++) proof[i]! ^= signature[i]!;
    const valid = constantTimeEqual(shaDigest(hash, proof, signature), credentials.storedKey);
    proof.fill(0); // key material does not stay in the scratch space
    if (!valid || this.#username === undefined) return failure("not-authorized");
    const serverSignature = hmac(hash, credentials.serverKey, authMessage, signature).toBase64();
    return {
      kind: "success",
      username: this.#username,
      data: `v=${serverSignature}`,
    };
  }

  /** The account's credentials for this exchange's hash, if it exists. */
  async #find(username: string): Promise<ScramCredentials | undefined> {
    const { credentials, lookup, hash } = this.#config;
    if (credentials !== undefined) return await credentials(username, hash);
    return (await lookup(username))?.scram[hash];
  }

  /** RFC 6120 §6.3.8: the authzid may only name the user itself (bare JID or localpart). */
  #authzidMatches(authzid: string, username: string | undefined): boolean {
    if (username === undefined) return false;
    if (!authzid.includes("@")) return normaliseUsername(authzid) === username;
    const jid = Jid.tryParse(authzid);
    return jid !== undefined && jid.isBare && jid.local === username &&
      (this.#config.domain === undefined || jid.domain === this.#config.domain);
  }

  /** The keyed digest of `name`, in scratch space, for {@linkcode decoyCredentials}. */
  #decoy(name: string): Uint8Array {
    const { hash, secret } = this.#config;
    return hmac(hash, secret, name, DECOY[hash]);
  }
}

/**
 * Credentials no password matches, with a salt that is stable per username:
 * the first 16 bytes of the keyed digest are the salt; the whole digest, a
 * key no proof can match without the secret.
 */
function decoyCredentials(digest: Uint8Array, iterations: number): ScramCredentials {
  const key = digest.slice();
  return { salt: key.subarray(0, 16), iterations, storedKey: key, serverKey: key };
}

function failure(
  condition: "malformed-request" | "not-authorized" | "invalid-authzid",
  text?: string,
): SaslStep {
  return text === undefined ? { kind: "failure", condition } : { kind: "failure", condition, text };
}

function decode(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** RFC 5802 §5.1: `=2C` is `,` and `=3D` is `=`; any other `=` is an error. */
function decodeSaslname(text: string): string | undefined {
  if (text.length === 0) return undefined;
  if (!text.includes("=")) return text;
  let result = "";
  let start = 0;
  for (let i = text.indexOf("="); i !== -1; i = text.indexOf("=", start)) {
    const escape = text.slice(i + 1, i + 3);
    if (escape !== "2C" && escape !== "3D") return undefined;
    result += text.slice(start, i) + (escape === "2C" ? "," : "=");
    start = i + 3;
  }
  return result + text.slice(start);
}

function normaliseUsername(name: string): string | undefined {
  try {
    return prepLocalpart(name);
  } catch {
    return undefined;
  }
}

/** Whether `bytes` are the UTF-8 of `text`. */
function isUtf8Of(bytes: Uint8Array, text: string): boolean {
  // UTF-8 is as long as UTF-16 only for ASCII; anything else takes the slow way.
  if (bytes.length !== text.length) return constantTimeEqual(bytes, ENCODER.encode(text));
  for (let i = 0; i < bytes.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80 || code !== bytes[i]) return false;
  }
  return true;
}

/** Compares in time that depends only on the lengths. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

function randomNonce(): string {
  return RANDOM.take(NONCE_BYTES).toBase64();
}
