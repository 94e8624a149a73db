import assert from "node:assert/strict";
import { AccountQueue } from "../../src/im/account_queue.ts";
import { OfflineMessages } from "../../src/im/offline.ts";
import { PresenceService } from "../../src/im/presence.ts";
import { RosterService } from "../../src/im/roster_service.ts";
import { SessionRegistry } from "../../src/routing/session_registry.ts";
import type { ImStore, Subscription } from "../../src/storage/im_store.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { FakeSession, imFixture, xml } from "./_im_fixture.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

async function item(store: ImStore, user: string, contact: string, subscription: Subscription) {
  const roster = await store.getRoster(user);
  await store.putRosterItem(user, {
    jid: `${contact}@example.com`,
    groups: [],
    subscription,
    ask: false,
    approved: false,
    version: roster.version + 1,
  });
}

Deno.test("PresenceService sends initial presence to subscribers and to every own resource, and probes", async () => {
  const f = imFixture();
  await item(f.store, "alice", "bob", "from"); // bob sees alice
  await item(f.store, "alice", "carol", "to"); // alice sees carol
  await item(f.store, "carol", "alice", "from");
  const bob = f.bind("bob", "orchard");
  const carol = f.bind("carol", "desk");
  const phone = f.bind("alice", "phone");
  await f.presence(bob, "<presence/>");
  await f.presence(carol, "<presence><show>dnd</show></presence>");
  await f.presence(phone, "<presence><priority>-1</priority></presence>");
  await f.settle();
  for (const session of [bob, carol, phone]) session.take();

  const balcony = f.bind("alice", "balcony");
  await f.presence(balcony, "<presence><show>away</show></presence>");
  await f.settle();
  assert.deepEqual(balcony.take(), [
    `<presence from="alice@example.com/balcony" to="alice@example.com/balcony"><show>away</show></presence>`,
    `<presence from="alice@example.com/phone" to="alice@example.com/balcony"><priority>-1</priority></presence>`,
    `<presence from="carol@example.com/desk" to="alice@example.com/balcony"><show>dnd</show></presence>`,
  ]);
  assert.deepEqual(bob.take(), [
    `<presence from="alice@example.com/balcony" to="bob@example.com"><show>away</show></presence>`,
  ]);
  assert.deepEqual(carol.take(), []);
  assert.deepEqual(phone.take(), [
    `<presence from="alice@example.com/balcony" to="alice@example.com/phone"><show>away</show></presence>`,
  ]);

  // A later update: subscribers and own resources again, but no probe answers.
  await f.presence(balcony, "<presence><show>xa</show></presence>");
  await f.settle();
  assert.deepEqual(balcony.take(), [
    `<presence from="alice@example.com/balcony" to="alice@example.com/balcony"><show>xa</show></presence>`,
  ]);
  assert.equal(bob.take().length, 1);
  assert.equal(phone.take().length, 1);
});

Deno.test("PresenceService answers probes only for subscribers, with unavailable when nobody is online", async () => {
  const f = imFixture();
  await item(f.store, "carol", "alice", "from");
  await item(f.store, "bob", "alice", "to");
  const balcony = f.bind("alice", "balcony");
  await f.presence(balcony, "<presence type='probe' to='carol@example.com'/>");
  await f.presence(balcony, "<presence type='probe' to='bob@example.com/orchard'/>");
  await f.settle();
  assert.deepEqual(balcony.take(), [
    `<presence from="carol@example.com" to="alice@example.com/balcony" type="unavailable"/>`,
  ]);
});

Deno.test("PresenceService.closed() sends unavailable once to subscribers, other resources and directed recipients", async () => {
  const f = imFixture();
  await item(f.store, "alice", "bob", "both");
  const bob = f.bind("bob", "orchard");
  const carol = f.bind("carol", "desk");
  const phone = f.bind("alice", "phone");
  const balcony = f.bind("alice", "balcony");
  for (const session of [bob, carol, phone, balcony]) await f.presence(session, "<presence/>");
  await f.presence(balcony, "<presence to='carol@example.com/desk'/>");
  await f.presence(balcony, "<presence to='bob@example.com'/>");
  await f.settle();
  for (const session of [bob, carol, phone]) session.take();

  f.sessions.remove(balcony);
  f.im.closed(balcony);
  await f.settle();
  assert.equal(balcony.available, false);
  assert.deepEqual(bob.take(), [
    `<presence from="alice@example.com/balcony" to="bob@example.com" type="unavailable"/>`,
  ]);
  assert.deepEqual(carol.take(), [
    `<presence from="alice@example.com/balcony" to="carol@example.com/desk" type="unavailable"/>`,
  ]);
  assert.deepEqual(phone.take(), [
    `<presence from="alice@example.com/balcony" to="alice@example.com/phone" type="unavailable"/>`,
  ]);
  // A session that never sent presence leaves quietly.
  const silent = f.bind("alice", "silent");
  f.sessions.remove(silent);
  f.im.closed(silent);
  await f.settle();
  assert.deepEqual([...bob.take(), ...phone.take()], []);
});

Deno.test("PresenceService forgets the oldest directed-presence recipient beyond maxDirected", async () => {
  const store = new MemoryImStore();
  const queue = new AccountQueue();
  const sessions = new SessionRegistry<FakeSession>();
  const rosters = new RosterService({ domain: "example.com", store, sessions, queue });
  const presence = new PresenceService({
    domain: "example.com",
    sessions,
    rosters,
    queue,
    offline: new OfflineMessages({ domain: "example.com", store }),
    accountExists: () => Promise.resolve(true),
    maxDirected: 1,
  });
  const alice = new FakeSession("alice@example.com", "balcony");
  const bob = new FakeSession("bob@example.com", "orchard");
  const carol = new FakeSession("carol@example.com", "desk");
  for (const session of [alice, bob, carol]) sessions.add(session);
  const send = (session: FakeSession, text: string) => {
    const stanza = xml(text);
    stanza.attrs.from = session.jid;
    return presence.handle(session, stanza);
  };
  await send(alice, "<presence/>");
  await send(alice, "<presence to='bob@example.com/orchard'/>");
  await send(alice, "<presence to='carol@example.com/desk'/>");
  bob.take();
  carol.take();
  sessions.remove(alice);
  presence.closed(alice);
  await queue.drain();
  assert.deepEqual(bob.take(), []);
  assert.equal(carol.take().length, 1);
  assert.throws(
    () =>
      new PresenceService({
        domain: "x",
        sessions,
        rosters,
        queue,
        offline: new OfflineMessages({ domain: "x", store }),
        accountExists: () => Promise.resolve(true),
        maxDirected: -1,
      }),
    RangeError,
  );
});

Deno.test("PresenceService ignores subscription requests to accounts that do not exist", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  await f.iqFrom(balcony, "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
  balcony.take();
  await f.presence(balcony, "<presence to='nobody@example.com' type='subscribe'/>");
  await f.settle();
  // The user's side records the request (as it would for a remote contact); no error comes back.
  assert.deepEqual(balcony.take(), [
    `<iq type="set" id="{push}" to="alice@example.com/balcony"><query xmlns="jabber:iq:roster" ver="1">` +
    `<item jid="nobody@example.com" subscription="none" ask="subscribe"/></query></iq>`,
  ]);
  assert.deepEqual(await f.store.getPendingSubscriptions("nobody"), []);
});

Deno.test("PresenceService tells the requester when the contact cannot keep more pending requests", async () => {
  const f = imFixture({ store: new MemoryImStore({ maxPendingSubscriptions: 0 }) });
  const orchard = f.bind("bob", "orchard");
  await f.presence(orchard, "<presence/>");
  await f.settle();
  orchard.take();
  await f.presence(orchard, "<presence id='s1' to='alice@example.com' type='subscribe'/>");
  await f.settle();
  assert.deepEqual(orchard.take(), [
    `<presence type="error" id="s1" from="alice@example.com" to="bob@example.com">` +
    `<error type="wait"><resource-constraint xmlns="${NS_STANZAS}"/>` +
    `<text xmlns="${NS_STANZAS}">Too many subscription requests are waiting</text></error></presence>`,
  ]);
});

Deno.test("PresenceService lets two accounts subscribe to each other at the same time", async () => {
  const f = imFixture();
  const alice = f.bind("alice", "balcony");
  const bob = f.bind("bob", "orchard");
  await Promise.all([
    f.presence(alice, "<presence to='bob@example.com' type='subscribe'/>"),
    f.presence(bob, "<presence to='alice@example.com' type='subscribe'/>"),
  ]);
  await f.settle();
  await Promise.all([
    f.presence(alice, "<presence to='bob@example.com' type='subscribed'/>"),
    f.presence(bob, "<presence to='alice@example.com' type='subscribed'/>"),
  ]);
  await f.settle();
  const a = await f.store.getRoster("alice");
  const b = await f.store.getRoster("bob");
  assert.deepEqual(a.items.map((i) => [i.jid, i.subscription, i.ask]), [[
    "bob@example.com",
    "both",
    false,
  ]]);
  assert.deepEqual(b.items.map((i) => [i.jid, i.subscription, i.ask]), [[
    "alice@example.com",
    "both",
    false,
  ]]);
  assert.deepEqual(await f.store.getPendingSubscriptions("alice"), []);
});

Deno.test("PresenceService answers malformed presence and ignores what has nowhere to go", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  await f.presence(balcony, "<presence id='t' type='chat'/>");
  await f.presence(balcony, "<presence id='j' to='@@'/>");
  await f.presence(balcony, "<presence type='subscribe'/>");
  await f.presence(balcony, "<presence type='error' to='bob@example.com'/>");
  await f.presence(balcony, "<presence to='romeo@example.net'/>");
  await f.settle();
  assert.deepEqual(balcony.take(), [
    `<presence type="error" id="t" from="example.com" to="alice@example.com/balcony">` +
    `<error type="modify"><bad-request xmlns="${NS_STANZAS}"/></error></presence>`,
    `<presence type="error" id="j" from="@@" to="alice@example.com/balcony">` +
    `<error type="modify"><jid-malformed xmlns="${NS_STANZAS}"/></error></presence>`,
  ]);
});

Deno.test("PresenceService reads priority as RFC 6121 says: clamped, 0 when unreadable", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  for (const [text, expected] of [["300", 127], ["-300", -128], [" 7 ", 7], ["x", 0]] as const) {
    await f.presence(balcony, `<presence><priority>${text}</priority></presence>`);
    assert.equal(balcony.priority, expected);
  }
});

Deno.test("PresenceService.message() delivers if a resource appeared, else stores within the quota", async () => {
  const f = imFixture();
  const hi = xml(
    "<message from='alice@example.com/balcony' to='bob@example.com' type='chat'><body>hi</body></message>",
  );
  assert.equal(await f.im.storeOffline(hi, "bob", () => true, 1), undefined);
  assert.equal(await f.store.countOffline("bob"), 0);
  assert.equal(await f.im.storeOffline(hi, "bob", () => false, 1), undefined);
  assert.equal(
    (await f.im.storeOffline(hi, "bob", () => false, 1))?.condition,
    "service-unavailable",
  );
  const noStore = xml(
    "<message to='bob@example.com'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
  );
  assert.equal(
    (await f.im.storeOffline(noStore, "bob", () => false))?.condition,
    "service-unavailable",
  );

  // Flushed when a resource turns non-negative, not before.
  const orchard = f.bind("bob", "orchard");
  await f.presence(orchard, "<presence><priority>-1</priority></presence>");
  assert.equal(orchard.take().length, 1);
  await f.presence(orchard, "<presence><priority>1</priority></presence>");
  assert.deepEqual(orchard.take(), [
    `<presence from="bob@example.com/orchard" to="bob@example.com/orchard"><priority>1</priority></presence>`,
    `<message from="alice@example.com/balcony" to="bob@example.com" type="chat"><body>hi</body>` +
    `<delay xmlns="urn:xmpp:delay" from="example.com" stamp="2002-09-10T23:08:25.000Z"/></message>`,
  ]);
});
