/**
 * An {@linkcode ImStore} in an SQLite file through `node:sqlite`
 * (`DatabaseSync`, built into Deno). It can share a file with
 * {@linkcode SqliteAccountStore}: each keeps its schema version in its own
 * table.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type AddOfflineOptions,
  checkOfflineMessage,
  checkRosterItem,
  checkRosterVersion,
  fitsUtf8,
  type ImStore,
  type ImStoreLimits,
  type OfflineMessage,
  type PendingSubscription,
  type PepItem,
  pepItemLimit,
  type PutPepItemOptions,
  type ResolvedImStoreLimits,
  resolveImStoreLimits,
  type RosterData,
  type RosterItem,
  type Subscription,
} from "./im_store.ts";
import { migrate, openDatabase, transaction } from "./_migrations.ts";

/**
 * Numbered schema migrations; entry `n` moves the schema from version `n` to
 * `n + 1`. Append only: never edit one that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE rosters (
     username TEXT PRIMARY KEY NOT NULL,
     version INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE roster_items (
     username TEXT NOT NULL,
     jid TEXT NOT NULL,
     name TEXT,
     groups TEXT NOT NULL,
     subscription TEXT NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
     ask INTEGER NOT NULL CHECK (ask IN (0, 1)),
     approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
     version INTEGER NOT NULL,
     PRIMARY KEY (username, jid)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE pending_subscriptions (
     seq INTEGER PRIMARY KEY,
     username TEXT NOT NULL,
     jid TEXT NOT NULL,
     stanza TEXT NOT NULL,
     UNIQUE (username, jid)
   ) STRICT;
   CREATE TABLE offline_messages (
     id INTEGER PRIMARY KEY,
     username TEXT NOT NULL,
     stamp INTEGER NOT NULL,
     stanza TEXT NOT NULL
   ) STRICT;
   CREATE INDEX offline_messages_by_account ON offline_messages (username, id);
   CREATE TABLE vcards (
     username TEXT PRIMARY KEY NOT NULL,
     vcard TEXT NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE pep_items (
     seq INTEGER PRIMARY KEY,
     username TEXT NOT NULL,
     node TEXT NOT NULL,
     item_id TEXT NOT NULL,
     payload TEXT NOT NULL,
     UNIQUE (username, node, item_id)
   ) STRICT;
   CREATE INDEX pep_items_by_node ON pep_items (username, node, seq);
   CREATE TABLE blocklist (
     username TEXT NOT NULL,
     jid TEXT NOT NULL,
     PRIMARY KEY (username, jid)
   ) STRICT, WITHOUT ROWID;`,
];

interface PendingRow {
  seq: number;
  jid: string;
  stanza: string;
}

/** A row of `selectRoster`: the roster's version and one item. */
interface RosterRow extends Omit<RosterItemRow, "jid"> {
  roster_version: number | null;
  jid: string | null;
}

interface RosterItemRow {
  jid: string;
  name: string | null;
  groups: string;
  subscription: Subscription;
  ask: number;
  approved: number;
  version: number;
}

/** The tables every login reads, by the name the store tracks them under. */
type LoginTable = "roster" | "pending" | "offline" | "pep" | "blocklist";

/**
 * IM data in an SQLite database: WAL journal with `synchronous = FULL`
 * (a call resolves only after its transaction is on disk), schema migrated
 * in one transaction on open, prepared statements reused for the store's
 * lifetime, and one transaction for every call that touches several rows.
 *
 * The API is asynchronous as {@linkcode ImStore} requires, but each call
 * runs synchronously on the calling thread.
 *
 * Every login reads the roster, pending subscription requests, offline
 * messages, PEP nodes and blocklist, and most accounts have none of most of
 * them, while each SQLite read takes and releases a WAL read lock (three
 * syscalls): the store remembers which accounts have rows in each of those
 * tables (loaded on open, added to on every insert, never removed from) and
 * answers the others without a query. It assumes it is the only writer of
 * its tables, as in the server (the command line writes only accounts).
 *
 * @example Usage
 * ```ts
 * import { SqliteImStore } from "./sqlite_im_store.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new SqliteImStore(":memory:");
 * await store.putRosterItem("juliet", { jid: "romeo@example.net", groups: ["Friends"], subscription: "both", ask: false, approved: false, version: 1 });
 * const roster = await store.getRoster("juliet");
 * assert.equal(roster.version, 1);
 * assert.deepEqual(roster.items[0]?.groups, ["Friends"]);
 * ```
 */
export class SqliteImStore implements ImStore, Disposable {
  #db: DatabaseSync;
  #limits: Readonly<ResolvedImStoreLimits>;
  #s: Record<
    | "selectRoster"
    | "upsertRosterItem"
    | "raiseRosterVersion"
    | "deleteRosterItem"
    | "pendingExists"
    | "pendingCount"
    | "upsertPending"
    | "selectPending"
    | "deletePending"
    | "offlineCount"
    | "offlineExists"
    | "insertOffline"
    | "selectOffline"
    | "deleteOffline"
    | "selectVcard"
    | "upsertVcard"
    | "deleteVcard"
    | "pepNodeExists"
    | "pepNodeCount"
    | "deletePepItem"
    | "insertPepItem"
    | "trimPepNode"
    | "selectPepItems"
    | "selectPepItem"
    | "deletePepNode"
    | "selectPepNodes"
    | "blockedExists"
    | "blockedCount"
    | "insertBlocked"
    | "deleteBlocked"
    | "deleteBlocklist"
    | "selectBlocklist",
    StatementSync
  >;
  #deleteAccount: StatementSync[];
  /** Accounts that may have rows, per table a login reads. */
  #withRows: Record<LoginTable, Set<string>>;

  /**
   * Opens (creating if needed) the database and brings its schema up to date.
   *
   * @param path A file path, whose parent directories are created, or `:memory:`.
   * @param limits The per-account limits.
   * @throws {Error} If the database cannot be opened, or its schema is newer
   * than this code knows.
   * @throws {RangeError} If a limit is not a non-negative integer.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:", { maxOfflineMessages: 10 });
   * assert.equal(store.limits.maxOfflineMessages, 10);
   * ```
   */
  constructor(path: string, limits: ImStoreLimits = {}) {
    this.#limits = Object.freeze(resolveImStoreLimits(limits));
    const db = openDatabase(path);
    this.#db = db;
    try {
      migrate(db, { table: "im_schema_version", migrations: MIGRATIONS, label: "IM store" }, path);
    } catch (error) {
      db.close();
      throw error;
    }
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      // One statement for the version and the items (every login reads the
      // roster): always one row, whose item columns are NULL when there is no item.
      selectRoster: p(
        `SELECT r.version AS roster_version, i.jid, i.name, i.groups, i.subscription, i.ask,
           i.approved, i.version
         FROM (SELECT ? AS username) AS k
         LEFT JOIN rosters AS r ON r.username = k.username
         LEFT JOIN roster_items AS i ON i.username = k.username`,
      ),
      upsertRosterItem: p(
        `INSERT INTO roster_items (username, jid, name, groups, subscription, ask, approved, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (username, jid) DO UPDATE SET name = excluded.name, groups = excluded.groups,
           subscription = excluded.subscription, ask = excluded.ask, approved = excluded.approved,
           version = excluded.version`,
      ),
      raiseRosterVersion: p(
        `INSERT INTO rosters (username, version) VALUES (?, ?)
         ON CONFLICT (username) DO UPDATE SET version = max(version, excluded.version)`,
      ),
      deleteRosterItem: p("DELETE FROM roster_items WHERE username = ? AND jid = ?"),
      pendingExists: p("SELECT 1 AS x FROM pending_subscriptions WHERE username = ? AND jid = ?"),
      pendingCount: p("SELECT count(*) AS n FROM pending_subscriptions WHERE username = ?"),
      upsertPending: p(
        `INSERT INTO pending_subscriptions (username, jid, stanza) VALUES (?, ?, ?)
         ON CONFLICT (username, jid) DO UPDATE SET stanza = excluded.stanza`,
      ),
      // Sorted by seq in JS: ORDER BY here needs a temporary B-tree on every
      // login (the index is on (username, jid)), for what is nearly always no row.
      selectPending: p("SELECT seq, jid, stanza FROM pending_subscriptions WHERE username = ?"),
      deletePending: p("DELETE FROM pending_subscriptions WHERE username = ? AND jid = ?"),
      offlineCount: p("SELECT count(*) AS n FROM offline_messages WHERE username = ?"),
      offlineExists: p("SELECT 1 AS x FROM offline_messages WHERE username = ? LIMIT 1"),
      insertOffline: p("INSERT INTO offline_messages (username, stamp, stanza) VALUES (?, ?, ?)"),
      selectOffline: p(
        "SELECT id, stamp, stanza FROM offline_messages WHERE username = ? ORDER BY id",
      ),
      deleteOffline: p("DELETE FROM offline_messages WHERE username = ?"),
      selectVcard: p("SELECT vcard FROM vcards WHERE username = ?"),
      upsertVcard: p(
        `INSERT INTO vcards (username, vcard) VALUES (?, ?)
         ON CONFLICT (username) DO UPDATE SET vcard = excluded.vcard`,
      ),
      deleteVcard: p("DELETE FROM vcards WHERE username = ?"),
      pepNodeExists: p("SELECT 1 AS x FROM pep_items WHERE username = ? AND node = ? LIMIT 1"),
      pepNodeCount: p("SELECT count(DISTINCT node) AS n FROM pep_items WHERE username = ?"),
      deletePepItem: p("DELETE FROM pep_items WHERE username = ? AND node = ? AND item_id = ?"),
      insertPepItem: p(
        "INSERT INTO pep_items (username, node, item_id, payload) VALUES (?, ?, ?, ?)",
      ),
      trimPepNode: p(
        `DELETE FROM pep_items WHERE username = ?1 AND node = ?2 AND seq NOT IN (
           SELECT seq FROM pep_items WHERE username = ?1 AND node = ?2 ORDER BY seq DESC LIMIT ?3)`,
      ),
      selectPepItems: p(
        "SELECT item_id, payload FROM pep_items WHERE username = ? AND node = ? ORDER BY seq DESC LIMIT ?",
      ),
      selectPepItem: p(
        "SELECT payload FROM pep_items WHERE username = ? AND node = ? AND item_id = ?",
      ),
      deletePepNode: p("DELETE FROM pep_items WHERE username = ? AND node = ?"),
      selectPepNodes: p("SELECT DISTINCT node FROM pep_items WHERE username = ?"),
      blockedExists: p("SELECT 1 AS x FROM blocklist WHERE username = ? AND jid = ?"),
      blockedCount: p("SELECT count(*) AS n FROM blocklist WHERE username = ?"),
      insertBlocked: p(
        "INSERT INTO blocklist (username, jid) VALUES (?, ?) ON CONFLICT DO NOTHING",
      ),
      deleteBlocked: p("DELETE FROM blocklist WHERE username = ? AND jid = ?"),
      deleteBlocklist: p("DELETE FROM blocklist WHERE username = ?"),
      selectBlocklist: p("SELECT jid FROM blocklist WHERE username = ?"),
    };
    this.#deleteAccount = [
      "rosters",
      "roster_items",
      "pending_subscriptions",
      "offline_messages",
      "vcards",
      "pep_items",
      "blocklist",
    ].map((table) => p(`DELETE FROM ${table} WHERE username = ?`));
    const withRows = (sql: string) =>
      new Set((db.prepare(sql).all() as { username: string }[]).map((row) => row.username));
    this.#withRows = {
      roster: withRows(
        "SELECT username FROM rosters UNION SELECT DISTINCT username FROM roster_items",
      ),
      pending: withRows("SELECT DISTINCT username FROM pending_subscriptions"),
      offline: withRows("SELECT DISTINCT username FROM offline_messages"),
      pep: withRows("SELECT DISTINCT username FROM pep_items"),
      blocklist: withRows("SELECT DISTINCT username FROM blocklist"),
    };
  }

  /**
   * The limits, defaults applied.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(store.limits.maxVcardBytes, 65536);
   * ```
   */
  get limits(): Readonly<ResolvedImStoreLimits> {
    return this.#limits;
  }

  /**
   * The account's roster, items ordered by JID (UTF-16 code units, as the
   * memory store sorts).
   *
   * @param username The account's localpart.
   * @returns The roster; `{ version: 0, items: [] }` when none was stored.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.deepEqual(await store.getRoster("juliet"), { version: 0, items: [] });
   * ```
   */
  getRoster(username: string): Promise<RosterData> {
    return this.#try(() => {
      if (!this.#withRows.roster.has(username)) return { version: 0, items: [] };
      const rows = this.#s.selectRoster.all(username) as unknown as RosterRow[];
      const version = rows[0]?.roster_version ?? 0;
      const items = rows[0]?.jid === null
        ? []
        : (rows as RosterItemRow[]).map(toRosterItem).sort(byJid);
      return { version, items };
    });
  }

  /**
   * Creates or replaces a roster item and raises the roster version to the
   * item's, in one transaction.
   *
   * @param username The account's localpart.
   * @param item The item.
   * @returns When committed; rejects with a `TypeError` for a malformed item.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.putRosterItem("juliet", { jid: "romeo@example.net", groups: [], subscription: "to", ask: false, approved: false, version: 5 });
   * assert.equal((await store.getRoster("juliet")).version, 5);
   * ```
   */
  putRosterItem(username: string, item: RosterItem): Promise<void> {
    return this.#try(() => {
      checkRosterItem(item);
      transaction(this.#db, () => {
        this.#withRows.roster.add(username);
        this.#s.upsertRosterItem.run(
          username,
          item.jid,
          item.name ?? null,
          JSON.stringify(item.groups),
          item.subscription,
          item.ask ? 1 : 0,
          item.approved ? 1 : 0,
          item.version,
        );
        this.#s.raiseRosterVersion.run(username, item.version);
      });
    });
  }

  /**
   * Removes a roster item and raises the roster version, in one transaction.
   *
   * @param username The account's localpart.
   * @param jid The contact's bare JID.
   * @param version The roster version after the removal.
   * @returns Whether the item existed.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.removeRosterItem("juliet", "romeo@example.net", 2), false);
   * assert.equal((await store.getRoster("juliet")).version, 2);
   * ```
   */
  removeRosterItem(username: string, jid: string, version: number): Promise<boolean> {
    return this.#try(() => {
      checkRosterVersion(version);
      return transaction(this.#db, () => {
        const removed = this.#s.deleteRosterItem.run(username, jid).changes > 0;
        this.#withRows.roster.add(username);
        this.#s.raiseRosterVersion.run(username, version);
        return removed;
      });
    });
  }

  /**
   * Records an inbound subscription request, replacing an earlier one from
   * the same JID; counting and writing are one transaction.
   *
   * @param username The account's localpart.
   * @param request The requester and the request stanza.
   * @returns Whether it was stored (`false` past `maxPendingSubscriptions`
   * or `maxPendingStanzaBytes`).
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:", { maxPendingSubscriptions: 1 });
   * assert.equal(await store.putPendingSubscription("juliet", { jid: "a@example.com", stanza: "<presence/>" }), true);
   * assert.equal(await store.putPendingSubscription("juliet", { jid: "b@example.com", stanza: "<presence/>" }), false);
   * ```
   */
  putPendingSubscription(username: string, request: PendingSubscription): Promise<boolean> {
    return this.#try(() => {
      if (!fitsUtf8(request.stanza, this.#limits.maxPendingStanzaBytes)) return false;
      return transaction(this.#db, () => {
        if (
          this.#s.pendingExists.get(username, request.jid) === undefined &&
          count(this.#s.pendingCount, username) >= this.#limits.maxPendingSubscriptions
        ) {
          return false;
        }
        this.#withRows.pending.add(username);
        this.#s.upsertPending.run(username, request.jid, request.stanza);
        return true;
      });
    });
  }

  /**
   * The pending inbound subscription requests, oldest first.
   *
   * @param username The account's localpart.
   * @returns The requests.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.deepEqual(await store.getPendingSubscriptions("juliet"), []);
   * ```
   */
  getPendingSubscriptions(username: string): Promise<PendingSubscription[]> {
    return this.#try(() => {
      if (!this.#withRows.pending.has(username)) return [];
      const rows = this.#s.selectPending.all(username) as unknown as PendingRow[];
      if (rows.length > 1) rows.sort(bySeq);
      return rows.map((row) => ({ jid: row.jid, stanza: row.stanza }));
    });
  }

  /**
   * Forgets a pending request.
   *
   * @param username The account's localpart.
   * @param jid The requester's bare JID.
   * @returns Whether there was one.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.removePendingSubscription("juliet", "romeo@example.net"), false);
   * ```
   */
  removePendingSubscription(username: string, jid: string): Promise<boolean> {
    return this.#try(() => this.#s.deletePending.run(username, jid).changes > 0);
  }

  /**
   * Stores a message for later delivery unless the account holds its quota;
   * counting and inserting are one transaction.
   *
   * @param username The account's localpart.
   * @param message The stamp and the stanza.
   * @param options The quota for this account.
   * @returns Whether it was stored; rejects with a `TypeError` for a
   * malformed message.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.addOffline("juliet", { stamp: 1, stanza: "<message/>" }, { maxMessages: 1 }), true);
   * assert.equal(await store.addOffline("juliet", { stamp: 2, stanza: "<message/>" }, { maxMessages: 1 }), false);
   * ```
   */
  addOffline(
    username: string,
    message: Omit<OfflineMessage, "id">,
    options: AddOfflineOptions = {},
  ): Promise<boolean> {
    return this.#try(() => {
      checkOfflineMessage(message);
      const max = options.maxMessages ?? this.#limits.maxOfflineMessages;
      return transaction(this.#db, () => {
        if (count(this.#s.offlineCount, username) >= max) return false;
        this.#withRows.offline.add(username);
        this.#s.insertOffline.run(username, message.stamp, message.stanza);
        return true;
      });
    });
  }

  /**
   * How many messages the account has stored.
   *
   * @param username The account's localpart.
   * @returns The count.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.countOffline("juliet"), 0);
   * ```
   */
  countOffline(username: string): Promise<number> {
    return this.#try(() => count(this.#s.offlineCount, username));
  }

  /**
   * Returns and deletes every stored message, oldest first, in one
   * transaction.
   *
   * @param username The account's localpart.
   * @returns The messages.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.addOffline("juliet", { stamp: 7, stanza: "<message/>" });
   * assert.deepEqual(await store.takeOffline("juliet"), [{ id: 1, stamp: 7, stanza: "<message/>" }]);
   * assert.deepEqual(await store.takeOffline("juliet"), []);
   * ```
   */
  takeOffline(username: string): Promise<OfflineMessage[]> {
    return this.#try(() => {
      // Every login asks and most find nothing: a plain read answers them
      // without taking the write lock (BEGIN IMMEDIATE and COMMIT).
      if (!this.#withRows.offline.has(username)) return [];
      if (this.#s.offlineExists.get(username) === undefined) return [];
      return transaction(this.#db, () => {
        const rows = this.#s.selectOffline.all(username) as unknown as OfflineMessage[];
        if (rows.length > 0) this.#s.deleteOffline.run(username);
        return rows.map((row) => ({ id: row.id, stamp: row.stamp, stanza: row.stanza }));
      });
    });
  }

  /**
   * The account's vCard.
   *
   * @param username The account's localpart.
   * @returns The serialized vCard, or `undefined`.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.getVcard("juliet"), undefined);
   * ```
   */
  getVcard(username: string): Promise<string | undefined> {
    return this.#try(() => {
      const row = this.#s.selectVcard.get(username) as { vcard: string } | undefined;
      return row?.vcard;
    });
  }

  /**
   * Stores the account's vCard.
   *
   * @param username The account's localpart.
   * @param vcard The serialized vCard.
   * @returns Whether it was stored (`false` past `maxVcardBytes`).
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.putVcard("juliet", "<vCard xmlns='vcard-temp'/>"), true);
   * ```
   */
  putVcard(username: string, vcard: string): Promise<boolean> {
    return this.#try(() => {
      if (!fitsUtf8(vcard, this.#limits.maxVcardBytes)) return false;
      this.#s.upsertVcard.run(username, vcard);
      return true;
    });
  }

  /**
   * Removes the account's vCard.
   *
   * @param username The account's localpart.
   * @returns Whether there was one.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.removeVcard("juliet"), false);
   * ```
   */
  removeVcard(username: string): Promise<boolean> {
    return this.#try(() => this.#s.deleteVcard.run(username).changes > 0);
  }

  /**
   * Publishes a PEP item and drops the node's oldest items beyond its
   * maximum, in one transaction.
   *
   * @param username The account's localpart.
   * @param item The node, id and payload.
   * @param options The node's maximum number of items.
   * @returns Whether it was stored (`false` past `maxPepPayloadBytes`, or
   * for a new node past `maxPepNodes`); rejects with a `RangeError` if
   * `maxItems` is below 1.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.putPepItem("juliet", { node: "n", id: "1", payload: "<a/>" }, { maxItems: 1 });
   * await store.putPepItem("juliet", { node: "n", id: "2", payload: "<b/>" }, { maxItems: 1 });
   * assert.deepEqual(await store.getPepItems("juliet", "n"), [{ node: "n", id: "2", payload: "<b/>" }]);
   * ```
   */
  putPepItem(username: string, item: PepItem, options: PutPepItemOptions = {}): Promise<boolean> {
    return this.#try(() => {
      const maxItems = pepItemLimit(options, this.#limits);
      if (!fitsUtf8(item.payload, this.#limits.maxPepPayloadBytes)) return false;
      return transaction(this.#db, () => {
        const s = this.#s;
        if (
          s.pepNodeExists.get(username, item.node) === undefined &&
          count(s.pepNodeCount, username) >= this.#limits.maxPepNodes
        ) {
          return false;
        }
        s.deletePepItem.run(username, item.node, item.id);
        this.#withRows.pep.add(username);
        s.insertPepItem.run(username, item.node, item.id, item.payload);
        s.trimPepNode.run(username, item.node, maxItems);
        return true;
      });
    });
  }

  /**
   * A node's items, newest first.
   *
   * @param username The account's localpart.
   * @param node The node.
   * @param max At most this many, when given.
   * @returns The items.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.deepEqual(await store.getPepItems("juliet", "urn:xmpp:avatar:metadata"), []);
   * ```
   */
  getPepItems(username: string, node: string, max?: number): Promise<PepItem[]> {
    return this.#try(() => {
      const limit = max === undefined ? -1 : Math.max(0, Math.trunc(max));
      const rows = this.#s.selectPepItems.all(username, node, limit) as unknown as {
        item_id: string;
        payload: string;
      }[];
      return rows.map((row) => ({ node, id: row.item_id, payload: row.payload }));
    });
  }

  /**
   * One PEP item by id.
   *
   * @param username The account's localpart.
   * @param node The node.
   * @param id The item id.
   * @returns The item, or `undefined`.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.getPepItem("juliet", "n", "1"), undefined);
   * ```
   */
  getPepItem(username: string, node: string, id: string): Promise<PepItem | undefined> {
    return this.#try(() => {
      const row = this.#s.selectPepItem.get(username, node, id) as { payload: string } | undefined;
      return row === undefined ? undefined : { node, id, payload: row.payload };
    });
  }

  /**
   * Retracts one PEP item.
   *
   * @param username The account's localpart.
   * @param node The node.
   * @param id The item id.
   * @returns Whether it existed.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.removePepItem("juliet", "n", "1"), false);
   * ```
   */
  removePepItem(username: string, node: string, id: string): Promise<boolean> {
    return this.#try(() => this.#s.deletePepItem.run(username, node, id).changes > 0);
  }

  /**
   * Deletes a node's items.
   *
   * @param username The account's localpart.
   * @param node The node.
   * @returns How many items there were.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.removePepNode("juliet", "n"), 0);
   * ```
   */
  removePepNode(username: string, node: string): Promise<number> {
    return this.#try(() => Number(this.#s.deletePepNode.run(username, node).changes));
  }

  /**
   * The nodes holding items, sorted.
   *
   * @param username The account's localpart.
   * @returns The node names.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.deepEqual(await store.listPepNodes("juliet"), []);
   * ```
   */
  listPepNodes(username: string): Promise<string[]> {
    return this.#try(() => {
      if (!this.#withRows.pep.has(username)) return [];
      const rows = this.#s.selectPepNodes.all(username) as unknown as { node: string }[];
      return rows.map((row) => row.node).sort();
    });
  }

  /**
   * The blocked JIDs, sorted.
   *
   * @param username The account's localpart.
   * @returns The JIDs.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.deepEqual(await store.getBlocklist("juliet"), []);
   * ```
   */
  getBlocklist(username: string): Promise<string[]> {
    return this.#try(() => {
      if (!this.#withRows.blocklist.has(username)) return [];
      const rows = this.#s.selectBlocklist.all(username) as unknown as { jid: string }[];
      return rows.map((row) => row.jid).sort();
    });
  }

  /**
   * Blocks JIDs, all or none, in one transaction.
   *
   * @param username The account's localpart.
   * @param jids The JIDs to block.
   * @returns Whether they were blocked (`false` past `maxBlocklistItems`).
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * assert.equal(await store.block("juliet", ["a@example.com", "a@example.com"]), true);
   * assert.deepEqual(await store.getBlocklist("juliet"), ["a@example.com"]);
   * ```
   */
  block(username: string, jids: readonly string[]): Promise<boolean> {
    return this.#try(() =>
      transaction(this.#db, () => {
        const s = this.#s;
        const added = new Set<string>();
        for (const jid of jids) {
          if (s.blockedExists.get(username, jid) === undefined) added.add(jid);
        }
        if (count(s.blockedCount, username) + added.size > this.#limits.maxBlocklistItems) {
          return false;
        }
        if (added.size > 0) this.#withRows.blocklist.add(username);
        for (const jid of added) s.insertBlocked.run(username, jid);
        return true;
      })
    );
  }

  /**
   * Unblocks JIDs, in one transaction.
   *
   * @param username The account's localpart.
   * @param jids The JIDs to unblock.
   * @returns How many were blocked.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.block("juliet", ["a@example.com"]);
   * assert.equal(await store.unblock("juliet", ["a@example.com", "b@example.com"]), 1);
   * ```
   */
  unblock(username: string, jids: readonly string[]): Promise<number> {
    return this.#try(() =>
      transaction(this.#db, () => {
        let removed = 0;
        for (const jid of jids) removed += Number(this.#s.deleteBlocked.run(username, jid).changes);
        return removed;
      })
    );
  }

  /**
   * Unblocks everyone.
   *
   * @param username The account's localpart.
   * @returns How many were blocked.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.block("juliet", ["a@example.com", "b@example.com"]);
   * assert.equal(await store.unblockAll("juliet"), 2);
   * ```
   */
  unblockAll(username: string): Promise<number> {
    return this.#try(() => Number(this.#s.deleteBlocklist.run(username).changes));
  }

  /**
   * Deletes everything stored for the account, in one transaction.
   *
   * @param username The account's localpart.
   * @returns When committed.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new SqliteImStore(":memory:");
   * await store.putVcard("juliet", "<vCard/>");
   * await store.removeAccount("juliet");
   * assert.equal(await store.getVcard("juliet"), undefined);
   * ```
   */
  removeAccount(username: string): Promise<void> {
    return this.#try(() =>
      transaction(this.#db, () => {
        for (const statement of this.#deleteAccount) statement.run(username);
      })
    );
  }

  /**
   * Closes the database; later calls reject. Closing twice is harmless.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new SqliteImStore(":memory:");
   * store.close();
   * await assert.rejects(store.getRoster("juliet"));
   * ```
   */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Closes the store, for `using`.
   *
   * @example Usage
   * ```ts
   * import { SqliteImStore } from "./sqlite_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new SqliteImStore(":memory:");
   * store[Symbol.dispose]();
   * await assert.rejects(store.getVcard("juliet"));
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #try<T>(body: () => T): Promise<T> {
    return Promise.try(() => {
      if (!this.#db.isOpen) throw new Error("Cannot use IM store: it is closed");
      return body();
    });
  }
}

function count(statement: StatementSync, username: string): number {
  return (statement.get(username) as { n: number }).n;
}

function toRosterItem(row: RosterItemRow): RosterItem {
  return {
    jid: row.jid,
    ...(row.name === null ? {} : { name: row.name }),
    groups: JSON.parse(row.groups) as string[],
    subscription: row.subscription,
    ask: row.ask === 1,
    approved: row.approved === 1,
    version: row.version,
  };
}

function bySeq(a: PendingRow, b: PendingRow): number {
  return a.seq - b.seq;
}

function byJid(a: RosterItem, b: RosterItem): number {
  return a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0;
}
