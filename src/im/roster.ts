/**
 * A pure model of one account's roster (RFC 6121 §2): items, the roster
 * set/remove rules with their stanza errors, roster versioning (RFC 6121
 * §2.6, formerly XEP-0237) and the `jabber:iq:roster` elements.
 *
 * The model does no I/O. A caller loads it from an {@linkcode ImStore}
 * (`new Roster(await store.getRoster(user))`), applies a request, persists
 * the returned {@linkcode RosterChange} (`putRosterItem` or
 * `removeRosterItem`), then answers and pushes. Changes are applied to the
 * model first: a caller whose write fails should drop the model and reload
 * it. Calls on one account's roster must not interleave across a write.
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import {
  checkRosterItem,
  freezeRosterItem,
  type RosterData,
  type RosterItem,
} from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_CLIENT, NS_ROSTER } from "../xml/ns.ts";
import type { SubscriptionState } from "./subscription.ts";

/** Options of a {@linkcode Roster}. */
export interface RosterOptions {
  /** The account's bare JID: a roster item for it is refused with `not-allowed`. @default {undefined} */
  owner?: string;
  /** Items in the roster; adding one more is refused with `resource-constraint`. @default {1000} */
  maxItems?: number;
  /** Length (UTF-16 code units) of an item's name; longer is `not-acceptable`. @default {1024} */
  maxNameLength?: number;
  /** Length (UTF-16 code units) of a group name; longer is `not-acceptable`. @default {1024} */
  maxGroupLength?: number;
  /** Groups on one item; more is `not-acceptable`. @default {64} */
  maxGroupsPerItem?: number;
  /**
   * Removals remembered so that a client with an older version gets the
   * changes as pushes (RFC 6121 §2.6.3) rather than the whole roster.
   * Forgotten removals (and everything before loading) mean a full roster.
   *
   * @default {128}
   */
  maxRemovals?: number;
}

/** The client-settable part of a roster item (RFC 6121 §2.3, §2.4). */
export interface RosterItemInput {
  /** The contact's JID; normalised and required to be bare. */
  jid: string;
  /** The handle; absent or empty for none. */
  name?: string | undefined;
  /** The groups. @default {[]} */
  groups?: readonly string[];
}

/** One change to a roster, to persist and push. */
export interface RosterChange {
  /** The contact's normalised bare JID. */
  readonly jid: string;
  /** The item afterwards; `undefined` when it was removed. */
  readonly item: RosterItem | undefined;
  /** The item before, for changes just made; `undefined` when it was created, or for changes replayed by {@linkcode Roster.query}. */
  readonly previous: RosterItem | undefined;
  /** The roster version this change produced. */
  readonly version: number;
}

/** The answer to a roster get (RFC 6121 §2.2, §2.6.3). */
export type RosterQueryResult =
  /** Send this `<query/>` as the IQ result. */
  | { readonly kind: "full"; readonly query: Element }
  /** Send an empty IQ result: the client's cached roster is current. */
  | { readonly kind: "unchanged" }
  /** Send an empty IQ result, then these changes as roster pushes, in order. */
  | { readonly kind: "pushes"; readonly changes: readonly RosterChange[] };

/** Options of {@linkcode rosterPush}. */
export interface RosterPushOptions {
  /** The interested resource's full JID. */
  to: string;
  /** The push's IQ id. */
  id: string;
}

const DEFAULTS = {
  maxItems: 1000,
  maxNameLength: 1024,
  maxGroupLength: 1024,
  maxGroupsPerItem: 64,
  maxRemovals: 128,
} as const;

const VERSION_REGEXP = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * One account's roster in memory: validated changes, each raising the
 * version by one.
 *
 * @example Usage
 * ```ts
 * import { Roster } from "./roster.ts";
 * import assert from "node:assert/strict";
 *
 * const roster = new Roster(undefined, { owner: "juliet@example.com" });
 * const change = roster.setItem({ jid: "Romeo@Example.net", name: "Romeo", groups: ["Friends"] });
 * assert.ok(!(change instanceof Error));
 * assert.equal(change.jid, "romeo@example.net");
 * assert.equal(roster.version, 1);
 * assert.deepEqual(roster.query("1"), { kind: "unchanged" });
 * ```
 */
export class Roster {
  #items = new Map<string, RosterItem>();
  // Removed JID -> the version of the removal, oldest first.
  #removals = new Map<string, number>();
  #version: number;
  // The oldest version from which changes can be replayed as pushes.
  #floor: number;
  #owner: string | undefined;
  #maxItems: number;
  #maxNameLength: number;
  #maxGroupLength: number;
  #maxGroupsPerItem: number;
  #maxRemovals: number;

  /**
   * Loads a roster.
   *
   * @param data The stored roster; an empty one at version 0 when omitted.
   * @param options The owner and the limits.
   * @throws {TypeError} If an item is malformed or `owner` is not a JID.
   * @throws {RangeError} If a limit is not a non-negative integer.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster({ version: 7, items: [
   *   { jid: "romeo@example.net", groups: [], subscription: "both", ask: false, approved: false, version: 7 },
   * ] });
   * assert.equal(roster.size, 1);
   * assert.equal(roster.version, 7);
   * ```
   */
  constructor(data: RosterData = { version: 0, items: [] }, options: RosterOptions = {}) {
    this.#maxItems = limit(options, "maxItems");
    this.#maxNameLength = limit(options, "maxNameLength");
    this.#maxGroupLength = limit(options, "maxGroupLength");
    this.#maxGroupsPerItem = limit(options, "maxGroupsPerItem");
    this.#maxRemovals = limit(options, "maxRemovals");
    if (options.owner !== undefined) {
      const owner = Jid.tryParse(options.owner);
      if (owner === undefined) {
        throw new TypeError(`Cannot create roster: 'owner' is not a JID, got '${options.owner}'`);
      }
      this.#owner = owner.bare().toString();
    }
    let version = data.version;
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new TypeError(
        `Cannot create roster: 'version' must be a non-negative integer, got ${version}`,
      );
    }
    for (const item of data.items) {
      checkRosterItem(item);
      this.#items.set(item.jid, freezeRosterItem(item));
      if (item.version > version) version = item.version;
    }
    this.#version = version;
    // Removals before loading are unknown, so older versions get the full roster.
    this.#floor = version;
  }

  /**
   * The roster version: 0 for a new roster, one more after every change.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Roster().version, 0);
   * ```
   */
  get version(): number {
    return this.#version;
  }

  /**
   * The number of items.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Roster().size, 0);
   * ```
   */
  get size(): number {
    return this.#items.size;
  }

  /**
   * The item for a contact.
   *
   * @param jid The contact's normalised bare JID.
   * @returns The item, or `undefined`.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * roster.setItem({ jid: "nurse@example.com" });
   * assert.equal(roster.get("nurse@example.com")?.subscription, "none");
   * assert.equal(roster.get("romeo@example.net"), undefined);
   * ```
   */
  get(jid: string): RosterItem | undefined {
    return this.#items.get(jid);
  }

  /**
   * Every item, in the order they were loaded or added.
   *
   * @returns The items (a new array of the immutable items).
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * roster.setItem({ jid: "b@example.com" });
   * roster.setItem({ jid: "a@example.com" });
   * assert.deepEqual(roster.items().map((item) => item.jid), ["b@example.com", "a@example.com"]);
   * ```
   */
  items(): RosterItem[] {
    return [...this.#items.values()];
  }

  /**
   * Adds or updates an item as a roster set does (RFC 6121 §2.3, §2.4): the
   * name and groups are replaced exactly as given, the subscription state
   * is kept (a new item starts at `none`).
   *
   * @param input The JID, name and groups.
   * @returns The change, or the stanza error to answer with:
   * `jid-malformed` for a JID that does not parse; `bad-request` for a full
   * JID or duplicate groups; `not-allowed` for the owner's own JID;
   * `not-acceptable` for an empty group, or a name, group or group count
   * over its limit; `resource-constraint` when a new item would pass
   * `maxItems`.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import { StanzaError } from "../errors/stanza_error.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * const refused = roster.setItem({ jid: "nurse@example.com", groups: ["A", "A"] });
   * assert.ok(refused instanceof StanzaError);
   * assert.equal(refused.condition, "bad-request");
   * ```
   */
  setItem(input: RosterItemInput): RosterChange | StanzaError {
    const jid = this.#checkJid(input.jid);
    if (jid instanceof StanzaError) return jid;
    const name = input.name === "" ? undefined : input.name;
    // RFC 6121 §2.3.3: a name longer than the server's limit is not-acceptable.
    if (name !== undefined && name.length > this.#maxNameLength) {
      return refuse("modify", "not-acceptable", "The name is too long");
    }
    const groups = input.groups ?? [];
    const seen = new Set<string>();
    for (const group of groups) {
      // RFC 6121 §2.3.3: empty or over-long group names are not-acceptable.
      if (group.length === 0) return refuse("modify", "not-acceptable", "A group name is empty");
      if (group.length > this.#maxGroupLength) {
        return refuse("modify", "not-acceptable", "A group name is too long");
      }
      // RFC 6121 §2.3.3: duplicate groups are a bad-request.
      if (seen.has(group)) return refuse("modify", "bad-request", "A group is listed twice");
      seen.add(group);
    }
    if (groups.length > this.#maxGroupsPerItem) {
      return refuse("modify", "not-acceptable", "The item has too many groups");
    }
    const previous = this.#items.get(jid);
    if (previous === undefined && this.#items.size >= this.#maxItems) {
      return refuse("wait", "resource-constraint", "The roster is full");
    }
    const version = this.#version + 1;
    const item: RosterItem = {
      jid,
      ...(name === undefined ? {} : { name }),
      groups: Object.freeze([...groups]),
      subscription: previous?.subscription ?? "none",
      ask: previous?.ask ?? false,
      approved: previous?.approved ?? false,
      version,
    };
    return this.#commit(jid, Object.freeze(item), previous);
  }

  /**
   * Removes an item as a roster set with `subscription='remove'` does (RFC
   * 6121 §2.5). The caller sends the presences that
   * {@linkcode removalNotices} lists for the item's state before.
   *
   * @param jid The contact's JID; normalised.
   * @returns The change, or `item-not-found` when there is no such item
   * (`jid-malformed` if it does not parse).
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import { StanzaError } from "../errors/stanza_error.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * roster.setItem({ jid: "nurse@example.com" });
   * const change = roster.removeItem("nurse@example.com");
   * assert.ok(!(change instanceof StanzaError) && change.item === undefined);
   * assert.equal((roster.removeItem("nurse@example.com") as StanzaError).condition, "item-not-found");
   * ```
   */
  removeItem(jid: string): RosterChange | StanzaError {
    const parsed = Jid.tryParse(jid);
    if (parsed === undefined) return refuse("modify", "jid-malformed", "The JID is malformed");
    const key = parsed.toString();
    const previous = this.#items.get(key);
    // RFC 6121 §2.5.3: removing an item that is not there is item-not-found.
    if (previous === undefined) return refuse("cancel", "item-not-found");
    return this.#commit(key, undefined, previous);
  }

  /**
   * Applies the `<query xmlns='jabber:iq:roster'/>` of a roster set (RFC
   * 6121 §2.3 to §2.5): exactly one `<item/>`, which is removed when its
   * `subscription` is `remove` and otherwise added or updated with
   * {@linkcode Roster.setItem}. Other `subscription` values, `ask` and
   * `approved` in the request are ignored, as the server controls them.
   *
   * @param query The `<query/>` child of the IQ set.
   * @returns The change, or the stanza error: `bad-request` when the query
   * does not hold exactly one item or the item has no `jid`, otherwise as
   * for {@linkcode Roster.setItem} and {@linkcode Roster.removeItem}.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import { el } from "../xml/element.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * roster.applySet(el("query", { xmlns: "jabber:iq:roster" },
   *   el("item", { jid: "nurse@example.com", name: "Nurse" }, el("group", {}, "Servants"))));
   * assert.deepEqual(roster.get("nurse@example.com")?.groups, ["Servants"]);
   * ```
   */
  applySet(query: Element): RosterChange | StanzaError {
    const items = query.getChildren("item", NS_ROSTER);
    // RFC 6121 §2.3.3: more than one item is a bad-request (none is malformed too).
    if (items.length !== 1) {
      return refuse("modify", "bad-request", "A roster set must contain exactly one item");
    }
    const item = items[0]!;
    const jid = item.attr("jid");
    if (jid === undefined) return refuse("modify", "bad-request", "The item has no JID");
    if (item.attr("subscription") === "remove") return this.removeItem(jid);
    const groups = item.getChildren("group", NS_ROSTER).map((group) => group.text());
    return this.setItem({ jid, name: item.attr("name"), groups });
  }

  /**
   * Writes a subscription state (from {@linkcode outboundSubscription} or
   * {@linkcode inboundSubscription}) into the contact's item, creating the
   * item when the state says it is in the roster. `pendingIn` is not part
   * of the item and is ignored.
   *
   * @param jid The contact's normalised bare JID.
   * @param state The state afterwards.
   * @returns The change when the item was created or its subscription,
   * `ask` or `approved` changed; `undefined` when nothing changed or the
   * state is not in the roster; `resource-constraint` when a new item
   * would pass `maxItems`; `not-allowed` for the owner's own JID.
   * @throws {TypeError} If `jid` is new and not a normalised bare JID.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import { NO_SUBSCRIPTION, outboundSubscription } from "./subscription.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * const outcome = outboundSubscription(NO_SUBSCRIPTION, "subscribe");
   * roster.applySubscription("romeo@example.net", outcome.state);
   * assert.equal(roster.get("romeo@example.net")?.ask, true);
   * ```
   */
  applySubscription(
    jid: string,
    state: SubscriptionState,
  ): RosterChange | StanzaError | undefined {
    if (!state.inRoster) return undefined;
    const previous = this.#items.get(jid);
    if (
      previous !== undefined && previous.subscription === state.subscription &&
      previous.ask === state.ask && previous.approved === state.approved
    ) {
      return undefined;
    }
    if (previous === undefined) {
      const checked = this.#checkJid(jid);
      if (checked instanceof StanzaError) return checked;
      if (checked !== jid) {
        throw new TypeError(`Cannot apply subscription: '${jid}' is not a normalised bare JID`);
      }
      if (this.#items.size >= this.#maxItems) {
        return refuse("wait", "resource-constraint", "The roster is full");
      }
    }
    const item: RosterItem = {
      ...(previous ?? { jid, groups: Object.freeze([]) }),
      subscription: state.subscription,
      ask: state.ask,
      approved: state.approved,
      version: this.#version + 1,
    };
    return this.#commit(jid, Object.freeze(item), previous);
  }

  /**
   * Answers a roster get (RFC 6121 §2.2 and §2.6.3). Without `ver`, with an
   * empty or unknown one, or one older than the remembered changes, the
   * whole roster (carrying `ver`); with the current version, `unchanged`;
   * with an older remembered version, the changes since, unless they are
   * at least as many as the roster's items.
   *
   * @param ver The `ver` attribute of the request, if any.
   * @returns What to answer.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * for (const name of ["a", "b", "c"]) roster.setItem({ jid: `${name}@example.com` });
   * const result = roster.query("2");
   * assert.equal(result.kind, "pushes");
   * assert.deepEqual(result.kind === "pushes" && result.changes.map((c) => c.jid), ["c@example.com"]);
   * assert.equal(roster.query().kind, "full");
   * ```
   */
  query(ver?: string): RosterQueryResult {
    if (ver === undefined || !VERSION_REGEXP.test(ver)) return this.#full();
    const since = Number(ver);
    if (since === this.#version) return { kind: "unchanged" };
    if (since > this.#version || since < this.#floor) return this.#full();
    const changes: RosterChange[] = [];
    for (const item of this.#items.values()) {
      if (item.version > since) {
        changes.push({ jid: item.jid, item, previous: undefined, version: item.version });
      }
    }
    for (const [jid, version] of this.#removals) {
      if (version > since) changes.push({ jid, item: undefined, previous: undefined, version });
    }
    if (changes.length >= this.#items.size) return this.#full();
    changes.sort(byVersion);
    return { kind: "pushes", changes };
  }

  /**
   * The whole roster as `<query xmlns='jabber:iq:roster' ver='…'>`.
   *
   * @returns A new element.
   *
   * @example Usage
   * ```ts
   * import { Roster } from "./roster.ts";
   * import { serialize } from "../xml/serialize.ts";
   * import assert from "node:assert/strict";
   *
   * const roster = new Roster();
   * roster.setItem({ jid: "nurse@example.com", name: "Nurse", groups: ["Servants"] });
   * assert.equal(serialize(roster.toQuery()),
   *   `<query xmlns="jabber:iq:roster" ver="1"><item jid="nurse@example.com" name="Nurse" ` +
   *   `subscription="none"><group>Servants</group></item></query>`);
   * ```
   */
  toQuery(): Element {
    const items: Element[] = [];
    for (const item of this.#items.values()) items.push(rosterItemElement(item));
    return el("query", { xmlns: NS_ROSTER, ver: String(this.#version) }, ...items);
  }

  #full(): RosterQueryResult {
    return { kind: "full", query: this.toQuery() };
  }

  /** Normalises a JID for a new item and checks it may be in the roster. */
  #checkJid(text: string): string | StanzaError {
    const jid = Jid.tryParse(text);
    if (jid === undefined) return refuse("modify", "jid-malformed", "The JID is malformed");
    if (jid.resource !== undefined) {
      return refuse("modify", "bad-request", "Roster items are bare JIDs");
    }
    const bare = jid.toString();
    if (bare === this.#owner) {
      return refuse("cancel", "not-allowed", "The account cannot be in its own roster");
    }
    return bare;
  }

  #commit(
    jid: string,
    item: RosterItem | undefined,
    previous: RosterItem | undefined,
  ): RosterChange {
    const version = ++this.#version;
    if (item === undefined) {
      this.#items.delete(jid);
      this.#removals.set(jid, version);
      if (this.#removals.size > this.#maxRemovals) {
        for (const [oldest, removedAt] of this.#removals) {
          this.#removals.delete(oldest);
          this.#floor = removedAt;
          if (this.#removals.size <= this.#maxRemovals) break;
        }
      }
    } else {
      this.#items.set(jid, item);
      this.#removals.delete(jid);
    }
    return { jid, item, previous, version };
  }
}

/**
 * The `<item/>` of a roster result or push (RFC 6121 §2.1.2): `jid`,
 * `name` when set, `subscription`, `ask='subscribe'` while a request is
 * pending, `approved='true'` when pre-approved, and one `<group/>` per
 * group.
 *
 * @param item The roster item.
 * @returns A new element without a namespace (it takes the query's).
 *
 * @example Usage
 * ```ts
 * import { rosterItemElement } from "./roster.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const item = { jid: "romeo@example.net", groups: [], subscription: "none", ask: true, approved: false, version: 3 } as const;
 * assert.equal(serialize(rosterItemElement(item)), `<item jid="romeo@example.net" subscription="none" ask="subscribe"/>`);
 * ```
 */
export function rosterItemElement(item: RosterItem): Element {
  const groups: Element[] = [];
  for (const group of item.groups) groups.push(el("group", {}, group));
  return el("item", {
    jid: item.jid,
    name: item.name,
    subscription: item.subscription,
    ask: item.ask ? "subscribe" : undefined,
    approved: item.approved ? "true" : undefined,
  }, ...groups);
}

/**
 * The `<query xmlns='jabber:iq:roster' ver='…'>` of a roster push for one
 * change: the item afterwards, or `<item jid='…' subscription='remove'/>`
 * for a removal (RFC 6121 §2.1.6, §2.5.2).
 *
 * @param change The change.
 * @returns A new element.
 *
 * @example Usage
 * ```ts
 * import { rosterChangeQuery } from "./roster.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const removal = { jid: "nurse@example.com", item: undefined, previous: undefined, version: 9 };
 * assert.equal(serialize(rosterChangeQuery(removal)),
 *   `<query xmlns="jabber:iq:roster" ver="9"><item jid="nurse@example.com" subscription="remove"/></query>`);
 * ```
 */
export function rosterChangeQuery(change: RosterChange): Element {
  const item = change.item === undefined
    ? el("item", { jid: change.jid, subscription: "remove" })
    : rosterItemElement(change.item);
  return el("query", { xmlns: NS_ROSTER, ver: String(change.version) }, item);
}

/**
 * A roster push (RFC 6121 §2.1.6): `<iq type='set'>` to one interested
 * resource, carrying {@linkcode rosterChangeQuery}. It has no `from`, which
 * the client reads as coming from its own account.
 *
 * @param change The change.
 * @param options The resource and the IQ id.
 * @returns A new `jabber:client` IQ element.
 *
 * @example Usage
 * ```ts
 * import { Roster, rosterPush } from "./roster.ts";
 * import { StanzaError } from "../errors/stanza_error.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const change = new Roster().setItem({ jid: "nurse@example.com" });
 * assert.ok(!(change instanceof StanzaError));
 * assert.equal(serialize(rosterPush(change, { to: "juliet@example.com/balcony", id: "p1" }), "jabber:client"),
 *   `<iq type="set" id="p1" to="juliet@example.com/balcony"><query xmlns="jabber:iq:roster" ver="1">` +
 *   `<item jid="nurse@example.com" subscription="none"/></query></iq>`);
 * ```
 */
export function rosterPush(change: RosterChange, options: RosterPushOptions): Element {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type: "set", id: options.id, to: options.to },
    rosterChangeQuery(change),
  );
}

function limit(options: RosterOptions, key: keyof typeof DEFAULTS): number {
  const value = options[key] ?? DEFAULTS[key];
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create roster: '${key}' must be a non-negative integer, got ${value}`,
    );
  }
  return value;
}

function refuse(
  type: "modify" | "cancel" | "wait",
  condition:
    | "bad-request"
    | "jid-malformed"
    | "not-acceptable"
    | "not-allowed"
    | "item-not-found"
    | "resource-constraint",
  text?: string,
): StanzaError {
  return new StanzaError(type, condition, text === undefined ? {} : { text });
}

function byVersion(a: RosterChange, b: RosterChange): number {
  return a.version - b.version;
}
