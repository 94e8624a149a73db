// Interop with a real client library: npm:@xmpp/client 0.14 logs in over
// STARTTLS (certificate verified against the test CA given to `deno test
// --cert`), chats, exchanges presence and reconnects.

import assert from "node:assert/strict";
import { client, xml } from "@xmpp/client";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const TLS = {
  cert: new URL("localhost.pem", FIXTURES).pathname,
  key: new URL("localhost.key", FIXTURES).pathname,
};

// deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
type XmppClient = any;

function connect(t: TestServer, username: string, password: string, resource: string): XmppClient {
  const xmpp = client({
    service: `xmpp://localhost:${t.port}`,
    domain: "localhost",
    username,
    password,
    resource,
  });
  xmpp.on("error", () => {});
  return xmpp;
}

function next(xmpp: XmppClient, name: string): Promise<XmppClient> {
  return new Promise((resolve) => {
    const listener = (stanza: XmppClient) => {
      if (stanza.is(name)) {
        xmpp.removeListener("stanza", listener);
        resolve(stanza);
      }
    };
    xmpp.on("stanza", listener);
  });
}

for (const mechanism of ["SCRAM-SHA-1", "PLAIN"] as const) {
  Deno.test(`@xmpp/client logs in with ${mechanism} over STARTTLS`, async () => {
    await using t = await startTestServer({ tls: TLS, auth: { mechanisms: [mechanism] } });
    const seen = Promise.withResolvers<{ mechanism: string; encrypted: boolean }>();
    t.server.events.on("authenticated", (e) => {
      seen.resolve({ mechanism: e.mechanism, encrypted: e.session.transport.encrypted });
    });
    const xmpp = connect(t, "alice", "alice-secret", "interop");
    const jid = await xmpp.start();
    assert.equal(String(jid), "alice@localhost/interop");
    assert.deepEqual(await seen.promise, { mechanism, encrypted: true });
    await xmpp.stop();
  });
}

Deno.test("@xmpp/client sessions of two accounts exchange presence and messages", async () => {
  await using t = await startTestServer({ tls: TLS });
  const alice = connect(t, "alice", "alice-secret", "a");
  const bob = connect(t, "bob", "bob-secret", "b");
  await alice.start();
  await bob.start();
  // The server sends bob's initial presence back to him (RFC 6121 §4.2.2):
  // wait for it, so that the next presence bob sees is alice's.
  const own = next(bob, "presence");
  await bob.send(xml("presence"));
  assert.equal((await own).attrs.from, "bob@localhost/b");

  const presence = next(bob, "presence");
  await alice.send(xml("presence", { to: "bob@localhost/b" }, xml("status", {}, "here")));
  const gotPresence = await presence;
  assert.equal(gotPresence.attrs.from, "alice@localhost/a");
  assert.equal(gotPresence.getChildText("status"), "here");

  const message = next(bob, "message");
  await alice.send(
    xml("message", { to: "bob@localhost", type: "chat" }, xml("body", {}, "hi bob")),
  );
  const got = await message;
  assert.equal(got.attrs.from, "alice@localhost/a");
  assert.equal(got.getChildText("body"), "hi bob");

  const reply = next(alice, "message");
  await bob.send(
    xml("message", { to: "alice@localhost/a", type: "chat" }, xml("body", {}, "hi alice")),
  );
  assert.equal((await reply).getChildText("body"), "hi alice");

  await alice.stop();
  await bob.stop();
});

Deno.test("@xmpp/client reconnects after the server drops its stream", async () => {
  await using t = await startTestServer({ tls: TLS });
  const xmpp = connect(t, "alice", "alice-secret", "again");
  const online: string[] = [];
  xmpp.on("online", (jid: unknown) => online.push(String(jid)));
  await xmpp.start();
  const back = new Promise<void>((resolve) => xmpp.once("online", () => resolve()));
  // Kick the client the way an administrator would: close its stream.
  for (const session of [...t.server.sessions()]) session.transport.destroy();
  await back;
  assert.deepEqual(online, ["alice@localhost/again", "alice@localhost/again"]);
  await xmpp.stop();
});
