import assert from "node:assert/strict";
import { createAccountRecord } from "../../src/auth/credentials.ts";
import { AccountServices } from "../../src/im/account_services.ts";
import { DiscoInfo } from "../../src/im/disco.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryAccountStore } from "../../src/storage/memory_account_store.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { type FakeSession, FakeSessions, ROSTER_ITEM } from "./_fake_sessions.ts";

async function setup(registration = false) {
  const store = new MemoryImStore();
  const accounts = new MemoryAccountStore();
  for (const name of ["alice", "bob"]) await accounts.put(await createAccountRecord(name, "pw"));
  const sessions = new FakeSessions();
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  const routed: string[] = [];
  const services = new AccountServices<FakeSession>({
    domain: "x",
    iq,
    disco,
    sessions,
    store: () => store,
    accounts: () => accounts,
    timers: new ManualClock(),
    route: (_session, stanza) => routed.push(stanza.attrs.id ?? ""),
    registration: () => ({
      enabled: registration,
      limit: { max: null, window: 1000, mode: "enforce" },
      ipv6Prefix: 64,
      exemptIps: [],
      tlsRequired: true,
      allowPlainWithoutTls: false,
      iterations: 4096,
    }),
  });
  return { store, accounts, sessions, iq, disco, routed, services };
}

function stanza(name: string, attrs: Record<string, string>, ...children: Element[]): Element {
  return el(name, { xmlns: "jabber:client", ...attrs }, ...children);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("AccountServices registers every handler and feature, registration only when on", async () => {
  const off = await setup(false);
  using _a = off.store;
  using _services = off.services;
  const features = serialize(off.disco.toElement());
  for (const ns of ["urn:xmpp:blocking", "urn:xmpp:carbons:2", "vcard-temp", "jabber:iq:last"]) {
    assert.ok(features.includes(`"${ns}"`), ns);
  }
  assert.ok(!features.includes("jabber:iq:register"));
  assert.equal(off.iq.has("account", "set", "http://jabber.org/protocol/pubsub", "pubsub"), true);
  const on = await setup(true);
  using _b = on.store;
  assert.ok(serialize(on.disco.toElement()).includes(`"jabber:iq:register"`));
  on.services[Symbol.dispose]();
  assert.equal(on.iq.has("account", "get", "urn:xmpp:blocking", "blocklist"), false);
  assert.ok(!serialize(on.disco.toElement()).includes("urn:xmpp:blocking"));
});

Deno.test("AccountServices.stanza() answers IQs to another account, and passes the rest on", async () => {
  const { store, sessions, services } = await setup();
  using _store = store;
  await store.putVcard("alice", `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`);
  const bob = sessions.add("bob@x/b");
  services.bound(bob);
  // With both blocklists cached, nothing waits for the store.
  await services.blocking.lists.get("alice");
  await settle();
  const get = (to: string, id: string) =>
    stanza("iq", { type: "get", id, from: "bob@x/b", to }, el("vCard", { xmlns: "vcard-temp" }));
  assert.equal(services.stanza(bob, get("alice@x", "v1")), true);
  // Not answered here: to a full JID, to the own account, or a payload no service knows.
  assert.equal(services.stanza(bob, get("alice@x/r", "v3")), false);
  assert.equal(services.stanza(bob, get("bob@x", "v4")), false);
  assert.equal(
    services.stanza(
      bob,
      stanza(
        "iq",
        { type: "get", id: "v5", from: "bob@x/b", to: "alice@x" },
        el("query", { xmlns: "urn:x" }),
      ),
    ),
    false,
  );
  // An account nobody has read the blocklist of yet: held for the read, then answered.
  assert.equal(services.stanza(bob, get("nobody@x", "v2")), true);
  await settle();
  assert.deepEqual(bob.take(), [
    `<iq type="result" id="v1" from="alice@x" to="bob@x/b"><vCard xmlns="vcard-temp"><FN>Alice</FN></vCard></iq>`,
    `<iq type="error" id="v2" from="nobody@x" to="bob@x/b"><error type="cancel">` +
    `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  ]);
});

Deno.test("AccountServices.stanza() routes held stanzas once the blocklists are read", async () => {
  const { store, sessions, services, routed } = await setup();
  using _store = store;
  await store.block("alice", ["bob@x"]);
  const bob = sessions.add("bob@x/b");
  // Nothing cached yet: both wait for the store, then one bounces and one is routed.
  const chat = (to: string, id: string) =>
    stanza("message", { type: "chat", id, from: "bob@x/b", to }, el("body", {}, id));
  assert.equal(services.stanza(bob, chat("alice@x", "m1")), true);
  assert.equal(services.stanza(bob, chat("carol@x", "m2")), true);
  await settle();
  assert.deepEqual(routed, ["m2"]);
  assert.match(bob.take()[0]!, /^<message type="error" id="m1" from="alice@x"/);
});

Deno.test("AccountServices.stanza() sends sent carbons and strips <private/>", async () => {
  const { store, sessions, services, iq } = await setup();
  using _store = store;
  const a = sessions.add("alice@x/a");
  const b = sessions.add("alice@x/b");
  services.bound(a);
  await services.blocking.lists.get("bob");
  await settle();
  await iq.handle(
    "account",
    stanza(
      "iq",
      { type: "set", id: "e", from: "alice@x/b" },
      el("enable", { xmlns: "urn:xmpp:carbons:2" }),
    ),
    "alice@x",
  );
  const message = stanza(
    "message",
    { type: "chat", id: "m1", from: "alice@x/a", to: "bob@x" },
    el("body", {}, "hi"),
  );
  assert.equal(services.stanza(a, message), false);
  assert.match(b.take()[0]!, /^<message from="alice@x" to="alice@x\/b" type="chat"><sent /);
  const secret = stanza(
    "message",
    { type: "chat", id: "m2", from: "alice@x/a", to: "bob@x" },
    el("body", {}, "psst"),
    el("private", { xmlns: "urn:xmpp:carbons:2" }),
  );
  assert.equal(services.stanza(a, secret), false);
  assert.equal(serialize(secret, "jabber:client").includes("private"), false);
  assert.deepEqual(b.take(), []);
});

Deno.test("AccountServices notes logouts for last activity and sends PEP items on initial presence", async () => {
  const { store, sessions, services, iq } = await setup();
  using _store = store;
  await store.putRosterItem("bob", { ...ROSTER_ITEM, jid: "alice@x", subscription: "both" });
  await store.putPepItem("alice", {
    node: "http://jabber.org/protocol/nick",
    id: "current",
    payload: `<nick xmlns="http://jabber.org/protocol/nick">Al</nick>`,
  });
  const bob = sessions.add("bob@x/b", false);
  assert.equal(services.stanza(bob, stanza("presence", { from: "bob@x/b" })), false);
  await settle();
  assert.match(
    bob.take()[0] ?? "",
    /<message from="alice@x" to="bob@x\/b" type="headline".*>Al<\/nick>/,
  );
  // A presence update is not initial presence: nothing is sent again.
  services.stanza(bob, stanza("presence", { from: "bob@x/b" }, el("show", {}, "away")));
  await settle();
  assert.deepEqual(bob.take(), []);
  services.stanza(
    bob,
    stanza("presence", { from: "bob@x/b", type: "unavailable" }, el("status", {}, "bye")),
  );
  services.closed(bob);
  const last = await iq.handle(
    "account",
    stanza(
      "iq",
      { type: "get", id: "l", from: "bob@x/other" },
      el("query", { xmlns: "jabber:iq:last" }),
    ),
    "bob@x",
  );
  assert.match(serialize(last!), /seconds="0">bye<\/query>/);
});
