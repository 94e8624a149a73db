import assert from "node:assert/strict";
import { el, Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_STREAMS, NS_XML } from "../../src/xml/ns.ts";
import type { ParseError, ParserLimits, StreamFraming } from "../../src/xml/stream_parser.ts";
import { createStreamParser } from "../../src/xml/xml_stream_parser.ts";

type Event =
  | ["start", Element]
  | ["stanza", Element, number]
  | ["oversized", Element, number]
  | ["end"]
  | ["error", ParseError];

const LIMITS: ParserLimits = {
  maxStanzaBytes: 10_000,
  maxStanzaBytesHard: 40_000,
  maxDepth: 12,
  maxAttributes: 20,
  maxNameLength: 64,
  maxAttributeValueLength: 3000,
  maxNamespaceDeclarations: 6,
  maxElementsPerStanza: 500,
};

const encoder = new TextEncoder();
const HEADER = "<?xml version='1.0' encoding='utf-8'?><stream:stream to='example.com' " +
  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' " +
  "xml:lang='en'>";
const HEADER_ELEMENT = new Element("stream", NS_STREAMS, {
  to: "example.com",
  version: "1.0",
  "xml:lang": "en",
});
const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";

function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === "string" ? encoder.encode(input) : input;
}

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const arrays = parts.map(bytesOf);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Feeds `chunks` to a fresh parser and returns what it reported. */
function run(
  chunks: Iterable<Uint8Array>,
  limits: ParserLimits = LIMITS,
  framing: StreamFraming = "stream",
): Event[] {
  const events: Event[] = [];
  const parser = createStreamParser({
    streamStart(header) {
      events.push(["start", header]);
    },
    stanza(stanza, bytes) {
      events.push(["stanza", stanza, bytes]);
    },
    oversizedStanza(head, bytes) {
      events.push(["oversized", head, bytes]);
    },
    streamEnd() {
      events.push(["end"]);
    },
    error(error) {
      events.push(["error", error]);
    },
  }, { limits, framing });
  for (const chunk of chunks) parser.write(chunk);
  return events;
}

/** A small seeded PRNG (mulberry32), so failures reproduce. */
function prng(seed: number): () => number {
  return function next(): number {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Named ways to cut `bytes`: whole, byte by byte, every 2-way split, random cuts. */
function* chunkings(bytes: Uint8Array, seed = 1): Generator<[string, Uint8Array[]]> {
  yield ["whole", [bytes]];
  yield ["bytewise", Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
  const every = bytes.length <= 3000;
  const random = prng(seed);
  for (let k = 1; k < bytes.length; k++) {
    const at = every ? k : 1 + Math.floor(random() * (bytes.length - 1));
    if (!every && k > 60) break;
    yield [`split at ${at}`, [bytes.subarray(0, at), bytes.subarray(at)]];
  }
  for (let round = 0; round < 40; round++) {
    const chunks: Uint8Array[] = [];
    const max = 1 + Math.floor(random() * 64);
    for (let at = 0; at < bytes.length;) {
      const size = Math.floor(random() * (max + 1)); // empty chunks included
      chunks.push(bytes.subarray(at, at + size));
      at += size;
    }
    yield [`random #${round}`, chunks];
  }
}

/** Checks that every chunking reports exactly `expected`. */
function assertAllChunkings(
  input: string | Uint8Array,
  expected: Event[],
  limits: ParserLimits = LIMITS,
  framing: StreamFraming = "stream",
): void {
  for (const [how, chunks] of chunkings(bytesOf(input))) {
    assert.deepStrictEqual(run(chunks, limits, framing), expected, `fed ${how}`);
  }
}

/** Checks that every chunking ends in one error with `condition`, after the same events. */
function assertFails(
  input: string | Uint8Array,
  condition: ParseError["condition"],
  appCondition?: string,
  limits: ParserLimits = LIMITS,
  framing: StreamFraming = "stream",
): void {
  const whole = run([bytesOf(input)], limits, framing);
  const last = whole.at(-1);
  assert.ok(last !== undefined && last[0] === "error", `expected an error, got ${whole.length}`);
  assert.equal(last[1].condition, condition, last[1].text);
  assert.equal(last[1].appCondition, appCondition);
  assert.ok(!last[1].text.startsWith("Cannot parse the stanza:"), last[1].text);
  assert.equal(whole.filter((e) => e[0] === "error").length, 1);
  for (const [how, chunks] of chunkings(bytesOf(input), 7)) {
    assert.deepStrictEqual(run(chunks, limits, framing), whole, `fed ${how}`);
  }
}

function stanzaEvent(xml: string, element: Element): Event {
  return ["stanza", element, encoder.encode(xml).length];
}

Deno.test("createStreamParser() parses a chat stream identically under every chunking", () => {
  const message = "<message from='romeo@example.net/orchard' to='juliet@example.com' " +
    'type="chat" id="ktx72v49"><body>Art thou not Romeo, and a Montague?</body>' +
    "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>";
  const presence = "<presence><show>away</show><status>Out to lunch</status>" +
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im'" +
    " ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>";
  const input = HEADER + message + "\n \t\r\n" + presence + " </stream:stream>";
  assertAllChunkings(input, [
    ["start", HEADER_ELEMENT],
    stanzaEvent(
      message,
      el(
        "message",
        {
          xmlns: NS_CLIENT,
          from: "romeo@example.net/orchard",
          to: "juliet@example.com",
          type: "chat",
          id: "ktx72v49",
        },
        el("body", {}, "Art thou not Romeo, and a Montague?"),
        el("thread", {}, "e0ffe42b28561960c6b12b944a092794b9683a38"),
      ),
    ),
    stanzaEvent(
      presence,
      el(
        "presence",
        { xmlns: NS_CLIENT },
        el("show", {}, "away"),
        el("status", {}, "Out to lunch"),
        el("c", {
          xmlns: "http://jabber.org/protocol/caps",
          hash: "sha-1",
          node: "https://conversations.im",
          ver: "QgayPKawpkPSDYmwT/WM94uAlu0=",
        }),
      ),
    ),
    ["end"],
  ]);
});

Deno.test("createStreamParser() resolves default namespaces, prefixes and redeclarations", () => {
  const features = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" +
    "<sm xmlns='urn:xmpp:sm:3'/></stream:features>";
  const prefixed = "<iq type='get' id='p1'><q:query xmlns:q='urn:example:q' q:mode='fast' " +
    "xml:lang='fr'><q:item/><plain/><r:x xmlns:r='urn:example:r'><q:y/></r:x></q:query></iq>";
  const redeclared = "<iq type='set' id='p2'><a xmlns:p='urn:one'><p:b><c xmlns:p='urn:two'>" +
    "<p:d/></c><p:e/></p:b></a></iq>";
  const undeclared = "<message><x xmlns='urn:x'><y xmlns=''><z/></y></x></message>";
  const streamPrefix = "<stream:error><not-well-formed " +
    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
  const input = HEADER + features + prefixed + redeclared + undeclared + streamPrefix;
  // Built by hand: el() would let the unqualified <y> and <z> adopt "urn:x".
  const x = new Element("x", "urn:x");
  const y = new Element("y", undefined);
  x.children.push(y);
  y.children.push(new Element("z", undefined));
  assertAllChunkings(input, [
    ["start", HEADER_ELEMENT],
    stanzaEvent(
      features,
      el(
        "features",
        { xmlns: NS_STREAMS },
        el("bind", { xmlns: "urn:ietf:params:xml:ns:xmpp-bind" }),
        el("sm", { xmlns: "urn:xmpp:sm:3" }),
      ),
    ),
    stanzaEvent(
      prefixed,
      el(
        "iq",
        { xmlns: NS_CLIENT, type: "get", id: "p1" },
        el(
          "query",
          { xmlns: "urn:example:q", "q:mode": "fast", "xml:lang": "fr" },
          el("item", { xmlns: "urn:example:q" }),
          el("plain", { xmlns: NS_CLIENT }),
          el("x", { xmlns: "urn:example:r" }, el("y", { xmlns: "urn:example:q" })),
        ),
      ),
    ),
    stanzaEvent(
      redeclared,
      el(
        "iq",
        { xmlns: NS_CLIENT, type: "set", id: "p2" },
        el(
          "a",
          {},
          el(
            "b",
            { xmlns: "urn:one" },
            el("c", { xmlns: NS_CLIENT }, el("d", { xmlns: "urn:two" })),
            el("e", { xmlns: "urn:one" }),
          ),
        ),
      ),
    ),
    stanzaEvent(
      undeclared,
      el("message", { xmlns: NS_CLIENT }, x),
    ),
    stanzaEvent(
      streamPrefix,
      el(
        "error",
        { xmlns: NS_STREAMS },
        el("not-well-formed", { xmlns: "urn:ietf:params:xml:ns:xmpp-streams" }),
      ),
    ),
  ]);
  assert.equal(NS_XML, "http://www.w3.org/XML/1998/namespace");
});

Deno.test("createStreamParser() decodes entities, CDATA, line ends and keeps indentation", () => {
  const entities = "<message id='a&amp;b&#x27;&lt;' to=\"x&quot;'y\"><body>a &amp; b &lt;c&gt; " +
    "&quot;d&quot; &apos;e&apos; &#65;&#x42;&#x1F600;&#10;&#xD;</body></message>";
  const cdata = "<message><body>before <![CDATA[<b>bold</b> & ]] > ]]> after<![CDATA[]]>" +
    "<![CDATA[x]]></body></message>";
  const indented = "<message>\n  <body>line one\n    indented two\n\ttabbed three\n</body>\n" +
    "</message>";
  const lineEnds = "<message note='a\r\nb\rc\nd\te'><body>one\r\ntwo\rthree\r\n\r\nfour</body>" +
    "<![CDATA[x\r\ny]]></message>";
  const quoting = "<iq id=\"it's\" type='a \"b\" > c / d'  ><query  xmlns = 'urn:q' /></iq >";
  const input = HEADER + entities + cdata + indented + lineEnds + quoting;
  assertAllChunkings(input, [
    ["start", HEADER_ELEMENT],
    stanzaEvent(
      entities,
      el(
        "message",
        { xmlns: NS_CLIENT, id: "a&b'<", to: "x\"'y" },
        el("body", {}, "a & b <c> \"d\" 'e' AB\u{1F600}\n\r"),
      ),
    ),
    stanzaEvent(
      cdata,
      el("message", { xmlns: NS_CLIENT }, el("body", {}, "before <b>bold</b> & ]] >  afterx")),
    ),
    stanzaEvent(
      indented,
      el(
        "message",
        { xmlns: NS_CLIENT },
        "\n  ",
        el("body", {}, "line one\n    indented two\n\ttabbed three\n"),
        "\n",
      ),
    ),
    stanzaEvent(
      lineEnds,
      el(
        "message",
        { xmlns: NS_CLIENT, note: "a b c d e" },
        el("body", {}, "one\ntwo\nthree\n\nfour"),
        "x\ny",
      ),
    ),
    stanzaEvent(
      quoting,
      el(
        "iq",
        { xmlns: NS_CLIENT, id: "it's", type: 'a "b" > c / d' },
        el("query", { xmlns: "urn:q" }),
      ),
    ),
  ]);
});

Deno.test("createStreamParser() keeps multi-byte UTF-8 and emoji intact across every split", () => {
  const text = "héllo wörld — 日本語 🎉🇫🇷 👩‍👩‍👧 \u{10FFFD}\u00a0\u2028";
  const stanza = `<message to='ñandú@exämple.com' emoji='😀'><body>${text}</body>` +
    "<ünïcode xmlns='urn:ü'/></message>";
  assertAllChunkings(HEADER + stanza, [
    ["start", HEADER_ELEMENT],
    stanzaEvent(
      stanza,
      el(
        "message",
        { xmlns: NS_CLIENT, to: "ñandú@exämple.com", emoji: "😀" },
        el("body", {}, text),
        el("ünïcode", { xmlns: "urn:ü" }),
      ),
    ),
  ]);
});

Deno.test("createStreamParser() delivers a roster of 200 items and a 10 KiB body", () => {
  const items = Array.from(
    { length: 200 },
    (_, i) =>
      `<item jid='contact${i}@example.org' name='Contact ${i}' subscription='both'>` +
      `<group>Friends</group></item>`,
  ).join("");
  const roster = `<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v1'>${items}` +
    "</query></iq>";
  const body = "0123456789abcdef".repeat(640);
  const big = `<message><body>${body}</body></message>`;
  const limits = { ...LIMITS, maxStanzaBytes: 40_000, maxElementsPerStanza: 1000 };
  const events = run([encoder.encode(HEADER + roster + big)], limits);
  assert.equal(events.length, 3);
  const [, rosterEvent, bigEvent] = events;
  assert.ok(rosterEvent?.[0] === "stanza" && bigEvent?.[0] === "stanza");
  const query = rosterEvent[1].getChild("query", "jabber:iq:roster");
  assert.equal(query?.getChildren("item").length, 200);
  assert.deepStrictEqual(
    query?.getChildren("item")[199],
    el("item", {
      xmlns: "jabber:iq:roster",
      jid: "contact199@example.org",
      name: "Contact 199",
      subscription: "both",
    }, el("group", {}, "Friends")),
  );
  assert.equal(bigEvent[1].getChildText("body"), body);
  assert.equal(bigEvent[2], big.length);
  assertAllChunkings(HEADER + roster + big, events, limits);
});

Deno.test("createStreamParser() frames RFC 7395 fragments, <open/> and <close/> included", () => {
  const open = `<open xmlns='${FRAMING}' to='example.com' version='1.0'/>`;
  const message = "<message xmlns='jabber:client' to='juliet@example.com'><body>hi</body>" +
    "</message>";
  const close = `<close xmlns="${FRAMING}" />`;
  assertAllChunkings(
    open + message + "\n" + close,
    [
      stanzaEvent(open, el("open", { xmlns: FRAMING, to: "example.com", version: "1.0" })),
      stanzaEvent(
        message,
        el("message", { xmlns: NS_CLIENT, to: "juliet@example.com" }, el("body", {}, "hi")),
      ),
      stanzaEvent(close, el("close", { xmlns: FRAMING })),
    ],
    LIMITS,
    "fragments",
  );
  assertFails(
    "<message xmlns='jabber:client'/></stream>",
    "not-well-formed",
    undefined,
    LIMITS,
    "fragments",
  );
  assertFails("<?xml version='1.0'?><open/>", "restricted-xml", undefined, LIMITS, "fragments");
  assertFails("hello", "not-well-formed", undefined, LIMITS, "fragments");
  assertFails("<a><b:c/></a>", "not-well-formed", undefined, LIMITS, "fragments");
});

Deno.test("createStreamParser() accepts headers with and without a declaration", () => {
  const bare = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " +
    'xmlns="jabber:server" to="example.com">';
  const events = run([encoder.encode(bare + "<presence/>")]);
  assert.deepStrictEqual(events, [
    ["start", new Element("stream", NS_STREAMS, { to: "example.com" })],
    ["stanza", el("presence", { xmlns: "jabber:server" }), 11],
  ]);
  const declared = '<?xml version="1.0" encoding="UTF-8" standalone=\'yes\' ?>' + bare;
  assertAllChunkings(declared + "<presence/>", events);
  const selfClosing = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>";
  assertAllChunkings(selfClosing, [["start", new Element("stream", NS_STREAMS)], ["end"]]);
});

Deno.test("createStreamParser() reports malformed XML as not-well-formed under any chunking", () => {
  const cases: [string, string | Uint8Array][] = [
    ["mismatched close tag", "<message><body>x</bdy></message>"],
    ["close tag at stream level", "</message>"],
    ["duplicate attribute", "<message id='1' id='2'/>"],
    ["duplicate expanded attribute", "<x xmlns:a='urn:a' xmlns:b='urn:a' a:k='1' b:k='2'/>"],
    ["duplicate default declaration", "<x xmlns='urn:a' xmlns='urn:b'/>"],
    ["unbound element prefix", "<foo:message/>"],
    ["unbound attribute prefix", "<message foo:id='1'/>"],
    ["prefix used outside its scope", "<m><a xmlns:p='urn:p'/><p:b/></m>"],
    ["undeclared prefix", "<m xmlns:p=''/>"],
    ["rebound xml prefix", "<m xmlns:xml='urn:x'/>"],
    ["two colons", "<a:b:c/>"],
    ["empty local part", "<a: xmlns:a='urn:a'/>"],
    ["< in attribute value", "<message id='a<b'/>"],
    ["missing space between attributes", "<message a='1'b='2'/>"],
    ["unquoted attribute", "<message a=1/>"],
    ["attribute without value", "<message a/>"],
    ["bad name start", "<1message/>"],
    ["space after <", "< message/>"],
    ["]]> in text", "<message><body>a]]>b</body></message>"],
    ["char ref to NUL", "<message><body>&#0;</body></message>"],
    ["char ref to a surrogate", "<message><body>&#xD800;</body></message>"],
    ["char ref above U+10FFFF", "<message><body>&#x110000;</body></message>"],
    ["char ref to U+FFFE", "<m a='&#xFFFE;'/>"],
    ["empty char ref", "<message><body>&#;</body></message>"],
    ["bad hex digits", "<message><body>&#xZZ;</body></message>"],
    ["empty entity", "<message><body>&;</body></message>"],
    ["entity with a space", "<message><body>&am p;</body></message>"],
    ["wrong stream close", "<presence/></stream:streams>"],
    ["text before the header", "hello<stream:stream>"],
    ["lone continuation byte", concat("<m>", new Uint8Array([0x80]), "</m>")],
    ["overlong encoding", concat("<m>", new Uint8Array([0xc0, 0xaf]), "</m>")],
    ["overlong three bytes", concat("<m>", new Uint8Array([0xe0, 0x80, 0xaf]), "</m>")],
    ["truncated sequence", concat("<m>", new Uint8Array([0xe2, 0x82]), "x</m>")],
    ["UTF-16 surrogate", concat("<m>", new Uint8Array([0xed, 0xa0, 0x80]), "</m>")],
    ["above U+10FFFF", concat("<m>", new Uint8Array([0xf4, 0x90, 0x80, 0x80]), "</m>")],
    ["invalid lead byte", concat("<m>", new Uint8Array([0xf5, 0x80, 0x80, 0x80]), "</m>")],
    ["U+FFFF", concat("<m>", new Uint8Array([0xef, 0xbf, 0xbf]), "</m>")],
    ["NUL", "<m>\u0000</m>"],
    ["control char in text", "<message><body>a\u0001b</body></message>"],
    ["control char in attribute", "<message id='\u000b'/>"],
    ["control char between stanzas", "<a/>\u000c<b/>"],
    ["form feed in a name", "<me\u000cssage/>"],
  ];
  for (const [name, body] of cases) {
    const input = typeof body === "string" && body.startsWith("hello")
      ? body
      : concat(HEADER, body);
    try {
      assertFails(input, "not-well-formed");
    } catch (error) {
      throw new Error(`case '${name}': ${error}`);
    }
  }
  assertFails("<?xml encoding='utf-8'?><stream:stream>", "not-well-formed");
  assertFails("<?xml version='1.0' encoding='utf-8'", "policy-violation", "stanza-too-big", {
    ...LIMITS,
    maxStanzaBytesHard: 30,
    maxStanzaBytes: 30,
  });
});

Deno.test("createStreamParser() reports restricted XML under any chunking", () => {
  const billionLaughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>" +
    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>" +
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><m>&lol2;</m>";
  assertFails(billionLaughs, "restricted-xml");
  const cases = [
    "<message><!-- comment --></message>",
    "<!-- between stanzas -->",
    "<message><?php echo 1 ?></message>",
    "<?xml version='1.0'?>",
    "<message><body>&foo;</body></message>",
    "<message><body>&nbsp;</body></message>",
    "<message><body>&ampersand;</body></message>",
    "<message id='&copy;'/>",
    "<message><!DOCTYPE x></message>",
    "<message><!ELEMENT x></message>",
  ];
  for (const body of cases) assertFails(HEADER + body, "restricted-xml");
  assertFails(" <?xml version='1.0'?><stream:stream>", "restricted-xml");
  assertFails("<!DOCTYPE stream><stream:stream>", "restricted-xml");
});

Deno.test("createStreamParser() checks the stream header's namespace and encoding", () => {
  assertFails(
    "<stream:stream xmlns:stream='urn:not-streams' xmlns='jabber:client'>",
    "invalid-namespace",
  );
  assertFails("<stream xmlns='jabber:client'>", "invalid-namespace");
  assertFails(
    "<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>",
    "invalid-namespace",
  );
  assertFails("<stream:stream xmlns='jabber:client'>", "not-well-formed");
  assertFails(
    "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>",
    "unsupported-encoding",
  );
  assertFails("<?xml version='1.0' encoding=\"UTF-16\"?>", "unsupported-encoding");
  assertFails(HEADER + "hello <presence/>", "bad-format");
  assertFails(HEADER + "<![CDATA[x]]>", "bad-format");
  assertFails(HEADER + "&amp;", "bad-format");
});

Deno.test("createStreamParser() enforces each limit byte-exactly", () => {
  const limits: ParserLimits = {
    maxStanzaBytes: 200,
    maxStanzaBytesHard: 400,
    maxDepth: 4,
    maxAttributes: 3,
    maxNameLength: 14,
    maxAttributeValueLength: 40,
    maxNamespaceDeclarations: 2,
    maxElementsPerStanza: 6,
  };
  // The header is held to the same caps: 2 attributes, names of 13 bytes, a 32-byte value.
  const header = "<stream:stream xmlns='jabber:client' " +
    "xmlns:stream='http://etherx.jabber.org/streams'>";
  function passes(stanza: string): void {
    const events = run([encoder.encode(header + stanza)], limits);
    assert.equal(events.length, 2, `${stanza}: ${JSON.stringify(events.at(-1))}`);
    assert.equal(events[1]?.[0], "stanza", stanza);
  }
  function policy(stanza: string): void {
    assertFails(header + stanza, "policy-violation", undefined, limits);
  }
  passes("<a><b><c><d/></c></b></a>");
  policy("<a><b><c><d><e/></d></c></b></a>");
  passes("<a x='1' y='2' z='3'/>");
  policy("<a x='1' y='2' z='3' w='4'/>");
  passes("<a xmlns='urn:a' xmlns:p='urn:p'/>");
  policy("<a xmlns='urn:a' xmlns:p='urn:p' xmlns:q='urn:q'/>");
  policy("<a xmlns='urn:a' xmlns:p='urn:p' xmlns:q='urn:q' a='1'/>");
  passes("<a xmlnsx='1' xmlns='urn:a' xmlns:p='urn:p'/>");
  passes("<abcdefghijklmn abcdefghijklmn='x'></abcdefghijklmn>");
  passes("<p:cdefghijklmn xmlns:p='urn:p'/>");
  policy("<abcdefghijklmno/>");
  policy("<a abcdefghijklmno='x'/>");
  policy("<a></abcdefghijklmno>");
  passes(`<a v='${"1".repeat(40)}'/>`);
  passes(`<a v='&amp;&amp;${"1".repeat(30)}'/>`);
  policy(`<a v='${"1".repeat(41)}'/>`);
  policy(`<a v='&amp;&amp;${"1".repeat(31)}'/>`);
  policy(`<a v="${"1".repeat(41)}"/>`);
  assertFails(`<stream:stream to='${"x".repeat(41)}'>`, "policy-violation", undefined, limits);
  passes("<a><b/><b/><b/><b/><b/></a>");
  policy("<a><b/><b/><b/><b/><b/><b/></a>");
  policy("<presence/><a><b/><b/><b/><b/><b/><b/></a>");
  passes("<presence/><a><b/><b/><b/><b/><b/></a>".slice(11));
});

Deno.test("createStreamParser() takes a stanza of exactly maxStanzaBytes and not one byte more", () => {
  const limits = { ...LIMITS, maxStanzaBytes: 100, maxStanzaBytesHard: 150 };
  const frame = "<message id='x'><body></body></message>";
  const fits = `<message id='x'><body>${"a".repeat(100 - frame.length)}</body></message>`;
  const over = `<message id='x'><body>${"a".repeat(101 - frame.length)}</body></message>`;
  assert.equal(fits.length, 100);
  const head = el("message", { xmlns: NS_CLIENT, id: "x" });
  assertAllChunkings(HEADER + fits + over + "<iq/>", [
    ["start", HEADER_ELEMENT],
    ["stanza", el("message", { xmlns: NS_CLIENT, id: "x" }, el("body", {}, "a".repeat(61))), 100],
    ["oversized", head, 101],
    ["stanza", el("iq", { xmlns: NS_CLIENT }), 5],
  ], limits);
  const hardFits = `<message id='x'><body>${"a".repeat(150 - frame.length)}</body></message>`;
  assertAllChunkings(HEADER + hardFits, [
    ["start", HEADER_ELEMENT],
    ["oversized", head, 150],
  ], limits);
  const hardOver = `<message id='x'><body>${"a".repeat(151 - frame.length)}</body></message>`;
  assertFails(HEADER + hardOver, "policy-violation", "stanza-too-big", limits);
  const selfClosing = `<presence id='${"p".repeat(86)}'/>`;
  assert.equal(selfClosing.length, 103);
  assertAllChunkings(HEADER + selfClosing, [
    ["start", HEADER_ELEMENT],
    ["oversized", el("presence", { xmlns: NS_CLIENT, id: "p".repeat(86) }), 103],
  ], limits);
});

Deno.test("createStreamParser() survives bombs without growing memory", () => {
  const depthBomb = HEADER + "<a>".repeat(100_000);
  assertFails(depthBomb, "policy-violation");
  const attributeBomb = HEADER + "<message " +
    Array.from({ length: 5000 }, (_, i) => `a${i}='x'`).join(" ") + "/>";
  assertFails(attributeBomb, "policy-violation");
  const elementBomb = HEADER + "<message>" + "<x/>".repeat(10_000) + "</message>";
  assertFails(elementBomb, "policy-violation");
  const nsBomb = HEADER + "<message " +
    Array.from({ length: 50 }, (_, i) => `xmlns:p${i}='urn:${i}'`).join(" ") + "/>";
  assertFails(nsBomb, "policy-violation");
  const giant = HEADER + "<message><body>" + "x".repeat(100_000);
  assertFails(giant, "policy-violation", "stanza-too-big");
  const giantValue = HEADER + "<message id='" + "x".repeat(100_000);
  assertFails(giantValue, "policy-violation");
  const giantName = HEADER + "<" + "x".repeat(100_000);
  assertFails(giantName, "policy-violation");
  const giantHeader = "<stream:stream " + "a".repeat(50) + "='" + "v".repeat(100_000);
  assertFails(giantHeader, "policy-violation");
});

Deno.test("createStreamParser() keeps memory flat on an oversized stanza streamed in 1 MiB", () => {
  const limits = { ...LIMITS, maxStanzaBytes: 1024, maxStanzaBytesHard: 64 << 20 };
  let oversized = 0;
  const parser = createStreamParser({
    streamStart() {},
    stanza() {},
    oversizedStanza(_head, bytes) {
      oversized = bytes;
    },
    streamEnd() {},
    error(error) {
      throw new Error(error.text);
    },
  }, { limits });
  parser.write(encoder.encode(HEADER + "<message id='big'><body>"));
  const filler = encoder.encode("lorem ipsum dolor sit amet ".repeat(40));
  const before = Deno.memoryUsage();
  let fed = 0;
  while (fed < 48 << 20) {
    parser.write(filler);
    fed += filler.length;
  }
  const after = Deno.memoryUsage();
  parser.write(encoder.encode("</body></message>"));
  assert.ok(oversized > 48 << 20);
  const grown = after.heapUsed + after.external - before.heapUsed - before.external;
  assert.ok(grown < 16 << 20, `grew ${grown} bytes while skipping 48 MiB`);
});

Deno.test("createStreamParser() never throws and reports at most one error on mangled input", () => {
  const random = prng(42);
  const seeds = [
    HEADER + "<message to='a@b' id='1'><body>hi &amp; bye &#x1F600;</body></message>" +
    "<iq type='get'><q:query xmlns:q='urn:q'><![CDATA[raw]]></q:query></iq></stream:stream>",
    HEADER + "<presence><c xmlns='http://jabber.org/protocol/caps' ver='x=='/></presence>",
  ].map((s) => encoder.encode(s));
  const small = { ...LIMITS, maxStanzaBytes: 60, maxStanzaBytesHard: 120, maxDepth: 3 };
  const interesting = [0x3c, 0x3e, 0x2f, 0x26, 0x3b, 0x27, 0x22, 0x3d, 0x21, 0x3f, 0x5d, 0xf0];
  for (let round = 0; round < 3000; round++) {
    const bytes = seeds[round % seeds.length]!.slice();
    const edits = 1 + Math.floor(random() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * bytes.length);
      bytes[at] = random() < 0.6
        ? interesting[Math.floor(random() * interesting.length)]!
        : Math.floor(random() * 256);
    }
    for (const limits of [LIMITS, small]) {
      const whole = run([bytes], limits);
      const errors = whole.filter((e) => e[0] === "error");
      assert.ok(errors.length <= 1);
      if (errors.length === 1) assert.equal(whole.at(-1), errors[0]);
      for (const event of whole) {
        if (event[0] === "error") {
          assert.ok(!event[1].text.startsWith("Cannot parse the stanza:"), event[1].text);
        }
      }
      const cut = Math.floor(random() * bytes.length);
      const split = run([bytes.subarray(0, cut), bytes.subarray(cut)], limits);
      assert.deepStrictEqual(split, whole, `round ${round}, cut at ${cut}`);
    }
  }
});

Deno.test("createStreamParser() reset() inside a callback hands the chunk's rest to a new stream", () => {
  const events: string[] = [];
  const parser = createStreamParser({
    streamStart(header) {
      events.push(`start ${header.attrs.to}`);
    },
    stanza(stanza) {
      events.push(`stanza ${stanza.name}`);
      if (stanza.name === "proceed") parser.reset();
    },
    oversizedStanza() {},
    streamEnd() {
      events.push("end");
    },
    error(error) {
      events.push(`error ${error.condition}`);
    },
  }, { limits: LIMITS });
  const restart = "<?xml version='1.0'?><stream:stream to='again' " +
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>";
  parser.write(encoder.encode(
    HEADER + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><proceed/>" + restart +
      "<message/>",
  ));
  assert.deepStrictEqual(events, [
    "start example.com",
    "stanza starttls",
    "stanza proceed",
    "start again",
    "stanza message",
  ]);
  assert.equal(parser.outstandingBytes, 0);
});

Deno.test("createStreamParser() halt() drops input until reset()", () => {
  const events: string[] = [];
  const parser = createStreamParser({
    streamStart() {
      events.push("start");
    },
    stanza(stanza) {
      events.push(stanza.name);
      if (stanza.name === "stop") parser.halt();
    },
    oversizedStanza() {},
    streamEnd() {},
    error(error) {
      events.push(`error ${error.condition}`);
    },
  }, { limits: LIMITS });
  parser.write(encoder.encode(HEADER + "<a/><stop/><b/>"));
  parser.write(encoder.encode("<c/><!-- would be an error -->"));
  assert.deepStrictEqual(events, ["start", "a", "stop"]);
  parser.reset();
  parser.write(encoder.encode(HEADER + "<d/>"));
  assert.deepStrictEqual(events, ["start", "a", "stop", "start", "d"]);
});

Deno.test("createStreamParser() emits nothing after error() and recovers on reset()", () => {
  const events: string[] = [];
  const parser = createStreamParser({
    streamStart() {
      events.push("start");
    },
    stanza(stanza) {
      events.push(stanza.name);
    },
    oversizedStanza() {},
    streamEnd() {
      events.push("end");
    },
    error(error) {
      events.push(`error ${error.condition}`);
    },
  }, { limits: LIMITS });
  parser.write(encoder.encode(HEADER + "<a/><b id='1' id='2'/><c/>"));
  parser.write(encoder.encode("<d/></stream:stream>"));
  assert.deepStrictEqual(events, ["start", "a", "error not-well-formed"]);
  parser.reset();
  parser.write(encoder.encode(HEADER + "<e/></stream:stream><f/>"));
  assert.deepStrictEqual(events, ["start", "a", "error not-well-formed", "start", "e", "end"]);
});

Deno.test("createStreamParser() counts outstanding bytes since the last stanza", () => {
  const parser = createStreamParser({
    streamStart() {},
    stanza() {},
    oversizedStanza() {},
    streamEnd() {},
    error(error) {
      throw new Error(error.text);
    },
  }, { limits: LIMITS });
  const header = encoder.encode(HEADER);
  parser.write(header.subarray(0, 10));
  assert.equal(parser.outstandingBytes, 10);
  parser.write(header.subarray(10));
  assert.equal(parser.outstandingBytes, 0);
  parser.write(encoder.encode("  <message><body>"));
  assert.equal(parser.outstandingBytes, 17);
  parser.write(encoder.encode("hi</body></message> <pres"));
  assert.equal(parser.outstandingBytes, 6);
  parser.reset();
  assert.equal(parser.outstandingBytes, 0);
});

Deno.test("createStreamParser() setLimits() applies to the next stanza", () => {
  const events: Event[] = [];
  const parser = createStreamParser({
    streamStart() {},
    stanza(stanza, bytes) {
      events.push(["stanza", stanza, bytes]);
      parser.setLimits({ ...LIMITS, maxStanzaBytes: 10 });
    },
    oversizedStanza(head, bytes) {
      events.push(["oversized", head, bytes]);
    },
    streamEnd() {},
    error(error) {
      events.push(["error", error]);
    },
  }, { limits: LIMITS });
  parser.write(encoder.encode(HEADER + "<message id='1'/><message id='2'/>"));
  assert.deepStrictEqual(events.map((e) => e[0]), ["stanza", "oversized"]);
  assert.throws(() => parser.setLimits({ ...LIMITS, maxDepth: 0 }), RangeError);
  assert.throws(
    () => parser.setLimits({ ...LIMITS, maxStanzaBytes: 10, maxStanzaBytesHard: 9 }),
    RangeError,
  );
});

Deno.test("createStreamParser() queues a write() made from inside a callback", () => {
  const names: string[] = [];
  const parser = createStreamParser({
    streamStart() {},
    stanza(stanza) {
      names.push(stanza.name);
      if (stanza.name === "a") {
        const reused = encoder.encode("<c/>");
        parser.write(reused);
        reused.set(encoder.encode("<x/>")); // the caller reuses its buffer at once
      }
    },
    oversizedStanza() {},
    streamEnd() {},
    error(error) {
      throw new Error(error.text);
    },
  }, { limits: LIMITS });
  parser.write(encoder.encode(HEADER + "<a/><b/>"));
  assert.deepStrictEqual(names, ["a", "b", "c"]);
});

Deno.test("createStreamParser() halts when a handler throws and lets the exception through", () => {
  const names: string[] = [];
  const parser = createStreamParser({
    streamStart() {},
    stanza(stanza) {
      names.push(stanza.name);
      if (stanza.name === "boom") throw new TypeError("handler bug");
    },
    oversizedStanza() {},
    streamEnd() {},
    error() {},
  }, { limits: LIMITS });
  assert.throws(() => parser.write(encoder.encode(HEADER + "<a/><boom/><b/>")), TypeError);
  parser.write(encoder.encode("<c/>"));
  assert.deepStrictEqual(names, ["a", "boom"]);
});

Deno.test("createStreamParser() rejects invalid limits at creation", () => {
  const handler = {
    streamStart() {},
    stanza() {},
    oversizedStanza() {},
    streamEnd() {},
    error() {},
  };
  assert.throws(
    () => createStreamParser(handler, { limits: { ...LIMITS, maxAttributes: 1.5 } }),
    RangeError,
  );
  assert.throws(
    () => createStreamParser(handler, { limits: { ...LIMITS, maxStanzaBytesHard: 1 } }),
    RangeError,
  );
});
