import assert from "node:assert/strict";
import { errorReply, StanzaError } from "../../src/errors/stanza_error.ts";
import { el } from "../../src/xml/element.ts";
import { NS_BIND, NS_CLIENT, NS_STANZAS, NS_XMPP_ERRORS } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

// The three stanza-level replies of shared/xep-0205-wire.md, compared as serialised text.
// Attribute order follows errorReply() (type, id, from, to); XML does not order attributes.

Deno.test("errorReply() answers a resource limit with the XEP-0205 wire form, echoing <bind/>", () => {
  const request = el(
    "iq",
    { xmlns: NS_CLIENT, type: "set", id: "bind_2" },
    el("bind", { xmlns: NS_BIND }, el("resource", {}, "someresource")),
  );
  const error = new StanzaError("cancel", "resource-constraint", {
    appCondition: "resource-limit-exceeded",
    echoPayload: true,
  });
  assert.equal(
    serialize(errorReply(request, error), NS_CLIENT),
    `<iq type="error" id="bind_2">` +
      `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>someresource</resource></bind>` +
      `<error type="cancel">` +
      `<resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<resource-limit-exceeded xmlns="urn:xmpp:errors"/>` +
      `</error></iq>`,
  );
});

Deno.test("errorReply() answers an oversized stanza with the XEP-0205 wire form, no payload", () => {
  const message = el(
    "message",
    { xmlns: NS_CLIENT, from: "iago@example.org/evilos", to: "example.org", type: "chat" },
    el("body", {}, "x".repeat(1000)),
  );
  const error = new StanzaError("modify", "not-allowed", { appCondition: "stanza-too-big" });
  assert.equal(
    serialize(errorReply(message, error, "example.org"), NS_CLIENT),
    `<message type="error" from="example.org" to="iago@example.org/evilos">` +
      `<error type="modify">` +
      `<not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<stanza-too-big xmlns="urn:xmpp:errors"/>` +
      `</error></message>`,
  );
});

Deno.test("errorReply() answers too many recipients with the XEP-0205 wire form", () => {
  const message = el(
    "message",
    { xmlns: NS_CLIENT, from: "iago@example.org/evilos", to: "juliet@example.org", type: "chat" },
    el("body", {}, "spam"),
  );
  const error = new StanzaError("wait", "unexpected-request", { appCondition: "too-many-stanzas" });
  assert.equal(
    serialize(errorReply(message, error, "example.org"), NS_CLIENT),
    `<message type="error" from="juliet@example.org" to="iago@example.org/evilos">` +
      `<error type="wait">` +
      `<unexpected-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<too-many-stanzas xmlns="urn:xmpp:errors"/>` +
      `</error></message>`,
  );
});

Deno.test("StanzaError.toElement() writes type, condition, text, then application condition", () => {
  const element = new StanzaError("wait", "policy-violation", {
    text: "Slow <down>",
    appCondition: "too-many-stanzas",
  }).toElement();
  assert.equal(element.name, "error");
  assert.deepEqual(element.attrs, { type: "wait" });
  assert.deepEqual(element.elements().map((child) => [child.name, child.ns]), [
    ["policy-violation", NS_STANZAS],
    ["text", NS_STANZAS],
    ["too-many-stanzas", NS_XMPP_ERRORS],
  ]);
  assert.equal(
    serialize(element, NS_CLIENT),
    `<error type="wait"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Slow &lt;down&gt;</text>` +
      `<too-many-stanzas xmlns="urn:xmpp:errors"/></error>`,
  );
});

Deno.test("StanzaError.toElement() writes only the condition when nothing else is given", () => {
  assert.equal(
    serialize(new StanzaError("cancel", "item-not-found").toElement(), NS_CLIENT),
    `<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
  );
});

Deno.test("StanzaError is an Error named StanzaError with its options and defaults", () => {
  const plain = new StanzaError("cancel", "service-unavailable");
  assert.ok(plain instanceof Error);
  assert.equal(plain.name, "StanzaError");
  assert.equal(plain.message, "service-unavailable");
  assert.equal(plain.type, "cancel");
  assert.equal(plain.condition, "service-unavailable");
  assert.equal(plain.text, undefined);
  assert.equal(plain.appCondition, undefined);
  assert.equal(plain.echoPayload, false);
  assert.equal(plain.retryAfterMs, undefined);

  const full = new StanzaError("wait", "resource-constraint", {
    text: "Busy",
    appCondition: "too-many-stanzas",
    echoPayload: true,
    retryAfterMs: 1500,
  });
  assert.equal(full.message, "Busy");
  assert.equal(full.text, "Busy");
  assert.equal(full.appCondition, "too-many-stanzas");
  assert.equal(full.echoPayload, true);
  assert.equal(full.retryAfterMs, 1500);
});

Deno.test("StanzaError.toElement() never sends the retry hint", () => {
  const error = new StanzaError("wait", "resource-constraint", { retryAfterMs: 1500 });
  assert.equal(serialize(error.toElement()).includes("1500"), false);
});

Deno.test("errorReply() swaps from and to, keeps id and name, and sets type error", () => {
  const presence = el("presence", {
    xmlns: NS_CLIENT,
    from: "a@x/r",
    to: "b@y",
    id: "p1",
    type: "subscribe",
  });
  const reply = errorReply(presence, new StanzaError("auth", "forbidden"), "x");
  assert.equal(reply.name, "presence");
  assert.equal(reply.ns, NS_CLIENT);
  assert.deepEqual(reply.attrs, { type: "error", id: "p1", from: "b@y", to: "a@x/r" });
  assert.equal(reply.getChild("error")?.ns, NS_CLIENT);
});

Deno.test("errorReply() answers from the server address only when the stanza had no to", () => {
  const noTo = el("iq", { xmlns: NS_CLIENT, type: "get", id: "1", from: "a@x/r" });
  assert.equal(errorReply(noTo, new StanzaError("cancel", "bad-request"), "x").attrs.from, "x");
  const noToNoServer = errorReply(noTo, new StanzaError("cancel", "bad-request"));
  assert.equal(Object.hasOwn(noToNoServer.attrs, "from"), false);
  const noFrom = el("iq", { xmlns: NS_CLIENT, type: "get", id: "1" });
  assert.equal(
    Object.hasOwn(errorReply(noFrom, new StanzaError("cancel", "bad-request")).attrs, "to"),
    false,
  );
});

Deno.test("errorReply() keeps the stanza's own namespace, e.g. jabber:server", () => {
  const iq = el("iq", { xmlns: "jabber:server", type: "get", id: "s", from: "a@x", to: "b@y" });
  const reply = errorReply(iq, new StanzaError("cancel", "service-unavailable"));
  assert.equal(reply.ns, "jabber:server");
  assert.equal(
    serialize(reply, "jabber:server"),
    `<iq type="error" id="s" from="b@y" to="a@x"><error type="cancel">` +
      `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  );
});

Deno.test("errorReply() echoes every payload child before the error when asked", () => {
  const message = el(
    "message",
    { xmlns: NS_CLIENT, from: "a@x/r", to: "b@x", type: "chat" },
    el("body", {}, "hi"),
    el("thread", {}, "t1"),
  );
  const reply = errorReply(
    message,
    new StanzaError("cancel", "service-unavailable", { echoPayload: true }),
  );
  assert.deepEqual(reply.elements().map((child) => child.name), ["body", "thread", "error"]);
});

Deno.test("errorReply() leaves the original stanza unchanged", () => {
  const message = el(
    "message",
    { xmlns: NS_CLIENT, from: "a@x/r", to: "b@x", id: "m" },
    el("body", {}, "hi"),
  );
  const before = serialize(message);
  errorReply(message, new StanzaError("cancel", "service-unavailable", { echoPayload: true }));
  errorReply(message, new StanzaError("cancel", "service-unavailable"));
  assert.equal(serialize(message), before);
  assert.equal(message.children.length, 1);
});
