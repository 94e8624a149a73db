import assert from "node:assert/strict";
import { AccountQueue } from "../../src/im/account_queue.ts";
import { RosterService } from "../../src/im/roster_service.ts";
import { NO_SUBSCRIPTION, outboundSubscription } from "../../src/im/subscription.ts";
import { SessionRegistry } from "../../src/routing/session_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import type { RosterItem } from "../../src/storage/im_store.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSession, imFixture, xml } from "./_im_fixture.ts";

const GET = "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>";

function set(item: string, id = "s1"): string {
  return `<iq type='set' id='${id}'><query xmlns='jabber:iq:roster'>${item}</query></iq>`;
}

Deno.test("RosterService pushes a roster set to the interested resources only, before the result", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  const chamber = f.bind("alice", "chamber");
  const garden = f.bind("alice", "garden");
  await f.iqFrom(balcony, GET);
  await f.iqFrom(chamber, GET);
  balcony.take();
  chamber.take();
  const push = (to: string) =>
    `<iq type="set" id="{push}" to="alice@example.com/${to}"><query xmlns="jabber:iq:roster" ver="1">` +
    `<item jid="nurse@example.com" name="Nurse" subscription="none"><group>Servants</group></item></query></iq>`;
  await f.iqFrom(
    balcony,
    set("<item jid='Nurse@Example.com' name='Nurse'><group>Servants</group></item>"),
  );
  assert.deepEqual(balcony.take(), [
    push("balcony"),
    `<iq type="result" id="s1" from="alice@example.com" to="alice@example.com/balcony"/>`,
  ]);
  assert.deepEqual(chamber.take(), [push("chamber")]);
  assert.deepEqual(garden.take(), []);
  assert.equal(f.im.rosters.isInterested(garden), false);
  assert.deepEqual(f.im.rosters.interested("alice@example.com"), [balcony, chamber]);
  assert.deepEqual((await f.store.getRoster("alice")).items.map((i) => i.jid), [
    "nurse@example.com",
  ]);
});

Deno.test("RosterService answers a versioned get: empty when current, pushes after the result when older", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  for (const [n, name] of [[1, "a"], [2, "b"], [3, "c"]] as const) {
    await f.iqFrom(balcony, set(`<item jid='${name}@example.com'/>`, `s${n}`));
  }
  const phone = f.bind("alice", "phone");
  assert.equal(
    await f.iqFrom(phone, "<iq type='get' id='v'><query xmlns='jabber:iq:roster' ver='3'/></iq>"),
    `<iq type="result" id="v" from="alice@example.com" to="alice@example.com/phone"/>`,
  );
  phone.take();
  await f.iqFrom(phone, "<iq type='get' id='w'><query xmlns='jabber:iq:roster' ver='2'/></iq>");
  assert.deepEqual(phone.take(), [
    `<iq type="result" id="w" from="alice@example.com" to="alice@example.com/phone"/>`,
    `<iq type="set" id="{push}" to="alice@example.com/phone"><query xmlns="jabber:iq:roster" ver="3">` +
    `<item jid="c@example.com" subscription="none"/></query></iq>`,
  ]);
});

Deno.test("RosterService sends the whole roster instead of pushes when it cannot follow the reply", async () => {
  const f = imFixture({ afterReply: false });
  const balcony = f.bind("alice", "balcony");
  for (const name of ["a", "b", "c"]) {
    await f.iqFrom(balcony, set(`<item jid='${name}@example.com'/>`));
  }
  const reply = await f.iqFrom(
    balcony,
    "<iq type='get' id='v'><query xmlns='jabber:iq:roster' ver='2'/></iq>",
  );
  assert.match(reply!, /<query xmlns="jabber:iq:roster" ver="3"><item jid="a@example.com"/);
});

Deno.test("RosterService refuses a get with items and requests from elsewhere", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  assert.match(
    (await f.iqFrom(
      balcony,
      "<iq type='get' id='x'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>",
    ))!,
    /<bad-request /,
  );
  const stranger = new FakeSession("romeo@example.net", "orchard");
  assert.match((await f.iqFrom(stranger, GET))!, /<service-unavailable /);
});

/** A RosterService on its own registry, with what `removed` reports recorded. */
function standalone(store = new MemoryImStore()) {
  const queue = new AccountQueue();
  const sessions = new SessionRegistry<FakeSession>();
  const iq = new IqRegistry();
  const removed: [string, string, string][] = [];
  const rosters = new RosterService({
    domain: "example.com",
    store,
    sessions,
    queue,
    removed: (username, contact, before) => removed.push([username, contact, before.subscription]),
  });
  rosters.register(iq);
  const ask = async (session: FakeSession, text: string) => {
    const stanza = xml(text);
    stanza.attrs.from = session.jid;
    const reply = await iq.handle("account", stanza, session.bareKey);
    return reply === undefined ? undefined : serialize(reply, "jabber:client");
  };
  return { store, queue, sessions, rosters, removed, ask };
}

class FlakyStore extends MemoryImStore {
  failNext = false;

  override putRosterItem(username: string, item: RosterItem): Promise<void> {
    if (!this.failNext) return super.putRosterItem(username, item);
    this.failNext = false;
    return Promise.reject(new Error("disk full"));
  }
}

const ITEM: RosterItem = {
  jid: "bob@example.com",
  groups: [],
  subscription: "from",
  ask: false,
  approved: false,
  version: 1,
};

Deno.test("RosterService removal deletes a pending request and reports the state before", async () => {
  const s = standalone();
  await s.store.putRosterItem("alice", ITEM);
  await s.store.putPendingSubscription("alice", { jid: "bob@example.com", stanza: "<presence/>" });
  const balcony = new FakeSession("alice@example.com", "balcony");
  s.sessions.add(balcony);
  assert.match(
    (await s.ask(balcony, set("<item jid='bob@example.com' subscription='remove'/>")))!,
    /^<iq type="result" id="s1"/,
  );
  assert.deepEqual(s.removed, [["alice", "bob@example.com", "from"]]);
  assert.deepEqual(await s.store.getRoster("alice"), { version: 2, items: [] });
  assert.deepEqual(await s.store.getPendingSubscriptions("alice"), []);
  // Removing it again: item-not-found, nothing reported.
  assert.match(
    (await s.ask(balcony, set("<item jid='bob@example.com' subscription='remove'/>", "s2")))!,
    /<item-not-found /,
  );
  assert.equal(s.removed.length, 1);
});

Deno.test("RosterService.commit() stores pending requests and roster items, and refuses past the quotas", async () => {
  const s = standalone(new MemoryImStore({ maxPendingSubscriptions: 1 }));
  const run = <T>(task: () => Promise<T>) => s.queue.run("alice", task);
  const request = "<presence from='bob@example.com' type='subscribe'/>";
  const pendingIn = { ...NO_SUBSCRIPTION, pendingIn: true };
  assert.deepEqual(
    await run(() =>
      s.rosters.commit("alice", "bob@example.com", NO_SUBSCRIPTION, pendingIn, request)
    ),
    { ok: true, change: undefined },
  );
  assert.deepEqual(await s.store.getPendingSubscriptions("alice"), [{
    jid: "bob@example.com",
    stanza: request,
  }]);
  const refused = await run(() =>
    s.rosters.commit("alice", "carol@example.com", NO_SUBSCRIPTION, pendingIn, request)
  );
  assert.equal(!refused.ok && refused.error.condition, "resource-constraint");
  // Approving clears the request and writes the item.
  const account = await run(() => s.rosters.load("alice"));
  const before = s.rosters.state(account, "bob@example.com");
  const { state } = outboundSubscription(before, "subscribed");
  const approved = await run(() => s.rosters.commit("alice", "bob@example.com", before, state));
  assert.equal(approved.ok && approved.change?.item?.subscription, "from");
  assert.deepEqual(await s.store.getPendingSubscriptions("alice"), []);
  assert.equal((await s.store.getRoster("alice")).items[0]?.subscription, "from");
  // The account's own JID is never an item.
  const self = await run(() =>
    s.rosters.commit(
      "alice",
      "alice@example.com",
      NO_SUBSCRIPTION,
      outboundSubscription(NO_SUBSCRIPTION, "subscribe").state,
    )
  );
  assert.equal(!self.ok && self.error.condition, "not-allowed");
});

Deno.test("RosterService drops its cached roster when a write fails, so the next request sees the store", async () => {
  const flaky = new FlakyStore();
  const s = standalone(flaky);
  const balcony = new FakeSession("alice@example.com", "balcony");
  s.sessions.add(balcony);
  await s.ask(balcony, set("<item jid='a@example.com'/>"));
  flaky.failNext = true;
  assert.match(
    (await s.ask(balcony, set("<item jid='b@example.com'/>", "s2")))!,
    /<internal-server-error /,
  );
  const roster = await s.ask(balcony, GET);
  assert.match(roster!, /ver="1"><item jid="a@example.com" subscription="none"\/><\/query>/);
});

Deno.test("RosterService checks its cache size", () => {
  assert.throws(
    () =>
      new RosterService({
        domain: "example.com",
        store: new MemoryImStore(),
        sessions: new SessionRegistry<FakeSession>(),
        queue: new AccountQueue(),
        cacheSize: 0,
      }),
    {
      name: "RangeError",
      message: "Cannot create roster service: 'cacheSize' must be a positive integer, got 0",
    },
  );
});
