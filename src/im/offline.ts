/**
 * Offline messages (XEP-0160): which messages are kept for an account that
 * has no available resource, how they are stored, and how they come back
 * stamped with their original time (XEP-0203 `<delay/>`).
 *
 * @module
 */

import type { ImStore } from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { serialize } from "../xml/serialize.ts";
import { EMPTY_NAMESPACE_CONTEXT, StanzaParser } from "../xml/stanza_parser.ts";

/** XEP-0203 delayed delivery. */
export const NS_DELAY = "urn:xmpp:delay";
/** XEP-0334 message processing hints. */
export const NS_HINTS = "urn:xmpp:hints";
/** XEP-0085 chat state notifications. */
export const NS_CHATSTATES = "http://jabber.org/protocol/chatstates";

/** What {@linkcode OfflineMessages.store} did with a message. */
export type OfflineOutcome =
  /** Kept for later delivery. */
  | "stored"
  /** The account holds its quota already: nothing stored. */
  | "full"
  /** Not worth keeping (a bare chat state): dropped silently. */
  | "dropped"
  /** The sender asked not to store it (XEP-0334 `<no-store/>`): nothing stored. */
  | "refused";

/** Options of {@linkcode OfflineMessages}. */
export interface OfflineMessagesOptions {
  /** The served domain: the `from` of the `<delay/>` stamps. */
  domain: string;
  /** Where messages are kept. */
  store: ImStore;
  /** Wall-clock milliseconds since the epoch, for the stamps. @default {Date.now} */
  wallClock?: () => number;
}

/**
 * Stores messages for accounts that are offline and gives them back with a
 * `<delay xmlns='urn:xmpp:delay' from='domain' stamp='…'/>`.
 *
 * @example Usage
 * ```ts
 * import { OfflineMessages } from "./offline.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const offline = new OfflineMessages({ domain: "example.com", store: new MemoryImStore(),
 *   wallClock: () => Date.UTC(2002, 8, 10, 23, 8, 25) });
 * const message = el("message", { xmlns: "jabber:client", from: "romeo@example.net/orchard",
 *   to: "juliet@example.com", type: "chat" }, el("body", {}, "Wherefore art thou?"));
 * assert.equal(await offline.store("juliet", message), "stored");
 * const [back] = await offline.take("juliet");
 * assert.equal(back?.getChildText("body"), "Wherefore art thou?");
 * assert.equal(back?.getChild("delay", "urn:xmpp:delay")?.attrs.stamp, "2002-09-10T23:08:25.000Z");
 * ```
 */
export class OfflineMessages {
  #domain: string;
  #store: ImStore;
  #wallClock: () => number;
  #parser = new StanzaParser();
  #encoder = new TextEncoder();

  /** @param options The domain, the store and the clock. */
  constructor(options: OfflineMessagesOptions) {
    this.#domain = options.domain;
    this.#store = options.store;
    this.#wallClock = options.wallClock ?? Date.now;
  }

  /**
   * Keeps a message for an account unless it is not worth keeping or the
   * account's quota is full. The caller has already decided the message is
   * of type `normal` or `chat` and that no resource can take it now.
   *
   * @param username The recipient's localpart.
   * @param message The message, `from` stamped.
   * @param maxMessages The account's quota, this message included; the
   * store's own limit when `undefined`.
   * @returns What happened to the message.
   *
   * @example Usage
   * ```ts
   * import { OfflineMessages } from "./offline.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import { el } from "../xml/element.ts";
   * import assert from "node:assert/strict";
   *
   * const offline = new OfflineMessages({ domain: "example.com", store: new MemoryImStore() });
   * const hi = el("message", { xmlns: "jabber:client", to: "juliet@example.com" }, el("body", {}, "hi"));
   * assert.equal(await offline.store("juliet", hi, 1), "stored");
   * assert.equal(await offline.store("juliet", hi, 1), "full");
   * const typing = el("message", { xmlns: "jabber:client", to: "juliet@example.com" },
   *   el("composing", { xmlns: "http://jabber.org/protocol/chatstates" }));
   * assert.equal(await offline.store("juliet", typing), "dropped");
   * ```
   */
  async store(
    username: string,
    message: Element,
    maxMessages?: number,
  ): Promise<OfflineOutcome> {
    // XEP-0334: the sender asked for no storage.
    if (
      message.getChild("no-store", NS_HINTS) !== undefined ||
      message.getChild("no-permanent-store", NS_HINTS) !== undefined
    ) {
      return "refused";
    }
    // A chat state alone (XEP-0085 §5.5) means nothing hours later.
    if (
      message.getChild("body") === undefined && message.getChild("subject") === undefined &&
      message.elements().some((child) => child.ns === NS_CHATSTATES)
    ) {
      return "dropped";
    }
    // A quota of 0 (offline storage off): no store transaction per message.
    if (maxMessages === 0) return "full";
    const stamp = Math.trunc(this.#wallClock());
    const stored = await this.#store.addOffline(
      username,
      { stamp, stanza: serialize(message) },
      maxMessages === undefined ? {} : { maxMessages },
    );
    return stored ? "stored" : "full";
  }

  /**
   * Removes and returns every stored message of an account, oldest first,
   * each with a `<delay/>` carrying the time it was stored. Taking and
   * deleting are one store transaction.
   *
   * @param username The recipient's localpart.
   * @returns The messages, ready to send.
   *
   * @example Usage
   * ```ts
   * import { OfflineMessages } from "./offline.ts";
   * import { MemoryImStore } from "../storage/memory_im_store.ts";
   * import assert from "node:assert/strict";
   *
   * const offline = new OfflineMessages({ domain: "example.com", store: new MemoryImStore() });
   * assert.deepEqual(await offline.take("juliet"), []);
   * ```
   */
  async take(username: string): Promise<Element[]> {
    const stored = await this.#store.takeOffline(username);
    const messages: Element[] = [];
    for (const entry of stored) {
      let message: Element;
      try {
        message = this.#parser.parse(this.#encoder.encode(entry.stanza), EMPTY_NAMESPACE_CONTEXT);
      } catch {
        // Written by store() from a parsed stanza, so this cannot happen unless the
        // database was edited by hand; such a row is skipped rather than delivered half.
        continue;
      }
      message.append(
        el("delay", {
          xmlns: NS_DELAY,
          from: this.#domain,
          stamp: new Date(entry.stamp).toISOString(),
        }),
      );
      messages.push(message);
    }
    return messages;
  }
}
