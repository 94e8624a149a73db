/**
 * XEP-0191 blocking command: an account's blocklist (kept in the IM store,
 * cached per account), the `urn:xmpp:blocking` IQs with their pushes, and
 * what happens to stanzas between an account and a JID it blocked.
 *
 * @module
 */

import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import { BoundedMap } from "../limits/bounded_map.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import type { ImStore } from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_CLIENT } from "../xml/ns.ts";
import type { DiscoInfo } from "./disco.ts";
import {
  type ImContext,
  type ImSession,
  isPresenceSubscriber,
  localUsername,
} from "./im_context.ts";

/** The XEP-0191 namespace. */
export const NS_BLOCKING = "urn:xmpp:blocking";
/** The namespace of the `<blocked/>` application error. */
export const NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors";

/** What to do with a stanza: pass it on, drop it silently, or bounce this error to its sender. */
export type BlockVerdict = "deliver" | "drop" | StanzaError;

/**
 * Whether a blocklist covers `jid`, by the XEP-0191 §5 (XEP-0016) rules:
 * `user@domain/resource` matches only that resource, `user@domain` any of
 * its resources, `domain/resource` that resource of the domain, and
 * `domain` the domain, every address at it and every subdomain.
 *
 * @param blocked Normalised blocked JIDs.
 * @param jid The address to test.
 * @returns Whether one of the blocked JIDs covers it.
 *
 * @example Usage
 * ```ts
 * import { blocklistMatches } from "./blocking.ts";
 * import { Jid } from "../jid/jid.ts";
 * import assert from "node:assert/strict";
 *
 * const blocked = new Set(["romeo@montague.lit", "capulet.lit", "verona.lit/rumour"]);
 * assert.equal(blocklistMatches(blocked, Jid.parse("romeo@montague.lit/orchard")), true);
 * assert.equal(blocklistMatches(blocked, Jid.parse("benvolio@montague.lit")), false);
 * assert.equal(blocklistMatches(blocked, Jid.parse("tybalt@chat.capulet.lit")), true);
 * assert.equal(blocklistMatches(blocked, Jid.parse("verona.lit/rumour")), true);
 * assert.equal(blocklistMatches(blocked, Jid.parse("verona.lit")), false);
 * ```
 */
export function blocklistMatches(blocked: ReadonlySet<string>, jid: Jid): boolean {
  if (blocked.size === 0) return false;
  const { local, domain, resource } = jid;
  if (local !== undefined) {
    const bare = local + "@" + domain;
    if (resource !== undefined && blocked.has(bare + "/" + resource)) return true;
    if (blocked.has(bare)) return true;
  }
  if (resource !== undefined && blocked.has(domain + "/" + resource)) return true;
  // A blocked domain covers its subdomains too.
  let suffix = domain;
  for (;;) {
    if (blocked.has(suffix)) return true;
    const dot = suffix.indexOf(".");
    if (dot === -1) return false;
    suffix = suffix.slice(dot + 1);
  }
}

/**
 * XEP-0191 §3.3: what happens to a stanza a blocked entity sends to the
 * account. Presence is dropped without an answer, messages bounce with
 * `<service-unavailable/>`, IQ get/set get `<service-unavailable/>` and
 * other IQs are dropped, so the account looks offline.
 *
 * @param stanza The inbound stanza.
 * @returns `"drop"` or the error to return to the sender.
 *
 * @example Usage
 * ```ts
 * import { inboundVerdict } from "./blocking.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inboundVerdict(el("presence")), "drop");
 * const verdict = inboundVerdict(el("message", { type: "chat" }));
 * assert.equal(verdict !== "drop" && verdict.condition, "service-unavailable");
 * ```
 */
export function inboundVerdict(stanza: Element): "drop" | StanzaError {
  const type = stanza.attrs.type;
  if (stanza.name === "presence" || type === "error") return "drop";
  if (stanza.name === "iq" && type !== "get" && type !== "set") return "drop";
  return new StanzaError("cancel", "service-unavailable");
}

/**
 * XEP-0191 §3.3: what happens to a stanza the account sends to a JID it
 * blocked. It is never routed: presence, errors and IQ results are dropped,
 * anything else bounces with `<not-acceptable/>` and
 * `<blocked xmlns='urn:xmpp:blocking:errors'/>`.
 *
 * @param stanza The outbound stanza.
 * @returns `"drop"` or the error to return to the account.
 *
 * @example Usage
 * ```ts
 * import { outboundVerdict } from "./blocking.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const verdict = outboundVerdict(el("message", { type: "chat" }));
 * assert.equal(verdict !== "drop" && verdict.appCondition, "blocked");
 * assert.equal(outboundVerdict(el("iq", { type: "result" })), "drop");
 * ```
 */
export function outboundVerdict(stanza: Element): "drop" | StanzaError {
  const type = stanza.attrs.type;
  if (stanza.name === "presence" || type === "error") return "drop";
  if (stanza.name === "iq" && type !== "get" && type !== "set") return "drop";
  return new StanzaError("cancel", "not-acceptable", {
    appCondition: "blocked",
    appNs: NS_BLOCKING_ERRORS,
  });
}

/**
 * The username of a session's account on `domain`: the bound JID's localpart
 * (the same string every time), else read from its bare JID.
 */
function ownUsername(session: ImSession, domain: string): string | undefined {
  const jid = session.jid;
  if (jid !== undefined && jid.domain === domain && jid.bare().toString() === session.bareKey) {
    return jid.local;
  }
  return localUsername(session.bareKey, domain);
}

/** Options of {@linkcode Blocklists}. */
export interface BlocklistsOptions {
  /**
   * Accounts whose blocklist is kept in memory; the least recently used is
   * dropped (and read again from the store when next needed).
   *
   * @default {10000}
   */
  maxCachedAccounts?: number;
}

const EMPTY: ReadonlySet<string> = Object.freeze(new Set<string>());

/**
 * Blocklists by account (username), read through from the IM store and
 * cached in a bounded LRU. Changes go to the store first, then to the cache,
 * one change at a time per account.
 *
 * @example Usage
 * ```ts
 * import { Blocklists } from "./blocking.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { Jid } from "../jid/jid.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * const lists = new Blocklists(() => store);
 * assert.equal(lists.blocks("juliet", Jid.parse("tybalt@x")), undefined);
 * assert.equal(await lists.block("juliet", ["tybalt@x"]), true);
 * assert.equal(lists.blocks("juliet", Jid.parse("tybalt@x/r")), true);
 * assert.equal(await lists.isBlocked("juliet", Jid.parse("romeo@x")), false);
 * ```
 */
export class Blocklists {
  #store: () => ImStore;
  #cache: BoundedMap<string, ReadonlySet<string>>;
  #loading = new Map<string, Promise<ReadonlySet<string>>>();
  #writes = new Map<string, Promise<unknown>>();

  /**
   * @param store The IM store (a function, since the store opens at start).
   * @param options The cache size.
   * @throws {RangeError} If `maxCachedAccounts` is not a positive integer.
   */
  constructor(store: () => ImStore, options: BlocklistsOptions = {}) {
    this.#store = store;
    this.#cache = new BoundedMap(options.maxCachedAccounts ?? 10_000);
  }

  /**
   * The cached blocklist of an account, without touching the store.
   *
   * @param username The account's localpart.
   * @returns The blocked JIDs, or `undefined` when not cached.
   */
  cached(username: string): ReadonlySet<string> | undefined {
    return this.#cache.get(username);
  }

  /**
   * The blocklist of an account, from the cache or the store.
   *
   * @param username The account's localpart.
   * @returns The blocked JIDs (normalised).
   */
  get(username: string): Promise<ReadonlySet<string>> {
    const cached = this.#cache.get(username);
    if (cached !== undefined) return Promise.resolve(cached);
    let loading = this.#loading.get(username);
    if (loading === undefined) {
      const promise: Promise<ReadonlySet<string>> = this.#store().getBlocklist(username).then(
        (jids) => {
          const set = jids.length === 0 ? EMPTY : new Set(jids);
          // A change made while this read was in flight already set the cache.
          if (this.#loading.get(username) === promise) {
            this.#loading.delete(username);
            this.#cache.set(username, set);
          }
          return this.#cache.peek(username) ?? set;
        },
        (error: unknown) => {
          if (this.#loading.get(username) === promise) this.#loading.delete(username);
          throw error;
        },
      );
      loading = promise;
      this.#loading.set(username, loading);
    }
    return loading;
  }

  /**
   * Whether the account blocks `jid`, if its blocklist is cached.
   *
   * @param username The account's localpart.
   * @param jid The other party.
   * @returns The answer, or `undefined` when the blocklist is not cached.
   */
  blocks(username: string, jid: Jid): boolean | undefined {
    const blocked = this.#cache.get(username);
    return blocked === undefined ? undefined : blocklistMatches(blocked, jid);
  }

  /**
   * Whether the account blocks `jid`, reading the store when needed.
   *
   * @param username The account's localpart.
   * @param jid The other party.
   * @returns Whether a blocklist entry covers `jid`.
   */
  async isBlocked(username: string, jid: Jid): Promise<boolean> {
    return this.blocks(username, jid) ?? blocklistMatches(await this.get(username), jid);
  }

  /**
   * Adds JIDs to the blocklist, all or none.
   *
   * @param username The account's localpart.
   * @param jids Normalised JIDs.
   * @returns `false` when the list would exceed the store's limit (nothing changed).
   */
  block(username: string, jids: readonly string[]): Promise<boolean> {
    return this.#write(username, (store) => store.block(username, jids));
  }

  /**
   * Removes JIDs from the blocklist.
   *
   * @param username The account's localpart.
   * @param jids Normalised JIDs.
   * @returns How many were blocked.
   */
  unblock(username: string, jids: readonly string[]): Promise<number> {
    return this.#write(username, (store) => store.unblock(username, jids));
  }

  /**
   * Empties the blocklist.
   *
   * @param username The account's localpart.
   * @returns How many JIDs were blocked.
   */
  unblockAll(username: string): Promise<number> {
    return this.#write(username, (store) => store.unblockAll(username));
  }

  /**
   * Drops an account's cached list (e.g. when the account is deleted).
   *
   * @param username The account's localpart.
   */
  forget(username: string): void {
    this.#cache.delete(username);
    this.#loading.delete(username);
  }

  #write<T>(username: string, change: (store: ImStore) => Promise<T>): Promise<T> {
    const previous = this.#writes.get(username) ?? Promise.resolve();
    const next = previous.then(async () => {
      const store = this.#store();
      const result = await change(store);
      const jids = await store.getBlocklist(username);
      this.#loading.delete(username);
      this.#cache.set(username, jids.length === 0 ? EMPTY : new Set(jids));
      return result;
    });
    const tail = next.then(() => {}, () => {});
    this.#writes.set(username, tail);
    tail.then(() => {
      if (this.#writes.get(username) === tail) this.#writes.delete(username);
    });
    return next;
  }
}

/** Options of {@linkcode Blocking}. */
export interface BlockingOptions extends BlocklistsOptions {
  /** Makes ids for blocklist pushes. @default {crypto.randomUUID} */
  id?: () => string;
}

/**
 * The XEP-0191 service of one domain: answers `urn:xmpp:blocking` IQs,
 * pushes changes to the account's resources that asked for the list, tells
 * blocked contacts the account went offline (and its presence again on
 * unblock), and decides what happens to stanzas in either direction.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { Blocking } from "./blocking.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * await store.block("juliet", ["tybalt@x"]);
 * const blocking = new Blocking({
 *   domain: "x", sessions: { resources: () => [], get: () => undefined },
 *   store: () => store, clock: { now: () => 0 },
 * });
 * const insult = el("message", { from: "tybalt@x/r", to: "juliet@x", type: "chat" });
 * const verdict = await blocking.inbound("juliet@x", insult);
 * assert.equal(verdict !== "deliver" && verdict !== "drop" && verdict.condition, "service-unavailable");
 * ```
 */
export class Blocking<S extends ImSession> {
  /** The blocklists. */
  readonly lists: Blocklists;
  #context: ImContext<S>;
  #id: () => string;
  // Sessions that asked for the blocklist get pushes (XEP-0191 §3.3).
  #interested = new WeakSet<S>();
  // Per session: the stanzas held for a blocklist read, so later ones queue behind them.
  #held = new WeakMap<S, Promise<void>>();

  /**
   * @param context The server side.
   * @param options Cache size and push ids.
   */
  constructor(context: ImContext<S>, options: BlockingOptions = {}) {
    this.#context = context;
    this.#id = options.id ?? (() => crypto.randomUUID());
    this.lists = new Blocklists(context.store, options);
  }

  /**
   * Registers the account IQ handlers (`blocklist` get, `block` and
   * `unblock` set) and announces `urn:xmpp:blocking` on the server.
   *
   * @param iq The registry to add handlers to.
   * @param disco The server's features.
   * @returns A disposable that removes them.
   */
  register(iq: IqRegistry, disco: DiscoInfo): Disposable {
    const stack = new DisposableStack();
    stack.use(iq.set("account", "get", NS_BLOCKING, "blocklist", (r) => this.#getList(r)));
    stack.use(iq.set("account", "set", NS_BLOCKING, "block", (r) => this.#block(r)));
    stack.use(iq.set("account", "set", NS_BLOCKING, "unblock", (r) => this.#unblock(r)));
    stack.use(disco.addFeature(NS_BLOCKING));
    return stack;
  }

  /**
   * Reads a bound account's blocklist into the cache ahead of its traffic.
   *
   * @param bare The account's bare JID.
   */
  preload(bare: string): void {
    const username = localUsername(bare, this.#context.domain);
    if (username !== undefined) this.lists.get(username).catch(() => {});
  }

  /**
   * The router's check before it hands a stanza from `stanza.attrs.from` to
   * a local account (a directed stanza, a presence broadcast, an offline
   * delivery): whether the account blocked the sender.
   *
   * @param owner The recipient account's bare JID.
   * @param stanza The stanza, with its `from` stamped.
   * @returns `"deliver"`, `"drop"`, or the error to bounce to the sender.
   */
  async inbound(owner: string, stanza: Element): Promise<BlockVerdict> {
    const now = this.inboundNow(owner, stanza);
    if (now !== undefined) return now;
    const username = localUsername(owner, this.#context.domain);
    const from = Jid.tryParse(stanza.attrs.from ?? "");
    if (username === undefined || from === undefined) return "deliver";
    return (await this.lists.isBlocked(username, from)) ? inboundVerdict(stanza) : "deliver";
  }

  /**
   * {@linkcode Blocking.inbound} without waiting: `undefined` when the
   * account's blocklist is not cached yet.
   *
   * @param owner The recipient account's bare JID.
   * @param stanza The stanza, with its `from` stamped.
   * @returns The verdict, or `undefined` when it needs the store.
   */
  inboundNow(owner: string, stanza: Element): BlockVerdict | undefined {
    const username = localUsername(owner, this.#context.domain);
    if (username === undefined) return "deliver";
    return this.#inboundNow(username, owner, stanza);
  }

  #inboundNow(username: string, owner: string, stanza: Element): BlockVerdict | undefined {
    const blocked = this.lists.cached(username);
    // Most accounts block no one: then the sender needs no look at all.
    if (blocked !== undefined && blocked.size === 0) return "deliver";
    const from = Jid.tryParse(stanza.attrs.from ?? "");
    if (from === undefined) return "deliver";
    // An account never blocks itself out of its own traffic.
    if (from.local !== undefined && from.bare().toString() === owner) return "deliver";
    if (blocked === undefined) return undefined;
    return blocklistMatches(blocked, from) ? inboundVerdict(stanza) : "deliver";
  }

  /**
   * Whether one of the two accounts blocks the other, for presence the
   * server generates (broadcasts, probes, PEP notifications).
   *
   * @param a A bare JID.
   * @param b Another bare JID.
   * @returns `true` when a local one of them blocked the other.
   */
  async eitherBlocks(a: string, b: string): Promise<boolean> {
    const domain = this.#context.domain;
    const ua = localUsername(a, domain);
    const ub = localUsername(b, domain);
    const ja = Jid.tryParse(a);
    const jb = Jid.tryParse(b);
    if (ja === undefined || jb === undefined) return false;
    if (ua !== undefined && await this.lists.isBlocked(ua, jb)) return true;
    return ub !== undefined && await this.lists.isBlocked(ub, ja);
  }

  /**
   * Applies the blocklists of the sender and of a local recipient to a
   * stanza a bound client sent, before routing. A stanza that may pass and
   * needed no store read returns `false` at once; one that needed a read
   * is held (with every later stanza of the same session, to keep order)
   * and handed to `forward` once cleared.
   *
   * @param session The sender.
   * @param stanza The stanza, `from` stamped.
   * @param forward Routes a held stanza that may pass.
   * @returns `true` when the stanza was consumed (bounced, dropped or held).
   */
  filter(session: S, stanza: Element, forward: (session: S, stanza: Element) => void): boolean {
    const held = this.#held.get(session);
    if (held === undefined) {
      const verdict = this.#verdictNow(session, stanza);
      if (verdict === "deliver") return false;
      if (verdict !== undefined) {
        this.#apply(session, stanza, verdict);
        return true;
      }
    }
    const previous = held ?? Promise.resolve();
    const next = previous.then(async () => {
      const verdict = await this.#verdict(session, stanza);
      if (verdict === "deliver") forward(session, stanza);
      else this.#apply(session, stanza, verdict);
    }).catch(() => {
      this.#apply(session, stanza, new StanzaError("wait", "internal-server-error"));
    });
    this.#held.set(session, next);
    next.then(() => {
      if (this.#held.get(session) === next) this.#held.delete(session);
    });
    return true;
  }

  #verdictNow(session: S, stanza: Element): BlockVerdict | undefined {
    const to = stanza.attrs.to;
    if (to === undefined) return "deliver";
    const target = Jid.tryParse(to);
    if (target === undefined) return "deliver";
    const domain = this.#context.domain;
    const own = ownUsername(session, domain);
    if (own === undefined) return "deliver";
    const targetBare = target.local === undefined ? undefined : target.bare().toString();
    if (targetBare === session.bareKey) return "deliver";
    const outbound = this.lists.blocks(own, target);
    if (outbound === undefined) return undefined;
    if (outbound) return outboundVerdict(stanza);
    if (targetBare === undefined || target.domain !== domain) return "deliver";
    // A bare JID on the served domain: its localpart is the account's username.
    return this.#inboundNow(target.local!, targetBare, stanza);
  }

  async #verdict(session: S, stanza: Element): Promise<BlockVerdict> {
    const target = Jid.tryParse(stanza.attrs.to ?? "");
    const own = localUsername(session.bareKey, this.#context.domain);
    if (target === undefined || own === undefined) return "deliver";
    const targetBare = target.local === undefined ? undefined : target.local + "@" + target.domain;
    if (targetBare === session.bareKey) return "deliver";
    if (await this.lists.isBlocked(own, target)) return outboundVerdict(stanza);
    if (targetBare === undefined || target.domain !== this.#context.domain) return "deliver";
    return await this.inbound(targetBare, stanza);
  }

  #apply(session: S, stanza: Element, verdict: "drop" | StanzaError): void {
    if (verdict === "drop") return;
    session.send(errorReply(stanza, verdict, this.#context.domain));
  }

  #session(request: IqRequest): S | undefined {
    const from = Jid.tryParse(request.from);
    if (from?.local === undefined || from.resource === undefined) return undefined;
    return this.#context.sessions.get(from.local + "@" + from.domain, from.resource);
  }

  async #getList(request: IqRequest): Promise<Element> {
    const owner = this.#owner(request);
    const blocked = await this.lists.get(owner.username);
    const session = this.#session(request);
    if (session !== undefined) this.#interested.add(session);
    return el(
      "blocklist",
      { xmlns: NS_BLOCKING },
      ...[...blocked].sort().map((jid) => el("item", { jid })),
    );
  }

  async #block(request: IqRequest): Promise<Element | undefined | StanzaError> {
    const jids = parseItems(request.payload);
    if (jids instanceof StanzaError) return jids;
    // XEP-0191 §3.3: a block without items is a bad request.
    if (jids.length === 0) return new StanzaError("modify", "bad-request");
    const owner = this.#owner(request);
    const before = await this.lists.get(owner.username);
    const added = jids.filter((jid) => !before.has(jid));
    if (!(await this.lists.block(owner.username, jids))) {
      const max = this.#context.store().limits.maxBlocklistItems;
      return new StanzaError("cancel", "resource-constraint", {
        text: `A blocklist holds at most ${max} JIDs`,
      });
    }
    this.#push(owner.bare, el("block", { xmlns: NS_BLOCKING }, ...itemElements(jids)));
    if (added.length > 0) await this.#presenceChange(owner, new Set(added), "blocked");
    return undefined;
  }

  async #unblock(request: IqRequest): Promise<Element | undefined | StanzaError> {
    const jids = parseItems(request.payload);
    if (jids instanceof StanzaError) return jids;
    const owner = this.#owner(request);
    const before = await this.lists.get(owner.username);
    const removed = jids.length === 0 ? [...before] : jids.filter((jid) => before.has(jid));
    if (jids.length === 0) await this.lists.unblockAll(owner.username);
    else await this.lists.unblock(owner.username, jids);
    this.#push(owner.bare, el("unblock", { xmlns: NS_BLOCKING }, ...itemElements(jids)));
    if (removed.length > 0) await this.#presenceChange(owner, new Set(removed), "unblocked");
    return undefined;
  }

  #owner(request: IqRequest): { username: string; bare: string } {
    const from = Jid.parse(request.from);
    return { username: from.local!, bare: from.local + "@" + from.domain };
  }

  #push(bare: string, payload: Element): void {
    for (const session of this.#context.sessions.resources(bare)) {
      if (!this.#interested.has(session)) continue;
      session.send(
        el("iq", {
          xmlns: NS_CLIENT,
          type: "set",
          id: this.#id(),
          to: bare + "/" + session.resourceKey,
        }, payload),
      );
    }
  }

  /**
   * XEP-0191 §3.3/§3.4: a newly blocked contact that may see the account's
   * presence gets unavailable presence from each available resource; an
   * unblocked one gets the current presence again.
   */
  async #presenceChange(
    owner: { username: string; bare: string },
    changed: ReadonlySet<string>,
    change: "blocked" | "unblocked",
  ): Promise<void> {
    const available: S[] = [];
    for (const session of this.#context.sessions.resources(owner.bare)) {
      if (session.available) available.push(session);
    }
    if (available.length === 0) return;
    const roster = await this.#context.store().getRoster(owner.username);
    for (const item of roster.items) {
      const contact = Jid.tryParse(item.jid);
      if (contact === undefined || !blocklistMatches(changed, contact)) continue;
      if (!isPresenceSubscriber(roster, item.jid)) continue;
      if (contact.domain !== this.#context.domain) continue;
      // Unblocking one entry may leave the contact covered by another.
      if (change === "unblocked" && this.lists.blocks(owner.username, contact)) continue;
      for (const session of available) {
        const presence = change === "blocked"
          ? el("presence", { xmlns: NS_CLIENT, type: "unavailable" })
          : session.presence;
        if (presence === undefined) continue;
        const stanza = el(
          "presence",
          {
            ...presence.attrs,
            xmlns: NS_CLIENT,
            from: owner.bare + "/" + session.resourceKey,
            to: item.jid,
          },
          ...presence.children,
        );
        for (const target of this.#context.sessions.resources(item.jid)) {
          if (target.available) target.send(stanza);
        }
      }
    }
  }
}

function parseItems(payload: Element): string[] | StanzaError {
  const jids: string[] = [];
  for (const item of payload.getChildren("item", NS_BLOCKING)) {
    const jid = Jid.tryParse(item.attrs.jid ?? "");
    if (jid === undefined) return new StanzaError("modify", "jid-malformed");
    jids.push(jid.toString());
  }
  return jids;
}

function itemElements(jids: readonly string[]): Element[] {
  return jids.map((jid) => el("item", { jid }));
}
