/**
 * An {@linkcode AccountStore} kept in memory, for tests and embedding.
 *
 * @module
 */

import type { AccountRecord, AccountStore, ScramCredentials, ScramHash } from "./account_store.ts";

/** SCRAM hashes every record carries. */
const HASHES: readonly ScramHash[] = ["SHA-1", "SHA-256"];

/**
 * Accounts in a `Map`. Records are copied on the way in and out, so callers
 * cannot change stored keys by mutating a record they hold.
 *
 * @example Usage
 * ```ts
 * import { MemoryAccountStore } from "./memory_account_store.ts";
 * import { createAccountRecord } from "../auth/credentials.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryAccountStore();
 * await store.put(await createAccountRecord("juliet", "r0m30"));
 * assert.deepEqual(await store.list(), ["juliet"]);
 * assert.equal((await store.get("juliet"))?.username, "juliet");
 * ```
 */
export class MemoryAccountStore implements AccountStore, Disposable {
  #accounts = new Map<string, AccountRecord>();
  #closed = false;

  /**
   * The account with this normalised localpart, if any.
   *
   * @param username The normalised localpart.
   * @returns A copy of the record, or `undefined`.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * assert.equal(await store.get("nobody"), undefined);
   * ```
   */
  get(username: string): Promise<AccountRecord | undefined> {
    return Promise.try(() => {
      this.#checkOpen();
      const record = this.#accounts.get(username);
      return record === undefined ? undefined : copyRecord(record);
    });
  }

  /**
   * One hash's credentials of the account (a copy).
   *
   * @param username The normalised localpart.
   * @param hash The SCRAM hash.
   * @returns The credentials, or `undefined` if there is no such account.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * const record = await createAccountRecord("juliet", "r0m30");
   * await store.put(record);
   * assert.deepEqual(await store.getScram("juliet", "SHA-256"), record.scram["SHA-256"]);
   * ```
   */
  getScram(username: string, hash: ScramHash): Promise<ScramCredentials | undefined> {
    return this.get(username).then((record) => record?.scram[hash]);
  }

  /**
   * Whether the account exists.
   *
   * @param username The normalised localpart.
   * @returns Whether there is such an account.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * await store.put(await createAccountRecord("juliet", "r0m30"));
   * assert.equal(await store.has("juliet"), true);
   * assert.equal(await store.has("nobody"), false);
   * ```
   */
  has(username: string): Promise<boolean> {
    return this.get(username).then((record) => record !== undefined);
  }

  /**
   * Creates or replaces an account.
   *
   * @param record The account; copied.
   * @returns When stored; rejects with a `TypeError` if the record lacks a
   * username or well-formed credentials for a hash.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * await store.put(await createAccountRecord("romeo", "one"));
   * assert.ok(await store.get("romeo"));
   * ```
   */
  put(record: AccountRecord): Promise<void> {
    return Promise.try(() => {
      this.#checkOpen();
      const copy = copyRecord(record);
      this.#accounts.set(copy.username, copy);
    });
  }

  /**
   * Removes an account.
   *
   * @param username The normalised localpart.
   * @returns Whether the account existed.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * assert.equal(await store.delete("nobody"), false);
   * ```
   */
  delete(username: string): Promise<boolean> {
    return Promise.try(() => {
      this.#checkOpen();
      return this.#accounts.delete(username);
    });
  }

  /**
   * Every username, sorted by UTF-16 code units (`Array.prototype.sort`).
   *
   * @returns The usernames.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryAccountStore();
   * assert.deepEqual(await store.list(), []);
   * ```
   */
  list(): Promise<string[]> {
    return Promise.try(() => {
      this.#checkOpen();
      return [...this.#accounts.keys()].sort();
    });
  }

  /**
   * Drops every account; later calls throw. Closing twice is harmless.
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryAccountStore();
   * store.close();
   * await assert.rejects(store.list());
   * ```
   */
  close(): void {
    this.#closed = true;
    this.#accounts.clear();
  }

  /**
   * Closes the store, for `using`.
   *
   * @example Usage
   * ```ts
   * import { MemoryAccountStore } from "./memory_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryAccountStore();
   * store[Symbol.dispose]();
   * await assert.rejects(store.get("x"));
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("Cannot use account store: it is closed");
  }
}

function copyRecord(record: AccountRecord): AccountRecord {
  if (typeof record.username !== "string" || record.username.length === 0) {
    throw new TypeError("Cannot store account: 'username' must be a non-empty string");
  }
  const scram = {} as Record<ScramHash, ScramCredentials>;
  for (const hash of HASHES) {
    const credentials = record.scram?.[hash];
    if (credentials === undefined) {
      throw new TypeError(
        `Cannot store account '${record.username}': it has no ${hash} credentials`,
      );
    }
    const { salt, iterations, storedKey, serverKey } = credentials;
    if (
      !(salt instanceof Uint8Array) || !(storedKey instanceof Uint8Array) ||
      !(serverKey instanceof Uint8Array) || !Number.isSafeInteger(iterations) || iterations < 1
    ) {
      throw new TypeError(
        `Cannot store account '${record.username}': its ${hash} credentials are malformed`,
      );
    }
    scram[hash] = {
      salt: salt.slice(),
      iterations,
      storedKey: storedKey.slice(),
      serverKey: serverKey.slice(),
    };
  }
  return { username: record.username, scram };
}
