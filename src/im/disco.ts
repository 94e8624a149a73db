/**
 * XEP-0030 service discovery for the server itself.
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import type { IqRegistry } from "../routing/iq_registry.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from "../xml/ns.ts";

/** An identity announced in disco#info. */
export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

/**
 * The features and identities the server announces. Features register
 * themselves here when they are switched on, so disco never claims what the
 * server does not do.
 *
 * @example Usage
 * ```ts
 * import { DiscoInfo } from "./disco.ts";
 * import assert from "node:assert/strict";
 *
 * const disco = new DiscoInfo({ category: "server", type: "im" });
 * const ping = disco.addFeature("urn:xmpp:ping");
 * assert.equal(disco.toElement().getChildren("feature").length, 3);
 * ping[Symbol.dispose]();
 * assert.equal(disco.toElement().getChildren("feature").length, 2);
 * ```
 */
export class DiscoInfo {
  #identities: DiscoIdentity[];
  // Feature to the number of live registrations; disco#info and disco#items are permanent.
  #features = new Map<string, number>([[NS_DISCO_INFO, 1], [NS_DISCO_ITEMS, 1]]);

  /** @param identities The server's identities. */
  constructor(...identities: DiscoIdentity[]) {
    this.#identities = identities;
  }

  /**
   * Announces a feature namespace until the result is disposed. A feature
   * added by several registrations stays until the last one is disposed.
   *
   * @param ns The feature's namespace.
   * @returns A disposable that withdraws this registration; disposing twice is harmless.
   */
  addFeature(ns: string): Disposable {
    const features = this.#features;
    features.set(ns, (features.get(ns) ?? 0) + 1);
    let active = true;
    return {
      [Symbol.dispose]() {
        if (!active) return;
        active = false;
        const count = features.get(ns) ?? 0;
        if (count <= 1) features.delete(ns);
        else features.set(ns, count - 1);
      },
    };
  }

  /** The disco#info `<query/>` payload. */
  toElement(): Element {
    return el(
      "query",
      { xmlns: NS_DISCO_INFO },
      ...this.#identities.map((identity) =>
        el("identity", { category: identity.category, type: identity.type, name: identity.name })
      ),
      ...[...this.#features.keys()].sort().map((feature) => el("feature", { var: feature })),
    );
  }
}

/** An item announced in disco#items (XEP-0030 §4): a service or a node. */
export interface DiscoItem {
  /** The item's address. */
  jid: string;
  /** The node at that address, if the item is one. */
  node?: string;
  /** A human-readable name. */
  name?: string;
}

/**
 * The items the server lists in disco#items (its services, e.g. a MUC
 * component). Like features, items come and go with the services.
 *
 * @example Usage
 * ```ts
 * import { DiscoItems } from "./disco.ts";
 * import assert from "node:assert/strict";
 *
 * const items = new DiscoItems();
 * const muc = items.add({ jid: "conference.x", name: "Chatrooms" });
 * assert.equal(items.toElement().getChildren("item").length, 1);
 * muc[Symbol.dispose]();
 * assert.equal(items.toElement().getChildren("item").length, 0);
 * ```
 */
export class DiscoItems {
  #items: DiscoItem[] = [];

  /**
   * Lists an item until the result is disposed.
   *
   * @param item The item.
   * @returns A disposable that removes it; disposing twice is harmless.
   */
  add(item: DiscoItem): Disposable {
    const entry = { ...item };
    this.#items.push(entry);
    return {
      [Symbol.dispose]: () => {
        const index = this.#items.indexOf(entry);
        if (index !== -1) this.#items.splice(index, 1);
      },
    };
  }

  /** The disco#items `<query/>` payload, items in the order they were added. */
  toElement(): Element {
    return el(
      "query",
      { xmlns: NS_DISCO_ITEMS },
      ...this.#items.map((item) => el("item", { jid: item.jid, node: item.node, name: item.name })),
    );
  }
}

/**
 * Answers disco#info and disco#items addressed to the server.
 *
 * @param iq The registry to add the handlers to.
 * @param info What to announce.
 * @param items The items to list. @default {no items}
 * @returns A disposable that removes the handlers.
 *
 * @example Usage
 * ```ts
 * import { DiscoInfo, registerDisco } from "./disco.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = new IqRegistry();
 * using _disco = registerDisco(iq, new DiscoInfo({ category: "server", type: "im" }));
 * const request = el("iq", { xmlns: "jabber:client", type: "get", id: "d", from: "a@x/r" },
 *   el("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
 * const reply = await iq.handle("host", request, "x");
 * assert.equal(reply?.getChild("query")?.getChild("identity")?.attrs.type, "im");
 * ```
 */
export function registerDisco(
  iq: IqRegistry,
  info: DiscoInfo,
  items: DiscoItems = new DiscoItems(),
): Disposable {
  const stack = new DisposableStack();
  // XEP-0030 §7: the server has no nodes, so a request naming one is for an entity that
  // does not exist (item-not-found), not for the root.
  stack.use(iq.set("host", "get", NS_DISCO_INFO, "query", (request) => {
    if (request.payload.attrs.node !== undefined) return unknownNode();
    return info.toElement();
  }));
  stack.use(iq.set("host", "get", NS_DISCO_ITEMS, "query", (request) => {
    if (request.payload.attrs.node !== undefined) return unknownNode();
    return items.toElement();
  }));
  return stack;
}

function unknownNode(): StanzaError {
  return new StanzaError("cancel", "item-not-found");
}
