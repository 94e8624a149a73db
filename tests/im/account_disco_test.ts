import assert from "node:assert/strict";
import { AccountDisco } from "../../src/im/account_disco.ts";
import { DiscoInfo } from "../../src/im/disco.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { el } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSessions, ROSTER_ITEM } from "./_fake_sessions.ts";

const INFO = "http://jabber.org/protocol/disco#info";
const ITEMS = "http://jabber.org/protocol/disco#items";

function setup() {
  const store = new MemoryImStore();
  const info = new DiscoInfo({ category: "account", type: "registered" });
  info.addFeature("urn:example:feature");
  const disco = new AccountDisco(
    { domain: "x", sessions: new FakeSessions(), store: () => store, clock: { now: () => 0 } },
    info,
  );
  const peers = new IqRegistry();
  disco.register(peers);
  const ask = (from: string, ns: string, node?: string) =>
    peers.handle(
      "account",
      el(
        "iq",
        { xmlns: "jabber:client", type: "get", id: "d1", from, to: "juliet@x" },
        el("query", { xmlns: ns, node }),
      ),
      "juliet@x",
    ).then((reply) => serialize(reply!, "jabber:client"));
  return { store, disco, ask };
}

Deno.test("AccountDisco answers the account itself and subscribed contacts with the account identity", async () => {
  const { store, ask } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "from" });
  const expected = (to: string) =>
    `<iq type="result" id="d1" from="juliet@x" to="${to}"><query xmlns="${INFO}">` +
    `<identity category="account" type="registered"/><feature var="${INFO}"/>` +
    `<feature var="${ITEMS}"/><feature var="urn:example:feature"/></query></iq>`;
  assert.equal(await ask("juliet@x/balcony", INFO), expected("juliet@x/balcony"));
  assert.equal(await ask("romeo@x/garden", INFO), expected("romeo@x/garden"));
});

Deno.test("AccountDisco tells strangers nothing: service-unavailable as for a missing account", async () => {
  const { store, ask } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "paris@x", subscription: "to" });
  for (const from of ["paris@x/r", "tybalt@x/r"]) {
    for (const ns of [INFO, ITEMS]) {
      assert.equal(
        await ask(from, ns),
        `<iq type="error" id="d1" from="juliet@x" to="${from}"><error type="cancel">` +
          `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
      );
    }
  }
});

Deno.test("AccountDisco lists the items and node info its providers give", async () => {
  const { store, disco, ask } = setup();
  using _store = store;
  const provider = disco.provide({
    items: (query) => Promise.resolve([{ jid: query.owner, node: `for:${query.requester}` }]),
    nodeInfo: (query) =>
      Promise.resolve(
        query.node === "known" ? el("query", { xmlns: INFO, node: "known" }) : undefined,
      ),
  });
  assert.equal(
    await ask("juliet@x/r", ITEMS),
    `<iq type="result" id="d1" from="juliet@x" to="juliet@x/r"><query xmlns="${ITEMS}">` +
      `<item jid="juliet@x" node="for:juliet@x"/></query></iq>`,
  );
  assert.match(await ask("juliet@x/r", INFO, "known"), /<query xmlns="[^"]+" node="known"\/>/);
  assert.match(await ask("juliet@x/r", INFO, "unknown"), /<item-not-found /);
  assert.match(await ask("juliet@x/r", ITEMS, "known"), /<item-not-found /);
  provider[Symbol.dispose]();
  assert.equal(
    await ask("juliet@x/r", ITEMS),
    `<iq type="result" id="d1" from="juliet@x" to="juliet@x/r"><query xmlns="${ITEMS}"/></iq>`,
  );
});
