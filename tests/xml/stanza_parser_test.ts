import assert from "node:assert/strict";
import { el, Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_STREAMS } from "../../src/xml/ns.ts";
import {
  EMPTY_NAMESPACE_CONTEXT,
  type NamespaceContext,
  StanzaParser,
  StanzaSyntaxError,
} from "../../src/xml/stanza_parser.ts";
import type { ParseErrorCondition } from "../../src/xml/stream_parser.ts";

const parser = new StanzaParser();
const encoder = new TextEncoder();
const CLIENT: NamespaceContext = {
  defaultNs: NS_CLIENT,
  prefixes: { prefix: "stream", uri: NS_STREAMS, next: null },
};

function parse(xml: string, context = CLIENT): Element {
  return parser.parse(encoder.encode(xml), context);
}

function assertRejects(xml: string, condition: ParseErrorCondition): void {
  assert.throws(
    () => parse(xml),
    (error: unknown) => error instanceof StanzaSyntaxError && error.condition === condition,
    xml,
  );
}

Deno.test("StanzaParser.parse() builds elements with namespaces from the context", () => {
  const iq = parse(
    "<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v1'>" +
      "<item jid='a@b' name='A'><group>G</group></item></query><stream:x/></iq>",
  );
  assert.deepStrictEqual(
    iq,
    el(
      "iq",
      { xmlns: NS_CLIENT, type: "result", id: "r1" },
      el(
        "query",
        { xmlns: "jabber:iq:roster", ver: "v1" },
        el("item", { jid: "a@b", name: "A" }, el("group", {}, "G")),
      ),
      el("x", { xmlns: NS_STREAMS }),
    ),
  );
  assert.equal(parse("<a/>", EMPTY_NAMESPACE_CONTEXT).ns, undefined);
});

Deno.test("StanzaParser.parse() keys prefixed attributes by qualified name", () => {
  const element = parse(
    "<a xmlns:p='urn:p' p:x='1' x='2' xml:lang='de'><p:b p:y='3'/></a>",
  );
  assert.deepStrictEqual(element.attrs, { "p:x": "1", x: "2", "xml:lang": "de" });
  assert.deepStrictEqual(element.children[0], new Element("b", "urn:p", { "p:y": "3" }, []));
});

Deno.test("StanzaParser.parse() keeps text exact, merges CDATA and normalises line ends", () => {
  const message = parse(
    "<message>\n  <body>  two spaces\n\tand a tab\r\nCRLF\rCR </body>\n" +
      "  <x>a<![CDATA[<&>]]>b<![CDATA[\r\n]]></x>\n</message>",
  );
  assert.deepStrictEqual(message.children, [
    "\n  ",
    el("body", { xmlns: NS_CLIENT }, "  two spaces\n\tand a tab\nCRLF\nCR "),
    "\n  ",
    el("x", { xmlns: NS_CLIENT }, "a<&>b\n"),
    "\n",
  ]);
});

Deno.test("StanzaParser.parse() decodes references and normalises attribute whitespace", () => {
  const element = parse(
    "<a v='&lt;&gt;&amp;&quot;&apos;&#9;&#xa;&#x1F600;' w='a\tb\nc\r\nd\re'>" +
      "&#60;tag&#x3E; &#x10FFFF;&#65533;</a>",
  );
  assert.deepStrictEqual(element.attrs, { v: "<>&\"'\t\n\u{1F600}", w: "a b c d e" });
  assert.equal(element.text(), "<tag> \u{10FFFF}\ufffd");
});

Deno.test("StanzaParser.parse() keeps an attribute named __proto__ as data", () => {
  const element = parse("<a __proto__='x' constructor='y'/>");
  assert.equal(Object.getPrototypeOf(element.attrs), Object.prototype);
  assert.deepStrictEqual(Object.keys(element.attrs), ["__proto__", "constructor"]);
  assert.equal(element.attrs["__proto__"], "x");
  assert.throws(() => parse("<a constructor='1' constructor='2'/>"), StanzaSyntaxError);
});

Deno.test("StanzaParser.parse() leaves unqualified children of xmlns='' without a namespace", () => {
  const element = parse("<a><b xmlns=''><c/></b></a>");
  const b = element.children[0] as Element;
  assert.equal(b.ns, undefined);
  assert.equal((b.children[0] as Element).ns, undefined);
});

Deno.test("StanzaParser.parse() rejects XML that is not well-formed", () => {
  const cases = [
    "<a></b>",
    "<a><b></a></b>",
    "<a></a ",
    "<a x='1' x='2'/>",
    "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
    "<a xmlns='u' xmlns='v'/>",
    "<a xmlns:p='u' xmlns:p='v'/>",
    "<p:a/>",
    "<a p:x='1'/>",
    "<a xmlns:p=''/>",
    "<a xmlns:xmlns='u'/>",
    "<a xmlns:xml='u'/>",
    "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
    "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
    "<a:b:c/>",
    "<:a/>",
    "<a: xmlns:a='u'/>",
    "<a x='<'/>",
    "<a x=1/>",
    "<a x/>",
    "<a x='1'y='2'/>",
    "<a/ >",
    "<1a/>",
    "<a>]]></a>",
    "<a>&#0;</a>",
    "<a>&#xD800;</a>",
    "<a>&#x110000;</a>",
    "<a>&#;</a>",
    "<a>&#x;</a>",
    "<a>&#X41;</a>",
    "<a>&;</a>",
    "<a>&amp</a>",
    "<a/><b/>",
    "<a/>text",
    "text<a/>",
    "<a><![CDATA[x</a>",
    "",
  ];
  for (const xml of cases) assertRejects(xml, "not-well-formed");
});

Deno.test("StanzaParser.parse() rejects restricted XML", () => {
  for (
    const xml of [
      "<a><!-- c --></a>",
      "<a><?pi x?></a>",
      "<a><!DOCTYPE a></a>",
      "<a>&nbsp;</a>",
      "<a x='&lol;'/>",
    ]
  ) assertRejects(xml, "restricted-xml");
});

Deno.test("StanzaParser.parse() throws only StanzaSyntaxError on every truncation", () => {
  const xml = "<message to='a@b' xmlns:p='urn:p'><p:body x=\"&amp;\">hi &#x41;<![CDATA[c]]>" +
    "</p:body><e/></message>";
  for (let end = 0; end < xml.length; end++) {
    assert.throws(() => parse(xml.slice(0, end)), StanzaSyntaxError, `cut at ${end}`);
  }
  assert.equal(parse(xml).name, "message");
});

Deno.test("StanzaParser.parseHead() parses an opening tag alone", () => {
  const head = parser.parseHead(encoder.encode("<message to='x' xml:lang='en'>"), CLIENT);
  assert.deepStrictEqual(head, el("message", { xmlns: NS_CLIENT, to: "x", "xml:lang": "en" }));
  assert.deepStrictEqual(
    parser.parseHead(encoder.encode("<p:a xmlns:p='urn:p'/>"), CLIENT),
    el("a", { xmlns: "urn:p" }),
  );
  assert.throws(() => parser.parseHead(encoder.encode("<a></a>"), CLIENT), StanzaSyntaxError);
  assert.throws(() => parser.parseHead(encoder.encode("<a"), CLIENT), StanzaSyntaxError);
});

Deno.test("StanzaParser.parseHeader() returns the namespaces stanzas inherit", () => {
  const { header, context } = parser.parseHeader(
    encoder.encode(
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' " +
        "xmlns:db='jabber:server:dialback' to='example.com'>",
    ),
    EMPTY_NAMESPACE_CONTEXT,
  );
  assert.deepStrictEqual(header, new Element("stream", NS_STREAMS, { to: "example.com" }, []));
  assert.equal(context.defaultNs, "jabber:server");
  const stanza = parser.parse(encoder.encode("<db:result><stream:x/><y/></db:result>"), context);
  assert.deepStrictEqual(
    stanza,
    el(
      "result",
      { xmlns: "jabber:server:dialback" },
      el("x", { xmlns: NS_STREAMS }),
      el("y", {
        xmlns: "jabber:server",
      }),
    ),
  );
});

Deno.test("StanzaParser keeps no state from one parse to the next", () => {
  assert.throws(() => parse("<a x='1' x='2'/>"), StanzaSyntaxError);
  assert.deepStrictEqual(parse("<a x='1'/>").attrs, { x: "1" });
  assert.equal(parse("<a>&amp;\r\n</a>").text(), "&\n");
  assert.equal(parse("<a>plain</a>").text(), "plain");
  assert.throws(() => parse("<a><b>"), StanzaSyntaxError);
  assert.deepStrictEqual(parse("<c/>"), el("c", { xmlns: NS_CLIENT }));
});
