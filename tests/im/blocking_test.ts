import assert from "node:assert/strict";
import {
  Blocking,
  blocklistMatches,
  Blocklists,
  inboundVerdict,
  outboundVerdict,
} from "../../src/im/blocking.ts";
import { DiscoInfo } from "../../src/im/disco.ts";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import { Jid } from "../../src/jid/jid.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSessions, ROSTER_ITEM } from "./_fake_sessions.ts";

const NS = "urn:xmpp:blocking";

Deno.test("blocklistMatches() follows the XEP-0191 §5 matching order", () => {
  const match = (entries: string[], jid: string) =>
    blocklistMatches(new Set(entries), Jid.parse(jid));
  assert.equal(match(["romeo@m.lit/orchard"], "romeo@m.lit/orchard"), true);
  assert.equal(match(["romeo@m.lit/orchard"], "romeo@m.lit/home"), false);
  assert.equal(match(["romeo@m.lit/orchard"], "romeo@m.lit"), false);
  assert.equal(match(["romeo@m.lit"], "romeo@m.lit/home"), true);
  assert.equal(match(["romeo@m.lit"], "romeo@m.lit"), true);
  assert.equal(match(["m.lit/bot"], "m.lit/bot"), true);
  // XEP-0016 §2.1 compares the sender's domain/resource form too.
  assert.equal(match(["m.lit/bot"], "romeo@m.lit/bot"), true);
  assert.equal(match(["m.lit/bot"], "m.lit/other"), false);
  assert.equal(match(["m.lit"], "m.lit"), true);
  assert.equal(match(["m.lit"], "anyone@m.lit/x"), true);
  assert.equal(match(["m.lit"], "muc.m.lit"), true);
  assert.equal(match(["m.lit"], "xm.lit"), false);
  assert.equal(match([], "romeo@m.lit"), false);
});

Deno.test("inboundVerdict() makes the account look offline to a blocked sender", () => {
  const error = (stanza: Element) => {
    const verdict = inboundVerdict(stanza);
    return verdict instanceof StanzaError ? `${verdict.type}/${verdict.condition}` : verdict;
  };
  assert.equal(error(el("presence")), "drop");
  assert.equal(error(el("presence", { type: "subscribe" })), "drop");
  assert.equal(error(el("message", { type: "chat" })), "cancel/service-unavailable");
  assert.equal(error(el("message")), "cancel/service-unavailable");
  assert.equal(error(el("message", { type: "error" })), "drop");
  assert.equal(error(el("iq", { type: "get" })), "cancel/service-unavailable");
  assert.equal(error(el("iq", { type: "set" })), "cancel/service-unavailable");
  assert.equal(error(el("iq", { type: "result" })), "drop");
});

Deno.test("outboundVerdict() answers not-acceptable with <blocked/>, except where no answer is due", () => {
  const verdict = outboundVerdict(el("message", { type: "chat" }));
  assert.ok(verdict instanceof StanzaError);
  assert.equal(
    serialize(verdict.toElement(), "jabber:client"),
    `<error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<blocked xmlns="urn:xmpp:blocking:errors"/></error>`,
  );
  assert.ok(outboundVerdict(el("iq", { type: "get" })) instanceof StanzaError);
  assert.equal(outboundVerdict(el("presence")), "drop");
  assert.equal(outboundVerdict(el("iq", { type: "error" })), "drop");
  assert.equal(outboundVerdict(el("message", { type: "error" })), "drop");
});

class CountingStore extends MemoryImStore {
  reads = 0;
  gate: Promise<void> | undefined;

  override async getBlocklist(username: string): Promise<string[]> {
    this.reads++;
    const list = await super.getBlocklist(username);
    const gate = this.gate;
    this.gate = undefined;
    await gate;
    return list;
  }
}

Deno.test("Blocklists caches after the first read and keeps the store in step", async () => {
  using store = new CountingStore({ maxBlocklistItems: 2 });
  const lists = new Blocklists(() => store);
  assert.equal(lists.cached("juliet"), undefined);
  assert.deepEqual([...await lists.get("juliet")], []);
  assert.deepEqual([...await lists.get("juliet")], []);
  assert.equal(store.reads, 1);
  assert.equal(await lists.block("juliet", ["a@x", "b@x"]), true);
  assert.deepEqual([...lists.cached("juliet")!].sort(), ["a@x", "b@x"]);
  // All or nothing over the store's limit.
  assert.equal(await lists.block("juliet", ["c@x"]), false);
  assert.deepEqual(await store.getBlocklist("juliet"), ["a@x", "b@x"]);
  assert.equal(await lists.unblock("juliet", ["a@x", "z@x"]), 1);
  assert.equal(lists.blocks("juliet", Jid.parse("a@x")), false);
  assert.equal(await lists.unblockAll("juliet"), 1);
  assert.equal(await lists.isBlocked("juliet", Jid.parse("b@x")), false);
  assert.deepEqual(await store.getBlocklist("juliet"), []);
});

Deno.test("Blocklists does not let a read that started before a change overwrite it", async () => {
  using store = new CountingStore();
  const gate = Promise.withResolvers<void>();
  store.gate = gate.promise;
  const lists = new Blocklists(() => store);
  const stale = lists.get("juliet");
  const change = lists.block("juliet", ["tybalt@x"]);
  await change;
  gate.resolve();
  // The read finished after the change and must not bring back the old list.
  assert.equal((await stale).has("tybalt@x"), true);
  assert.equal(lists.blocks("juliet", Jid.parse("tybalt@x")), true);
});

Deno.test("Blocklists keeps at most maxCachedAccounts lists", async () => {
  using store = new MemoryImStore();
  const lists = new Blocklists(() => store, { maxCachedAccounts: 2 });
  await lists.get("a");
  await lists.get("b");
  await lists.get("c");
  assert.equal(lists.cached("a"), undefined);
  assert.ok(lists.cached("c") !== undefined);
});

function setup(limits: { maxBlocklistItems?: number } = {}) {
  const store = new MemoryImStore(limits);
  const sessions = new FakeSessions();
  let ids = 0;
  const blocking = new Blocking({
    domain: "x",
    sessions,
    store: () => store,
    clock: { now: () => 0 },
  }, {
    id: () => `push${++ids}`,
  });
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  blocking.register(iq, disco);
  const request = (from: string, type: "get" | "set", payload: Element) =>
    iq.handle(
      "account",
      el("iq", { xmlns: "jabber:client", type, id: "b1", from }, payload),
      Jid.parse(from).bare().toString(),
    );
  return { store, sessions, blocking, iq, disco, request };
}

function wire(stanza: Element | undefined): string {
  return stanza === undefined ? "" : serialize(stanza, "jabber:client");
}

Deno.test("Blocking announces urn:xmpp:blocking and answers an empty blocklist", async () => {
  const { store, disco, request } = setup();
  using _store = store;
  assert.ok(wire(disco.toElement()).includes(`<feature var="urn:xmpp:blocking"/>`));
  assert.equal(
    wire(await request("juliet@x/balcony", "get", el("blocklist", { xmlns: NS }))),
    `<iq type="result" id="b1" from="juliet@x" to="juliet@x/balcony">` +
      `<blocklist xmlns="urn:xmpp:blocking"/></iq>`,
  );
});

Deno.test("Blocking blocks, persists, and pushes to the resources that asked for the list", async () => {
  const { store, sessions, request } = setup();
  using _store = store;
  const balcony = sessions.add("juliet@x/balcony");
  const chamber = sessions.add("juliet@x/chamber");
  await request("juliet@x/balcony", "get", el("blocklist", { xmlns: NS }));
  balcony.take();
  const reply = await request(
    "juliet@x/chamber",
    "set",
    el(
      "block",
      { xmlns: NS },
      el("item", { jid: "Romeo@Montague.net" }),
      el("item", { jid: "iago@x" }),
    ),
  );
  assert.equal(wire(reply), `<iq type="result" id="b1" from="juliet@x" to="juliet@x/chamber"/>`);
  assert.deepEqual(await store.getBlocklist("juliet"), ["iago@x", "romeo@montague.net"]);
  // Only the resource that retrieved the blocklist gets the push.
  assert.deepEqual(balcony.take(), [
    `<iq type="set" id="push1" to="juliet@x/balcony"><block xmlns="urn:xmpp:blocking">` +
    `<item jid="romeo@montague.net"/><item jid="iago@x"/></block></iq>`,
  ]);
  assert.deepEqual(chamber.take(), []);
  assert.equal(
    wire(await request("juliet@x/balcony", "get", el("blocklist", { xmlns: NS }))),
    `<iq type="result" id="b1" from="juliet@x" to="juliet@x/balcony">` +
      `<blocklist xmlns="urn:xmpp:blocking"><item jid="iago@x"/><item jid="romeo@montague.net"/>` +
      `</blocklist></iq>`,
  );
});

Deno.test("Blocking refuses an empty block, a malformed JID and a full blocklist", async () => {
  const { store, request } = setup({ maxBlocklistItems: 1 });
  using _store = store;
  const error = async (payload: Element) =>
    wire((await request("juliet@x/r", "set", payload))?.getChild("error"));
  assert.equal(
    await error(el("block", { xmlns: NS })),
    `<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
  );
  assert.equal(
    await error(el("block", { xmlns: NS }, el("item", { jid: "@@" }))),
    `<error type="modify"><jid-malformed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
  );
  assert.equal(
    await error(el("block", { xmlns: NS }, el("item", { jid: "a@x" }), el("item", { jid: "b@x" }))),
    `<error type="cancel"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">A blocklist holds at most 1 JIDs</text></error>`,
  );
  assert.deepEqual(await store.getBlocklist("juliet"), []);
});

Deno.test("Blocking unblocks some or all JIDs, with pushes", async () => {
  const { store, sessions, request } = setup();
  using _store = store;
  await store.block("juliet", ["a@x", "b@x", "c@x"]);
  const phone = sessions.add("juliet@x/phone");
  await request("juliet@x/phone", "get", el("blocklist", { xmlns: NS }));
  phone.take();
  await request("juliet@x/phone", "set", el("unblock", { xmlns: NS }, el("item", { jid: "a@x" })));
  assert.deepEqual(await store.getBlocklist("juliet"), ["b@x", "c@x"]);
  await request("juliet@x/phone", "set", el("unblock", { xmlns: NS }));
  assert.deepEqual(await store.getBlocklist("juliet"), []);
  assert.deepEqual(phone.take(), [
    `<iq type="set" id="push1" to="juliet@x/phone"><unblock xmlns="urn:xmpp:blocking"><item jid="a@x"/></unblock></iq>`,
    `<iq type="set" id="push2" to="juliet@x/phone"><unblock xmlns="urn:xmpp:blocking"/></iq>`,
  ]);
});

Deno.test("Blocking sends unavailable presence to a subscribed contact on block, presence again on unblock", async () => {
  const { store, sessions, request } = setup();
  using _store = store;
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "both" });
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "paris@x", subscription: "to" });
  const juliet = sessions.add("juliet@x/balcony");
  juliet.presence = el("presence", { xmlns: "jabber:client" }, el("show", {}, "away"));
  const romeo = sessions.add("romeo@x/orchard");
  const paris = sessions.add("paris@x/home");
  const items = [el("item", { jid: "romeo@x" }), el("item", { jid: "paris@x" })];
  await request("juliet@x/balcony", "set", el("block", { xmlns: NS }, ...items));
  assert.deepEqual(romeo.take(), [
    `<presence type="unavailable" from="juliet@x/balcony" to="romeo@x"/>`,
  ]);
  // Paris does not see Juliet's presence, so he learns nothing.
  assert.deepEqual(paris.take(), []);
  await request(
    "juliet@x/balcony",
    "set",
    el("unblock", { xmlns: NS }, el("item", { jid: "romeo@x" })),
  );
  assert.deepEqual(romeo.take(), [
    `<presence from="juliet@x/balcony" to="romeo@x"><show>away</show></presence>`,
  ]);
});

Deno.test("Blocking.filter() bounces outbound stanzas to a blocked JID and drops their presence", async () => {
  const { store, sessions, blocking } = setup();
  using _store = store;
  await store.block("juliet", ["romeo@x"]);
  const juliet = sessions.add("juliet@x/balcony");
  await blocking.lists.get("juliet");
  await blocking.lists.get("romeo");
  const forwarded: Element[] = [];
  const forward = (_s: unknown, stanza: Element) => forwarded.push(stanza);
  const message = el("message", {
    xmlns: "jabber:client",
    from: "juliet@x/balcony",
    to: "romeo@x",
    type: "chat",
    id: "m1",
  }, el("body", {}, "hi"));
  assert.equal(blocking.filter(juliet, message, forward), true);
  assert.deepEqual(juliet.take(), [
    `<message type="error" id="m1" from="romeo@x" to="juliet@x/balcony"><error type="cancel">` +
    `<not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/>` +
    `</error></message>`,
  ]);
  assert.equal(
    blocking.filter(juliet, el("presence", { from: "juliet@x/balcony", to: "romeo@x" }), forward),
    true,
  );
  assert.deepEqual(juliet.take(), []);
  // Someone else passes at once.
  const other = el("message", { xmlns: "jabber:client", from: "juliet@x/balcony", to: "nurse@x" });
  await blocking.lists.get("nurse");
  assert.equal(blocking.filter(juliet, other, forward), false);
  assert.deepEqual(forwarded, []);
});

Deno.test("Blocking.filter() answers a blocked sender as if the account were offline", async () => {
  const { store, sessions, blocking } = setup();
  using _store = store;
  await store.block("juliet", ["romeo@x"]);
  const romeo = sessions.add("romeo@x/orchard");
  await blocking.lists.get("juliet");
  await blocking.lists.get("romeo");
  const forward = () => assert.fail("nothing may pass");
  const iq = el("iq", {
    xmlns: "jabber:client",
    from: "romeo@x/orchard",
    to: "juliet@x",
    type: "get",
    id: "v",
  }, el("vCard", { xmlns: "vcard-temp" }));
  assert.equal(blocking.filter(romeo, iq, forward), true);
  assert.deepEqual(romeo.take(), [
    `<iq type="error" id="v" from="juliet@x" to="romeo@x/orchard"><error type="cancel">` +
    `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  ]);
  assert.equal(
    blocking.filter(
      romeo,
      el("presence", { from: "romeo@x/orchard", to: "juliet@x", type: "subscribe" }),
      forward,
    ),
    true,
  );
  assert.equal(
    blocking.filter(
      romeo,
      el("iq", { from: "romeo@x/orchard", to: "juliet@x/b", type: "result", id: "r" }),
      forward,
    ),
    true,
  );
  assert.deepEqual(romeo.take(), []);
  assert.equal(
    await blocking.inbound("juliet@x", el("presence", { from: "romeo@x/orchard" })),
    "drop",
  );
  assert.equal(
    await blocking.inbound("juliet@x", el("presence", { from: "nurse@x/r" })),
    "deliver",
  );
  assert.equal(await blocking.eitherBlocks("romeo@x", "juliet@x"), true);
  assert.equal(await blocking.eitherBlocks("romeo@x", "nurse@x"), false);
});

Deno.test("Blocking.filter() decides at once once both lists are read, whatever the recipient's form", async () => {
  const { store, sessions, blocking } = setup();
  using _store = store;
  await store.block("nurse", ["romeo@x/orchard"]);
  const juliet = sessions.add("juliet@x/balcony");
  const romeo = sessions.add("romeo@x/orchard");
  const forward = () => assert.fail("decided at once");
  // A list not read yet: unknown without the store.
  assert.equal(
    blocking.inboundNow("romeo@x", el("message", { from: "juliet@x/balcony" })),
    undefined,
  );
  await blocking.lists.get("juliet");
  await blocking.lists.get("romeo");
  await blocking.lists.get("nurse");
  // Both lists empty: through, whatever the recipient's resource or case.
  for (const to of ["romeo@x", "Romeo@X/garden", "romeo@x/orchard"]) {
    const message = el("message", { from: "juliet@x/balcony", to, type: "chat" });
    assert.equal(blocking.filter(juliet, message, forward), false);
  }
  // The nurse blocks one of romeo's resources, not his others.
  const toNurse = (from: string) => el("message", { from, to: "nurse@x", type: "chat", id: "n" });
  assert.equal(blocking.filter(romeo, toNurse("romeo@x/orchard"), forward), true);
  assert.equal(romeo.take().length, 1);
  assert.equal(blocking.inboundNow("nurse@x", toNurse("romeo@x/garden")), "deliver");
  assert.equal(blocking.inboundNow("nurse@x", toNurse("Romeo@x/orchard")) !== "deliver", true);
  // An account's own traffic is never blocked.
  assert.equal(blocking.inboundNow("romeo@x", toNurse("romeo@x/orchard")), "deliver");
});

Deno.test("Blocking.filter() holds stanzas while a blocklist is read, then forwards them in order", async () => {
  const { store, sessions, blocking } = setup();
  using _store = store;
  await store.block("nurse", ["tybalt@x"]);
  const tybalt = sessions.add("tybalt@x/street");
  const forwarded: string[] = [];
  const forward = (_s: unknown, stanza: Element) => forwarded.push(stanza.attrs.id!);
  const to = (who: string, id: string) =>
    el(
      "message",
      { xmlns: "jabber:client", from: "tybalt@x/street", to: who, type: "chat", id },
      el("body", {}, id),
    );
  // Nothing is cached: every stanza waits, and they keep their order.
  assert.equal(blocking.filter(tybalt, to("romeo@x", "1"), forward), true);
  assert.equal(blocking.filter(tybalt, to("nurse@x", "2"), forward), true);
  assert.equal(blocking.filter(tybalt, to("romeo@x", "3"), forward), true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(forwarded, ["1", "3"]);
  assert.equal(
    tybalt.take()[0],
    `<message type="error" id="2" from="nurse@x" to="tybalt@x/street"><error type="cancel">` +
      `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
  );
});
