import assert from "node:assert/strict";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import type { RosterItem } from "../../src/storage/im_store.ts";
import { imStoreContract } from "./_im_store_contract.ts";

imStoreContract("MemoryImStore", (limits) => new MemoryImStore(limits));

Deno.test("MemoryImStore keeps frozen copies of roster items", async () => {
  using store = new MemoryImStore();
  const groups = ["Friends"];
  const item: RosterItem = {
    jid: "romeo@example.net",
    groups,
    subscription: "both",
    ask: false,
    approved: false,
    version: 1,
  };
  await store.putRosterItem("juliet", item);
  groups.push("changed by the caller");
  const [stored] = (await store.getRoster("juliet")).items;
  assert.deepEqual(stored?.groups, ["Friends"]);
  assert.ok(Object.isFrozen(stored) && Object.isFrozen(stored.groups));
});
