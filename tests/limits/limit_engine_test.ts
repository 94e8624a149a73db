// Every XEP-0205 limit over real sockets with tight limits and a manual clock,
// asserting the exact replies of shared/xep-0205-wire.md.

import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { LimitEngine, type LimitEvent } from "../../src/limits/limit_engine.ts";
import { Logger } from "../../src/core/log.ts";
import { el } from "../../src/xml/element.ts";
import { RawClient, STREAM_OPEN } from "../_util/raw_client.ts";
import { startTestServer } from "../_util/test_server.ts";
import { resolveConfig, type ServerConfigInput } from "../../src/config/schema.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";
const OPEN: ServerConfigInput = {
  tls: { required: false },
  auth: { allow_plain_without_tls: true },
};

function limits(extra: NonNullable<ServerConfigInput["limits"]>): ServerConfigInput {
  return { ...OPEN, limits: extra };
}

function events(
  t: { server: { events: { on(name: "limit", h: (e: LimitEvent) => void): Disposable } } },
) {
  const seen: LimitEvent[] = [];
  t.server.events.on("limit", (event) => {
    seen.push(event);
  });
  return seen;
}

/** Connects from a chosen loopback address (127.0.0.0/8 is all loopback on Linux). */
function connectFrom(
  port: number,
  localAddress: string,
): Promise<{ data: Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, localAddress }, () => {
      let text = "";
      const data = new Promise<string>((done) => {
        socket.on("data", (chunk) => (text += String(chunk)));
        socket.on("close", () => done(text));
        socket.on("error", () => {});
      });
      resolve({ data, close: () => socket.destroy() });
    });
    socket.once("error", reject);
  });
}

async function refusedAtAccept(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(STREAM_OPEN()));
  } catch {
    // the server may already have closed it
  }
  const buffer = new Uint8Array(1024);
  let received = 0;
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += n;
      if (received > 0) break;
    }
  } catch {
    // reset by peer counts as refused
  } finally {
    conn.close();
  }
  return received === 0;
}

Deno.test("connections_per_ip closes the connection over the limit at accept, before any stream header", async () => {
  await using t = await startTestServer(limits({ connections_per_ip: 2 }));
  const seen = events(t);
  await using a = await RawClient.connect(t.port);
  await using b = await RawClient.connect(t.port);
  await a.open();
  await b.open();
  assert.equal(await refusedAtAccept(t.port), true);
  a.close();
  await a.readToEnd().catch(() => "");
  await waitFor(() => t.server.connectionCount === 1);
  assert.equal(await refusedAtAccept(t.port), false);
  assert.equal(seen[0]?.limit, "connections_per_ip");
  assert.equal(seen[0]?.ip, "127.0.0.1");
  assert.equal(seen[0]?.max, 2);
});

Deno.test("connection_attempts_per_ip refuses within the window and admits after it", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({ connection_attempts_per_ip: { max: 3, window: "1m" } }),
    { timers: clock },
  );
  for (let i = 0; i < 3; i++) {
    assert.equal(await refusedAtAccept(t.port), false, `attempt ${i + 1}`);
  }
  assert.equal(await refusedAtAccept(t.port), true);
  clock.advance(120_000);
  assert.equal(await refusedAtAccept(t.port), false);
});

const FLOOD_ERROR =
  `<stream:error><policy-violation xmlns="${NS_STREAM_ERRORS}"/><text xmlns="${NS_STREAM_ERRORS}">` +
  `Connection attempts from your address exceeded the limit</text></stream:error></stream:stream>`;

/** SASL PLAIN on a stream already opened; resolves at <success/>. */
async function authenticate(client: RawClient, user: string, password: string): Promise<void> {
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa(`\0${user}\0${password}`)
    }</auth>`,
  );
  await client.readUntil(/<success[^>]*\/>|<\/success>/);
}

Deno.test("connection_attempts_per_ip closes the flooding address's unauthenticated streams, not its users or other addresses", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({ connections_per_ip: 20, connection_attempts_per_ip: { max: 5, window: "1m" } }),
    { timers: clock },
  );
  const seen = events(t);
  // Five attempts from 127.0.0.1: a bound user, a stream past SASL but not
  // bound, one that opened, one in the middle of SCRAM, one that sent nothing.
  await using user = await RawClient.connectFrom(t.port, "127.0.0.1");
  await user.loginPlain("alice", "alice-secret", "desk");
  await using saslOnly = await RawClient.connectFrom(t.port, "127.0.0.1");
  await saslOnly.open();
  await authenticate(saslOnly, "bob", "bob-secret");
  await using opened = await RawClient.connectFrom(t.port, "127.0.0.1");
  await opened.open();
  await using midSasl = await RawClient.connectFrom(t.port, "127.0.0.1");
  await midSasl.open();
  await midSasl.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>${
      btoa("n,,n=bob,r=abcdefghijklmnop")
    }</auth>`,
  );
  await midSasl.readUntil("</challenge>");
  await using silent = await RawClient.connectFrom(t.port, "127.0.0.1");
  // Another address's pending stream is not the flood's.
  await using neighbour = await RawClient.connectFrom(t.port, "127.0.0.2");
  await neighbour.open();
  await waitFor(() => t.server.connectionCount === 6);

  // The sixth attempt is refused at accept and takes the address's
  // unauthenticated streams with it.
  assert.equal(await refusedAtAccept(t.port), true);
  assert.equal(await opened.readToEnd(), FLOOD_ERROR);
  assert.equal(await midSasl.readToEnd(), FLOOD_ERROR);
  // Its header was never answered: cut like a refused connection, not a byte.
  assert.equal(await silent.readToEnd(), "");
  await waitFor(() => t.server.connectionCount === 3);

  await user.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await user.readUntil("/>"), /type="result" id="p"/);
  assert.equal(await saslOnly.bind("laptop"), "bob@localhost/laptop");
  await authenticate(neighbour, "alice", "alice-secret");
  assert.equal(await neighbour.bind("phone"), "alice@localhost/phone");

  const attempts = seen.filter((event) => event.limit === "connection_attempts_per_ip");
  assert.deepEqual(attempts, [{
    limit: "connection_attempts_per_ip",
    mode: "enforce",
    ip: "127.0.0.1",
    classes: [],
    figure: 5,
    max: 5,
    retryAfterMs: 60_001,
    closedStreams: 3,
  }]);
  assert.ok(
    t.logs.some((line) =>
      line.includes('"limit":"connection_attempts_per_ip"') && line.includes('"closed_streams":3')
    ),
  );
  assert.match(
    t.server.metrics(),
    /^xmppd_limit_closed_streams_total\{limit="connection_attempts_per_ip"\} 3$/m,
  );
  assert.equal(t.server.stats.streamErrors["policy-violation"], 2);
  // The next refusal finds nothing left to close.
  assert.equal(await refusedAtAccept(t.port), true);
  assert.equal(seen.at(-1)?.closedStreams, undefined);
});

Deno.test("an address flooding at its open cap trips connection_attempts_per_ip, closing its pending streams (bench S5 in miniature)", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({ connections_per_ip: 3, connection_attempts_per_ip: { max: 6, window: "1m" } }),
    { timers: clock },
  );
  const seen = events(t);
  // Attempt 1: a user of the address, authenticated and bound.
  await using user = await RawClient.connect(t.port);
  await user.loginPlain("alice", "alice-secret", "desk");
  // The flood: each attempt sends a stream header, then nothing. Attempts 2
  // and 3 fill the open cap and wait in negotiation.
  await using first = await RawClient.connect(t.port);
  await first.open();
  await using second = await RawClient.connect(t.port);
  await second.open();
  // Attempts 4 to 6 are refused at the open cap, and counted.
  for (let i = 0; i < 3; i++) assert.equal(await refusedAtAccept(t.port), true);
  const atCap = {
    limit: "connections_per_ip",
    mode: "enforce",
    ip: "127.0.0.1",
    classes: [],
    figure: 3,
    max: 3,
  };
  assert.deepEqual(seen, [atCap, atCap, atCap]);
  // Attempt 7 is over both limits: refused for attempts, and the flood's
  // pending streams are closed with it; the user's stream stays.
  assert.equal(await refusedAtAccept(t.port), true);
  assert.equal(await first.readToEnd(), FLOOD_ERROR);
  assert.equal(await second.readToEnd(), FLOOD_ERROR);
  assert.deepEqual(seen.at(-1), {
    limit: "connection_attempts_per_ip",
    mode: "enforce",
    ip: "127.0.0.1",
    classes: [],
    figure: 6,
    max: 6,
    retryAfterMs: 60_001,
    closedStreams: 2,
  });
  await waitFor(() => t.server.connectionCount === 1);
  await user.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await user.readUntil("/>"), /type="result" id="p"/);
  assert.match(
    t.server.metrics(),
    /^xmppd_limit_closed_streams_total\{limit="connection_attempts_per_ip"\} 2$/m,
  );
  // The cost: with its cap free again, the address stays locked out until
  // the window has passed.
  assert.equal(await refusedAtAccept(t.port), true);
  assert.equal(seen.at(-1)?.limit, "connection_attempts_per_ip");
  clock.advance(120_000);
  assert.equal(await refusedAtAccept(t.port), false);
});

Deno.test("connection_attempts_per_ip in report mode closes nothing", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({
      connections_per_ip: 20,
      connection_attempts_per_ip: { max: 2, window: "1m", mode: "report" },
    }),
    { timers: clock },
  );
  const seen = events(t);
  await using first = await RawClient.connect(t.port);
  await first.open();
  await using second = await RawClient.connect(t.port);
  await second.open();
  // Over the limit, reported, admitted; the pending streams carry on.
  await using third = await RawClient.connect(t.port);
  await third.open();
  assert.deepEqual(seen.map((event) => [event.limit, event.mode, event.closedStreams]), [
    ["connection_attempts_per_ip", "report", undefined],
  ]);
  await authenticate(first, "alice", "alice-secret");
  await authenticate(second, "bob", "bob-secret");
  assert.equal(t.server.connectionCount, 3);
  assert.equal(t.server.stats.streamErrors["policy-violation"], undefined);
});

Deno.test("connection_attempts_per_ip with close_unauthenticated: false refuses and closes nothing else", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({
      connections_per_ip: 20,
      connection_attempts_per_ip: { max: 2, window: "1m", close_unauthenticated: false },
    }),
    { timers: clock },
  );
  const seen = events(t);
  await using first = await RawClient.connect(t.port);
  await first.open();
  await using second = await RawClient.connect(t.port);
  assert.equal(await refusedAtAccept(t.port), true);
  assert.deepEqual(seen.map((event) => [event.limit, event.mode, event.closedStreams]), [
    ["connection_attempts_per_ip", "enforce", undefined],
  ]);
  // Both stay: the opened one and the one whose header came after the refusal.
  await second.open();
  await authenticate(first, "alice", "alice-secret");
  await authenticate(second, "bob", "bob-secret");
  assert.equal(t.server.connectionCount, 2);
});

Deno.test("connections from another address are not limited by one address's flood", async () => {
  await using t = await startTestServer(limits({ connections_per_ip: 1 }));
  await using a = await RawClient.connect(t.port);
  await a.open();
  assert.equal(await refusedAtAccept(t.port), true);
  const other = await connectFrom(t.port, "127.0.0.2");
  other.close();
  await other.data;
});

Deno.test("unauthenticated_connections caps streams that have not authenticated", async () => {
  await using t = await startTestServer(limits({ unauthenticated_connections: 2 }));
  await using a = await RawClient.connect(t.port);
  await using b = await RawClient.connect(t.port);
  await a.open();
  await b.open();
  assert.equal(await refusedAtAccept(t.port), true);
  await b.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0bob\0bob-secret")
    }</auth>`,
  );
  await b.readUntil(/<success[^>]*\/>|<\/success>/);
  assert.equal(await refusedAtAccept(t.port), false);
});

Deno.test("pre_auth_stanza_size closes an unauthenticated stream whose stanza passes it", async () => {
  await using t = await startTestServer(limits({ pre_auth_stanza_size: "1KiB" }));
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${"A".repeat(2000)}</auth>`,
  );
  assert.equal(
    await client.readToEnd(),
    `<stream:error><policy-violation xmlns="${NS_STREAM_ERRORS}"/><stanza-too-big xmlns="urn:xmpp:errors"/></stream:error></stream:stream>`,
  );
});

Deno.test("auth_failures_per_ip tarpits failures, then refuses SASL; success clears; accounts are never locked", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    {
      ...limits({ auth_failures_per_ip: { max: 3, window: "5m" } }),
      auth: { allow_plain_without_tls: true, max_failures_per_stream: 5 },
    },
    { timers: clock },
  );
  await using client = await RawClient.connect(t.port);
  await client.open();
  const bad = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
    btoa("\0alice\0wrong")
  }</auth>`;
  const failure = `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>`;
  await client.send(bad);
  assert.equal(await client.readUntil("</failure>"), failure); // the first failure is free
  await client.send(bad);
  await assert.rejects(client.readUntil("</failure>", 200)); // held by the tarpit
  clock.advance(1_000);
  assert.equal(await client.readUntil("</failure>"), failure);
  await client.send(bad);
  await assert.rejects(client.readUntil("</failure>", 200)); // held twice as long
  clock.advance(1_999);
  await assert.rejects(client.readUntil("</failure>", 100));
  clock.advance(1);
  assert.equal(await client.readUntil("</failure>"), failure);
  await client.send(bad);
  assert.equal(
    await client.readUntil("</failure>"),
    `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><temporary-auth-failure/></failure>`,
  );
  // The same account still logs in from another address: the address is limited, not the account.
  await using elsewhere = await RawClient.connectFrom(t.port, "127.0.0.3");
  assert.equal(await elsewhere.loginPlain("alice", "alice-secret", "home"), "alice@localhost/home");
  // After the window the address may try again, and a success clears its count.
  clock.advance(5 * 60_000 + 1);
  await using later = await RawClient.connect(t.port);
  assert.equal(await later.loginPlain("alice", "alice-secret", "later"), "alice@localhost/later");
});

Deno.test("resources_per_account answers the extra bind with resource-constraint and resource-limit-exceeded", async () => {
  await using t = await startTestServer(limits({ resources_per_account: 2 }));
  await using one = await RawClient.connect(t.port);
  await using two = await RawClient.connect(t.port);
  await one.loginPlain("alice", "alice-secret", "one");
  await two.loginPlain("alice", "alice-secret", "two");
  await using three = await RawClient.connect(t.port);
  await three.open();
  await three.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  await three.readUntil(/<success[^>]*\/>|<\/success>/);
  await three.open();
  await three.send(
    "<iq type='set' id='bind_2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>someresource</resource></bind></iq>",
  );
  assert.equal(
    await three.readUntil("</iq>"),
    `<iq type="error" id="bind_2"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>someresource</resource></bind>` +
      `<error type="cancel"><resource-constraint xmlns="${NS_STANZAS}"/><resource-limit-exceeded xmlns="urn:xmpp:errors"/></error></iq>`,
  );
  // Replacing an existing resource is not a new one.
  await using again = await RawClient.connect(t.port);
  assert.equal(await again.loginPlain("alice", "alice-secret", "one"), "alice@localhost/one");
});

Deno.test("distinct_recipients refuses a new recipient over the limit and lets known ones through", async () => {
  const clock = new ManualClock();
  // No offline storage, so a message to an offline account is answered (RFC 6121 §8.5.2.2.1).
  await using t = await startTestServer(
    limits({ distinct_recipients: { max: 2, window: "1m" }, offline_messages_per_account: 0 }),
    { timers: clock },
  );
  await using iago = await RawClient.connect(t.port);
  await iago.loginPlain("alice", "alice-secret", "evilos");
  await iago.send("<message to='romeo@localhost' id='1'><body>1</body></message>");
  await iago.readUntil("</message>"); // service-unavailable: nobody there, still a recipient
  await iago.send("<message to='bob@localhost' id='2'><body>2</body></message>");
  await iago.readUntil("</message>");
  await iago.send("<message to='juliet@localhost' id='3'><body>3</body></message>");
  assert.equal(
    await iago.readUntil("</message>"),
    `<message type="error" id="3" from="juliet@localhost" to="alice@localhost/evilos"><error type="wait">` +
      `<unexpected-request xmlns="${NS_STANZAS}"/><too-many-stanzas xmlns="urn:xmpp:errors"/></error></message>`,
  );
  await iago.send("<message to='bob@localhost' id='4'><body>4</body></message>");
  assert.match(await iago.readUntil("</message>"), /<service-unavailable/);
  clock.advance(60_001);
  await iago.send("<message to='juliet@localhost' id='5'><body>5</body></message>");
  assert.match(await iago.readUntil("</message>"), /<service-unavailable/);
});

Deno.test("presence_broadcasts stops broadcasting over the limit and answers resource-constraint", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(limits({ presence_broadcasts: { max: 2, window: "1m" } }), {
    timers: clock,
  });
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<presence/>");
  await client.send("<presence><show>away</show></presence>");
  await client.send("<presence id='p3'><show>dnd</show></presence>");
  // The two allowed broadcasts also come back to the sender (RFC 6121 §4.2.2, §4.4.2).
  const received = await client.readUntil(/<presence type="error"[\s\S]*?<\/presence>/);
  assert.equal(
    received.slice(received.indexOf(`<presence type="error"`)),
    `<presence type="error" id="p3" from="localhost" to="alice@localhost/a"><error type="wait">` +
      `<resource-constraint xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}">Too many presence updates; retry in 61 s</text></error></presence>`,
  );
});

Deno.test("stanza_rules deny a payload with a stanza error and a text, never silence", async () => {
  await using t = await startTestServer(limits({
    stanza_rules: [
      {
        action: "deny",
        kind: "iq",
        payload: "http://jabber.org/protocol/ibb",
        text: "In-band bytestreams are disabled here",
      },
      { action: "deny", to: "remote", error: "policy-violation" },
    ],
  }));
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send(
    "<iq type='set' id='ibb1' to='bob@localhost/b'><open xmlns='http://jabber.org/protocol/ibb' sid='s' block-size='4096'/></iq>",
  );
  assert.equal(
    await client.readUntil("</iq>"),
    `<iq type="error" id="ibb1" from="bob@localhost/b" to="alice@localhost/a"><error type="cancel">` +
      `<not-allowed xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}">In-band bytestreams are disabled here</text></error></iq>`,
  );
  await client.send("<message to='someone@elsewhere.example' id='r1'><body>x</body></message>");
  assert.match(
    await client.readUntil("</message>"),
    /<error type="modify"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/><text/,
  );
});

Deno.test("stanza_rules rate-limit roster requests with resource-constraint", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({
      stanza_rules: [{
        action: "limit",
        kind: "iq",
        type: "get",
        payload: "jabber:iq:roster",
        rate: { max: 1, window: "1m" },
      }],
    }),
    { timers: clock },
  );
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
  assert.doesNotMatch(await client.readUntil("</iq>"), /resource-constraint/);
  await client.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>");
  assert.match(
    await client.readUntil("</iq>"),
    /<error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/,
  );
});

Deno.test("classes give admins unlimited stanza size and announce it per XEP-0478", async () => {
  await using t = await startTestServer({
    ...limits({
      stanza_size: "1KiB",
      stanza_size_stream_error: "4KiB",
      offline_messages_per_account: 0,
      classes: {
        admin: {
          match: { jids: ["bob@localhost"] },
          limits: { stanza_size: "unlimited", stanza_size_stream_error: "unlimited" },
        },
      },
    }),
  });
  await using bob = await RawClient.connect(t.port);
  await bob.open();
  await bob.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0bob\0bob-secret")
    }</auth>`,
  );
  await bob.readUntil(/<success[^>]*\/>|<\/success>/);
  const features = await bob.open();
  assert.match(
    features,
    /<limits xmlns="urn:xmpp:stream-limits:0"><idle-seconds>600<\/idle-seconds><\/limits>/,
  );
  await bob.send(
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>desk</resource></bind></iq>",
  );
  await bob.readUntil("</iq>");
  await bob.send(`<message to='alice@localhost'><body>${"b".repeat(8000)}</body></message>`);
  assert.match(await bob.readUntil("</message>"), /service-unavailable/);

  await using alice = await RawClient.connect(t.port);
  await alice.open();
  await alice.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  await alice.readUntil(/<success[^>]*\/>|<\/success>/);
  assert.match(await alice.open(), /<max-bytes>1024<\/max-bytes>/);
});

Deno.test("classes by connection type and auth mechanism make limits stricter", async () => {
  await using t = await startTestServer(limits({
    resources_per_account: 5,
    classes: { plain_users: { match: { auth: ["PLAIN"] }, limits: { resources_per_account: 1 } } },
  }));
  await using one = await RawClient.connect(t.port);
  await one.loginPlain("alice", "alice-secret", "one");
  await using two = await RawClient.connect(t.port);
  await two.open();
  await two.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  await two.readUntil(/<success[^>]*\/>|<\/success>/);
  await two.open();
  await two.send(
    "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>two</resource></bind></iq>",
  );
  assert.match(await two.readUntil("</iq>"), /resource-limit-exceeded/);
  await using scram = await RawClient.connect(t.port);
  assert.equal(
    await scram.loginScram("alice", "alice-secret", "sha256", "three"),
    "alice@localhost/three",
  );
});

Deno.test("exempt ips are not limited", async () => {
  await using t = await startTestServer(
    limits({ connections_per_ip: 1, exempt: { ips: ["127.0.0.1"] } }),
  );
  await using a = await RawClient.connect(t.port);
  await a.open();
  assert.equal(await refusedAtAccept(t.port), false);
});

Deno.test("report mode logs and emits what would have been limited without limiting", async () => {
  await using t = await startTestServer(
    limits({ mode: "report", connections_per_ip: 1, resources_per_account: 1 }),
  );
  const seen = events(t);
  await using a = await RawClient.connect(t.port);
  await a.loginPlain("alice", "alice-secret", "one");
  await using b = await RawClient.connect(t.port);
  assert.equal(await b.loginPlain("alice", "alice-secret", "two"), "alice@localhost/two");
  assert.deepEqual(seen.map((e) => [e.limit, e.mode]), [["connections_per_ip", "report"], [
    "resources_per_account",
    "report",
  ]]);
  assert.ok(
    t.logs.some((line) =>
      line.includes('"event":"limit"') && line.includes('"limit":"resources_per_account"')
    ),
  );
});

Deno.test("the admin API bans and unbans an address at runtime", async () => {
  await using t = await startTestServer(OPEN);
  t.server.limits.ban("127.0.0.1", { reason: "drill" });
  assert.equal(await refusedAtAccept(t.port), true);
  t.server.limits.unban("127.0.0.1");
  assert.equal(await refusedAtAccept(t.port), false);
});

Deno.test("the admin API changes limits at runtime for live sessions", async () => {
  await using t = await startTestServer(limits({ stanza_size: "64KiB" }));
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  t.server.limits.update({ stanza_size: "1KiB", stanza_size_stream_error: "64KiB" });
  await client.send(
    `<message to='bob@localhost' id='big'><body>${"x".repeat(2000)}</body></message>`,
  );
  assert.match(await client.readUntil("</message>"), /stanza-too-big/);
  const state = t.server.limits.snapshot();
  assert.equal(state.sessions, 1);
  assert.throws(() => t.server.limits.update({ stanza_size: "fast" }), /limits\.stanza_size/);
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error("Timed out waiting for condition");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("under overload, new unauthenticated work is refused first and then shed; users keep working", async () => {
  await using t = await startTestServer(OPEN);
  await using user = await RawClient.connect(t.port);
  await user.loginPlain("alice", "alice-secret", "a");
  await using stranger = await RawClient.connect(t.port);
  await stranger.open();
  t.server.limits.setPressure(2);
  assert.equal(await refusedAtAccept(t.port), true);
  t.server.limits.setPressure(3);
  assert.equal(
    await stranger.readToEnd(),
    `<stream:error><resource-constraint xmlns="${NS_STREAM_ERRORS}"/><text xmlns="${NS_STREAM_ERRORS}">Server overloaded</text></stream:error></stream:stream>`,
  );
  await user.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await user.readUntil("/>"), /type="result" id="p"/);
  t.server.limits.setPressure(0);
  assert.equal(await refusedAtAccept(t.port), false);
});

Deno.test("bandwidth pauses a flooder's reading at its budget while another client is served", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({ bandwidth: { rate: "10KiB/s", burst: "20KiB" }, distinct_recipients: "unlimited" }),
    { timers: clock },
  );
  let flooded = 0;
  t.server.events.on("stanza", ({ session }) => {
    if (session.resourceKey === "flood") flooded++;
  });
  await using flooder = await RawClient.connect(t.port);
  await flooder.loginPlain("alice", "alice-secret", "flood");
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "b");
  // Error-type messages to an account with no available resource are dropped
  // without a reply, so the flooder's only cost to the server is reading them.
  const stanza = `<message type='error' to='carol@localhost'><body>${
    "f".repeat(1000)
  }</body></message>`;
  const size = new TextEncoder().encode(stanza).length;
  const flood = (async () => {
    for (let i = 0; i < 2000; i++) await flooder.send(stanza); // ~2 MB, bounded
  })().catch(() => {});
  await waitFor(() => flooded > 0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const first = flooded;
  // The burst (20 KiB) plus the chunks read before the pause took effect.
  assert.ok(first * size <= 20 * 1024 + 2 * 65536, `read ${first} stanzas before pausing`);
  assert.ok(first < 2000);
  // Bob is not slowed by the flood.
  await bob.send("<iq type='get' id='b1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await bob.readUntil("/>"), /id="b1"/);
  // Ten seconds of budget let about 100 KiB more through: slowed, not cut off.
  clock.advance(10_000);
  await waitFor(() => flooded > first);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = flooded - first;
  assert.ok(second * size <= 100 * 1024 + 2 * 65536, `read ${second} more stanzas`);
  assert.ok(t.logs.some((line) => line.includes('"limit":"bandwidth"')));
  flooder.close();
  await flood;
});

Deno.test("stanza_rules limit stanzas to unknown JIDs; known accounts are not counted", async () => {
  const clock = new ManualClock();
  await using t = await startTestServer(
    limits({
      stanza_rules: [{
        action: "limit",
        kind: "message",
        to: "unknown",
        rate: { max: 1, window: "1m" },
        text: "Too many messages to unknown addresses",
      }],
      offline_messages_per_account: 0,
    }),
    { timers: clock },
  );
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<message to='nobody1@localhost' id='u1'><body>x</body></message>");
  assert.match(await client.readUntil("</message>"), /<service-unavailable/);
  await client.send("<message to='bob@localhost' id='k1'><body>x</body></message>");
  assert.match(await client.readUntil("</message>"), /<service-unavailable/); // exists, just offline
  await client.send("<message to='nobody2@localhost' id='u2'><body>x</body></message>");
  assert.equal(
    await client.readUntil("</message>"),
    `<message type="error" id="u2" from="nobody2@localhost" to="alice@localhost/a"><error type="wait">` +
      `<resource-constraint xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}">Too many messages to unknown addresses</text>` +
      `<too-many-stanzas xmlns="urn:xmpp:errors"/></error></message>`,
  );
});

Deno.test("pre_auth_max_elements cuts off an element bomb before authentication", async () => {
  await using t = await startTestServer(limits({ pre_auth_max_elements: 4 }));
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${"<a/>".repeat(10)}</auth>`,
  );
  assert.match(
    await client.readToEnd(),
    /^<stream:error><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/,
  );
});

Deno.test("exempt jids are not limited once authenticated", async () => {
  await using t = await startTestServer(
    limits({ resources_per_account: 1, exempt: { jids: ["alice@localhost"] } }),
  );
  await using one = await RawClient.connect(t.port);
  await one.loginPlain("alice", "alice-secret", "one");
  await using two = await RawClient.connect(t.port);
  assert.equal(await two.loginPlain("alice", "alice-secret", "two"), "alice@localhost/two");
  await using bob1 = await RawClient.connect(t.port);
  await bob1.loginPlain("bob", "bob-secret", "one");
  await using bob2 = await RawClient.connect(t.port);
  await assert.rejects(
    bob2.loginPlain("bob", "bob-secret", "two"),
    /Bind failed: .*resource-limit-exceeded/,
  );
});

Deno.test("stanza_size emits limit events when enforced and only reports in report mode", async () => {
  await using t = await startTestServer(
    limits({ stanza_size: "1KiB", stanza_size_stream_error: "8KiB" }),
  );
  const seen = events(t);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  const big = `<message to='bob@localhost' id='b'><body>${"x".repeat(2000)}</body></message>`;
  await client.send(big);
  assert.match(await client.readUntil("</message>"), /stanza-too-big/);
  assert.deepEqual(
    seen.map((e) => [e.limit, e.mode, e.figure, e.max]),
    [["stanza_size", "enforce", new TextEncoder().encode(big).length, 1024]],
  );

  await using r = await startTestServer(
    limits({
      stanza_size: { max: "1KiB", mode: "report" } as never,
      stanza_size_stream_error: "8KiB",
    }),
  ).catch(() =>
    startTestServer(
      limits({ mode: "report", stanza_size: "1KiB", stanza_size_stream_error: "8KiB" }),
    )
  );
  const reported = events(r);
  await using bob = await RawClient.connect(r.port);
  await bob.loginPlain("bob", "bob-secret", "b");
  await bob.send("<presence/>");
  await using alice = await RawClient.connect(r.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  await alice.send(big);
  assert.match(await bob.readUntil("</message>"), /x{2000}/); // delivered
  await waitFor(() => reported.some((e) => e.limit === "stanza_size"));
  assert.equal(reported.find((e) => e.limit === "stanza_size")?.mode, "report");
});

Deno.test("a stanza past stanza_size_stream_error emits a limit event before the stream closes", async () => {
  await using t = await startTestServer(
    limits({ stanza_size: "1KiB", stanza_size_stream_error: "4KiB" }),
  );
  const seen = events(t);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send(`<message to='bob@localhost'><body>${"y".repeat(6000)}</body></message>`);
  await client.readToEnd();
  assert.equal(seen.at(-1)?.limit, "stanza_size_stream_error");
  assert.equal(seen.at(-1)?.max, 4096);
});

Deno.test("inbound stanza_rules check what a session receives and answer the sender", async () => {
  await using t = await startTestServer(limits({
    stanza_rules: [{
      action: "deny",
      kind: "iq",
      payload: "jabber:iq:version",
      direction: "inbound",
      text: "Not telling",
    }],
  }));
  await using alice = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "b");
  await alice.send(
    "<iq type='get' id='v1' to='bob@localhost/b'><query xmlns='jabber:iq:version'/></iq>",
  );
  assert.equal(
    await alice.readUntil("</iq>"),
    `<iq type="error" id="v1" from="bob@localhost/b" to="alice@localhost/a"><error type="cancel">` +
      `<not-allowed xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}">Not telling</text></error></iq>`,
  );
  // Other payloads are delivered.
  await alice.send(
    "<iq type='get' id='p1' to='bob@localhost/b'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  assert.match(
    await bob.readUntil("</iq>"),
    /id="p1" to="bob@localhost\/b" from="alice@localhost\/a"/,
  );
});

Deno.test("connectInput() has the session's gate tell its fair-input queue when reading resumes with held input", () => {
  const engine = new LimitEngine(resolveConfig(limits({})), {
    timers: new ManualClock(),
    log: new Logger({ sink: () => {} }),
    emit: () => {},
  });
  const state = engine.admit("192.0.2.7", "tcp")!;
  const idle = { pause() {}, resume() {} };
  const observers: unknown[] = [];
  engine.connectInput(state, {
    karma: idle,
    fair: idle,
    heldInput: { observeHeldInput: (observer) => observers.push(observer) },
  }, () => {});
  // Karma's resumes and the stream's own reach the queue through the gate.
  assert.deepEqual(observers, [state.input]);
  engine.release(state);
});

Deno.test("distinct_recipients counts every stanza of one input chunk at the time the chunk was parsed", async () => {
  const clock = new ManualClock();
  const engine = new LimitEngine(
    resolveConfig(limits({ distinct_recipients: { max: 1, window: "1s" } })),
    { timers: clock, log: new Logger({ sink: () => {} }), emit: () => {} },
  );
  const state = engine.admit("192.0.2.7", "tcp")!;
  const idle = { pause() {}, resume() {} };
  const verdicts: (string | undefined)[] = [];
  const message = (to: string) => el("message", { to, type: "chat" });
  engine.connectInput(state, { karma: idle, fair: idle }, (bytes) => {
    for (const to of new TextDecoder().decode(bytes).split(" ")) {
      verdicts.push(engine.checkOutbound(state, message(to), "local", to)?.condition);
      // Parsing takes time; the stanzas still count when their chunk was read.
      clock.advance(60);
    }
  });
  engine.input(state, new TextEncoder().encode("a@x"));
  // The next read comes in a later event-loop turn, as socket reads do (this
  // one's 60 ms of parsing spent the turn's budget for reads processed at once).
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(940 - 60);
  // Read at 940 ms: "a" (counted at 0) holds the only slot for the whole
  // chunk, though the clock reaches 1000 while the second "b" is parsed.
  engine.input(state, new TextEncoder().encode("b@x b@x"));
  assert.deepEqual(verdicts, [undefined, "unexpected-request", "unexpected-request"]);
  // Outside parsing, checks read the clock (1060 by now): "a" has aged out.
  assert.equal(engine.checkOutbound(state, message("b@x"), "local", "b@x"), undefined);
  engine.release(state);
});
