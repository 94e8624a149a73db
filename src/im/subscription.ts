/**
 * The presence subscription state machine of RFC 6121 §3 and Appendix A, as
 * pure functions over the state of one contact in one account's roster.
 *
 * Everything is seen from the local account (the "user" when it sends, the
 * "contact" when it receives): {@linkcode outboundSubscription} is what the
 * server does with a `subscribe`, `subscribed`, `unsubscribe` or
 * `unsubscribed` presence its own user sends to a contact, and
 * {@linkcode inboundSubscription} what it does with one addressed to its
 * user. The functions decide; the caller persists, pushes, routes, delivers
 * and replies as the outcome says.
 *
 * The nine states of Appendix A.1 are `subscription` plus two pending flags:
 * `ask` ("Pending Out", a request the user sent) and `pendingIn` (a request
 * the user received and has not answered; kept outside the roster item, as
 * RFC 6121 §3.1.3 says such a requester need not be in the roster). `ask` is
 * meaningful only with `none`/`from`, `pendingIn` only with `none`/`to`; the
 * other combinations are read as if the flag were clear. `approved` is the
 * pre-approval flag of §3.4.
 *
 * @module
 */

import type { Subscription } from "../storage/im_store.ts";

/** The four presence types that manage subscriptions. */
export type SubscriptionPresenceType = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";

/** The subscription fields a roster item carries (RFC 6121 §2.1.2). */
export interface SubscriptionFields {
  /** `none`, `to`, `from` or `both`. */
  readonly subscription: Subscription;
  /** Pending Out: the user asked to subscribe to the contact (`ask='subscribe'`). */
  readonly ask: boolean;
  /** The user pre-approved a subscription request from the contact (§3.4). */
  readonly approved: boolean;
}

/** The complete state of one contact in one account. */
export interface SubscriptionState extends SubscriptionFields {
  /** Pending In: the contact asked to subscribe and the user has not answered. */
  readonly pendingIn: boolean;
  /** Whether the account's roster has an item for the contact. */
  readonly inRoster: boolean;
}

/** Presence the local account's available resources send to the other party. */
export type PresenceEffect = "current" | "unavailable";

/** What the server does with a subscription presence its own user sends. */
export interface OutboundOutcome {
  /** The state afterwards. */
  readonly state: SubscriptionState;
  /** Whether anything stored changed (roster item fields, its existence, or `pendingIn`). */
  readonly changed: boolean;
  /** Whether the roster item was created or its subscription, `ask` or `approved` changed: push it to interested resources. */
  readonly push: boolean;
  /** Whether to route the stanza (from the user's bare JID) to the contact. */
  readonly route: boolean;
  /**
   * Presence to send to the contact from each of the user's available
   * resources: `current` after approving (§3.1.5), `unavailable` before
   * routing a cancellation of the contact's subscription (§3.2.2).
   */
  readonly presence: PresenceEffect | undefined;
}

/** What the server does with a subscription presence addressed to its user. */
export interface InboundOutcome {
  /** The state afterwards. */
  readonly state: SubscriptionState;
  /** Whether anything stored changed (roster item fields, its existence, or `pendingIn`). */
  readonly changed: boolean;
  /** Whether the roster item's subscription, `ask` or `approved` changed: push it to interested resources. */
  readonly push: boolean;
  /**
   * Whether to deliver the stanza to the user: to available resources for
   * `subscribe` (stored with `pendingIn` for later otherwise), to interested
   * resources for the others.
   */
  readonly deliver: boolean;
  /** A presence to send back to the contact from the user's bare JID, without troubling the user. */
  readonly reply: "subscribed" | undefined;
  /**
   * Presence to send to the contact from each of the user's available
   * resources: `current` when a request is approved automatically,
   * `unavailable` when the contact stops being a subscriber (§3.3.3).
   */
  readonly presence: PresenceEffect | undefined;
}

/** Options of {@linkcode outboundSubscription} and {@linkcode inboundSubscription}. */
export interface SubscriptionOptions {
  /**
   * Whether the server offers subscription pre-approval (RFC 6121 §3.4,
   * stream feature `urn:xmpp:features:pre-approval`). Without it an
   * outbound `subscribed` that answers no request is ignored, and the
   * `approved` flag is never honoured.
   *
   * @default {true}
   */
  preApproval?: boolean;
}

/** The state of a contact the account knows nothing about. */
export const NO_SUBSCRIPTION: SubscriptionState = Object.freeze({
  subscription: "none",
  ask: false,
  approved: false,
  pendingIn: false,
  inRoster: false,
});

/**
 * Builds the state of a contact from its roster item (if any) and whether a
 * request from it is pending.
 *
 * @param item The contact's roster item, or `undefined` when it has none.
 * @param pendingIn Whether an unanswered request from the contact is stored.
 * @returns The state.
 *
 * @example Usage
 * ```ts
 * import { subscriptionState } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * const state = subscriptionState({ subscription: "to", ask: false, approved: false }, true);
 * assert.deepEqual(state, { subscription: "to", ask: false, approved: false, pendingIn: true, inRoster: true });
 * assert.equal(subscriptionState(undefined).inRoster, false);
 * ```
 */
export function subscriptionState(
  item: SubscriptionFields | undefined,
  pendingIn = false,
): SubscriptionState {
  if (item === undefined) return pendingIn ? { ...NO_SUBSCRIPTION, pendingIn } : NO_SUBSCRIPTION;
  return {
    subscription: item.subscription,
    ask: item.ask,
    approved: item.approved,
    pendingIn,
    inRoster: true,
  };
}

/**
 * The Appendix A.1 states. `o` = Pending Out, `i` = Pending In.
 */
type Key = "none" | "none+o" | "none+i" | "none+oi" | "to" | "to+i" | "from" | "from+o" | "both";

/** A row of an Appendix A table: the new state (`undefined` = no state change) and whether to route or deliver. */
type Row = readonly [next: Key | undefined, forward: boolean];

/** A table: one row per existing state. */
type Table = Readonly<Record<Key, Row>>;

// RFC 6121 A.2.1: outbound "subscribe". A.2 says the user's server routes
// every outbound subscribe and unsubscribe, whatever the state, so that the
// contact's server can resynchronise.
const OUT_SUBSCRIBE: Table = {
  "none": ["none+o", true],
  "none+o": [undefined, true],
  "none+i": ["none+oi", true],
  "none+oi": [undefined, true],
  "to": [undefined, true],
  "to+i": [undefined, true],
  "from": ["from+o", true],
  "from+o": [undefined, true],
  "both": [undefined, true],
};

// RFC 6121 A.2.2: outbound "unsubscribe" (always routed, see A.2).
const OUT_UNSUBSCRIBE: Table = {
  "none": [undefined, true],
  "none+o": ["none", true],
  "none+i": [undefined, true],
  "none+oi": ["none+i", true],
  "to": ["none", true],
  "to+i": ["none+i", true],
  "from": [undefined, true],
  "from+o": ["from", true],
  "both": ["from", true],
};

// RFC 6121 A.2.3: outbound "subscribed". The three "no" rows without a
// pending request become a pre-approval (§3.4) when the server offers it;
// that is handled before this table is read.
const OUT_SUBSCRIBED: Table = {
  "none": [undefined, false],
  "none+o": [undefined, false],
  "none+i": ["from", true],
  "none+oi": ["from+o", true],
  "to": [undefined, false],
  "to+i": ["both", true],
  "from": [undefined, false],
  "from+o": [undefined, false],
  "both": [undefined, false],
};

// RFC 6121 A.2.4: outbound "unsubscribed". The "no" rows cancel a
// pre-approval if there is one (footnote of A.2.4, §3.4).
const OUT_UNSUBSCRIBED: Table = {
  "none": [undefined, false],
  "none+o": [undefined, false],
  "none+i": ["none", true],
  "none+oi": ["none+o", true],
  "to": [undefined, false],
  "to+i": ["to", true],
  "from": ["none", true],
  "from+o": ["none+o", true],
  "both": ["to", true],
};

// RFC 6121 A.3.1: inbound "subscribe". The From/Both rows are not delivered
// but answered with "subscribed" (§3.1.3); a pre-approved request is
// handled before this table is read.
const IN_SUBSCRIBE: Table = {
  "none": ["none+i", true],
  "none+o": ["none+oi", true],
  "none+i": [undefined, false],
  "none+oi": [undefined, false],
  "to": ["to+i", true],
  "to+i": [undefined, false],
  "from": [undefined, false],
  "from+o": [undefined, false],
  "both": [undefined, false],
};

// RFC 6121 A.3.2: inbound "unsubscribe".
const IN_UNSUBSCRIBE: Table = {
  "none": [undefined, false],
  "none+o": [undefined, false],
  "none+i": ["none", true],
  "none+oi": ["none+o", true],
  "to": [undefined, false],
  "to+i": ["to", true],
  "from": ["none", true],
  "from+o": ["none+o", true],
  "both": ["to", true],
};

// RFC 6121 A.3.3: inbound "subscribed".
const IN_SUBSCRIBED: Table = {
  "none": [undefined, false],
  "none+o": ["to", true],
  "none+i": [undefined, false],
  "none+oi": ["to+i", true],
  "to": [undefined, false],
  "to+i": [undefined, false],
  "from": [undefined, false],
  "from+o": ["both", true],
  "both": [undefined, false],
};

// RFC 6121 A.3.4: inbound "unsubscribed".
const IN_UNSUBSCRIBED: Table = {
  "none": [undefined, false],
  "none+o": ["none", true],
  "none+i": [undefined, false],
  "none+oi": ["none+i", true],
  "to": ["none", true],
  "to+i": ["none+i", true],
  "from": [undefined, false],
  "from+o": ["from", true],
  "both": ["from", true],
};

const OUTBOUND: Readonly<Record<SubscriptionPresenceType, Table>> = {
  subscribe: OUT_SUBSCRIBE,
  subscribed: OUT_SUBSCRIBED,
  unsubscribe: OUT_UNSUBSCRIBE,
  unsubscribed: OUT_UNSUBSCRIBED,
};

const INBOUND: Readonly<Record<SubscriptionPresenceType, Table>> = {
  subscribe: IN_SUBSCRIBE,
  subscribed: IN_SUBSCRIBED,
  unsubscribe: IN_UNSUBSCRIBE,
  unsubscribed: IN_UNSUBSCRIBED,
};

/** Each key as subscription and flags. */
const FIELDS: Readonly<Record<Key, readonly [Subscription, boolean, boolean]>> = {
  "none": ["none", false, false],
  "none+o": ["none", true, false],
  "none+i": ["none", false, true],
  "none+oi": ["none", true, true],
  "to": ["to", false, false],
  "to+i": ["to", false, true],
  "from": ["from", false, false],
  "from+o": ["from", true, false],
  "both": ["both", false, false],
};

/**
 * Applies a subscription presence the user sends to a contact (RFC 6121
 * §3.1.2, §3.2.2, §3.3.2, §3.4 and Appendix A.2).
 *
 * Creates the roster item when the user asks to subscribe, approves a
 * request from someone not in the roster, or pre-approves someone not in
 * it (§3.4 step 4).
 *
 * @param state The contact's state before.
 * @param type The presence type the user sent.
 * @param options Whether pre-approval is offered.
 * @returns The state after and what to do.
 * @throws {TypeError} If `type` is not a subscription presence type.
 *
 * @example Usage
 * ```ts
 * import { NO_SUBSCRIPTION, outboundSubscription } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * const outcome = outboundSubscription(NO_SUBSCRIPTION, "subscribe");
 * assert.deepEqual(outcome, {
 *   state: { subscription: "none", ask: true, approved: false, pendingIn: false, inRoster: true },
 *   changed: true,
 *   push: true,
 *   route: true,
 *   presence: undefined,
 * });
 * ```
 */
export function outboundSubscription(
  state: SubscriptionState,
  type: SubscriptionPresenceType,
  options: SubscriptionOptions = {},
): OutboundOutcome {
  if (!Object.hasOwn(OUTBOUND, type)) throw unknownType(type);
  const table = OUTBOUND[type];
  const key = keyOf(state);
  const preApproval = options.preApproval ?? true;

  // §3.4: "subscribed" with no request to answer is a pre-approval; one the
  // user already gave changes nothing. The From/Both rows are ignored.
  if (type === "subscribed" && !pendingIn(key) && !hasFrom(key)) {
    if (!preApproval || state.approved) return same(state, false);
    return outbound(state, withFields(state, key, true, true), false);
  }
  const [next, route] = table[key];
  let approved = state.approved;
  // A.2.4 footnote: "unsubscribed" cancels a pre-approval.
  if (type === "unsubscribed") approved = false;
  // Subscribing to a contact, or approving one, puts it in the roster (§3.1.2, §3.1.5).
  const inRoster = state.inRoster || type === "subscribe" || type === "subscribed";
  const after = next !== undefined
    ? withFields(state, next, approved, inRoster)
    : approved === state.approved
    ? state
    : { ...state, approved };
  const outcome = outbound(state, after, route);
  if (next === undefined) return outcome;
  if (type === "subscribed") return { ...outcome, presence: "current" };
  if (type === "unsubscribed" && hasFrom(key)) return { ...outcome, presence: "unavailable" };
  return outcome;
}

/**
 * Applies a subscription presence a contact sends to the user (RFC 6121
 * §3.1.3, §3.1.6, §3.2.3, §3.3.3, §3.4 and Appendix A.3).
 *
 * A `subscribe` from a contact the user already shares presence with is
 * answered `subscribed` without asking the user (§3.1.3); so is one the
 * user pre-approved (§3.4), which consumes the approval and makes the
 * contact a subscriber. Either way the user's current presence follows the
 * answer. A request from someone not in the roster only sets `pendingIn`;
 * no roster item is created until the user approves.
 *
 * @param state The contact's state before.
 * @param type The presence type the contact sent.
 * @param options Whether pre-approval is offered.
 * @returns The state after and what to do.
 * @throws {TypeError} If `type` is not a subscription presence type.
 *
 * @example Usage
 * ```ts
 * import { inboundSubscription, NO_SUBSCRIPTION } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * const outcome = inboundSubscription(NO_SUBSCRIPTION, "subscribe");
 * assert.equal(outcome.deliver, true);
 * assert.equal(outcome.push, false);
 * assert.equal(outcome.state.pendingIn, true);
 * assert.equal(outcome.state.inRoster, false);
 * ```
 */
export function inboundSubscription(
  state: SubscriptionState,
  type: SubscriptionPresenceType,
  options: SubscriptionOptions = {},
): InboundOutcome {
  if (!Object.hasOwn(INBOUND, type)) throw unknownType(type);
  const table = INBOUND[type];
  const key = keyOf(state);
  const preApproval = options.preApproval ?? true;

  if (type === "subscribe") {
    // §3.1.3: the user already has the contact as a subscriber.
    if (hasFrom(key)) {
      return {
        state,
        changed: false,
        push: false,
        deliver: false,
        reply: "subscribed",
        presence: "current",
      };
    }
    // §3.4: pre-approved; answer for the user and consume the approval.
    if (preApproval && state.approved && state.inRoster && !pendingIn(key)) {
      const next = key === "to" ? "both" : key === "none+o" ? "from+o" : "from";
      const after = withFields(state, next, false, true);
      return {
        ...changes(state, after),
        deliver: false,
        reply: "subscribed",
        presence: "current",
      };
    }
  }
  const [next, deliver] = table[key];
  const after = next === undefined
    ? state
    : withFields(state, next, state.approved, state.inRoster);
  return {
    ...changes(state, after),
    deliver,
    reply: undefined,
    presence: type === "unsubscribe" && next !== undefined && hasFrom(key)
      ? "unavailable"
      : undefined,
  };
}

/**
 * The presences the user's server sends to a contact when the user removes
 * it from the roster (RFC 6121 §2.5.2): `unsubscribe` when the user is
 * subscribed to the contact or asked to be, `unsubscribed` when the contact
 * is subscribed to the user or asked to be.
 *
 * @param state The contact's state before the removal.
 * @returns The presence types to send, `unsubscribe` first.
 *
 * @example Usage
 * ```ts
 * import { removalNotices, subscriptionState } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * const both = subscriptionState({ subscription: "both", ask: false, approved: false });
 * assert.deepEqual(removalNotices(both), ["unsubscribe", "unsubscribed"]);
 * ```
 */
export function removalNotices(state: SubscriptionState): SubscriptionPresenceType[] {
  const key = keyOf(state);
  const notices: SubscriptionPresenceType[] = [];
  if (hasTo(key) || FIELDS[key][1]) notices.push("unsubscribe");
  if (hasFrom(key) || pendingIn(key)) notices.push("unsubscribed");
  return notices;
}

/**
 * Whether the contact is subscribed to the user's presence (`from` or
 * `both`): the contact receives the user's presence broadcasts and may
 * probe it (RFC 6121 §4.3.2).
 *
 * @param subscription The roster item's subscription.
 * @returns Whether the contact is a subscriber.
 *
 * @example Usage
 * ```ts
 * import { isSubscriber } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isSubscriber("from"), true);
 * assert.equal(isSubscriber("to"), false);
 * ```
 */
export function isSubscriber(subscription: Subscription): boolean {
  return subscription === "from" || subscription === "both";
}

/**
 * Whether the user is subscribed to the contact's presence (`to` or
 * `both`): the user's server probes the contact (RFC 6121 §4.2.2).
 *
 * @param subscription The roster item's subscription.
 * @returns Whether the user receives the contact's presence.
 *
 * @example Usage
 * ```ts
 * import { isSubscribedTo } from "./subscription.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isSubscribedTo("both"), true);
 * assert.equal(isSubscribedTo("from"), false);
 * ```
 */
export function isSubscribedTo(subscription: Subscription): boolean {
  return subscription === "to" || subscription === "both";
}

function keyOf(state: SubscriptionState): Key {
  switch (state.subscription) {
    case "none":
      return state.ask
        ? (state.pendingIn ? "none+oi" : "none+o")
        : state.pendingIn
        ? "none+i"
        : "none";
    case "to":
      return state.pendingIn ? "to+i" : "to";
    case "from":
      return state.ask ? "from+o" : "from";
    case "both":
      return "both";
    default:
      throw new TypeError(`Cannot apply subscription: unknown state '${state.subscription}'`);
  }
}

function hasFrom(key: Key): boolean {
  return key === "from" || key === "from+o" || key === "both";
}

function hasTo(key: Key): boolean {
  return key === "to" || key === "to+i" || key === "both";
}

function pendingIn(key: Key): boolean {
  return FIELDS[key][2];
}

function withFields(
  state: SubscriptionState,
  key: Key,
  approved: boolean,
  inRoster: boolean,
): SubscriptionState {
  const [subscription, ask, pending] = FIELDS[key];
  if (
    state.subscription === subscription && state.ask === ask && state.pendingIn === pending &&
    state.approved === approved && state.inRoster === inRoster
  ) {
    return state;
  }
  return { subscription, ask, approved, pendingIn: pending, inRoster };
}

/** `changed` and `push` between two states. */
function changes(
  before: SubscriptionState,
  after: SubscriptionState,
): { state: SubscriptionState; changed: boolean; push: boolean } {
  const push = after.inRoster && (
    !before.inRoster || before.subscription !== after.subscription ||
    before.ask !== after.ask || before.approved !== after.approved
  );
  const changed = push || before.pendingIn !== after.pendingIn ||
    before.inRoster !== after.inRoster;
  return { state: after, changed, push };
}

function outbound(
  before: SubscriptionState,
  after: SubscriptionState,
  route: boolean,
): OutboundOutcome {
  return { ...changes(before, after), route, presence: undefined };
}

function same(state: SubscriptionState, route: boolean): OutboundOutcome {
  return { state, changed: false, push: false, route, presence: undefined };
}

function unknownType(type: string): TypeError {
  return new TypeError(`Cannot apply subscription: unknown presence type '${type}'`);
}
