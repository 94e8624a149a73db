import assert from "node:assert/strict";
import { bindResult, generateResource, requestedResource } from "../../src/stream/bind.ts";
import { el } from "../../src/xml/element.ts";
import { NS_BIND, NS_CLIENT } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

function bindIq(type: string, ...bindChildren: Parameters<typeof el>[2][]) {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type, id: "b" },
    el("bind", { xmlns: NS_BIND }, ...bindChildren),
  );
}

Deno.test("requestedResource() returns the requested resource of a bind set", () => {
  assert.equal(requestedResource(bindIq("set", el("resource", {}, "balcony"))), "balcony");
  assert.equal(
    requestedResource(bindIq("set", el("resource", {}, "with space ☃"))),
    "with space ☃",
  );
});

Deno.test("requestedResource() returns undefined when the client lets the server choose", () => {
  assert.equal(requestedResource(bindIq("set")), undefined);
  assert.equal(requestedResource(bindIq("set", el("resource"))), undefined);
  assert.equal(requestedResource(bindIq("set", el("resource", {}, ""))), undefined);
});

Deno.test("requestedResource() returns null when the IQ is not a bind set", () => {
  assert.equal(requestedResource(bindIq("get", el("resource", {}, "r"))), null);
  assert.equal(requestedResource(bindIq("result")), null);
  const noType = el("iq", { xmlns: NS_CLIENT, id: "b" }, el("bind", { xmlns: NS_BIND }));
  assert.equal(requestedResource(noType), null);
  const otherPayload = el(
    "iq",
    { xmlns: NS_CLIENT, type: "set", id: "s" },
    el("session", {
      xmlns: "urn:ietf:params:xml:ns:xmpp-session",
    }),
  );
  assert.equal(requestedResource(otherPayload), null);
  const wrongNs = el(
    "iq",
    { xmlns: NS_CLIENT, type: "set", id: "b" },
    el("bind", { xmlns: "urn:x" }),
  );
  assert.equal(requestedResource(wrongNs), null);
});

Deno.test("requestedResource() ignores a <resource/> outside the bind namespace", () => {
  const iq = bindIq("set", el("resource", { xmlns: "urn:x" }, "elsewhere"));
  assert.equal(requestedResource(iq), undefined);
});

Deno.test("generateResource() returns 12 lowercase letters or digits", () => {
  for (let i = 0; i < 200; i++) assert.match(generateResource(), /^[a-z0-9]{12}$/);
});

Deno.test("generateResource() does not repeat itself", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) seen.add(generateResource());
  assert.equal(seen.size, 1000);
});

Deno.test("generateResource() uses the whole alphabet", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) for (const char of generateResource()) seen.add(char);
  assert.equal(seen.size, 36);
});

Deno.test("bindResult() builds the RFC 6120 §7.6.1 result with the full JID", () => {
  const result = bindResult("bind_1", "juliet@example.com/balcony");
  assert.equal(result.ns, NS_CLIENT);
  assert.equal(
    serialize(result, NS_CLIENT),
    `<iq type="result" id="bind_1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">` +
      "<jid>juliet@example.com/balcony</jid></bind></iq>",
  );
  assert.equal(
    result.getChild("bind", NS_BIND)?.getChildText("jid", NS_BIND),
    "juliet@example.com/balcony",
  );
});

Deno.test("bindResult() leaves out a missing id and escapes the JID", () => {
  assert.equal(
    serialize(bindResult(undefined, "a&b@x/<r>"), NS_CLIENT),
    `<iq type="result"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">` +
      "<jid>a&amp;b@x/&lt;r&gt;</jid></bind></iq>",
  );
});
