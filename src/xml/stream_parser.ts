/**
 * The contract between a connection and the XML stream parser. A stream
 * carries bytes; the parser turns them into a stream header, depth-1 stanzas
 * and an end, or one error that names the RFC 6120 stream error condition.
 *
 * @module
 */

import type { Element } from "./element.ts";

/** Stream error conditions the parser can raise (RFC 6120 §4.9.3). */
export type ParseErrorCondition =
  | "not-well-formed"
  | "restricted-xml"
  | "unsupported-encoding"
  | "policy-violation"
  | "invalid-namespace"
  | "bad-format";

/** A fatal stream-level parse problem. */
export interface ParseError {
  /** The stream error condition to send. */
  condition: ParseErrorCondition;
  /** A `urn:xmpp:errors` application condition, e.g. `stanza-too-big`. */
  appCondition?: string;
  /** Human-readable detail for logs (never sent with secrets). */
  text: string;
}

/** Caps that keep a hostile stream from growing memory. All sizes are bytes. */
export interface ParserLimits {
  /**
   * A stanza over this size is not assembled: its opening tag is kept, its
   * content skipped, and {@linkcode StreamParserHandler.oversizedStanza} fires
   * when it closes. Counted byte-exact, including the stanza's own markup.
   */
  maxStanzaBytes: number;
  /** A stanza still growing past this size is a stream error (`policy-violation` + `stanza-too-big`). */
  maxStanzaBytesHard: number;
  /** Deepest element nesting inside a stanza (the stanza itself is depth 1). */
  maxDepth: number;
  /** Most attributes on one element, namespace declarations included. */
  maxAttributes: number;
  /** Longest element or attribute name (bytes, prefix included). */
  maxNameLength: number;
  /** Longest attribute value (bytes, before entity decoding). */
  maxAttributeValueLength: number;
  /** Most namespace declarations on one element. */
  maxNamespaceDeclarations: number;
  /** Most elements in one stanza, the stanza included. */
  maxElementsPerStanza: number;
}

/** Receives what the parser finds, synchronously, in stream order. */
export interface StreamParserHandler {
  /** The opening stream header (`<stream:stream …>` or the RFC 7395 `<open/>`). */
  streamStart(header: Element): void;
  /** One complete depth-1 element; `bytes` is its exact size on the wire. */
  stanza(stanza: Element, bytes: number): void;
  /**
   * A stanza over {@linkcode ParserLimits.maxStanzaBytes} closed. `head` is
   * its opening tag with attributes and no children.
   */
  oversizedStanza(head: Element, bytes: number): void;
  /** The closing stream tag arrived. */
  streamEnd(): void;
  /** A fatal problem; the parser ignores all input after it until reset. */
  error(error: ParseError): void;
}

/** Framing of the byte stream. */
export type StreamFraming =
  /** RFC 6120: one `<stream:stream>` root whose children are stanzas. */
  | "stream"
  /** RFC 7395 / BOSH bodies: a sequence of complete top-level elements. */
  | "fragments";

/** A per-connection incremental parser. */
export interface XmlStreamParser {
  /** Feeds bytes; chunks may split anywhere, even inside a UTF-8 character. */
  write(chunk: Uint8Array): void;
  /**
   * Starts a new stream (after STARTTLS or SASL success). Called from inside
   * a handler callback, the rest of the current chunk belongs to the new stream.
   */
  reset(): void;
  /** Stops delivering events: the rest of the chunk and later input are dropped until {@linkcode reset}. */
  halt(): void;
  /** Replaces the limits, e.g. when a stream authenticates. */
  setLimits(limits: ParserLimits): void;
  /** Bytes fed since the last completed stanza (Prosody's outstanding bytes). */
  readonly outstandingBytes: number;
}
