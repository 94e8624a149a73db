/**
 * The XEP-0124 `<body/>` wrapper: reading a request's attributes and the raw
 * bytes of its payload, and writing a response. The payload is not parsed
 * here: its bytes go to the session's own stream parser, which applies the
 * stanza size and structure limits to each stanza exactly as on TCP.
 *
 * @module
 */

import type { Element } from "../xml/element.ts";
import { escapeAttr } from "../xml/serialize.ts";
import { EMPTY_NAMESPACE_CONTEXT, StanzaParser } from "../xml/stanza_parser.ts";

/** XEP-0124 §4: the namespace of `<body/>`. */
export const NS_HTTPBIND = "http://jabber.org/protocol/httpbind";
/** XEP-0206 §4: the namespace of the `xmpp:` attributes on `<body/>`. */
export const NS_XBOSH = "urn:xmpp:xbosh";

/** A request `<body/>`, taken apart. */
export interface BoshRequestBody {
  /**
   * Its attributes; prefixed ones keep their prefix as written
   * (`xmpp:restart`, `xml:lang`).
   */
  attrs: Record<string, string>;
  /** The bytes between the start and end tags (empty for `<body/>`). */
  payload: Uint8Array;
}

/** The longest start tag accepted; real ones are a few hundred bytes. */
const MAX_START_TAG = 4096;
const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUESTION = 0x3f;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

const parser = new StanzaParser();
const decoder = new TextDecoder("utf-8", { fatal: true });

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function skipSpace(bytes: Uint8Array, at: number): number {
  while (at < bytes.length && isSpace(bytes[at]!)) at++;
  return at;
}

/** Index of the `>` ending the tag that starts at `start`, outside quoted values; -1 if none. */
function tagEnd(bytes: Uint8Array, start: number, limit: number): number {
  let quote = 0;
  for (let i = start + 1; i < limit; i++) {
    const byte = bytes[i]!;
    if (quote !== 0) {
      if (byte === quote) quote = 0;
    } else if (byte === QUOTE || byte === APOSTROPHE) {
      quote = byte;
    } else if (byte === GT) {
      return i;
    } else if (byte === LT) {
      return -1;
    }
  }
  return -1;
}

function fail(reason: string): never {
  throw new SyntaxError(`Cannot parse BOSH body: ${reason}`);
}

/**
 * Splits a request into the `<body/>` attributes and the payload bytes. An
 * XML declaration may precede the body; nothing but whitespace may follow it.
 *
 * @param bytes The whole HTTP request body.
 * @returns The attributes and the payload (a view into `bytes`).
 * @throws {SyntaxError} If the text is not one `<body/>` element in the
 * `http://jabber.org/protocol/httpbind` namespace.
 *
 * @example Usage
 * ```ts
 * import { parseBoshBody } from "./bosh_body.ts";
 * import assert from "node:assert/strict";
 *
 * const body = parseBoshBody(new TextEncoder().encode(
 *   "<body rid='42' sid='s1' xmlns='http://jabber.org/protocol/httpbind'>" +
 *     "<presence xmlns='jabber:client'/></body>",
 * ));
 * assert.deepEqual(body.attrs, { rid: "42", sid: "s1" });
 * assert.equal(new TextDecoder().decode(body.payload), "<presence xmlns='jabber:client'/>");
 * assert.throws(() => parseBoshBody(new TextEncoder().encode("<iq/>")), SyntaxError);
 * ```
 */
export function parseBoshBody(bytes: Uint8Array): BoshRequestBody {
  const { head, start, end } = startTag(bytes);
  if (bytes[end - 1] === SLASH) {
    if (skipSpace(bytes, end + 1) !== bytes.length) fail("content after <body/>");
    return { attrs: head.attrs, payload: bytes.subarray(end + 1, end + 1) };
  }
  // The end tag repeats the start tag's qualified name (a prefix is allowed).
  let nameEnd = start + 1;
  while (nameEnd < end && !isSpace(bytes[nameEnd]!) && bytes[nameEnd] !== SLASH) nameEnd++;
  const qname = decoder.decode(bytes.subarray(start + 1, nameEnd));
  let close = bytes.length;
  while (close > end && isSpace(bytes[close - 1]!)) close--;
  if (bytes[close - 1] !== GT) fail(`expected </${qname}> at the end`);
  const tail = bytes.lastIndexOf(LT, close - 1);
  if (tail <= end || bytes[tail + 1] !== SLASH) fail(`expected </${qname}> at the end`);
  const closing = decoder.decode(bytes.subarray(tail + 2, close - 1)).trimEnd();
  if (closing !== qname) fail(`expected </${qname}> at the end`);
  return { attrs: head.attrs, payload: bytes.subarray(end + 1, tail) };
}

/**
 * Reads only the attributes of a request's `<body>` start tag, for a body too
 * large to take whole (its session, if any, is told why it ends).
 *
 * @param bytes The first bytes of the request body.
 * @returns The attributes, or `undefined` if they do not start with a `<body>` tag.
 *
 * @example Usage
 * ```ts
 * import { readBoshAttributes } from "./bosh_body.ts";
 * import assert from "node:assert/strict";
 *
 * const head = new TextEncoder().encode(
 *   "<body rid='7' sid='s1' xmlns='http://jabber.org/protocol/httpbind'><message xmlns='jabb",
 * );
 * assert.deepEqual(readBoshAttributes(head), { rid: "7", sid: "s1" });
 * assert.equal(readBoshAttributes(new TextEncoder().encode("<body rid='7")), undefined);
 * ```
 */
export function readBoshAttributes(bytes: Uint8Array): Record<string, string> | undefined {
  try {
    return startTag(bytes).head.attrs;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function startTag(bytes: Uint8Array): { head: Element; start: number; end: number } {
  let start = skipSpace(bytes, 0);
  if (bytes[start] === LT && bytes[start + 1] === QUESTION) {
    const declarationEnd = tagEnd(bytes, start, Math.min(bytes.length, start + 512));
    if (declarationEnd < 0 || bytes[declarationEnd - 1] !== QUESTION) fail("bad XML declaration");
    start = skipSpace(bytes, declarationEnd + 1);
  }
  if (bytes[start] !== LT) fail("expected <body>");
  const end = tagEnd(bytes, start, Math.min(bytes.length, start + MAX_START_TAG));
  if (end < 0) fail(`no start tag within ${MAX_START_TAG} bytes`);
  let head;
  try {
    head = parser.parseHead(bytes.subarray(start, end + 1), EMPTY_NAMESPACE_CONTEXT);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (!head.is("body", NS_HTTPBIND)) fail(`expected <body xmlns='${NS_HTTPBIND}'>`);
  return { head, start, end };
}

/**
 * Writes a response `<body/>` with the given attributes around payload text
 * that is already serialised.
 *
 * @param attrs Attributes in order (`undefined` values are left out); write
 *   `xmlns:xmpp`/`xmlns:stream` declarations here when the payload or the
 *   attributes need them.
 * @param payload Stanzas and nonzas, each with its namespaces declared.
 * @returns The XML text of the response.
 *
 * @example Usage
 * ```ts
 * import { boshBody } from "./bosh_body.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(boshBody({ type: "terminate", condition: "item-not-found" }, ""),
 *   `<body xmlns="http://jabber.org/protocol/httpbind" type="terminate" condition="item-not-found"/>`);
 * ```
 */
export function boshBody(attrs: Record<string, string | undefined>, payload: string): string {
  let out = `<body xmlns="${NS_HTTPBIND}"`;
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined) out += " " + key + '="' + escapeAttr(value) + '"';
  }
  return payload === "" ? out + "/>" : out + ">" + payload + "</body>";
}
