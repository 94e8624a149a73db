// The behaviour every ImStore implementation shares, registered as Deno tests
// for one implementation at a time (memory_im_store_test.ts,
// sqlite_im_store_test.ts).

import assert from "node:assert/strict";
import { Roster } from "../../src/im/roster.ts";
import { outboundSubscription, subscriptionState } from "../../src/im/subscription.ts";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import type { ImStore, ImStoreLimits, RosterItem } from "../../src/storage/im_store.ts";

type Factory = (limits?: ImStoreLimits) => ImStore & Disposable;

function item(jid: string, fields: Partial<RosterItem> = {}): RosterItem {
  return {
    jid,
    groups: [],
    subscription: "none",
    ask: false,
    approved: false,
    version: 1,
    ...fields,
  };
}

/** Registers the shared tests for the store `name` builds with `create`. */
export function imStoreContract(name: string, create: Factory): void {
  const test = (title: string, body: () => Promise<void>) => Deno.test(`${name} ${title}`, body);

  test("returns an empty roster at version 0 for an unknown account", async () => {
    using store = create();
    assert.deepEqual(await store.getRoster("juliet"), { version: 0, items: [] });
  });

  test("round-trips roster items exactly, ordered by JID, per account", async () => {
    using store = create();
    const romeo = item("romeo@example.net", {
      name: "Romeo",
      groups: ["Lovers", "Friends"],
      subscription: "both",
      version: 2,
    });
    const nurse = item("nurse@example.com", { ask: true, approved: true, version: 3 });
    await store.putRosterItem("juliet", romeo);
    await store.putRosterItem("juliet", nurse);
    await store.putRosterItem("romeo", item("juliet@example.com", { version: 1 }));
    const roster = await store.getRoster("juliet");
    assert.deepEqual(roster, { version: 3, items: [nurse, romeo] });
    assert.equal("name" in roster.items[0]!, false, "no name key for an unnamed item");
    assert.deepEqual(await store.getRoster("romeo"), {
      version: 1,
      items: [item("juliet@example.com", { version: 1 })],
    });
  });

  test("replaces an item and never lowers the roster version", async () => {
    using store = create();
    await store.putRosterItem("juliet", item("romeo@example.net", { name: "R", version: 5 }));
    await store.putRosterItem("juliet", item("romeo@example.net", { groups: ["G"], version: 4 }));
    assert.deepEqual(await store.getRoster("juliet"), {
      version: 5,
      items: [item("romeo@example.net", { groups: ["G"], version: 4 })],
    });
  });

  test("removes roster items and raises the version either way", async () => {
    using store = create();
    await store.putRosterItem("juliet", item("romeo@example.net", { version: 1 }));
    assert.equal(await store.removeRosterItem("juliet", "romeo@example.net", 2), true);
    assert.equal(await store.removeRosterItem("juliet", "romeo@example.net", 3), false);
    assert.deepEqual(await store.getRoster("juliet"), { version: 3, items: [] });
    await assert.rejects(store.removeRosterItem("juliet", "x@example.net", -1), TypeError);
  });

  test("rejects malformed roster items and stores nothing", async () => {
    using store = create();
    await assert.rejects(
      store.putRosterItem("juliet", item("romeo@example.net", { subscription: "all" as "none" })),
      {
        name: "TypeError",
        message: "Cannot store roster item 'romeo@example.net': it is malformed",
      },
    );
    await assert.rejects(store.putRosterItem("juliet", item("")), TypeError);
    await assert.rejects(
      store.putRosterItem("juliet", item("a@example.net", { version: 1.5 })),
      TypeError,
    );
    assert.deepEqual(await store.getRoster("juliet"), { version: 0, items: [] });
  });

  test("keeps what a Roster model changes, so a reloaded model is identical", async () => {
    using store = create();
    const roster = new Roster(await store.getRoster("juliet"), { owner: "juliet@example.com" });
    const persist = async (change: ReturnType<Roster["setItem"]> | undefined) => {
      assert.ok(change !== undefined && !(change instanceof StanzaError));
      if (change.item === undefined) {
        await store.removeRosterItem("juliet", change.jid, change.version);
      } else await store.putRosterItem("juliet", change.item);
    };
    await persist(roster.setItem({ jid: "romeo@example.net", name: "Romeo", groups: ["Friends"] }));
    await persist(roster.setItem({ jid: "nurse@example.com" }));
    const subscribe = outboundSubscription(
      subscriptionState(roster.get("romeo@example.net")),
      "subscribe",
    );
    await persist(roster.applySubscription("romeo@example.net", subscribe.state));
    await persist(roster.removeItem("nurse@example.com"));
    const reloaded = new Roster(await store.getRoster("juliet"));
    assert.equal(reloaded.version, 4);
    assert.deepEqual(reloaded.items(), roster.items());
  });

  test("keeps one pending subscription request per JID, oldest first, bounded", async () => {
    using store = create({ maxPendingSubscriptions: 2, maxPendingStanzaBytes: 32 });
    const a = { jid: "a@example.com", stanza: "<presence type='subscribe'/>" };
    const b = { jid: "b@example.com", stanza: "<presence/>" };
    assert.equal(await store.putPendingSubscription("juliet", a), true);
    assert.equal(await store.putPendingSubscription("juliet", b), true);
    assert.equal(
      await store.putPendingSubscription("juliet", { jid: "c@example.com", stanza: "<p/>" }),
      false,
      "a third JID is over the limit",
    );
    const a2 = { jid: "a@example.com", stanza: "<presence id='2'/>" };
    assert.equal(await store.putPendingSubscription("juliet", a2), true, "replacing is allowed");
    assert.deepEqual(await store.getPendingSubscriptions("juliet"), [a2, b]);
    assert.equal(
      await store.putPendingSubscription("romeo", { jid: "a@example.com", stanza: "x".repeat(33) }),
      false,
      "a stanza over maxPendingStanzaBytes",
    );
    assert.equal(await store.removePendingSubscription("juliet", "a@example.com"), true);
    assert.equal(await store.removePendingSubscription("juliet", "a@example.com"), false);
    assert.deepEqual(await store.getPendingSubscriptions("juliet"), [b]);
    assert.deepEqual(await store.getPendingSubscriptions("romeo"), []);
  });

  test("lists pending subscription requests in arrival order, not JID order", async () => {
    using store = create();
    const z = { jid: "z@example.com", stanza: "<presence type='subscribe'/>" };
    const a = { jid: "a@example.com", stanza: "<presence type='subscribe'/>" };
    const m = { jid: "m@example.com", stanza: "<presence type='subscribe'/>" };
    for (const request of [z, a, m]) await store.putPendingSubscription("juliet", request);
    assert.deepEqual(await store.getPendingSubscriptions("juliet"), [z, a, m]);
  });

  test("stores offline messages up to the quota and hands them over once", async () => {
    using store = create({ maxOfflineMessages: 2 });
    assert.equal(
      await store.addOffline("juliet", { stamp: 10, stanza: "<message id='1'/>" }),
      true,
    );
    assert.equal(
      await store.addOffline("juliet", { stamp: 11, stanza: "<message id='2'/>" }),
      true,
    );
    assert.equal(
      await store.addOffline("juliet", { stamp: 12, stanza: "<message id='3'/>" }),
      false,
    );
    assert.equal(
      await store.addOffline("juliet", { stamp: 12, stanza: "<m/>" }, { maxMessages: 3 }),
      true,
      "a per-account quota overrides the default",
    );
    assert.equal(await store.addOffline("romeo", { stamp: 13, stanza: "<m/>" }), true);
    assert.equal(await store.countOffline("juliet"), 3);
    const taken = await store.takeOffline("juliet");
    assert.deepEqual(taken.map((m) => [m.stamp, m.stanza]), [
      [10, "<message id='1'/>"],
      [11, "<message id='2'/>"],
      [12, "<m/>"],
    ]);
    assert.ok(taken[0]!.id < taken[1]!.id && taken[1]!.id < taken[2]!.id, "ids increase");
    assert.deepEqual(await store.takeOffline("juliet"), []);
    assert.equal(await store.countOffline("juliet"), 0);
    assert.equal(await store.countOffline("romeo"), 1);
    assert.equal(
      await store.addOffline("juliet", { stamp: 1, stanza: "<m/>" }, { maxMessages: 0 }),
      false,
    );
    await assert.rejects(
      store.addOffline("juliet", { stamp: Number.NaN, stanza: "<m/>" }),
      TypeError,
    );
  });

  test("stores one vCard per account within maxVcardBytes (UTF-8)", async () => {
    using store = create({ maxVcardBytes: 4 });
    assert.equal(await store.putVcard("juliet", "éé"), true, "exactly 4 bytes");
    assert.equal(await store.getVcard("juliet"), "éé");
    assert.equal(await store.putVcard("juliet", "ééa"), false, "5 bytes");
    assert.equal(await store.getVcard("juliet"), "éé", "a refused vCard changes nothing");
    assert.equal(await store.putVcard("juliet", "abcd"), true);
    assert.equal(await store.getVcard("juliet"), "abcd");
    assert.equal(await store.getVcard("romeo"), undefined);
    assert.equal(await store.removeVcard("juliet"), true);
    assert.equal(await store.removeVcard("juliet"), false);
    assert.equal(await store.getVcard("juliet"), undefined);
  });

  test("keeps the newest PEP items of a node, a republished id becoming the newest", async () => {
    using store = create({ maxPepItemsPerNode: 3 });
    const put = (id: string, maxItems?: number) =>
      store.putPepItem(
        "juliet",
        { node: "n", id, payload: `<p id='${id}'/>` },
        maxItems === undefined ? {} : { maxItems },
      );
    for (const id of ["1", "2", "3"]) assert.equal(await put(id), true);
    await put("1");
    const ids = async () => (await store.getPepItems("juliet", "n")).map((i) => i.id);
    assert.deepEqual(await ids(), ["1", "3", "2"]);
    await put("4", 10); // capped to 3 by the store
    assert.deepEqual(await ids(), ["4", "1", "3"]);
    await put("5", 2);
    assert.deepEqual(await ids(), ["5", "4"]);
    assert.deepEqual(await store.getPepItems("juliet", "n", 1), [
      { node: "n", id: "5", payload: "<p id='5'/>" },
    ]);
    assert.deepEqual(await store.getPepItem("juliet", "n", "4"), {
      node: "n",
      id: "4",
      payload: "<p id='4'/>",
    });
    assert.equal(await store.getPepItem("juliet", "n", "1"), undefined);
    await assert.rejects(put("6", 0), RangeError);
  });

  test("bounds PEP payloads and nodes per account", async () => {
    using store = create({ maxPepNodes: 2, maxPepPayloadBytes: 9 });
    const put = (node: string, payload = "<a/>") =>
      store.putPepItem("juliet", { node, id: "current", payload });
    assert.equal(await put("a"), true);
    assert.equal(await put("b"), true);
    assert.equal(await put("c"), false, "a third node");
    assert.equal(await put("a", "<b>é</b>"), true, "9 bytes");
    assert.equal(await put("a", "<b>éé</b>"), false, "11 bytes");
    assert.equal((await store.getPepItem("juliet", "a", "current"))?.payload, "<b>é</b>");
    assert.equal(await store.putPepItem("romeo", { node: "c", id: "1", payload: "<a/>" }), true);
    assert.deepEqual(await store.listPepNodes("juliet"), ["a", "b"]);
  });

  test("retracts PEP items and deletes nodes", async () => {
    using store = create();
    for (const id of ["1", "2"]) {
      await store.putPepItem("juliet", { node: "urn:xmpp:avatar:data", id, payload: "<data/>" });
    }
    await store.putPepItem("juliet", {
      node: "http://jabber.org/protocol/nick",
      id: "x",
      payload: "<nick/>",
    });
    assert.deepEqual(await store.listPepNodes("juliet"), [
      "http://jabber.org/protocol/nick",
      "urn:xmpp:avatar:data",
    ]);
    assert.equal(await store.removePepItem("juliet", "urn:xmpp:avatar:data", "1"), true);
    assert.equal(await store.removePepItem("juliet", "urn:xmpp:avatar:data", "1"), false);
    assert.equal(await store.removePepNode("juliet", "urn:xmpp:avatar:data"), 1);
    assert.equal(await store.removePepNode("juliet", "urn:xmpp:avatar:data"), 0);
    assert.equal(await store.removePepItem("juliet", "http://jabber.org/protocol/nick", "x"), true);
    assert.deepEqual(await store.listPepNodes("juliet"), [], "an emptied node is not listed");
  });

  test("blocks JIDs all or nothing within maxBlocklistItems", async () => {
    using store = create({ maxBlocklistItems: 3 });
    assert.equal(
      await store.block("juliet", ["c@example.com", "a@example.com", "a@example.com"]),
      true,
    );
    assert.deepEqual(await store.getBlocklist("juliet"), ["a@example.com", "c@example.com"]);
    assert.equal(await store.block("juliet", ["b@example.com", "d@example.com"]), false);
    assert.deepEqual(await store.getBlocklist("juliet"), ["a@example.com", "c@example.com"]);
    assert.equal(await store.block("juliet", ["a@example.com", "b@example.com"]), true);
    assert.deepEqual(await store.getBlocklist("juliet"), [
      "a@example.com",
      "b@example.com",
      "c@example.com",
    ]);
    assert.equal(await store.unblock("juliet", ["a@example.com", "z@example.com"]), 1);
    assert.equal(await store.unblockAll("juliet"), 2);
    assert.equal(await store.unblockAll("juliet"), 0);
    assert.deepEqual(await store.getBlocklist("juliet"), []);
  });

  test("removeAccount() deletes everything of one account and nothing of another", async () => {
    using store = create();
    for (const user of ["juliet", "romeo"]) {
      await store.putRosterItem(user, item("nurse@example.com", { version: 2 }));
      await store.putPendingSubscription(user, { jid: "tybalt@example.com", stanza: "<p/>" });
      await store.addOffline(user, { stamp: 1, stanza: "<m/>" });
      await store.putVcard(user, "<vCard/>");
      await store.putPepItem(user, { node: "n", id: "1", payload: "<p/>" });
      await store.block(user, ["tybalt@example.com"]);
    }
    await store.removeAccount("juliet");
    assert.deepEqual(await store.getRoster("juliet"), { version: 0, items: [] });
    assert.deepEqual(await store.getPendingSubscriptions("juliet"), []);
    assert.equal(await store.countOffline("juliet"), 0);
    assert.equal(await store.getVcard("juliet"), undefined);
    assert.deepEqual(await store.listPepNodes("juliet"), []);
    assert.deepEqual(await store.getBlocklist("juliet"), []);
    assert.equal((await store.getRoster("romeo")).items.length, 1);
    assert.equal((await store.getPendingSubscriptions("romeo")).length, 1);
    assert.equal(await store.countOffline("romeo"), 1);
    assert.equal(await store.getVcard("romeo"), "<vCard/>");
    assert.deepEqual(await store.listPepNodes("romeo"), ["n"]);
    assert.deepEqual(await store.getBlocklist("romeo"), ["tybalt@example.com"]);
  });

  test("rejects every call after close()", async () => {
    const store = create();
    store.close();
    store.close();
    const calls: Promise<unknown>[] = [
      store.getRoster("j"),
      store.putRosterItem("j", item("a@b")),
      store.removeRosterItem("j", "a@b", 1),
      store.putPendingSubscription("j", { jid: "a@b", stanza: "" }),
      store.getPendingSubscriptions("j"),
      store.removePendingSubscription("j", "a@b"),
      store.addOffline("j", { stamp: 1, stanza: "" }),
      store.countOffline("j"),
      store.takeOffline("j"),
      store.getVcard("j"),
      store.putVcard("j", ""),
      store.removeVcard("j"),
      store.putPepItem("j", { node: "n", id: "1", payload: "" }),
      store.getPepItems("j", "n"),
      store.getPepItem("j", "n", "1"),
      store.removePepItem("j", "n", "1"),
      store.removePepNode("j", "n"),
      store.listPepNodes("j"),
      store.getBlocklist("j"),
      store.block("j", ["a@b"]),
      store.unblock("j", ["a@b"]),
      store.unblockAll("j"),
      store.removeAccount("j"),
    ];
    for (const call of calls) {
      await assert.rejects(call, { message: "Cannot use IM store: it is closed" });
    }
  });

  test("resolves its limits and refuses bad ones", () => {
    using store = create({ maxVcardBytes: 10 });
    assert.deepEqual(store.limits, {
      maxOfflineMessages: 100,
      maxPendingSubscriptions: 100,
      maxPendingStanzaBytes: 16384,
      maxVcardBytes: 10,
      maxPepNodes: 64,
      maxPepItemsPerNode: 32,
      maxPepPayloadBytes: 131072,
      maxBlocklistItems: 1000,
    });
    assert.throws(() => create({ maxOfflineMessages: -1 }), {
      name: "RangeError",
      message:
        "Cannot create IM store: 'maxOfflineMessages' must be a non-negative integer, got -1",
    });
    return Promise.resolve();
  });
}
