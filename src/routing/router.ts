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

  /** @param options The domain and collaborators. */
  constructor(options: RouterOptions<S>) {
    this.#domain = options.domain;
    this.#sessions = options.sessions;
    this.#iq = options.iq;
    this.#accountExists = options.accountExists;
    this.#unknownRecipient = options.unknownRecipient?.bind(options);
  }

  /**
   * Routes a stanza whose `from` the sender's stream already stamped.
   *
   * @param sender The session it came from.
   * @param stanza A `message`, `presence` or `iq`.
   */
  route(sender: S, stanza: Element): void {
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
    const bare = to.local + "@" + to.domain;
    if (to.resource === undefined) return this.#toBare(sender, stanza, bare, to.local);
    this.#toFull(sender, stanza, bare, to.resource, to.local);
  }

  /** Presence the client sends with no `to`: its own availability (RFC 6121 §4.2, §4.5). */
  #toSelf(sender: S, stanza: Element): void {
    if (stanza.name === "presence") return this.#broadcastPresence(sender, stanza);
    // RFC 6120 §10.3.3: no `to` means the account's bare JID.
    if (stanza.name === "iq") return this.#answerIq(sender, stanza, "account", sender.bareKey);
    const username = sender.bareKey.slice(0, sender.bareKey.indexOf("@"));
    this.#toBare(sender, stanza, sender.bareKey, username);
  }

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
    // Without rosters yet, the account's own other resources are the audience.
    for (const session of this.#sessions.resources(sender.bareKey)) {
      if (session !== sender && session.available) session.send(stanza);
    }
  }

  #toHost(sender: S, stanza: Element): void {
    if (stanza.name === "iq") return this.#answerIq(sender, stanza, "host", this.#domain);
    // RFC 6121 §8.5.1 gives the server latitude for presence; messages get an error.
    if (stanza.name === "message") this.#bounce(sender, stanza, unavailable());
  }

  #toBare(sender: S, stanza: Element, bare: string, username: string): void {
    if (stanza.name === "iq") {
      if (bare === sender.bareKey) return this.#answerIq(sender, stanza, "account", bare);
      return this.#whenAccountExists(sender, stanza, username, () => {
        this.#bounce(sender, stanza, unavailable());
      });
    }
    const available: S[] = [];
    for (const session of this.#sessions.resources(bare)) {
      if (session.available) available.push(session);
    }
    if (stanza.name === "presence") {
      for (const session of available) session.send(stanza);
      return;
    }
    const type = stanza.attrs.type ?? "normal";
    if (type === "error") {
      for (const session of available) if (session.priority >= 0) session.send(stanza);
      return;
    }
    if (type === "groupchat") return this.#bounce(sender, stanza, unavailable());
    // RFC 6121 §8.5.2.1.1: the non-negative highest-priority resources get it.
    let best = 0;
    for (const session of available) if (session.priority > best) best = session.priority;
    let delivered = false;
    for (const session of available) {
      if (session.priority >= 0 && (type === "headline" || session.priority === best)) {
        session.send(stanza);
        delivered = true;
      }
    }
    if (delivered || type === "headline") return;
    // RFC 6121 §8.5.2.2: no available resource and no offline storage yet;
    // §8.5.1: an account that does not exist also gets service-unavailable.
    this.#whenAccountExists(sender, stanza, username, () => {
      this.#bounce(sender, stanza, unavailable());
    });
  }

  #toFull(sender: S, stanza: Element, bare: string, resource: string, username: string): void {
    const target = this.#sessions.get(bare, resource);
    if (target !== undefined) return target.send(stanza);
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

  #answerIq(sender: S, stanza: Element, scope: IqScope, to: string): void {
    this.#iq.handle(scope, stanza, to).then((reply) => {
      if (reply !== undefined) sender.send(reply);
    });
  }

  #whenAccountExists(sender: S, stanza: Element, username: string, then: () => void): void {
    this.#accountExists(username).then((exists) => {
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

function unavailable(): StanzaError {
  return new StanzaError("cancel", "service-unavailable");
}
