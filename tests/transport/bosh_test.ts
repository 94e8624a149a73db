// The BOSH binding (XEP-0124/0206) over real HTTP: a raw client logs in and
// chats with a TCP client, then the edge cases: out-of-order and repeated
// rids, an expired session, oversized bodies, and every limit before and
// after a session exists.

import assert from "node:assert/strict";
import type { ServerConfigInput } from "../../src/config/schema.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import type { XmppServerOptions } from "../../src/server.ts";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const XBOSH = "xmlns:xmpp='urn:xmpp:xbosh'";
const BODY = `xmlns="http://jabber.org/protocol/httpbind"`;
const PLAIN_OK = { tls: { required: false }, auth: { allow_plain_without_tls: true } } as const;

async function startServer(
  config: ServerConfigInput = {},
  options: XmppServerOptions = {},
): Promise<TestServer & { bosh: string; ws: string }> {
  const t = await startTestServer({
    ...PLAIN_OK,
    listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }, {
      type: "http",
      host: "127.0.0.1",
      port: 0,
    }],
    ...config,
  }, options);
  const { port } = t.server.addresses.find((a) => a.type === "http")!;
  return Object.assign(t, {
    bosh: `http://127.0.0.1:${port}/http-bind`,
    ws: `ws://127.0.0.1:${port}/xmpp-websocket`,
  });
}

async function post(
  url: string,
  text: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: "POST",
    body: text,
    headers: { "content-type": "text/xml; charset=utf-8", ...headers },
  });
  return { status: response.status, text: await response.text() };
}

/** A raw BOSH client: numbers its requests and keeps the session id. */
class BoshPeer {
  readonly url: string;
  rid = 4_000_000_000;
  sid = "";

  constructor(url: string) {
    this.url = url;
  }

  /** The text of request `rid` (the next one unless given) carrying `payload`. */
  body(payload = "", attrs = "", rid = ++this.rid): string {
    const head = `<body rid='${rid}' sid='${this.sid}' ${NS}${attrs === "" ? "" : " " + attrs}`;
    return payload === "" ? `${head}/>` : `${head}>${payload}</body>`;
  }

  send(payload = "", attrs = ""): Promise<{ status: number; text: string }> {
    return post(this.url, this.body(payload, attrs));
  }

  async create(attrs = "to='localhost' wait='60' hold='1'"): Promise<string> {
    const { status, text } = await post(
      this.url,
      `<body rid='${this.rid}' ${attrs} xml:lang='en' xmpp:version='1.0' ${NS} ${XBOSH}/>`,
    );
    assert.equal(status, 200, text);
    this.sid = /sid="([0-9a-f]{32})"/.exec(text)?.[1] ?? "";
    return text;
  }

  async login(user: string, password: string, resource: string): Promise<void> {
    await this.create();
    const auth = btoa(`\0${user}\0${password}`);
    const success = await this.send(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`,
    );
    assert.equal(
      success.text,
      `<body ${BODY}><success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/></body>`,
    );
    const restart = await this.send("", `xmpp:restart='true' ${XBOSH}`);
    assert.match(restart.text, /<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"\/>/);
    const bound = await this.send(
      `<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    assert.match(bound.text, new RegExp(`<jid>${user}@localhost/${resource}</jid>`));
  }
}

Deno.test("BOSH binding: session creation, SASL, restart and bind, a chat with a TCP client, terminate", async () => {
  await using t = await startServer();
  const alice = new BoshPeer(t.bosh);
  const created = await alice.create();
  assert.match(
    created,
    new RegExp(
      `^<body ${BODY} xmlns:xmpp="urn:xmpp:xbosh" xmlns:stream="http://etherx.jabber.org/streams" ` +
        `sid="[0-9a-f]{32}" wait="60" requests="2" hold="1" inactivity="60" polling="2" ` +
        `ver="1.11" from="localhost" authid="[0-9a-f-]{36}" xmpp:version="1.0" ` +
        `xmpp:restartlogic="true"><stream:features xmlns:stream="http://etherx.jabber.org/streams">` +
        `<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">.*</mechanisms>.*</stream:features></body>$`,
    ),
  );
  const auth = btoa("\0alice\0alice-secret");
  await alice.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`,
  );
  await alice.send("", `xmpp:restart='true' ${XBOSH}`);
  const bound = await alice.send(
    "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>",
  );
  assert.equal(
    bound.text,
    `<body ${BODY}><iq xmlns="jabber:client" type="result" id="b1"><bind ` +
      `xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>alice@localhost/web</jid></bind></iq></body>`,
  );
  const [session] = [...t.server.sessions()];
  assert.equal(session?.transport.type, "bosh");

  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "desk");
  await bob.send("<presence/>");
  // A long poll is held until bob writes.
  const poll = alice.send();
  await bob.send("<message to='alice@localhost/web' type='chat'><body>hi alice</body></message>");
  assert.equal(
    (await poll).text,
    `<body ${BODY}><message xmlns="jabber:client" to="alice@localhost/web" type="chat" ` +
      `from="bob@localhost/desk"><body>hi alice</body></message></body>`,
  );
  // Held (hold 1): nothing answers it before the terminate request below ends the session.
  const sent = alice.send(
    "<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi bob</body></message>",
  );
  assert.match(
    await bob.readUntil("</message>"),
    /<message to="bob@localhost" type="chat" from="alice@localhost\/web"><body>hi bob<\/body><\/message>/,
  );
  const closed = Promise.withResolvers<void>();
  t.server.events.on("closed", () => closed.resolve());
  const terminate = await alice.send(
    "<presence xmlns='jabber:client' type='unavailable'/>",
    "type='terminate'",
  );
  assert.equal(terminate.text, `<body ${BODY} type="terminate"/>`);
  assert.deepEqual(await sent, { status: 200, text: `<body ${BODY} type="terminate"/>` });
  await closed.promise;
  assert.equal(
    (await alice.send()).text,
    `<body ${BODY} type="terminate" condition="item-not-found"/>`,
  );
});

Deno.test("BOSH forwards an early request only after the missing rid arrives", async () => {
  await using t = await startServer();
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "desk");
  const message = (text: string) =>
    `<message xmlns='jabber:client' to='bob@localhost/desk'><body>${text}</body></message>`;
  const first = alice.body(message("first"));
  const second = alice.body(message("second"));
  const early = post(t.bosh, second);
  // The early request is not forwarded while rid-1 is missing.
  await bob.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  assert.match(await bob.readUntil("/>"), /<iq [^>]*id="p1"/);
  const late = post(t.bosh, first);
  const got = await bob.readUntil(/second<\/body><\/message>/);
  assert.ok(got.indexOf(">first<") < got.indexOf(">second<"), got);
  assert.equal((await late).text, `<body ${BODY}/>`);
  await bob.send("<message to='alice@localhost/web'><body>done</body></message>");
  assert.match((await early).text, /<body>done<\/body>/);
});

Deno.test("BOSH answers a repeated rid with the same response, and an old one with item-not-found", async () => {
  await using t = await startServer();
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  const ping = alice.body(
    "<iq xmlns='jabber:client' type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  const answer = await post(t.bosh, ping);
  assert.match(answer.text, /<iq xmlns="jabber:client" [^>]*id="p2"/);
  assert.deepEqual(await post(t.bosh, ping), answer);
  // Two more requests push it out of the replay buffer (requests = 2).
  for (const id of ["p3", "p4"]) {
    await alice.send(
      `<iq xmlns='jabber:client' type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    );
  }
  assert.equal(
    (await post(t.bosh, ping)).text,
    `<body ${BODY} type="terminate" condition="item-not-found"/>`,
  );
  assert.equal(t.server.connectionCount, 0);
});

Deno.test("BOSH ends a session after `inactivity`; later requests get item-not-found", async () => {
  const clock = new ManualClock();
  // The negotiation timeout (30 s by default) would end the stream first.
  await using t = await startServer({ timeouts: { negotiation: "5m" } }, { timers: clock });
  const closed = Promise.withResolvers<void>();
  t.server.events.on("closed", () => closed.resolve());
  const alice = new BoshPeer(t.bosh);
  await alice.create();
  assert.equal(t.server.connectionCount, 1);
  clock.advance(59_999);
  assert.equal(t.server.connectionCount, 1);
  clock.advance(1);
  await closed.promise;
  assert.equal(t.server.connectionCount, 0);
  assert.equal(
    (await alice.send()).text,
    `<body ${BODY} type="terminate" condition="item-not-found"/>`,
  );
});

Deno.test("BOSH: the bandwidth budget parks requests until it refills", async () => {
  const clock = new ManualClock();
  await using t = await startServer({
    limits: { bandwidth: { rate: "1KiB/s", burst: "4KiB" } },
    timeouts: { negotiation: "5m" },
  }, { timers: clock });
  const throttled = Promise.withResolvers<string>();
  t.server.events.on("limit", (event) => throttled.resolve(`${event.limit} ${event.ip}`));
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  const big = `<iq xmlns='jabber:client' type='get' to='localhost' id='big-${"p".repeat(5000)}'>` +
    "<ping xmlns='urn:xmpp:ping'/></iq>";
  const first = alice.send(big);
  assert.equal(await throttled.promise, "bandwidth 127.0.0.1");
  assert.match((await first).text, /id="big-p+"/);
  // Reading is paused: the next request is parked, its payload not forwarded (no bytes
  // reach the stream), until the budget refills.
  const bytesIn = t.server.stats.bytesIn;
  const second = alice.send(
    "<iq xmlns='jabber:client' type='get' to='localhost' id='small'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  let answered = false;
  void second.then(() => answered = true);
  const transport = [...t.server.sessions()][0]!.transport as unknown as { openRequests: number };
  while (transport.openRequests === 0 && !answered) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal(answered, false);
  assert.equal(t.server.stats.bytesIn, bytesIn);
  clock.advance(10_000);
  assert.match((await second).text, /id="small"/);
});

Deno.test("BOSH refuses an oversized body with 413 before a session, policy-violation after", async () => {
  await using t = await startServer({ http: { bosh: { max_body: "1KiB" } } });
  const padding = `<presence xmlns='jabber:client'><status>${"x".repeat(1100)}</status></presence>`;
  const creation = await post(
    t.bosh,
    `<body rid='1' to='localhost' xmpp:version='1.0' ${NS} ${XBOSH}>${padding}</body>`,
  );
  assert.equal(creation.status, 413);
  assert.equal(t.server.connectionCount, 0);
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  const over = await alice.send(padding);
  assert.deepEqual(over, {
    status: 200,
    text: `<body ${BODY} type="terminate" condition="policy-violation"/>`,
  });
  assert.equal(t.server.connectionCount, 0);
  assert.equal(
    (await alice.send()).text,
    `<body ${BODY} type="terminate" condition="item-not-found"/>`,
  );
});

Deno.test("BOSH applies the stanza size limit to each stanza inside a body", async () => {
  await using t = await startServer({
    limits: { stanza_size: "1KiB", stanza_size_stream_error: "64KiB" },
  });
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "desk");
  const response = await alice.send(
    "<message xmlns='jabber:client' to='bob@localhost/desk' id='a'><body>small one</body></message>" +
      `<message xmlns='jabber:client' to='bob@localhost/desk' id='b'><body>${
        "y".repeat(2000)
      }</body></message>` +
      "<message xmlns='jabber:client' to='bob@localhost/desk' id='c'><body>small two</body></message>",
  );
  assert.equal(
    response.text,
    `<body ${BODY}><message xmlns="jabber:client" type="error" id="b" from="localhost" ` +
      `to="alice@localhost/web"><error type="modify"><not-allowed ` +
      `xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><stanza-too-big xmlns="urn:xmpp:errors"/>` +
      `</error></message></body>`,
  );
  const got = await bob.readUntil(/small two/);
  assert.match(got, /id="a"[^>]*><body>small one</);
  assert.doesNotMatch(got, /yyyy/);
});

Deno.test("BOSH counts session creations as connection attempts per address (HTTP 429)", async () => {
  await using t = await startServer({
    limits: { connection_attempts_per_ip: { max: 3, window: "1m" } },
  });
  const events: string[] = [];
  t.server.events.on("limit", (event) => {
    events.push(`${event.limit} ${event.ip} closed ${event.closedStreams}`);
  });
  const alice = new BoshPeer(t.bosh);
  await alice.login("alice", "alice-secret", "web");
  const first = new BoshPeer(t.bosh);
  await first.create();
  const second = new BoshPeer(t.bosh);
  await second.create();
  const fourth = await post(
    t.bosh,
    `<body rid='1' to='localhost' xmpp:version='1.0' ${NS} ${XBOSH}/>`,
  );
  assert.deepEqual(fourth, {
    status: 429,
    text: `<body ${BODY} type="terminate" condition="policy-violation"/>`,
  });
  assert.deepEqual(events, ["connection_attempts_per_ip 127.0.0.1 closed 2"]);
  // The address's sessions that had not authenticated went with the refusal
  // (XEP-0206: remote-stream-error carrying the stream error); alice stays.
  assert.equal(t.server.connectionCount, 1);
  const revoked = {
    status: 200,
    text: `<body ${BODY} type="terminate" condition="remote-stream-error" ` +
      `xmlns:stream="http://etherx.jabber.org/streams"><stream:error ` +
      `xmlns:stream="http://etherx.jabber.org/streams"><policy-violation ` +
      `xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text ` +
      `xmlns="urn:ietf:params:xml:ns:xmpp-streams">Connection attempts from your address ` +
      `exceeded the limit</text></stream:error></body>`,
  };
  assert.deepEqual(await first.send(), revoked);
  assert.deepEqual(await second.send(), revoked);
  const pong = await alice.send(
    "<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  assert.match(pong.text, /<iq [^>]*type="result" id="p1"/);
});

Deno.test("a limit class with connection: [bosh] applies to BOSH and not to WebSocket", async () => {
  await using t = await startServer({
    limits: {
      classes: { http: { match: { connection: ["bosh"] }, limits: { connections_per_ip: 1 } } },
    },
  });
  await new BoshPeer(t.bosh).create();
  const second = await post(
    t.bosh,
    `<body rid='1' to='localhost' xmpp:version='1.0' ${NS} ${XBOSH}/>`,
  );
  assert.equal(second.status, 429);
  const socket = new WebSocket(t.ws, ["xmpp"]);
  const opened = await new Promise<boolean>((resolve) => {
    socket.onopen = () => resolve(true);
    socket.onerror = () => resolve(false);
  });
  assert.equal(opened, true);
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.close();
  await closed;
});

Deno.test("BOSH caps requests open at once per address with HTTP 429", async () => {
  const t = await startServer({ http: { bosh: { max_requests_per_ip: 2 } } });
  const a = new BoshPeer(t.bosh);
  const b = new BoshPeer(t.bosh);
  await a.create();
  await b.create();
  const heldA = a.send();
  const heldB = b.send();
  // Both long polls are open: a third request from 127.0.0.1 is refused at the HTTP level.
  let third;
  for (let i = 0; i < 50; i++) {
    third = await post(t.bosh, `<body rid='1' to='localhost' ${NS}/>`);
    if (third.status === 429) break;
  }
  assert.deepEqual(third, {
    status: 429,
    text: `<body ${BODY} type="terminate" condition="policy-violation"/>`,
  });
  // Stopping the server answers the held requests with the stream's end.
  await t.server.stop();
  for (const held of [await heldA, await heldB]) {
    assert.equal(
      held.text,
      `<body ${BODY} type="terminate" condition="remote-stream-error" ` +
        `xmlns:stream="http://etherx.jabber.org/streams"><stream:error ` +
        `xmlns:stream="http://etherx.jabber.org/streams"><system-shutdown ` +
        `xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></body>`,
    );
  }
});

Deno.test("BOSH answers bad requests: unknown host, missing rid, wrong method, CORS preflight", async () => {
  await using t = await startServer();
  assert.deepEqual(
    await post(t.bosh, `<body rid='1' to='elsewhere.example' xmpp:version='1.0' ${NS} ${XBOSH}/>`),
    { status: 200, text: `<body ${BODY} type="terminate" condition="host-unknown"/>` },
  );
  assert.deepEqual(await post(t.bosh, `<body to='localhost' ${NS}/>`), {
    status: 400,
    text: `<body ${BODY} type="terminate" condition="bad-request"/>`,
  });
  assert.deepEqual(await post(t.bosh, `<body rid='1' sid='nope' ${NS}/>`), {
    status: 200,
    text: `<body ${BODY} type="terminate" condition="item-not-found"/>`,
  });
  assert.equal((await post(t.bosh, "<iq/>")).status, 400);
  const get = await fetch(t.bosh);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST, OPTIONS");
  await get.body?.cancel();
  const preflight = await fetch(t.bosh, { method: "OPTIONS" });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  await preflight.body?.cancel();
  assert.equal(t.server.connectionCount, 0);
});
