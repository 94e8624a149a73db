/**
 * What the account services (blocking, carbons, vCards, PEP, last activity,
 * registration, account disco) need from the server: its domain, the bound
 * sessions of an account, the IM store and a clock. Also the one roster
 * question several of them ask: may this contact see the account's presence?
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Jid } from "../jid/jid.ts";
import type { ImStore, RosterData } from "../storage/im_store.ts";
import type { Element } from "../xml/element.ts";

/** What the account services need of a bound session. */
export interface ImSession {
  /** The account's bare JID (`user@domain`). */
  readonly bareKey: string;
  /** The bound resource. */
  readonly resourceKey: string;
  /** The bound full JID, once bound. */
  readonly jid: Jid | undefined;
  /** Sent initial presence and not unavailable since. */
  readonly available: boolean;
  /** The last broadcast available presence. */
  readonly presence: Element | undefined;
  /** Writes a stanza to the session's client. */
  send(stanza: Element): void;
}

/** Bound sessions by account. */
export interface ImSessions<S extends ImSession> {
  /** The sessions of one account (empty when none). */
  resources(bare: string): Iterable<S>;
  /** The session bound on `bare`/`resource`. */
  get(bare: string, resource: string): S | undefined;
}

/** The server side of the account services. */
export interface ImContext<S extends ImSession = ImSession> {
  /** The served domain. */
  readonly domain: string;
  /** Bound sessions. */
  readonly sessions: ImSessions<S>;
  /** The IM store; throws until the server is started. */
  store(): ImStore;
  /** The clock for ages and windows. */
  readonly clock: Clock;
}

/**
 * The localpart of a bare JID on `domain`, or `undefined` when the JID is
 * not a local account.
 *
 * @param bare A normalised bare JID.
 * @param domain The served domain.
 * @returns The username the stores key the account by.
 *
 * @example Usage
 * ```ts
 * import { localUsername } from "./im_context.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(localUsername("juliet@capulet.lit", "capulet.lit"), "juliet");
 * assert.equal(localUsername("romeo@montague.lit", "capulet.lit"), undefined);
 * assert.equal(localUsername("capulet.lit", "capulet.lit"), undefined);
 * ```
 */
export function localUsername(bare: string, domain: string): string | undefined {
  const at = bare.indexOf("@");
  if (at <= 0 || bare.length - at - 1 !== domain.length || !bare.endsWith(domain)) {
    return undefined;
  }
  if (bare.indexOf("/", at) !== -1) return undefined;
  return bare.slice(0, at);
}

/**
 * Whether `contact` may see the roster owner's presence (RFC 6121 §3: the
 * owner's roster item for the contact has subscription `from` or `both`).
 *
 * @param roster The owner's roster.
 * @param contact The asker's normalised bare JID.
 * @returns Whether the contact is subscribed to the owner's presence.
 *
 * @example Usage
 * ```ts
 * import { isPresenceSubscriber } from "./im_context.ts";
 * import assert from "node:assert/strict";
 *
 * const item = { groups: [], ask: false, approved: false, version: 1 };
 * const roster = { version: 1, items: [{ ...item, jid: "romeo@x", subscription: "from" as const }] };
 * assert.equal(isPresenceSubscriber(roster, "romeo@x"), true);
 * assert.equal(isPresenceSubscriber(roster, "tybalt@x"), false);
 * ```
 */
export function isPresenceSubscriber(roster: RosterData, contact: string): boolean {
  for (const item of roster.items) {
    if (item.jid === contact) return item.subscription === "from" || item.subscription === "both";
  }
  return false;
}

/**
 * The bare JIDs that may see the roster owner's presence: items with
 * subscription `from` or `both`, in roster order.
 *
 * @param roster The owner's roster.
 * @returns The subscribers' bare JIDs.
 *
 * @example Usage
 * ```ts
 * import { presenceSubscribers } from "./im_context.ts";
 * import assert from "node:assert/strict";
 *
 * const item = { groups: [], ask: false, approved: false, version: 1 };
 * const roster = { version: 1, items: [
 *   { ...item, jid: "nurse@x", subscription: "both" as const },
 *   { ...item, jid: "romeo@x", subscription: "to" as const },
 * ] };
 * assert.deepEqual(presenceSubscribers(roster), ["nurse@x"]);
 * ```
 */
export function presenceSubscribers(roster: RosterData): string[] {
  const subscribers: string[] = [];
  for (const item of roster.items) {
    if (item.subscription === "from" || item.subscription === "both") subscribers.push(item.jid);
  }
  return subscribers;
}
