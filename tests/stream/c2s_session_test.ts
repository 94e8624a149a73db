// The client stream over real sockets: exact replies for features, STARTTLS,
// SASL, binding, routing and every stream error the core server sends.

import assert from "node:assert/strict";
import { createAccountRecord } from "../../src/auth/credentials.ts";
import type { AccountRecord } from "../../src/storage/account_store.ts";
import { MemoryAccountStore } from "../../src/storage/memory_account_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { createMemoryTransport } from "../../src/transport/memory.ts";
import { RawClient, STREAM_OPEN } from "../_util/raw_client.ts";
import { startTestServer } from "../_util/test_server.ts";

const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";
const PLAIN_OK = { tls: { required: false }, auth: { allow_plain_without_tls: true } };

function streamError(condition: string, extra = ""): string {
  return `<stream:error><${condition} xmlns="${NS_STREAM_ERRORS}"/>${extra}</stream:error></stream:stream>`;
}

Deno.test("C2sSession offers only STARTTLS while TLS is required and not on", async () => {
  await using t = await startTestServer();
  await using client = await RawClient.connect(t.port);
  const reply = await client.open();
  assert.match(
    reply,
    /^<\?xml version="1.0"\?><stream:stream xmlns="jabber:client" xmlns:stream="http:\/\/etherx.jabber.org\/streams" from="localhost" id="[0-9a-f-]{36}" version="1.0">/,
  );
  assert.match(
    reply,
    /<stream:features><starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required\/><\/starttls><limits xmlns="urn:xmpp:stream-limits:0"><max-bytes>8192<\/max-bytes><idle-seconds>600<\/idle-seconds><\/limits><\/stream:features>$/,
  );
});

Deno.test("C2sSession upgrades with STARTTLS, then logs in with SCRAM-SHA-256 and binds", async () => {
  await using t = await startTestServer();
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  assert.equal(await client.readUntil("/>"), `<proceed xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>`);
  await client.startTls(t.server.certificate!);
  // loginScram opens the encrypted stream itself; check its features on the way.
  const jid = await client.loginScram("alice", "alice-secret", "sha256", "balcony");
  assert.equal(jid, "alice@localhost/balcony");
  assert.ok(t.server.sessions().next().value?.transport.encrypted);
});

Deno.test("C2sSession offers SASL, not STARTTLS, once the stream is encrypted", async () => {
  await using t = await startTestServer();
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await client.readUntil("/>");
  await client.startTls(t.server.certificate!);
  const features = await client.open();
  assert.match(
    features,
    /<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-256<\/mechanism><mechanism>SCRAM-SHA-1<\/mechanism><mechanism>PLAIN<\/mechanism><\/mechanisms>/,
  );
  assert.doesNotMatch(features, /starttls/);
});

Deno.test("C2sSession answers a wrong stream 'to' with host-unknown after its own header", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.send(STREAM_OPEN("elsewhere.example"));
  const reply = await client.readToEnd();
  assert.match(reply, /^<\?xml version="1.0"\?><stream:stream [^>]*from="localhost"[^>]*>/);
  assert.ok(reply.endsWith(streamError("host-unknown")), reply);
});

Deno.test("C2sSession refuses a stream without version 1.0 with unsupported-version", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.send(
    "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
  );
  assert.ok((await client.readToEnd()).endsWith(streamError("unsupported-version")));
});

Deno.test("C2sSession closes with not-authorized when a stanza arrives before authentication", async () => {
  await using t = await startTestServer(PLAIN_OK);
  for (
    const stanza of [
      "<message to='bob@localhost'><body>hi</body></message>",
      "<presence/>",
      "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
    ]
  ) {
    await using client = await RawClient.connect(t.port);
    await client.open();
    await client.send(stanza);
    assert.equal(await client.readToEnd(), streamError("not-authorized"));
  }
});

Deno.test("C2sSession closes with not-authorized when a stanza arrives after SASL but before bind", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  await client.readUntil(/<success[^>]*\/>|<\/success>/);
  await client.open();
  await client.send("<message to='bob@localhost'><body>hi</body></message>");
  assert.equal(await client.readToEnd(), streamError("not-authorized"));
});

Deno.test("C2sSession answers a wrong password with not-authorized and closes after the retry budget", async () => {
  await using t = await startTestServer({
    ...PLAIN_OK,
    auth: { allow_plain_without_tls: true, max_failures_per_stream: 2 },
  });
  await using client = await RawClient.connect(t.port);
  await client.open();
  const bad = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
    btoa("\0alice\0wrong")
  }</auth>`;
  await client.send(bad);
  assert.equal(
    await client.readUntil("</failure>"),
    `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>`,
  );
  await client.send(bad);
  const rest = await client.readToEnd();
  assert.equal(
    rest,
    `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>` +
      `<stream:error><policy-violation xmlns="${NS_STREAM_ERRORS}"/><text xmlns="${NS_STREAM_ERRORS}">Too many failed authentication attempts</text></stream:error></stream:stream>`,
  );
});

Deno.test("C2sSession does not offer PLAIN on an unencrypted stream unless allowed", async () => {
  await using t = await startTestServer({ tls: { required: false } });
  await using client = await RawClient.connect(t.port);
  const features = await client.open();
  assert.match(features, /<mechanism>SCRAM-SHA-1<\/mechanism><\/mechanisms>/);
  assert.doesNotMatch(features, /PLAIN/);
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  assert.equal(
    await client.readUntil("</failure>"),
    `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><invalid-mechanism/></failure>`,
  );
});

Deno.test("C2sSession logs in with SCRAM-SHA-1 on a plaintext stream when TLS is optional", async () => {
  await using t = await startTestServer({ tls: { required: false } });
  await using client = await RawClient.connect(t.port);
  assert.equal(await client.loginScram("bob", "bob-secret", "sha1", "desk"), "bob@localhost/desk");
});

Deno.test("C2sSession replaces a session on the same resource; the old one gets conflict", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using first = await RawClient.connect(t.port);
  await first.loginPlain("alice", "alice-secret", "phone");
  await using second = await RawClient.connect(t.port);
  assert.equal(await second.loginPlain("alice", "alice-secret", "phone"), "alice@localhost/phone");
  assert.equal(
    await first.readToEnd(),
    `<stream:error><conflict xmlns="${NS_STREAM_ERRORS}"/><text xmlns="${NS_STREAM_ERRORS}">Replaced by new connection</text></stream:error></stream:stream>`,
  );
});

Deno.test("C2sSession generates a resource when the client asks for none", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  assert.match(await client.loginPlain("alice", "alice-secret"), /^alice@localhost\/[a-z0-9]{12}$/);
});

Deno.test("C2sSession answers the legacy session request with an empty result", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "r");
  await client.send(
    "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
  );
  assert.equal(await client.readUntil("/>"), `<iq type="result" id="s1"/>`);
});

Deno.test("C2sSession routes chat messages and directed presence between two accounts", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using alice = await RawClient.connect(t.port);
  await using bob = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  await bob.loginPlain("bob", "bob-secret", "b");
  await bob.send("<presence/>");
  // RFC 6121 §4.2.2: initial presence comes back to the resource that sent it.
  assert.equal(
    await bob.readUntil("/>"),
    `<presence from="bob@localhost/b" to="bob@localhost/b"/>`,
  );
  await alice.send(
    "<message to='bob@localhost' type='chat' id='m1'><body>hi &amp; bye\n  indented</body></message>",
  );
  assert.equal(
    await bob.readUntil("</message>"),
    `<message to="bob@localhost" type="chat" id="m1" from="alice@localhost/a"><body>hi &amp; bye\n  indented</body></message>`,
  );
  await alice.send("<presence to='bob@localhost/b'><show>away</show></presence>");
  assert.equal(
    await bob.readUntil("</presence>"),
    `<presence to="bob@localhost/b" from="alice@localhost/a"><show>away</show></presence>`,
  );
});

Deno.test("C2sSession bounces a message to an account with no available resource with service-unavailable", async () => {
  // Without offline storage (RFC 6121 §8.5.2.2.1 lets the server answer instead of storing).
  await using t = await startTestServer({
    ...PLAIN_OK,
    limits: { offline_messages_per_account: 0 },
  });
  await using alice = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  await alice.send(
    "<message to='bob@localhost' type='chat' id='m2'><body>anyone?</body></message>",
  );
  assert.equal(
    await alice.readUntil("</message>"),
    `<message type="error" id="m2" from="bob@localhost" to="alice@localhost/a"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
  );
});

Deno.test("C2sSession answers server IQs: ping, disco#info, and service-unavailable for the unknown", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.equal(
    await client.readUntil("/>"),
    `<iq type="result" id="p1" from="localhost" to="alice@localhost/a"/>`,
  );
  await client.send(
    "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
  );
  const disco = await client.readUntil("</iq>");
  assert.match(disco, /<identity category="server" type="im" name="xmppd"\/>/);
  assert.match(disco, /<feature var="urn:xmpp:ping"\/>/);
  assert.doesNotMatch(disco, /jabber:iq:version/);
  await client.send(
    "<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:unknown'/></iq>",
  );
  assert.equal(
    await client.readUntil("</iq>"),
    `<iq type="error" id="u1" from="localhost" to="alice@localhost/a"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  );
});

Deno.test("C2sSession answers XEP-0092 version only when configured", async () => {
  await using t = await startTestServer({
    ...PLAIN_OK,
    software_version: { name: "xmppd", version: "9.9" },
  });
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send(
    "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>",
  );
  assert.equal(
    await client.readUntil("</iq>"),
    `<iq type="result" id="v1" from="localhost" to="alice@localhost/a"><query xmlns="jabber:iq:version"><name>xmppd</name><version>9.9</version></query></iq>`,
  );
});

Deno.test("C2sSession closes with invalid-from when a client spoofs 'from'", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<message from='bob@localhost/b' to='bob@localhost'><body>x</body></message>");
  assert.equal(await client.readToEnd(), streamError("invalid-from"));
});

Deno.test("C2sSession sends restricted-xml for a comment and not-well-formed for broken XML", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using commented = await RawClient.connect(t.port);
  await commented.open();
  await commented.send("<!-- hello -->");
  assert.equal(await commented.readToEnd(), streamError("restricted-xml"));
  await using broken = await RawClient.connect(t.port);
  await broken.open();
  await broken.send("<a></b>");
  assert.equal(await broken.readToEnd(), streamError("not-well-formed"));
});

Deno.test("C2sSession answers an oversized stanza with the XEP-0205 stanza error and keeps the stream", async () => {
  await using t = await startTestServer({
    ...PLAIN_OK,
    limits: { stanza_size: 1024, stanza_size_stream_error: 4096 },
  });
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "evilos");
  await client.send(
    `<message to='bob@localhost' id='big'><body>${"x".repeat(2000)}</body></message>`,
  );
  assert.equal(
    await client.readUntil("</message>"),
    `<message type="error" id="big" from="localhost" to="alice@localhost/evilos"><error type="modify">` +
      `<not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><stanza-too-big xmlns="urn:xmpp:errors"/></error></message>`,
  );
  await client.send("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await client.readUntil("/>"), /id="p2"/);
  await client.send(`<message to='bob@localhost'><body>${"y".repeat(5000)}</body></message>`);
  assert.equal(
    await client.readToEnd(),
    streamError("policy-violation", `<stanza-too-big xmlns="urn:xmpp:errors"/>`),
  );
});

Deno.test("C2sSession closes both ways when the client closes its stream", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send(" \n ");
  await client.send("</stream:stream>");
  assert.equal(await client.readToEnd(), "</stream:stream>");
});

Deno.test("C2sSession closes a stream that does not finish negotiation in time", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer({ ...PLAIN_OK, timeouts: { negotiation: "10s" } }, {
    timers: clock,
  });
  await using client = await RawClient.connect(t.port);
  await client.open();
  clock.advance(9_999);
  assert.equal(t.server.connectionCount, 1);
  clock.advance(1);
  assert.equal(t.server.connectionCount, 0);
  assert.equal(
    await client.readToEnd(),
    `<stream:error><connection-timeout xmlns="${NS_STREAM_ERRORS}"/><text xmlns="${NS_STREAM_ERRORS}">Negotiation took too long</text></stream:error></stream:stream>`,
  );
});

const FIXTURES = new URL("../fixtures/", import.meta.url);
const TLS_FILES = {
  cert: new URL("localhost.pem", FIXTURES).pathname,
  key: new URL("localhost.key", FIXTURES).pathname,
};

Deno.test("C2sSession serves direct TLS (XEP-0368): no STARTTLS offered, SASL at once", async () => {
  await using t = await startTestServer({
    tls: TLS_FILES,
    listen: [
      { type: "c2s", host: "127.0.0.1", port: 0 },
      { type: "c2s_direct_tls", host: "127.0.0.1", port: 0 },
    ],
  });
  const ca = await Deno.readTextFile(new URL("ca.pem", FIXTURES));
  await using probe = await RawClient.connectTls(t.tlsPort!, ca);
  const features = await probe.open();
  assert.doesNotMatch(features, /starttls/);
  assert.match(features, /<mechanism>PLAIN<\/mechanism>/);
  await using client = await RawClient.connectTls(t.tlsPort!, ca);
  assert.equal(
    await client.loginScram("alice", "alice-secret", "sha256", "tls"),
    "alice@localhost/tls",
  );
});

Deno.test("C2sSession closes a client that does not read once its send queue passes the cap", async () => {
  await using t = await startTestServer({
    ...PLAIN_OK,
    limits: { send_buffer: "64KiB", bandwidth: { rate: "unlimited" } },
  });
  await using sleeper = await RawClient.connect(t.port);
  await sleeper.loginPlain("bob", "bob-secret", "sleepy");
  await sleeper.send("<presence/>");
  await using sender = await RawClient.connect(t.port);
  await sender.loginPlain("alice", "alice-secret", "a");
  const closed = new Promise<string | undefined>((resolve) => {
    t.server.events.on("closed", (e) => {
      if (e.session.resourceKey === "sleepy") resolve(e.error?.condition);
    });
  });
  // Bounded: at most 64 MiB toward a client that never reads; the kernel buffers a few MiB.
  const body = "z".repeat(64 * 1024);
  let sent = 0;
  const flood = (async () => {
    while (sent < 1024) {
      await sender.send(`<message to='bob@localhost/sleepy'><body>${body}</body></message>`);
      sent++;
    }
  })();
  assert.equal(await closed, "policy-violation");
  assert.ok(sent < 1024, `closed after ${sent} messages`);
  sender.close();
  await flood.catch(() => {});
});

Deno.test("C2sSession answers temporary-auth-failure when the account store fails, and the stream goes on", async () => {
  const failing = {
    get: () => Promise.reject(new Error("disk on fire")),
    put: () => Promise.resolve(),
    delete: () => Promise.resolve(false),
    list: () => Promise.resolve([]),
    close: () => {},
  };
  await using t = await startTestServer({ ...PLAIN_OK, accounts: [] }, { accountStore: failing });
  await using client = await RawClient.connect(t.port);
  await client.open();
  const auth = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
    btoa("\0alice\0x")
  }</auth>`;
  await client.send(auth);
  assert.equal(
    await client.readUntil("</failure>"),
    `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><temporary-auth-failure/></failure>`,
  );
  await client.send(auth);
  assert.match(await client.readUntil("</failure>"), /temporary-auth-failure/);
  assert.ok(
    t.logs.some((line) => line.includes('"event":"sasl-error"') && line.includes("disk on fire")),
  );
});

Deno.test("C2sSession keeps reading during a SASL step until the client sends, then pauses until the step ends", async () => {
  const store = new MemoryAccountStore();
  await store.put(await createAccountRecord("alice", "alice-secret", { iterations: 16 }));
  const release = Promise.withResolvers<void>();
  let lookups = 0;
  const slow = {
    get: async (username: string) => {
      lookups++;
      await release.promise;
      return await store.get(username);
    },
    put: (record: AccountRecord) => store.put(record),
    delete: (username: string) => store.delete(username),
    list: () => store.list(),
    close: () => store.close(),
  };
  await using t = await startTestServer({ ...PLAIN_OK, accounts: [] }, { accountStore: slow });
  const { transport, peer } = createMemoryTransport({ type: "tcp" });
  t.server.accept(transport);
  peer.send(STREAM_OPEN("localhost"));
  while (!peer.read().includes("</stream:features>")) await peer.nextWrite();
  peer.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  while (lookups === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(peer.paused, false, "no pause while the client sends nothing");
  peer.send(" ");
  await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(peer.paused, true, "paused at the first chunk sent during the step");
  release.resolve();
  assert.equal(
    await peer.nextWrite(),
    `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`,
  );
  assert.equal(peer.paused, false);
  peer.close();
});
