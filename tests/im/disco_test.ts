import assert from "node:assert/strict";
import { DiscoInfo, registerDisco } from "../../src/im/disco.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_DISCO_INFO, NS_DISCO_ITEMS } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

function features(query: Element): (string | undefined)[] {
  return query.getChildren("feature", NS_DISCO_INFO).map((feature) => feature.attr("var"));
}

function discoGet(ns: string, attrs: Record<string, string> = {}): Element {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type: "get", id: "d1", from: "a@x/r", to: "x" },
    el("query", { xmlns: ns, ...attrs }),
  );
}

Deno.test("DiscoInfo.toElement() always announces disco#info and disco#items", () => {
  const query = new DiscoInfo().toElement();
  assert.ok(query.is("query", NS_DISCO_INFO));
  assert.deepEqual(features(query), [NS_DISCO_INFO, NS_DISCO_ITEMS]);
});

Deno.test("DiscoInfo.toElement() writes identities in order, with a name only when given", () => {
  const disco = new DiscoInfo(
    { category: "server", type: "im", name: "xmppd" },
    { category: "pubsub", type: "pep" },
  );
  assert.equal(
    serialize(disco.toElement(), NS_CLIENT),
    `<query xmlns="http://jabber.org/protocol/disco#info">` +
      `<identity category="server" type="im" name="xmppd"/>` +
      `<identity category="pubsub" type="pep"/>` +
      `<feature var="http://jabber.org/protocol/disco#info"/>` +
      `<feature var="http://jabber.org/protocol/disco#items"/>` +
      `</query>`,
  );
});

Deno.test("DiscoInfo.addFeature() announces each feature once, sorted", () => {
  const disco = new DiscoInfo();
  disco.addFeature("urn:xmpp:ping");
  disco.addFeature("jabber:iq:version");
  disco.addFeature("urn:xmpp:ping");
  assert.deepEqual(features(disco.toElement()), [
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    "jabber:iq:version",
    "urn:xmpp:ping",
  ]);
});

Deno.test("DiscoInfo.addFeature() disposable withdraws the feature", () => {
  const disco = new DiscoInfo();
  const ping = disco.addFeature("urn:xmpp:ping");
  assert.ok(features(disco.toElement()).includes("urn:xmpp:ping"));
  ping[Symbol.dispose]();
  assert.deepEqual(features(disco.toElement()), [NS_DISCO_INFO, NS_DISCO_ITEMS]);
});

Deno.test("DiscoInfo.addFeature() keeps a feature until its last registration is disposed", () => {
  const disco = new DiscoInfo();
  const first = disco.addFeature("urn:x");
  const second = disco.addFeature("urn:x");
  first[Symbol.dispose]();
  // Disposing the same registration again must not withdraw the other one.
  first[Symbol.dispose]();
  assert.ok(features(disco.toElement()).includes("urn:x"));
  second[Symbol.dispose]();
  assert.equal(features(disco.toElement()).includes("urn:x"), false);
});

Deno.test("DiscoInfo.addFeature() disposable cannot withdraw the disco features themselves", () => {
  const disco = new DiscoInfo();
  disco.addFeature(NS_DISCO_INFO)[Symbol.dispose]();
  disco.addFeature(NS_DISCO_ITEMS)[Symbol.dispose]();
  assert.deepEqual(features(disco.toElement()), [NS_DISCO_INFO, NS_DISCO_ITEMS]);
});

Deno.test("DiscoInfo.toElement() reflects features added after construction", () => {
  const disco = new DiscoInfo({ category: "server", type: "im" });
  const before = disco.toElement();
  disco.addFeature("urn:late");
  assert.equal(features(before).includes("urn:late"), false);
  assert.ok(features(disco.toElement()).includes("urn:late"));
});

Deno.test("registerDisco() answers disco#info to the server with identities and features", async () => {
  const iq = new IqRegistry();
  const disco = new DiscoInfo({ category: "server", type: "im", name: "xmppd" });
  disco.addFeature("urn:xmpp:ping");
  using _disco = registerDisco(iq, disco);
  const reply = await iq.handle("host", discoGet(NS_DISCO_INFO), "x");
  assert.equal(
    serialize(reply!, NS_CLIENT),
    `<iq type="result" id="d1" from="x" to="a@x/r">` +
      `<query xmlns="http://jabber.org/protocol/disco#info">` +
      `<identity category="server" type="im" name="xmppd"/>` +
      `<feature var="http://jabber.org/protocol/disco#info"/>` +
      `<feature var="http://jabber.org/protocol/disco#items"/>` +
      `<feature var="urn:xmpp:ping"/>` +
      `</query></iq>`,
  );
});

Deno.test("registerDisco() answers disco#items to the server with an empty list", async () => {
  const iq = new IqRegistry();
  using _disco = registerDisco(iq, new DiscoInfo({ category: "server", type: "im" }));
  const reply = await iq.handle("host", discoGet(NS_DISCO_ITEMS), "x");
  assert.equal(
    serialize(reply!, NS_CLIENT),
    `<iq type="result" id="d1" from="x" to="a@x/r">` +
      `<query xmlns="http://jabber.org/protocol/disco#items"/></iq>`,
  );
});

Deno.test("registerDisco() answers item-not-found for a node the server does not have", async () => {
  const iq = new IqRegistry();
  using _disco = registerDisco(iq, new DiscoInfo({ category: "server", type: "im" }));
  for (const ns of [NS_DISCO_INFO, NS_DISCO_ITEMS]) {
    const reply = await iq.handle("host", discoGet(ns, { node: "http://example/caps#abc" }), "x");
    assert.equal(
      serialize(reply!, NS_CLIENT),
      `<iq type="error" id="d1" from="x" to="a@x/r"><error type="cancel">` +
        `<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
      ns,
    );
  }
});

Deno.test("registerDisco() answers only get requests addressed to the server", async () => {
  const iq = new IqRegistry();
  using _disco = registerDisco(iq, new DiscoInfo({ category: "server", type: "im" }));
  const set = el(
    "iq",
    { xmlns: NS_CLIENT, type: "set", id: "d1", from: "a@x/r", to: "x" },
    el("query", { xmlns: NS_DISCO_INFO }),
  );
  const setReply = await iq.handle("host", set, "x");
  assert.ok(setReply?.getChild("error")?.getChild("service-unavailable"));
  const accountReply = await iq.handle("account", discoGet(NS_DISCO_INFO), "a@x");
  assert.ok(accountReply?.getChild("error")?.getChild("service-unavailable"));
});

Deno.test("registerDisco() disposable removes both handlers", async () => {
  const iq = new IqRegistry();
  const registration = registerDisco(iq, new DiscoInfo({ category: "server", type: "im" }));
  assert.equal(iq.has("host", "get", NS_DISCO_INFO, "query"), true);
  assert.equal(iq.has("host", "get", NS_DISCO_ITEMS, "query"), true);
  registration[Symbol.dispose]();
  assert.equal(iq.has("host", "get", NS_DISCO_INFO, "query"), false);
  assert.equal(iq.has("host", "get", NS_DISCO_ITEMS, "query"), false);
  const reply = await iq.handle("host", discoGet(NS_DISCO_INFO), "x");
  assert.ok(reply?.getChild("error")?.getChild("service-unavailable"));
});
