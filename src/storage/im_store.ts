/**
 * Where instant-messaging data lives: rosters (RFC 6121 §2) with their
 * version (RFC 6121 §2.6), pending inbound subscription requests (RFC 6121
 * §3.1.3), offline messages (XEP-0160), vCards (XEP-0054), PEP items
 * (XEP-0163) and blocklists (XEP-0191).
 *
 * Accounts are named by their normalised localpart, as in
 * `AccountStore`; contacts by their normalised bare JID. Every
 * method is atomic: a call that changes several rows changes all or none.
 * Calls that would exceed a limit return `false` and store nothing.
 *
 * @module
 */

/** RFC 6121 §2.1.2.5 subscription values stored on a roster item. */
export type Subscription = "none" | "to" | "from" | "both";

/** One roster item (RFC 6121 §2.1.2) as stored. */
export interface RosterItem {
  /** The contact's normalised bare JID. */
  readonly jid: string;
  /** The user's handle for the contact; absent when none was set. */
  readonly name?: string;
  /** Group names, unique, in the order the client gave them. */
  readonly groups: readonly string[];
  /** The subscription state without pending flags. */
  readonly subscription: Subscription;
  /** Whether a subscription request to the contact is pending ("Pending Out", `ask='subscribe'`). */
  readonly ask: boolean;
  /** Whether the user pre-approved the contact's subscription (RFC 6121 §3.4). */
  readonly approved: boolean;
  /** Roster version at which this item last changed (never sent to clients). */
  readonly version: number;
}

/** A whole roster: its items and its version. */
export interface RosterData {
  /** The roster version: increases with every change; 0 for a roster never written. */
  readonly version: number;
  /** The items, ordered by JID. */
  readonly items: readonly RosterItem[];
}

/** A subscription request received and not yet answered (RFC 6121 §3.1.3). */
export interface PendingSubscription {
  /** The requester's normalised bare JID. */
  readonly jid: string;
  /** The request stanza as serialized XML, to deliver again later. */
  readonly stanza: string;
}

/** A message kept for an account while it is offline (XEP-0160). */
export interface OfflineMessage {
  /** Store-assigned, increasing in arrival order. */
  readonly id: number;
  /** Wall-clock milliseconds since the epoch when stored, for XEP-0203 delay stamps. */
  readonly stamp: number;
  /** The message stanza as serialized XML. */
  readonly stanza: string;
}

/** A published PEP item (XEP-0163). */
export interface PepItem {
  /** The node, e.g. `urn:xmpp:avatar:metadata`. */
  readonly node: string;
  /** The item id, unique within the node. */
  readonly id: string;
  /** The item payload as serialized XML. */
  readonly payload: string;
}

/** Options of {@linkcode ImStore.addOffline}. */
export interface AddOfflineOptions {
  /**
   * Messages the account may have stored, this one included: the XEP-0205
   * "limit offline storage" quota of the account's class.
   *
   * @default {the store's `maxOfflineMessages`}
   */
  maxMessages?: number;
}

/** Options of {@linkcode ImStore.putPepItem}. */
export interface PutPepItemOptions {
  /**
   * Items the node keeps (`pubsub#max_items`); older ones are dropped. Capped
   * by the store's `maxPepItemsPerNode`.
   *
   * @default {the store's `maxPepItemsPerNode`}
   */
  maxItems?: number;
}

/** Per-account bounds every {@linkcode ImStore} enforces, so stored data cannot grow without limit. */
export interface ImStoreLimits {
  /** Offline messages per account when {@linkcode AddOfflineOptions.maxMessages} is not given. @default {100} */
  maxOfflineMessages?: number;
  /** Pending inbound subscription requests per account. @default {100} */
  maxPendingSubscriptions?: number;
  /** Bytes (UTF-8) of one serialized pending subscription request. @default {16384} */
  maxPendingStanzaBytes?: number;
  /** Bytes (UTF-8) of one serialized vCard. @default {65536} */
  maxVcardBytes?: number;
  /** PEP nodes per account. @default {64} */
  maxPepNodes?: number;
  /** Items per PEP node, whatever the node asks for. @default {32} */
  maxPepItemsPerNode?: number;
  /** Bytes (UTF-8) of one PEP item payload. @default {131072} */
  maxPepPayloadBytes?: number;
  /** JIDs on one account's blocklist. @default {1000} */
  maxBlocklistItems?: number;
}

/** {@linkcode ImStoreLimits} with every default applied. */
export type ResolvedImStoreLimits = Required<ImStoreLimits>;

/** The default {@linkcode ImStoreLimits}. */
export const DEFAULT_IM_STORE_LIMITS: Readonly<ResolvedImStoreLimits> = Object.freeze({
  maxOfflineMessages: 100,
  maxPendingSubscriptions: 100,
  maxPendingStanzaBytes: 16384,
  maxVcardBytes: 65536,
  maxPepNodes: 64,
  maxPepItemsPerNode: 32,
  maxPepPayloadBytes: 131072,
  maxBlocklistItems: 1000,
});

/** Persistent or in-memory storage of IM data; every method rejects once the store is closed. */
export interface ImStore {
  /** The account's limits, defaults applied. */
  readonly limits: Readonly<ResolvedImStoreLimits>;

  /** The account's roster; `{ version: 0, items: [] }` when it has none. */
  getRoster(username: string): Promise<RosterData>;
  /**
   * Creates or replaces an item and raises the roster version to
   * `item.version` (never lowers it), in one transaction.
   */
  putRosterItem(username: string, item: RosterItem): Promise<void>;
  /**
   * Removes an item and raises the roster version to `version`, in one
   * transaction; returns whether the item existed (the version is raised
   * either way).
   */
  removeRosterItem(username: string, jid: string, version: number): Promise<boolean>;

  /**
   * Records an inbound subscription request; a second one from the same JID
   * replaces the first (RFC 6121 §3.1.3 keeps one). Returns `false` when the
   * account has `maxPendingSubscriptions` others or the stanza is too large.
   */
  putPendingSubscription(username: string, request: PendingSubscription): Promise<boolean>;
  /** The pending requests, oldest first. */
  getPendingSubscriptions(username: string): Promise<PendingSubscription[]>;
  /** Forgets the request from `jid`; returns whether there was one. */
  removePendingSubscription(username: string, jid: string): Promise<boolean>;

  /**
   * Stores a message for later delivery unless the account already holds
   * its quota; counting and inserting are one transaction. Returns whether
   * it was stored.
   */
  addOffline(
    username: string,
    message: Omit<OfflineMessage, "id">,
    options?: AddOfflineOptions,
  ): Promise<boolean>;
  /** How many messages the account has stored. */
  countOffline(username: string): Promise<number>;
  /** Returns and deletes every stored message, oldest first, in one transaction. */
  takeOffline(username: string): Promise<OfflineMessage[]>;

  /** The account's vCard as serialized XML, if any. */
  getVcard(username: string): Promise<string | undefined>;
  /** Stores the vCard; returns `false` (storing nothing) when it exceeds `maxVcardBytes`. */
  putVcard(username: string, vcard: string): Promise<boolean>;
  /** Removes the vCard; returns whether there was one. */
  removeVcard(username: string): Promise<boolean>;

  /**
   * Publishes an item: replaces an item with the same id (which becomes the
   * newest) and then drops the oldest items beyond the node's maximum, in
   * one transaction. Returns `false` (storing nothing) when the payload
   * exceeds `maxPepPayloadBytes` or a new node would exceed `maxPepNodes`.
   */
  putPepItem(username: string, item: PepItem, options?: PutPepItemOptions): Promise<boolean>;
  /** A node's items, newest first, at most `max` of them when given. */
  getPepItems(username: string, node: string, max?: number): Promise<PepItem[]>;
  /** One item by id. */
  getPepItem(username: string, node: string, id: string): Promise<PepItem | undefined>;
  /** Retracts one item; returns whether it existed. */
  removePepItem(username: string, node: string, id: string): Promise<boolean>;
  /** Deletes a node's items; returns how many there were. */
  removePepNode(username: string, node: string): Promise<number>;
  /** The account's nodes that hold items, sorted. */
  listPepNodes(username: string): Promise<string[]>;

  /** The blocked JIDs, sorted. */
  getBlocklist(username: string): Promise<string[]>;
  /**
   * Blocks JIDs (already blocked ones are kept once); all or nothing:
   * returns `false` (blocking none) when the list would exceed
   * `maxBlocklistItems`.
   */
  block(username: string, jids: readonly string[]): Promise<boolean>;
  /** Unblocks the JIDs; returns how many were blocked. */
  unblock(username: string, jids: readonly string[]): Promise<number>;
  /** Unblocks everyone; returns how many were blocked. */
  unblockAll(username: string): Promise<number>;

  /** Deletes everything stored for the account (XEP-0077 cancellation), in one transaction. */
  removeAccount(username: string): Promise<void>;
  /** Releases the store's resources; closing twice is harmless. */
  close(): void;
}

/**
 * Applies the defaults to `limits` and checks each is a non-negative safe
 * integer.
 *
 * @param limits The limits given to a store.
 * @returns Every limit, defaults filled in.
 * @throws {RangeError} If a limit is negative, fractional or not a number.
 *
 * @example Usage
 * ```ts
 * import { resolveImStoreLimits } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveImStoreLimits({ maxVcardBytes: 10 }).maxVcardBytes, 10);
 * assert.equal(resolveImStoreLimits().maxOfflineMessages, 100);
 * assert.throws(() => resolveImStoreLimits({ maxPepNodes: -1 }), RangeError);
 * ```
 */
export function resolveImStoreLimits(limits: ImStoreLimits = {}): ResolvedImStoreLimits {
  const resolved = { ...DEFAULT_IM_STORE_LIMITS };
  for (const key of Object.keys(DEFAULT_IM_STORE_LIMITS) as (keyof ImStoreLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `Cannot create IM store: '${key}' must be a non-negative integer, got ${value}`,
      );
    }
    resolved[key] = value;
  }
  return resolved;
}

/**
 * Checks a roster item's shape before it is stored.
 *
 * @param item The item.
 * @throws {TypeError} If a field has the wrong type or value.
 *
 * @example Usage
 * ```ts
 * import { checkRosterItem } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * const item = { jid: "romeo@example.net", groups: [], subscription: "both", ask: false, approved: false, version: 1 } as const;
 * checkRosterItem(item);
 * assert.throws(() => checkRosterItem({ ...item, subscription: "all" as "both" }), TypeError);
 * ```
 */
export function checkRosterItem(item: RosterItem): void {
  const { jid, name, groups, subscription, ask, approved, version } = item;
  if (typeof jid !== "string" || jid.length === 0) {
    throw new TypeError("Cannot store roster item: 'jid' must be a non-empty string");
  }
  if (
    !(name === undefined || typeof name === "string") || !Array.isArray(groups) ||
    !groups.every((group) => typeof group === "string") ||
    !(subscription === "none" || subscription === "to" || subscription === "from" ||
      subscription === "both") ||
    typeof ask !== "boolean" || typeof approved !== "boolean" ||
    !Number.isSafeInteger(version) || version < 0
  ) {
    throw new TypeError(`Cannot store roster item '${jid}': it is malformed`);
  }
}

/**
 * A frozen copy of a roster item (its groups array frozen too), so a
 * holder can share it without anyone changing it.
 *
 * @param item The item.
 * @returns The copy, without a `name` key when the item has no name.
 *
 * @example Usage
 * ```ts
 * import { freezeRosterItem } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * const item = freezeRosterItem({ jid: "romeo@example.net", groups: ["G"], subscription: "to", ask: false, approved: false, version: 2 });
 * assert.ok(Object.isFrozen(item) && Object.isFrozen(item.groups));
 * ```
 */
export function freezeRosterItem(item: RosterItem): RosterItem {
  return Object.freeze({
    jid: item.jid,
    ...(item.name === undefined ? {} : { name: item.name }),
    groups: Object.freeze([...item.groups]),
    subscription: item.subscription,
    ask: item.ask,
    approved: item.approved,
    version: item.version,
  });
}

/**
 * Checks a roster version before it is stored.
 *
 * @param version The version.
 * @throws {TypeError} If it is not a non-negative integer.
 *
 * @example Usage
 * ```ts
 * import { checkRosterVersion } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * checkRosterVersion(3);
 * assert.throws(() => checkRosterVersion(-1), TypeError);
 * ```
 */
export function checkRosterVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new TypeError(
      `Cannot store roster: 'version' must be a non-negative integer, got ${version}`,
    );
  }
}

/**
 * Checks an offline message before it is stored.
 *
 * @param message The stamp and stanza.
 * @throws {TypeError} If the stamp is not an integer or the stanza not a string.
 *
 * @example Usage
 * ```ts
 * import { checkOfflineMessage } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * checkOfflineMessage({ stamp: 1, stanza: "<message/>" });
 * assert.throws(() => checkOfflineMessage({ stamp: 1.5, stanza: "<message/>" }), TypeError);
 * ```
 */
export function checkOfflineMessage(message: Omit<OfflineMessage, "id">): void {
  if (!Number.isSafeInteger(message.stamp) || typeof message.stanza !== "string") {
    throw new TypeError(
      "Cannot store offline message: it needs an integer 'stamp' and a string 'stanza'",
    );
  }
}

/**
 * The number of items a PEP node keeps: the requested maximum, capped by
 * the store's `maxPepItemsPerNode`.
 *
 * @param options The publish options.
 * @param limits The store's limits.
 * @returns The maximum, at least 1.
 * @throws {RangeError} If `options.maxItems` is below 1 or not an integer.
 *
 * @example Usage
 * ```ts
 * import { pepItemLimit, resolveImStoreLimits } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * const limits = resolveImStoreLimits({ maxPepItemsPerNode: 10 });
 * assert.equal(pepItemLimit({ maxItems: 1 }, limits), 1);
 * assert.equal(pepItemLimit({ maxItems: 50 }, limits), 10);
 * assert.equal(pepItemLimit({}, limits), 10);
 * ```
 */
export function pepItemLimit(options: PutPepItemOptions, limits: ResolvedImStoreLimits): number {
  const max = options.maxItems ?? limits.maxPepItemsPerNode;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`Cannot publish PEP item: 'maxItems' must be at least 1, got ${max}`);
  }
  return Math.min(max, limits.maxPepItemsPerNode);
}

/**
 * Whether a string's UTF-8 encoding fits in `maxBytes`. Short strings are
 * decided from their length alone; only strings whose length is within a
 * factor of three of the limit are encoded.
 *
 * @param text The string.
 * @param maxBytes The limit in bytes.
 * @returns Whether `text` takes at most `maxBytes` bytes in UTF-8.
 *
 * @example Usage
 * ```ts
 * import { fitsUtf8 } from "./im_store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fitsUtf8("aé€😀", 10), true);
 * assert.equal(fitsUtf8("aé€😀", 9), false);
 * ```
 */
export function fitsUtf8(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return true;
  if (text.length > maxBytes) return false;
  return ENCODER.encode(text).length <= maxBytes;
}

const ENCODER = new TextEncoder();
