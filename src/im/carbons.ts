/**
 * XEP-0280 message carbons: sessions switch them on and off, and every
 * eligible message an account sends or receives is copied, wrapped per
 * XEP-0297, to the account's other carbons-enabled resources.
 *
 * @module
 */

import type { IqRegistry } from "../routing/iq_registry.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_CLIENT } from "../xml/ns.ts";
import type { DiscoInfo } from "./disco.ts";
import type { ImSession, ImSessions } from "./im_context.ts";

/** The XEP-0280 namespace. */
export const NS_CARBONS = "urn:xmpp:carbons:2";
/** The XEP-0297 stanza forwarding namespace. */
export const NS_FORWARD = "urn:xmpp:forward:0";

const NS_HINTS = "urn:xmpp:hints";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
// Payloads of instant messaging that make a message without a body worth copying.
const IM_PAYLOADS: ReadonlySet<string> = new Set([
  "http://jabber.org/protocol/chatstates", // XEP-0085
  "urn:xmpp:receipts", // XEP-0184
  "urn:xmpp:chat-markers:0", // XEP-0333
]);

/** Which side of a conversation a carbon copies. */
export type CarbonDirection = "sent" | "received";

/**
 * Whether a message is eligible for carbons (XEP-0280 §6): type `chat`, or
 * type `normal` with a body or an instant-messaging payload (chat states,
 * receipts, markers); never `groupchat`, `headline` or `error`, never one
 * marked `<private/>` or `<no-copy/>` (XEP-0334), never a carbon itself, and
 * never a received message from a MUC (it carries `muc#user`).
 *
 * @param message The message.
 * @param direction Whether the account sent it or received it.
 * @returns Whether copies go to the account's other resources.
 *
 * @example Usage
 * ```ts
 * import { carbonEligible } from "./carbons.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(carbonEligible(el("message", { type: "chat" }), "sent"), true);
 * assert.equal(carbonEligible(el("message", {}, el("body", {}, "hi")), "received"), true);
 * assert.equal(carbonEligible(el("message", {}), "received"), false);
 * assert.equal(carbonEligible(el("message", { type: "groupchat" }, el("body", {}, "hi")), "sent"), false);
 * ```
 */
export function carbonEligible(message: Element, direction: CarbonDirection): boolean {
  if (message.name !== "message") return false;
  const type = message.attrs.type ?? "normal";
  if (type !== "chat" && type !== "normal") return false;
  let payload = type === "chat";
  for (const child of message.children) {
    if (typeof child === "string") continue;
    const ns = child.ns;
    if (ns === NS_CARBONS) return false; // <private/>, or a carbon itself
    if (ns === NS_HINTS && child.name === "no-copy") return false;
    if (ns === NS_MUC_USER && direction === "received") return false;
    if (!payload && (isBody(child.name, ns) || IM_PAYLOADS.has(ns ?? ""))) {
      payload = true;
    }
  }
  return payload;
}

/**
 * Wraps a message as a carbon (XEP-0280 §7, §8): from the account's bare
 * JID to one of its resources, the type kept, the original inside
 * `<sent/>` or `<received/>` and `<forwarded xmlns='urn:xmpp:forward:0'/>`.
 *
 * @param message The original message (not copied; do not change it afterwards).
 * @param direction `sent` or `received`.
 * @param to The full JID of the resource getting the copy.
 * @returns The wrapping message.
 *
 * @example Usage
 * ```ts
 * import { carbonCopy } from "./carbons.ts";
 * import { el } from "../xml/element.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const message = el("message", { xmlns: "jabber:client", from: "r@x/a", to: "j@x", type: "chat" });
 * assert.equal(serialize(carbonCopy(message, "sent", "r@x/b"), "jabber:client"),
 *   `<message from="r@x" to="r@x/b" type="chat"><sent xmlns="urn:xmpp:carbons:2">` +
 *   `<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="r@x/a" ` +
 *   `to="j@x" type="chat"/></forwarded></sent></message>`);
 * ```
 */
export function carbonCopy(message: Element, direction: CarbonDirection, to: string): Element {
  const slash = to.indexOf("/");
  return el(
    "message",
    {
      xmlns: NS_CLIENT,
      from: slash === -1 ? to : to.slice(0, slash),
      to,
      type: message.attrs.type,
    },
    el(direction, { xmlns: NS_CARBONS }, el("forwarded", { xmlns: NS_FORWARD }, message)),
  );
}

/**
 * Per-session carbons state and the copies it calls for. Sessions are
 * held weakly: a closed session needs no clean-up.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { Carbons } from "./carbons.ts";
 * import { el, type Element } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const got: Element[] = [];
 * const phone = { bareKey: "r@x", resourceKey: "phone", jid: undefined, available: true,
 *   presence: undefined, send: (s: Element) => { got.push(s); } };
 * const laptop = { ...phone, resourceKey: "laptop", send: () => {} };
 * const carbons = new Carbons({ resources: () => [phone, laptop], get: () => undefined });
 * carbons.enable(phone);
 * const message = el("message", { xmlns: "jabber:client", from: "r@x/laptop", to: "j@x", type: "chat" });
 * assert.equal(carbons.sent(laptop, message), 1);
 * assert.equal(got[0]?.getChild("sent")?.ns, "urn:xmpp:carbons:2");
 * ```
 */
export class Carbons<S extends ImSession> {
  #sessions: ImSessions<S>;
  #enabled = new WeakSet<S>();
  // Messages that carried <private/>, which was removed before delivery.
  #private = new WeakSet<Element>();

  /** @param sessions The bound sessions. */
  constructor(sessions: ImSessions<S>) {
    this.#sessions = sessions;
  }

  /**
   * Whether a session enabled carbons.
   *
   * @param session The session.
   * @returns `true` after `<enable/>` and until `<disable/>`.
   */
  enabled(session: S): boolean {
    return this.#enabled.has(session);
  }

  /**
   * Turns carbons on for a session (idempotent, XEP-0280 §9.1).
   *
   * @param session The session.
   */
  enable(session: S): void {
    this.#enabled.add(session);
  }

  /**
   * Turns carbons off for a session (idempotent).
   *
   * @param session The session.
   */
  disable(session: S): void {
    this.#enabled.delete(session);
  }

  /**
   * Registers `<enable/>` and `<disable/>` for accounts and announces
   * `urn:xmpp:carbons:2` on the server.
   *
   * @param iq The registry.
   * @param disco The server's features.
   * @param sessionOf Finds the session an IQ came from (by its full JID).
   * @returns A disposable that removes them.
   */
  register(
    iq: IqRegistry,
    disco: DiscoInfo,
    sessionOf: (from: string) => S | undefined,
  ): Disposable {
    const stack = new DisposableStack();
    for (const name of ["enable", "disable"] as const) {
      stack.use(iq.set("account", "set", NS_CARBONS, name, (request) => {
        const session = sessionOf(request.from);
        if (session !== undefined) {
          if (name === "enable") this.enable(session);
          else this.disable(session);
        }
        return undefined;
      }));
    }
    stack.use(disco.addFeature(NS_CARBONS));
    return stack;
  }

  /**
   * Prepares a message a client sent: a `<private/>` element is removed
   * (XEP-0280 §9: the recipient's server removes it) and remembered, so
   * neither side copies the message.
   *
   * @param message The message, before routing.
   */
  strip(message: Element): void {
    const children = message.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (typeof child !== "string" && child.name === "private" && child.ns === NS_CARBONS) {
        children.splice(i, 1);
        this.#private.add(message);
        return;
      }
    }
  }

  /**
   * XEP-0280 §8: copies a message a session sent to the account's other
   * carbons-enabled resources.
   *
   * @param sender The sending session.
   * @param message The message as routed (`from` stamped).
   * @returns How many copies were sent.
   */
  sent(sender: S, message: Element): number {
    if (this.#private.has(message)) return 0;
    // The message is looked at only once a resource would get a copy.
    let eligible: boolean | undefined;
    let count = 0;
    for (const session of this.#sessions.resources(sender.bareKey)) {
      if (session === sender || !this.#enabled.has(session)) continue;
      eligible ??= carbonEligible(message, "sent");
      if (!eligible) return 0;
      session.send(carbonCopy(message, "sent", session.bareKey + "/" + session.resourceKey));
      count++;
    }
    return count;
  }

  /**
   * XEP-0280 §7: after a message was delivered to an account, copies it to
   * the account's carbons-enabled resources that did not get it.
   *
   * @param message The message as delivered.
   * @param recipient The receiving account's bare JID.
   * @param deliveredTo The sessions that got the original.
   * @returns How many copies were sent.
   */
  received(message: Element, recipient: string, deliveredTo: Iterable<S>): number {
    if (this.#private.has(message)) return 0;
    // Most accounts have no carbons-enabled resource: then nothing else is looked at.
    let skip: Set<S> | undefined;
    let eligible: boolean | undefined;
    let count = 0;
    for (const session of this.#sessions.resources(recipient)) {
      if (!this.#enabled.has(session)) continue;
      skip ??= new Set(deliveredTo);
      // Nothing was delivered (no resource online): nothing to copy either.
      if (skip.size === 0) return 0;
      if (skip.has(session)) continue;
      eligible ??= carbonEligible(message, "received");
      if (!eligible) return 0;
      session.send(carbonCopy(message, "received", session.bareKey + "/" + session.resourceKey));
      count++;
    }
    return count;
  }
}

function isBody(name: string, ns: string | undefined): boolean {
  return name === "body" && (ns === NS_CLIENT || ns === undefined);
}
