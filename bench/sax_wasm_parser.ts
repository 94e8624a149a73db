/**
 * The stanza-parsing role played by ONE shared `npm:sax-wasm@3.1.4` instance,
 * for comparison with the default TypeScript {@linkcode StanzaParser}. The
 * framer still cuts the stream; each complete stanza's bytes go through
 * sax-wasm, which reports tags with byte offsets. TypeScript then does what
 * sax-wasm does not: text from the raw bytes between tags (sax-wasm drops
 * whitespace-only text and trims around line breaks), entities, line ends,
 * namespaces, and the checks a non-validating parser skips (mismatched close
 * tags, duplicate attributes).
 *
 * @module
 */

import { type Attribute, SaxEventType, SAXParser, type Tag, type Text } from "sax-wasm";
import { Element, type XmlNode } from "../src/xml/element.ts";
import { NS_XML } from "../src/xml/ns.ts";
import {
  type ElementParser,
  type NamespaceContext,
  type ParsedHeader,
  type PrefixBinding,
  StanzaSyntaxError,
} from "../src/xml/stanza_parser.ts";

const EVENTS = SaxEventType.OpenTag | SaxEventType.CloseTag | SaxEventType.Cdata |
  SaxEventType.Comment | SaxEventType.ProcessingInstruction | SaxEventType.Doctype |
  SaxEventType.Declaration;
const SINGLE_QUOTED = 4;
const DOUBLE_QUOTED = 8;
const REFERENCE_REGEXP = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([^;&]*));|&/g;
const CR_REGEXP = /\r\n?/g;
const ATTRIBUTE_SPACE_REGEXP = /\r\n|[\r\n\t]/g;
const XMLNS_URI = "http://www.w3.org/2000/xmlns/";
const PREDEFINED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function fail(condition: StanzaSyntaxError["condition"], message: string): never {
  throw new StanzaSyntaxError(condition, message);
}

function isXmlChar(cp: number): boolean {
  return cp >= 0x20
    ? (cp <= 0xd7ff || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))
    : (cp === 0x09 || cp === 0x0a || cp === 0x0d);
}

function replaceReference(
  match: string,
  hex: string | undefined,
  dec: string | undefined,
  name: string | undefined,
): string {
  if (hex !== undefined || dec !== undefined) {
    const cp = hex !== undefined ? parseInt(hex, 16) : parseInt(dec!, 10);
    if (!isXmlChar(cp)) fail("not-well-formed", `Cannot reference the character #${cp}`);
    return String.fromCodePoint(cp);
  }
  const text = name === undefined ? undefined : PREDEFINED[name];
  if (text !== undefined) return text;
  if (match === "&" || name === "") fail("not-well-formed", "Cannot parse a reference");
  return fail("restricted-xml", `Cannot expand the entity '${name}'`);
}

function decodeReferences(raw: string): string {
  return raw.indexOf("&") === -1 ? raw : raw.replace(REFERENCE_REGEXP, replaceReference);
}

function lookup(prefix: string, bindings: PrefixBinding | null): string {
  for (let b = bindings; b !== null; b = b.next) if (b.prefix === prefix) return b.uri;
  if (prefix === "xml") return NS_XML;
  return fail("not-well-formed", `Cannot resolve the unbound prefix '${prefix}'`);
}

function splitName(qname: string): number {
  const colon = qname.indexOf(":");
  if (colon === 0 || colon === qname.length - 1 || qname.indexOf(":", colon + 1) !== -1) {
    fail("not-well-formed", `Cannot parse the name '${qname}'`);
  }
  return colon;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/**
 * A shared sax-wasm parser in the stanza-parsing role.
 *
 * @example Usage
 * ```ts
 * import { SaxWasmStanzaParser } from "./sax_wasm_parser.ts";
 * import { EMPTY_NAMESPACE_CONTEXT } from "../src/xml/stanza_parser.ts";
 * import assert from "node:assert/strict";
 *
 * const parser = await SaxWasmStanzaParser.create();
 * const bytes = new TextEncoder().encode("<iq xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>");
 * const iq = parser.parse(bytes, EMPTY_NAMESPACE_CONTEXT);
 * assert.equal(iq.getChild("ping")?.ns, "urn:xmpp:ping");
 * ```
 */
export class SaxWasmStanzaParser implements ElementParser {
  #sax: SAXParser;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #bytes: Uint8Array = new Uint8Array(0);
  #ascii: string | undefined;
  #pos = 0;
  #error: StanzaSyntaxError | undefined;
  #headOnly = false;
  #root: Element | undefined;
  #rootClosed = false;
  #open: Element[] = [];
  #names: string[] = [];
  #defaults: (string | undefined)[] = [];
  #scopes: (PrefixBinding | null)[] = [];
  #default: string | undefined;
  #prefixes: PrefixBinding | null = null;

  private constructor(sax: SAXParser) {
    this.#sax = sax;
    sax.eventHandler = (event, detail) => this.#onEvent(event, detail);
  }

  /**
   * Loads sax-wasm's WebAssembly module from the npm package and prepares one parser.
   *
   * @returns The adapter.
   */
  static async create(): Promise<SaxWasmStanzaParser> {
    const wasm = new URL("../sax-wasm.wasm", import.meta.resolve("sax-wasm"));
    const sax = new SAXParser(EVENTS);
    await sax.prepareWasm(await Deno.readFile(wasm));
    return new SaxWasmStanzaParser(sax);
  }

  /**
   * Parses one complete element.
   *
   * @param bytes The element's bytes.
   * @param context The namespaces in scope.
   * @returns The element.
   * @throws {StanzaSyntaxError} When the element is not well-formed.
   */
  parse(bytes: Uint8Array, context: NamespaceContext): Element {
    const root = this.#run(bytes, context, false);
    if (!this.#rootClosed || this.#pos !== bytes.length) {
      fail("not-well-formed", "Cannot parse an unterminated element");
    }
    return root;
  }

  /**
   * Parses an opening tag alone.
   *
   * @param bytes The tag's bytes.
   * @param context The namespaces in scope.
   * @returns The element without children.
   * @throws {StanzaSyntaxError} When the tag is not well-formed.
   */
  parseHead(bytes: Uint8Array, context: NamespaceContext): Element {
    const root = this.#run(bytes, context, true);
    if (this.#pos !== bytes.length) fail("not-well-formed", "Cannot parse the tag");
    return root;
  }

  /**
   * Parses a stream header's opening tag and the namespaces it declares.
   *
   * @param bytes The tag's bytes.
   * @param context The namespaces in scope.
   * @returns The header and the context for its children.
   * @throws {StanzaSyntaxError} When the tag is not well-formed.
   */
  parseHeader(bytes: Uint8Array, context: NamespaceContext): ParsedHeader {
    const header = this.parseHead(bytes, context);
    return { header, context: { defaultNs: this.#default, prefixes: this.#prefixes } };
  }

  #run(bytes: Uint8Array, context: NamespaceContext, headOnly: boolean): Element {
    this.#bytes = bytes;
    this.#ascii = isAscii(bytes) ? this.#decoder.decode(bytes) : undefined;
    this.#pos = 0;
    this.#error = undefined;
    this.#headOnly = headOnly;
    this.#root = undefined;
    this.#rootClosed = false;
    this.#open.length = 0;
    this.#default = context.defaultNs;
    this.#prefixes = context.prefixes;
    this.#sax.write(bytes);
    this.#sax.end();
    if (this.#error !== undefined) throw this.#error;
    if (this.#root === undefined) fail("not-well-formed", "Cannot find an element");
    return this.#root;
  }

  #onEvent(event: number, detail: unknown): void {
    if (this.#error !== undefined) return;
    try {
      if (event === SaxEventType.OpenTag) this.#onOpen(detail as Tag);
      else if (event === SaxEventType.CloseTag) this.#onClose(detail as Tag);
      else if (event === SaxEventType.Cdata) this.#onCdata(detail as Text);
      else fail("restricted-xml", "Cannot accept comments, PIs or DTDs");
    } catch (error) {
      // Never throw through the WebAssembly frames; report after write().
      this.#error = error instanceof StanzaSyntaxError
        ? error
        : new StanzaSyntaxError("not-well-formed", String(error));
    }
  }

  #string(start: number, end: number): string {
    return this.#ascii !== undefined
      ? this.#ascii.slice(start, end)
      : this.#decoder.decode(this.#bytes.subarray(start, end));
  }

  #textUntil(end: number): void {
    const start = this.#pos;
    if (end === start) return;
    if (this.#root === undefined || this.#open.length === 0) {
      fail("not-well-formed", "Cannot accept content outside the element");
    }
    const raw = this.#string(start, end);
    if (raw.indexOf("<") !== -1) fail("not-well-formed", "Cannot parse markup in text");
    if (raw.indexOf("]]>") !== -1) fail("not-well-formed", "Cannot accept ']]>' in text");
    const text = decodeReferences(raw.indexOf("\r") === -1 ? raw : raw.replace(CR_REGEXP, "\n"));
    this.#append(text);
  }

  #append(text: string): void {
    if (text === "") return;
    const children: XmlNode[] = this.#open[this.#open.length - 1]!.children;
    const last = children.length - 1;
    if (last >= 0 && typeof children[last] === "string") children[last] += text;
    else children.push(text);
  }

  #onOpen(tag: Tag): void {
    const offsets = tag.byteOffsets;
    if (this.#rootClosed || (this.#headOnly && this.#root !== undefined)) {
      fail("not-well-formed", "Cannot accept a second element");
    }
    // sax-wasm 3.1.4 reports the start one byte late when the name begins with
    // a multi-byte character (`<ü…>`); step back to the '<'.
    let start = offsets.start;
    while (start > this.#pos && this.#bytes[start] !== 0x3c) start--;
    if (this.#bytes[start] !== 0x3c) fail("not-well-formed", "Cannot find the tag's '<'");
    this.#textUntil(start);
    const qname = tag.name;
    const colon = splitName(qname);
    let defaultNs = this.#default;
    let prefixes = this.#prefixes;
    const outer = prefixes;
    const names: string[] = [];
    const values: string[] = [];
    let declaredDefault = false;
    for (const attribute of tag.attributes as Attribute[]) {
      if (attribute.type !== SINGLE_QUOTED && attribute.type !== DOUBLE_QUOTED) {
        fail("not-well-formed", "Expected a quoted attribute value");
      }
      const name = attribute.name.value;
      const range = attribute.value.byteOffsets;
      const raw = this.#string(range.start, range.end);
      if (raw.indexOf("<") !== -1) fail("not-well-formed", "Cannot accept '<' in a value");
      const value = decodeReferences(raw.replace(ATTRIBUTE_SPACE_REGEXP, " "));
      if (name === "xmlns") {
        if (declaredDefault) fail("not-well-formed", "Cannot accept a duplicate 'xmlns'");
        declaredDefault = true;
        if (value === NS_XML || value === XMLNS_URI) fail("not-well-formed", "Reserved namespace");
        defaultNs = value === "" ? undefined : value;
      } else if (name.startsWith("xmlns:")) {
        const prefix = name.slice(6);
        splitName(prefix);
        for (let b = prefixes; b !== outer && b !== null; b = b.next) {
          if (b.prefix === prefix) fail("not-well-formed", `Duplicate 'xmlns:${prefix}'`);
        }
        if (prefix === "xml") {
          if (value !== NS_XML) fail("not-well-formed", "Cannot rebind the prefix 'xml'");
          continue;
        }
        if (prefix === "xmlns" || value === "" || value === NS_XML || value === XMLNS_URI) {
          fail("not-well-formed", `Cannot bind the prefix '${prefix}' to '${value}'`);
        }
        prefixes = { prefix, uri: value, next: prefixes };
      } else {
        splitName(name);
        names.push(name);
        values.push(value);
      }
    }
    const attrs: Record<string, string> = {};
    const expanded = new Set<string>();
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (Object.hasOwn(attrs, name)) fail("not-well-formed", `Duplicate '${name}'`);
      const c = name.indexOf(":");
      if (c !== -1) {
        const key = `${lookup(name.slice(0, c), prefixes)} ${name.slice(c + 1)}`;
        if (expanded.has(key)) fail("not-well-formed", `Duplicate expanded name '${name}'`);
        expanded.add(key);
      }
      Object.defineProperty(attrs, name, {
        value: values[i],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const element = colon === -1
      ? new Element(qname, defaultNs, attrs, [])
      : new Element(qname.slice(colon + 1), lookup(qname.slice(0, colon), prefixes), attrs, []);
    if (this.#root === undefined) this.#root = element;
    else this.#open[this.#open.length - 1]!.children.push(element);
    this.#pos = offsets.end;
    if (tag.selfClosing) {
      if (this.#open.length === 0) this.#rootClosed = true;
      if (this.#headOnly) {
        this.#default = defaultNs;
        this.#prefixes = prefixes;
      }
      return;
    }
    const depth = this.#open.length;
    this.#open.push(element);
    this.#names[depth] = qname;
    this.#defaults[depth] = this.#default;
    this.#scopes[depth] = this.#prefixes;
    this.#default = defaultNs;
    this.#prefixes = prefixes;
  }

  #onClose(tag: Tag): void {
    if (tag.selfClosing) return;
    const depth = this.#open.length - 1;
    if (depth < 0) fail("not-well-formed", "Cannot accept a closing tag here");
    const end = tag.byteOffsets.end;
    const expected = this.#names[depth]!;
    // Find "</name S? >" ending at `end`; sax-wasm also closes tags implicitly.
    const bytes = this.#bytes;
    let p = end - 1;
    if (bytes[p] !== 0x3e) fail("not-well-formed", `Expected '</${expected}>'`);
    p--;
    while (
      p > 0 && (bytes[p] === 0x20 || bytes[p] === 0x0a || bytes[p] === 0x09 || bytes[p] === 0x0d)
    ) {
      p--;
    }
    const nameEnd = p + 1;
    while (p > 0 && bytes[p] !== 0x2f && bytes[p] !== 0x3c) p--;
    if (bytes[p] !== 0x2f || bytes[p - 1] !== 0x3c || this.#string(p + 1, nameEnd) !== expected) {
      fail("not-well-formed", `Expected '</${expected}>'`);
    }
    this.#textUntil(p - 1);
    this.#open.pop();
    this.#default = this.#defaults[depth];
    this.#prefixes = this.#scopes[depth]!;
    if (depth === 0) this.#rootClosed = true;
    this.#pos = end;
  }

  #onCdata(text: Text): void {
    const { start, end } = text.byteOffsets;
    this.#textUntil(start);
    const raw = this.#string(start + 9, end - 3);
    this.#append(raw.indexOf("\r") === -1 ? raw : raw.replace(CR_REGEXP, "\n"));
    this.#pos = end;
  }
}
