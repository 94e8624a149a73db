/**
 * An {@linkcode AccountStore} in an SQLite file through `node:sqlite`
 * (`DatabaseSync`, built into Deno). Salts and keys are BLOBs; no password is
 * ever stored.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { AccountRecord, AccountStore, ScramCredentials, ScramHash } from "./account_store.ts";
import { migrate, openDatabase, transaction } from "./_migrations.ts";
import { BoundedMap } from "../limits/bounded_map.ts";
import { type Clock, systemTimers } from "../core/clock.ts";

/** SCRAM hashes every record carries. */
const HASHES: readonly ScramHash[] = ["SHA-1", "SHA-256"];

/**
 * Numbered schema migrations; entry `n` moves the schema from version `n` to
 * `n + 1`. Append only: never edit one that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE accounts (
     username TEXT PRIMARY KEY NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE scram_credentials (
     username TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
     hash TEXT NOT NULL,
     salt BLOB NOT NULL,
     iterations INTEGER NOT NULL,
     stored_key BLOB NOT NULL,
     server_key BLOB NOT NULL,
     PRIMARY KEY (username, hash)
   ) STRICT, WITHOUT ROWID;`,
];

interface CredentialsRow {
  hash: string;
  salt: Uint8Array;
  iterations: number;
  stored_key: Uint8Array;
  server_key: Uint8Array;
}

interface HexCredentialsRow {
  salt: string;
  iterations: number;
  stored_key: string;
  server_key: string;
}

/** Options for {@linkcode SqliteAccountStore}. */
export interface SqliteAccountStoreOptions {
  /**
   * How many accounts' SCRAM credentials (one hash each) are kept in memory
   * for logins, the least recently used leaving first; 0 keeps none. About
   * 650 bytes of memory each.
   *
   * @default {10000}
   */
  cachedCredentials?: number;
  /**
   * At most how often, in milliseconds, a login asks SQLite whether another
   * process (such as `xmppd passwd`) changed the database; if one did, every
   * cached credential is dropped. Changes made through this store drop the
   * account's at once.
   *
   * @default {1000}
   */
  changeCheckMs?: number;
  /** The clock for `changeCheckMs`. @default {systemTimers} */
  clock?: Clock;
}

/**
 * Accounts in an SQLite database: WAL journal, schema versioned in a
 * `schema_version` table and migrated in one transaction on open, prepared
 * statements reused for the store's lifetime.
 *
 * The API is asynchronous as {@linkcode AccountStore} requires, but each call
 * runs synchronously on the calling thread (a primary-key lookup takes
 * microseconds). The credentials logins read are cached (see
 * {@linkcode SqliteAccountStoreOptions}): in a login storm the lookup was
 * about a tenth of the server's time per login (S1 profile).
 *
 * @example Usage
 * ```ts
 * import { SqliteAccountStore } from "./sqlite_account_store.ts";
 * import { createAccountRecord } from "../auth/credentials.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new SqliteAccountStore(":memory:");
 * await store.put(await createAccountRecord("juliet", "r0m30"));
 * assert.deepEqual(await store.list(), ["juliet"]);
 * ```
 */
export class SqliteAccountStore implements AccountStore, Disposable {
  #db: DatabaseSync;
  #selectCredentials: StatementSync;
  #selectScram: StatementSync;
  #insertAccount: StatementSync;
  #deleteCredentials: StatementSync;
  #insertCredentials: StatementSync;
  #deleteAccount: StatementSync;
  #selectUsernames: StatementSync;
  #selectAccount: StatementSync;
  #selectDataVersion: StatementSync;
  /**
   * Credentials by `credentialsKey()`, each packed into one array (see
   * `packCredentials`) that logins read through views: as three Uint8Arrays
   * (each with its own backing store) an entry took about 2 KB of memory, as
   * the row the query returns about 1 KB, packed about 600 bytes (RSS); and
   * decoding a hex string per login took 2.5 µs.
   */
  #credentials: BoundedMap<string, Uint8Array> | undefined;
  #clock: Clock;
  #changeCheckMs: number;
  #checkedAt = -Infinity;
  #dataVersion: unknown = undefined;

  /**
   * Opens (creating if needed) the database and brings its schema up to date.
   *
   * @param path A file path, whose parent directories are created, or `:memory:`.
   * @param options The credentials cache.
   * @throws {RangeError} If `cachedCredentials` is not an integer >= 0 or
   * `changeCheckMs` not a finite number >= 0.
   * @throws {Error} If the database cannot be opened, or its schema is newer
   * than this code knows.
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * assert.deepEqual(await store.list(), []);
   * ```
   */
  constructor(path: string, options: SqliteAccountStoreOptions = {}) {
    const cached = options.cachedCredentials ?? 10_000;
    const changeCheckMs = options.changeCheckMs ?? 1000;
    if (!Number.isSafeInteger(cached) || cached < 0) {
      throw new RangeError(
        `Cannot open account store: 'cachedCredentials' must be an integer >= 0, got ${cached}`,
      );
    }
    if (!(changeCheckMs >= 0) || changeCheckMs === Infinity) {
      throw new RangeError(
        `Cannot open account store: 'changeCheckMs' must be a finite number >= 0, got ${changeCheckMs}`,
      );
    }
    this.#credentials = cached > 0 ? new BoundedMap(cached) : undefined;
    this.#clock = options.clock ?? systemTimers;
    this.#changeCheckMs = changeCheckMs;
    this.#db = openDatabase(path);
    try {
      migrate(
        this.#db,
        { table: "schema_version", migrations: MIGRATIONS, label: "account store" },
        path,
      );
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#selectCredentials = this.#db.prepare(
      "SELECT hash, salt, iterations, stored_key, server_key FROM scram_credentials WHERE username = ?",
    );
    // Hex text, not BLOBs: node:sqlite gives each BLOB its own external
    // ArrayBuffer, which cost a login about 8 us more than decoding hex
    // (server profile, S1); a login reads this row once.
    this.#selectScram = this.#db.prepare(
      `SELECT hex(salt) AS salt, iterations, hex(stored_key) AS stored_key,
         hex(server_key) AS server_key
       FROM scram_credentials WHERE username = ? AND hash = ?`,
    );
    this.#insertAccount = this.#db.prepare(
      "INSERT INTO accounts (username) VALUES (?) ON CONFLICT DO NOTHING",
    );
    this.#deleteCredentials = this.#db.prepare(
      "DELETE FROM scram_credentials WHERE username = ?",
    );
    this.#insertCredentials = this.#db.prepare(
      "INSERT INTO scram_credentials (username, hash, salt, iterations, stored_key, server_key) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#deleteAccount = this.#db.prepare("DELETE FROM accounts WHERE username = ?");
    this.#selectUsernames = this.#db.prepare("SELECT username FROM accounts");
    this.#selectAccount = this.#db.prepare("SELECT 1 AS x FROM accounts WHERE username = ?");
    // Changes when another connection commits (https://sqlite.org/pragma.html#pragma_data_version).
    this.#selectDataVersion = this.#db.prepare("PRAGMA data_version");
  }

  /**
   * The account with this normalised localpart, if any.
   *
   * @param username The normalised localpart.
   * @returns The record, or `undefined`.
   * @throws {Error} If the store is closed or the row is incomplete (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * assert.equal(await store.get("nobody"), undefined);
   * ```
   */
  get(username: string): Promise<AccountRecord | undefined> {
    return Promise.try(() => {
      const rows = this.#selectCredentials.all(username) as unknown as CredentialsRow[];
      if (rows.length === 0) return undefined;
      const scram = {} as Record<ScramHash, ScramCredentials>;
      for (const hash of HASHES) {
        const row = rows.find((candidate) => candidate.hash === hash);
        if (row === undefined) {
          throw new Error(`Cannot read account '${username}': it has no ${hash} credentials`);
        }
        scram[hash] = {
          salt: row.salt,
          iterations: row.iterations,
          storedKey: row.stored_key,
          serverKey: row.server_key,
        };
      }
      return { username, scram };
    });
  }

  /**
   * One hash's credentials of the account: one row instead of the record's two.
   *
   * @param username The normalised localpart.
   * @param hash The SCRAM hash.
   * @returns The credentials, or `undefined` if there is no such account.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * const record = await createAccountRecord("juliet", "r0m30");
   * await store.put(record);
   * assert.deepEqual(await store.getScram("juliet", "SHA-1"), record.scram["SHA-1"]);
   * assert.equal(await store.getScram("nobody", "SHA-1"), undefined);
   * ```
   */
  getScram(username: string, hash: ScramHash): Promise<ScramCredentials | undefined> {
    return Promise.try(() => {
      const cache = this.#credentials;
      let entry: Uint8Array | undefined;
      if (cache !== undefined) {
        this.#dropIfChangedElsewhere(cache);
        entry = cache.get(credentialsKey(hash, username));
      }
      if (entry === undefined) {
        const row = this.#selectScram.get(username, hash) as HexCredentialsRow | undefined;
        if (row === undefined) return undefined;
        entry = packCredentials(row);
        if (entry === undefined) return decodeCredentials(row);
        cache?.set(credentialsKey(hash, username), entry);
      }
      return unpackCredentials(entry);
    });
  }

  /**
   * Whether the account exists: one indexed row, where {@linkcode get} reads
   * and decodes both hashes' credentials.
   *
   * @param username The normalised localpart.
   * @returns Whether there is such an account.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * await store.put(await createAccountRecord("juliet", "r0m30"));
   * assert.equal(await store.has("juliet"), true);
   * assert.equal(await store.has("nobody"), false);
   * ```
   */
  has(username: string): Promise<boolean> {
    return Promise.try(() => this.#selectAccount.get(username) !== undefined);
  }

  /** Drops every cached credential if another process committed since the last check. */
  #dropIfChangedElsewhere(cache: BoundedMap<string, Uint8Array>): void {
    const now = this.#clock.now();
    if (now - this.#checkedAt < this.#changeCheckMs) return;
    this.#checkedAt = now;
    const version = (this.#selectDataVersion.get() as { data_version: unknown }).data_version;
    if (version !== this.#dataVersion) {
      this.#dataVersion = version;
      cache.clear();
    }
  }

  /** Forgets the account's cached credentials (it is being changed or removed). */
  #forget(username: string): void {
    if (this.#credentials === undefined) return;
    for (const hash of HASHES) this.#credentials.delete(credentialsKey(hash, username));
  }

  /**
   * Creates or replaces an account, in one transaction.
   *
   * @param record The account.
   * @returns When committed; rejects with a `TypeError` if the record lacks a
   * username or well-formed credentials for a hash.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import { createAccountRecord } from "../auth/credentials.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * await store.put(await createAccountRecord("romeo", "one"));
   * assert.ok(await store.get("romeo"));
   * ```
   */
  put(record: AccountRecord): Promise<void> {
    return Promise.try(() => {
      const { username } = record;
      if (typeof username !== "string" || username.length === 0) {
        throw new TypeError("Cannot store account: 'username' must be a non-empty string");
      }
      for (const hash of HASHES) checkCredentials(username, hash, record.scram?.[hash]);
      this.#forget(username);
      transaction(this.#db, () => {
        this.#insertAccount.run(username);
        this.#deleteCredentials.run(username);
        for (const hash of HASHES) {
          const { salt, iterations, storedKey, serverKey } = record.scram[hash];
          this.#insertCredentials.run(username, hash, salt, iterations, storedKey, serverKey);
        }
      });
    });
  }

  /**
   * Removes an account and its credentials.
   *
   * @param username The normalised localpart.
   * @returns Whether the account existed.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * assert.equal(await store.delete("nobody"), false);
   * ```
   */
  delete(username: string): Promise<boolean> {
    return Promise.try(() => {
      this.#forget(username);
      return this.#deleteAccount.run(username).changes > 0;
    });
  }

  /**
   * Every username, sorted by UTF-16 code units like the memory store.
   *
   * @returns The usernames.
   * @throws {Error} If the store is closed (as a rejection).
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteAccountStore(":memory:");
   * assert.deepEqual(await store.list(), []);
   * ```
   */
  list(): Promise<string[]> {
    return Promise.try(() => {
      const rows = this.#selectUsernames.all() as unknown as { username: string }[];
      return rows.map((row) => row.username).sort();
    });
  }

  /**
   * Closes the database; later calls reject. Closing twice is harmless.
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new SqliteAccountStore(":memory:");
   * store.close();
   * await assert.rejects(store.list());
   * ```
   */
  close(): void {
    this.#credentials?.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Closes the store, for `using`.
   *
   * @example Usage
   * ```ts
   * import { SqliteAccountStore } from "./sqlite_account_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new SqliteAccountStore(":memory:");
   * store[Symbol.dispose]();
   * await assert.rejects(store.get("x"));
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * One hash's credentials in one array: the iteration count (4 bytes, big
 * endian), the salt's length (2 bytes), the salt, then StoredKey and
 * ServerKey; `undefined` for credentials that do not fit that shape (keys of
 * different lengths, more than 2^32 - 1 iterations, a salt over 64 KiB).
 */
function packCredentials(row: HexCredentialsRow): Uint8Array | undefined {
  const saltLength = row.salt.length / 2;
  const keyLength = row.stored_key.length / 2;
  if (
    row.server_key.length !== row.stored_key.length || row.iterations > 0xffffffff ||
    saltLength > 0xffff
  ) return undefined;
  const entry = new Uint8Array(6 + saltLength + keyLength * 2);
  new DataView(entry.buffer).setUint32(0, row.iterations);
  entry[4] = saltLength >>> 8;
  entry[5] = saltLength & 0xff;
  entry.subarray(6).setFromHex(row.salt);
  entry.subarray(6 + saltLength).setFromHex(row.stored_key);
  entry.subarray(6 + saltLength + keyLength).setFromHex(row.server_key);
  return entry;
}

function decodeCredentials(row: HexCredentialsRow): ScramCredentials {
  return {
    salt: Uint8Array.fromHex(row.salt),
    iterations: row.iterations,
    storedKey: Uint8Array.fromHex(row.stored_key),
    serverKey: Uint8Array.fromHex(row.server_key),
  };
}

/** Views of a {@linkcode packCredentials} entry: no copy, no new backing store. */
function unpackCredentials(entry: Uint8Array): ScramCredentials {
  const iterations = ((entry[0]! << 24) | (entry[1]! << 16) | (entry[2]! << 8) | entry[3]!) >>> 0;
  const saltEnd = 6 + ((entry[4]! << 8) | entry[5]!);
  const keyEnd = saltEnd + (entry.length - saltEnd) / 2;
  return {
    salt: entry.subarray(6, saltEnd),
    iterations,
    storedKey: entry.subarray(saltEnd, keyEnd),
    serverKey: entry.subarray(keyEnd),
  };
}

/** The cache's key for one hash's credentials of an account. */
function credentialsKey(hash: ScramHash, username: string): string {
  return hash + " " + username;
}

function checkCredentials(
  username: string,
  hash: ScramHash,
  credentials: ScramCredentials | undefined,
): void {
  if (credentials === undefined) {
    throw new TypeError(`Cannot store account '${username}': it has no ${hash} credentials`);
  }
  const { salt, iterations, storedKey, serverKey } = credentials;
  if (
    !(salt instanceof Uint8Array) || !(storedKey instanceof Uint8Array) ||
    !(serverKey instanceof Uint8Array) || !Number.isSafeInteger(iterations) || iterations < 1
  ) {
    throw new TypeError(
      `Cannot store account '${username}': its ${hash} credentials are malformed`,
    );
  }
}
