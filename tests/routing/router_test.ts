import assert from "node:assert/strict";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { Router, type RouterOptions } from "../../src/routing/router.ts";
import { SessionRegistry } from "../../src/routing/session_registry.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSession, xml } from "../im/_im_fixture.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function setup(options: Partial<RouterOptions<FakeSession>> = {}) {
  const sessions = new SessionRegistry<FakeSession>();
  const iq = new IqRegistry();
  const router = new Router<FakeSession>({
    domain: "example.com",
    sessions,
    iq,
    accountExists: (username) => Promise.resolve(username !== "nobody"),
    ...options,
  });
  const bind = (user: string, resource: string, priority?: number) => {
    const session = new FakeSession(`${user}@example.com`, resource);
    if (priority !== undefined) {
      session.available = true;
      session.priority = priority;
    }
    sessions.add(session);
    return session;
  };
  const send = (from: FakeSession, text: string) => {
    const stanza = xml(text);
    stanza.attrs.from = from.jid;
    router.route(from, stanza);
  };
  return { sessions, iq, router, bind, send };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function bodies(session: FakeSession): string[] {
  return session.take().map((s) => /<body>([^<]*)<\/body>/.exec(s)?.[1] ?? s);
}

Deno.test("Router delivers a bare-JID message to the highest non-negative priorities, headlines to all of them", async () => {
  const r = setup();
  const alice = r.bind("alice", "a", 0);
  const low = r.bind("bob", "low", 1);
  const high1 = r.bind("bob", "high1", 5);
  const high2 = r.bind("bob", "high2", 5);
  const hidden = r.bind("bob", "hidden", -1);
  const away = r.bind("bob", "bound-only"); // bound, no presence
  r.send(alice, "<message to='bob@example.com' type='chat'><body>chat</body></message>");
  r.send(alice, "<message to='Bob@Example.com' type='headline'><body>news</body></message>");
  await tick();
  assert.deepEqual(bodies(high1), ["chat", "news"]);
  assert.deepEqual(bodies(high2), ["chat", "news"]);
  assert.deepEqual(bodies(low), ["news"]);
  assert.deepEqual(bodies(hidden), []);
  assert.deepEqual(bodies(away), []);
  // A full JID reaches its session whatever its presence.
  r.send(alice, "<message to='bob@example.com/hidden'><body>psst</body></message>");
  r.send(alice, "<message to='bob@example.com/bound-only'><body>psst</body></message>");
  assert.deepEqual(bodies(hidden), ["psst"]);
  assert.deepEqual(bodies(away), ["psst"]);
});

Deno.test("Router hands normal and chat messages for an offline account to the offline hook", async () => {
  const calls: string[] = [];
  const answer: { error: StanzaError | undefined } = { error: undefined };
  let retry: (() => boolean) | undefined;
  const r = setup({
    offline: (_sender, stanza, username, again) => {
      calls.push(`${username}:${stanza.attrs.id}`);
      retry = again;
      return Promise.resolve(answer.error);
    },
  });
  const alice = r.bind("alice", "a", 0);
  const hidden = r.bind("bob", "hidden", -3);
  r.send(alice, "<message to='bob@example.com' id='1'><body>one</body></message>");
  r.send(alice, "<message to='bob@example.com/gone' type='chat' id='2'><body>two</body></message>");
  r.send(alice, "<message to='bob@example.com' type='headline' id='3'><body>x</body></message>");
  r.send(alice, "<message to='bob@example.com' type='groupchat' id='4'><body>x</body></message>");
  await tick();
  assert.deepEqual(calls, ["bob:1", "bob:2"]);
  assert.deepEqual(alice.take(), [
    `<message type="error" id="4" from="bob@example.com" to="alice@example.com/a">` +
    `<error type="cancel"><service-unavailable xmlns="${NS_STANZAS}"/></error></message>`,
  ]);
  assert.deepEqual(hidden.take(), []);
  // The retry delivers once a resource can take it.
  assert.equal(retry!(), false);
  hidden.priority = 0;
  assert.equal(retry!(), true);
  assert.equal(hidden.take().length, 1);
  // The hook's error is bounced to the sender.
  answer.error = new StanzaError("cancel", "service-unavailable");
  hidden.priority = -3;
  r.send(alice, "<message to='bob@example.com' id='5'><body>full</body></message>");
  await tick();
  assert.match(
    alice.take()[0]!,
    /^<message type="error" id="5" from="bob@example.com" .*<service-unavailable /,
  );
});

Deno.test("Router bounces what has no recipient: unknown accounts, other domains, bad JIDs, no hook", async () => {
  const r = setup({ unknownRecipient: () => new StanzaError("wait", "resource-constraint") });
  const alice = r.bind("alice", "a", 0);
  r.send(alice, "<message to='bob@example.com' id='1'><body>x</body></message>");
  r.send(alice, "<message to='nobody@example.com' id='2'><body>x</body></message>");
  r.send(alice, "<message to='romeo@example.net' id='3'><body>x</body></message>");
  r.send(alice, "<message to='a@b@c' id='4'><body>x</body></message>");
  r.send(alice, "<iq to='bob@example.com' type='get' id='5'><query xmlns='urn:x'/></iq>");
  await tick();
  const conditions = alice.take().map((s) =>
    /<error type="(\w+)"><([a-z-]+) /.exec(s)?.slice(1, 3).join(" ")
  );
  assert.deepEqual(conditions, [
    "cancel service-unavailable", // no offline hook
    "wait resource-constraint", // unknownRecipient's answer
    "cancel remote-server-not-found",
    "modify jid-malformed",
    "cancel service-unavailable",
  ]);
});

Deno.test("Router processes a sender's stanzas in order while one waits", async () => {
  const gate = Promise.withResolvers<void>();
  const r = setup();
  r.iq.set("host", "get", "urn:example:slow", "q", async () => {
    await gate.promise;
    return undefined;
  });
  const alice = r.bind("alice", "a", 0);
  const bob = r.bind("bob", "b", 0);
  r.send(alice, "<iq to='example.com' type='get' id='slow'><q xmlns='urn:example:slow'/></iq>");
  r.send(alice, "<message to='bob@example.com' id='after'><body>after</body></message>");
  // Another sender is not held up.
  r.send(bob, "<message to='alice@example.com/a' id='other'><body>other</body></message>");
  await tick();
  assert.deepEqual(bob.take(), []);
  assert.deepEqual(bodies(alice), ["other"]);
  gate.resolve();
  await tick();
  assert.deepEqual(alice.take(), [
    `<iq type="result" id="slow" from="example.com" to="alice@example.com/a"/>`,
  ]);
  assert.deepEqual(bodies(bob), ["after"]);
});

Deno.test("Router refuses stanzas beyond what may wait behind a slow one", async () => {
  const gate = Promise.withResolvers<void>();
  const r = setup();
  r.iq.set("host", "get", "urn:example:slow", "q", () => gate.promise.then(() => undefined));
  const alice = r.bind("alice", "a", 0);
  const bob = r.bind("bob", "b", 0);
  r.send(alice, "<iq to='example.com' type='get' id='slow'><q xmlns='urn:example:slow'/></iq>");
  for (let i = 0; i < 257; i++) {
    r.send(alice, `<message to='bob@example.com' id='m${i}'><body>${i}</body></message>`);
  }
  assert.deepEqual(alice.take(), [
    `<message type="error" id="m256" from="bob@example.com" to="alice@example.com/a">` +
    `<error type="wait"><resource-constraint xmlns="${NS_STANZAS}"/></error></message>`,
  ]);
  gate.resolve();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(bob.take().length, 256);
});

Deno.test("Router.afterReply() runs once the IQ reply is out", async () => {
  const r = setup();
  const alice = r.bind("alice", "a", 0);
  r.iq.set("account", "get", "urn:example", "q", (request) => {
    r.router.afterReply(request.stanza, () => alice.send(el("message", { id: "after" })));
    return el("q", { xmlns: "urn:example" });
  });
  r.send(alice, "<iq type='get' id='1'><q xmlns='urn:example'/></iq>");
  await tick();
  assert.deepEqual(alice.take(), [
    `<iq type="result" id="1" from="alice@example.com" to="alice@example.com/a"><q xmlns="urn:example"/></iq>`,
    `<message id="after"/>`,
  ]);
});

Deno.test("Router gives every presence to the presence hook, in order with the sender's other stanzas", async () => {
  const seen: string[] = [];
  const gate = Promise.withResolvers<void>();
  const r = setup({
    presence: (_sender, stanza: Element) => {
      seen.push(serialize(stanza, "jabber:client"));
      return stanza.attrs.id === "slow" ? gate.promise : undefined;
    },
  });
  const alice = r.bind("alice", "a", 0);
  const bob = r.bind("bob", "b", 0);
  r.send(alice, "<presence id='slow'/>");
  r.send(alice, "<presence to='bob@example.com' type='subscribe'/>");
  r.send(alice, "<message to='bob@example.com'><body>hi</body></message>");
  await tick();
  assert.equal(seen.length, 1);
  gate.resolve();
  await tick();
  assert.deepEqual(seen, [
    `<presence id="slow" from="alice@example.com/a"/>`,
    `<presence to="bob@example.com" type="subscribe" from="alice@example.com/a"/>`,
  ]);
  assert.deepEqual(bodies(bob), ["hi"]);
});

Deno.test("Router without a presence hook sends availability to the account's other resources", () => {
  const r = setup();
  const phone = r.bind("alice", "phone", 0);
  const laptop = r.bind("alice", "laptop");
  r.send(laptop, "<presence><priority>200</priority></presence>");
  assert.equal(laptop.available, true);
  assert.equal(laptop.priority, 127);
  assert.deepEqual(phone.take(), [
    `<presence from="alice@example.com/laptop"><priority>200</priority></presence>`,
  ]);
  assert.deepEqual(laptop.take(), []);
});
