/**
 * XEP-0054 vcard-temp: an account stores its vCard on the server (up to the
 * IM store's `maxVcardBytes`), and anyone may read it from the account's
 * bare JID.
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import type { ImStore } from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { serialize } from "../xml/serialize.ts";
import { EMPTY_NAMESPACE_CONTEXT, StanzaParser } from "../xml/stanza_parser.ts";
import type { DiscoInfo } from "./disco.ts";

/** The XEP-0054 namespace. */
export const NS_VCARD = "vcard-temp";

const PARSER = new StanzaParser();
const ENCODER = new TextEncoder();

/**
 * Parses XML the server stored earlier (a vCard, a PEP payload).
 *
 * @param xml One serialized element.
 * @returns The element.
 * @throws {SyntaxError} If the text is not one well-formed element.
 *
 * @example Usage
 * ```ts
 * import { parseStored } from "./vcard.ts";
 * import assert from "node:assert/strict";
 *
 * const vcard = parseStored(`<vCard xmlns="vcard-temp"><FN>Juliet</FN></vCard>`);
 * assert.equal(vcard.ns, "vcard-temp");
 * assert.equal(vcard.getChildText("FN"), "Juliet");
 * ```
 */
export function parseStored(xml: string): Element {
  return PARSER.parse(ENCODER.encode(xml), EMPTY_NAMESPACE_CONTEXT);
}

/**
 * The vcard-temp service: `<vCard/>` get and set on the account itself,
 * get on other local accounts, and the `vcard-temp` server feature.
 *
 * @example Usage
 * ```ts
 * import { VcardService } from "./vcard.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * const iq = new IqRegistry();
 * new VcardService(() => store).registerAccount(iq);
 * const set = el("iq", { xmlns: "jabber:client", type: "set", id: "v1", from: "juliet@x/r" },
 *   el("vCard", { xmlns: "vcard-temp" }, el("FN", {}, "Juliet")));
 * assert.equal((await iq.handle("account", set, "juliet@x"))?.attrs.type, "result");
 * assert.match((await store.getVcard("juliet"))!, /<FN>Juliet<\/FN>/);
 * ```
 */
export class VcardService {
  #store: () => ImStore;

  /** @param store The IM store (a function, since the store opens at start). */
  constructor(store: () => ImStore) {
    this.#store = store;
  }

  /**
   * Registers get and set on the account's own vCard.
   *
   * @param iq The server's registry.
   * @param disco When given, `vcard-temp` is announced there.
   * @returns A disposable that removes them.
   */
  registerAccount(iq: IqRegistry, disco?: DiscoInfo): Disposable {
    const stack = new DisposableStack();
    stack.use(iq.set("account", "get", NS_VCARD, "vCard", (request) => this.#get(request)));
    stack.use(iq.set("account", "set", NS_VCARD, "vCard", (request) => this.#set(request)));
    if (disco !== undefined) stack.use(disco.addFeature(NS_VCARD));
    return stack;
  }

  /**
   * Registers get on another account's vCard, in the registry of IQs to
   * other local accounts (`to` is that account's bare JID).
   *
   * @param peer That registry, keyed as scope `account`.
   * @returns A disposable that removes the handler.
   */
  registerPeer(peer: IqRegistry): Disposable {
    return peer.set("account", "get", NS_VCARD, "vCard", (request) => this.#get(request));
  }

  async #get(request: IqRequest): Promise<Element> {
    const owner = Jid.parse(request.to);
    const stored = await this.#store().getVcard(owner.local!);
    // XEP-0054 §3.1: no vCard is an empty one.
    return stored === undefined ? el("vCard", { xmlns: NS_VCARD }) : parseStored(stored);
  }

  async #set(request: IqRequest): Promise<undefined | StanzaError> {
    const owner = Jid.parse(request.to);
    const username = owner.local!;
    const store = this.#store();
    if (request.payload.children.length === 0) {
      await store.removeVcard(username);
      return undefined;
    }
    if (await store.putVcard(username, serialize(request.payload))) return undefined;
    return new StanzaError("modify", "not-acceptable", {
      text: `A vCard may take at most ${store.limits.maxVcardBytes} bytes`,
    });
  }
}
