import assert from "node:assert/strict";
import { DiscoInfo } from "../../src/im/disco.ts";
import { LastActivity } from "../../src/im/last_activity.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { el } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSessions, ROSTER_ITEM } from "./_fake_sessions.ts";

function setup() {
  const store = new MemoryImStore();
  const clock = new ManualClock(5_000);
  const sessions = new FakeSessions();
  const last = new LastActivity({ domain: "x", sessions, store: () => store, clock });
  const iq = new IqRegistry();
  const peers = new IqRegistry();
  const disco = new DiscoInfo();
  last.registerHost(iq, disco);
  last.registerAccount(iq);
  last.registerAccount(peers);
  const ask = (registry: IqRegistry, scope: "host" | "account", from: string, to: string) =>
    registry.handle(
      scope,
      el(
        "iq",
        { xmlns: "jabber:client", type: "get", id: "l1", from, to },
        el("query", { xmlns: "jabber:iq:last" }),
      ),
      to,
    ).then((reply) => serialize(reply!, "jabber:client"));
  return { store, clock, sessions, last, iq, peers, disco, ask };
}

Deno.test("LastActivity answers the server's uptime in whole seconds and announces jabber:iq:last", async () => {
  const { store, clock, iq, disco, ask } = setup();
  using _store = store;
  assert.ok(serialize(disco.toElement()).includes(`<feature var="jabber:iq:last"/>`));
  clock.advance(2_999);
  assert.equal(
    await ask(iq, "host", "romeo@x/r", "x"),
    `<iq type="result" id="l1" from="x" to="romeo@x/r"><query xmlns="jabber:iq:last" seconds="2"/></iq>`,
  );
});

Deno.test("LastActivity answers 0 while an account has an available resource", async () => {
  const { store, sessions, peers, ask } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "from" });
  sessions.add("juliet@x/balcony", true);
  assert.equal(
    await ask(peers, "account", "romeo@x/r", "juliet@x"),
    `<iq type="result" id="l1" from="juliet@x" to="romeo@x/r"><query xmlns="jabber:iq:last" seconds="0"/></iq>`,
  );
});

Deno.test("LastActivity answers the seconds since the last logout, with its status", async () => {
  const { store, clock, last, peers, iq, ask } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "both" });
  last.wentUnavailable("juliet@x", "Gone to the ball");
  clock.advance(903_400);
  assert.equal(
    await ask(peers, "account", "romeo@x/r", "juliet@x"),
    `<iq type="result" id="l1" from="juliet@x" to="romeo@x/r">` +
      `<query xmlns="jabber:iq:last" seconds="903">Gone to the ball</query></iq>`,
  );
  // The account itself may always ask.
  assert.match(await ask(iq, "account", "juliet@x/r", "juliet@x"), /seconds="903"/);
});

Deno.test("LastActivity refuses those who may not see the presence, and says when it does not know", async () => {
  const { store, peers, ask } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "to" });
  assert.equal(
    await ask(peers, "account", "romeo@x/r", "juliet@x"),
    `<iq type="error" id="l1" from="juliet@x" to="romeo@x/r"><error type="auth">` +
      `<forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  );
  assert.equal(
    await ask(peers, "account", "juliet@x/r", "juliet@x"),
    `<iq type="error" id="l1" from="juliet@x" to="juliet@x/r"><error type="cancel">` +
      `<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  );
});

Deno.test("LastActivity remembers at most maxTracked logouts", async () => {
  const store = new MemoryImStore();
  using _store = store;
  const clock = new ManualClock();
  const last = new LastActivity(
    { domain: "x", sessions: new FakeSessions(), store: () => store, clock },
    { maxTracked: 1 },
  );
  const iq = new IqRegistry();
  last.registerAccount(iq);
  last.wentUnavailable("a@x");
  last.wentUnavailable("b@x");
  const ask = async (who: string) =>
    (await iq.handle(
      "account",
      el(
        "iq",
        { type: "get", id: "1", from: `${who}/r` },
        el("query", { xmlns: "jabber:iq:last" }),
      ),
      who,
    ))?.attrs.type;
  assert.equal(await ask("a@x"), "error");
  assert.equal(await ask("b@x"), "result");
});
