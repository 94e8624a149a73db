// Stream framings: what the session writes for open, close and stanzas on a
// TCP stream and in RFC 7395 fragments, and how fragment events reach it.

import assert from "node:assert/strict";
import { StreamError } from "../../src/errors/stream_error.ts";
import {
  FRAGMENT_FRAMING,
  type FramedTransport,
  framingFor,
  NS_FRAMING,
  serializeFragment,
  STREAM_FRAMING,
} from "../../src/stream/framing.ts";
import { createMemoryTransport } from "../../src/transport/memory.ts";
import { el, type Element } from "../../src/xml/element.ts";
import type { StreamParserHandler } from "../../src/xml/stream_parser.ts";
import { createStreamParser } from "../../src/xml/xml_stream_parser.ts";

const STREAMS = "http://etherx.jabber.org/streams";
const LIMITS = {
  maxStanzaBytes: 10_000,
  maxStanzaBytesHard: 100_000,
  maxDepth: 16,
  maxAttributes: 32,
  maxNameLength: 128,
  maxAttributeValueLength: 4096,
  maxNamespaceDeclarations: 8,
  maxElementsPerStanza: 256,
};

function recorder(events: string[]): StreamParserHandler {
  return {
    streamStart: (header: Element) => void events.push(`start ${header.name} ${header.attrs.to}`),
    stanza: (stanza: Element) => void events.push(`stanza ${stanza.name}`),
    oversizedStanza: (head: Element) => void events.push(`oversized ${head.name}`),
    streamEnd: () => void events.push("end"),
    error: (error) => void events.push(`error ${error.condition}`),
  };
}

Deno.test("STREAM_FRAMING writes the RFC 6120 header, stanzas in jabber:client and </stream:stream>", () => {
  const { transport, peer } = createMemoryTransport();
  STREAM_FRAMING.open(transport, { from: "example.org", to: "a@example.org", id: "s1" });
  assert.equal(
    peer.read(),
    `<?xml version="1.0"?><stream:stream xmlns="jabber:client" xmlns:stream="${STREAMS}" ` +
      `from="example.org" to="a@example.org" id="s1" version="1.0">`,
  );
  assert.equal(
    STREAM_FRAMING.serialize(el("message", { xmlns: "jabber:client" }, el("body", {}, "x"))),
    "<message><body>x</body></message>",
  );
  STREAM_FRAMING.close(transport, new StreamError("conflict").toElement());
  assert.equal(
    peer.read(),
    `<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>` +
      `</stream:stream>`,
  );
  const handler = recorder([]);
  assert.equal(STREAM_FRAMING.events(handler), handler);
});

Deno.test("FRAGMENT_FRAMING writes <open/>, self-contained elements, and error then <close/> apart", () => {
  const { transport, peer } = createMemoryTransport({ type: "websocket" });
  const writes: string[] = [];
  const write = transport.write.bind(transport);
  transport.write = (data) => {
    writes.push(String(data));
    write(data);
  };
  FRAGMENT_FRAMING.open(transport, { from: "example.org", to: "a&b@example.org", id: "s'1" });
  FRAGMENT_FRAMING.close(transport, new StreamError("system-shutdown").toElement());
  assert.deepEqual(writes, [
    `<open xmlns="${NS_FRAMING}" from="example.org" to="a&amp;b@example.org" id="s&apos;1" version="1.0"/>`,
    `<stream:error xmlns:stream="${STREAMS}"><system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
    `<close xmlns="${NS_FRAMING}"/>`,
  ]);
  assert.equal(peer.read(), writes.join(""));
  FRAGMENT_FRAMING.close(transport, undefined);
  assert.equal(peer.read(), `<close xmlns="${NS_FRAMING}"/>`);
});

Deno.test("serializeFragment() declares every namespace on the element itself", () => {
  assert.equal(
    serializeFragment(el("iq", { xmlns: "jabber:client", type: "result", id: "1" })),
    `<iq xmlns="jabber:client" type="result" id="1"/>`,
  );
  assert.equal(
    serializeFragment(
      el("features", { xmlns: STREAMS }, el("bind", { xmlns: "urn:ietf:params:xml:ns:xmpp-bind" })),
    ),
    `<stream:features xmlns:stream="${STREAMS}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>` +
      `</stream:features>`,
  );
  assert.equal(
    serializeFragment(el("success", { xmlns: "urn:ietf:params:xml:ns:xmpp-sasl" })),
    `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`,
  );
});

Deno.test("FRAGMENT_FRAMING.events() turns <open/> and <close/> into stream start and end", () => {
  const events: string[] = [];
  const parser = createStreamParser(FRAGMENT_FRAMING.events(recorder(events)), {
    limits: LIMITS,
    framing: FRAGMENT_FRAMING.parser,
  });
  parser.write(new TextEncoder().encode(
    `<open xmlns='${NS_FRAMING}' to='example.org' version='1.0'/>` +
      "<message xmlns='jabber:client'/>" +
      "<open xmlns='urn:example:not-framing'/>" +
      `<close xmlns='${NS_FRAMING}'/>`,
  ));
  assert.deepEqual(events, [
    "start open example.org",
    "stanza message",
    "stanza open",
    "end",
  ]);
});

Deno.test("framingFor() picks the transport's own framing, then fragments for WebSocket and BOSH", () => {
  assert.equal(framingFor(createMemoryTransport({ type: "tcp" }).transport), STREAM_FRAMING);
  assert.equal(framingFor(createMemoryTransport({ type: "tls" }).transport), STREAM_FRAMING);
  assert.equal(
    framingFor(createMemoryTransport({ type: "websocket" }).transport),
    FRAGMENT_FRAMING,
  );
  assert.equal(framingFor(createMemoryTransport({ type: "bosh" }).transport), FRAGMENT_FRAMING);
  const own = { ...FRAGMENT_FRAMING, parser: "fragments" as const };
  const framed: FramedTransport = Object.assign(createMemoryTransport({ type: "bosh" }).transport, {
    framing: own,
  });
  assert.equal(framingFor(framed), own);
});
