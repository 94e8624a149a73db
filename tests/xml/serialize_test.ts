import assert from "node:assert/strict";
import { el, Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_STREAMS } from "../../src/xml/ns.ts";
import {
  escapeAttr,
  escapeText,
  serialize,
  STREAM_CLOSE,
  streamHeader,
} from "../../src/xml/serialize.ts";

Deno.test("escapeText() escapes ampersands, angle brackets and carriage returns", () => {
  assert.equal(escapeText("a & b < c > d"), "a &amp; b &lt; c &gt; d");
  assert.equal(escapeText("]]>"), "]]&gt;");
  assert.equal(escapeText("line\r\nnext"), "line&#13;\nnext");
});

Deno.test("escapeText() escapes an existing entity once, not twice", () => {
  assert.equal(escapeText("&lt;"), "&amp;lt;");
  assert.equal(escapeText("&&"), "&amp;&amp;");
});

Deno.test("escapeText() leaves quotes, tabs, line feeds and non-ASCII alone", () => {
  const text = `"it's"\tfine\n☃ 𝄞`;
  assert.equal(escapeText(text), text);
  assert.equal(escapeText(""), "");
});

Deno.test("escapeAttr() escapes both quote kinds besides the text specials", () => {
  assert.equal(escapeAttr(`a"b'c&d<e>f`), "a&quot;b&apos;c&amp;d&lt;e&gt;f");
});

Deno.test("escapeAttr() writes tabs and line breaks as character references", () => {
  assert.equal(escapeAttr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
  assert.equal(escapeAttr("\t"), "&#9;");
});

Deno.test("escapeAttr() returns plain values unchanged", () => {
  assert.equal(escapeAttr("juliet@example.com/balcony ☃"), "juliet@example.com/balcony ☃");
});

Deno.test("serialize() writes an element without children as self-closing", () => {
  assert.equal(serialize(el("presence")), "<presence/>");
  assert.equal(
    serialize(el("presence", { type: "unavailable" })),
    `<presence type="unavailable"/>`,
  );
});

Deno.test("serialize() writes an empty text child as an open and a close tag", () => {
  assert.equal(serialize(el("body", {}, "")), "<body></body>");
});

Deno.test("serialize() writes attributes in order with escaped values in double quotes", () => {
  const element = el("message", { to: `a"b`, id: "x&y", type: "chat" });
  assert.equal(serialize(element), `<message to="a&quot;b" id="x&amp;y" type="chat"/>`);
});

Deno.test("serialize() escapes text children and keeps document order", () => {
  const element = el("body", {}, "a<b", el("br"), "c&d");
  assert.equal(serialize(element), "<body>a&lt;b<br/>c&amp;d</body>");
});

Deno.test("serialize() writes the namespace only where it differs from the parent's", () => {
  const iq = el(
    "iq",
    { xmlns: NS_CLIENT, type: "get" },
    el("query", { xmlns: "jabber:iq:roster" }, el("item", { jid: "a@b" })),
    el("extra"),
  );
  assert.equal(
    serialize(iq, NS_CLIENT),
    `<iq type="get"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query><extra/></iq>`,
  );
});

Deno.test("serialize() without a parent namespace declares the element's own", () => {
  const iq = el("iq", { xmlns: NS_CLIENT, type: "get" }, el("ping", { xmlns: "urn:xmpp:ping" }));
  assert.equal(
    serialize(iq),
    `<iq xmlns="jabber:client" type="get"><ping xmlns="urn:xmpp:ping"/></iq>`,
  );
});

Deno.test("serialize() declares the namespace of an element foreign to the parent namespace", () => {
  assert.equal(serialize(el("a", { xmlns: "urn:a" }), NS_CLIENT), `<a xmlns="urn:a"/>`);
});

Deno.test("serialize() writes an element without a namespace in the parent's", () => {
  assert.equal(serialize(el("body", {}, "x"), NS_CLIENT), "<body>x</body>");
  assert.equal(serialize(el("body", {}, "x")), "<body>x</body>");
});

Deno.test("serialize() escapes a namespace URI", () => {
  assert.equal(serialize(el("x", { xmlns: `urn:a&"b` })), `<x xmlns="urn:a&amp;&quot;b"/>`);
});

Deno.test("serialize() writes an undeclared empty namespace under a default one", () => {
  assert.equal(serialize(el("x", { xmlns: "" }), NS_CLIENT), `<x xmlns=""/>`);
});

Deno.test("serialize() writes stream-namespace elements with the stream: prefix", () => {
  const features = el(
    "features",
    { xmlns: NS_STREAMS },
    el("bind", { xmlns: "urn:ietf:params:xml:ns:xmpp-bind" }),
  );
  assert.equal(
    serialize(features, NS_CLIENT),
    `<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`,
  );
  assert.equal(serialize(el("error", { xmlns: NS_STREAMS })), "<stream:error/>");
});

Deno.test("serialize() keeps the default namespace in scope inside a stream: element", () => {
  // The stream: prefix does not change the default namespace, so a jabber:client child
  // under <stream:features> needs no declaration and a foreign one does.
  const features = new Element("features", NS_STREAMS, {}, [
    new Element("message", NS_CLIENT),
    new Element("x", "urn:x"),
  ]);
  assert.equal(
    serialize(features, NS_CLIENT),
    `<stream:features><message/><x xmlns="urn:x"/></stream:features>`,
  );
});

Deno.test("serialize() writes stream-namespace children of a stream element with the prefix", () => {
  const outer = el("features", { xmlns: NS_STREAMS }, el("inner", {}, "t"));
  assert.equal(
    serialize(outer, NS_CLIENT),
    "<stream:features><stream:inner>t</stream:inner></stream:features>",
  );
});

Deno.test("serialize() returns to the outer namespace after a foreign subtree", () => {
  const root = new Element("root", "urn:a", {}, [
    new Element("foreign", "urn:b", {}, [new Element("deep", "urn:b")]),
    new Element("back", "urn:a"),
  ]);
  assert.equal(
    serialize(root, "urn:a"),
    `<root><foreign xmlns="urn:b"><deep/></foreign><back/></root>`,
  );
});

Deno.test("serialize() writes prefixed attribute names such as xml:lang as they are", () => {
  assert.equal(
    serialize(el("body", { "xml:lang": "en" }, "hi"), NS_CLIENT),
    `<body xml:lang="en">hi</body>`,
  );
});

Deno.test("serialize() writes attribute line breaks so they survive a parse", () => {
  assert.equal(serialize(el("x", { v: "a\nb" })), `<x v="a&#10;b"/>`);
});

Deno.test("streamHeader() writes the declaration, both namespaces and version 1.0", () => {
  assert.equal(
    streamHeader({ contentNs: NS_CLIENT }),
    `<?xml version="1.0"?><stream:stream xmlns="jabber:client" ` +
      `xmlns:stream="http://etherx.jabber.org/streams" version="1.0">`,
  );
});

Deno.test("streamHeader() writes from, to, id and xml:lang in that order when given", () => {
  assert.equal(
    streamHeader({
      contentNs: "jabber:server",
      lang: "en",
      id: "abc",
      to: "other.example",
      from: "example.org",
    }),
    `<?xml version="1.0"?><stream:stream xmlns="jabber:server" ` +
      `xmlns:stream="http://etherx.jabber.org/streams" from="example.org" ` +
      `to="other.example" id="abc" xml:lang="en" version="1.0">`,
  );
});

Deno.test("streamHeader() escapes attribute values a peer sent", () => {
  const header = streamHeader({ contentNs: NS_CLIENT, to: `x"><evil/>` });
  assert.ok(header.includes(` to="x&quot;&gt;&lt;evil/&gt;"`), header);
  assert.equal(header.includes("<evil/>"), false);
});

Deno.test("STREAM_CLOSE is the closing stream tag", () => {
  assert.equal(STREAM_CLOSE, "</stream:stream>");
});
