import assert from "node:assert/strict";
import {
  isPresenceSubscriber,
  localUsername,
  presenceSubscribers,
} from "../../src/im/im_context.ts";
import type { RosterData, Subscription } from "../../src/storage/im_store.ts";

function roster(entries: Record<string, Subscription>): RosterData {
  return {
    version: 1,
    items: Object.entries(entries).map(([jid, subscription]) => ({
      jid,
      subscription,
      groups: [],
      ask: false,
      approved: false,
      version: 1,
    })),
  };
}

Deno.test("localUsername() accepts only bare JIDs on the served domain", () => {
  assert.equal(localUsername("juliet@capulet.lit", "capulet.lit"), "juliet");
  assert.equal(localUsername("juliet@capulet.lit/balcony", "capulet.lit"), undefined);
  assert.equal(localUsername("juliet@sub.capulet.lit", "capulet.lit"), undefined);
  assert.equal(localUsername("juliet@xcapulet.lit", "capulet.lit"), undefined);
  assert.equal(localUsername("@capulet.lit", "capulet.lit"), undefined);
  assert.equal(localUsername("capulet.lit", "capulet.lit"), undefined);
});

Deno.test("isPresenceSubscriber() is true for from and both only", () => {
  const data = roster({ "a@x": "none", "b@x": "to", "c@x": "from", "d@x": "both" });
  assert.deepEqual(
    ["a@x", "b@x", "c@x", "d@x", "e@x"].map((jid) => isPresenceSubscriber(data, jid)),
    [false, false, true, true, false],
  );
});

Deno.test("presenceSubscribers() lists from and both in roster order", () => {
  const data = roster({ "a@x": "both", "b@x": "to", "c@x": "from", "d@x": "none" });
  assert.deepEqual(presenceSubscribers(data), ["a@x", "c@x"]);
});
