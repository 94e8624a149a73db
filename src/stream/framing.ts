/**
 * How a client stream is framed on its transport: one RFC 6120
 * `<stream:stream>` document (TCP, TLS), or RFC 7395 fragments where every
 * top-level element stands alone and `<open/>`/`<close/>` replace the stream
 * tags (WebSocket, and BOSH bodies). The session writes its open, close and
 * stanzas through a {@linkcode Framing} and never needs to know which.
 *
 * @module
 */

import type { Transport } from "../transport/transport.ts";
import type { Element } from "../xml/element.ts";
import { NS_CLIENT, NS_STREAMS } from "../xml/ns.ts";
import { escapeAttr, serialize, STREAM_CLOSE, streamHeader } from "../xml/serialize.ts";
import type { StreamFraming, StreamParserHandler } from "../xml/stream_parser.ts";

/** RFC 7395 §3.3.2: the namespace of `<open/>` and `<close/>`. */
export const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";

/** Attributes of the server's stream open. */
export interface StreamOpenAttributes {
  /** The server's domain. */
  from: string;
  /** The client's `from`, echoed back (RFC 6120 §4.7.2). */
  to: string | undefined;
  /** The stream id. */
  id: string;
}

/** Writes one stream in a given framing. */
export interface Framing {
  /** The parser framing incoming bytes need. */
  readonly parser: StreamFraming;
  /**
   * Serialises a stanza or nonza for the wire: in the stream's default
   * namespace for `"stream"`, with every namespace declared on the element
   * itself for `"fragments"` (RFC 7395 §3.3.3).
   */
  serialize(element: Element): string;
  /** Writes the server's stream open (`<stream:stream>` or `<open/>`). */
  open(transport: Transport, attributes: StreamOpenAttributes): void;
  /** Writes an optional `<stream:error/>`, then the stream close. */
  close(transport: Transport, error: Element | undefined): void;
  /**
   * Adapts parser events to the session: with fragments, `<open/>` becomes
   * `streamStart` and `<close/>` becomes `streamEnd`.
   */
  events(handler: StreamParserHandler): StreamParserHandler;
}

/** A transport that frames streams its own way (BOSH wraps them in `<body/>`). */
export interface FramedTransport extends Transport {
  /** The framing the session must use on this transport. */
  readonly framing: Framing;
}

const STREAM_PREFIX_DECLARATION = ' xmlns:stream="' + NS_STREAMS + '"';
const FRAMING_CLOSE = `<close xmlns="${NS_FRAMING}"/>`;

/**
 * Serialises a top-level element with its namespaces declared on itself, as
 * RFC 7395 wants for every WebSocket message: the content namespace as
 * `xmlns`, and `xmlns:stream` on elements in the stream namespace.
 *
 * @param element The element to write.
 * @returns The XML text.
 *
 * @example Usage
 * ```ts
 * import { serializeFragment } from "./framing.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(serializeFragment(el("presence", { xmlns: "jabber:client" })),
 *   `<presence xmlns="jabber:client"/>`);
 * assert.equal(serializeFragment(el("features", { xmlns: "http://etherx.jabber.org/streams" })),
 *   `<stream:features xmlns:stream="http://etherx.jabber.org/streams"/>`);
 * ```
 */
export function serializeFragment(element: Element): string {
  const text = serialize(element);
  if (element.ns !== NS_STREAMS) return text;
  // serialize() writes the stream prefix without declaring it: the stream header would.
  const head = 8 + element.name.length; // "<stream:" + name
  return text.slice(0, head) + STREAM_PREFIX_DECLARATION + text.slice(head);
}

function wrapFragmentEvents(handler: StreamParserHandler): StreamParserHandler {
  return {
    streamStart: (header) => handler.streamStart(header),
    stanza(element, bytes) {
      if (element.ns === NS_FRAMING) {
        if (element.name === "open") return handler.streamStart(element);
        if (element.name === "close") return handler.streamEnd();
      }
      handler.stanza(element, bytes);
    },
    oversizedStanza: (head, bytes) => handler.oversizedStanza(head, bytes),
    streamEnd: () => handler.streamEnd(),
    error: (error) => handler.error(error),
  };
}

/**
 * RFC 6120 framing: an XML declaration and `<stream:stream>`, stanzas in the
 * `jabber:client` default namespace, `</stream:stream>` at the end.
 *
 * @example Usage
 * ```ts
 * import { STREAM_FRAMING } from "./framing.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(STREAM_FRAMING.parser, "stream");
 * assert.equal(STREAM_FRAMING.serialize(el("presence", { xmlns: "jabber:client" })), "<presence/>");
 * ```
 */
export const STREAM_FRAMING: Framing = Object.freeze({
  parser: "stream",
  serialize(element: Element): string {
    return serialize(element, NS_CLIENT);
  },
  open(transport: Transport, attributes: StreamOpenAttributes): void {
    transport.write(streamHeader({ contentNs: NS_CLIENT, ...attributes }));
  },
  close(transport: Transport, error: Element | undefined): void {
    transport.write(
      error === undefined ? STREAM_CLOSE : serialize(error, NS_CLIENT) + STREAM_CLOSE,
    );
  },
  events(handler: StreamParserHandler): StreamParserHandler {
    return handler;
  },
});

/**
 * RFC 7395 framing: `<open/>`, then one self-contained element per write (each
 * becomes one WebSocket message), `<close/>` at the end; a stream error is its
 * own message before the close (RFC 7395 §3.6).
 *
 * @example Usage
 * ```ts
 * import { FRAGMENT_FRAMING } from "./framing.ts";
 * import { createMemoryTransport } from "../transport/memory.ts";
 * import assert from "node:assert/strict";
 *
 * const { transport, peer } = createMemoryTransport({ type: "websocket" });
 * FRAGMENT_FRAMING.open(transport, { from: "example.org", to: undefined, id: "s1" });
 * FRAGMENT_FRAMING.close(transport, undefined);
 * assert.equal(peer.read(),
 *   `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="example.org" id="s1" version="1.0"/>` +
 *   `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);
 * ```
 */
export const FRAGMENT_FRAMING: Framing = Object.freeze({
  parser: "fragments",
  serialize: serializeFragment,
  open(transport: Transport, attributes: StreamOpenAttributes): void {
    let out = `<open xmlns="${NS_FRAMING}" from="${escapeAttr(attributes.from)}"`;
    if (attributes.to !== undefined) out += ` to="${escapeAttr(attributes.to)}"`;
    transport.write(out + ` id="${escapeAttr(attributes.id)}" version="1.0"/>`);
  },
  close(transport: Transport, error: Element | undefined): void {
    if (error !== undefined) transport.write(serializeFragment(error));
    transport.write(FRAMING_CLOSE);
  },
  events: wrapFragmentEvents,
});

/**
 * The framing a session uses on `transport`: the transport's own when it has
 * one (BOSH), RFC 7395 fragments for WebSocket and BOSH, else RFC 6120.
 *
 * @param transport The connection the session runs over.
 * @returns The framing to read and write the stream with.
 *
 * @example Usage
 * ```ts
 * import { FRAGMENT_FRAMING, framingFor, STREAM_FRAMING } from "./framing.ts";
 * import { createMemoryTransport } from "../transport/memory.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(framingFor(createMemoryTransport().transport), STREAM_FRAMING);
 * assert.equal(framingFor(createMemoryTransport({ type: "websocket" }).transport), FRAGMENT_FRAMING);
 * ```
 */
export function framingFor(transport: Transport): Framing {
  const own = (transport as Partial<FramedTransport>).framing;
  if (own !== undefined) return own;
  return transport.type === "websocket" || transport.type === "bosh"
    ? FRAGMENT_FRAMING
    : STREAM_FRAMING;
}
