/**
 * The server's {@linkcode XmlStreamParser}: a per-connection
 * {@linkcode Framer} that cuts bytes into stream header, stanzas and end, and
 * one shared {@linkcode StanzaParser} that turns each piece into an
 * {@linkcode Element}. Per-connection state is the framer's counters, the
 * stream's namespace context and, only while a stanza spans chunks, its bytes.
 *
 * @module
 */

import { Framer, type FramerSink } from "./framer.ts";
import { NS_STREAMS } from "./ns.ts";
import {
  type ElementParser,
  EMPTY_NAMESPACE_CONTEXT,
  type NamespaceContext,
  StanzaParser,
  StanzaSyntaxError,
} from "./stanza_parser.ts";
import type {
  ParseError,
  ParseErrorCondition,
  ParserLimits,
  StreamFraming,
  StreamParserHandler,
  XmlStreamParser,
} from "./stream_parser.ts";

/** Options for {@linkcode createStreamParser}. */
export interface StreamParserOptions {
  /** The caps to enforce; replace them later with `setLimits`. */
  limits: ParserLimits;
  /**
   * `"stream"` (RFC 6120 TCP: one `<stream:stream>` root) or `"fragments"`
   * (RFC 7395 WebSocket: each top-level element, `<open/>` and `<close/>`
   * included, is a stanza with its namespaces declared on itself).
   *
   * @default {"stream"}
   */
  framing?: StreamFraming;
  /**
   * The stanza-parsing implementation, shared by all streams.
   *
   * @default {new StanzaParser()} (one instance for the whole process)
   */
  elementParser?: ElementParser;
}

const SHARED_PARSER = new StanzaParser();

class Parser implements XmlStreamParser, FramerSink {
  #handler: StreamParserHandler;
  #elements: ElementParser;
  #framer: Framer;
  #context: NamespaceContext = EMPTY_NAMESPACE_CONTEXT;

  constructor(handler: StreamParserHandler, options: StreamParserOptions) {
    this.#handler = handler;
    this.#elements = options.elementParser ?? SHARED_PARSER;
    this.#framer = new Framer(this, options);
  }

  get outstandingBytes(): number {
    return this.#framer.outstandingBytes;
  }

  write(chunk: Uint8Array): void {
    this.#framer.write(chunk);
  }

  reset(): void {
    this.#context = EMPTY_NAMESPACE_CONTEXT;
    this.#framer.reset();
  }

  halt(): void {
    this.#framer.halt();
  }

  setLimits(limits: ParserLimits): void {
    this.#framer.setLimits(limits);
  }

  header(bytes: Uint8Array): void {
    let parsed;
    try {
      parsed = this.#elements.parseHeader(bytes, EMPTY_NAMESPACE_CONTEXT);
    } catch (error) {
      return this.#failed(error);
    }
    const { header, context } = parsed;
    // RFC 6120 §4.9.3.10: a root other than <stream> in the streams namespace.
    if (!header.is("stream", NS_STREAMS)) {
      return this.#fail(
        "invalid-namespace",
        `Cannot open a stream with '${header.name}' in '${header.ns ?? ""}'`,
      );
    }
    this.#context = context;
    this.#handler.streamStart(header);
  }

  stanza(bytes: Uint8Array, size: number): void {
    let element;
    try {
      element = this.#elements.parse(bytes, this.#context);
    } catch (error) {
      return this.#failed(error);
    }
    this.#handler.stanza(element, size);
  }

  oversized(head: Uint8Array, size: number): void {
    let element;
    try {
      element = this.#elements.parseHead(head, this.#context);
    } catch (error) {
      return this.#failed(error);
    }
    this.#handler.oversizedStanza(element, size);
  }

  end(): void {
    this.#handler.streamEnd();
  }

  error(condition: ParseErrorCondition, text: string, appCondition?: string): void {
    const error: ParseError = appCondition === undefined
      ? { condition, text }
      : { condition, text, appCondition };
    this.#handler.error(error);
  }

  #failed(error: unknown): void {
    if (error instanceof StanzaSyntaxError) return this.#fail(error.condition, error.message);
    // A parser bug must not escape as an exception into the connection.
    this.#fail("not-well-formed", `Cannot parse the stanza: ${String(error)}`);
  }

  #fail(condition: ParseErrorCondition, text: string): void {
    this.#framer.halt();
    this.error(condition, text);
  }
}

/**
 * Creates the incremental XML stream parser for one connection.
 *
 * The parser never throws on any input: problems arrive once through
 * `handler.error`, after which input is dropped until `reset()`. A handler
 * that throws halts the parser and the exception propagates from `write()`.
 *
 * @param handler Receives the header, stanzas, oversized stanzas, the end and errors.
 * @param options Limits, framing and the stanza parser.
 * @returns A parser to feed with `write()`.
 * @throws {RangeError} When a limit is not a positive integer, or
 * `maxStanzaBytesHard` is below `maxStanzaBytes`.
 *
 * @example Usage
 * ```ts
 * import { createStreamParser } from "./xml_stream_parser.ts";
 * import type { Element } from "./element.ts";
 * import assert from "node:assert/strict";
 *
 * const stanzas: Element[] = [];
 * let header: Element | undefined;
 * const parser = createStreamParser({
 *   streamStart(h) { header = h; },
 *   stanza(stanza) { stanzas.push(stanza); },
 *   oversizedStanza() {},
 *   streamEnd() {},
 *   error(error) { throw new Error(error.text); },
 * }, {
 *   limits: {
 *     maxStanzaBytes: 10_000, maxStanzaBytesHard: 100_000, maxDepth: 16, maxAttributes: 32,
 *     maxNameLength: 128, maxAttributeValueLength: 4096, maxNamespaceDeclarations: 8,
 *     maxElementsPerStanza: 256,
 *   },
 * });
 * parser.write(new TextEncoder().encode(
 *   "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' " +
 *     "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" +
 *     "<message to='juliet@example.com'><body>Art thou not Romeo? \u{1F339}</body></message>",
 * ));
 * assert.deepEqual(header?.attrs, { to: "example.com", version: "1.0" });
 * assert.equal(stanzas[0]?.ns, "jabber:client");
 * assert.equal(stanzas[0]?.getChildText("body"), "Art thou not Romeo? \u{1F339}");
 * ```
 */
export function createStreamParser(
  handler: StreamParserHandler,
  options: StreamParserOptions,
): XmlStreamParser {
  return new Parser(handler, options);
}
