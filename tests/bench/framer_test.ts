import assert from "node:assert/strict";
import { attribute, childText, StanzaFramer } from "../../bench/loadgen/framer.ts";

function collect(chunks: string[]): string[] {
  const seen: string[] = [];
  const framer = new StanzaFramer({
    streamStart: (header) => seen.push(`start:${attribute(header, "id") ?? ""}`),
    element: (xml) => seen.push(xml),
    streamEnd: () => seen.push("end"),
  });
  for (const chunk of chunks) framer.push(chunk);
  return seen;
}

const STREAM = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='s1' " +
  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" +
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>" +
  "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
  "<stream:stream xmlns='jabber:client' id=\"s2\" xmlns:stream='http://etherx.jabber.org/streams'>" +
  "<message to='a@b/c' id='1' note='x > y'><body>a &lt; b</body><x><y/></x></message>" +
  "\n <iq type='result' id='bind1'><bind><jid>a@b/c</jid></bind></iq>" +
  "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" +
  "</stream:stream>";

const EXPECTED = [
  "start:s1",
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
  "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
  "start:s2",
  "<message to='a@b/c' id='1' note='x > y'><body>a &lt; b</body><x><y/></x></message>",
  "<iq type='result' id='bind1'><bind><jid>a@b/c</jid></bind></iq>",
  "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
  "end",
];

Deno.test("StanzaFramer splits a stream with a restart in one piece", () => {
  assert.deepEqual(collect([STREAM]), EXPECTED);
});

Deno.test("StanzaFramer gives the same elements at every split point", () => {
  for (let at = 1; at < STREAM.length; at++) {
    assert.deepEqual(collect([STREAM.slice(0, at), STREAM.slice(at)]), EXPECTED, `split at ${at}`);
  }
});

Deno.test("StanzaFramer gives the same elements one character at a time", () => {
  assert.deepEqual(collect([...STREAM]), EXPECTED);
});

Deno.test("StanzaFramer keeps only the unfinished element buffered", () => {
  const framer = new StanzaFramer({ streamStart() {}, element() {}, streamEnd() {} });
  framer.push("<stream:stream xmlns='jabber:client'>");
  for (let i = 0; i < 1000; i++) framer.push("<message><body>hello</body></message>");
  assert.equal(framer.pending, 0);
  framer.push("<message><body>he");
  assert.equal(framer.pending, "<message><body>he".length);
});

Deno.test("attribute() reads only the start tag and either quote", () => {
  const xml = `<iq type="result" id='b1' xml:lang='en'><query id='inner'/></iq>`;
  assert.equal(attribute(xml, "type"), "result");
  assert.equal(attribute(xml, "id"), "b1");
  assert.equal(attribute(xml, "lang"), undefined);
  assert.equal(attribute("<message to='x'><body id='y'/></message>", "id"), undefined);
});

Deno.test("childText() reads the first child's text", () => {
  assert.equal(childText("<iq><bind><jid>a@b/c</jid></bind></iq>", "jid"), "a@b/c");
  assert.equal(childText("<iq><bind><jid/></bind></iq>", "jid"), "");
  assert.equal(childText("<iq/>", "jid"), undefined);
});
