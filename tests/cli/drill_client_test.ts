import assert from "node:assert/strict";
import { DrillClient } from "../../src/cli/drill_client.ts";
import { startTestServer } from "../_util/test_server.ts";

const PLAIN_OK = { tls: { required: false }, auth: { allow_plain_without_tls: true } } as const;

Deno.test("DrillClient logs in with PLAIN, binds and syncs with a ping", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await DrillClient.connect({ port: t.port });
  assert.equal(await client.login("alice", "alice-secret", "drill"), "alice@localhost/drill");
  await client.send("<presence id='x'/>");
  const synced = await client.sync("s1");
  assert.match(synced!, /<iq[^>]*id="s1"[^>]*type="result"|<iq[^>]*type="result"[^>]*id="s1"/);
  assert.equal(client.closed, false);
});

Deno.test("DrillClient.poll() gives up quietly; expect() names what it waited for", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await DrillClient.connect({ port: t.port });
  await client.open();
  assert.equal(await client.poll("<never/>", 30), undefined);
  await assert.rejects(() => client.expect("<never/>", 30), {
    message: /^Expected <never\/>, but nothing in 30 ms; unread: $/,
  });
});

Deno.test("DrillClient.authenticate() reports a failed login with the server's answer", async () => {
  await using t = await startTestServer(PLAIN_OK);
  await using client = await DrillClient.connect({ port: t.port });
  await assert.rejects(() => client.authenticate("alice", "wrong"), {
    message: /^Authentication failed: .*<not-authorized\/>/,
  });
});

Deno.test("DrillClient.bind() returns the error reply instead of throwing", async () => {
  await using t = await startTestServer({ ...PLAIN_OK, limits: { resources_per_account: 1 } });
  await using first = await DrillClient.connect({ port: t.port });
  await first.login("alice", "alice-secret", "one");
  await using second = await DrillClient.connect({ port: t.port });
  await second.authenticate("alice", "alice-secret");
  const bound = await second.bind("two");
  assert.ok("error" in bound);
  assert.match(bound.error, /<resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
});

Deno.test("DrillClient sees a refused connection as closed with no byte received", async () => {
  await using t = await startTestServer(PLAIN_OK);
  t.server.events.on("connection", () => true);
  await using client = await DrillClient.connect({ port: t.port });
  await client.send("<?xml version='1.0'?>");
  assert.equal(await client.waitClosed(2000), true);
  assert.equal(client.received, 0);
});

Deno.test("DrillClient.streamError() reads the condition and application condition", async () => {
  await using t = await startTestServer({ ...PLAIN_OK, limits: { pre_auth_stanza_size: "1KiB" } });
  await using client = await DrillClient.connect({ port: t.port });
  await client.open();
  await client.send(`<x>${"a".repeat(1100)}</x>`);
  assert.equal(await client.waitClosed(2000), true);
  assert.deepEqual(client.streamError(), {
    condition: "policy-violation",
    appCondition: "stanza-too-big",
  });
});

Deno.test("DrillClient connects from a chosen loopback source address", async (t) => {
  await using server = await startTestServer(PLAIN_OK);
  const seen: string[] = [];
  server.server.events.on("connection", ({ remoteAddress }) => {
    seen.push(remoteAddress);
  });
  let client: DrillClient;
  try {
    client = await DrillClient.connect({ port: server.port, localAddress: "127.1.0.7" });
  } catch {
    // Only Linux routes all of 127.0.0.0/8 to loopback by default.
    t.step({ name: "skipped: this system refuses 127.1.0.7 as a source", ignore: true, fn() {} });
    return;
  }
  await using _client = client;
  await client.open();
  assert.deepEqual(seen.map((ip) => ip.replace(/^::ffff:/, "")), ["127.1.0.7"]);
});
