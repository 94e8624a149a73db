// The HTTP listener: routing, HTTPS with the configured certificate, the
// client address behind trusted proxies (and only them), and the `http`
// configuration section.

import assert from "node:assert/strict";
import { DEFAULT_CONFIG, resolveConfig, type ServerConfigInput } from "../../src/config/schema.ts";
import { CidrSet } from "../../src/limits/ip.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { clientAddress, listenHttp } from "../../src/transport/http_listener.ts";
import type { Transport } from "../../src/transport/transport.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const XBOSH = "xmlns:xmpp='urn:xmpp:xbosh'";
const CREATE =
  `<body rid='1' to='localhost' wait='60' hold='1' xmpp:version='1.0' ${NS} ${XBOSH}/>`;
const FIXTURES = new URL("../fixtures/", import.meta.url);
const TLS = {
  cert: new URL("localhost.pem", FIXTURES).pathname,
  key: new URL("localhost.key", FIXTURES).pathname,
};

async function startServer(
  config: ServerConfigInput = {},
  type: "http" | "https" = "http",
): Promise<TestServer & { base: string }> {
  const t = await startTestServer({
    tls: { required: false },
    listen: [{ type, host: "127.0.0.1", port: 0 }],
    ...config,
  });
  const { port } = t.server.addresses.find((a) => a.type === type)!;
  const host = type === "https" ? "localhost" : "127.0.0.1";
  return Object.assign(t, { base: `${type}://${host}:${port}` });
}

async function create(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, { method: "POST", body: CREATE, headers });
}

function onlySession(t: TestServer): Transport {
  const sessions = [...t.server.sessions()];
  assert.equal(sessions.length, 1);
  return sessions[0]!.transport;
}

Deno.test("clientAddress() believes X-Forwarded-For only from trusted proxies, right to left", () => {
  const proxies = new CidrSet(["10.0.0.0/8", "::1"]);
  // Untrusted peer: the header is ignored.
  assert.equal(clientAddress("192.0.2.1", "198.51.100.7", proxies), "192.0.2.1");
  assert.equal(clientAddress("10.0.0.5", null, proxies), "10.0.0.5");
  // Chains of trusted proxies are skipped; a client cannot push its own claim past them.
  assert.equal(
    clientAddress("10.0.0.5", "203.0.113.9, 198.51.100.7, 10.1.2.3", proxies),
    "198.51.100.7",
  );
  assert.equal(clientAddress("::ffff:10.0.0.5", "198.51.100.7", proxies), "198.51.100.7");
  assert.equal(clientAddress("::1", "[2001:db8::7]:443", proxies), "2001:db8::7");
  assert.equal(clientAddress("::1", "198.51.100.7:5678", proxies), "198.51.100.7");
  assert.equal(clientAddress("::1", "::ffff:198.51.100.7", proxies), "198.51.100.7");
  // Garbage stops the walk at the last trusted hop.
  assert.equal(clientAddress("10.0.0.5", "198.51.100.7, unknown", proxies), "10.0.0.5");
  assert.equal(clientAddress("10.0.0.5", "198.51.100.7, 10.0.0.9, ", proxies), "10.0.0.5");
  // Only proxies all the way: the farthest one.
  assert.equal(clientAddress("10.0.0.5", "10.0.0.7, 10.0.0.8", proxies), "10.0.0.7");
});

Deno.test("the HTTP listener takes the client address and https from a trusted proxy", async () => {
  await using t = await startServer({
    http: { trusted_proxies: ["127.0.0.0/8"] },
    limits: { connections_per_ip: 1 },
  });
  const first = await create(`${t.base}/http-bind`, {
    "x-forwarded-for": "198.51.100.7",
    "x-forwarded-proto": "https",
  });
  assert.equal(first.status, 200);
  await first.body?.cancel();
  const transport = onlySession(t);
  assert.equal(transport.remoteAddress, "198.51.100.7");
  assert.equal(transport.encrypted, true);
  // Per-address limits count the forwarded address.
  const other = await create(`${t.base}/http-bind`, { "x-forwarded-for": "198.51.100.8" });
  assert.equal(other.status, 200);
  await other.body?.cancel();
  const again = await create(`${t.base}/http-bind`, { "x-forwarded-for": "198.51.100.7" });
  assert.equal(again.status, 429);
  await again.body?.cancel();
  assert.equal(t.server.connectionCount, 2);
});

Deno.test("the HTTP listener ignores forwarding headers from peers that are not trusted proxies", async () => {
  await using t = await startServer({ http: { trusted_proxies: ["10.0.0.0/8"] } });
  const response = await create(`${t.base}/http-bind`, {
    "x-forwarded-for": "198.51.100.7",
    "x-forwarded-proto": "https",
  });
  await response.body?.cancel();
  const transport = onlySession(t);
  assert.equal(transport.remoteAddress, "127.0.0.1");
  assert.equal(transport.encrypted, false);
});

Deno.test("the HTTP listener resolves the client address for WebSocket upgrades too", async () => {
  await using t = await startServer({ http: { trusted_proxies: ["127.0.0.1"] } });
  const { port } = new URL(t.base);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(
      "GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n" +
        "X-Forwarded-For: 2001:db8::5\r\n\r\n",
    ));
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer);
    assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1.1 101 /);
    const transport = onlySession(t);
    assert.equal(transport.type, "websocket");
    assert.equal(transport.remoteAddress, "2001:db8::5");
  } finally {
    conn.close();
  }
});

Deno.test("the https listener serves BOSH and WebSocket with the configured certificate", async () => {
  await using t = await startServer({ tls: { ...TLS, required: true } }, "https");
  assert.match(t.base, /^https:\/\/localhost:\d+$/);
  const response = await create(`${t.base}/http-bind`);
  const text = await response.text();
  // Encrypted: SASL is offered although TLS is required.
  assert.match(text, /<mechanism>SCRAM-SHA-256<\/mechanism>/);
  assert.equal(onlySession(t).encrypted, true);

  const socket = new WebSocket(`${t.base.replace("https", "wss")}/xmpp-websocket`, ["xmpp"]);
  const first = new Promise<string>((resolve, reject) => {
    socket.onmessage = (event) => resolve(String(event.data));
    socket.onerror = () => reject(new Error("wss failed"));
  });
  socket.onopen = () =>
    socket.send(
      `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`,
    );
  assert.match(await first, /^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="localhost"/);
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.close();
  await closed;
});

Deno.test("the HTTP listener serves the configured paths and 404 elsewhere", async () => {
  await using t = await startServer({ http: { websocket_path: "/ws", bosh_path: "/bosh" } });
  for (const [path, status] of [["/bosh", 405], ["/ws", 426], ["/http-bind", 404], ["/", 404]]) {
    const response = await fetch(`${t.base}${path}`);
    assert.equal(response.status, status, String(path));
    await response.body?.cancel();
  }
  const created = await create(`${t.base}/bosh`);
  assert.equal(created.status, 200);
  await created.body?.cancel();
});

Deno.test("listenHttp() answers 503 once closing and counts its connections", async () => {
  const clock = new ManualClock();
  const accepted = Promise.withResolvers<void>();
  await using listener = await listenHttp({
    host: "127.0.0.1",
    port: 0,
    domain: "localhost",
    bosh: DEFAULT_CONFIG.http.bosh,
    timers: clock,
    accept: (transport) => {
      transport.attach({ data() {}, closed() {} });
      accepted.resolve();
      return "accepted";
    },
  });
  const url = `http://127.0.0.1:${listener.addr.port}/http-bind`;
  // No stream answers this session: its creation request is held for `wait`.
  const pending = create(url);
  await accepted.promise;
  assert.equal(listener.connections, 1);
  await listener.close();
  const refused = await create(url);
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
  clock.advance(60_000);
  const held = await pending;
  assert.equal(held.status, 200);
  assert.match(await held.text(), /^<body [^>]*sid="[0-9a-f]{32}"[^>]*\/>$/);
  await listener.shutdown();
  assert.equal(listener.connections, 0);
  await assert.rejects(
    listenHttp({
      host: "127.0.0.1",
      port: 70000,
      domain: "x",
      bosh: DEFAULT_CONFIG.http.bosh,
      accept: () => "limited",
    }),
    RangeError,
  );
});

Deno.test("the http section is validated with key paths", () => {
  const cases: [unknown, string][] = [
    [
      { bosh_path: "http-bind" },
      'http.bosh_path: expected a URL path like "/http-bind", got "http-bind"',
    ],
    [
      { bosh_path: "/xmpp-websocket" },
      'http.bosh_path: expected a path other than http.websocket_path, got "/xmpp-websocket"',
    ],
    [
      { trusted_proxies: ["proxy.example"] },
      'http.trusted_proxies[0]: expected an IP address or CIDR like "10.0.0.0/8" or "2001:db8::/32", got "proxy.example"',
    ],
    [
      { bosh: { max_wait: "1500ms" } },
      "http.bosh.max_wait: expected whole seconds (BOSH counts in seconds), got 1500ms",
    ],
    [
      { bosh: { max_hold: 2 } },
      "http.bosh.max_hold: expected less than http.bosh.max_requests (2), got 2",
    ],
    [{ bosh: { max_body: "10B" } }, 'http.bosh.max_body: expected a size >= 1KiB, got "10B"'],
    [{ bosh: { maxBody: 1 } }, 'http.bosh.maxBody: unknown key, did you mean "max_body"?'],
  ];
  for (const [http, message] of cases) {
    assert.throws(() => resolveConfig({ http }), { name: "ConfigError", message });
  }
  assert.deepEqual(
    resolveConfig({
      http: {
        trusted_proxies: ["10.0.0.1", "2001:db8::/32"],
        bosh: { max_hold: 3, max_requests: 4 },
      },
    }).http,
    {
      ...DEFAULT_CONFIG.http,
      trusted_proxies: ["10.0.0.1/32", "2001:db8::/32"],
      bosh: { ...DEFAULT_CONFIG.http.bosh, max_hold: 3, max_requests: 4 },
    },
  );
});
