// The <body/> wrapper: attributes and raw payload bytes out of a request,
// and response bodies.

import assert from "node:assert/strict";
import { boshBody, parseBoshBody, readBoshAttributes } from "../../src/transport/bosh_body.ts";

const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const encoder = new TextEncoder();

function parse(text: string): { attrs: Record<string, string>; payload: string } {
  const body = parseBoshBody(encoder.encode(text));
  return { attrs: body.attrs, payload: new TextDecoder().decode(body.payload) };
}

Deno.test("parseBoshBody() keeps the payload bytes exactly as sent", () => {
  const payload =
    "<message xmlns='jabber:client' to='a@b'><body>1 &lt; 2 \u{1F339}</body></message>" +
    "\n<presence xmlns='jabber:client'/>";
  assert.deepEqual(parse(`<body rid='1' sid='s' ${NS}>${payload}</body>`), {
    attrs: { rid: "1", sid: "s" },
    payload,
  });
});

Deno.test("parseBoshBody() accepts a declaration, whitespace, a prefix and a self-closing body", () => {
  assert.deepEqual(
    parse(
      `<?xml version='1.0' encoding='utf-8'?>\n<body rid="2" xml:lang="en" xmpp:restart="true" ` +
        `xmlns:xmpp="urn:xmpp:xbosh" ${NS}/>\r\n`,
    ),
    { attrs: { rid: "2", "xml:lang": "en", "xmpp:restart": "true" }, payload: "" },
  );
  assert.deepEqual(
    parse(
      `<b:body xmlns:b='http://jabber.org/protocol/httpbind' rid='3'><iq xmlns='jabber:client'/></b:body >`,
    ),
    { attrs: { rid: "3" }, payload: "<iq xmlns='jabber:client'/>" },
  );
  assert.deepEqual(parse(`<body rid='4' a='x > y' ${NS}></body>`), {
    attrs: { rid: "4", a: "x > y" },
    payload: "",
  });
});

Deno.test("parseBoshBody() refuses anything but one body in the httpbind namespace", () => {
  for (
    const [text, reason] of [
      ["", /expected <body>/],
      ["hello", /expected <body>/],
      [`<body rid='1'/>`, /expected <body xmlns='http:\/\/jabber.org\/protocol\/httpbind'>/],
      [`<iq ${NS}/>`, /expected <body/],
      [`<body ${NS}/><x/>`, /content after <body\/>/],
      [`<body ${NS}><x/>`, /expected <\/body> at the end/],
      [`<body ${NS}><x/></bodyx>`, /expected <\/body> at the end/],
      [`<body ${NS}><x/></body><y/>`, /expected <\/body> at the end/],
      [`<body rid='1 ${NS}/>`, /no start tag within 4096 bytes/],
      [`<body ${"a".repeat(5000)}='1' ${NS}/>`, /no start tag within 4096 bytes/],
      [`<?xml version='1.0'<body/>`, /bad XML declaration/],
      [`<body rid='1' rid='2' ${NS}/>`, /Cannot parse BOSH body/],
    ] as const
  ) {
    assert.throws(() => parseBoshBody(encoder.encode(text)), (error: unknown) => {
      assert.ok(error instanceof SyntaxError, `${text}: ${error}`);
      assert.match(error.message, /^Cannot parse BOSH body: /);
      assert.match(error.message, reason, text);
      return true;
    });
  }
});

Deno.test("readBoshAttributes() reads the start tag of a truncated body", () => {
  assert.deepEqual(
    readBoshAttributes(encoder.encode(`<body rid='9' sid='abc' ${NS}><message xmlns='jab`)),
    { rid: "9", sid: "abc" },
  );
  assert.equal(readBoshAttributes(encoder.encode("<body rid=")), undefined);
  assert.equal(readBoshAttributes(encoder.encode("<iq/>")), undefined);
});

Deno.test("boshBody() escapes attribute values and leaves out undefined ones", () => {
  assert.equal(
    boshBody({ sid: `a"b<c`, condition: undefined, "xmlns:xmpp": "urn:xmpp:xbosh" }, "<x/>"),
    `<body xmlns="http://jabber.org/protocol/httpbind" sid="a&quot;b&lt;c" ` +
      `xmlns:xmpp="urn:xmpp:xbosh"><x/></body>`,
  );
  assert.equal(boshBody({}, ""), `<body xmlns="http://jabber.org/protocol/httpbind"/>`);
});
