/**
 * Splits the text a server sends on a c2s stream into the stream header and
 * top-level elements (stanzas, features, SASL replies), without building a
 * tree: the load generator only needs each element's text, its name and a
 * few attributes. Quotes inside tags are honoured; `<?xml?>` declarations,
 * comments and a restarted stream header are handled.
 *
 * @module
 */

const LT = 60; // <
const GT = 62; // >
const SLASH = 47; // /
const QUESTION = 63; // ?
const BANG = 33; // !
const DQUOTE = 34;
const SQUOTE = 39;

/** What a {@linkcode StanzaFramer} reports. */
export interface FramerSink {
  /** A stream header (`<stream:stream ...>`) arrived; a restart sends another. */
  streamStart(header: string): void;
  /** One complete top-level element, as sent. */
  element(xml: string): void;
  /** `</stream:stream>` arrived. */
  streamEnd(): void;
}

/**
 * An incremental splitter of a server-to-client XMPP stream.
 *
 * @example Usage
 * ```ts
 * import { StanzaFramer } from "./framer.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const framer = new StanzaFramer({
 *   streamStart: () => seen.push("start"),
 *   element: (xml) => seen.push(xml),
 *   streamEnd: () => seen.push("end"),
 * });
 * framer.push("<?xml version='1.0'?><stream:stream xmlns='jabber:client'><message a='>'><bo");
 * framer.push("dy>hi</body></message><r/></stream:stream>");
 * assert.deepEqual(seen, ["start", "<message a='>'><body>hi</body></message>", "<r/>", "end"]);
 * ```
 */
export class StanzaFramer {
  #sink: FramerSink;
  #buffer = "";
  /** 0 before the stream header, 1 between stanzas, more inside one. */
  #depth = 0;
  /** Where the element being assembled starts in the buffer. */
  #start = 0;
  /** Where scanning resumes. */
  #scan = 0;

  /** @param sink Receives the header, the elements and the stream end. */
  constructor(sink: FramerSink) {
    this.#sink = sink;
  }

  /** Bytes buffered for an element not yet complete. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * Feeds decoded text.
   *
   * @param text The next piece of the stream, in order.
   */
  push(text: string): void {
    let buffer = this.#buffer.length === 0 ? text : this.#buffer + text;
    let scan = this.#scan;
    let consumed = 0;
    const length = buffer.length;
    for (;;) {
      const lt = buffer.indexOf("<", scan);
      if (lt === -1) {
        scan = length;
        break;
      }
      const end = tagEnd(buffer, lt + 1);
      if (end === -1) {
        scan = lt;
        break;
      }
      scan = end + 1;
      const next = buffer.charCodeAt(lt + 1);
      if (next === QUESTION || next === BANG) continue;
      if (next === SLASH) {
        this.#depth--;
        if (this.#depth === 1) {
          this.#sink.element(buffer.slice(this.#start, end + 1));
          consumed = end + 1;
        } else if (this.#depth <= 0) {
          this.#depth = 0;
          consumed = end + 1;
          this.#sink.streamEnd();
        }
        continue;
      }
      const selfClosing = buffer.charCodeAt(end - 1) === SLASH;
      if (this.#depth <= 1 && buffer.startsWith("<stream:stream", lt)) {
        this.#depth = 1;
        consumed = end + 1;
        this.#sink.streamStart(buffer.slice(lt, end + 1));
        continue;
      }
      if (this.#depth === 1) {
        if (selfClosing) {
          this.#sink.element(buffer.slice(lt, end + 1));
          consumed = end + 1;
        } else {
          this.#start = lt;
          this.#depth = 2;
        }
      } else if (!selfClosing && this.#depth > 1) {
        this.#depth++;
      }
    }
    if (this.#depth <= 1) {
      // Between elements: nothing before `scan` is needed any more.
      consumed = Math.max(consumed, scan);
    } else {
      consumed = Math.min(consumed, this.#start);
    }
    if (consumed > 0) {
      buffer = buffer.slice(consumed);
      scan -= consumed;
      this.#start -= consumed;
    }
    this.#buffer = buffer;
    this.#scan = scan;
  }
}

/** Index of the `>` closing the tag whose name starts at `from`, or -1 if not yet arrived. */
function tagEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === GT) return i;
    if (c === DQUOTE || c === SQUOTE) {
      const close = text.indexOf(c === DQUOTE ? '"' : "'", i + 1);
      if (close === -1) return -1;
      i = close;
    } else if (c === LT && i > from) {
      // Not well-formed; treat the tag as ended so the stream cannot stall.
      return i - 1;
    }
  }
  return -1;
}

/**
 * Reads an attribute of an element's start tag.
 *
 * @param xml The element text.
 * @param name The attribute name.
 * @returns The raw (unescaped) value, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import { attribute } from "./framer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(attribute(`<iq type="result" id='b1'><x id='no'/></iq>`, "id"), "b1");
 * assert.equal(attribute(`<iq type="result"/>`, "id"), undefined);
 * ```
 */
export function attribute(xml: string, name: string): string | undefined {
  const tagClose = tagEnd(xml, 1);
  const limit = tagClose === -1 ? xml.length : tagClose;
  let from = 0;
  for (;;) {
    const at = xml.indexOf(name, from);
    if (at === -1 || at > limit) return undefined;
    from = at + name.length;
    const before = xml.charCodeAt(at - 1);
    if (before !== 32 && before !== 9 && before !== 10 && before !== 13) continue;
    let eq = at + name.length;
    while (xml.charCodeAt(eq) === 32) eq++;
    if (xml.charCodeAt(eq) !== 61) continue;
    let q = eq + 1;
    while (xml.charCodeAt(q) === 32) q++;
    const quote = xml.charCodeAt(q);
    if (quote !== DQUOTE && quote !== SQUOTE) continue;
    const close = xml.indexOf(quote === DQUOTE ? '"' : "'", q + 1);
    if (close === -1) return undefined;
    return xml.slice(q + 1, close);
  }
}

/**
 * The text of the first child element with this name, e.g. `<jid>` in a bind result.
 *
 * @param xml The element text.
 * @param name The child's local name.
 * @returns The raw text, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import { childText } from "./framer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(childText("<iq><bind xmlns='x'><jid>a@b/c</jid></bind></iq>", "jid"), "a@b/c");
 * ```
 */
export function childText(xml: string, name: string): string | undefined {
  const open = xml.indexOf("<" + name, 1);
  if (open === -1) return undefined;
  const gt = tagEnd(xml, open + 1);
  if (gt === -1 || xml.charCodeAt(gt - 1) === SLASH) return gt === -1 ? undefined : "";
  const close = xml.indexOf("</", gt + 1);
  return close === -1 ? undefined : xml.slice(gt + 1, close);
}
