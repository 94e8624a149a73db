import assert from "node:assert/strict";
import { OfflineMessages } from "../../src/im/offline.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

const STAMP = Date.UTC(2002, 8, 10, 23, 8, 25);

function message(id: string, ...children: Element[]): Element {
  return el(
    "message",
    { xmlns: "jabber:client", from: "romeo@example.net/orchard", to: "juliet@example.com", id },
    ...children,
  );
}

function body(text: string): Element {
  return el("body", {}, text);
}

Deno.test("OfflineMessages.take() returns stored messages oldest first with a delay stamp, once", async () => {
  const store = new MemoryImStore();
  let now = STAMP;
  const offline = new OfflineMessages({ domain: "example.com", store, wallClock: () => now });
  assert.equal(await offline.store("juliet", message("m1", body("one"))), "stored");
  now += 61_500;
  assert.equal(await offline.store("juliet", message("m2", body("two & more"))), "stored");
  const taken = await offline.take("juliet");
  assert.deepEqual(taken.map((m) => serialize(m, "jabber:client")), [
    `<message from="romeo@example.net/orchard" to="juliet@example.com" id="m1"><body>one</body>` +
    `<delay xmlns="urn:xmpp:delay" from="example.com" stamp="2002-09-10T23:08:25.000Z"/></message>`,
    `<message from="romeo@example.net/orchard" to="juliet@example.com" id="m2"><body>two &amp; more</body>` +
    `<delay xmlns="urn:xmpp:delay" from="example.com" stamp="2002-09-10T23:09:26.500Z"/></message>`,
  ]);
  assert.deepEqual(await offline.take("juliet"), []);
  assert.equal(await store.countOffline("juliet"), 0);
});

Deno.test("OfflineMessages.store() keeps at most the quota, or the store's own limit without one", async () => {
  const store = new MemoryImStore({ maxOfflineMessages: 3 });
  const offline = new OfflineMessages({ domain: "example.com", store });
  assert.equal(await offline.store("juliet", message("a", body("a")), 2), "stored");
  assert.equal(await offline.store("juliet", message("b", body("b")), 2), "stored");
  assert.equal(await offline.store("juliet", message("c", body("c")), 2), "full");
  assert.equal(await offline.store("juliet", message("c", body("c"))), "stored");
  assert.equal(await offline.store("juliet", message("d", body("d"))), "full");
  assert.equal(await store.countOffline("juliet"), 3);
  assert.equal(await offline.store("nurse", message("e", body("e")), 0), "full");
});

Deno.test("OfflineMessages.store() refuses no-store hints and drops bare chat states", async () => {
  const store = new MemoryImStore();
  const offline = new OfflineMessages({ domain: "example.com", store });
  const hint = (name: string) => el(name, { xmlns: "urn:xmpp:hints" });
  const state = (name: string) => el(name, { xmlns: "http://jabber.org/protocol/chatstates" });
  assert.equal(
    await offline.store("juliet", message("h1", body("x"), hint("no-store"))),
    "refused",
  );
  assert.equal(
    await offline.store("juliet", message("h2", body("x"), hint("no-permanent-store"))),
    "refused",
  );
  assert.equal(await offline.store("juliet", message("s1", state("composing"))), "dropped");
  assert.equal(await offline.store("juliet", message("s2", state("active"), body("hi"))), "stored");
  assert.equal(
    await offline.store("juliet", message("r1", el("received", { xmlns: "urn:xmpp:receipts" }))),
    "stored",
  );
  assert.equal(await store.countOffline("juliet"), 2);
});

Deno.test("OfflineMessages.take() skips a stored row that is not XML instead of failing", async () => {
  const store = new MemoryImStore();
  await store.addOffline("juliet", { stamp: STAMP, stanza: "<message><body>cut" });
  const offline = new OfflineMessages({ domain: "example.com", store });
  await offline.store("juliet", message("ok", body("fine")));
  const taken = await offline.take("juliet");
  assert.deepEqual(taken.map((m) => m.attrs.id), ["ok"]);
});

Deno.test("OfflineMessages.store() with a quota of 0 answers full without a store transaction", async () => {
  const store = new MemoryImStore();
  let calls = 0;
  const counted = Object.assign(Object.create(store), {
    addOffline(...args: Parameters<MemoryImStore["addOffline"]>) {
      calls++;
      return store.addOffline(...args);
    },
  }) as MemoryImStore;
  const offline = new OfflineMessages({ domain: "example.com", store: counted });
  assert.equal(await offline.store("juliet", message("a", body("a")), 0), "full");
  assert.equal(calls, 0);
  assert.equal(await offline.store("juliet", message("b", body("b")), 1), "stored");
  assert.equal(calls, 1);
});
