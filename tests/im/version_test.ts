import assert from "node:assert/strict";
import { DiscoInfo } from "../../src/im/disco.ts";
import { registerVersion } from "../../src/im/version.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { el } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_VERSION } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

function versionGet(type = "get") {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type, id: "v1", from: "romeo@x/orchard", to: "x" },
    el("query", { xmlns: NS_VERSION }),
  );
}

function announces(disco: DiscoInfo, ns: string): boolean {
  return disco.toElement().getChildren("feature").some((feature) => feature.attr("var") === ns);
}

Deno.test("registerVersion() answers name, version and os", async () => {
  const iq = new IqRegistry();
  using _version = registerVersion(iq, new DiscoInfo(), {
    name: "xmppd",
    version: "0.1.0",
    os: "Linux",
  });
  const reply = await iq.handle("host", versionGet(), "x");
  assert.equal(
    serialize(reply!, NS_CLIENT),
    `<iq type="result" id="v1" from="x" to="romeo@x/orchard"><query xmlns="jabber:iq:version">` +
      "<name>xmppd</name><version>0.1.0</version><os>Linux</os></query></iq>",
  );
});

Deno.test("registerVersion() leaves out os when it is not configured", async () => {
  const iq = new IqRegistry();
  using _version = registerVersion(iq, new DiscoInfo(), { name: "xmppd", version: "1 & 2" });
  const reply = await iq.handle("host", versionGet(), "x");
  assert.equal(
    serialize(reply!.getChild("query", NS_VERSION)!, NS_CLIENT),
    `<query xmlns="jabber:iq:version"><name>xmppd</name><version>1 &amp; 2</version></query>`,
  );
});

Deno.test("registerVersion() announces jabber:iq:version in disco", () => {
  const disco = new DiscoInfo();
  assert.equal(announces(disco, NS_VERSION), false);
  using _version = registerVersion(new IqRegistry(), disco, { name: "n", version: "v" });
  assert.equal(announces(disco, NS_VERSION), true);
});

Deno.test("registerVersion() does not answer a set or a query to an account", async () => {
  const iq = new IqRegistry();
  using _version = registerVersion(iq, new DiscoInfo(), { name: "n", version: "v" });
  assert.ok((await iq.handle("host", versionGet("set"), "x"))?.getChild("error"));
  assert.ok((await iq.handle("account", versionGet(), "romeo@x"))?.getChild("error"));
});

Deno.test("registerVersion() disposable removes the handler and withdraws the feature", async () => {
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  const registration = registerVersion(iq, disco, { name: "n", version: "v" });
  registration[Symbol.dispose]();
  assert.equal(announces(disco, NS_VERSION), false);
  const reply = await iq.handle("host", versionGet(), "x");
  assert.ok(reply?.getChild("error")?.getChild("service-unavailable"));
});

Deno.test("registerVersion() answers fresh elements on each request", async () => {
  const iq = new IqRegistry();
  using _version = registerVersion(iq, new DiscoInfo(), { name: "n", version: "v" });
  const first = await iq.handle("host", versionGet(), "x");
  first?.getChild("query", NS_VERSION)?.append(el("tampered"));
  const second = await iq.handle("host", versionGet(), "x");
  assert.equal(second?.getChild("query", NS_VERSION)?.getChild("tampered"), undefined);
});
