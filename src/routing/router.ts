/**
 * Stanza routing on the served domain (RFC 6120 §10, RFC 6121 §8): to the
 * server, to an account's bare JID, or to one of its resources.
 *
 * @module
 */

import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import type { Element } from "../xml/element.ts";
import type { IqRegistry, IqScope } from "./iq_registry.ts";
import type { SessionRegistry } from "./session_registry.ts";

/** Stanzas of one sender that may wait behind one still being processed. */
const MAX_WAITING = 256;

/** A stanza's processing: done, or a promise (that never rejects) of its end. */
type Pending = Promise<void> | void;

/** What the router needs of a bound session. */
export interface RoutableSession {
  readonly bareKey: string;
  readonly resourceKey: string;
  /** Sent initial presence and not unavailable since. */
  available: boolean;
  /** Presence priority. */
  priority: number;
  /** The last broadcast available presence. */
  presence: Element | undefined;
  /** Writes a stanza to this session's client. */
  send(stanza: Element): void;
}

/** Collaborators of a {@linkcode Router}. */
export interface RouterOptions<S extends RoutableSession> {
  /** The served domain. */
  domain: string;
  /** Bound sessions. */
  sessions: SessionRegistry<S>;
  /** IQ handlers for the server and for accounts. */
  iq: IqRegistry;
  /** Whether an account exists (for stanzas to accounts with no session). */
  accountExists(username: string): Promise<boolean>;
  /**
   * Told about a stanza to a local account that does not exist (XEP-0205
   * "stanzas to unknown JIDs"); its error, if any, replaces `<service-unavailable/>`.
   */
  unknownRecipient?(sender: S, stanza: Element): StanzaError | undefined;
  /**
   * Checks a stanza against the recipient's inbound rules before delivery
   * (XEP-0205 stanza rules with `direction: inbound`); an error is returned
   * to the sender instead of delivering.
   */
  inbound?(sender: S, recipient: S, stanza: Element): StanzaError | undefined;
  /** Told after a message reached an account's sessions (XEP-0280 received carbons). */
  delivered?(stanza: Element, recipientBare: string, sessions: readonly S[]): void;
  /**
   * Takes every presence stanza a local session sends (RFC 6121 §3, §4).
   * Without it, presence with no `to` goes to the account's own available
   * resources and directed presence to its recipient.
   */
  presence?(sender: S, stanza: Element): Promise<void> | void;
  /**
   * A `normal` or `chat` message for an existing account with no available
   * resource of non-negative priority (RFC 6121 §8.5.2.2.1): store it for
   * later (XEP-0160). `retry` delivers it if such a resource has appeared
   * since, and says whether it did. Resolves to the error to bounce the
   * message with, if any. Without it such messages get `<service-unavailable/>`.
   */
  offline?(
    sender: S,
    stanza: Element,
    username: string,
    retry: () => boolean,
  ): Promise<StanzaError | undefined>;
}

/**
 * Delivers stanzas between local sessions and the server's own handlers.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { Router } from "./router.ts";
 * import { SessionRegistry } from "./session_registry.ts";
 * import { IqRegistry } from "./iq_registry.ts";
 * import { el, type Element } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const inbox: Element[] = [];
 * const bob = { bareKey: "bob@x", resourceKey: "r", available: true, priority: 0,
 *   presence: undefined, send: (s: Element) => { inbox.push(s); } };
 * const sessions = new SessionRegistry<typeof bob>();
 * sessions.add(bob);
 * const router = new Router({ domain: "x", sessions, iq: new IqRegistry(),
 *   accountExists: () => Promise.resolve(true) });
 * const alice = { ...bob, bareKey: "alice@x", send: () => {} };
 * router.route(alice, el("message", { xmlns: "jabber:client", from: "alice@x/r", to: "bob@x", type: "chat" }));
 * assert.equal(inbox.length, 1);
 * ```
 */
export class Router<S extends RoutableSession> {
  #domain: string;
  #sessions: SessionRegistry<S>;
  #iq: IqRegistry;
  #accountExists: (username: string) => Promise<boolean>;
  #unknownRecipient: ((sender: S, stanza: Element) => StanzaError | undefined) | undefined;
  #presence: ((sender: S, stanza: Element) => Promise<void> | void) | undefined;
  #inbound: RouterOptions<S>["inbound"];
  #delivered: RouterOptions<S>["delivered"];
  #offline: RouterOptions<S>["offline"];
  #afterReply = new WeakMap<Element, () => void>();
  #chains = new WeakMap<S, { tail: Promise<void>; waiting: number }>();

  /** @param options The domain and collaborators. */
  constructor(options: RouterOptions<S>) {
    this.#domain = options.domain;
    this.#sessions = options.sessions;
    this.#iq = options.iq;
    this.#accountExists = options.accountExists;
    this.#unknownRecipient = options.unknownRecipient?.bind(options);
    this.#inbound = options.inbound?.bind(options);
    this.#delivered = options.delivered?.bind(options);
    this.#presence = options.presence?.bind(options);
    this.#offline = options.offline?.bind(options);
  }

  /**
   * Runs `then` right after the reply to an IQ request has been sent, e.g.
   * for roster pushes that must follow an empty result (RFC 6121 §2.6.3).
   * Call it while the request's handler runs.
   *
   * @param request The IQ request being handled.
   * @param then What to do once its reply is out.
   *
   * @example Usage
   * ```ts
   * import { type RoutableSession, Router } from "./router.ts";
   * import { SessionRegistry } from "./session_registry.ts";
   * import { IqRegistry } from "./iq_registry.ts";
   * import { el, type Element } from "../xml/element.ts";
   * import assert from "node:assert/strict";
   *
   * const iq = new IqRegistry();
   * const order: string[] = [];
   * const router = new Router({ domain: "x", sessions: new SessionRegistry<RoutableSession>(), iq,
   *   accountExists: () => Promise.resolve(true) });
   * iq.set("host", "get", "urn:example", "q", (request) => {
   *   router.afterReply(request.stanza, () => order.push("after"));
   *   return undefined;
   * });
   * const done = Promise.withResolvers<void>();
   * const alice = { bareKey: "alice@x", resourceKey: "r", available: false, priority: 0,
   *   presence: undefined, send: (s: Element) => { order.push(s.attrs.type!); queueMicrotask(done.resolve); } };
   * router.route(alice, el("iq", { xmlns: "jabber:client", type: "get", id: "1", from: "alice@x/r", to: "x" },
   *   el("q", { xmlns: "urn:example" })));
   * await done.promise;
   * assert.deepEqual(order, ["result", "after"]);
   * ```
   */
  afterReply(request: Element, then: () => void): void {
    this.#afterReply.set(request, then);
  }

  /**
   * Routes a stanza whose `from` the sender's stream already stamped.
   *
   * @param sender The session it came from.
   * @param stanza A `message`, `presence` or `iq`.
   */
  route(sender: S, stanza: Element): void {
    // RFC 6120 §10.1: a sender's stanzas are processed in order. Most are
    // handled at once; while one waits (for an IQ handler, the store or an
    // account's queue) the sender's next stanzas wait behind it.
    let chain = this.#chains.get(sender);
    if (chain === undefined) {
      const pending = this.#dispatch(sender, stanza);
      if (pending === undefined) return;
      chain = { tail: pending.then(ignore, ignore), waiting: 0 };
      this.#chains.set(sender, chain);
    } else {
      if (chain.waiting >= MAX_WAITING) {
        // XEP-0205: a client that pipelines without bound is refused, not buffered.
        return this.#bounce(sender, stanza, new StanzaError("wait", "resource-constraint"));
      }
      const current = chain;
      current.waiting++;
      current.tail = current.tail.then(() => {
        current.waiting--;
        return this.#dispatch(sender, stanza);
      }).then(ignore, ignore);
    }
    const tail = chain.tail;
    tail.then(() => {
      if (this.#chains.get(sender)?.tail === tail) this.#chains.delete(sender);
    });
  }

  /** Routes one stanza; returns a promise when its processing finishes later. Never rejects. */
  #dispatch(sender: S, stanza: Element): Pending {
    if (stanza.name === "presence" && this.#presence !== undefined) {
      return this.#presence(sender, stanza);
    }
    const toText = stanza.attrs.to;
    if (toText === undefined) return this.#toSelf(sender, stanza);
    const to = Jid.tryParse(toText);
    if (to === undefined) {
      return this.#bounce(sender, stanza, new StanzaError("modify", "jid-malformed"));
    }
    stanza.attrs.to = to.toString();
    if (to.domain !== this.#domain) {
      // No federation yet: every other domain is unreachable.
      return this.#bounce(sender, stanza, new StanzaError("cancel", "remote-server-not-found"));
    }
    if (to.local === undefined) {
      if (to.resource !== undefined) return this.#bounce(sender, stanza, unavailable());
      return this.#toHost(sender, stanza);
    }
    // The parsed JID's own bare string: a recently parsed JID comes back with
    // it (and its hash) already computed.
    const bare = to.bare().toString();
    if (to.resource === undefined) return this.#toBare(sender, stanza, bare, to.local);
    return this.#toFull(sender, stanza, bare, to.resource, to.local);
  }

  /** A stanza with no `to` (RFC 6120 §10.3.3: the account's bare JID). */
  #toSelf(sender: S, stanza: Element): Pending {
    if (stanza.name === "presence") return this.#broadcastPresence(sender, stanza);
    if (stanza.name === "iq") return this.#answerIq(sender, stanza, "account", sender.bareKey);
    const username = sender.bareKey.slice(0, sender.bareKey.indexOf("@"));
    return this.#toBare(sender, stanza, sender.bareKey, username);
  }

  /** Without a presence hook: availability reaches the account's own resources only. */
  #broadcastPresence(sender: S, stanza: Element): void {
    const type = stanza.attrs.type;
    if (type === undefined) {
      sender.available = true;
      const priority = Number.parseInt(stanza.getChildText("priority") ?? "0", 10);
      sender.priority = Number.isFinite(priority) ? Math.max(-128, Math.min(127, priority)) : 0;
      sender.presence = stanza;
    } else if (type === "unavailable") {
      sender.available = false;
      sender.presence = undefined;
    } else {
      return;
    }
    for (const session of this.#sessions.resources(sender.bareKey)) {
      if (session !== sender && session.available) session.send(stanza);
    }
  }

  #toHost(sender: S, stanza: Element): Pending {
    if (stanza.name === "iq") return this.#answerIq(sender, stanza, "host", this.#domain);
    // RFC 6121 §8.5.1 gives the server latitude for presence; messages get an error.
    if (stanza.name === "message") this.#bounce(sender, stanza, unavailable());
  }

  #toBare(sender: S, stanza: Element, bare: string, username: string): Pending {
    if (stanza.name === "iq") {
      if (bare === sender.bareKey) return this.#answerIq(sender, stanza, "account", bare);
      return this.#whenAccountExists(sender, stanza, username, () => {
        this.#bounce(sender, stanza, unavailable());
      });
    }
    const available = this.#available(bare);
    if (stanza.name === "presence") {
      for (const session of available) if (!this.#deliver(sender, session, stanza)) return;
      return;
    }
    const type = stanza.attrs.type ?? "normal";
    if (type === "error") {
      for (const session of available) {
        if (session.priority >= 0 && !this.#deliver(sender, session, stanza)) return;
      }
      return;
    }
    if (type === "groupchat") return this.#bounce(sender, stanza, unavailable());
    if (this.#deliverMessage(sender, available, stanza, type) || type === "headline") return;
    // RFC 6121 §8.5.2.2: no available resource with non-negative priority;
    // §8.5.1: an account that does not exist gets service-unavailable.
    return this.#whenAccountExists(sender, stanza, username, () => {
      const offline = this.#offline;
      if (offline === undefined || (type !== "normal" && type !== "chat")) {
        return this.#bounce(sender, stanza, unavailable());
      }
      // §8.5.2.2.1: normal and chat messages may be stored for later (XEP-0160).
      const retry = () => this.#deliverMessage(sender, this.#available(bare), stanza, type);
      return offline(sender, stanza, username, retry).then(
        (error) => {
          if (error !== undefined) this.#bounce(sender, stanza, error);
        },
        () => this.#bounce(sender, stanza, new StanzaError("wait", "internal-server-error")),
      );
    });
  }

  #available(bare: string): S[] {
    const available: S[] = [];
    for (const session of this.#sessions.resources(bare)) {
      if (session.available) available.push(session);
    }
    return available;
  }

  /** RFC 6121 §8.5.2.1.1: the non-negative highest-priority resources get it (all non-negative ones for a headline). */
  #deliverMessage(sender: S, available: readonly S[], stanza: Element, type: string): boolean {
    let best = 0;
    for (const session of available) if (session.priority > best) best = session.priority;
    const reached: S[] = [];
    for (const session of available) {
      if (session.priority >= 0 && (type === "headline" || session.priority === best)) {
        // A refusal by the recipient's rules is answered once and ends delivery.
        if (!this.#deliver(sender, session, stanza)) return true;
        reached.push(session);
      }
    }
    if (reached.length === 0) return false;
    this.#delivered?.(stanza, reached[0]!.bareKey, reached);
    return true;
  }

  /** Delivers to one session unless its inbound rules refuse; returns whether it went out. */
  #deliver(sender: S, recipient: S, stanza: Element): boolean {
    const refused = this.#inbound?.(sender, recipient, stanza);
    if (refused !== undefined) {
      this.#bounce(sender, stanza, refused);
      return false;
    }
    recipient.send(stanza);
    return true;
  }

  #toFull(sender: S, stanza: Element, bare: string, resource: string, username: string): Pending {
    const target = this.#sessions.get(bare, resource);
    if (target !== undefined) {
      if (this.#deliver(sender, target, stanza) && stanza.name === "message") {
        this.#delivered?.(stanza, bare, [target]);
      }
      return;
    }
    // RFC 6121 §8.5.3.2: to a resource that is not there.
    if (stanza.name === "message") {
      const type = stanza.attrs.type ?? "normal";
      if (type === "normal" || type === "chat" || type === "headline") {
        return this.#toBare(sender, stanza, bare, username);
      }
      if (type === "error") return;
      return this.#bounce(sender, stanza, unavailable());
    }
    if (stanza.name === "iq") this.#bounce(sender, stanza, unavailable());
  }

  #answerIq(sender: S, stanza: Element, scope: IqScope, to: string): Promise<void> {
    return this.#iq.handle(scope, stanza, to).then((reply) => {
      if (reply !== undefined) sender.send(reply);
      const then = this.#afterReply.get(stanza);
      if (then === undefined) return;
      this.#afterReply.delete(stanza);
      then();
    });
  }

  #whenAccountExists(
    sender: S,
    stanza: Element,
    username: string,
    then: () => Pending,
  ): Promise<void> {
    return this.#accountExists(username).then((exists) => {
      if (exists) return then();
      this.#bounce(sender, stanza, this.#unknownRecipient?.(sender, stanza) ?? unavailable());
    }, () => this.#bounce(sender, stanza, new StanzaError("wait", "internal-server-error")));
  }

  #bounce(sender: S, stanza: Element, error: StanzaError): void {
    // RFC 6120 §8.3.1: never answer an error with an error.
    if (stanza.attrs.type === "error") return;
    if (stanza.name === "presence") return;
    sender.send(errorReply(stanza, error, this.#domain));
  }
}

function ignore(): void {}

function unavailable(): StanzaError {
  return new StanzaError("cancel", "service-unavailable");
}
