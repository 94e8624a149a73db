import assert from "node:assert/strict";
import { StreamError } from "../../src/errors/stream_error.ts";
import { NS_CLIENT, NS_STREAM_ERRORS, NS_STREAMS, NS_XMPP_ERRORS } from "../../src/xml/ns.ts";
import { serialize, STREAM_CLOSE } from "../../src/xml/serialize.ts";

Deno.test("StreamError policy-violation with stanza-too-big matches the XEP-0205 wire form", () => {
  // shared/xep-0205-wire.md, "Stanza size", egregiously large stanza.
  const error = new StreamError("policy-violation", { appCondition: "stanza-too-big" });
  assert.equal(
    serialize(error.toElement(), NS_CLIENT) + STREAM_CLOSE,
    "<stream:error>" +
      `<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
      `<stanza-too-big xmlns="urn:xmpp:errors"/>` +
      "</stream:error></stream:stream>",
  );
});

Deno.test("StreamError.toElement() builds <stream:error> with the condition in the streams namespace", () => {
  const element = new StreamError("not-authorized").toElement();
  assert.equal(element.name, "error");
  assert.equal(element.ns, NS_STREAMS);
  assert.deepEqual(element.attrs, {});
  assert.equal(element.children.length, 1);
  assert.ok(element.firstElement()?.is("not-authorized", NS_STREAM_ERRORS));
  assert.equal(
    serialize(element, NS_CLIENT),
    `<stream:error><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
  );
});

Deno.test("StreamError.toElement() writes condition, then text, then application condition", () => {
  const element = new StreamError("policy-violation", {
    text: "Too many failed authentication attempts",
    appCondition: "stanza-too-big",
  }).toElement();
  const children = element.elements();
  assert.deepEqual(children.map((child) => [child.name, child.ns]), [
    ["policy-violation", NS_STREAM_ERRORS],
    ["text", NS_STREAM_ERRORS],
    ["stanza-too-big", NS_XMPP_ERRORS],
  ]);
  assert.equal(
    serialize(element, NS_CLIENT),
    "<stream:error>" +
      `<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Too many failed authentication attempts` +
      "</text>" +
      `<stanza-too-big xmlns="urn:xmpp:errors"/>` +
      "</stream:error>",
  );
});

Deno.test("StreamError.toElement() escapes the text", () => {
  const element = new StreamError("bad-format", { text: "<oops> & more" }).toElement();
  assert.equal(
    serialize(element, NS_CLIENT),
    `<stream:error><bad-format xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">&lt;oops&gt; &amp; more</text>` +
      "</stream:error>",
  );
});

Deno.test("StreamError.toElement() returns a fresh element on each call", () => {
  const error = new StreamError("system-shutdown");
  const first = error.toElement();
  first.append("mutated");
  assert.equal(error.toElement().children.length, 1);
});

Deno.test("StreamError is an Error named StreamError carrying its fields", () => {
  const plain = new StreamError("connection-timeout");
  assert.ok(plain instanceof Error);
  assert.equal(plain.name, "StreamError");
  assert.equal(plain.message, "connection-timeout");
  assert.equal(plain.condition, "connection-timeout");
  assert.equal(plain.text, undefined);
  assert.equal(plain.appCondition, undefined);

  const detailed = new StreamError("policy-violation", { text: "Slow down", appCondition: "x" });
  assert.equal(detailed.message, "Slow down");
  assert.equal(detailed.text, "Slow down");
  assert.equal(detailed.appCondition, "x");
});
