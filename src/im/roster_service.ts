/**
 * Rosters on the wire (RFC 6121 §2): `jabber:iq:roster` get and set for an
 * account's own resources, roster versioning (RFC 6121 §2.6, XEP-0237),
 * roster pushes to every interested resource, and the persistence of
 * subscription states and pending inbound requests.
 *
 * Every read and write of an account's roster runs in the account's
 * {@linkcode AccountQueue}, so changes are applied, persisted and pushed in
 * one order. A loaded roster stays cached (bounded, least recently used
 * first out); a failed write drops the account's cache entry so the next
 * task reloads what the store really holds.
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import { BoundedMap } from "../limits/bounded_map.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import type { SessionRegistry } from "../routing/session_registry.ts";
import type { ImStore } from "../storage/im_store.ts";
import type { Element } from "../xml/element.ts";
import { NS_ROSTER } from "../xml/ns.ts";
import type { AccountQueue } from "./account_queue.ts";
import { type RosterChange, type RosterOptions, rosterPush } from "./roster.ts";
import { Roster } from "./roster.ts";
import { type SubscriptionState, subscriptionState } from "./subscription.ts";

/** What the roster service needs of a bound session. */
export interface RosterSession {
  /** The bound bare JID. */
  readonly bareKey: string;
  /** The bound resource. */
  readonly resourceKey: string;
  /** Writes a stanza to the session's client. */
  send(stanza: Element): void;
}

/** One account's roster and its pending inbound subscription requests, as loaded. */
export interface AccountRoster {
  /** The roster model. */
  readonly roster: Roster;
  /** Pending inbound requests: requester's bare JID to the request as serialized XML. */
  readonly pending: Map<string, string>;
}

/** Options of a {@linkcode RosterService}. */
export interface RosterServiceOptions<S extends RosterSession> {
  /** The served domain. */
  domain: string;
  /** Where rosters and pending requests live. */
  store: ImStore;
  /** Bound sessions, to find interested resources. */
  sessions: SessionRegistry<S>;
  /** The per-account queue every roster task runs in. */
  queue: AccountQueue;
  /** Limits of each roster (items, name and group lengths). @default {the Roster defaults} */
  roster?: Omit<RosterOptions, "owner">;
  /** Rosters kept in memory; the least recently used one is dropped first. @default {1024} */
  cacheSize?: number;
  /**
   * Runs `then` once the reply to `request` has been sent, for roster
   * pushes that must follow an empty result (RFC 6121 §2.6.3). Without it
   * such a client gets the whole roster instead.
   *
   * @default {undefined}
   */
  afterReply?(request: Element, then: () => void): void;
  /**
   * Told, inside the user's queue and after the removal was stored and
   * pushed, that the user removed a contact from the roster (RFC 6121
   * §2.5.2), with the contact's state before: the caller sends the
   * subscription presences that removal implies.
   *
   * @default {undefined}
   */
  removed?(username: string, contact: string, before: SubscriptionState): void;
}

/** The outcome of {@linkcode RosterService.commit}. */
export type CommitResult =
  /** Stored; the roster change when the item changed (already pushed). */
  | { readonly ok: true; readonly change: RosterChange | undefined }
  /** Refused: nothing stored; the error to answer the request with. */
  | { readonly ok: false; readonly error: StanzaError };

const DEFAULT_CACHE_SIZE = 1024;

/**
 * Roster IQs, pushes and subscription-state persistence for the accounts
 * of one domain.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { RosterService, type RosterSession } from "./roster_service.ts";
 * import { AccountQueue } from "./account_queue.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { SessionRegistry } from "../routing/session_registry.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el, type Element } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const sent: Element[] = [];
 * const balcony = { bareKey: "juliet@example.com", resourceKey: "balcony", send: (s: Element) => { sent.push(s); } };
 * const sessions = new SessionRegistry<typeof balcony>();
 * sessions.add(balcony);
 * const iq = new IqRegistry();
 * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(), sessions,
 *   queue: new AccountQueue() });
 * using _handlers = rosters.register(iq);
 * const set = el("iq", { xmlns: "jabber:client", type: "set", id: "rs1", from: "juliet@example.com/balcony" },
 *   el("query", { xmlns: "jabber:iq:roster" }, el("item", { jid: "nurse@example.com" })));
 * const reply = await iq.handle("account", set, "juliet@example.com");
 * assert.equal(reply?.attrs.type, "result");
 * assert.equal(sent.length, 0); // balcony never asked for the roster: not interested
 * ```
 */
export class RosterService<S extends RosterSession> {
  #domain: string;
  #store: ImStore;
  #sessions: SessionRegistry<S>;
  #queue: AccountQueue;
  #rosterOptions: Omit<RosterOptions, "owner">;
  #cache: BoundedMap<string, AccountRoster>;
  #interested = new WeakSet<S>();
  #afterReply: ((request: Element, then: () => void) => void) | undefined;
  #removed: ((username: string, contact: string, before: SubscriptionState) => void) | undefined;
  #pushId = 0;

  /**
   * @param options The domain, the store, the sessions and the queue.
   * @throws {RangeError} If `cacheSize` is not a positive integer.
   */
  constructor(options: RosterServiceOptions<S>) {
    this.#domain = options.domain;
    this.#store = options.store;
    this.#sessions = options.sessions;
    this.#queue = options.queue;
    this.#rosterOptions = options.roster ?? {};
    const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) {
      throw new RangeError(
        `Cannot create roster service: 'cacheSize' must be a positive integer, got ${cacheSize}`,
      );
    }
    this.#cache = new BoundedMap(cacheSize);
    this.#afterReply = options.afterReply;
    this.#removed = options.removed;
  }

  /**
   * Answers roster gets and sets addressed to the sender's own account.
   *
   * @param iq The registry to add the handlers to.
   * @returns A disposable that removes them.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { IqRegistry } from "../routing/iq_registry.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const iq = new IqRegistry();
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue: new AccountQueue() });
   * const handlers = rosters.register(iq);
   * assert.equal(iq.has("account", "get", "jabber:iq:roster", "query"), true);
   * handlers[Symbol.dispose]();
   * assert.equal(iq.has("account", "get", "jabber:iq:roster", "query"), false);
   * ```
   */
  register(iq: IqRegistry): Disposable {
    const stack = new DisposableStack();
    stack.use(iq.set("account", "get", NS_ROSTER, "query", (request) => this.#get(request)));
    stack.use(iq.set("account", "set", NS_ROSTER, "query", (request) => this.#set(request)));
    return stack;
  }

  /**
   * Whether a session requested the roster, which makes it an "interested
   * resource" that gets roster pushes (RFC 6121 §2.1.6).
   *
   * @param session A bound session.
   * @returns Whether it gets pushes.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue: new AccountQueue() });
   * assert.equal(rosters.isInterested({ bareKey: "a@example.com", resourceKey: "r", send() {} }), false);
   * ```
   */
  isInterested(session: S): boolean {
    return this.#interested.has(session);
  }

  /**
   * The bound sessions of an account that requested the roster.
   *
   * @param bare The account's bare JID.
   * @returns The interested sessions.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue: new AccountQueue() });
   * assert.deepEqual(rosters.interested("a@example.com"), []);
   * ```
   */
  interested(bare: string): S[] {
    const found: S[] = [];
    for (const session of this.#sessions.resources(bare)) {
      if (this.#interested.has(session)) found.push(session);
    }
    return found;
  }

  /**
   * The account's roster and pending requests, from the cache or the
   * store. Call it only from a task in the account's queue.
   *
   * @param username The account's localpart.
   * @returns The loaded roster.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue });
   * const account = await queue.run("juliet", () => rosters.load("juliet"));
   * assert.equal(account.roster.version, 0);
   * ```
   */
  async load(username: string): Promise<AccountRoster> {
    const cached = this.#cache.get(username);
    if (cached !== undefined) return cached;
    try {
      const [data, pending] = await Promise.all([
        this.#store.getRoster(username),
        this.#store.getPendingSubscriptions(username),
      ]);
      const account: AccountRoster = {
        roster: new Roster(data, { ...this.#rosterOptions, owner: username + "@" + this.#domain }),
        pending: new Map(pending.map((request) => [request.jid, request.stanza])),
      };
      this.#cache.set(username, account);
      return account;
    } catch (error) {
      this.#cache.delete(username);
      throw error;
    }
  }

  /**
   * Drops the account's cached roster, e.g. after its data was deleted
   * behind the service's back (XEP-0077 cancellation). Call it from a task
   * in the account's queue.
   *
   * @param username The account's localpart.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const store = new MemoryImStore();
   * const rosters = new RosterService({ domain: "example.com", store,
   *   sessions: new SessionRegistry<RosterSession>(), queue });
   * await queue.run("juliet", () => rosters.load("juliet"));
   * await store.putRosterItem("juliet", { jid: "romeo@example.net", groups: [],
   *   subscription: "both", ask: false, approved: false, version: 1 });
   * rosters.forget("juliet");
   * const account = await queue.run("juliet", () => rosters.load("juliet"));
   * assert.equal(account.roster.size, 1);
   * ```
   */
  forget(username: string): void {
    this.#cache.delete(username);
  }

  /**
   * The subscription state of a contact in a loaded roster.
   *
   * @param account The loaded roster.
   * @param contact The contact's normalised bare JID.
   * @returns The state, pending inbound request included.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue });
   * const account = await queue.run("juliet", () => rosters.load("juliet"));
   * assert.equal(rosters.state(account, "romeo@example.net").inRoster, false);
   * ```
   */
  state(account: AccountRoster, contact: string): SubscriptionState {
    return subscriptionState(account.roster.get(contact), account.pending.has(contact));
  }

  /**
   * Stores a subscription state change of one contact: the pending inbound
   * request first (`request` is stored when `after` sets `pendingIn`), then
   * the roster item, which is pushed to the interested resources. Call it
   * only from a task in the account's queue, with `before` as read from
   * {@linkcode RosterService.state} in the same task.
   *
   * @param username The account's localpart.
   * @param contact The contact's normalised bare JID.
   * @param before The state before.
   * @param after The state after.
   * @param request The inbound `subscribe` to keep as pending, serialized.
   * @returns Whether it was stored, and the roster change if any.
   * @throws {Error} If the store fails (the cached roster is then dropped).
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import { NO_SUBSCRIPTION, outboundSubscription } from "./subscription.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const store = new MemoryImStore();
   * const rosters = new RosterService({ domain: "example.com", store, sessions: new SessionRegistry<RosterSession>(), queue });
   * const { state } = outboundSubscription(NO_SUBSCRIPTION, "subscribe");
   * const result = await queue.run("juliet", () =>
   *   rosters.commit("juliet", "romeo@example.net", NO_SUBSCRIPTION, state));
   * assert.equal(result.ok && result.change?.item?.ask, true);
   * assert.equal((await store.getRoster("juliet")).items[0]?.ask, true);
   * ```
   */
  async commit(
    username: string,
    contact: string,
    before: SubscriptionState,
    after: SubscriptionState,
    request?: string,
  ): Promise<CommitResult> {
    const account = await this.load(username);
    try {
      if (after.pendingIn && !before.pendingIn) {
        const stanza = request ?? "";
        if (!await this.#store.putPendingSubscription(username, { jid: contact, stanza })) {
          return {
            ok: false,
            error: new StanzaError("wait", "resource-constraint", {
              text: "Too many subscription requests are waiting",
            }),
          };
        }
        account.pending.set(contact, stanza);
      } else if (before.pendingIn && !after.pendingIn) {
        await this.#store.removePendingSubscription(username, contact);
        account.pending.delete(contact);
      }
      const change = account.roster.applySubscription(contact, after);
      if (change instanceof StanzaError) return { ok: false, error: change };
      if (change !== undefined) {
        await this.#store.putRosterItem(username, change.item!);
        this.push(username, change);
      }
      return { ok: true, change };
    } catch (error) {
      this.#cache.delete(username);
      throw error;
    }
  }

  /**
   * Sends a roster push for a change to every interested resource of the
   * account (RFC 6121 §2.1.6).
   *
   * @param username The account's localpart.
   * @param change The change.
   *
   * @example Usage
   * ```ts
   * import { RosterService, type RosterSession } from "./roster_service.ts";
   * import { Roster } from "./roster.ts";
   * import { AccountQueue } from "./account_queue.ts";
   * import { SessionRegistry } from "../routing/session_registry.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import { StanzaError } from "../errors/stanza_error.ts";
   * import assert from "node:assert/strict";
   *
   * const rosters = new RosterService({ domain: "example.com", store: new MemoryImStore(),
   *   sessions: new SessionRegistry<RosterSession>(), queue: new AccountQueue() });
   * const change = new Roster().setItem({ jid: "nurse@example.com" });
   * assert.ok(!(change instanceof StanzaError));
   * rosters.push("juliet", change); // nobody is interested: nothing is sent
   * ```
   */
  push(username: string, change: RosterChange): void {
    const bare = username + "@" + this.#domain;
    for (const session of this.#sessions.resources(bare)) {
      if (!this.#interested.has(session)) continue;
      session.send(
        rosterPush(change, { to: bare + "/" + session.resourceKey, id: this.#nextPushId() }),
      );
    }
  }

  #nextPushId(): string {
    return "push" + (++this.#pushId).toString(36);
  }

  /** The requesting session and its account, from a stamped `from`. */
  #requester(request: IqRequest): { session: S | undefined; username: string } | undefined {
    const from = Jid.tryParse(request.from);
    if (from === undefined || from.local === undefined || from.domain !== this.#domain) {
      return undefined;
    }
    const bare = from.local + "@" + from.domain;
    const session = from.resource === undefined
      ? undefined
      : this.#sessions.get(bare, from.resource);
    return { session, username: from.local };
  }

  #get(request: IqRequest): Promise<Element | undefined | StanzaError> | StanzaError {
    const requester = this.#requester(request);
    if (requester === undefined) return new StanzaError("cancel", "service-unavailable");
    const { session, username } = requester;
    // RFC 6121 §2.1.3: a roster get carries no items.
    if (request.payload.getChild("item") !== undefined) {
      return new StanzaError("modify", "bad-request", { text: "A roster get has no items" });
    }
    return this.#queue.run(username, async () => {
      const account = await this.load(username);
      if (session !== undefined) this.#interested.add(session);
      const ver = request.payload.attr("ver");
      const result = account.roster.query(ver);
      if (result.kind === "full") return result.query;
      if (result.kind === "unchanged") return undefined;
      // RFC 6121 §2.6.3: an empty result, then the changes since `ver` as pushes.
      const afterReply = this.#afterReply;
      if (afterReply === undefined || session === undefined) return account.roster.toQuery();
      const to = session.bareKey + "/" + session.resourceKey;
      const changes = result.changes;
      afterReply(request.stanza, () => {
        for (const change of changes) {
          session.send(rosterPush(change, { to, id: this.#nextPushId() }));
        }
      });
      return undefined;
    });
  }

  #set(request: IqRequest): Promise<Element | undefined | StanzaError> | StanzaError {
    const requester = this.#requester(request);
    if (requester === undefined) return new StanzaError("cancel", "service-unavailable");
    const { username } = requester;
    return this.#queue.run(username, async () => {
      const account = await this.load(username);
      const items = request.payload.getChildren("item", NS_ROSTER);
      const removing = items.length === 1 && items[0]!.attr("subscription") === "remove";
      const target = removing ? Jid.tryParse(items[0]!.attr("jid") ?? "")?.toString() : undefined;
      const before = target === undefined ? undefined : this.state(account, target);
      const change = account.roster.applySet(request.payload);
      if (change instanceof StanzaError) return change;
      try {
        if (change.item !== undefined) {
          await this.#store.putRosterItem(username, change.item);
        } else {
          await this.#store.removeRosterItem(username, change.jid, change.version);
          // RFC 6121 §2.5.2: removing the item also cancels a request from the contact.
          if (account.pending.delete(change.jid)) {
            await this.#store.removePendingSubscription(username, change.jid);
          }
        }
      } catch (error) {
        this.#cache.delete(username);
        throw error;
      }
      // RFC 6121 §2.3.2: the change is pushed to every interested resource, the requester included.
      this.push(username, change);
      if (change.item === undefined && before !== undefined) {
        this.#removed?.(username, change.jid, before);
      }
      return undefined;
    });
  }
}
