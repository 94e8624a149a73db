import assert from "node:assert/strict";
import { Framer, type FramerSink } from "../../src/xml/framer.ts";
import type { ParserLimits, StreamFraming } from "../../src/xml/stream_parser.ts";

const LIMITS: ParserLimits = {
  maxStanzaBytes: 1000,
  maxStanzaBytesHard: 4000,
  maxDepth: 8,
  maxAttributes: 8,
  maxNameLength: 40,
  maxAttributeValueLength: 500,
  maxNamespaceDeclarations: 4,
  maxElementsPerStanza: 50,
};
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER = "<stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams'>";

interface Recorded {
  events: string[];
  views: Uint8Array[];
}

/** A sink that writes each event as text, e.g. `stanza 11 <presence/>`. */
function recorder(onStanza?: (bytes: Uint8Array) => void): FramerSink & Recorded {
  const events: string[] = [];
  const views: Uint8Array[] = [];
  return {
    events,
    views,
    header(bytes) {
      events.push(`header ${decoder.decode(bytes)}`);
    },
    stanza(bytes, size) {
      views.push(bytes);
      events.push(`stanza ${size} ${decoder.decode(bytes)}`);
      onStanza?.(bytes);
    },
    oversized(head, size) {
      events.push(`oversized ${size} ${decoder.decode(head)}`);
    },
    end() {
      events.push("end");
    },
    error(condition, text, appCondition) {
      events.push(`error ${condition}${appCondition === undefined ? "" : ` ${appCondition}`}`);
      assert.ok(text.length > 0);
    },
  };
}

function frame(
  chunks: Uint8Array[],
  limits = LIMITS,
  framing: StreamFraming = "stream",
): string[] {
  const sink = recorder();
  const framer = new Framer(sink, { limits, framing });
  for (const chunk of chunks) framer.write(chunk);
  return sink.events;
}

function bytesOf(...parts: (string | number[])[]): Uint8Array {
  const arrays = parts.map((p) => typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** The events for `bytes` fed whole, and checks every two-way split gives the same. */
function frameAnySplit(bytes: Uint8Array, limits = LIMITS, framing: StreamFraming = "stream") {
  const whole = frame([bytes], limits, framing);
  for (let at = 0; at <= bytes.length; at++) {
    const split = frame([bytes.subarray(0, at), bytes.subarray(at)], limits, framing);
    assert.deepStrictEqual(split, whole, `split at ${at}`);
  }
  const bytewise = frame(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)), limits, framing);
  assert.deepStrictEqual(bytewise, whole, "bytewise");
  return whole;
}

Deno.test("Framer cuts a stream into header, depth-1 stanzas and end", () => {
  const message = "<message type='chat'><body a='>' b=\"/>\">x<![CDATA[</message>]]></body>" +
    "</message>";
  const input = `<?xml version='1.0'?>${HEADER}<presence/>\n  ${message} </stream:stream>`;
  assert.deepStrictEqual(frameAnySplit(encoder.encode(input)), [
    `header ${HEADER}`,
    "stanza 11 <presence/>",
    `stanza ${message.length} ${message}`,
    "end",
  ]);
});

Deno.test("Framer hands over a stanza in one chunk as a view, and copies one that spans chunks", () => {
  const sink = recorder();
  const framer = new Framer(sink, { limits: LIMITS });
  const first = encoder.encode(HEADER + "<a/><message><bo");
  const second = encoder.encode("dy>hi</body></message><b/>");
  framer.write(first);
  framer.write(second);
  assert.deepStrictEqual(sink.events.slice(1), [
    "stanza 4 <a/>",
    "stanza 34 <message><body>hi</body></message>",
    "stanza 4 <b/>",
  ]);
  assert.equal(sink.views[0]!.buffer, first.buffer);
  assert.notEqual(sink.views[1]!.buffer, first.buffer);
  assert.notEqual(sink.views[1]!.buffer, second.buffer);
  assert.equal(sink.views[2]!.buffer, second.buffer);
});

Deno.test("Framer accepts every UTF-8 length at every split and alignment", () => {
  const text = "a\u0080\u07ff\u0800\ud7ff\ue000\ufffd\u{10000}\u{10ffff}é日😀\t\r\n\u007f";
  const stanza = `<m a='${text}'>${text}${"x".repeat(70)}${text}</m>`;
  const bytes = encoder.encode(HEADER + stanza);
  assert.deepStrictEqual(frameAnySplit(bytes).slice(1), [
    `stanza ${encoder.encode(stanza).length} ${stanza}`,
  ]);
  for (let shift = 1; shift < 4; shift++) {
    const shifted = new Uint8Array(bytes.length + shift);
    shifted.set(bytes, shift);
    assert.deepStrictEqual(frame([shifted.subarray(shift)]), frame([bytes]));
  }
});

Deno.test("Framer rejects bad UTF-8 and forbidden characters wherever they fall", () => {
  const bad: [string, number[]][] = [
    ["lone continuation", [0x80]],
    ["overlong 2-byte", [0xc1, 0xbf]],
    ["overlong 3-byte", [0xe0, 0x9f, 0xbf]],
    ["overlong 4-byte", [0xf0, 0x8f, 0xbf, 0xbf]],
    ["surrogate", [0xed, 0xb0, 0x80]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["lead 0xF8", [0xf8, 0x88, 0x80, 0x80]],
    ["lead 0xFF", [0xff]],
    ["truncated then ASCII", [0xe6, 0x97, 0x41]],
    ["U+FFFE", [0xef, 0xbf, 0xbe]],
    ["U+FFFF", [0xef, 0xbf, 0xbf]],
    ...Array.from(
      { length: 32 },
      (_, c): [string, number[]] => [`control 0x${c.toString(16)}`, [c]],
    ).filter(([, [c]]) => c !== 0x09 && c !== 0x0a && c !== 0x0d),
  ];
  const padding = "p".repeat(90);
  for (const [name, sequence] of bad) {
    // At several offsets, so that the bad bytes straddle the word-wise scan's words.
    for (let offset = 0; offset < 5; offset++) {
      const bytes = bytesOf(HEADER, "<m>", padding.slice(offset), sequence, padding, "</m>");
      const events = frameAnySplit(bytes);
      assert.deepStrictEqual(events.slice(1), ["error not-well-formed"], `${name} at ${offset}`);
    }
  }
});

Deno.test("Framer reports an error after the stanzas that precede it in the same chunk", () => {
  const bytes = bytesOf(HEADER, "<a/><b/>", [0xc0, 0x80], "<c/>");
  assert.deepStrictEqual(frameAnySplit(bytes), [
    `header ${HEADER}`,
    "stanza 4 <a/>",
    "stanza 4 <b/>",
    "error not-well-formed",
  ]);
});

Deno.test("Framer rejects an XML declaration in another encoding or out of place", () => {
  const latin = "<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER;
  assert.deepStrictEqual(frameAnySplit(encoder.encode(latin)), ["error unsupported-encoding"]);
  const utf8 = '<?xml version="1.0" encoding="Utf-8"?>' + HEADER + "<a/>";
  assert.deepStrictEqual(frameAnySplit(encoder.encode(utf8)), [
    `header ${HEADER}`,
    "stanza 4 <a/>",
  ]);
  assert.deepStrictEqual(frame([encoder.encode("\n<?xml version='1.0'?>")]), [
    "error restricted-xml",
  ]);
  assert.deepStrictEqual(frame([encoder.encode("<?xml-stylesheet href='a'?>")]), [
    "error restricted-xml",
  ]);
  assert.deepStrictEqual(frame([encoder.encode("<?xml version='1.0'?><?xml version='1.0'?>")]), [
    "error restricted-xml",
  ]);
  assert.deepStrictEqual(frame([encoder.encode("<?xml version='2.0'?>")]), [
    "error not-well-formed",
  ]);
  const long = `<?xml version='1.0' ${" ".repeat(600)}?>`;
  assert.deepStrictEqual(frame([encoder.encode(long)]), ["error not-well-formed"]);
  // Refused once past 512 bytes, long before the 4000-byte hard limit.
  const endless = encoder.encode(`<?xml version='1.0'${" ".repeat(3000)}`);
  assert.deepStrictEqual(frameAnySplit(endless), ["error not-well-formed"]);
});

Deno.test("Framer enforces restricted XML in stanzas and between them", () => {
  const cases: [string, string][] = [
    ["<a><!-- x --></a>", "restricted-xml"],
    ["<!-- x -->", "restricted-xml"],
    ["<a><!DOCTYPE a></a>", "restricted-xml"],
    ["<a><?pi?></a>", "restricted-xml"],
    ["<a>&lol;</a>", "restricted-xml"],
    ["<a>&quote;</a>", "restricted-xml"],
    ["<a b='&x;'/>", "restricted-xml"],
    ["<a>&#x;</a>", "not-well-formed"],
    ["<a>&#;</a>", "not-well-formed"],
    ["<a>&#1a;</a>", "not-well-formed"],
    ["<a>&1;</a>", "not-well-formed"],
    ["<a>& </a>", "not-well-formed"],
    ["<a>&#xFFFF;</a>", "not-well-formed"],
    ["<a>&#99999999999;</a>", "not-well-formed"],
    ["<a>]]></a>", "not-well-formed"],
    ["<a>]]]]></a>", "not-well-formed"],
    ["<a><![CDAT[x]]></a>", "not-well-formed"],
    ["<a b='<'/>", "not-well-formed"],
    ["x", "bad-format"],
    ["&amp;", "bad-format"],
    ["<![CDATA[x]]>", "bad-format"],
  ];
  for (const [body, condition] of cases) {
    const events = frameAnySplit(encoder.encode(HEADER + body));
    assert.deepStrictEqual(events.slice(1), [`error ${condition}`], body);
  }
  const fine = "<a b='&amp;&lt;&gt;&quot;&apos;&#38;&#x26;'>]] ] ]>&#x10FFFF;<![CDATA[]]]]></a>";
  assert.deepStrictEqual(frameAnySplit(encoder.encode(HEADER + fine)).slice(1), [
    `stanza ${fine.length} ${fine}`,
  ]);
});

Deno.test("Framer keeps only the opening tag of an oversized stanza", () => {
  const limits = { ...LIMITS, maxStanzaBytes: 40, maxStanzaBytesHard: 400 };
  const big = `<message id='x'><body>${"y".repeat(300)}</body></message>`;
  const headOver = `<message id='${"z".repeat(50)}'><body/></message>`;
  assert.deepStrictEqual(frameAnySplit(encoder.encode(HEADER + big + headOver), limits), [
    `header ${HEADER}`,
    `oversized ${big.length} <message id='x'>`,
    `oversized ${headOver.length} <message id='${"z".repeat(50)}'>`,
  ]);
});

Deno.test("Framer counts the hard stanza limit from the stanza's first byte", () => {
  const limits = { ...LIMITS, maxStanzaBytes: 20, maxStanzaBytesHard: 30 };
  const exact = `<a>${"x".repeat(23)}</a>`;
  const over = `<a>${"x".repeat(24)}</a>`;
  assert.equal(exact.length, 30);
  assert.deepStrictEqual(frameAnySplit(encoder.encode("  " + exact), limits, "fragments"), [
    "oversized 30 <a>",
  ]);
  assert.deepStrictEqual(frameAnySplit(encoder.encode(exact + over), limits, "fragments"), [
    "oversized 30 <a>",
    "error policy-violation stanza-too-big",
  ]);
  // The stream header is held to the hard limit too.
  assert.deepStrictEqual(frame([encoder.encode(HEADER)], limits), [
    "error policy-violation stanza-too-big",
  ]);
});

Deno.test("Framer tracks outstanding bytes across chunks and stanzas", () => {
  const sink = recorder();
  const framer = new Framer(sink, { limits: LIMITS });
  framer.write(encoder.encode(HEADER));
  assert.equal(framer.outstandingBytes, 0);
  framer.write(encoder.encode(" \n"));
  assert.equal(framer.outstandingBytes, 2);
  framer.write(encoder.encode("<message><body>"));
  assert.equal(framer.outstandingBytes, 17);
  framer.write(encoder.encode("x</body></message><a"));
  assert.equal(framer.outstandingBytes, 2);
});

Deno.test("Framer frames RFC 7395 fragments without a root", () => {
  const input =
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>" +
    "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>";
  assert.deepStrictEqual(frameAnySplit(encoder.encode(input), LIMITS, "fragments"), [
    "stanza 82 <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
    "stanza 56 <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
  ]);
  assert.deepStrictEqual(frame([encoder.encode("</close>")], LIMITS, "fragments"), [
    "error not-well-formed",
  ]);
});

Deno.test("Framer reset() from a callback restarts at the next byte, declaration allowed", () => {
  const sink = recorder((bytes) => {
    if (decoder.decode(bytes) === "<proceed/>") framer.reset();
  });
  const framer = new Framer(sink, { limits: LIMITS });
  framer.write(encoder.encode(
    HEADER + "<proceed/><?xml version='1.0'?>" + HEADER + "<a/><?xml version='1.0'?>",
  ));
  assert.deepStrictEqual(sink.events, [
    `header ${HEADER}`,
    "stanza 10 <proceed/>",
    `header ${HEADER}`,
    "stanza 4 <a/>",
    "error restricted-xml",
  ]);
});

Deno.test("Framer reset() outside a callback drops a partial stanza", () => {
  const sink = recorder();
  const framer = new Framer(sink, { limits: LIMITS });
  framer.write(encoder.encode(HEADER + "<message><body>half"));
  framer.reset();
  assert.equal(framer.outstandingBytes, 0);
  framer.write(encoder.encode(HEADER + "<a/>"));
  assert.deepStrictEqual(sink.events, [`header ${HEADER}`, `header ${HEADER}`, "stanza 4 <a/>"]);
});

Deno.test("Framer drops the rest of the chunk when error() resets", () => {
  const events: string[] = [];
  const sink: FramerSink = {
    header() {
      events.push("header");
    },
    stanza(bytes) {
      events.push(decoder.decode(bytes));
    },
    oversized() {},
    end() {},
    error(condition) {
      events.push(condition);
      framer.reset();
    },
  };
  const framer = new Framer(sink, { limits: LIMITS });
  framer.write(bytesOf(HEADER, "<a/><!-- --><b/>", [0xff]));
  framer.write(encoder.encode(HEADER + "<c/>"));
  assert.deepStrictEqual(events, ["header", "<a/>", "restricted-xml", "header", "<c/>"]);
});

Deno.test("Framer rejects a closing tag that does not match the stream header", () => {
  assert.deepStrictEqual(frame([encoder.encode(HEADER + "</stream:streams>")]), [
    `header ${HEADER}`,
    "error not-well-formed",
  ]);
  assert.deepStrictEqual(frame([encoder.encode(HEADER + "</stream:strean>")]), [
    `header ${HEADER}`,
    "error not-well-formed",
  ]);
  assert.deepStrictEqual(frame([encoder.encode(HEADER + "</stream:stream >trailing")]), [
    `header ${HEADER}`,
    "end",
  ]);
});
