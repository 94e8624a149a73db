/**
 * Realistic client-to-server traffic for the parser benchmark: chat messages,
 * presence with entity capabilities, a roster result of 200 items, a 10 KiB
 * body, plus tricky streams (namespaces, entities, CDATA, line ends, emoji)
 * and invalid ones, so both stanza parsers can be checked before they are timed.
 *
 * @module
 */

import type { ParseErrorCondition } from "../src/xml/stream_parser.ts";

/** A stream header as a client sends it (RFC 6120 §4.7). */
export const STREAM_HEADER = "<?xml version='1.0'?><stream:stream to='example.com' " +
  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' " +
  "xml:lang='en'>";

/** One kind of stanza in the corpus and how often it occurs. */
export interface CorpusEntry {
  /** What the stanza is. */
  name: string;
  /** Its XML. */
  xml: string;
  /** Relative frequency in the mixed stream. */
  weight: number;
}

const WORDS = [
  "hello",
  "are",
  "you",
  "coming",
  "tonight?",
  "the",
  "meeting",
  "moved",
  "to",
  "3pm",
  "café",
  "😀",
  "ok",
  "see",
  "you",
  "there",
  "&amp;",
  "thanks!",
];

function sentence(seed: number, words: number): string {
  let text = "";
  for (let i = 0; i < words; i++) {
    text += (i === 0 ? "" : " ") + WORDS[(seed * 7 + i * 13) % WORDS.length];
  }
  return text;
}

function chat(i: number): string {
  return `<message from='romeo@montague.example/orchard${i % 3}' ` +
    `to='juliet@capulet.example' type='chat' id='msg-${i.toString(36)}-x7'>` +
    `<body>${sentence(i, 4 + (i % 12))}</body>` +
    "<active xmlns='http://jabber.org/protocol/chatstates'/>" +
    "<request xmlns='urn:xmpp:receipts'/>" +
    `<origin-id xmlns='urn:xmpp:sid:0' id='0f8e2a${i}-b1c3-4d5e-8f90-a1b2c3d4e5f6'/>` +
    "</message>";
}

const PRESENCE = "<presence id='p1' xml:lang='en'><show>away</show>" +
  "<status>In a meeting &#x2014; back at 3</status><priority>5</priority>" +
  "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' " +
  "ver='ItBTI0XLDFvVxZ72NQElAzKS9sU='/>" +
  "<x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x>" +
  "<idle xmlns='urn:xmpp:idle:1' since='2024-05-01T10:00:00Z'/></presence>";

function roster(items: number): string {
  let xml = "<iq type='result' id='roster-1' to='juliet@capulet.example/balcony'>" +
    "<query xmlns='jabber:iq:roster' ver='ver14'>";
  for (let i = 0; i < items; i++) {
    xml += `<item jid='contact${i}@example.org' name='Contact ${i} Ünïcode' ` +
      `subscription='${i % 5 === 0 ? "to" : "both"}'><group>${
        i % 3 === 0 ? "Friends" : "Work &amp; Co"
      }</group></item>`;
  }
  return xml + "</query></iq>";
}

function largeBody(bytes: number): string {
  let body = "";
  for (let line = 0; body.length < bytes; line++) {
    body += `Line ${line}: ${sentence(line, 9)}\n    indented continuation\n`;
  }
  return `<message to='juliet@capulet.example' type='chat' id='big-1'><body>${
    body.slice(0, bytes)
  }</body></message>`;
}

const PING = "<iq type='get' id='ping-5' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>";

const MUC = "<message from='coven@chat.shakespeare.example/thirdwitch' " +
  "to='crone1@shakespeare.example/desktop' type='groupchat' id='162BEBB1-F6DB'>" +
  "<body>Thrice the brinded cat hath mew'd.</body>" +
  "<stanza-id xmlns='urn:xmpp:sid:0' id='5f3dbc5e' by='coven@chat.shakespeare.example'/>" +
  "<delay xmlns='urn:xmpp:delay' from='coven@chat.shakespeare.example' " +
  "stamp='2002-10-13T23:58:37Z'/></message>";

/**
 * The stanzas of the mixed stream, with weights roughly like a busy client's.
 *
 * @example Usage
 * ```ts
 * import { CORPUS } from "./corpus.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(CORPUS.some((entry) => entry.name === "roster-200"));
 * ```
 */
export const CORPUS: readonly CorpusEntry[] = [
  ...Array.from({ length: 8 }, (_, i) => ({ name: `chat-${i}`, xml: chat(i), weight: 6 })),
  { name: "presence-caps", xml: PRESENCE, weight: 12 },
  { name: "muc-groupchat", xml: MUC, weight: 8 },
  { name: "ping", xml: PING, weight: 4 },
  { name: "roster-200", xml: roster(200), weight: 1 },
  { name: "body-10k", xml: largeBody(10 * 1024), weight: 1 },
];

/**
 * The mixed stream: the header, then `rounds` passes over {@linkcode CORPUS}
 * with each stanza repeated by its weight, separated by keepalive whitespace.
 *
 * @param rounds Passes over the corpus.
 * @returns The stream's UTF-8 bytes and the number of stanzas in it.
 *
 * @example Usage
 * ```ts
 * import { mixedStream } from "./corpus.ts";
 * import assert from "node:assert/strict";
 *
 * const { bytes, stanzas } = mixedStream(1);
 * assert.ok(bytes.length > 10_000 && stanzas > 60);
 * ```
 */
export function mixedStream(rounds: number): { bytes: Uint8Array; stanzas: number } {
  const parts = [STREAM_HEADER];
  let stanzas = 0;
  for (let round = 0; round < rounds; round++) {
    for (const entry of CORPUS) {
      for (let k = 0; k < entry.weight; k++) {
        parts.push(entry.xml, k % 4 === 0 ? "\n" : "");
        stanzas++;
      }
    }
  }
  return { bytes: new TextEncoder().encode(parts.join("")), stanzas };
}

/**
 * Valid streams that exercise the corners of XML: prefixes, redeclarations,
 * entities, CDATA, line ends, indentation and multi-byte characters.
 */
export const TRICKY_STREAMS: readonly string[] = [
  STREAM_HEADER +
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
  "<iq type='get' id='p1'><q:query xmlns:q='urn:example:q' q:mode='fast' xml:lang='fr'>" +
  "<q:item/><plain/><r:x xmlns:r='urn:example:r'><q:y/></r:x></q:query></iq>" +
  "<iq type='set' id='p2'><a xmlns:p='urn:one'><p:b><c xmlns:p='urn:two'><p:d/></c><p:e/>" +
  "</p:b></a></iq><message><x xmlns='urn:x'><y xmlns=''><z/></y></x></message>",
  STREAM_HEADER +
  "<message id='a&amp;b&#x27;&lt;' to=\"x&quot;'y\"><body>a &amp; b &lt;c&gt; &quot;d&quot; " +
  "&apos;e&apos; &#65;&#x42;&#x1F600;&#10;&#xD;</body></message>" +
  "<message><body>before <![CDATA[<b>bold</b> & ]] > ]]> after<![CDATA[]]><![CDATA[x]]>" +
  "</body></message>" +
  "<message>\n  <body>line one\n    indented two\n\ttabbed three\n</body>\n</message>" +
  "<message note='a\r\nb\rc\nd\te'><body>one\r\ntwo\rthree\r\n\r\nfour</body>" +
  "<![CDATA[x\r\ny]]></message>" +
  "<iq id=\"it's\" type='a \"b\" > c / d'  ><query  xmlns = 'urn:q' /></iq >",
  STREAM_HEADER +
  "<message to='ñandú@exämple.com' emoji='😀'><body>héllo wörld — 日本語 🎉🇫🇷 👩‍👩‍👧</body>" +
  "<ünïcode xmlns='urn:ü'/></message><presence>   </presence><a> <b/> </a></stream:stream>",
];

/** A stream that must fail, and the condition it must fail with. */
export interface InvalidStream {
  /** What is wrong. */
  name: string;
  /** The stream. */
  xml: string;
  /** The expected condition. */
  condition: ParseErrorCondition;
}

/** Streams that pass the framer but that a stanza parser must reject. */
export const INVALID_STREAMS: readonly InvalidStream[] = [
  ["mismatched close tag", "<message><body>x</bdy></message>"],
  ["mismatched nested close", "<a><b><c></b></c></a>"],
  ["duplicate attribute", "<message id='1' id='2'/>"],
  ["duplicate expanded attribute", "<x xmlns:a='urn:a' xmlns:b='urn:a' a:k='1' b:k='2'/>"],
  ["duplicate default declaration", "<x xmlns='urn:a' xmlns='urn:b'/>"],
  ["unbound element prefix", "<foo:message/>"],
  ["unbound attribute prefix", "<message foo:id='1'/>"],
  ["prefix out of scope", "<m><a xmlns:p='urn:p'/><p:b/></m>"],
  ["undeclared prefix", "<m xmlns:p=''/>"],
  ["rebound xml prefix", "<m xmlns:xml='urn:x'/>"],
  ["two colons", "<a:b:c/>"],
].map(([name, xml]) => ({
  name: name!,
  xml: STREAM_HEADER + xml!,
  condition: "not-well-formed" as const,
}));
