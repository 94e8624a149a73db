// RFC 6121 interop with a real client library: two npm:@xmpp/client 0.14
// clients over STARTTLS add each other to their rosters (receiving roster
// pushes through their IQ callee), complete the subscription handshake,
// see each other's presence, and one gets the messages sent while it was
// offline, stamped with XEP-0203 delays.

import assert from "node:assert/strict";
import { client, xml } from "@xmpp/client";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const TLS = {
  cert: new URL("localhost.pem", FIXTURES).pathname,
  key: new URL("localhost.key", FIXTURES).pathname,
};
const NS_ROSTER = "jabber:iq:roster";

// deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
type Stanza = any;

/** A started client that records every stanza and every roster push it gets. */
class Peer {
  // deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
  readonly xmpp: any;
  readonly stanzas: Stanza[] = [];
  readonly pushes: Stanza[] = [];
  #waiters: { test: (s: Stanza) => boolean; resolve: (s: Stanza) => void }[] = [];

  constructor(t: TestServer, username: string, resource: string) {
    this.xmpp = client({
      service: `xmpp://localhost:${t.port}`,
      domain: "localhost",
      username,
      password: `${username}-secret`,
      resource,
    });
    this.xmpp.on("error", () => {});
    // RFC 6121 §2.1.6: a roster push is an IQ set the client acknowledges.
    this.xmpp.iqCallee.set(NS_ROSTER, "query", (ctx: Stanza) => {
      this.pushes.push(ctx.element);
      this.#check(ctx.stanza);
      return true;
    });
    this.xmpp.on("stanza", (stanza: Stanza) => {
      this.stanzas.push(stanza);
      this.#check(stanza);
    });
  }

  #check(stanza: Stanza): void {
    for (const waiter of [...this.#waiters]) {
      if (waiter.test(stanza)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(stanza);
      }
    }
  }

  /** The first stanza (already received or still to come) that passes `test`. */
  next(test: (stanza: Stanza) => boolean): Promise<Stanza> {
    const seen = this.stanzas.find(test);
    if (seen !== undefined) {
      this.stanzas.splice(this.stanzas.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** The roster items as `jid subscription[ ask]` strings. */
  async roster(): Promise<string[]> {
    const result = await this.xmpp.iqCaller.request(
      xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER })),
    );
    return result.getChild("query").getChildren("item").map((item: Stanza) =>
      `${item.attrs.jid} ${item.attrs.subscription}${item.attrs.ask ? " " + item.attrs.ask : ""}`
    );
  }
}

function presence(from: string, type?: string): (stanza: Stanza) => boolean {
  return (stanza) =>
    stanza.is("presence") && stanza.attrs.from === from && stanza.attrs.type === type;
}

Deno.test("@xmpp/client adds a contact, completes the subscription handshake and sees presence", async () => {
  await using t = await startTestServer({ tls: TLS });
  const alice = new Peer(t, "alice", "laptop");
  const bob = new Peer(t, "bob", "phone");
  await alice.xmpp.start();
  await bob.xmpp.start();
  assert.deepEqual(await alice.roster(), []);
  assert.deepEqual(await bob.roster(), []);
  await bob.xmpp.send(xml("presence", {}, xml("show", {}, "chat")));
  await bob.next(presence("bob@localhost/phone"));
  // Presence reaches available resources only (RFC 6121 §8.5.2.1.1).
  await alice.xmpp.send(xml("presence"));
  await alice.next(presence("alice@localhost/laptop"));

  // Roster add: the result, and a push to the interested resource.
  await alice.xmpp.iqCaller.request(
    xml(
      "iq",
      { type: "set" },
      xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: "bob@localhost", name: "Bob" })),
    ),
  );
  assert.deepEqual(await alice.roster(), ["bob@localhost none"]);
  assert.equal(alice.pushes[0]?.getChild("item").attrs.name, "Bob");

  // The handshake.
  await alice.xmpp.send(xml("presence", { to: "bob@localhost", type: "subscribe" }));
  const request = await bob.next(presence("alice@localhost", "subscribe"));
  assert.equal(request.attrs.to, "bob@localhost");
  await bob.xmpp.send(xml("presence", { to: "alice@localhost", type: "subscribed" }));
  await alice.next(presence("bob@localhost", "subscribed"));
  const bobsPresence = await alice.next(presence("bob@localhost/phone"));
  assert.equal(bobsPresence.getChildText("show"), "chat");
  assert.deepEqual(await alice.roster(), ["bob@localhost to"]);
  assert.deepEqual(await bob.roster(), ["alice@localhost from"]);

  // Presence follows the subscription: bob's updates reach alice.
  await bob.xmpp.send(xml("presence", {}, xml("status", {}, "on the phone")));
  const update = await alice.next((s) =>
    presence("bob@localhost/phone")(s) && s.getChildText("status") === "on the phone"
  );
  assert.equal(update.attrs.to, "alice@localhost");

  // And bob going away is seen as unavailable presence.
  await bob.xmpp.stop();
  await alice.next(presence("bob@localhost/phone", "unavailable"));
  await alice.xmpp.stop();
});

Deno.test("@xmpp/client gets the messages sent while it was offline, with delay stamps", async () => {
  await using t = await startTestServer({ tls: TLS });
  const alice = new Peer(t, "alice", "laptop");
  await alice.xmpp.start();
  for (const body of ["first", "second"]) {
    await alice.xmpp.send(
      xml("message", { to: "bob@localhost", type: "chat" }, xml("body", {}, body)),
    );
  }
  // The ping's answer comes after both messages were stored.
  await alice.xmpp.iqCaller.request(
    xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })),
  );
  assert.equal(alice.stanzas.filter((s) => s.is("message")).length, 0, "no error came back");

  const bob = new Peer(t, "bob", "phone");
  await bob.xmpp.start();
  await bob.xmpp.send(xml("presence"));
  const messages = () => bob.stanzas.filter((stanza) => stanza.is("message"));
  for (let waited = 0; messages().length < 2 && waited < 5000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Both, once each, in the order sent.
  assert.deepEqual(messages().map((message) => message.getChildText("body")), ["first", "second"]);
  for (const message of messages()) {
    assert.equal(message.attrs.from, "alice@localhost/laptop");
    const delay = message.getChild("delay", "urn:xmpp:delay");
    assert.equal(delay?.attrs.from, "localhost");
    assert.ok(Date.parse(delay?.attrs.stamp) > 0);
  }
  await alice.xmpp.stop();
  await bob.xmpp.stop();
});
