// The account services over real sockets, with the exact XML each client
// sends and receives: disco (XEP-0030), in-band registration (XEP-0077),
// blocking (XEP-0191), carbons (XEP-0280), vCards (XEP-0054), PEP
// (XEP-0163/0172/0084) and last activity (XEP-0012). Accounts alice, bob
// and carol on localhost; alice and bob see each other's presence.

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import type { ServerConfigInput } from "../../src/config/schema.ts";

const OPEN = {
  tls: { required: false },
  auth: { allow_plain_without_tls: true },
  accounts: [
    { jid: "alice@localhost", password: "alice-secret" },
    { jid: "bob@localhost", password: "bob-secret" },
    { jid: "carol@localhost", password: "carol-secret" },
  ],
};
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const INFO = "http://jabber.org/protocol/disco#info";
const PUBSUB = "http://jabber.org/protocol/pubsub";
const NICK = "http://jabber.org/protocol/nick";

/** A server where alice and bob are mutual contacts (subscription both). */
async function server(config: ServerConfigInput = {}): Promise<TestServer> {
  const imStore = new MemoryImStore({ maxVcardBytes: 512 });
  const item = {
    groups: [],
    ask: false,
    approved: false,
    version: 1,
    subscription: "both",
  } as const;
  await imStore.putRosterItem("alice", { ...item, jid: "bob@localhost" });
  await imStore.putRosterItem("bob", { ...item, jid: "alice@localhost" });
  return await startTestServer({ ...OPEN, ...config }, { imStore });
}

async function login(t: TestServer, user: string, resource: string): Promise<RawClient> {
  const client = await RawClient.connect(t.port);
  await client.loginPlain(user, `${user}-secret`, resource);
  return client;
}

/** Sends one stanza and reads through the element that closes the reply with this id. */
async function ask(client: RawClient, xml: string): Promise<string> {
  const id = /id='([^']+)'/.exec(xml)![1]!;
  await client.send(xml);
  const reply = await client.readUntil(new RegExp(`<iq [^>]*id="${id}"[^>]*(/>|>[\\s\\S]*?</iq>)`));
  return reply.slice(reply.lastIndexOf(`<iq `, reply.indexOf(`id="${id}"`)));
}

/** Reads the next stanza matching `pattern` (skipping presence noise before it). */
async function next(client: RawClient, pattern: RegExp): Promise<string> {
  const text = await client.readUntil(pattern);
  return pattern.exec(text)![0];
}

Deno.test("disco#info on the server lists the account services; disco#items answers the item list", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  const info = await ask(
    alice,
    `<iq type='get' id='d1' to='localhost'><query xmlns='${INFO}'/></iq>`,
  );
  for (
    const feature of ["urn:xmpp:blocking", "urn:xmpp:carbons:2", "vcard-temp", "jabber:iq:last"]
  ) {
    assert.ok(info.includes(`<feature var="${feature}"/>`), `${feature} in ${info}`);
  }
  // Registration is off by default and not announced.
  assert.ok(!info.includes("jabber:iq:register"));
  assert.equal(
    await ask(
      alice,
      `<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
    ),
    `<iq type="result" id="d2" from="localhost" to="alice@localhost/a">` +
      `<query xmlns="http://jabber.org/protocol/disco#items"/></iq>`,
  );
});

Deno.test("disco#info on an account: identity account/registered and PEP, to itself and contacts only", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  await using bob = await login(t, "bob", "b");
  await using carol = await login(t, "carol", "c");
  const own = await ask(alice, `<iq type='get' id='d1'><query xmlns='${INFO}'/></iq>`);
  assert.match(
    own,
    new RegExp(
      `^<iq type="result" id="d1" from="alice@localhost" to="alice@localhost/a"><query xmlns="${INFO}">` +
        `<identity category="account" type="registered"/><identity category="pubsub" type="pep"/>`,
    ),
  );
  assert.ok(own.includes(`<feature var="${PUBSUB}#publish"/>`));
  const fromBob = await ask(
    bob,
    `<iq type='get' id='d2' to='alice@localhost'><query xmlns='${INFO}'/></iq>`,
  );
  assert.equal(
    fromBob.replace(/to="bob@localhost\/b"/, 'to="alice@localhost/a"').replace(
      'id="d2"',
      'id="d1"',
    ),
    own,
  );
  assert.equal(
    await ask(carol, `<iq type='get' id='d3' to='alice@localhost'><query xmlns='${INFO}'/></iq>`),
    `<iq type="error" id="d3" from="alice@localhost" to="carol@localhost/c"><error type="cancel">` +
      `<service-unavailable xmlns="${STANZAS}"/></error></iq>`,
  );
  assert.equal(
    await ask(carol, `<iq type='get' id='d4' to='nobody@localhost'><query xmlns='${INFO}'/></iq>`),
    `<iq type="error" id="d4" from="nobody@localhost" to="carol@localhost/c"><error type="cancel">` +
      `<service-unavailable xmlns="${STANZAS}"/></error></iq>`,
  );
});

Deno.test("XEP-0077: no register feature and no pre-auth IQ while registration is off", async () => {
  await using t = await server();
  await using client = await RawClient.connect(t.port);
  const features = await client.open();
  assert.ok(!features.includes("iq-register"));
  await client.send(`<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>`);
  assert.match(
    await client.readToEnd(),
    /<not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/,
  );
});

Deno.test("XEP-0077: register before authentication, then log in with the new account", async () => {
  await using t = await server({ registration: { enabled: true } });
  await using client = await RawClient.connect(t.port);
  const features = await client.open();
  assert.ok(
    features.includes(`<register xmlns="http://jabber.org/features/iq-register"/>`),
    features,
  );
  assert.equal(
    await ask(client, `<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>`),
    `<iq type="result" id="reg1"><query xmlns="jabber:iq:register"><instructions>` +
      `Choose a username and password for use with this service.</instructions>` +
      `<username/><password/></query></iq>`,
  );
  assert.equal(
    await ask(
      client,
      `<iq type='set' id='reg2'><query xmlns='jabber:iq:register'>` +
        `<username>bill</username><password>Calliope</password></query></iq>`,
    ),
    `<iq type="result" id="reg2"/>`,
  );
  assert.equal(
    await ask(
      client,
      `<iq type='set' id='reg3'><query xmlns='jabber:iq:register'>` +
        `<username>alice</username><password>x</password></query></iq>`,
    ),
    `<iq type="error" id="reg3"><error type="cancel"><not-allowed xmlns="${STANZAS}"/>` +
      `<text xmlns="${STANZAS}">An account was already registered on this stream; authenticate with it</text>` +
      `</error></iq>`,
  );
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0bill\0Calliope")
    }</auth>`,
  );
  await client.readUntil(`<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
  assert.equal(await client.bind("r"), "bill@localhost/r");
  const disco = await ask(
    client,
    `<iq type='get' id='d1' to='localhost'><query xmlns='${INFO}'/></iq>`,
  );
  assert.ok(disco.includes(`<feature var="jabber:iq:register"/>`));
});

Deno.test("XEP-0077: a taken username is a conflict; registrations per IP are limited", async () => {
  await using t = await server({
    registration: { enabled: true },
    limits: { registrations_per_ip: { max: 2, window: "1h" } },
  });
  const register = async (username: string) => {
    await using client = await RawClient.connect(t.port);
    await client.open();
    return await ask(
      client,
      `<iq type='set' id='r'><query xmlns='jabber:iq:register'>` +
        `<username>${username}</username><password>pw</password></query></iq>`,
    );
  };
  assert.equal(
    await register("alice"),
    `<iq type="error" id="r"><error type="cancel"><conflict xmlns="${STANZAS}"/>` +
      `<text xmlns="${STANZAS}">The username is taken</text></error></iq>`,
  );
  assert.equal(await register("dave"), `<iq type="result" id="r"/>`);
  // The wait (exact in the unit tests) is what is left of the one-hour window, in whole seconds.
  const refused = await register("erin");
  assert.match(
    refused,
    new RegExp(
      `^<iq type="error" id="r"><error type="wait"><resource-constraint xmlns="${STANZAS}"/>` +
        `<text xmlns="${STANZAS}">Too many registrations from this address; retry in \\d+ s</text>` +
        `</error></iq>$`,
    ),
  );
  const seconds = Number(/retry in (\d+) s/.exec(refused)![1]);
  assert.ok(seconds >= 1 && seconds <= 3601, `retry in ${seconds} s`);
});

Deno.test("XEP-0077: change the password, then cancel the account; its streams end", async () => {
  await using t = await server({ registration: { enabled: true } });
  await using alice = await login(t, "alice", "a");
  await using other = await login(t, "alice", "b");
  assert.equal(
    await ask(
      alice,
      `<iq type='set' id='c1' to='localhost'><query xmlns='jabber:iq:register'>` +
        `<username>alice</username><password>new-secret</password></query></iq>`,
    ),
    `<iq type="result" id="c1" from="localhost" to="alice@localhost/a"/>`,
  );
  await using check = await RawClient.connect(t.port);
  assert.equal(await check.loginPlain("alice", "new-secret", "c"), "alice@localhost/c");
  assert.equal(
    await ask(
      alice,
      `<iq type='set' id='u1'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
    ),
    `<iq type="result" id="u1" from="alice@localhost" to="alice@localhost/a"/>`,
  );
  for (const client of [alice, other, check]) {
    assert.match(
      await client.readToEnd(),
      /<stream:error><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><text [^>]*>Account removed<\/text><\/stream:error><\/stream:stream>$/,
    );
  }
  await using again = await RawClient.connect(t.port);
  await again.open();
  await again.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0new-secret")
    }</auth>`,
  );
  assert.match(await again.readUntil("</failure>"), /<not-authorized\/>/);
});

Deno.test("XEP-0191: block, push, and what each side sees afterwards", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  await using phone = await login(t, "alice", "phone");
  await using bob = await login(t, "bob", "b");
  assert.equal(
    await ask(phone, `<iq type='get' id='bl1'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
    `<iq type="result" id="bl1" from="alice@localhost" to="alice@localhost/phone">` +
      `<blocklist xmlns="urn:xmpp:blocking"/></iq>`,
  );
  assert.equal(
    await ask(
      alice,
      `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>`,
    ),
    `<iq type="result" id="b1" from="alice@localhost" to="alice@localhost/a"/>`,
  );
  assert.match(
    await next(phone, /<iq type="set" id="[^"]+" to="alice@localhost\/phone">.*?<\/iq>/),
    /^<iq type="set" id="[^"]+" to="alice@localhost\/phone"><block xmlns="urn:xmpp:blocking"><item jid="bob@localhost"\/><\/block><\/iq>$/,
  );
  await bob.send(`<message to='alice@localhost' type='chat' id='m1'><body>Hi</body></message>`);
  assert.equal(
    await next(bob, /<message type="error" id="m1".*?<\/message>/),
    `<message type="error" id="m1" from="alice@localhost" to="bob@localhost/b"><error type="cancel">` +
      `<service-unavailable xmlns="${STANZAS}"/></error></message>`,
  );
  await alice.send(`<message to='bob@localhost' type='chat' id='m2'><body>Hi</body></message>`);
  assert.equal(
    await next(alice, /<message type="error" id="m2".*?<\/message>/),
    `<message type="error" id="m2" from="bob@localhost" to="alice@localhost/a"><error type="cancel">` +
      `<not-acceptable xmlns="${STANZAS}"/><blocked xmlns="urn:xmpp:blocking:errors"/></error></message>`,
  );
  assert.equal(
    await ask(alice, `<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>`),
    `<iq type="result" id="u1" from="alice@localhost" to="alice@localhost/a"/>`,
  );
  await bob.send(
    `<message to='alice@localhost/a' type='chat' id='m3'><body>Again</body></message>`,
  );
  assert.match(await next(alice, /<message [^>]*id="m3".*?<\/message>/), /from="bob@localhost\/b"/);
});

Deno.test("XEP-0280: a sent message is copied to the sender's other carbons-enabled resources", async () => {
  await using t = await server();
  await using garden = await login(t, "alice", "garden");
  await using home = await login(t, "alice", "home");
  await using bob = await login(t, "bob", "b");
  assert.equal(
    await ask(home, `<iq type='set' id='e1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`),
    `<iq type="result" id="e1" from="alice@localhost" to="alice@localhost/home"/>`,
  );
  await garden.send(
    `<message to='bob@localhost/b' type='chat' id='m1'><body>Neither, fair saint</body></message>`,
  );
  assert.equal(
    await next(
      home,
      /<message from="alice@localhost".*?<\/message><\/forwarded><\/sent><\/message>/,
    ),
    `<message from="alice@localhost" to="alice@localhost/home" type="chat"><sent xmlns="urn:xmpp:carbons:2">` +
      `<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" to="bob@localhost/b" ` +
      `type="chat" id="m1" from="alice@localhost/garden"><body>Neither, fair saint</body></message>` +
      `</forwarded></sent></message>`,
  );
  assert.match(await next(bob, /<message [^>]*id="m1".*?<\/message>/), /Neither, fair saint/);
  // A private message is not copied, and <private/> does not reach the recipient.
  await garden.send(
    `<message to='bob@localhost/b' type='chat' id='m2'><body>psst</body><private xmlns='urn:xmpp:carbons:2'/></message>`,
  );
  assert.equal(
    await next(bob, /<message [^>]*id="m2".*?<\/message>/),
    `<message to="bob@localhost/b" type="chat" id="m2" from="alice@localhost/garden"><body>psst</body></message>`,
  );
  assert.match(
    await ask(home, `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`),
    /^<iq type="result" id="p1"/,
  );
});

Deno.test("XEP-0054: set a vCard, read a contact's, and the size limit", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  await using bob = await login(t, "bob", "b");
  assert.equal(
    await ask(
      alice,
      `<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN><NICKNAME>Al</NICKNAME></vCard></iq>`,
    ),
    `<iq type="result" id="v1" from="alice@localhost" to="alice@localhost/a"/>`,
  );
  assert.equal(
    await ask(bob, `<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`),
    `<iq type="result" id="v2" from="alice@localhost" to="bob@localhost/b">` +
      `<vCard xmlns="vcard-temp"><FN>Alice</FN><NICKNAME>Al</NICKNAME></vCard></iq>`,
  );
  assert.equal(
    await ask(
      alice,
      `<iq type='set' id='v3'><vCard xmlns='vcard-temp'><DESC>${
        "x".repeat(600)
      }</DESC></vCard></iq>`,
    ),
    `<iq type="error" id="v3" from="alice@localhost" to="alice@localhost/a"><error type="modify">` +
      `<not-acceptable xmlns="${STANZAS}"/><text xmlns="${STANZAS}">A vCard may take at most 512 bytes</text>` +
      `</error></iq>`,
  );
  assert.equal(
    await ask(bob, `<iq type='get' id='v4' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>`),
    `<iq type="error" id="v4" from="nobody@localhost" to="bob@localhost/b"><error type="cancel">` +
      `<service-unavailable xmlns="${STANZAS}"/></error></iq>`,
  );
});

Deno.test("XEP-0163/0172: a nickname published by alice reaches bob, who may read it; carol may not", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  await using bob = await login(t, "bob", "b");
  await using carol = await login(t, "carol", "c");
  await bob.send(`<presence/>`);
  await alice.send(`<presence/>`);
  await next(bob, /<presence from="alice@localhost\/a"[^>]*\/>/);
  const published = await ask(
    alice,
    `<iq type='set' id='pub1'><pubsub xmlns='${PUBSUB}'><publish node='${NICK}'>` +
      `<item id='current'><nick xmlns='${NICK}'>Ali</nick></item></publish></pubsub></iq>`,
  );
  assert.equal(
    published,
    `<iq type="result" id="pub1" from="alice@localhost" to="alice@localhost/a"><pubsub xmlns="${PUBSUB}">` +
      `<publish node="${NICK}"><item id="current"/></publish></pubsub></iq>`,
  );
  assert.match(
    await next(
      bob,
      /<message from="alice@localhost" to="bob@localhost\/b" type="headline".*?<\/message>/,
    ),
    new RegExp(
      `^<message from="alice@localhost" to="bob@localhost/b" type="headline" id="[^"]+">` +
        `<event xmlns="${PUBSUB}#event"><items node="${NICK}"><item id="current">` +
        `<nick xmlns="${NICK}">Ali</nick></item></items></event></message>$`,
    ),
  );
  assert.equal(
    await ask(
      bob,
      `<iq type='get' id='g1' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><items node='${NICK}'/></pubsub></iq>`,
    ),
    `<iq type="result" id="g1" from="alice@localhost" to="bob@localhost/b"><pubsub xmlns="${PUBSUB}">` +
      `<items node="${NICK}"><item id="current"><nick xmlns="${NICK}">Ali</nick></item></items>` +
      `</pubsub></iq>`,
  );
  assert.equal(
    await ask(
      carol,
      `<iq type='get' id='g2' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><items node='${NICK}'/></pubsub></iq>`,
    ),
    `<iq type="error" id="g2" from="alice@localhost" to="carol@localhost/c"><error type="auth">` +
      `<not-authorized xmlns="${STANZAS}"/><presence-subscription-required ` +
      `xmlns="http://jabber.org/protocol/pubsub#errors"/></error></iq>`,
  );
});

Deno.test("XEP-0163: a new session gets its contacts' last nickname when it becomes available", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  await ask(
    alice,
    `<iq type='set' id='pub1'><pubsub xmlns='${PUBSUB}'><publish node='${NICK}'>` +
      `<item id='current'><nick xmlns='${NICK}'>Ali</nick></item></publish></pubsub></iq>`,
  );
  await using bob = await login(t, "bob", "b");
  await bob.send(`<presence/>`);
  assert.match(
    await next(
      bob,
      /<message from="alice@localhost" to="bob@localhost\/b" type="headline".*?<\/message>/,
    ),
    /<nick xmlns="http:\/\/jabber.org\/protocol\/nick">Ali<\/nick>/,
  );
});

Deno.test("XEP-0012: the server's uptime, and a contact's time since logout", async () => {
  await using t = await server();
  await using bob = await login(t, "bob", "b");
  assert.match(
    await ask(bob, `<iq type='get' id='l1' to='localhost'><query xmlns='jabber:iq:last'/></iq>`),
    /^<iq type="result" id="l1" from="localhost" to="bob@localhost\/b"><query xmlns="jabber:iq:last" seconds="\d+"\/><\/iq>$/,
  );
  const alice = await login(t, "alice", "a");
  await alice.send(`<presence/>`);
  await alice.send(`<presence type='unavailable'><status>Gone fishing</status></presence>`);
  alice.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(
    await ask(
      bob,
      `<iq type='get' id='l2' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`,
    ),
    `<iq type="result" id="l2" from="alice@localhost" to="bob@localhost/b">` +
      `<query xmlns="jabber:iq:last" seconds="0">Gone fishing</query></iq>`,
  );
  await using carol = await login(t, "carol", "c");
  assert.equal(
    await ask(
      carol,
      `<iq type='get' id='l3' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>`,
    ),
    `<iq type="error" id="l3" from="alice@localhost" to="carol@localhost/c"><error type="auth">` +
      `<forbidden xmlns="${STANZAS}"/></error></iq>`,
  );
});

Deno.test("blocklists, vCards and PEP items with their access model survive a restart (SQLite)", async () => {
  const dir = await Deno.makeTempDir();
  const config = { ...OPEN, storage: { type: "sqlite" as const, path: `${dir}/xmpp.db` } };
  try {
    {
      await using t = await startTestServer(config);
      await using alice = await login(t, "alice", "a");
      await ask(
        alice,
        `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></block></iq>`,
      );
      await ask(
        alice,
        `<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`,
      );
      await ask(
        alice,
        `<iq type='set' id='p1'><pubsub xmlns='${PUBSUB}'><publish node='urn:example:private'>` +
          `<item id='1'><secret xmlns='urn:example'/></item></publish><publish-options>` +
          `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>` +
          `<value>${PUBSUB}#publish-options</value></field><field var='pubsub#access_model'>` +
          `<value>whitelist</value></field></x></publish-options></pubsub></iq>`,
      );
    }
    await using t = await startTestServer(config);
    await using alice = await login(t, "alice", "a");
    assert.equal(
      await ask(alice, `<iq type='get' id='b2'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
      `<iq type="result" id="b2" from="alice@localhost" to="alice@localhost/a">` +
        `<blocklist xmlns="urn:xmpp:blocking"><item jid="carol@localhost"/></blocklist></iq>`,
    );
    await using bob = await login(t, "bob", "b");
    assert.match(
      await ask(
        bob,
        `<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`,
      ),
      /<FN>Alice<\/FN>/,
    );
    assert.match(
      await ask(
        bob,
        `<iq type='get' id='g1' to='alice@localhost'><pubsub xmlns='${PUBSUB}'><items node='urn:example:private'/></pubsub></iq>`,
      ),
      /<not-allowed [^>]*\/><closed-node /,
    );
    await using carol = await login(t, "carol", "c");
    await carol.send(`<message to='alice@localhost' type='chat' id='m1'><body>Hi</body></message>`);
    assert.match(
      await next(carol, /<message type="error" id="m1".*?<\/message>/),
      /<service-unavailable /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("message carbons: a message delivered to one resource is copied to the account's other carbon-enabled resources", async () => {
  await using t = await startTestServer({
    tls: { required: false },
    auth: { allow_plain_without_tls: true },
  });
  await using phone = await RawClient.connect(t.port);
  await phone.loginPlain("bob", "bob-secret", "phone");
  await using desk = await RawClient.connect(t.port);
  await desk.loginPlain("bob", "bob-secret", "desk");
  await desk.send("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
  assert.match(await desk.readUntil("/>"), /type="result" id="c1"/);
  await using alice = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  await alice.send(
    "<message to='bob@localhost/phone' type='chat' id='m1'><body>hi phone</body></message>",
  );
  assert.match(await phone.readUntil("</message>"), /hi phone/);
  const copy = await desk.readUntil(/<\/message>\s*<\/forwarded>\s*<\/received>\s*<\/message>/);
  assert.match(copy, /<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">/);
  assert.match(copy, /hi phone/);
});

Deno.test("blocking: a blocked contact gets no presence broadcast and no probe answer", async () => {
  await using t = await server();
  await using alice = await login(t, "alice", "a");
  assert.match(
    await ask(
      alice,
      "<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>",
    ),
    /type="result"/,
  );
  await using bob = await login(t, "bob", "b");
  await bob.send("<presence/>");
  // Bob's initial presence probes alice: no answer may come, not even unavailable.
  await alice.send("<presence><status>here</status></presence>");
  await bob.send("<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  const seen = await bob.readUntil(/id="after"[^>]*\/>/);
  assert.doesNotMatch(seen, /from="alice@localhost/);
  // Unblocked, the next broadcast reaches bob again.
  await ask(
    alice,
    "<iq type='set' id='unb'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>",
  );
  await alice.send("<presence><status>back</status></presence>");
  assert.match(
    await bob.readUntil(/<status>back<\/status><\/presence>/),
    /from="alice@localhost\/a"/,
  );
});
