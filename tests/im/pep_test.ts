import assert from "node:assert/strict";
import { DiscoInfo } from "../../src/im/disco.ts";
import {
  decodeItem,
  encodeItem,
  NODE_AVATAR_DATA,
  NODE_AVATAR_METADATA,
  NODE_NICK,
  parsePublishOptions,
  Pep,
  type PepOptions,
} from "../../src/im/pep.ts";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import type { ImStoreLimits } from "../../src/storage/im_store.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { type FakeSession, FakeSessions, ROSTER_ITEM } from "./_fake_sessions.ts";

const PUBSUB = "http://jabber.org/protocol/pubsub";
const ERRORS = "http://jabber.org/protocol/pubsub#errors";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

function setup(limits: ImStoreLimits = {}, options: PepOptions<FakeSession> = {}) {
  const store = new MemoryImStore(limits);
  const sessions = new FakeSessions();
  let ids = 0;
  const pep = new Pep({ domain: "x", sessions, store: () => store, clock: { now: () => 0 } }, {
    id: () => `id${++ids}`,
    ...options,
  });
  const own = new IqRegistry();
  const peers = new IqRegistry();
  const info = new DiscoInfo();
  pep.registerAccount(own, info);
  pep.registerPeer(peers);
  const publish = (from: string, node: string, item: Element | undefined, extra: Element[] = []) =>
    own.handle(
      "account",
      el(
        "iq",
        { xmlns: "jabber:client", type: "set", id: "p1", from },
        el("pubsub", { xmlns: PUBSUB }, el("publish", { node }, item), ...extra),
      ),
      from.split("/")[0]!,
    ).then(wire);
  const retrieve = (from: string, owner: string, items: Element) => {
    const registry = from.startsWith(owner + "/") ? own : peers;
    return registry.handle(
      "account",
      el(
        "iq",
        { xmlns: "jabber:client", type: "get", id: "g1", from, to: owner },
        el("pubsub", { xmlns: PUBSUB }, items),
      ),
      owner,
    ).then(wire);
  };
  return { store, sessions, pep, own, peers, info, publish, retrieve };
}

function wire(stanza: Element | undefined): string {
  return stanza === undefined ? "" : serialize(stanza, "jabber:client");
}

function nick(text: string, id = "current"): Element {
  return el("item", { id }, el("nick", { xmlns: NODE_NICK }, text));
}

function form(fields: Record<string, string>): Element {
  return el(
    "publish-options",
    {},
    el(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      el(
        "field",
        { var: "FORM_TYPE", type: "hidden" },
        el("value", {}, "http://jabber.org/protocol/pubsub#publish-options"),
      ),
      ...Object.entries(fields).map(([name, value]) =>
        el("field", { var: name }, el("value", {}, value))
      ),
    ),
  );
}

async function friends(store: MemoryImStore): Promise<void> {
  // Romeo sees Juliet's presence; Paris does not (he is only subscribed the other way).
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "romeo@x", subscription: "both" });
  await store.putRosterItem("juliet", { ...ROSTER_ITEM, jid: "paris@x", subscription: "to" });
  await store.putRosterItem("romeo", { ...ROSTER_ITEM, jid: "juliet@x", subscription: "both" });
}

Deno.test("encodeItem() and decodeItem() keep the access model with the payload", () => {
  for (const access of ["presence", "open", "whitelist"] as const) {
    assert.deepEqual(decodeItem(encodeItem(`<a xmlns="u">open\n</a>`, access)), {
      access,
      payload: `<a xmlns="u">open\n</a>`,
    });
  }
});

Deno.test("parsePublishOptions() accepts the options clients send and refuses the others", () => {
  assert.deepEqual(parsePublishOptions(undefined), {});
  assert.deepEqual(
    parsePublishOptions(form({
      "pubsub#persist_items": "true",
      "pubsub#max_items": "max",
      "pubsub#send_last_published_item": "never",
      "pubsub#access_model": "whitelist",
    })),
    { maxItems: "max", access: "whitelist" },
  );
  assert.deepEqual(parsePublishOptions(form({ "pubsub#max_items": "10" })), { maxItems: 10 });
  const refusal = (fields: Record<string, string>) => {
    const error = parsePublishOptions(form(fields));
    assert.ok(error instanceof StanzaError);
    return `${error.condition}/${error.appCondition}`;
  };
  assert.equal(refusal({ "pubsub#access_model": "roster" }), "conflict/precondition-not-met");
  assert.equal(refusal({ "pubsub#persist_items": "false" }), "conflict/precondition-not-met");
  assert.equal(refusal({ "pubsub#title": "x" }), "conflict/precondition-not-met");
  assert.equal(refusal({ "pubsub#max_items": "-1" }), "bad-request/invalid-options");
  const wrongType = parsePublishOptions(
    el("publish-options", {}, el("x", { xmlns: "jabber:x:data" })),
  );
  assert.ok(wrongType instanceof StanzaError && wrongType.appCondition === "invalid-options");
});

Deno.test("Pep publishes, answers with the item id and notifies own and subscribed resources", async () => {
  const { store, sessions, info, publish } = setup();
  using _store = store;
  await friends(store);
  const balcony = sessions.add("juliet@x/balcony");
  const chamber = sessions.add("juliet@x/chamber", false);
  const garden = sessions.add("romeo@x/garden");
  const home = sessions.add("paris@x/home");
  assert.ok(wire(info.toElement()).includes(`<feature var="${PUBSUB}#publish-options"/>`));
  assert.equal(
    await publish("juliet@x/balcony", NODE_NICK, nick("Jule")),
    `<iq type="result" id="p1" from="juliet@x" to="juliet@x/balcony"><pubsub xmlns="${PUBSUB}">` +
      `<publish node="${NODE_NICK}"><item id="current"/></publish></pubsub></iq>`,
  );
  const event = (to: string, id: string) =>
    `<message from="juliet@x" to="${to}" type="headline" id="${id}">` +
    `<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="${NODE_NICK}">` +
    `<item id="current"><nick xmlns="${NODE_NICK}">Jule</nick></item></items></event></message>`;
  assert.deepEqual(balcony.take(), [event("juliet@x/balcony", "id1")]);
  assert.deepEqual(garden.take(), [event("romeo@x/garden", "id2")]);
  assert.deepEqual(chamber.take(), []);
  assert.deepEqual(home.take(), []);
  assert.equal((await store.getPepItems("juliet", NODE_NICK)).length, 1);
});

Deno.test("Pep keeps one item per node unless publish-options ask for more", async () => {
  const { store, publish } = setup();
  using _store = store;
  await publish("juliet@x/r", NODE_NICK, nick("One", "1"));
  await publish("juliet@x/r", NODE_NICK, nick("Two", "2"));
  assert.deepEqual((await store.getPepItems("juliet", NODE_NICK)).map((i) => i.id), ["2"]);
  const options = [form({ "pubsub#max_items": "max" })];
  await publish("juliet@x/r", "urn:example:list", nick("a", "a"), options);
  await publish("juliet@x/r", "urn:example:list", nick("b", "b"), options);
  assert.deepEqual((await store.getPepItems("juliet", "urn:example:list")).map((i) => i.id), [
    "b",
    "a",
  ]);
});

Deno.test("Pep generates an item id when the publisher gives none", async () => {
  const { store, publish } = setup();
  using _store = store;
  const reply = await publish(
    "juliet@x/r",
    NODE_NICK,
    el("item", {}, el("nick", { xmlns: NODE_NICK }, "J")),
  );
  assert.match(reply, /<item id="id1"\/>/);
});

Deno.test("Pep tells contacts only about the nodes they want; avatar data reaches own resources", async () => {
  const interested = new Set([NODE_AVATAR_DATA]);
  const { store, sessions, publish } = setup({}, {
    interests: (session) => session.resourceKey === "picky" ? interested : undefined,
  });
  using _store = store;
  await friends(store);
  const balcony = sessions.add("juliet@x/balcony");
  const garden = sessions.add("romeo@x/garden");
  const picky = sessions.add("romeo@x/picky");
  const data = el("item", { id: "abc" }, el("data", { xmlns: NODE_AVATAR_DATA }, "iVBOR"));
  await publish("juliet@x/balcony", NODE_AVATAR_DATA, data);
  assert.equal(balcony.take().length, 1);
  assert.deepEqual(garden.take(), []);
  assert.equal(picky.take().length, 1);
  const metadata = el("item", { id: "abc" }, el("metadata", { xmlns: NODE_AVATAR_METADATA }));
  await publish("juliet@x/balcony", NODE_AVATAR_METADATA, metadata);
  assert.equal(garden.take().length, 1);
  assert.deepEqual(picky.take(), []);
});

Deno.test("Pep does not notify or serve contacts blocked either way", async () => {
  const { store, sessions, publish, retrieve } = setup({}, {
    blocked: (a, b) => [a, b].includes("romeo@x"),
  });
  using _store = store;
  await friends(store);
  const garden = sessions.add("romeo@x/garden");
  await publish("juliet@x/r", NODE_NICK, nick("Jule"));
  assert.deepEqual(garden.take(), []);
  assert.match(
    await retrieve("romeo@x/garden", "juliet@x", el("items", { node: NODE_NICK })),
    /<item-not-found /,
  );
});

Deno.test("Pep serves items by access model: presence, open and whitelist", async () => {
  const { store, publish, retrieve } = setup();
  using _store = store;
  await friends(store);
  await publish("juliet@x/r", NODE_NICK, nick("Jule"));
  await publish("juliet@x/r", "urn:example:open", nick("Open"), [
    form({ "pubsub#access_model": "open" }),
  ]);
  await publish("juliet@x/r", "urn:example:private", nick("Mine"), [
    form({ "pubsub#access_model": "whitelist" }),
  ]);
  assert.equal(
    await retrieve("romeo@x/garden", "juliet@x", el("items", { node: NODE_NICK })),
    `<iq type="result" id="g1" from="juliet@x" to="romeo@x/garden"><pubsub xmlns="${PUBSUB}">` +
      `<items node="${NODE_NICK}"><item id="current"><nick xmlns="${NODE_NICK}">Jule</nick></item>` +
      `</items></pubsub></iq>`,
  );
  assert.equal(
    await retrieve("paris@x/home", "juliet@x", el("items", { node: NODE_NICK })),
    `<iq type="error" id="g1" from="juliet@x" to="paris@x/home"><error type="auth">` +
      `<not-authorized xmlns="${STANZAS}"/><presence-subscription-required xmlns="${ERRORS}"/>` +
      `</error></iq>`,
  );
  assert.match(
    await retrieve("paris@x/home", "juliet@x", el("items", { node: "urn:example:open" })),
    /Open/,
  );
  assert.equal(
    await retrieve("romeo@x/garden", "juliet@x", el("items", { node: "urn:example:private" })),
    `<iq type="error" id="g1" from="juliet@x" to="romeo@x/garden"><error type="cancel">` +
      `<not-allowed xmlns="${STANZAS}"/><closed-node xmlns="${ERRORS}"/></error></iq>`,
  );
  assert.match(
    await retrieve("juliet@x/r", "juliet@x", el("items", { node: "urn:example:private" })),
    /Mine/,
  );
  assert.match(
    await retrieve("romeo@x/garden", "juliet@x", el("items", { node: "urn:example:none" })),
    /<item-not-found /,
  );
});

Deno.test("Pep keeps a node's access model when a later publish gives no options", async () => {
  const { store, publish, retrieve } = setup();
  using _store = store;
  await friends(store);
  await publish("juliet@x/r", "urn:example:secret", nick("1", "1"), [
    form({ "pubsub#access_model": "whitelist" }),
  ]);
  await publish("juliet@x/r", "urn:example:secret", nick("2", "2"));
  assert.match(
    await retrieve("romeo@x/garden", "juliet@x", el("items", { node: "urn:example:secret" })),
    /<closed-node /,
  );
});

Deno.test("Pep retrieves by item id and by max_items", async () => {
  const { store, publish, retrieve } = setup();
  using _store = store;
  const options = [form({ "pubsub#max_items": "5" })];
  for (const id of ["a", "b", "c"]) {
    await publish("juliet@x/r", "urn:example:n", nick(id, id), options);
  }
  const ids = (xml: string) => [...xml.matchAll(/<item id="(\w)"/g)].map((m) => m[1]);
  assert.deepEqual(
    ids(await retrieve("juliet@x/r", "juliet@x", el("items", { node: "urn:example:n" }))),
    ["c", "b", "a"],
  );
  assert.deepEqual(
    ids(
      await retrieve(
        "juliet@x/r",
        "juliet@x",
        el("items", { node: "urn:example:n", max_items: "2" }),
      ),
    ),
    ["c", "b"],
  );
  assert.deepEqual(
    ids(
      await retrieve(
        "juliet@x/r",
        "juliet@x",
        el("items", { node: "urn:example:n" }, el("item", { id: "a" }), el("item", { id: "z" })),
      ),
    ),
    ["a"],
  );
});

Deno.test("Pep refuses malformed publishes with the XEP-0060 errors", async () => {
  const { store, publish } = setup();
  using _store = store;
  const error = async (node: string, item: Element | undefined, extra: Element[] = []) =>
    /<error type="(\w+)"><([\w-]+) [^>]*\/>(?:<text[^>]*>[^<]*<\/text>)?(?:<([\w-]+) xmlns="[^"]+"\/>)?/
      .exec(await publish("juliet@x/r", node, item, extra))?.slice(1).join(" ");
  assert.equal(await error(NODE_NICK, undefined), "modify bad-request item-required");
  assert.equal(
    await error(NODE_NICK, el("item", { id: "1" })),
    "modify bad-request payload-required",
  );
  assert.equal(
    await error(
      NODE_NICK,
      el("item", { id: "1" }, el("a", { xmlns: "u" }), el("b", { xmlns: "u" })),
    ),
    "modify bad-request invalid-payload",
  );
  assert.equal(await error("", nick("J")), "modify bad-request nodeid-required");
  assert.equal(
    await error(NODE_NICK, nick("J"), [form({ "pubsub#access_model": "authorize" })]),
    "cancel conflict precondition-not-met",
  );
  assert.equal((await store.listPepNodes("juliet")).length, 0);
});

Deno.test("Pep refuses items over the store's size and node limits", async () => {
  const { store, publish } = setup({ maxPepPayloadBytes: 100, maxPepNodes: 1 });
  using _store = store;
  assert.match(
    await publish("juliet@x/r", NODE_NICK, nick("x".repeat(200))),
    new RegExp(
      `<error type="modify"><not-acceptable xmlns="${STANZAS}"/><text xmlns="${STANZAS}">` +
        `A PEP item may take at most 100 bytes</text><payload-too-big xmlns="${ERRORS}"/></error>`,
    ),
  );
  await publish("juliet@x/r", NODE_NICK, nick("J"));
  assert.match(
    await publish("juliet@x/r", "urn:example:second", nick("J")),
    /<error type="cancel"><not-allowed [^>]*\/><text [^>]*>An account may have at most 1 PEP nodes<\/text><max-nodes-exceeded /,
  );
});

Deno.test("Pep asks the amplification limit before notifying contacts, not for whitelisted nodes", async () => {
  const asked: string[] = [];
  const { store, publish } = setup({}, {
    limit: (owner) => {
      asked.push(owner);
      return new StanzaError("wait", "resource-constraint", { text: "slow down" });
    },
  });
  using _store = store;
  assert.match(await publish("juliet@x/r", NODE_NICK, nick("J")), /<resource-constraint /);
  assert.equal((await store.listPepNodes("juliet")).length, 0);
  assert.match(
    await publish("juliet@x/r", "urn:example:p", nick("J"), [
      form({ "pubsub#access_model": "whitelist" }),
    ]),
    /type="result"/,
  );
  assert.deepEqual(asked, ["juliet@x"]);
});

Deno.test("Pep retracts an item and notifies when asked to", async () => {
  const { store, sessions, own, publish } = setup();
  using _store = store;
  await friends(store);
  await publish("juliet@x/r", NODE_NICK, nick("J"));
  const garden = sessions.add("romeo@x/garden");
  const retract = (id: string) =>
    own.handle(
      "account",
      el(
        "iq",
        { xmlns: "jabber:client", type: "set", id: "r1", from: "juliet@x/r" },
        el(
          "pubsub",
          { xmlns: PUBSUB },
          el("retract", { node: NODE_NICK, notify: "true" }, el("item", { id })),
        ),
      ),
      "juliet@x",
    ).then(wire);
  assert.equal(
    await retract("current"),
    `<iq type="result" id="r1" from="juliet@x" to="juliet@x/r"/>`,
  );
  assert.deepEqual(garden.take(), [
    `<message from="juliet@x" to="romeo@x/garden" type="headline" id="id1">` +
    `<event xmlns="http://jabber.org/protocol/pubsub#event"><items node="${NODE_NICK}">` +
    `<retract id="current"/></items></event></message>`,
  ]);
  assert.match(await retract("current"), /<item-not-found /);
});

Deno.test("Pep refuses pubsub features it does not offer on accounts", async () => {
  const { store, own } = setup();
  using _store = store;
  const reply = await own.handle(
    "account",
    el(
      "iq",
      { xmlns: "jabber:client", type: "set", id: "s1", from: "juliet@x/r" },
      el("pubsub", { xmlns: PUBSUB }, el("subscribe", { node: NODE_NICK, jid: "juliet@x" })),
    ),
    "juliet@x",
  );
  assert.match(
    wire(reply),
    /<feature-not-implemented [^>]*\/><text [^>]*>Pubsub 'subscribe' is not supported on accounts<\/text><unsupported /,
  );
});

Deno.test("Pep.sendLastItems() sends own nodes and contacts' interesting nodes to a new session", async () => {
  const { store, sessions, pep, publish } = setup();
  using _store = store;
  await friends(store);
  await publish("juliet@x/r", NODE_NICK, nick("Jule"));
  await publish("juliet@x/r", "urn:example:mine", nick("Mine"), [
    form({ "pubsub#access_model": "whitelist" }),
  ]);
  await publish("romeo@x/r", NODE_NICK, nick("Romeo"));
  await publish(
    "romeo@x/r",
    NODE_AVATAR_DATA,
    el("item", { id: "d" }, el("data", { xmlns: NODE_AVATAR_DATA }, "AA")),
  );
  const balcony = sessions.add("juliet@x/balcony");
  await pep.sendLastItems(balcony);
  const got = balcony.take();
  assert.equal(got.length, 3);
  assert.match(got[0]!, /from="juliet@x" to="juliet@x\/balcony".*Jule/);
  assert.match(got[1]!, /from="juliet@x" .*Mine/);
  assert.match(got[2]!, /from="romeo@x" to="juliet@x\/balcony".*Romeo/);
});

Deno.test("Pep.sendLastItems() takes the roster from the roster option when given", async () => {
  const asked: string[] = [];
  const { store, sessions, pep, publish } = setup({}, {
    roster: (username) => {
      asked.push(username);
      // Not the store's roster: Romeo is a contact here only.
      return Promise.resolve({
        version: 1,
        items: [{ ...ROSTER_ITEM, jid: "romeo@x", subscription: "to" }],
      });
    },
  });
  using _store = store;
  await publish("romeo@x/r", NODE_NICK, nick("Romeo"));
  const balcony = sessions.add("juliet@x/balcony");
  await pep.sendLastItems(balcony);
  const got = balcony.take();
  assert.equal(got.length, 1);
  assert.match(got[0]!, /from="romeo@x" to="juliet@x\/balcony".*Romeo/);
  assert.deepEqual(asked, ["juliet"]);
});

Deno.test("Pep lists the nodes a requester may read in account disco", async () => {
  const { store, pep, publish } = setup();
  using _store = store;
  await friends(store);
  await publish("juliet@x/r", NODE_NICK, nick("J"));
  await publish("juliet@x/r", "urn:example:mine", nick("M"), [
    form({ "pubsub#access_model": "whitelist" }),
  ]);
  const provider = pep.discoProvider();
  const query = (requester: string, node?: string) => ({
    username: "juliet",
    owner: "juliet@x",
    requester,
    node,
  });
  assert.deepEqual(await provider.items!(query("romeo@x")), [{ jid: "juliet@x", node: NODE_NICK }]);
  assert.equal((await provider.items!(query("juliet@x"))).length, 2);
  assert.equal(
    wire(await provider.nodeInfo!(query("romeo@x", NODE_NICK))),
    `<query xmlns="http://jabber.org/protocol/disco#info" node="${NODE_NICK}">` +
      `<identity category="pubsub" type="leaf"/><feature var="${PUBSUB}"/></query>`,
  );
  assert.equal(await provider.nodeInfo!(query("romeo@x", "urn:example:mine")), undefined);
});
