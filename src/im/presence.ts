/**
 * Presence on the served domain (RFC 6121 §3, §4): the subscription state
 * machine wired both ways between local accounts, presence broadcasts to
 * subscribers and the account's own resources, probes, directed presence,
 * unavailable presence when a stream goes, pending subscription requests
 * and offline messages delivered when the account comes back.
 *
 * Every local account is both a "user" and a "contact" here: a
 * subscription presence is first applied to the sender's roster
 * ({@linkcode outboundSubscription}, in the sender's queue), then to the
 * recipient's ({@linkcode inboundSubscription}, in the recipient's queue).
 * A task never waits for another account's queue, it only adds to it, so
 * two accounts subscribing to each other at once cannot deadlock, and the
 * stanzas between two accounts keep their order.
 *
 * Without federation, presence to other domains is dropped, except that a
 * subscription request or answer gets `<remote-server-not-found/>`.
 *
 * @module
 */

import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import type { Logger } from "../core/log.ts";
import { Jid } from "../jid/jid.ts";
import type { RoutableSession } from "../routing/router.ts";
import type { SessionRegistry } from "../routing/session_registry.ts";
import { el, Element } from "../xml/element.ts";
import { NS_CLIENT } from "../xml/ns.ts";
import { serialize } from "../xml/serialize.ts";
import { EMPTY_NAMESPACE_CONTEXT, StanzaParser } from "../xml/stanza_parser.ts";
import type { AccountQueue } from "./account_queue.ts";
import type { OfflineMessages } from "./offline.ts";
import type { AccountRoster, RosterService } from "./roster_service.ts";
import {
  inboundSubscription,
  isSubscribedTo,
  isSubscriber,
  outboundSubscription,
  removalNotices,
  type SubscriptionPresenceType,
  type SubscriptionState,
} from "./subscription.ts";

/** Options of a {@linkcode PresenceService}. */
export interface PresenceServiceOptions<S extends RoutableSession> {
  /** The served domain. */
  domain: string;
  /** Bound sessions. */
  sessions: SessionRegistry<S>;
  /** Rosters, pushes and subscription persistence. */
  rosters: RosterService<S>;
  /** Offline message storage. */
  offline: OfflineMessages;
  /** The per-account queue (the one `rosters` uses). */
  queue: AccountQueue;
  /** Whether an account exists: stanzas to accounts that do not are ignored (RFC 6121 §8.5.1). */
  accountExists(username: string): Promise<boolean>;
  /** Where failures are logged. @default {undefined} */
  log?: Logger;
  /**
   * Directed-presence recipients remembered per session, to send them
   * unavailable presence when it goes (RFC 6121 §4.6.3). Beyond it the
   * oldest is forgotten and gets no unavailable presence.
   *
   * @default {100}
   */
  maxDirected?: number;
  /** Whether subscription pre-approval is offered (RFC 6121 §3.4). @default {true} */
  preApproval?: boolean;
  /**
   * Whether either of two accounts blocks the other (XEP-0191): no presence
   * the server generates passes between them. @default never
   */
  blocked?(ownerBare: string, contactBare: string): Promise<boolean>;
}

const SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set([
  "subscribe",
  "subscribed",
  "unsubscribe",
  "unsubscribed",
]);
const DEFAULT_MAX_DIRECTED = 100;

/**
 * Handles every presence stanza local clients send, and the presence
 * consequences of streams ending.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { PresenceService } from "./presence.ts";
 * import { RosterService } from "./roster_service.ts";
 * import { OfflineMessages } from "./offline.ts";
 * import { AccountQueue } from "./account_queue.ts";
 * import { SessionRegistry } from "../routing/session_registry.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el, type Element } from "../xml/element.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryImStore();
 * const queue = new AccountQueue();
 * const sessions = new SessionRegistry<{ bareKey: string; resourceKey: string; available: boolean;
 *   priority: number; presence: Element | undefined; send(s: Element): void }>();
 * const seen: string[] = [];
 * const balcony = { bareKey: "juliet@example.com", resourceKey: "balcony", available: false,
 *   priority: 0, presence: undefined as Element | undefined, send: (s: Element) => { seen.push(serialize(s, "jabber:client")); } };
 * sessions.add(balcony);
 * const rosters = new RosterService({ domain: "example.com", store, sessions, queue });
 * const presence = new PresenceService({ domain: "example.com", sessions, rosters, queue,
 *   offline: new OfflineMessages({ domain: "example.com", store }),
 *   accountExists: () => Promise.resolve(true) });
 * presence.handle(balcony, el("presence", { xmlns: "jabber:client", from: "juliet@example.com/balcony" }));
 * await queue.drain();
 * assert.equal(balcony.available, true);
 * // RFC 6121 §4.2.2: the initial presence comes back to the resource that sent it.
 * assert.deepEqual(seen, [`<presence from="juliet@example.com/balcony" to="juliet@example.com/balcony"/>`]);
 * ```
 */
export class PresenceService<S extends RoutableSession> {
  #domain: string;
  #sessions: SessionRegistry<S>;
  #rosters: RosterService<S>;
  #offline: OfflineMessages;
  #queue: AccountQueue;
  #accountExists: (username: string) => Promise<boolean>;
  #log: Logger | undefined;
  #maxDirected: number;
  #preApproval: boolean;
  #blocked: ((ownerBare: string, contactBare: string) => Promise<boolean>) | undefined;
  #directed = new WeakMap<S, Set<string>>();
  #parser = new StanzaParser();
  #encoder = new TextEncoder();

  /**
   * @param options The domain and collaborators.
   * @throws {RangeError} If `maxDirected` is not a non-negative integer.
   */
  constructor(options: PresenceServiceOptions<S>) {
    this.#domain = options.domain;
    this.#sessions = options.sessions;
    this.#rosters = options.rosters;
    this.#offline = options.offline;
    this.#queue = options.queue;
    this.#accountExists = options.accountExists;
    this.#log = options.log;
    this.#preApproval = options.preApproval ?? true;
    this.#blocked = options.blocked?.bind(options);
    const maxDirected = options.maxDirected ?? DEFAULT_MAX_DIRECTED;
    if (!Number.isSafeInteger(maxDirected) || maxDirected < 0) {
      throw new RangeError(
        `Cannot create presence service: 'maxDirected' must be a non-negative integer, got ${maxDirected}`,
      );
    }
    this.#maxDirected = maxDirected;
  }

  /**
   * Handles a presence stanza from a bound local session (`from` already
   * stamped with its full JID): broadcast, directed presence, probe or
   * subscription management, as its `to` and `type` say.
   *
   * @param sender The session it came from.
   * @param stanza The presence stanza.
   * @returns A promise of the end of its processing in the sender's queue
   * (never rejected), or `undefined` when it was handled at once.
   */
  handle(sender: S, stanza: Element): Promise<void> | void {
    const type = stanza.attrs.type;
    const toText = stanza.attrs.to;
    let to: Jid | undefined;
    if (toText !== undefined) {
      to = Jid.tryParse(toText);
      if (to === undefined) {
        return this.#refuse(sender, stanza, new StanzaError("modify", "jid-malformed"));
      }
      stanza.attrs.to = to.toString();
    }
    // RFC 6120 §10.3.3: addressed to the account's own bare JID is the same as no `to`.
    const own = to === undefined ||
      (to.resource === undefined && to.local !== undefined &&
        to.local + "@" + to.domain === sender.bareKey);
    if (type === undefined || type === "unavailable") {
      if (own) return this.#broadcast(sender, stanza);
      return this.#directedPresence(sender, stanza, to!);
    }
    if (SUBSCRIPTION_TYPES.has(type)) {
      // RFC 6121 §3.1.1: a subscription request names its contact; one without is meaningless.
      if (to === undefined) return;
      return this.#outbound(sender, stanza, type as SubscriptionPresenceType, to);
    }
    if (type === "probe") {
      if (to === undefined || to.local === undefined || to.domain !== this.#domain) return;
      return this.#probe(to.local + "@" + to.domain, sender);
    }
    if (type === "error") {
      if (to !== undefined) this.#deliverAddressed(to, stanza);
      return;
    }
    // RFC 6120 §8.2.1: an unknown type is a bad-request.
    this.#refuse(sender, stanza, new StanzaError("modify", "bad-request"));
  }

  /**
   * Stores a `normal` or `chat` message for an account that has no
   * available resource with non-negative priority (XEP-0160), in the
   * account's queue so that it cannot slip past the delivery of stored
   * messages at the account's next available presence.
   *
   * @param stanza The message, `from` stamped.
   * @param username The recipient's localpart.
   * @param retry Delivers the message if a resource has become able to
   * take it since; returns whether it did.
   * @param maxMessages The account's offline quota; the store's limit when `undefined`.
   * @returns The error to bounce the message with, or `undefined` when it
   * was delivered, stored or dropped. A full quota and a `<no-store/>` hint
   * both answer `<service-unavailable/>`: RFC 6121 §8.5.2.2.1 allows it,
   * and it is also what an account that does not exist gets, so the answer
   * tells a sender nothing about the account.
   */
  message(
    stanza: Element,
    username: string,
    retry: () => boolean,
    maxMessages?: number,
  ): Promise<StanzaError | undefined> {
    return this.#queue.run(username, async () => {
      if (retry()) return undefined;
      const outcome = await this.#offline.store(username, stanza, maxMessages);
      if (outcome === "full" || outcome === "refused") {
        return new StanzaError("cancel", "service-unavailable");
      }
      return undefined;
    });
  }

  /**
   * A stream ended: if its session was available, unavailable presence
   * goes to the contacts subscribed to it, the account's other resources
   * and everyone it sent directed presence to (RFC 6121 §4.5.2, §4.6.3).
   * Call it after the session left the registry.
   *
   * @param session The session that ended.
   */
  closed(session: S): void {
    this.#spawn(this.#username(session.bareKey), () => this.#goUnavailable(session, undefined));
  }

  /**
   * The user removed a contact from the roster (RFC 6121 §2.5.2): the
   * contact is told with `unsubscribe` and/or `unsubscribed`, after
   * unavailable presence if it was a subscriber. Called by the roster
   * service in the user's queue.
   *
   * @param username The user's localpart.
   * @param contact The removed contact's bare JID.
   * @param before The contact's state before the removal.
   */
  rosterRemoved(username: string, contact: string, before: SubscriptionState): void {
    const jid = Jid.tryParse(contact);
    if (jid === undefined || jid.local === undefined || jid.domain !== this.#domain) return;
    const userBare = username + "@" + this.#domain;
    const notices = removalNotices(before);
    const gone = isSubscriber(before.subscription) ? this.#unavailableFrom(userBare, contact) : [];
    notices.forEach((type, index) => {
      const notice = el("presence", { xmlns: NS_CLIENT, from: userBare, to: contact, type });
      this.#inbound(contact, notice, type, index === notices.length - 1 ? gone : [], []);
    });
  }

  #broadcast(sender: S, stanza: Element): Promise<void> {
    const username = this.#username(sender.bareKey);
    if (stanza.attrs.type === "unavailable") {
      return this.#spawn(username, () => this.#goUnavailable(sender, stanza));
    }
    return this.#spawn(username, async () => {
      if (!this.#bound(sender)) return;
      const initial = !sender.available;
      const priority = parsePriority(stanza);
      const flush = priority >= 0 && (initial || sender.priority < 0);
      const full = fullJid(sender);
      const presence = withAddress(stanza, full, undefined);
      sender.available = true;
      sender.priority = priority;
      sender.presence = presence;
      const account = await this.#loadOrLog(username);
      // RFC 6121 §4.2.2, §4.4.2: to every subscriber, and to all of the
      // account's available resources, the sender included.
      if (account !== undefined) {
        for (const item of account.roster.items()) {
          if (
            isSubscriber(item.subscription) && !(await this.#isBlocked(sender.bareKey, item.jid))
          ) {
            this.#toAvailable(item.jid, withAddress(presence, full, item.jid));
          }
        }
      }
      for (const session of this.#sessions.resources(sender.bareKey)) {
        if (session.available) session.send(withAddress(presence, full, fullJid(session)));
      }
      if (initial) {
        // The account's other resources, as a probe of its own bare JID would answer.
        for (const session of this.#sessions.resources(sender.bareKey)) {
          if (session !== sender && session.available && session.presence !== undefined) {
            sender.send(withAddress(session.presence, fullJid(session), full));
          }
        }
        if (account !== undefined) {
          // RFC 6121 §4.2.2: probe every contact the account is subscribed to.
          for (const item of account.roster.items()) {
            if (isSubscribedTo(item.subscription)) this.#probe(item.jid, sender);
          }
          // RFC 6121 §3.1.3: requests received while offline, until answered.
          for (const request of account.pending.values()) {
            const parsed = this.#parse(request);
            if (parsed !== undefined) sender.send(parsed);
          }
        }
      }
      // XEP-0160: stored messages go to the first resource with non-negative priority.
      if (flush && this.#bound(sender)) {
        for (const message of await this.#offline.take(username)) sender.send(message);
      }
    });
  }

  async #goUnavailable(sender: S, stanza: Element | undefined): Promise<void> {
    const directed = this.#directed.get(sender);
    this.#directed.delete(sender);
    if (!sender.available) return;
    sender.available = false;
    sender.presence = undefined;
    const full = fullJid(sender);
    const unavailable = stanza === undefined
      ? el("presence", { xmlns: NS_CLIENT, from: full, type: "unavailable" })
      : withAddress(stanza, full, undefined);
    const account = await this.#loadOrLog(this.#username(sender.bareKey));
    const subscribers = new Set<string>();
    if (account !== undefined) {
      for (const item of account.roster.items()) {
        if (!isSubscriber(item.subscription)) continue;
        subscribers.add(item.jid);
        if (await this.#isBlocked(sender.bareKey, item.jid)) continue;
        this.#toAvailable(item.jid, withAddress(unavailable, full, item.jid));
      }
    }
    for (const session of this.#sessions.resources(sender.bareKey)) {
      if (session !== sender && session.available) {
        session.send(withAddress(unavailable, full, fullJid(session)));
      }
    }
    // RFC 6121 §4.6.3: directed-presence recipients the broadcast did not reach.
    for (const recipient of directed ?? []) {
      const jid = Jid.tryParse(recipient);
      if (jid === undefined || subscribers.has(jid.bare().toString())) continue;
      this.#deliverAddressed(jid, withAddress(unavailable, full, recipient));
    }
  }

  #directedPresence(sender: S, stanza: Element, to: Jid): Promise<void> {
    return this.#spawn(this.#username(sender.bareKey), () => {
      // No federation: presence to other domains goes nowhere, silently (RFC 6121 §4.6).
      if (to.domain !== this.#domain || to.local === undefined) return;
      this.#deliverAddressed(to, stanza);
      const key = to.toString();
      let directed = this.#directed.get(sender);
      if (stanza.attrs.type === "unavailable") {
        directed?.delete(key);
        return;
      }
      // RFC 6121 §4.6.2: remembered only between initial and unavailable presence.
      if (!sender.available || this.#maxDirected === 0) return;
      if (directed === undefined) {
        directed = new Set();
        this.#directed.set(sender, directed);
      }
      directed.delete(key);
      directed.add(key);
      if (directed.size > this.#maxDirected) {
        directed.delete(directed.values().next().value!);
      }
    });
  }

  /** Answers a probe of `contact` for `requester` with the contact's current presence (RFC 6121 §4.3.2). */
  #probe(contact: string, requester: S): Promise<void> | undefined {
    const jid = Jid.tryParse(contact);
    if (jid === undefined || jid.local === undefined || jid.domain !== this.#domain) return;
    const username = jid.local;
    return this.#spawn(username, async () => {
      const account = await this.#rosters.load(username);
      const item = account.roster.get(requester.bareKey);
      // Only a subscriber learns the contact's presence, and not when either blocks the other.
      if (item === undefined || !isSubscriber(item.subscription)) return;
      if (await this.#isBlocked(contact, requester.bareKey)) return;
      const to = fullJid(requester);
      let answered = false;
      for (const session of this.#sessions.resources(contact)) {
        if (session.available && session.presence !== undefined) {
          requester.send(withAddress(session.presence, fullJid(session), to));
          answered = true;
        }
      }
      if (!answered) {
        requester.send(
          el("presence", { xmlns: NS_CLIENT, from: contact, to, type: "unavailable" }),
        );
      }
    });
  }

  /** A subscription presence the user sends (RFC 6121 §3, Appendix A.2), in the user's queue. */
  #outbound(
    sender: S,
    stanza: Element,
    type: SubscriptionPresenceType,
    to: Jid,
  ): Promise<void> | void {
    if (to.domain !== this.#domain) {
      // No federation yet: the contact's server cannot be reached.
      return this.#refuse(sender, stanza, new StanzaError("cancel", "remote-server-not-found"));
    }
    if (to.local === undefined) return;
    // RFC 6121 §3.1.2: subscriptions are between bare JIDs.
    const contact = to.local + "@" + to.domain;
    if (contact === sender.bareKey) return;
    const userBare = sender.bareKey;
    const username = this.#username(userBare);
    return this.#spawn(username, async () => {
      const account = await this.#rosters.load(username);
      const before = this.#rosters.state(account, contact);
      const outcome = outboundSubscription(before, type, { preApproval: this.#preApproval });
      if (outcome.changed) {
        const result = await this.#rosters.commit(username, contact, before, outcome.state);
        if (!result.ok) return this.#refuse(sender, stanza, result.error);
      }
      if (!outcome.route) return;
      const routed = el(
        "presence",
        { xmlns: NS_CLIENT, from: userBare, to: contact, type, id: stanza.attrs.id },
        ...stanza.children,
      );
      // §3.2.2: a cancelled subscriber gets unavailable presence first; §3.1.5: an
      // approved one gets the user's current presence after the approval.
      const first = outcome.presence === "unavailable"
        ? this.#unavailableFrom(userBare, contact)
        : [];
      const then = outcome.presence === "current" ? this.#currentFrom(userBare, contact) : [];
      this.#inbound(contact, routed, type, first, then);
    });
  }

  /**
   * A subscription presence addressed to a local account (RFC 6121 §3,
   * Appendix A.3), in the contact's queue. `first` and `then` are presence
   * stanzas from the sender to deliver before and after it.
   */
  #inbound(
    contact: string,
    stanza: Element,
    type: SubscriptionPresenceType,
    first: Element[],
    then: Element[],
  ): void {
    const username = this.#username(contact);
    const from = stanza.attrs.from!;
    this.#spawn(username, async () => {
      // RFC 6121 §8.5.1: presence to an account that does not exist is ignored.
      if (!await this.#accountExists(username)) return;
      for (const presence of first) this.#toAvailable(contact, presence);
      const account = await this.#rosters.load(username);
      const before = this.#rosters.state(account, from);
      const outcome = inboundSubscription(before, type, { preApproval: this.#preApproval });
      if (outcome.changed) {
        const request = type === "subscribe" ? serialize(stanza) : undefined;
        const result = await this.#rosters.commit(username, from, before, outcome.state, request);
        if (!result.ok) {
          // Told to the requester, from the account, as its server would.
          this.#toAvailable(from, errorReply(stanza, result.error));
          return;
        }
      }
      if (outcome.deliver) {
        // §3.1.3: a request goes to every available resource; the answers to the
        // interested ones (§3.1.6, §3.2.3, §3.3.3).
        const targets = type === "subscribe"
          ? [...this.#sessions.resources(contact)].filter((session) => session.available)
          : this.#rosters.interested(contact);
        for (const session of targets) session.send(stanza);
      }
      if (outcome.presence === "unavailable") {
        for (const presence of this.#unavailableFrom(contact, from)) {
          this.#toAvailable(from, presence);
        }
      }
      if (outcome.reply === "subscribed") {
        // §3.1.3, §3.4: answered for the account; its presence follows the answer.
        const reply = el("presence", {
          xmlns: NS_CLIENT,
          from: contact,
          to: from,
          type: "subscribed",
        });
        const current = outcome.presence === "current" ? this.#currentFrom(contact, from) : [];
        this.#inbound(from, reply, "subscribed", [], current);
      }
      for (const presence of then) this.#toAvailable(contact, presence);
    }, "subscription");
  }

  /** Unavailable presence from each available resource of `bare`, addressed to `to`. */
  #unavailableFrom(bare: string, to: string): Element[] {
    const out: Element[] = [];
    for (const session of this.#sessions.resources(bare)) {
      if (!session.available) continue;
      out.push(
        el("presence", { xmlns: NS_CLIENT, from: fullJid(session), to, type: "unavailable" }),
      );
    }
    return out;
  }

  /** The current presence of each available resource of `bare`, addressed to `to`. */
  #currentFrom(bare: string, to: string): Element[] {
    const out: Element[] = [];
    for (const session of this.#sessions.resources(bare)) {
      if (session.available && session.presence !== undefined) {
        out.push(withAddress(session.presence, fullJid(session), to));
      }
    }
    return out;
  }

  #isBlocked(ownerBare: string, contactBare: string): Promise<boolean> | boolean {
    return this.#blocked?.(ownerBare, contactBare) ?? false;
  }

  /** Presence to a local bare JID reaches its available resources (RFC 6121 §8.5.2.1.1). */
  #toAvailable(bare: string, stanza: Element): void {
    for (const session of this.#sessions.resources(bare)) {
      if (session.available) session.send(stanza);
    }
  }

  /** Presence to a local full JID reaches that resource only; to a bare JID, its available resources. */
  #deliverAddressed(to: Jid, stanza: Element): void {
    if (to.domain !== this.#domain || to.local === undefined) return;
    const bare = to.local + "@" + to.domain;
    if (to.resource !== undefined) {
      this.#sessions.get(bare, to.resource)?.send(stanza);
      return;
    }
    this.#toAvailable(bare, stanza);
  }

  #refuse(sender: S, stanza: Element, error: StanzaError): void {
    // RFC 6120 §8.3.1: never answer an error with an error.
    if (stanza.attrs.type === "error") return;
    sender.send(errorReply(stanza, error, this.#domain));
  }

  #bound(session: S): boolean {
    return this.#sessions.get(session.bareKey, session.resourceKey) === session;
  }

  #username(bare: string): string {
    return bare.slice(0, bare.indexOf("@"));
  }

  #parse(xml: string): Element | undefined {
    try {
      return this.#parser.parse(this.#encoder.encode(xml), EMPTY_NAMESPACE_CONTEXT);
    } catch {
      return undefined;
    }
  }

  async #loadOrLog(username: string): Promise<AccountRoster | undefined> {
    try {
      return await this.#rosters.load(username);
    } catch (error) {
      this.#logFailure("presence", error);
      return undefined;
    }
  }

  #spawn(username: string, task: () => void | Promise<void>, what = "presence"): Promise<void> {
    return this.#queue.run(username, task).catch((error: unknown) => this.#logFailure(what, error));
  }

  #logFailure(what: string, error: unknown): void {
    this.#log?.error("im-task-failed", {
      task: what,
      reason: error instanceof Error ? error.message : String(error),
    });
  }
}

/** RFC 6121 §4.7.2.3: an integer from -128 to 127; absent or unreadable is 0. */
function parsePriority(stanza: Element): number {
  const text = stanza.getChildText("priority");
  if (text === undefined) return 0;
  const value = Number.parseInt(text.trim(), 10);
  return Number.isFinite(value) ? Math.max(-128, Math.min(127, value)) : 0;
}

function fullJid(session: RoutableSession): string {
  return session.bareKey + "/" + session.resourceKey;
}

/**
 * A copy of a stanza with `from` and `to` replaced (`to` left out when
 * `undefined`), those two first; the children are shared, not copied.
 */
function withAddress(stanza: Element, from: string, to: string | undefined): Element {
  const attrs: Record<string, string> = { from };
  if (to !== undefined) attrs.to = to;
  for (const key in stanza.attrs) {
    if (key !== "from" && key !== "to") attrs[key] = stanza.attrs[key]!;
  }
  return new Element(stanza.name, stanza.ns ?? NS_CLIENT, attrs, [...stanza.children]);
}
