import assert from "node:assert/strict";
import { DiscoInfo } from "../../src/im/disco.ts";
import { registerPing } from "../../src/im/ping.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { el } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_PING } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

function ping(type = "get") {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type, id: "c2s1", from: "juliet@x/balcony", to: "x" },
    el("ping", { xmlns: NS_PING }),
  );
}

function announces(disco: DiscoInfo, ns: string): boolean {
  return disco.toElement().getChildren("feature").some((feature) => feature.attr("var") === ns);
}

Deno.test("registerPing() answers a ping to the server with an empty result", async () => {
  const iq = new IqRegistry();
  using _ping = registerPing(iq, new DiscoInfo());
  const reply = await iq.handle("host", ping(), "x");
  assert.equal(
    serialize(reply!, NS_CLIENT),
    `<iq type="result" id="c2s1" from="x" to="juliet@x/balcony"/>`,
  );
});

Deno.test("registerPing() announces urn:xmpp:ping in disco", () => {
  const disco = new DiscoInfo();
  assert.equal(announces(disco, NS_PING), false);
  using _ping = registerPing(new IqRegistry(), disco);
  assert.equal(announces(disco, NS_PING), true);
});

Deno.test("registerPing() does not answer a set or a ping to an account", async () => {
  const iq = new IqRegistry();
  using _ping = registerPing(iq, new DiscoInfo());
  assert.ok((await iq.handle("host", ping("set"), "x"))?.getChild("error"));
  assert.ok((await iq.handle("account", ping(), "juliet@x"))?.getChild("error"));
});

Deno.test("registerPing() disposable removes the handler and withdraws the feature", async () => {
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  const registration = registerPing(iq, disco);
  registration[Symbol.dispose]();
  assert.equal(announces(disco, NS_PING), false);
  const reply = await iq.handle("host", ping(), "x");
  assert.ok(reply?.getChild("error")?.getChild("service-unavailable"));
});

Deno.test("registerPing() twice on one registry throws and leaves disco as it was", () => {
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  const first = registerPing(iq, disco);
  assert.throws(() => registerPing(iq, disco), TypeError);
  first[Symbol.dispose]();
  assert.equal(announces(disco, NS_PING), false);
});
