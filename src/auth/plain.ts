/**
 * The server side of SASL PLAIN (RFC 4616), checked against stored SCRAM
 * credentials by re-deriving the salted key (one PBKDF2 run per attempt).
 *
 * @module
 */

import type { SaslContext, SaslExchange, SaslMechanism, SaslStep } from "./sasl_mechanism.ts";
import type { AccountRecord, ScramCredentials } from "../storage/account_store.ts";
import { DEFAULT_SCRAM_ITERATIONS, verifyPassword } from "./credentials.ts";
import { Jid } from "../jid/jid.ts";
import { prepLocalpart } from "../jid/prep.ts";

/** Options for {@linkcode createPlainMechanism}. */
export interface PlainMechanismOptions {
  /**
   * Finds an account by normalised localpart. A rejection is passed on by
   * {@linkcode SaslExchange.step}; the caller answers `temporary-auth-failure`.
   */
  lookup(username: string): Promise<AccountRecord | undefined>;
  /**
   * Whether PLAIN may run on a stream that is not encrypted (tests, loopback).
   * Otherwise such attempts fail `encryption-required`.
   */
  allowWithoutTls: boolean;
  /**
   * Iteration count of the decoy PBKDF2 run for unknown users; set it to the
   * count new accounts are created with so both cost the same.
   *
   * @default {4096}
   */
  iterations?: number;
  /**
   * The served domain: when set, an authzid given as a bare JID must be on
   * it; when unset only its localpart is compared.
   */
  domain?: string;
}

/**
 * Creates the PLAIN mechanism: `[authzid] NUL authcid NUL passwd`.
 *
 * Unknown users cost the same PBKDF2 run as known ones before failing
 * `not-authorized`, so timing does not reveal whether an account exists.
 *
 * @param options Account lookup, the TLS requirement, decoy cost and the served domain.
 * @returns The mechanism.
 * @throws {RangeError} If `iterations` is not a positive integer.
 *
 * @example Usage
 * ```ts
 * import { createPlainMechanism } from "./plain.ts";
 * import { createAccountRecord } from "./credentials.ts";
 * import assert from "node:assert/strict";
 *
 * const record = await createAccountRecord("juliet", "r0m30");
 * const mechanism = createPlainMechanism({
 *   lookup: (username) => Promise.resolve(username === "juliet" ? record : undefined),
 *   allowWithoutTls: false,
 * });
 * const exchange = mechanism.start({ encrypted: true });
 * const step = await exchange.step(new TextEncoder().encode("\0juliet\0r0m30"));
 * assert.deepEqual(step, { kind: "success", username: "juliet" });
 * ```
 */
export function createPlainMechanism(options: PlainMechanismOptions): SaslMechanism {
  const config: PlainConfig = {
    lookup: options.lookup,
    allowWithoutTls: options.allowWithoutTls,
    domain: options.domain,
    decoy: decoyRecord(options.iterations ?? DEFAULT_SCRAM_ITERATIONS),
  };
  return {
    name: "PLAIN",
    start(context: SaslContext): SaslExchange {
      return new PlainExchange(config, context.encrypted);
    },
  };
}

interface PlainConfig {
  lookup(username: string): Promise<AccountRecord | undefined>;
  allowWithoutTls: boolean;
  domain: string | undefined;
  /** Checked against when the user is unknown, so the cost is the same. */
  decoy: AccountRecord;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class PlainExchange implements SaslExchange {
  #config: PlainConfig;
  #encrypted: boolean;
  #state: "initial" | "awaiting-response" | "done" = "initial";

  constructor(config: PlainConfig, encrypted: boolean) {
    this.#config = config;
    this.#encrypted = encrypted;
  }

  async step(response: Uint8Array): Promise<SaslStep> {
    if (this.#state === "done") return failure("malformed-request", "The exchange is over");
    // RFC 6120 §6.5.4: refuse before looking at credentials sent in the clear.
    if (!this.#encrypted && !this.#config.allowWithoutTls) {
      this.#state = "done";
      return failure("encryption-required");
    }
    if (this.#state === "initial" && response.length === 0) {
      // RFC 6120 §6.4.2: no initial response, so send an empty challenge.
      this.#state = "awaiting-response";
      return { kind: "challenge", data: new Uint8Array(0) };
    }
    this.#state = "done";
    // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
    const first = response.indexOf(0);
    const second = first === -1 ? -1 : response.indexOf(0, first + 1);
    if (second === -1 || response.indexOf(0, second + 1) !== -1) {
      return failure("malformed-request", "Expected authzid NUL authcid NUL passwd");
    }
    const authzid = decode(response.subarray(0, first));
    const authcid = decode(response.subarray(first + 1, second));
    const password = decode(response.subarray(second + 1));
    if (authzid === undefined || authcid === undefined || password === undefined) {
      return failure("malformed-request", "Not UTF-8");
    }
    if (authcid.length === 0 || password.length === 0) {
      return failure("malformed-request", "Empty authcid or password");
    }

    const username = normaliseUsername(authcid);
    if (authzid.length > 0 && !this.#authzidMatches(authzid, username)) {
      return failure("invalid-authzid", "The authzid is not the authenticated user");
    }
    const record = username === undefined ? undefined : await this.#config.lookup(username);
    const valid = await verifyPassword(record ?? this.#config.decoy, password);
    if (!valid || record === undefined) return failure("not-authorized");
    return { kind: "success", username: record.username };
  }

  /** RFC 6120 §6.3.8: the authzid may only name the user itself (bare JID or localpart). */
  #authzidMatches(authzid: string, username: string | undefined): boolean {
    if (username === undefined) return false;
    if (!authzid.includes("@")) return normaliseUsername(authzid) === username;
    const jid = Jid.tryParse(authzid);
    return jid !== undefined && jid.isBare && jid.local === username &&
      (this.#config.domain === undefined || jid.domain === this.#config.domain);
  }
}

/** A record no password matches: random keys. */
function decoyRecord(iterations: number): AccountRecord {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(
      `Cannot create PLAIN mechanism: 'iterations' must be a positive integer, got ${iterations}`,
    );
  }
  return {
    username: "",
    scram: {
      "SHA-1": decoyCredentials(20, iterations),
      "SHA-256": decoyCredentials(32, iterations),
    },
  };
}

function decoyCredentials(keyBytes: number, iterations: number): ScramCredentials {
  return {
    salt: crypto.getRandomValues(new Uint8Array(16)),
    iterations,
    storedKey: crypto.getRandomValues(new Uint8Array(keyBytes)),
    serverKey: crypto.getRandomValues(new Uint8Array(keyBytes)),
  };
}

function failure(
  condition: "malformed-request" | "not-authorized" | "invalid-authzid" | "encryption-required",
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

function normaliseUsername(name: string): string | undefined {
  try {
    return prepLocalpart(name);
  } catch {
    return undefined;
  }
}
