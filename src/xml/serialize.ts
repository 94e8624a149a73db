/**
 * Turns elements into XML text for the wire. Namespaces are written only
 * where an element's namespace differs from its parent's; the stream
 * namespace uses the `stream:` prefix that the stream header declares.
 *
 * @module
 */

import type { Element } from "./element.ts";
import { NS_STREAMS } from "./ns.ts";

const TEXT_SPECIAL_REGEXP = /[&<>\r]/;
const ATTR_SPECIAL_REGEXP = /[&<>"'\t\n\r]/;

/**
 * Escapes character data for use between tags. A carriage return is written
 * as `&#13;`: a parser turns a literal one into a line feed (XML 1.0 §2.11).
 *
 * @example Usage
 * ```ts
 * import { escapeText } from "./serialize.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeText("a < b & c"), "a &lt; b &amp; c");
 * ```
 */
export function escapeText(text: string): string {
  if (!TEXT_SPECIAL_REGEXP.test(text)) return text;
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll("\r", "&#13;");
}

/**
 * Escapes an attribute value for use inside single or double quotes. Tabs and
 * line breaks become character references, since a parser would otherwise
 * normalise them to spaces (XML 1.0 §3.3.3).
 *
 * @example Usage
 * ```ts
 * import { escapeAttr } from "./serialize.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeAttr(`it's "x"`), "it&apos;s &quot;x&quot;");
 * ```
 */
export function escapeAttr(value: string): string {
  if (!ATTR_SPECIAL_REGEXP.test(value)) return value;
  return escapeText(value).replaceAll('"', "&quot;").replaceAll("'", "&apos;")
    .replaceAll("\t", "&#9;").replaceAll("\n", "&#10;");
}

/**
 * Serialises an element. `parentNs` is the namespace in scope where the
 * element is written (on a client stream, `jabber:client`); elements in the
 * stream namespace are written with the `stream:` prefix.
 *
 * @param element The element to write.
 * @param parentNs The default namespace in scope; `undefined` writes every namespace.
 * @returns The XML text.
 *
 * @example Usage
 * ```ts
 * import { el } from "./element.ts";
 * import { serialize } from "./serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const message = el("message", { xmlns: "jabber:client", to: "a@b" },
 *   el("body", {}, "1 < 2"));
 * assert.equal(serialize(message, "jabber:client"),
 *   `<message to="a@b"><body>1 &lt; 2</body></message>`);
 * ```
 */
export function serialize(element: Element, parentNs?: string): string {
  return write(element, parentNs);
}

function write(element: Element, parentNs: string | undefined): string {
  const ns = element.ns ?? parentNs;
  let out: string;
  let nsInScope = parentNs;
  if (ns === NS_STREAMS) {
    out = "<stream:" + element.name;
  } else {
    out = "<" + element.name;
    if (ns !== undefined && ns !== parentNs) {
      out += ' xmlns="' + escapeAttr(ns) + '"';
    }
    nsInScope = ns;
  }
  const attrs = element.attrs;
  for (const key in attrs) out += " " + key + '="' + escapeAttr(attrs[key]!) + '"';
  const children = element.children;
  if (children.length === 0) return out + "/>";
  out += ">";
  for (const child of children) {
    out += typeof child === "string" ? escapeText(child) : write(child, nsInScope);
  }
  return out + (ns === NS_STREAMS ? "</stream:" : "</") + element.name + ">";
}

/** Attributes of an opening stream header. */
export interface StreamHeaderOptions {
  /** The default content namespace, e.g. `jabber:client`. */
  contentNs: string;
  /** The `from` attribute: the server's domain. */
  from?: string | undefined;
  /** The `to` attribute, when known. */
  to?: string | undefined;
  /** The stream id. */
  id?: string | undefined;
  /** The `xml:lang` attribute. */
  lang?: string | undefined;
}

/**
 * Writes the XML declaration and an opening `<stream:stream>` tag
 * (RFC 6120 §4.7), version 1.0.
 *
 * @example Usage
 * ```ts
 * import { streamHeader } from "./serialize.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(streamHeader({ contentNs: "jabber:client", from: "example.org", id: "s1" }),
 *   `<?xml version="1.0"?><stream:stream xmlns="jabber:client" ` +
 *   `xmlns:stream="http://etherx.jabber.org/streams" from="example.org" id="s1" version="1.0">`);
 * ```
 */
export function streamHeader(options: StreamHeaderOptions): string {
  let out = '<?xml version="1.0"?><stream:stream xmlns="' + escapeAttr(options.contentNs) +
    '" xmlns:stream="' + NS_STREAMS + '"';
  if (options.from !== undefined) out += ' from="' + escapeAttr(options.from) + '"';
  if (options.to !== undefined) out += ' to="' + escapeAttr(options.to) + '"';
  if (options.id !== undefined) out += ' id="' + escapeAttr(options.id) + '"';
  if (options.lang !== undefined) out += ' xml:lang="' + escapeAttr(options.lang) + '"';
  return out + ' version="1.0">';
}

/** The closing stream tag. */
export const STREAM_CLOSE = "</stream:stream>";
