// The admin listener on real sockets: metrics, auth, the limits and bans API.

import assert from "node:assert/strict";
import { AdminServer } from "../../src/admin/admin_server.ts";
import { ServerMetrics } from "../../src/admin/metrics.ts";
import { ConfigError } from "../../src/config/validate.ts";
import { XmppServer } from "../../src/server.ts";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";
import { parseExposition, sampleValue } from "./_exposition.ts";

const OPEN = { tls: { required: false }, auth: { allow_plain_without_tls: true } };
const TOKEN = "test-admin-token-0123456789";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function adminUrl(t: TestServer, path: string): string {
  const admin = t.server.addresses.find((a) => a.type === "admin");
  assert.ok(admin !== undefined, "no admin listener");
  return `http://127.0.0.1:${admin.port}${path}`;
}

interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

async function request(
  t: TestServer,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: string; type?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.body;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  if (body !== undefined) headers["content-type"] = options.type ?? "application/json";
  const response = await fetch(adminUrl(t, path), {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** One HTTP/1.1 request over a raw socket, with a chosen Host header. */
async function rawRequest(port: number, host: string, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("GET /metrics serves parseable Prometheus text counting a login and a limit hit", async () => {
  await using t = await startTestServer({
    ...OPEN,
    limits: { connections_per_ip: 1 },
    admin: { host: "127.0.0.1", port: 0 },
  });
  await using alice = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "a");
  // A second connection from the same address is over connections_per_ip: closed unread.
  await using refused = await RawClient.connect(t.port);
  assert.equal(await refused.readToEnd(), "");

  const reply = await request(t, "GET", "/metrics");
  assert.equal(reply.status, 200);
  assert.equal(reply.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const families = parseExposition(reply.body);
  const value = (name: string, labels?: Record<string, string>) =>
    sampleValue(families, name, labels);
  assert.equal(value("xmppd_logins_total"), 1);
  assert.equal(value("xmppd_login_failures_total"), 0);
  assert.equal(value("xmppd_connections", { transport: "tcp" }), 1);
  assert.equal(value("xmppd_connections_accepted_total", { transport: "tcp" }), 1);
  assert.equal(value("xmppd_connections_refused_total"), 1);
  assert.equal(
    value("xmppd_limit_hits_total", { limit: "connections_per_ip", mode: "enforce" }),
    1,
  );
  assert.equal(value("xmppd_sessions", { phase: "established" }), 1);
  assert.equal(value("xmppd_sessions_authenticated"), 1);
  assert.equal(value("xmppd_limit_open_addresses"), 1);
  assert.ok(value("xmppd_received_bytes_total")! > 100);
  assert.ok(value("xmppd_stanzas_sent_total")! > 0);
  // The same numbers through the embedding API.
  const embedded = parseExposition(t.server.metrics());
  assert.deepEqual([...embedded.keys()], [...families.keys()]);
  assert.equal(sampleValue(embedded, "xmppd_logins_total"), 1);
  assert.equal(t.server.metricsSnapshot().limits.hits[0]?.limit, "connections_per_ip");
  // Never a password.
  assert.doesNotMatch(reply.body, /alice-secret/);
});

Deno.test("with a token, every route but the page needs Authorization: Bearer", async () => {
  await using t = await startTestServer({
    ...OPEN,
    admin: { host: "127.0.0.1", port: 0, token: TOKEN },
  });
  for (const path of ["/metrics", "/status", "/api/limits", "/api/bans"]) {
    const none = await request(t, "GET", path);
    assert.equal(none.status, 401, path);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="xmppd-admin"');
    assert.deepEqual(JSON.parse(none.body), {
      error: "Cannot authorize: a valid bearer token is required",
    });
    assert.equal((await request(t, "GET", path, { token: TOKEN + "x" })).status, 401, path);
    assert.equal((await request(t, "GET", path, { token: TOKEN.slice(0, -1) })).status, 401);
    assert.equal((await request(t, "GET", path, { token: TOKEN })).status, 200, path);
  }
  const basic = await fetch(adminUrl(t, "/metrics"), {
    headers: { authorization: `Basic ${btoa("admin:" + TOKEN)}` },
  });
  assert.equal(basic.status, 401);
  await basic.body?.cancel();
  // Mutations need the token too.
  assert.equal(
    (await request(t, "POST", "/api/bans", { json: { address: "192.0.2.1" } })).status,
    401,
  );
  assert.equal((await request(t, "PUT", "/api/limits", { json: {} })).status, 401);
  assert.equal((await request(t, "DELETE", "/api/bans/192.0.2.1")).status, 401);
  assert.deepEqual(t.server.limits.snapshot().bans, []);
  // The page holds no data and is served without the token.
  const page = await request(t, "GET", "/");
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  assert.match(page.body, /^<!doctype html>/);
  assert.ok(t.logs.some((line) => line.includes('"admin-unauthorized"')));
  assert.ok(!t.logs.some((line) => line.includes(TOKEN)), "the token was logged");
});

Deno.test("without a token, only loopback and IP host names are served (no DNS rebinding)", async () => {
  await using t = await startTestServer({ ...OPEN, admin: { host: "127.0.0.1", port: 0 } });
  const port = t.server.addresses.find((a) => a.type === "admin")!.port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "127.0.0.1"]) {
    assert.match(await rawRequest(port, host, "/status"), /^HTTP\/1\.1 200/, host);
  }
  for (const host of ["attacker.example", `attacker.example:${port}`]) {
    const reply = await rawRequest(port, host, "/status");
    assert.match(reply, /^HTTP\/1\.1 403/, host);
    assert.match(await rawRequest(port, host, "/"), /^HTTP\/1\.1 403/, host);
  }
});

Deno.test("PUT /api/limits applies to live sessions; bad input gets 400 with the ConfigError message", async () => {
  await using t = await startTestServer({ ...OPEN, admin: { host: "127.0.0.1", port: 0 } });
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");

  const before = JSON.parse((await request(t, "GET", "/api/limits")).body);
  assert.equal(before.limits.stanza_size, 262_144);
  const put = await request(t, "PUT", "/api/limits", {
    json: { ...before.limits, stanza_size: "1KiB" },
  });
  assert.equal(put.status, 200);
  assert.equal(JSON.parse(put.body).limits.stanza_size, 1024);
  assert.equal(JSON.parse((await request(t, "GET", "/api/limits")).body).limits.stanza_size, 1024);
  await client.send(
    `<message to='bob@localhost' id='m'><body>${"x".repeat(2000)}</body></message>`,
  );
  assert.match(await client.readUntil("</message>"), /<stanza-too-big xmlns="urn:xmpp:errors"\/>/);

  const bad = await request(t, "PUT", "/api/limits", { json: { stanza_size: "big" } });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body), {
    error: 'limits.stanza_size: expected a size like "256KiB" or "unlimited", got "big"',
  });
  assert.equal(JSON.parse((await request(t, "GET", "/api/limits")).body).limits.stanza_size, 1024);
  const typo = await request(t, "PUT", "/api/limits", { json: { stanzaSize: 1 } });
  assert.equal(typo.status, 400);
  assert.match(JSON.parse(typo.body).error, /^limits\.stanzaSize: unknown key/);

  const text = await request(t, "PUT", "/api/limits", { body: "{}", type: "text/plain" });
  assert.equal(text.status, 415);
  const broken = await request(t, "PUT", "/api/limits", { body: "{", type: "application/json" });
  assert.equal(broken.status, 400);
  assert.match(JSON.parse(broken.body).error, /^Cannot parse body as JSON/);
  const huge = await request(t, "PUT", "/api/limits", {
    body: JSON.stringify({ pad: "x".repeat(1_048_576) }),
  });
  assert.equal(huge.status, 413);
  // A reload replaces what was PUT: GET shows the configuration in force.
  await t.server.reload({ ...t.server.config, limits: { stanza_size: "2KiB" } });
  assert.equal(JSON.parse((await request(t, "GET", "/api/limits")).body).limits.stanza_size, 2048);
});

Deno.test("POST /api/bans bans and disconnects an address; DELETE /api/bans/:address lifts it", async () => {
  await using t = await startTestServer({ ...OPEN, admin: { host: "127.0.0.1", port: 0 } });
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");

  const banned = await request(t, "POST", "/api/bans", {
    json: { address: "127.0.0.1", durationMs: 60_000, reason: "drill" },
  });
  assert.equal(banned.status, 201);
  const { ban } = JSON.parse(banned.body);
  assert.deepEqual({ ...ban, expiresInMs: undefined }, {
    target: "127.0.0.1",
    reason: "drill",
    source: "runtime",
    expiresInMs: undefined,
  });
  assert.ok(ban.expiresInMs > 59_000 && ban.expiresInMs <= 60_000);
  assert.match(await client.readToEnd(), /<policy-violation /);
  await using refused = await RawClient.connect(t.port);
  assert.equal(await refused.readToEnd(), "");
  const listed = JSON.parse((await request(t, "GET", "/api/bans")).body);
  assert.deepEqual(listed.bans.map((b: { target: string }) => b.target), ["127.0.0.1"]);
  const metrics = parseExposition((await request(t, "GET", "/metrics")).body);
  assert.equal(sampleValue(metrics, "xmppd_limit_bans", { source: "runtime" }), 1);

  const lifted = await request(t, "DELETE", "/api/bans/127.0.0.1");
  assert.equal(lifted.status, 200);
  assert.deepEqual(JSON.parse(lifted.body), { unbanned: "127.0.0.1" });
  assert.equal((await request(t, "DELETE", "/api/bans/127.0.0.1")).status, 404);
  await using again = await RawClient.connect(t.port);
  await again.loginPlain("alice", "alice-secret", "b");

  // A network, permanent: its slash is URL-encoded in the path.
  const network = await request(t, "POST", "/api/bans", { json: { address: "198.51.100.0/24" } });
  assert.equal(network.status, 201);
  assert.equal(JSON.parse(network.body).ban.expiresInMs, null);
  assert.equal((await request(t, "DELETE", "/api/bans/198.51.100.0%2F24")).status, 200);

  for (
    const body of [
      { address: "not-an-ip" },
      { address: "192.0.2.1", durationMs: -5 },
      { address: "192.0.2.1", reason: 7 },
      { address: "192.0.2.1", extra: true },
      {},
      [],
    ]
  ) {
    const reply = await request(t, "POST", "/api/bans", { json: body });
    assert.equal(reply.status, 400, JSON.stringify(body));
    assert.match(JSON.parse(reply.body).error, /^Cannot /);
  }
  assert.deepEqual(t.server.limits.snapshot().bans, []);
});

Deno.test("unknown paths get 404 and wrong methods 405 with Allow", async () => {
  await using t = await startTestServer({ ...OPEN, admin: { host: "127.0.0.1", port: 0 } });
  const missing = await request(t, "GET", "/nope");
  assert.equal(missing.status, 404);
  const post = await request(t, "POST", "/metrics", { json: {} });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  assert.equal((await request(t, "GET", "/api/bans/192.0.2.1")).status, 405);
  assert.equal((await request(t, "DELETE", "/")).status, 405);
});

Deno.test("GET /status reports connections, sessions and limits as JSON", async () => {
  await using t = await startTestServer({
    ...OPEN,
    limits: { connections_per_ip: 2 },
    admin: { host: "127.0.0.1", port: 0 },
  });
  await using alice = await RawClient.connect(t.port);
  await alice.loginPlain("alice", "alice-secret", "phone");
  await using idle = await RawClient.connect(t.port);
  await idle.open();
  await using refused = await RawClient.connect(t.port);
  await refused.readToEnd();
  const reply = await request(t, "GET", "/status");
  assert.equal(reply.status, 200);
  assert.equal(reply.headers.get("cache-control"), "no-store");
  const status = JSON.parse(reply.body);
  assert.equal(status.connections.open, 2);
  assert.equal(status.sessions.authenticated, 1);
  assert.deepEqual(
    status.sessions.shown.map((s: { jid: string | null; phase: string }) => [s.jid, s.phase]),
    [[null, "negotiating"], ["alice@localhost/phone", "established"]],
  );
  assert.equal(status.limited[0].subject, "127.0.0.1");
  assert.deepEqual(status.limited[0].limits, ["connections_per_ip"]);
  assert.equal(status.history.byLimit.connections_per_ip.at(-1), 1);
  assert.equal(status.history.totals.length, 60);
  assert.equal(status.limits.openConnections, 2);
  assert.ok(status.uptimeMs >= 0);
  assert.doesNotMatch(reply.body, /secret/);
});

Deno.test("XmppServer lists the admin address, closes it on stop() and refuses to move it on reload()", async () => {
  const t = await startTestServer({ ...OPEN, admin: { host: "127.0.0.1", port: 0 } });
  const admin = t.server.addresses.find((a) => a.type === "admin");
  assert.equal(admin?.hostname, "127.0.0.1");
  assert.ok(admin.port > 0);
  await assert.rejects(
    t.server.reload({ ...t.server.config, admin: { host: "127.0.0.1", port: 1 } }),
    (error: unknown) => error instanceof ConfigError && error.path === "admin",
  );
  await t.server.stop();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: admin.port }));
});

Deno.test("AdminServer.start() refuses to listen off loopback without a token", async () => {
  await using server = new XmppServer({ listen: [], storage: { type: "memory" } });
  using metrics = new ServerMetrics(server);
  assert.throws(() => AdminServer.start(server, metrics, { host: "0.0.0.0", port: 0 }), {
    name: "TypeError",
    message:
      "Cannot start admin listener: a 'token' is required unless 'host' is a loopback address, got '0.0.0.0'",
  });
  assert.throws(() => AdminServer.start(server, metrics, { token: "", port: 0 }), TypeError);
});
