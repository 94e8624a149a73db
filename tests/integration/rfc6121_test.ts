// RFC 6121 conversations over real sockets, read like scansion scripts: what
// each client sends and exactly what it receives, modelled on the RFC's own
// examples (rosters §2, subscriptions §3, presence §4, delivery rules §8)
// with our accounts: alice and bob (and carol) on localhost. Roster push ids
// are the server's own and compared as `{push}`.

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const OPEN = {
  tls: { required: false },
  auth: { allow_plain_without_tls: true },
  accounts: [
    { jid: "alice@localhost", password: "alice-secret" },
    { jid: "bob@localhost", password: "bob-secret" },
    { jid: "carol@localhost", password: "carol-secret" },
  ],
};
const STAMP = Date.UTC(2002, 8, 10, 23, 8, 25);
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const PUSH_ID_REGEXP = /id="push[0-9a-z]+"/g;

function server(config: Record<string, unknown> = {}): Promise<TestServer> {
  return startTestServer({ ...OPEN, ...config }, { wallClock: () => STAMP });
}

/** Reads exactly `expected`, in order, with nothing before it (push ids as `{push}`). */
async function receives(client: RawClient, ...expected: string[]): Promise<void> {
  const want = expected.join("");
  const last = expected[expected.length - 1]!;
  const tail = last.slice(Math.max(0, last.lastIndexOf("<")));
  let got = "";
  while (got.replace(PUSH_ID_REGEXP, 'id="{push}"').length < want.length) {
    got += await client.readUntil(tail.includes("{push}") ? "</iq>" : tail);
  }
  assert.equal(got.replace(PUSH_ID_REGEXP, 'id="{push}"'), want);
}

/** Nothing more arrives before the answer to a ping. */
async function quiet(client: RawClient, id = "quiet"): Promise<void> {
  await client.send(`<iq type='get' id='${id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await receives(
    client,
    `<iq type="result" id="${id}" from="localhost" to="${await jidOf(client)}"/>`,
  );
}

const JIDS = new WeakMap<RawClient, string>();
function jidOf(client: RawClient): string {
  const jid = JIDS.get(client);
  if (jid === undefined) throw new Error("Not logged in");
  return jid;
}

/** Logs in, requests the roster (an interested resource), optionally sends initial presence. */
async function login(
  t: TestServer,
  user: string,
  resource: string,
  options: { roster?: string; presence?: boolean } = {},
): Promise<RawClient> {
  const client = await RawClient.connect(t.port);
  const jid = await client.loginPlain(user, `${user}-secret`, resource);
  JIDS.set(client, jid);
  if (options.roster !== undefined) {
    await client.send(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>`);
    await receives(
      client,
      `<iq type="result" id="roster" from="${user}@localhost" to="${jid}">${options.roster}</iq>`,
    );
  }
  if (options.presence === true) {
    await client.send("<presence/>");
    await receives(client, `<presence from="${jid}" to="${jid}"/>`);
  }
  return client;
}

const EMPTY_ROSTER = `<query xmlns="jabber:iq:roster" ver="0"/>`;

Deno.test("RFC 6121 §2.6.1: roster versioning and pre-approval are stream features after authentication", async () => {
  await using t = await server();
  await using client = await RawClient.connect(t.port);
  const before = await client.open();
  assert.doesNotMatch(before, /rosterver|pre-approval/);
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  await client.readUntil(/<success[^>]*\/>/);
  const after = await client.open();
  assert.match(
    after,
    /<ver xmlns="urn:xmpp:features:rosterver"\/><sub xmlns="urn:xmpp:features:pre-approval"\/><\/stream:features>$/,
  );
});

Deno.test("RFC 6121 §2.2-2.5: roster get, set with pushes to interested resources, remove", async () => {
  await using t = await server();
  await using balcony = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER });
  await using chamber = await login(t, "alice", "chamber", { roster: EMPTY_ROSTER });
  // Never asked for the roster: not an interested resource (§2.1.6).
  await using garden = await login(t, "alice", "garden");

  // §2.3: add an item; the push goes to every interested resource, then the result.
  await balcony.send(
    "<iq type='set' id='rs1'><query xmlns='jabber:iq:roster'>" +
      "<item jid='nurse@localhost' name='Nurse'><group>Servants</group></item></query></iq>",
  );
  const pushed = (to: string) =>
    `<iq type="set" id="{push}" to="alice@localhost/${to}"><query xmlns="jabber:iq:roster" ver="1">` +
    `<item jid="nurse@localhost" name="Nurse" subscription="none"><group>Servants</group></item></query></iq>`;
  await receives(
    balcony,
    pushed("balcony"),
    `<iq type="result" id="rs1" from="alice@localhost" to="alice@localhost/balcony"/>`,
  );
  await receives(chamber, pushed("chamber"));
  await quiet(garden);

  // §2.4: update replaces name and groups.
  await chamber.send(
    "<iq type='set' id='ru1' to='alice@localhost'><query xmlns='jabber:iq:roster'>" +
      "<item jid='nurse@localhost' name='Angelica'/></query></iq>",
  );
  await receives(
    chamber,
    `<iq type="set" id="{push}" to="alice@localhost/chamber"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="nurse@localhost" name="Angelica" subscription="none"/></query></iq>`,
    `<iq type="result" id="ru1" from="alice@localhost" to="alice@localhost/chamber"/>`,
  );
  await receives(
    balcony,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="nurse@localhost" name="Angelica" subscription="none"/></query></iq>`,
  );

  // §2.2: the whole roster.
  await garden.send("<iq type='get' id='rg1'><query xmlns='jabber:iq:roster'/></iq>");
  await receives(
    garden,
    `<iq type="result" id="rg1" from="alice@localhost" to="alice@localhost/garden">` +
      `<query xmlns="jabber:iq:roster" ver="2"><item jid="nurse@localhost" name="Angelica" ` +
      `subscription="none"/></query></iq>`,
  );

  // §2.5: remove; pushed with subscription='remove' to the interested resources (garden is one now).
  await balcony.send(
    "<iq type='set' id='rr1'><query xmlns='jabber:iq:roster'>" +
      "<item jid='nurse@localhost' subscription='remove'/></query></iq>",
  );
  const removal = (to: string) =>
    `<iq type="set" id="{push}" to="alice@localhost/${to}"><query xmlns="jabber:iq:roster" ver="3">` +
    `<item jid="nurse@localhost" subscription="remove"/></query></iq>`;
  await receives(
    balcony,
    removal("balcony"),
    `<iq type="result" id="rr1" from="alice@localhost" to="alice@localhost/balcony"/>`,
  );
  await receives(chamber, removal("chamber"));
  await receives(garden, removal("garden"));
});

Deno.test("RFC 6121 §2.3.3, §2.5.3: roster sets the server refuses", async () => {
  await using t = await server();
  await using balcony = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER });
  const refused = async (id: string, query: string, type: string, condition: string) => {
    await balcony.send(
      `<iq type='set' id='${id}'><query xmlns='jabber:iq:roster'>${query}</query></iq>`,
    );
    await receives(
      balcony,
      `<iq type="error" id="${id}" from="alice@localhost" to="alice@localhost/balcony">` +
        `<error type="${type}"><${condition} xmlns="${NS_STANZAS}"/>` +
        (condition === "item-not-found" ? "" : `<text xmlns="${NS_STANZAS}">`),
    );
    await balcony.readUntil("</iq>");
  };
  await refused(
    "e1",
    "<item jid='nurse@localhost'/><item jid='romeo@localhost'/>",
    "modify",
    "bad-request",
  );
  await refused("e2", "<item jid='alice@localhost'/>", "cancel", "not-allowed");
  await refused(
    "e3",
    "<item jid='nurse@localhost'><group>A</group><group>A</group></item>",
    "modify",
    "bad-request",
  );
  await refused(
    "e4",
    "<item jid='nurse@localhost' subscription='remove'/>",
    "cancel",
    "item-not-found",
  );
  await quiet(balcony);
});

Deno.test("RFC 6121 §2.6.3: a roster get with the current ver is empty; an older one gets the changes as pushes", async () => {
  await using t = await server();
  await using balcony = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER });
  for (const [n, name] of [[1, "nurse"], [2, "tybalt"], [3, "mercutio"]] as const) {
    await balcony.send(
      `<iq type='set' id='s${n}'><query xmlns='jabber:iq:roster'><item jid='${name}@localhost'/></query></iq>`,
    );
    await balcony.readUntil(`id="s${n}" from="alice@localhost" to="alice@localhost/balcony"/>`);
  }
  await using phone = await login(t, "alice", "phone");
  await phone.send("<iq type='get' id='v3'><query xmlns='jabber:iq:roster' ver='3'/></iq>");
  await receives(
    phone,
    `<iq type="result" id="v3" from="alice@localhost" to="alice@localhost/phone"/>`,
  );
  await phone.send("<iq type='get' id='v1'><query xmlns='jabber:iq:roster' ver='1'/></iq>");
  await receives(
    phone,
    `<iq type="result" id="v1" from="alice@localhost" to="alice@localhost/phone"/>`,
    `<iq type="set" id="{push}" to="alice@localhost/phone"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="tybalt@localhost" subscription="none"/></query></iq>`,
    `<iq type="set" id="{push}" to="alice@localhost/phone"><query xmlns="jabber:iq:roster" ver="3">` +
      `<item jid="mercutio@localhost" subscription="none"/></query></iq>`,
  );
  // An unknown version gets the whole roster.
  await phone.send("<iq type='get' id='vx'><query xmlns='jabber:iq:roster' ver='abc'/></iq>");
  assert.match(
    await phone.readUntil("</iq>"),
    /^<iq type="result" id="vx" [^>]*><query xmlns="jabber:iq:roster" ver="3"><item jid="nurse@localhost" subscription="none"\/>/,
  );
});

Deno.test("RFC 6121 §3.1: subscription request and approval, with roster pushes and presence", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER, presence: true });
  await using bob = await login(t, "bob", "orchard", { roster: EMPTY_ROSTER, presence: true });

  // §3.1.1-3.1.3: bob asks; his roster gets ask='subscribe'; alice is asked.
  await bob.send("<presence id='xk3h1v69' to='alice@localhost' type='subscribe'/>");
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="1">` +
      `<item jid="alice@localhost" subscription="none" ask="subscribe"/></query></iq>`,
  );
  await receives(
    alice,
    `<presence from="bob@localhost" to="alice@localhost" type="subscribe" id="xk3h1v69"/>`,
  );

  // §3.1.4-3.1.6: alice approves; both rosters change; bob gets the answer, then her presence.
  await alice.send("<presence id='h4v1c4kj' to='bob@localhost' type='subscribed'/>");
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="1">` +
      `<item jid="bob@localhost" subscription="from"/></query></iq>`,
  );
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="alice@localhost" subscription="to"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="subscribed" id="h4v1c4kj"/>`,
    `<presence from="alice@localhost/balcony" to="bob@localhost"/>`,
  );

  // §4.4: alice's presence updates now reach bob; his do not reach her.
  await alice.send("<presence><show>away</show></presence>");
  await receives(
    alice,
    `<presence from="alice@localhost/balcony" to="alice@localhost/balcony"><show>away</show></presence>`,
  );
  await receives(
    bob,
    `<presence from="alice@localhost/balcony" to="bob@localhost"><show>away</show></presence>`,
  );
  await bob.send("<presence><show>chat</show></presence>");
  await receives(
    bob,
    `<presence from="bob@localhost/orchard" to="bob@localhost/orchard"><show>chat</show></presence>`,
  );
  await quiet(alice);

  // A second request in the other direction makes it mutual ("both").
  await alice.send("<presence id='a2' to='bob@localhost' type='subscribe'/>");
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="bob@localhost" subscription="from" ask="subscribe"/></query></iq>`,
  );
  await receives(
    bob,
    `<presence from="alice@localhost" to="bob@localhost" type="subscribe" id="a2"/>`,
  );
  await bob.send("<presence id='b2' to='alice@localhost' type='subscribed'/>");
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="3">` +
      `<item jid="alice@localhost" subscription="both"/></query></iq>`,
  );
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="3">` +
      `<item jid="bob@localhost" subscription="both"/></query></iq>`,
    `<presence from="bob@localhost" to="alice@localhost" type="subscribed" id="b2"/>`,
    `<presence from="bob@localhost/orchard" to="alice@localhost"><show>chat</show></presence>`,
  );
});

/** alice and bob, both online and subscribed to each other. */
async function mutual(t: TestServer): Promise<[RawClient, RawClient]> {
  const alice = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER, presence: true });
  const bob = await login(t, "bob", "orchard", { roster: EMPTY_ROSTER, presence: true });
  for (const [from, to] of [[bob, "alice"], [alice, "bob"]] as const) {
    const other = from === bob ? alice : bob;
    await from.send(`<presence to='${to}@localhost' type='subscribe'/>`);
    await from.readUntil("</iq>");
    await other.readUntil(`type="subscribe"/>`);
    await other.send(
      `<presence to='${from === bob ? "bob" : "alice"}@localhost' type='subscribed'/>`,
    );
    await other.readUntil("</iq>");
    await from.readUntil(`type="subscribed"/>`);
    await from.readUntil(`/>`); // the approver's presence
  }
  await quiet(alice);
  await quiet(bob);
  return [alice, bob];
}

Deno.test("RFC 6121 §3.2, §3.3: unsubscribe and cancelling a subscription, with unavailable presence", async () => {
  await using t = await server();
  const [alice, bob] = await mutual(t);
  await using _a = alice;
  await using _b = bob;

  // §3.3: alice unsubscribes from bob's presence; bob's server sends his unavailable presence.
  await alice.send("<presence id='us1' to='bob@localhost' type='unsubscribe'/>");
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="4">` +
      `<item jid="bob@localhost" subscription="from"/></query></iq>`,
    `<presence from="bob@localhost/orchard" to="alice@localhost" type="unavailable"/>`,
  );
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="4">` +
      `<item jid="alice@localhost" subscription="to"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="unsubscribe" id="us1"/>`,
  );

  // §3.2: alice cancels bob's subscription to her: first her unavailable presence, then the notice.
  await alice.send("<presence id='uc1' to='bob@localhost' type='unsubscribed'/>");
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="5">` +
      `<item jid="bob@localhost" subscription="none"/></query></iq>`,
  );
  await receives(
    bob,
    `<presence from="alice@localhost/balcony" to="bob@localhost" type="unavailable"/>`,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="5">` +
      `<item jid="alice@localhost" subscription="none"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="unsubscribed" id="uc1"/>`,
  );

  // Neither sees the other's presence any more.
  await alice.send("<presence><show>xa</show></presence>");
  await alice.readUntil("</presence>");
  await quiet(bob);
});

Deno.test("RFC 6121 §2.5.2: removing a contact sends unsubscribe and unsubscribed on the user's behalf", async () => {
  await using t = await server();
  const [alice, bob] = await mutual(t);
  await using _a = alice;
  await using _b = bob;
  await alice.send(
    "<iq type='set' id='rm1'><query xmlns='jabber:iq:roster'>" +
      "<item jid='bob@localhost' subscription='remove'/></query></iq>",
  );
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="4">` +
      `<item jid="bob@localhost" subscription="remove"/></query></iq>`,
    `<iq type="result" id="rm1" from="alice@localhost" to="alice@localhost/balcony"/>`,
    `<presence from="bob@localhost/orchard" to="alice@localhost" type="unavailable"/>`,
  );
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="4">` +
      `<item jid="alice@localhost" subscription="to"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="unsubscribe"/>`,
    `<presence from="alice@localhost/balcony" to="bob@localhost" type="unavailable"/>`,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="5">` +
      `<item jid="alice@localhost" subscription="none"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="unsubscribed"/>`,
  );
});

Deno.test("RFC 6121 §3.4: a pre-approved request is answered for the user", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER, presence: true });
  await using bob = await login(t, "bob", "orchard", { roster: EMPTY_ROSTER, presence: true });
  await alice.send("<presence id='pa1' to='bob@localhost' type='subscribed'/>");
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="1">` +
      `<item jid="bob@localhost" subscription="none" approved="true"/></query></iq>`,
  );
  await quiet(bob); // nothing is routed for a pre-approval
  await bob.send("<presence id='s1' to='alice@localhost' type='subscribe'/>");
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="1">` +
      `<item jid="alice@localhost" subscription="none" ask="subscribe"/></query></iq>`,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="alice@localhost" subscription="to"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="subscribed"/>`,
    `<presence from="alice@localhost/balcony" to="bob@localhost"/>`,
  );
  await receives(
    alice,
    `<iq type="set" id="{push}" to="alice@localhost/balcony"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="bob@localhost" subscription="from"/></query></iq>`,
  );
  await quiet(alice); // the request itself never reached alice
});

Deno.test("RFC 6121 §3.1.3: a request to an offline user waits for her next available presence", async () => {
  await using t = await server();
  await using bob = await login(t, "bob", "orchard", { roster: EMPTY_ROSTER, presence: true });
  await bob.send(
    "<presence id='w1' to='alice@localhost' type='subscribe'><status>Hi!</status></presence>",
  );
  await bob.readUntil("</iq>");
  await quiet(bob);
  await using alice = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER });
  await alice.send("<presence/>");
  await receives(
    alice,
    `<presence from="alice@localhost/balcony" to="alice@localhost/balcony"/>`,
    `<presence from="bob@localhost" to="alice@localhost" type="subscribe" id="w1"><status>Hi!</status></presence>`,
  );
  // Still pending until answered: a second resource gets it too.
  await using phone = await login(t, "alice", "phone");
  await phone.send("<presence/>");
  await receives(
    phone,
    `<presence from="alice@localhost/phone" to="alice@localhost/phone"/>`,
    `<presence from="alice@localhost/balcony" to="alice@localhost/phone"/>`,
    `<presence from="bob@localhost" to="alice@localhost" type="subscribe" id="w1"><status>Hi!</status></presence>`,
  );
  await phone.send("<presence to='bob@localhost' type='unsubscribed'/>");
  await receives(
    bob,
    `<iq type="set" id="{push}" to="bob@localhost/orchard"><query xmlns="jabber:iq:roster" ver="2">` +
      `<item jid="alice@localhost" subscription="none"/></query></iq>`,
    `<presence from="alice@localhost" to="bob@localhost" type="unsubscribed"/>`,
  );
  // Answered: the next resource to come online is not asked again.
  await using garden = await login(t, "alice", "garden", { presence: true });
  await receives(
    garden,
    `<presence from="alice@localhost/balcony" to="alice@localhost/garden"/>`,
    `<presence from="alice@localhost/phone" to="alice@localhost/garden"/>`,
  );
  await quiet(garden);
});

Deno.test("RFC 6121 §4.2-4.5: probes answer initial presence; unavailable goes out when a stream ends", async () => {
  await using t = await server();
  const [alice, bob] = await mutual(t);
  await using _b = bob;
  alice.close();
  await receives(
    bob,
    `<presence from="alice@localhost/balcony" to="bob@localhost" type="unavailable"/>`,
  );

  // §4.2.2-4.3: back again: bob's presence comes to her as the answer to the probe.
  await using again = await login(t, "alice", "balcony");
  await again.send("<presence><priority>1</priority></presence>");
  await receives(
    again,
    `<presence from="alice@localhost/balcony" to="alice@localhost/balcony"><priority>1</priority></presence>`,
    `<presence from="bob@localhost/orchard" to="alice@localhost/balcony"/>`,
  );
  await receives(
    bob,
    `<presence from="alice@localhost/balcony" to="bob@localhost"><priority>1</priority></presence>`,
  );

  // §4.5: explicit unavailable presence reaches the subscriber.
  await bob.send("<presence type='unavailable'><status>gone</status></presence>");
  await receives(
    again,
    `<presence from="bob@localhost/orchard" to="alice@localhost" type="unavailable"><status>gone</status></presence>`,
  );
  // A contact with no available resource answers a probe with unavailable presence.
  await using phone = await login(t, "alice", "phone");
  await phone.send("<presence/>");
  await receives(
    phone,
    `<presence from="alice@localhost/phone" to="alice@localhost/phone"/>`,
    `<presence from="alice@localhost/balcony" to="alice@localhost/phone"><priority>1</priority></presence>`,
    `<presence from="bob@localhost" to="alice@localhost/phone" type="unavailable"/>`,
  );
});

Deno.test("RFC 6121 §4.6: directed presence, and unavailable to its recipients at the end", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "balcony", { presence: true });
  await using bob = await login(t, "bob", "orchard", { presence: true });
  await using carol = await login(t, "carol", "desk", { presence: true });
  await alice.send("<presence to='bob@localhost/orchard'><show>dnd</show></presence>");
  await receives(
    bob,
    `<presence to="bob@localhost/orchard" from="alice@localhost/balcony"><show>dnd</show></presence>`,
  );
  await alice.send("<presence to='carol@localhost'/>");
  await receives(carol, `<presence to="carol@localhost" from="alice@localhost/balcony"/>`);
  // Directed unavailable presence takes carol off the list.
  await alice.send("<presence to='carol@localhost' type='unavailable'/>");
  await receives(
    carol,
    `<presence to="carol@localhost" type="unavailable" from="alice@localhost/balcony"/>`,
  );
  // No federation: presence to another domain goes nowhere, and no error comes back.
  await alice.send("<presence to='romeo@montague.example'/>");
  await quiet(alice);
  alice.close();
  await receives(
    bob,
    `<presence from="alice@localhost/balcony" to="bob@localhost/orchard" type="unavailable"/>`,
  );
  await quiet(carol);
});

Deno.test("RFC 6121 §3.1.2: a subscription request to another domain gets remote-server-not-found", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "balcony", { roster: EMPTY_ROSTER, presence: true });
  await alice.send("<presence id='r1' to='romeo@montague.example' type='subscribe'/>");
  await receives(
    alice,
    `<presence type="error" id="r1" from="romeo@montague.example" to="alice@localhost/balcony">` +
      `<error type="cancel"><remote-server-not-found xmlns="${NS_STANZAS}"/></error></presence>`,
  );
  await quiet(alice); // the roster did not change: no push
});

Deno.test("RFC 6121 §8.5.2: bare-JID messages go to the highest non-negative priority; none available means offline storage", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "balcony", { presence: true });
  await using low = await login(t, "bob", "low");
  await using high = await login(t, "bob", "high");
  await using hidden = await login(t, "bob", "hidden");
  await low.send("<presence><priority>1</priority></presence>");
  await low.readUntil("</presence>");
  await high.send("<presence><priority>5</priority></presence>");
  await high.readUntil("</presence>");
  await hidden.send("<presence><priority>-1</priority></presence>");
  await hidden.readUntil(
    `from="bob@localhost/high" to="bob@localhost/hidden"><priority>5</priority></presence>`,
  );
  // Each resource also learnt of the ones that came after it (RFC 6121 §4.2.2).
  await low.readUntil(
    `from="bob@localhost/hidden" to="bob@localhost/low"><priority>-1</priority></presence>`,
  );
  await high.readUntil(
    `from="bob@localhost/hidden" to="bob@localhost/high"><priority>-1</priority></presence>`,
  );
  await quiet(low);
  await quiet(high);
  await quiet(hidden);

  await alice.send(
    "<message to='bob@localhost' type='chat' id='c1'><body>to the best</body></message>",
  );
  await receives(
    high,
    `<message to="bob@localhost" type="chat" id="c1" from="alice@localhost/balcony"><body>to the best</body></message>`,
  );
  // A full JID reaches its resource whatever its priority.
  await alice.send("<message to='bob@localhost/hidden' id='c2'><body>psst</body></message>");
  await receives(
    hidden,
    `<message to="bob@localhost/hidden" id="c2" from="alice@localhost/balcony"><body>psst</body></message>`,
  );
  // A headline goes to every non-negative resource.
  await alice.send(
    "<message to='bob@localhost' type='headline' id='h1'><body>news</body></message>",
  );
  await low.readUntil(`<body>news</body></message>`);
  await high.readUntil(`<body>news</body></message>`);
  await quiet(low);
  await quiet(hidden);

  // Only a negative-priority resource left: stored, then delivered when it turns non-negative.
  low.close();
  await hidden.readUntil(
    `<presence from="bob@localhost/low" to="bob@localhost/hidden" type="unavailable"/>`,
  );
  high.close();
  await hidden.readUntil(
    `<presence from="bob@localhost/high" to="bob@localhost/hidden" type="unavailable"/>`,
  );
  await alice.send("<message to='bob@localhost' type='chat' id='c3'><body>later</body></message>");
  await quiet(alice);
  await quiet(hidden);
  await hidden.send("<presence><priority>0</priority></presence>");
  await receives(
    hidden,
    `<presence from="bob@localhost/hidden" to="bob@localhost/hidden"><priority>0</priority></presence>`,
    `<message to="bob@localhost" type="chat" id="c3" from="alice@localhost/balcony"><body>later</body>` +
      `<delay xmlns="urn:xmpp:delay" from="localhost" stamp="2002-09-10T23:08:25.000Z"/></message>`,
  );

  // An account that does not exist: service-unavailable.
  await alice.send("<message to='nobody@localhost' type='chat' id='n1'><body>?</body></message>");
  await receives(
    alice,
    `<message type="error" id="n1" from="nobody@localhost" to="alice@localhost/balcony">` +
      `<error type="cancel"><service-unavailable xmlns="${NS_STANZAS}"/></error></message>`,
  );
});

Deno.test("XEP-0160: offline messages are stored with a delay stamp, up to the quota, and delivered once", async () => {
  await using t = await server({ limits: { offline_messages_per_account: 2 } });
  await using alice = await login(t, "alice", "balcony");
  for (const id of ["o1", "o2"]) {
    await alice.send(
      `<message to='bob@localhost' type='chat' id='${id}'><body>${id}</body></message>`,
    );
  }
  // Chat states alone are not kept, and not bounced either.
  await alice.send(
    "<message to='bob@localhost' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
  );
  await quiet(alice);
  // The quota is full: service-unavailable, as for an account that does not exist.
  await alice.send("<message to='bob@localhost' type='normal' id='o3'><body>o3</body></message>");
  await receives(
    alice,
    `<message type="error" id="o3" from="bob@localhost" to="alice@localhost/balcony">` +
      `<error type="cancel"><service-unavailable xmlns="${NS_STANZAS}"/></error></message>`,
  );
  // Not delivered to negative priority.
  await using bob = await login(t, "bob", "orchard");
  await bob.send("<presence><priority>-5</priority></presence>");
  await receives(
    bob,
    `<presence from="bob@localhost/orchard" to="bob@localhost/orchard"><priority>-5</priority></presence>`,
  );
  await quiet(bob);
  await using desk = await login(t, "bob", "desk");
  await desk.send("<presence/>");
  const delay = `<delay xmlns="urn:xmpp:delay" from="localhost" stamp="2002-09-10T23:08:25.000Z"/>`;
  await receives(
    desk,
    `<presence from="bob@localhost/desk" to="bob@localhost/desk"/>`,
    `<presence from="bob@localhost/orchard" to="bob@localhost/desk"><priority>-5</priority></presence>`,
    `<message to="bob@localhost" type="chat" id="o1" from="alice@localhost/balcony"><body>o1</body>${delay}</message>`,
    `<message to="bob@localhost" type="chat" id="o2" from="alice@localhost/balcony"><body>o2</body>${delay}</message>`,
  );
  // Delivered once: the next resource gets only its own account's presence.
  await using phone = await login(t, "bob", "phone", { presence: true });
  await receives(
    phone,
    `<presence from="bob@localhost/orchard" to="bob@localhost/phone"><priority>-5</priority></presence>`,
    `<presence from="bob@localhost/desk" to="bob@localhost/phone"/>`,
  );
  await quiet(phone);
});
