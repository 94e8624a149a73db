// XmppServer's own surface: reload, counters, shutdown, deliver, handleIq.

import assert from "node:assert/strict";
import { el } from "../src/xml/element.ts";
import { NS_CLIENT } from "../src/xml/ns.ts";
import { ConfigError } from "../src/config/validate.ts";
import { RawClient } from "./_util/raw_client.ts";
import { startTestServer } from "./_util/test_server.ts";

const OPEN = { tls: { required: false }, auth: { allow_plain_without_tls: true } };

Deno.test("XmppServer.reload() applies new limits to live streams without dropping them", async () => {
  await using t = await startTestServer(OPEN);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await t.server.reload({
    ...t.server.config,
    limits: { stanza_size: "1KiB", stanza_size_stream_error: "1MiB" },
  });
  await client.send(
    `<message to='bob@localhost' id='m'><body>${"x".repeat(2000)}</body></message>`,
  );
  assert.match(await client.readUntil("</message>"), /<stanza-too-big xmlns="urn:xmpp:errors"\/>/);
  assert.equal(t.server.config.limits.stanza_size, 1024);
});

Deno.test("XmppServer.reload() refuses changes that need a restart and keeps the old configuration", async () => {
  await using t = await startTestServer(OPEN);
  const before = t.server.config;
  await assert.rejects(
    t.server.reload({ ...before, listen: [{ type: "c2s", host: "127.0.0.1", port: 1 }] }),
    (error: unknown) => error instanceof ConfigError && error.path === "listen",
  );
  await assert.rejects(t.server.reload({ ...before, limits: { stanza_size: "big" } }), ConfigError);
  assert.equal(t.server.config, before);
});

Deno.test("XmppServer counts connections, logins, failures, stanzas and bytes", async () => {
  await using t = await startTestServer(OPEN);
  await using client = await RawClient.connect(t.port);
  await client.open();
  await client.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0nope")
    }</auth>`,
  );
  await client.readUntil("</failure>");
  await using ok = await RawClient.connect(t.port);
  await ok.loginPlain("alice", "alice-secret", "a");
  await ok.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  await ok.readUntil("/>");
  const stats = t.server.stats;
  assert.equal(stats.connectionsAccepted.tcp, 2);
  assert.equal(stats.logins, 1);
  assert.equal(stats.loginFailures, 1);
  assert.equal(stats.stanzasIn, 1);
  assert.ok(stats.bytesIn > 300 && stats.bytesOut > 300);
});

Deno.test("XmppServer.stop() sends system-shutdown to every stream and stops listening", async () => {
  const t = await startTestServer(OPEN);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await t.server.stop();
  assert.equal(
    await client.readToEnd(),
    `<stream:error><system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>`,
  );
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: t.port }));
});

Deno.test("XmppServer.deliver() sends to a full JID or to the available resources of a bare JID", async () => {
  await using t = await startTestServer(OPEN);
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  const message = (to: string) =>
    el("message", { xmlns: NS_CLIENT, from: "bot@localhost", to }, el("body", {}, "hi"));
  assert.equal(t.server.deliver(message("alice@localhost")), 0); // no initial presence yet
  assert.equal(t.server.deliver(message("alice@localhost/a")), 1);
  assert.match(await client.readUntil("</message>"), /to="alice@localhost\/a"/);
  await client.send("<presence/>");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(t.server.deliver(message("alice@localhost")), 1);
  assert.equal(t.server.deliver(message("nobody@elsewhere")), 0);
});

Deno.test("XmppServer.handleIq() answers on the server's address and withdraws the feature when disposed", async () => {
  await using t = await startTestServer(OPEN);
  const handler = t.server.handleIq(
    "host",
    "get",
    "urn:example:x",
    "q",
    () => el("q", { xmlns: "urn:example:x" }),
  );
  await using client = await RawClient.connect(t.port);
  await client.loginPlain("alice", "alice-secret", "a");
  await client.send("<iq type='get' id='x1' to='localhost'><q xmlns='urn:example:x'/></iq>");
  assert.match(await client.readUntil("</iq>"), /type="result" id="x1"/);
  const disco =
    "<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>";
  await client.send(disco);
  assert.match(await client.readUntil("</iq>"), /urn:example:x/);
  handler[Symbol.dispose]();
  await client.send(disco);
  assert.doesNotMatch(await client.readUntil("</iq>"), /urn:example:x/);
  await client.send("<iq type='get' id='x2' to='localhost'><q xmlns='urn:example:x'/></iq>");
  assert.match(await client.readUntil("</iq>"), /service-unavailable/);
});
