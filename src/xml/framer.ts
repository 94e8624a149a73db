/**
 * The byte-level half of the stream parser: one small object per connection
 * that validates UTF-8 and XML characters as bytes arrive, enforces RFC 6120
 * §11.1 restricted XML and every {@linkcode ParserLimits} field byte-exactly,
 * and cuts the stream into a header, depth-1 stanzas and an end. It keeps
 * only the bytes of the stanza in progress, and only when a chunk ends inside
 * one; a stanza that arrives whole is handed on as a view of the chunk.
 *
 * @module
 */

import type { ParseErrorCondition, ParserLimits, StreamFraming } from "./stream_parser.ts";

/** Receives what the framer cuts out; the bytes are only valid during the call. */
export interface FramerSink {
  /** The stream header's opening tag (framing `"stream"`), from `<` to `>`. */
  header(bytes: Uint8Array): void;
  /** One complete depth-1 element and its size on the wire. */
  stanza(bytes: Uint8Array, size: number): void;
  /** A stanza over `maxStanzaBytes` closed: its opening tag and its full size. */
  oversized(head: Uint8Array, size: number): void;
  /** The stream's closing tag arrived (framing `"stream"`). */
  end(): void;
  /** A fatal problem; the framer drops input until {@linkcode Framer.reset}. */
  error(condition: ParseErrorCondition, text: string, appCondition?: string): void;
}

/** Options for {@linkcode Framer}. */
export interface FramerOptions {
  /** The caps to enforce. */
  limits: ParserLimits;
  /**
   * `"stream"` for one `<stream:stream>` root, `"fragments"` for a sequence of
   * top-level elements (RFC 7395).
   *
   * @default {"stream"}
   */
  framing?: StreamFraming;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const AMP = 0x26;
const SEMI = 0x3b;
const HASH = 0x23;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const RSQB = 0x5d;
const LSQB = 0x5b;

// Lexer states.
const S_DATA = 0; // character data; at depth 0 only whitespace
const S_LT = 1; // after '<'
const S_NAME = 2; // element name in an opening tag
const S_TAG = 3; // inside an opening tag, between attributes
const S_ATTR_NAME = 4;
const S_ATTR_EQ = 5; // after an attribute name, before '='
const S_ATTR_QUOTE = 6; // after '=', before the quote
const S_ATTR_VALUE = 7;
const S_SLASH = 8; // after '/' in an opening tag
const S_CLOSE_NAME = 9; // after '</'
const S_CLOSE_END = 10; // after a closing tag's name
const S_ENTITY = 11; // after '&'
const S_BANG = 12; // after '<!', matching "[CDATA["
const S_CDATA = 13;
const S_PI = 14; // after '<?' at the start of a stream, matching "xml "
const S_DECL = 15; // inside the XML declaration

// Stream phases.
const P_PROLOG = 0; // before the stream header
const P_BODY = 1; // inside the stream (or always, for fragments)
const P_END = 2; // after the closing stream tag

// What the bytes since the last '<' at depth 0 belong to.
const U_NONE = 0;
const U_STANZA = 1;
const U_ROOT = 2; // the stream header
const U_CLOSE = 3; // the closing stream tag
const U_DECL = 4; // the XML declaration

// What the scan loop does after a tag ends.
const CONTINUE = 0; // still inside the unit
const DONE = 1; // the unit is complete; carry on with the rest of the chunk
const STOP = 2; // stop scanning (halted, failed or the stream ended)

// Entity reference kinds.
const E_NAME = 0;
const E_NUM = 1; // after "&#"
const E_DEC = 2;
const E_HEX_START = 3; // after "&#x"
const E_HEX = 4;

const CDATA_OPEN = [LSQB, 0x43, 0x44, 0x41, 0x54, 0x41, LSQB]; // "[CDATA["
const XMLNS_COLON = [0x78, 0x6d, 0x6c, 0x6e, 0x73, 0x3a]; // "xmlns:"
const XML = [0x78, 0x6d, 0x6c]; // "xml"
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const MIN_BUFFER = 128;
const MAX_DECLARATION = 512;

/** 1 = name character, 2 = name start character; bytes from 0x80 count as both. */
const NAME_CLASS = buildNameClass();

function buildNameClass(): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0x80; c < 256; c++) table[c] = 2;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 2;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 2;
  table[0x5f] = 2; // _
  table[0x3a] = 2; // :
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  table[0x2d] = 1; // -
  table[0x2e] = 1; // .
  return table;
}

const HIGH_BITS = 0x80808080 | 0;
const MIN_WORD_SCAN = 64;

/** Whether all four bytes of a word are in 0x20..0x7f (adding 0x60 sets each high bit). */
function isPrintableAscii(word: number): boolean {
  return ((word & HIGH_BITS) | (((word + 0x60606060) & HIGH_BITS) ^ HIGH_BITS)) === 0;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function isXmlChar(cp: number): boolean {
  return cp >= 0x20
    ? (cp <= 0xd7ff || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))
    : (cp === 0x09 || cp === 0x0a || cp === 0x0d);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// The predefined entity names, packed big-endian into one number.
const ENTITY_AMP = 0x616d70;
const ENTITY_LT = 0x6c74;
const ENTITY_GT = 0x6774;
const ENTITY_QUOT = 0x71756f74;
const ENTITY_APOS = 0x61706f73;

const DECL_REGEXP =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>$/;

const LIMIT_KEYS = [
  "maxStanzaBytes",
  "maxStanzaBytesHard",
  "maxDepth",
  "maxAttributes",
  "maxNameLength",
  "maxAttributeValueLength",
  "maxNamespaceDeclarations",
  "maxElementsPerStanza",
] as const;

function checkLimits(limits: ParserLimits): ParserLimits {
  for (const key of LIMIT_KEYS) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(
        `Cannot use parser limits: '${key}' must be a positive integer, got ${value}`,
      );
    }
  }
  if (limits.maxStanzaBytesHard < limits.maxStanzaBytes) {
    throw new RangeError(
      `Cannot use parser limits: 'maxStanzaBytesHard' must be at least 'maxStanzaBytes' (${limits.maxStanzaBytes}), got ${limits.maxStanzaBytesHard}`,
    );
  }
  return limits;
}

/**
 * Cuts a byte stream into stream header, stanzas and end, checking encoding,
 * restricted XML and limits on the way. Chunks may split anywhere; the result
 * is the same for every split.
 *
 * @example Usage
 * ```ts
 * import { Framer, type FramerSink } from "./framer.ts";
 * import assert from "node:assert/strict";
 *
 * const stanzas: string[] = [];
 * const decoder = new TextDecoder();
 * const sink: FramerSink = {
 *   header() {},
 *   stanza(bytes) { stanzas.push(decoder.decode(bytes)); },
 *   oversized() {},
 *   end() {},
 *   error(condition) { throw new Error(condition); },
 * };
 * const limits = {
 *   maxStanzaBytes: 1000, maxStanzaBytesHard: 2000, maxDepth: 10, maxAttributes: 10,
 *   maxNameLength: 50, maxAttributeValueLength: 500, maxNamespaceDeclarations: 5,
 *   maxElementsPerStanza: 50,
 * };
 * const framer = new Framer(sink, { limits });
 * const bytes = new TextEncoder().encode(
 *   "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" +
 *     "<presence/> <message><body>hi</body></message>",
 * );
 * framer.write(bytes.subarray(0, 100));
 * framer.write(bytes.subarray(100));
 * assert.deepEqual(stanzas, ["<presence/>", "<message><body>hi</body></message>"]);
 * assert.equal(framer.outstandingBytes, 0);
 * ```
 */
export class Framer {
  #sink: FramerSink;
  #limits: ParserLimits;
  #stream: boolean;

  // UTF-8 decoder state carried across chunks.
  #u8need = 0;
  #u8lo = 0x80;
  #u8hi = 0xbf;
  #u8cp = 0;

  // Lexer state.
  #state = S_DATA;
  #phase = P_PROLOG;
  #declAllowed = true;
  #depth = 0;
  #elements = 0;
  #attrs = 0;
  #nsDecls = 0;
  #nameLen = 0;
  #valueLen = 0;
  #quote = 0;
  #needSpace = false;
  #xmlns = 0; // bytes of "xmlns:" matched by the attribute name, -1 when it differs
  #match = 0; // bytes of a keyword matched
  #brackets = 0; // ']' just seen (text, CDATA) or '?' (XML declaration)
  #entKind = E_NAME;
  #entLen = 0;
  #entValue = 0;
  #entReturn = S_DATA;
  #hash = 0;
  #rootHash = 0;
  #rootLen = 0;
  #rootTag = false;

  // The unit (stanza, header, …) in progress.
  #unit = U_NONE;
  #prev = 0; // its bytes in earlier chunks
  #headLen = 0; // size of its opening tag, once complete
  #buf: Uint8Array | null = null; // its first #bufLen bytes, when it spans chunks
  #bufLen = 0;

  // Control.
  #halted = false;
  #writing = false;
  #resetRequested = false;
  #queue: Uint8Array[] | null = null;
  #fed = 0;
  #chunkStart = 0;
  #doneAt = 0;

  /**
   * Creates a framer for one connection.
   *
   * @param sink Receives headers, stanzas, the end and errors.
   * @param options Limits and framing.
   * @throws {RangeError} When a limit is not a positive integer, or the hard
   * stanza limit is below the soft one.
   */
  constructor(sink: FramerSink, options: FramerOptions) {
    this.#sink = sink;
    this.#limits = checkLimits(options.limits);
    this.#stream = (options.framing ?? "stream") === "stream";
    this.#restart(true);
  }

  /** Bytes fed since the last completed stanza (or header, or reset). */
  get outstandingBytes(): number {
    return this.#fed - this.#doneAt;
  }

  /**
   * Replaces the limits; a stanza in progress keeps its hard limit until the
   * chunk ends.
   *
   * @param limits The new caps.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  setLimits(limits: ParserLimits): void {
    this.#limits = checkLimits(limits);
  }

  /** Drops the rest of the chunk and all later input until {@linkcode Framer.reset}. */
  halt(): void {
    this.#halted = true;
    this.#resetRequested = false;
  }

  /**
   * Starts a new stream. Called from a sink callback, the rest of the current
   * chunk belongs to the new stream (except from {@linkcode FramerSink.error},
   * after which the rest of the chunk is dropped).
   */
  reset(): void {
    if (this.#writing) {
      this.#halted = false;
      this.#resetRequested = true;
      return;
    }
    this.#restart(true);
    this.#doneAt = this.#fed;
  }

  /**
   * Feeds bytes. Never throws on any input; errors go to the sink. A sink
   * callback that throws halts the framer and the exception propagates.
   *
   * @param chunk The next bytes; not retained after the call.
   */
  write(chunk: Uint8Array): void {
    if (this.#writing) {
      // From a sink callback: queued behind the current chunk (copied, as the
      // caller may reuse its buffer once this call returns).
      (this.#queue ??= []).push(chunk.slice());
      return;
    }
    this.#writing = true;
    try {
      this.#feed(chunk);
      while (this.#queue !== null) {
        const queued = this.#queue;
        this.#queue = null;
        for (const next of queued) this.#feed(next);
      }
    } catch (error) {
      this.#halted = true;
      this.#queue = null;
      throw error;
    } finally {
      this.#writing = false;
    }
  }

  #restart(clearUtf8: boolean): void {
    if (clearUtf8) {
      this.#u8need = 0;
      this.#u8lo = 0x80;
      this.#u8hi = 0xbf;
      this.#u8cp = 0;
    }
    this.#state = S_DATA;
    this.#phase = this.#stream ? P_PROLOG : P_BODY;
    this.#declAllowed = this.#stream;
    this.#depth = 0;
    this.#brackets = 0;
    this.#rootTag = false;
    this.#unit = U_NONE;
    this.#prev = 0;
    this.#buf = null;
    this.#bufLen = 0;
    this.#halted = false;
    this.#resetRequested = false;
  }

  #feed(chunk: Uint8Array): void {
    if (this.#halted || this.#phase === P_END) return;
    const n = chunk.length;
    this.#chunkStart = this.#fed;
    this.#fed += n;
    const bad = this.#validate(chunk);
    if (this.#scan(chunk, bad === -1 ? n : bad) && bad !== -1) {
      const c = chunk[bad]!;
      this.#fail(
        "not-well-formed",
        c < 0x20
          ? `Cannot accept the control character U+${c.toString(16).padStart(4, "0")}`
          : "Cannot decode the bytes as UTF-8 XML characters",
      );
    }
  }

  /** Checks UTF-8 and XML characters; returns the index of the first bad byte or -1. */
  #validate(b: Uint8Array): number {
    const n = b.length;
    let need = this.#u8need;
    let lo = this.#u8lo;
    let hi = this.#u8hi;
    let cp = this.#u8cp;
    // Runs of printable ASCII are checked four bytes at a time on aligned words.
    const align = (4 - (b.byteOffset & 3)) & 3;
    const words = n >= MIN_WORD_SCAN
      ? new Int32Array(b.buffer, b.byteOffset + align, (n - align) >> 2)
      : null;
    let i = 0;
    while (i < n) {
      if (need === 0 && words !== null && i >= align && ((i - align) & 3) === 0) {
        let w = (i - align) >> 2;
        while (w < words.length && isPrintableAscii(words[w]!)) w++;
        i = align + (w << 2);
        if (i >= n) break;
      }
      const c = b[i]!;
      if (need === 0) {
        if (c < 0x80) {
          if (c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
        } else if (c < 0xc2) {
          break;
        } else if (c < 0xe0) {
          need = 1;
          cp = c & 0x1f;
        } else if (c < 0xf0) {
          need = 2;
          cp = c & 0x0f;
          if (c === 0xe0) lo = 0xa0;
          else if (c === 0xed) hi = 0x9f;
        } else if (c < 0xf5) {
          need = 3;
          cp = c & 0x07;
          if (c === 0xf0) lo = 0x90;
          else if (c === 0xf4) hi = 0x8f;
        } else {
          break;
        }
      } else {
        if (c < lo || c > hi) break;
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (c & 0x3f);
        if (--need === 0 && (cp === 0xfffe || cp === 0xffff)) break;
      }
      i++;
    }
    this.#u8need = need;
    this.#u8lo = lo;
    this.#u8hi = hi;
    this.#u8cp = cp;
    return i >= n ? -1 : i;
  }

  #fail(condition: ParseErrorCondition, text: string, appCondition?: string): false {
    this.#halted = true;
    this.#resetRequested = false;
    if (appCondition === undefined) this.#sink.error(condition, text);
    else this.#sink.error(condition, text, appCondition);
    if (this.#resetRequested) this.#restart(true);
    return false;
  }

  #textCondition(): ParseErrorCondition {
    return this.#stream && this.#phase === P_BODY ? "bad-format" : "not-well-formed";
  }

  #limitExceeded(what: string, limit: number): false {
    return this.#fail("policy-violation", `Cannot accept more than ${limit} ${what}`);
  }

  /** Lexes `b[0, n)`; returns false when it stopped early (error, halt, end). */
  #scan(b: Uint8Array, n: number): boolean {
    const limits = this.#limits;
    let i = 0;
    let seg = 0; // where the unit in progress starts in this chunk
    let lim = this.#unit === U_NONE ? n : Math.min(n, limits.maxStanzaBytesHard - this.#prev);
    while (i < lim) {
      switch (this.#state) {
        case S_DATA: {
          if (this.#depth === 0) {
            const start = i;
            while (i < lim && isSpace(b[i]!)) i++;
            if (i !== start) this.#declAllowed = false;
            if (i === lim) break;
            if (b[i] !== LT) {
              return this.#fail(this.#textCondition(), "Cannot accept text outside a stanza");
            }
            this.#unit = U_STANZA;
            this.#prev = 0;
            seg = i;
            lim = Math.min(n, i + limits.maxStanzaBytesHard);
            this.#state = S_LT;
            i++;
            break;
          }
          let brackets = this.#brackets;
          for (; i < lim; i++) {
            const c = b[i]!;
            if (c > RSQB) {
              brackets = 0;
            } else if (c === LT || c === AMP) {
              break;
            } else if (c === RSQB) {
              brackets++;
            } else {
              if (c === GT && brackets >= 2) {
                return this.#fail("not-well-formed", "Cannot accept ']]>' in character data");
              }
              brackets = 0;
            }
          }
          this.#brackets = brackets;
          if (i === lim) break;
          if (b[i] === LT) {
            this.#state = S_LT;
          } else {
            this.#state = S_ENTITY;
            this.#entReturn = S_DATA;
            this.#entKind = E_NAME;
            this.#entLen = 0;
            this.#entValue = 0;
          }
          i++;
          break;
        }
        case S_LT: {
          const c = b[i]!;
          if (c === SLASH) {
            if (this.#depth === 0) {
              if (!this.#stream || this.#phase !== P_BODY) {
                return this.#fail("not-well-formed", "Cannot accept a closing tag here");
              }
              this.#unit = U_CLOSE;
            }
            this.#state = S_CLOSE_NAME;
            this.#nameLen = 0;
            this.#hash = FNV_OFFSET;
            i++;
            break;
          }
          if (c === BANG) {
            this.#state = S_BANG;
            this.#match = 0;
            i++;
            break;
          }
          if (c === QUESTION) {
            if (!this.#declAllowed) {
              return this.#fail("restricted-xml", "Cannot accept processing instructions");
            }
            this.#unit = U_DECL;
            this.#state = S_PI;
            this.#match = 0;
            i++;
            break;
          }
          if (NAME_CLASS[c] !== 2) return this.#fail("not-well-formed", "Cannot parse a tag");
          this.#declAllowed = false;
          if (this.#phase === P_PROLOG) {
            this.#unit = U_ROOT;
            this.#rootTag = true;
            this.#hash = FNV_OFFSET;
          } else {
            if (this.#depth === 0) {
              this.#elements = 0;
              this.#headLen = 0;
            }
            if (++this.#depth > limits.maxDepth) {
              return this.#limitExceeded("levels of nesting", limits.maxDepth);
            }
            if (++this.#elements > limits.maxElementsPerStanza) {
              return this.#limitExceeded("elements in a stanza", limits.maxElementsPerStanza);
            }
          }
          this.#attrs = 0;
          this.#nsDecls = 0;
          this.#nameLen = 0;
          this.#state = S_NAME;
          break;
        }
        case S_NAME: {
          const start = i;
          if (this.#rootTag) {
            let hash = this.#hash;
            for (; i < lim; i++) {
              const c = b[i]!;
              if (NAME_CLASS[c] === 0) break;
              hash = Math.imul(hash ^ c, FNV_PRIME);
            }
            this.#hash = hash;
          } else {
            while (i < lim && NAME_CLASS[b[i]!] !== 0) i++;
          }
          if ((this.#nameLen += i - start) > limits.maxNameLength) {
            return this.#limitExceeded("bytes in a name", limits.maxNameLength);
          }
          if (i === lim) break;
          if (this.#rootTag) {
            this.#rootHash = this.#hash;
            this.#rootLen = this.#nameLen;
          }
          const c = b[i]!;
          if (isSpace(c)) {
            this.#state = S_TAG;
            this.#needSpace = false;
            i++;
          } else if (c === GT) {
            i++;
            const r = this.#tagEnd(b, seg, i, false);
            if (r === STOP) return false;
            if (r === DONE) lim = n;
          } else if (c === SLASH) {
            this.#state = S_SLASH;
            i++;
          } else {
            return this.#fail("not-well-formed", "Cannot parse an element name");
          }
          break;
        }
        case S_TAG: {
          const c = b[i]!;
          if (isSpace(c)) {
            this.#needSpace = false;
            i++;
            while (i < lim && isSpace(b[i]!)) i++;
            break;
          }
          if (c === GT) {
            i++;
            const r = this.#tagEnd(b, seg, i, false);
            if (r === STOP) return false;
            if (r === DONE) lim = n;
            break;
          }
          if (c === SLASH) {
            this.#state = S_SLASH;
            i++;
            break;
          }
          if (NAME_CLASS[c] !== 2 || this.#needSpace) {
            return this.#fail("not-well-formed", "Cannot parse an attribute");
          }
          if (++this.#attrs > limits.maxAttributes) {
            return this.#limitExceeded("attributes on an element", limits.maxAttributes);
          }
          this.#state = S_ATTR_NAME;
          this.#nameLen = 0;
          this.#xmlns = 0;
          break;
        }
        case S_ATTR_NAME: {
          const start = i;
          const base = this.#nameLen;
          let xmlns = this.#xmlns;
          for (; i < lim; i++) {
            const c = b[i]!;
            if (NAME_CLASS[c] === 0) break;
            const k = base + i - start;
            if (xmlns === k && k < 6) xmlns = c === XMLNS_COLON[k] ? k + 1 : -1;
          }
          this.#xmlns = xmlns;
          if ((this.#nameLen += i - start) > limits.maxNameLength) {
            return this.#limitExceeded("bytes in a name", limits.maxNameLength);
          }
          if (i === lim) break;
          if (
            (xmlns === 5 || (xmlns === 6 && this.#nameLen > 6)) &&
            ++this.#nsDecls > limits.maxNamespaceDeclarations
          ) {
            return this.#limitExceeded(
              "namespace declarations on an element",
              limits.maxNamespaceDeclarations,
            );
          }
          const c = b[i]!;
          if (isSpace(c)) this.#state = S_ATTR_EQ;
          else if (c === EQUALS) this.#state = S_ATTR_QUOTE;
          else return this.#fail("not-well-formed", "Cannot parse an attribute name");
          i++;
          break;
        }
        case S_ATTR_EQ:
        case S_ATTR_QUOTE: {
          while (i < lim && isSpace(b[i]!)) i++;
          if (i === lim) break;
          const c = b[i]!;
          if (this.#state === S_ATTR_EQ) {
            if (c !== EQUALS) return this.#fail("not-well-formed", "Expected '='");
            this.#state = S_ATTR_QUOTE;
          } else {
            if (c !== DQUOTE && c !== SQUOTE) {
              return this.#fail("not-well-formed", "Expected a quoted attribute value");
            }
            this.#quote = c;
            this.#valueLen = 0;
            this.#state = S_ATTR_VALUE;
          }
          i++;
          break;
        }
        case S_ATTR_VALUE: {
          const start = i;
          const quote = this.#quote;
          for (; i < lim; i++) {
            const c = b[i]!;
            if (c <= LT && (c === quote || c === AMP || c === LT)) break;
          }
          let len = this.#valueLen + i - start;
          if (i < lim && b[i] === AMP) len++;
          this.#valueLen = len;
          if (len > limits.maxAttributeValueLength) {
            return this.#limitExceeded(
              "bytes in an attribute value",
              limits.maxAttributeValueLength,
            );
          }
          if (i === lim) break;
          const c = b[i]!;
          if (c === quote) {
            this.#state = S_TAG;
            this.#needSpace = true;
          } else if (c === AMP) {
            this.#state = S_ENTITY;
            this.#entReturn = S_ATTR_VALUE;
            this.#entKind = E_NAME;
            this.#entLen = 0;
            this.#entValue = 0;
          } else {
            return this.#fail("not-well-formed", "Cannot accept '<' in an attribute value");
          }
          i++;
          break;
        }
        case S_SLASH: {
          if (b[i] !== GT) return this.#fail("not-well-formed", "Expected '>' after '/'");
          i++;
          const r = this.#tagEnd(b, seg, i, true);
          if (r === STOP) return false;
          if (r === DONE) lim = n;
          break;
        }
        case S_CLOSE_NAME: {
          const start = i;
          if (this.#nameLen === 0 && NAME_CLASS[b[i]!] !== 2) {
            return this.#fail("not-well-formed", "Cannot parse a closing tag");
          }
          if (this.#unit === U_CLOSE) {
            let hash = this.#hash;
            for (; i < lim; i++) {
              const c = b[i]!;
              if (NAME_CLASS[c] === 0) break;
              hash = Math.imul(hash ^ c, FNV_PRIME);
            }
            this.#hash = hash;
          } else {
            while (i < lim && NAME_CLASS[b[i]!] !== 0) i++;
          }
          if ((this.#nameLen += i - start) > limits.maxNameLength) {
            return this.#limitExceeded("bytes in a name", limits.maxNameLength);
          }
          if (i === lim) break;
          this.#state = S_CLOSE_END;
          break;
        }
        case S_CLOSE_END: {
          while (i < lim && isSpace(b[i]!)) i++;
          if (i === lim) break;
          if (b[i] !== GT) return this.#fail("not-well-formed", "Cannot parse a closing tag");
          i++;
          const r = this.#closeEnd(b, seg, i);
          if (r === STOP) return false;
          if (r === DONE) lim = n;
          break;
        }
        case S_ENTITY: {
          const c = b[i]!;
          i++;
          if (this.#entReturn === S_ATTR_VALUE) {
            if (++this.#valueLen > limits.maxAttributeValueLength) {
              return this.#limitExceeded(
                "bytes in an attribute value",
                limits.maxAttributeValueLength,
              );
            }
          }
          if (c === SEMI) {
            if (!this.#entityEnd()) return false;
            this.#state = this.#entReturn;
            this.#brackets = 0;
            break;
          }
          if (!this.#entityByte(c)) return false;
          break;
        }
        case S_BANG: {
          const c = b[i]!;
          const match = this.#match;
          if (match === 0 && c !== LSQB) {
            return this.#fail(
              "restricted-xml",
              "Cannot accept comments or document type declarations",
            );
          }
          if (this.#depth === 0) {
            return this.#fail(this.#textCondition(), "Cannot accept text outside a stanza");
          }
          if (c !== CDATA_OPEN[match]) {
            return this.#fail("not-well-formed", "Cannot parse a CDATA section");
          }
          i++;
          if (++this.#match === CDATA_OPEN.length) {
            this.#state = S_CDATA;
            this.#brackets = 0;
          }
          break;
        }
        case S_CDATA: {
          let brackets = this.#brackets;
          for (; i < lim; i++) {
            const c = b[i]!;
            if (c === RSQB) brackets++;
            else if (c === GT && brackets >= 2) break;
            else brackets = 0;
          }
          this.#brackets = brackets;
          if (i === lim) break;
          i++;
          this.#state = S_DATA;
          this.#brackets = 0;
          break;
        }
        case S_PI: {
          const c = b[i]!;
          const match = this.#match;
          if (match < XML.length ? c !== XML[match] : !isSpace(c)) {
            return this.#fail("restricted-xml", "Cannot accept processing instructions");
          }
          i++;
          if (++this.#match > XML.length) {
            this.#state = S_DECL;
            this.#brackets = 0;
          }
          break;
        }
        case S_DECL: {
          let question = this.#brackets;
          for (; i < lim; i++) {
            const c = b[i]!;
            if (c === GT && question === 1) break;
            question = c === QUESTION ? 1 : 0;
          }
          this.#brackets = question;
          if (this.#prev + i - seg > MAX_DECLARATION) {
            return this.#fail("not-well-formed", "Cannot accept so long an XML declaration");
          }
          if (i === lim) break;
          i++;
          if (!this.#declarationEnd(b, seg, i)) return false;
          lim = n;
          break;
        }
      }
    }
    if (i < n) {
      this.#fail(
        "policy-violation",
        `Cannot accept a stanza over ${limits.maxStanzaBytesHard} bytes`,
        "stanza-too-big",
      );
      return false;
    }
    if (this.#unit !== U_NONE) this.#keep(b, seg, n);
    return true;
  }

  /** At a chunk's end inside a unit: keeps what the unit still needs. */
  #keep(b: Uint8Array, seg: number, n: number): void {
    const total = this.#prev + n - seg;
    this.#prev = total;
    if (this.#unit === U_CLOSE) return;
    let keep = total;
    if (this.#unit === U_STANZA && total > this.#limits.maxStanzaBytes && this.#headLen > 0) {
      keep = this.#headLen;
    }
    if (keep < this.#bufLen) {
      this.#buf = this.#buf!.slice(0, keep);
      this.#bufLen = keep;
    } else if (keep > this.#bufLen) {
      this.#append(b, seg, seg + keep - this.#bufLen);
    }
  }

  #append(b: Uint8Array, from: number, to: number): void {
    const need = this.#bufLen + to - from;
    let buf = this.#buf;
    if (buf === null || buf.length < need) {
      let size = buf === null ? MIN_BUFFER : buf.length * 2;
      size = Math.min(size, Math.max(this.#limits.maxStanzaBytes, need));
      if (size < need) size = need;
      const grown = new Uint8Array(size);
      if (buf !== null) grown.set(buf.subarray(0, this.#bufLen));
      this.#buf = buf = grown;
    }
    buf.set(b.subarray(from, to), this.#bufLen);
    this.#bufLen = need;
  }

  /** The unit's first `count` bytes; it starts at `seg` in this chunk, or in the buffer. */
  #unitBytes(b: Uint8Array, seg: number, count: number): Uint8Array {
    if (this.#prev === 0) return b.subarray(seg, seg + count);
    if (count > this.#bufLen) this.#append(b, seg, seg + count - this.#bufLen);
    return this.#buf!.subarray(0, count);
  }

  /** Forgets the finished unit; `end` is the index after its last byte. */
  #finishUnit(end: number): void {
    this.#unit = U_NONE;
    this.#prev = 0;
    this.#buf = null;
    this.#bufLen = 0;
    this.#doneAt = this.#chunkStart + end;
    this.#state = S_DATA;
    this.#brackets = 0;
  }

  /** After a sink call: what the scan loop should do next. */
  #afterEmit(): number {
    if (this.#resetRequested) {
      this.#restart(false);
      return DONE;
    }
    return this.#halted || this.#phase === P_END ? STOP : DONE;
  }

  /** At the `>` of an opening tag; `end` is the index after it. */
  #tagEnd(b: Uint8Array, seg: number, end: number, empty: boolean): number {
    if (this.#rootTag) {
      this.#rootTag = false;
      const bytes = this.#unitBytes(b, seg, this.#prev + end - seg);
      this.#finishUnit(end);
      this.#phase = P_BODY;
      this.#sink.header(bytes);
      if (empty && !this.#halted && !this.#resetRequested) {
        this.#phase = P_END;
        this.#sink.end();
      }
      return this.#afterEmit();
    }
    this.#state = S_DATA;
    this.#brackets = 0;
    if (this.#depth === 1) this.#headLen = this.#prev + end - seg;
    if (!empty || --this.#depth > 0) return CONTINUE;
    return this.#stanzaEnd(b, seg, end);
  }

  /** At the `>` of a closing tag; `end` is the index after it. */
  #closeEnd(b: Uint8Array, seg: number, end: number): number {
    if (this.#unit === U_CLOSE) {
      if (this.#nameLen !== this.#rootLen || this.#hash !== this.#rootHash) {
        this.#fail("not-well-formed", "Cannot close the stream with a different tag");
        return STOP;
      }
      this.#finishUnit(end);
      this.#phase = P_END;
      this.#sink.end();
      return this.#afterEmit();
    }
    this.#state = S_DATA;
    this.#brackets = 0;
    if (--this.#depth > 0) return CONTINUE;
    return this.#stanzaEnd(b, seg, end);
  }

  #stanzaEnd(b: Uint8Array, seg: number, end: number): number {
    const size = this.#prev + end - seg;
    if (size > this.#limits.maxStanzaBytes) {
      const head = this.#unitBytes(b, seg, this.#headLen);
      this.#finishUnit(end);
      this.#sink.oversized(head, size);
    } else {
      const bytes = this.#unitBytes(b, seg, size);
      this.#finishUnit(end);
      this.#sink.stanza(bytes, size);
    }
    return this.#afterEmit();
  }

  #declarationEnd(b: Uint8Array, seg: number, end: number): boolean {
    const bytes = this.#unitBytes(b, seg, this.#prev + end - seg);
    this.#unit = U_NONE;
    this.#prev = 0;
    this.#buf = null;
    this.#bufLen = 0;
    this.#state = S_DATA;
    this.#declAllowed = false;
    let text = "";
    for (let k = 0; k < bytes.length; k++) text += String.fromCharCode(bytes[k]!);
    const match = DECL_REGEXP.exec(text);
    if (match === null) {
      this.#fail("not-well-formed", "Cannot parse the XML declaration");
      return false;
    }
    const encoding = match[1] ?? match[2];
    if (encoding !== undefined && encoding.toLowerCase() !== "utf-8") {
      this.#fail("unsupported-encoding", `Cannot read the encoding '${encoding}'`);
      return false;
    }
    return true;
  }

  /** One byte of a reference after `&`, other than `;`. */
  #entityByte(c: number): boolean {
    switch (this.#entKind) {
      case E_NAME:
        if (this.#entLen === 0 && c === HASH) {
          this.#entKind = E_NUM;
          return true;
        }
        if (NAME_CLASS[c] === 0 || (this.#entLen === 0 && NAME_CLASS[c] !== 2)) {
          this.#fail("not-well-formed", "Cannot parse an entity reference");
          return false;
        }
        if (++this.#entLen > 4) {
          this.#fail(
            "restricted-xml",
            "Cannot expand an entity other than amp, lt, gt, quot and apos",
          );
          return false;
        }
        this.#entValue = this.#entValue * 256 + c;
        return true;
      case E_NUM:
        if (c === 0x78) {
          this.#entKind = E_HEX_START;
          return true;
        }
        if (c < 0x30 || c > 0x39) break;
        this.#entKind = E_DEC;
        this.#entValue = c - 0x30;
        return true;
      case E_DEC:
        if (c < 0x30 || c > 0x39) break;
        this.#entValue = Math.min(this.#entValue * 10 + c - 0x30, 0x110000);
        return true;
      default: {
        const digit = hexDigit(c);
        if (digit < 0) break;
        this.#entKind = E_HEX;
        this.#entValue = Math.min(this.#entValue * 16 + digit, 0x110000);
        return true;
      }
    }
    this.#fail("not-well-formed", "Cannot parse a character reference");
    return false;
  }

  /** At the `;` of a reference. */
  #entityEnd(): boolean {
    const value = this.#entValue;
    switch (this.#entKind) {
      case E_NAME:
        if (this.#entLen === 0) break;
        if (
          value === ENTITY_AMP || value === ENTITY_LT || value === ENTITY_GT ||
          value === ENTITY_QUOT || value === ENTITY_APOS
        ) return true;
        this.#fail(
          "restricted-xml",
          "Cannot expand an entity other than amp, lt, gt, quot and apos",
        );
        return false;
      case E_DEC:
      case E_HEX:
        if (isXmlChar(value)) return true;
        this.#fail("not-well-formed", `Cannot reference the character #${value}`);
        return false;
    }
    this.#fail("not-well-formed", "Cannot parse an empty reference");
    return false;
  }
}
