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

/**
 * Answers disco#info and disco#items addressed to the server.
 *
 * @param iq The registry to add the handlers to.
 * @param info What to announce.
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
export function registerDisco(iq: IqRegistry, info: DiscoInfo): Disposable {
  const stack = new DisposableStack();
  // XEP-0030 §7: the server has no nodes, so a request naming one is for an entity that
  // does not exist (item-not-found), not for the root.
  stack.use(iq.set("host", "get", NS_DISCO_INFO, "query", (request) => {
    if (request.payload.attrs.node !== undefined) return unknownNode();
    return info.toElement();
  }));
  stack.use(iq.set("host", "get", NS_DISCO_ITEMS, "query", (request) => {
    if (request.payload.attrs.node !== undefined) return unknownNode();
    return el("query", { xmlns: NS_DISCO_ITEMS });
  }));
  return stack;
}

function unknownNode(): StanzaError {
  return new StanzaError("cancel", "item-not-found");
}
