import assert from "node:assert/strict";
import {
  Roster,
  type RosterChange,
  rosterChangeQuery,
  rosterItemElement,
  rosterPush,
} from "../../src/im/roster.ts";
import {
  NO_SUBSCRIPTION,
  outboundSubscription,
  subscriptionState,
} from "../../src/im/subscription.ts";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import type { RosterItem } from "../../src/storage/im_store.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

const OWNER = "juliet@example.com";

function ok(result: RosterChange | StanzaError | undefined): RosterChange {
  if (!(result !== undefined && !(result instanceof StanzaError))) {
    assert.fail(
      `expected a change, got ${result instanceof StanzaError ? result.condition : result}`,
    );
  }
  return result;
}

function refused(result: RosterChange | StanzaError | undefined): StanzaError {
  assert.ok(result instanceof StanzaError, "expected a stanza error");
  return result;
}

function item(jid: string, fields: Partial<RosterItem> = {}): RosterItem {
  return {
    jid,
    groups: [],
    subscription: "none",
    ask: false,
    approved: false,
    version: 0,
    ...fields,
  };
}

function query(...children: Element[]): Element {
  return el("query", { xmlns: "jabber:iq:roster" }, ...children);
}

Deno.test("Roster.setItem() adds an item with subscription none and raises the version", () => {
  const roster = new Roster(undefined, { owner: OWNER });
  const change = ok(
    roster.setItem({ jid: "Nurse@Example.com", name: "Nurse", groups: ["Servants"] }),
  );
  const expected = item("nurse@example.com", { name: "Nurse", groups: ["Servants"], version: 1 });
  assert.deepEqual(change, {
    jid: "nurse@example.com",
    item: expected,
    previous: undefined,
    version: 1,
  });
  assert.deepEqual(roster.get("nurse@example.com"), expected);
  assert.equal(roster.version, 1);
  assert.equal(roster.size, 1);
});

Deno.test("Roster.setItem() replaces name and groups exactly and keeps the subscription", () => {
  const roster = new Roster({
    version: 4,
    items: [item("romeo@example.net", {
      name: "Romeo",
      groups: ["Friends"],
      subscription: "both",
      approved: false,
      version: 4,
    })],
  });
  const before = roster.get("romeo@example.net");
  const change = ok(roster.setItem({ jid: "romeo@example.net", groups: ["Lovers", "Friends"] }));
  assert.deepEqual(
    change.item,
    item("romeo@example.net", {
      groups: ["Lovers", "Friends"],
      subscription: "both",
      version: 5,
    }),
  );
  assert.equal(change.previous, before);
  assert.equal("name" in change.item!, false, "an omitted name removes the handle");
  const emptyName = ok(roster.setItem({ jid: "romeo@example.net", name: "" }));
  assert.equal("name" in emptyName.item!, false, "an empty name is no name");
  assert.deepEqual(emptyName.item!.groups, []);
});

Deno.test("Roster.setItem() answers each RFC 6121 §2.3.3 violation with its condition and changes nothing", () => {
  const roster = new Roster(undefined, {
    owner: "Juliet@Example.com",
    maxNameLength: 5,
    maxGroupLength: 3,
    maxGroupsPerItem: 2,
  });
  const cases: [Parameters<Roster["setItem"]>[0], string, string][] = [
    [{ jid: "@example.com" }, "modify", "jid-malformed"],
    [{ jid: "nurse@example.com/balcony" }, "modify", "bad-request"],
    [{ jid: "juliet@EXAMPLE.com" }, "cancel", "not-allowed"],
    [{ jid: "nurse@example.com", name: "abcdef" }, "modify", "not-acceptable"],
    [{ jid: "nurse@example.com", groups: [""] }, "modify", "not-acceptable"],
    [{ jid: "nurse@example.com", groups: ["abcd"] }, "modify", "not-acceptable"],
    [{ jid: "nurse@example.com", groups: ["a", "b", "a"] }, "modify", "bad-request"],
    [{ jid: "nurse@example.com", groups: ["a", "b", "c"] }, "modify", "not-acceptable"],
  ];
  for (const [input, type, condition] of cases) {
    const error = refused(roster.setItem(input));
    assert.deepEqual([error.type, error.condition], [type, condition], JSON.stringify(input));
  }
  assert.equal(roster.version, 0);
  assert.equal(roster.size, 0);
  // The limits themselves are allowed.
  ok(roster.setItem({ jid: "nurse@example.com", name: "abcde", groups: ["abc", "de"] }));
});

Deno.test("Roster.setItem() refuses a new item past maxItems but still updates existing ones", () => {
  const roster = new Roster(undefined, { maxItems: 2 });
  ok(roster.setItem({ jid: "a@example.com" }));
  ok(roster.setItem({ jid: "b@example.com" }));
  const error = refused(roster.setItem({ jid: "c@example.com" }));
  assert.deepEqual([error.type, error.condition, error.text], [
    "wait",
    "resource-constraint",
    "The roster is full",
  ]);
  ok(roster.setItem({ jid: "b@example.com", name: "Bee" }));
  assert.equal(roster.version, 3);
});

Deno.test("Roster.removeItem() removes an item and reports it; a missing one is item-not-found", () => {
  const roster = new Roster();
  const added = ok(roster.setItem({ jid: "nurse@example.com" }));
  const change = ok(roster.removeItem("Nurse@example.com"));
  assert.deepEqual(change, {
    jid: "nurse@example.com",
    item: undefined,
    previous: added.item,
    version: 2,
  });
  assert.equal(roster.get("nurse@example.com"), undefined);
  const missing = refused(roster.removeItem("nurse@example.com"));
  assert.deepEqual([missing.type, missing.condition], ["cancel", "item-not-found"]);
  assert.equal(refused(roster.removeItem("@x")).condition, "jid-malformed");
  assert.equal(roster.version, 2);
});

Deno.test("Roster.applySet() handles RFC 6121's add example and answers with its push", () => {
  // RFC 6121 §2.3.1 and §2.3.2: Juliet adds the Nurse to the Servants group.
  const roster = new Roster(undefined, { owner: OWNER });
  const change = ok(roster.applySet(query(
    el("item", { jid: "nurse@example.com", name: "Nurse" }, el("group", {}, "Servants")),
  )));
  assert.equal(
    serialize(
      rosterPush(change, { to: "juliet@example.com/balcony", id: "a78b4q6ha463" }),
      "jabber:client",
    ),
    `<iq type="set" id="a78b4q6ha463" to="juliet@example.com/balcony">` +
      `<query xmlns="jabber:iq:roster" ver="1">` +
      `<item jid="nurse@example.com" name="Nurse" subscription="none"><group>Servants</group></item>` +
      `</query></iq>`,
  );
  // RFC 6121 §2.5.1: remove it again.
  const removal = ok(
    roster.applySet(query(el("item", { jid: "nurse@example.com", subscription: "remove" }))),
  );
  assert.equal(
    serialize(rosterChangeQuery(removal)),
    `<query xmlns="jabber:iq:roster" ver="2"><item jid="nurse@example.com" subscription="remove"/></query>`,
  );
});

Deno.test("Roster.applySet() requires exactly one item with a JID", () => {
  const roster = new Roster();
  const two = refused(roster.applySet(query(
    el("item", { jid: "a@example.com" }),
    el("item", { jid: "b@example.com" }),
  )));
  assert.deepEqual([two.type, two.condition], ["modify", "bad-request"]);
  assert.equal(refused(roster.applySet(query())).condition, "bad-request");
  assert.equal(refused(roster.applySet(query(el("item", { name: "x" })))).condition, "bad-request");
  const duplicate = refused(roster.applySet(query(
    el("item", { jid: "a@example.com" }, el("group", {}, "G"), el("group", {}, "G")),
  )));
  assert.equal(duplicate.condition, "bad-request");
  const empty = refused(
    roster.applySet(query(el("item", { jid: "a@example.com" }, el("group", {})))),
  );
  assert.equal(empty.condition, "not-acceptable");
  assert.equal(roster.size, 0);
});

Deno.test("Roster.applySet() ignores subscription, ask and approved sent by the client", () => {
  const roster = new Roster();
  const change = ok(roster.applySet(query(el("item", {
    jid: "romeo@example.net",
    subscription: "both",
    ask: "subscribe",
    approved: "true",
  }))));
  assert.deepEqual(change.item, item("romeo@example.net", { version: 1 }));
});

Deno.test("Roster.applySubscription() writes the state and keeps the client's name and groups", () => {
  const roster = new Roster(undefined, { owner: OWNER });
  ok(roster.setItem({ jid: "romeo@example.net", name: "Romeo", groups: ["Friends"] }));
  const before = subscriptionState(roster.get("romeo@example.net"));
  const outcome = outboundSubscription(before, "subscribe");
  const change = ok(roster.applySubscription("romeo@example.net", outcome.state));
  assert.deepEqual(
    change.item,
    item("romeo@example.net", {
      name: "Romeo",
      groups: ["Friends"],
      ask: true,
      version: 2,
    }),
  );
  // RFC 6121 §3.1.2: the push carries ask='subscribe'.
  assert.equal(
    serialize(rosterChangeQuery(change)),
    `<query xmlns="jabber:iq:roster" ver="2"><item jid="romeo@example.net" name="Romeo" ` +
      `subscription="none" ask="subscribe"><group>Friends</group></item></query>`,
  );
  assert.equal(roster.applySubscription("romeo@example.net", outcome.state), undefined);
  assert.equal(roster.version, 2);
});

Deno.test("Roster.applySubscription() creates items, ignores states outside the roster, and is bounded", () => {
  const roster = new Roster(undefined, { owner: OWNER, maxItems: 1 });
  assert.equal(
    roster.applySubscription("nurse@example.com", { ...NO_SUBSCRIPTION, pendingIn: true }),
    undefined,
  );
  const approved =
    outboundSubscription({ ...NO_SUBSCRIPTION, pendingIn: true }, "subscribed").state;
  const change = ok(roster.applySubscription("nurse@example.com", approved));
  assert.deepEqual(change.item, item("nurse@example.com", { subscription: "from", version: 1 }));
  const full = refused(roster.applySubscription("romeo@example.net", approved));
  assert.equal(full.condition, "resource-constraint");
  const self = refused(new Roster(undefined, { owner: OWNER }).applySubscription(OWNER, approved));
  assert.equal(self.condition, "not-allowed");
  assert.throws(() => new Roster().applySubscription("Romeo@example.net", approved), TypeError);
});

Deno.test("Roster.query() answers unchanged, full or pushes by the client's version", () => {
  const roster = new Roster(undefined, { owner: OWNER });
  for (const name of ["a", "b", "c", "d", "e"]) ok(roster.setItem({ jid: `${name}@example.com` }));
  ok(roster.setItem({ jid: "a@example.com", name: "A" })); // 6
  ok(roster.removeItem("b@example.com")); // 7
  assert.equal(roster.version, 7);
  assert.deepEqual(roster.query("7"), { kind: "unchanged" });
  for (const ver of [undefined, "", "ver7", "8", "07", "-1", "1e3"]) {
    const result = roster.query(ver);
    assert.equal(result.kind, "full", String(ver));
    assert.equal(result.kind === "full" && result.query.attr("ver"), "7");
    assert.equal(result.kind === "full" && result.query.getChildren("item").length, 4);
  }
  const since5 = roster.query("5");
  assert.equal(since5.kind, "pushes");
  assert.deepEqual(
    since5.kind === "pushes" && since5.changes.map((c) => [c.jid, c.version, c.item?.name ?? null]),
    [["a@example.com", 6, "A"], ["b@example.com", 7, null]],
  );
  // Changes at least as many as the items: the whole roster is cheaper.
  // Since 3: d, e, a and the removal of b are four changes for four items.
  assert.equal(roster.query("3").kind, "full");
  const since4 = roster.query("4");
  assert.deepEqual(since4.kind === "pushes" && since4.changes.map((c) => c.version), [5, 6, 7]);
});

Deno.test("Roster.query() replays a re-added item once, as an item rather than a removal", () => {
  const roster = new Roster();
  for (const name of ["a", "b", "c"]) ok(roster.setItem({ jid: `${name}@example.com` }));
  ok(roster.removeItem("c@example.com")); // 4
  ok(roster.setItem({ jid: "c@example.com", name: "C" })); // 5
  const result = roster.query("3");
  assert.deepEqual(
    result.kind === "pushes" && result.changes.map((c) => [c.jid, c.version, c.item !== undefined]),
    [["c@example.com", 5, true]],
  );
});

Deno.test("Roster.query() forgets removals beyond maxRemovals and then answers the full roster", () => {
  const roster = new Roster(undefined, { maxRemovals: 1 });
  for (const name of ["a", "b", "c", "d", "e", "f"]) {
    ok(roster.setItem({ jid: `${name}@example.com` }));
  }
  ok(roster.removeItem("a@example.com")); // 7
  ok(roster.removeItem("b@example.com")); // 8: the removal at 7 is forgotten
  assert.equal(roster.query("6").kind, "full");
  const since7 = roster.query("7");
  assert.deepEqual(
    since7.kind === "pushes" && since7.changes.map((c) => [c.jid, c.version, c.item]),
    [["b@example.com", 8, undefined]],
  );
});

Deno.test("Roster.query() answers the full roster for any version older than the loaded one", () => {
  const roster = new Roster({
    version: 9,
    items: [item("a@example.com", { version: 3 }), item("b@example.com", { version: 9 })],
  });
  assert.deepEqual(roster.query("9"), { kind: "unchanged" });
  assert.equal(roster.query("8").kind, "full");
  ok(roster.setItem({ jid: "c@example.com" }));
  const since9 = roster.query("9");
  assert.deepEqual(since9.kind === "pushes" && since9.changes.map((c) => c.jid), ["c@example.com"]);
});

Deno.test("Roster.toQuery() and rosterItemElement() write every attribute RFC 6121 §2.1.2 defines", () => {
  const roster = new Roster({
    version: 3,
    items: [
      item("romeo@example.net", {
        name: "Romeo",
        groups: ["Friends", "Lovers"],
        subscription: "both",
      }),
      item("nurse@example.com", { ask: true, approved: true }),
    ],
  });
  assert.equal(
    serialize(roster.toQuery()),
    `<query xmlns="jabber:iq:roster" ver="3">` +
      `<item jid="romeo@example.net" name="Romeo" subscription="both"><group>Friends</group><group>Lovers</group></item>` +
      `<item jid="nurse@example.com" subscription="none" ask="subscribe" approved="true"/>` +
      `</query>`,
  );
  assert.equal(
    serialize(rosterItemElement(item("a&b@example.com", { name: "<A>" }))),
    `<item jid="a&amp;b@example.com" name="&lt;A&gt;" subscription="none"/>`,
  );
});

Deno.test("Roster items are immutable copies of what was loaded or set", () => {
  const loaded = item("a@example.com", { groups: ["G"], version: 1 });
  const groups = ["X"];
  const roster = new Roster({ version: 1, items: [loaded] });
  (loaded.groups as string[]).push("mutated");
  assert.deepEqual(roster.get("a@example.com")?.groups, ["G"]);
  const change = ok(roster.setItem({ jid: "b@example.com", groups }));
  groups.push("Y");
  assert.deepEqual(change.item?.groups, ["X"]);
  assert.throws(() => {
    (roster.get("b@example.com")!.groups as string[]).push("Z");
  }, TypeError);
  assert.throws(() => {
    (roster.get("b@example.com") as { name: string }).name = "Z";
  }, TypeError);
});

Deno.test("Roster refuses malformed data and options", () => {
  assert.throws(
    () =>
      new Roster({ version: 0, items: [item("a@example.com", { subscription: "all" as "none" })] }),
    { name: "TypeError", message: "Cannot store roster item 'a@example.com': it is malformed" },
  );
  assert.throws(() => new Roster({ version: -1, items: [] }), TypeError);
  assert.throws(() => new Roster(undefined, { owner: "@x" }), {
    name: "TypeError",
    message: "Cannot create roster: 'owner' is not a JID, got '@x'",
  });
  assert.throws(() => new Roster(undefined, { maxItems: 1.5 }), {
    name: "RangeError",
    message: "Cannot create roster: 'maxItems' must be a non-negative integer, got 1.5",
  });
  // A loaded item newer than the roster's version raises it.
  assert.equal(
    new Roster({ version: 2, items: [item("a@example.com", { version: 5 })] }).version,
    5,
  );
});
