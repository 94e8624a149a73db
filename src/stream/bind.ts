/**
 * Resource binding (RFC 6120 §7): reading the requested resource and
 * building the result.
 *
 * @module
 */

import { RandomPool } from "../core/random_pool.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_BIND, NS_CLIENT } from "../xml/ns.ts";

/** Characters a server-generated resource is made of. */
const RESOURCE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const RANDOM = new RandomPool();

/**
 * The resource a bind request asks for: a string, `undefined` when the
 * client lets the server choose, or `null` when the request is not a bind
 * request at all.
 *
 * @example Usage
 * ```ts
 * import { requestedResource } from "./bind.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = el("iq", { xmlns: "jabber:client", type: "set", id: "b1" },
 *   el("bind", { xmlns: "urn:ietf:params:xml:ns:xmpp-bind" }, el("resource", {}, "phone")));
 * assert.equal(requestedResource(iq), "phone");
 * ```
 */
export function requestedResource(iq: Element): string | undefined | null {
  if (iq.attrs.type !== "set") return null;
  const bind = iq.getChild("bind", NS_BIND);
  if (bind === undefined) return null;
  const resource = bind.getChildText("resource", NS_BIND);
  return resource === undefined || resource === "" ? undefined : resource;
}

/**
 * A fresh random resource for clients that do not choose one (RFC 6120 §7.6).
 *
 * @example Usage
 * ```ts
 * import { generateResource } from "./bind.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(generateResource(), /^[a-z0-9]{12}$/);
 * ```
 */
export function generateResource(): string {
  const bytes = RANDOM.take(12);
  let out = "";
  for (const byte of bytes) out += RESOURCE_ALPHABET[byte % RESOURCE_ALPHABET.length];
  return out;
}

/**
 * The successful bind result carrying the full JID (RFC 6120 §7.6.1).
 *
 * @example Usage
 * ```ts
 * import { bindResult } from "./bind.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(serialize(bindResult("b1", "a@x/r"), "jabber:client"),
 *   `<iq type="result" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">` +
 *   `<jid>a@x/r</jid></bind></iq>`);
 * ```
 */
export function bindResult(id: string | undefined, fullJid: string): Element {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type: "result", id },
    el("bind", { xmlns: NS_BIND }, el("jid", {}, fullJid)),
  );
}
