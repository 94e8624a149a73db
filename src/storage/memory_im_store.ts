/**
 * An {@linkcode ImStore} kept in memory, for tests and embedding.
 *
 * @module
 */

import {
  type AddOfflineOptions,
  checkOfflineMessage,
  checkRosterItem,
  checkRosterVersion,
  fitsUtf8,
  freezeRosterItem,
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
} from "./im_store.ts";

/** Everything stored for one account. */
interface AccountData {
  rosterVersion: number;
  roster: Map<string, RosterItem>;
  // JID -> stanza, oldest first.
  pending: Map<string, string>;
  offline: OfflineMessage[];
  vcard: string | undefined;
  // Node -> item id -> payload, oldest first.
  pep: Map<string, Map<string, string>>;
  blocklist: Set<string>;
}

/**
 * IM data in `Map`s. Roster items are frozen copies, so neither the caller
 * nor the store can change what the other holds. Every limit of
 * {@linkcode ImStoreLimits} applies as in the SQLite store.
 *
 * @example Usage
 * ```ts
 * import { MemoryImStore } from "./memory_im_store.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * assert.equal(await store.addOffline("juliet", { stamp: 0, stanza: "<message/>" }), true);
 * assert.equal(await store.countOffline("juliet"), 1);
 * assert.deepEqual(await store.takeOffline("juliet"), [{ id: 1, stamp: 0, stanza: "<message/>" }]);
 * ```
 */
export class MemoryImStore implements ImStore, Disposable {
  #accounts = new Map<string, AccountData>();
  #nextOfflineId = 1;
  #closed = false;
  #limits: Readonly<ResolvedImStoreLimits>;

  /**
   * Creates an empty store.
   *
   * @param limits The per-account limits.
   * @throws {RangeError} If a limit is not a non-negative integer.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore({ maxVcardBytes: 4 });
   * assert.equal(await store.putVcard("juliet", "<vCard/>"), false);
   * ```
   */
  constructor(limits: ImStoreLimits = {}) {
    this.#limits = Object.freeze(resolveImStoreLimits(limits));
  }

  /**
   * The limits, defaults applied.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(store.limits.maxOfflineMessages, 100);
   * ```
   */
  get limits(): Readonly<ResolvedImStoreLimits> {
    return this.#limits;
  }

  /**
   * The account's roster, items ordered by JID.
   *
   * @param username The account's localpart.
   * @returns The roster; `{ version: 0, items: [] }` when none was stored.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.getRoster("juliet"), { version: 0, items: [] });
   * ```
   */
  getRoster(username: string): Promise<RosterData> {
    return this.#try(() => {
      const account = this.#accounts.get(username);
      if (account === undefined) return { version: 0, items: [] };
      const items = [...account.roster.values()].sort(byJid);
      return { version: account.rosterVersion, items };
    });
  }

  /**
   * Creates or replaces a roster item and raises the roster version to the
   * item's.
   *
   * @param username The account's localpart.
   * @param item The item; copied.
   * @returns When stored; rejects with a `TypeError` for a malformed item.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.putRosterItem("juliet", { jid: "romeo@example.net", groups: [], subscription: "both", ask: false, approved: false, version: 3 });
   * assert.equal((await store.getRoster("juliet")).version, 3);
   * ```
   */
  putRosterItem(username: string, item: RosterItem): Promise<void> {
    return this.#try(() => {
      checkRosterItem(item);
      const account = this.#account(username);
      account.roster.set(item.jid, freezeRosterItem(item));
      account.rosterVersion = Math.max(account.rosterVersion, item.version);
    });
  }

  /**
   * Removes a roster item and raises the roster version.
   *
   * @param username The account's localpart.
   * @param jid The contact's bare JID.
   * @param version The roster version after the removal.
   * @returns Whether the item existed.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.removeRosterItem("juliet", "romeo@example.net", 4), false);
   * assert.equal((await store.getRoster("juliet")).version, 4);
   * ```
   */
  removeRosterItem(username: string, jid: string, version: number): Promise<boolean> {
    return this.#try(() => {
      checkRosterVersion(version);
      const account = this.#account(username);
      account.rosterVersion = Math.max(account.rosterVersion, version);
      return account.roster.delete(jid);
    });
  }

  /**
   * Records an inbound subscription request, replacing an earlier one from
   * the same JID.
   *
   * @param username The account's localpart.
   * @param request The requester and the request stanza.
   * @returns Whether it was stored (`false` past `maxPendingSubscriptions`
   * or `maxPendingStanzaBytes`).
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.putPendingSubscription("juliet", { jid: "romeo@example.net", stanza: "<presence type='subscribe'/>" });
   * assert.equal((await store.getPendingSubscriptions("juliet")).length, 1);
   * ```
   */
  putPendingSubscription(username: string, request: PendingSubscription): Promise<boolean> {
    return this.#try(() => {
      if (!fitsUtf8(request.stanza, this.#limits.maxPendingStanzaBytes)) return false;
      const pending = this.#accounts.get(username)?.pending;
      if (
        !pending?.has(request.jid) &&
        (pending?.size ?? 0) >= this.#limits.maxPendingSubscriptions
      ) {
        return false;
      }
      this.#account(username).pending.set(request.jid, request.stanza);
      return true;
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.getPendingSubscriptions("juliet"), []);
   * ```
   */
  getPendingSubscriptions(username: string): Promise<PendingSubscription[]> {
    return this.#try(() => {
      const pending = this.#accounts.get(username)?.pending;
      if (pending === undefined) return [];
      return [...pending].map(([jid, stanza]) => ({ jid, stanza }));
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.removePendingSubscription("juliet", "romeo@example.net"), false);
   * ```
   */
  removePendingSubscription(username: string, jid: string): Promise<boolean> {
    return this.#try(() => this.#accounts.get(username)?.pending.delete(jid) ?? false);
  }

  /**
   * Stores a message for later delivery unless the account holds its quota.
   *
   * @param username The account's localpart.
   * @param message The stamp and the stanza.
   * @param options The quota for this account.
   * @returns Whether it was stored; rejects with a `TypeError` for a
   * malformed message.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.addOffline("juliet", { stamp: 1, stanza: "<message/>" }, { maxMessages: 0 }), false);
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
      if ((this.#accounts.get(username)?.offline.length ?? 0) >= max) return false;
      const id = this.#nextOfflineId++;
      this.#account(username).offline.push({ id, stamp: message.stamp, stanza: message.stanza });
      return true;
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.countOffline("juliet"), 0);
   * ```
   */
  countOffline(username: string): Promise<number> {
    return this.#try(() => this.#accounts.get(username)?.offline.length ?? 0);
  }

  /**
   * Returns and deletes every stored message, oldest first.
   *
   * @param username The account's localpart.
   * @returns The messages.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.takeOffline("juliet"), []);
   * ```
   */
  takeOffline(username: string): Promise<OfflineMessage[]> {
    return this.#try(() => {
      const account = this.#accounts.get(username);
      if (account === undefined) return [];
      const messages = account.offline;
      account.offline = [];
      return messages;
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.getVcard("juliet"), undefined);
   * ```
   */
  getVcard(username: string): Promise<string | undefined> {
    return this.#try(() => this.#accounts.get(username)?.vcard);
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.putVcard("juliet", "<vCard xmlns='vcard-temp'/>"), true);
   * ```
   */
  putVcard(username: string, vcard: string): Promise<boolean> {
    return this.#try(() => {
      if (!fitsUtf8(vcard, this.#limits.maxVcardBytes)) return false;
      this.#account(username).vcard = vcard;
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.removeVcard("juliet"), false);
   * ```
   */
  removeVcard(username: string): Promise<boolean> {
    return this.#try(() => {
      const account = this.#accounts.get(username);
      if (account?.vcard === undefined) return false;
      account.vcard = undefined;
      return true;
    });
  }

  /**
   * Publishes a PEP item, dropping the node's oldest items beyond its maximum.
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.putPepItem("juliet", { node: "n", id: "1", payload: "<a/>" }, { maxItems: 1 });
   * await store.putPepItem("juliet", { node: "n", id: "2", payload: "<b/>" }, { maxItems: 1 });
   * assert.deepEqual(await store.getPepItems("juliet", "n"), [{ node: "n", id: "2", payload: "<b/>" }]);
   * ```
   */
  putPepItem(username: string, item: PepItem, options: PutPepItemOptions = {}): Promise<boolean> {
    return this.#try(() => {
      const maxItems = pepItemLimit(options, this.#limits);
      if (!fitsUtf8(item.payload, this.#limits.maxPepPayloadBytes)) return false;
      const pep = this.#accounts.get(username)?.pep;
      if (!pep?.has(item.node) && (pep?.size ?? 0) >= this.#limits.maxPepNodes) return false;
      const nodes = this.#account(username).pep;
      let node = nodes.get(item.node);
      if (node === undefined) nodes.set(item.node, node = new Map());
      node.delete(item.id);
      node.set(item.id, item.payload);
      for (const id of node.keys()) {
        if (node.size <= maxItems) break;
        node.delete(id);
      }
      return true;
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.getPepItems("juliet", "urn:xmpp:avatar:metadata"), []);
   * ```
   */
  getPepItems(username: string, node: string, max?: number): Promise<PepItem[]> {
    return this.#try(() => {
      const items = this.#accounts.get(username)?.pep.get(node);
      if (items === undefined) return [];
      const found: PepItem[] = [];
      for (const [id, payload] of items) found.push({ node, id, payload });
      found.reverse();
      return max === undefined ? found : found.slice(0, Math.max(0, max));
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.getPepItem("juliet", "n", "1"), undefined);
   * ```
   */
  getPepItem(username: string, node: string, id: string): Promise<PepItem | undefined> {
    return this.#try(() => {
      const payload = this.#accounts.get(username)?.pep.get(node)?.get(id);
      return payload === undefined ? undefined : { node, id, payload };
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.removePepItem("juliet", "n", "1"), false);
   * ```
   */
  removePepItem(username: string, node: string, id: string): Promise<boolean> {
    return this.#try(() => {
      const nodes = this.#accounts.get(username)?.pep;
      const items = nodes?.get(node);
      if (items === undefined || !items.delete(id)) return false;
      if (items.size === 0) nodes!.delete(node);
      return true;
    });
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.equal(await store.removePepNode("juliet", "n"), 0);
   * ```
   */
  removePepNode(username: string, node: string): Promise<number> {
    return this.#try(() => {
      const nodes = this.#accounts.get(username)?.pep;
      const count = nodes?.get(node)?.size ?? 0;
      nodes?.delete(node);
      return count;
    });
  }

  /**
   * The nodes holding items, sorted.
   *
   * @param username The account's localpart.
   * @returns The node names.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.listPepNodes("juliet"), []);
   * ```
   */
  listPepNodes(username: string): Promise<string[]> {
    return this.#try(() => [...(this.#accounts.get(username)?.pep.keys() ?? [])].sort());
  }

  /**
   * The blocked JIDs, sorted.
   *
   * @param username The account's localpart.
   * @returns The JIDs.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * assert.deepEqual(await store.getBlocklist("juliet"), []);
   * ```
   */
  getBlocklist(username: string): Promise<string[]> {
    return this.#try(() => [...(this.#accounts.get(username)?.blocklist ?? [])].sort());
  }

  /**
   * Blocks JIDs, all or none.
   *
   * @param username The account's localpart.
   * @param jids The JIDs to block.
   * @returns Whether they were blocked (`false` past `maxBlocklistItems`).
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore({ maxBlocklistItems: 1 });
   * assert.equal(await store.block("juliet", ["a@example.com", "b@example.com"]), false);
   * assert.deepEqual(await store.getBlocklist("juliet"), []);
   * ```
   */
  block(username: string, jids: readonly string[]): Promise<boolean> {
    return this.#try(() => {
      const blocked = this.#accounts.get(username)?.blocklist;
      let size = blocked?.size ?? 0;
      const added = new Set<string>();
      for (const jid of jids) if (!blocked?.has(jid) && !added.has(jid)) added.add(jid);
      size += added.size;
      if (size > this.#limits.maxBlocklistItems) return false;
      const list = this.#account(username).blocklist;
      for (const jid of added) list.add(jid);
      return true;
    });
  }

  /**
   * Unblocks JIDs.
   *
   * @param username The account's localpart.
   * @param jids The JIDs to unblock.
   * @returns How many were blocked.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.block("juliet", ["a@example.com"]);
   * assert.equal(await store.unblock("juliet", ["a@example.com", "b@example.com"]), 1);
   * ```
   */
  unblock(username: string, jids: readonly string[]): Promise<number> {
    return this.#try(() => {
      const blocked = this.#accounts.get(username)?.blocklist;
      let count = 0;
      for (const jid of jids) if (blocked?.delete(jid)) count++;
      return count;
    });
  }

  /**
   * Unblocks everyone.
   *
   * @param username The account's localpart.
   * @returns How many were blocked.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.block("juliet", ["a@example.com", "b@example.com"]);
   * assert.equal(await store.unblockAll("juliet"), 2);
   * ```
   */
  unblockAll(username: string): Promise<number> {
    return this.#try(() => {
      const blocked = this.#accounts.get(username)?.blocklist;
      const count = blocked?.size ?? 0;
      blocked?.clear();
      return count;
    });
  }

  /**
   * Deletes everything stored for the account.
   *
   * @param username The account's localpart.
   * @returns When done.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * using store = new MemoryImStore();
   * await store.putVcard("juliet", "<vCard/>");
   * await store.removeAccount("juliet");
   * assert.equal(await store.getVcard("juliet"), undefined);
   * ```
   */
  removeAccount(username: string): Promise<void> {
    return this.#try(() => {
      this.#accounts.delete(username);
    });
  }

  /**
   * Drops everything; later calls reject. Closing twice is harmless.
   *
   * @example Usage
   * ```ts
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryImStore();
   * store.close();
   * await assert.rejects(store.getRoster("juliet"));
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
   * import { MemoryImStore } from "./memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryImStore();
   * store[Symbol.dispose]();
   * await assert.rejects(store.getVcard("juliet"));
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #try<T>(body: () => T): Promise<T> {
    return Promise.try(() => {
      if (this.#closed) throw new Error("Cannot use IM store: it is closed");
      return body();
    });
  }

  #account(username: string): AccountData {
    let account = this.#accounts.get(username);
    if (account === undefined) {
      account = {
        rosterVersion: 0,
        roster: new Map(),
        pending: new Map(),
        offline: [],
        vcard: undefined,
        pep: new Map(),
        blocklist: new Set(),
      };
      this.#accounts.set(username, account);
    }
    return account;
  }
}

function byJid(a: RosterItem, b: RosterItem): number {
  return a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0;
}
