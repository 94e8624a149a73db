import assert from "node:assert/strict";
import { SessionRegistry } from "../../src/routing/session_registry.ts";

interface FakeSession {
  readonly bareKey: string;
  readonly resourceKey: string;
  readonly label: string;
}

function session(bareKey: string, resourceKey: string, label = `${bareKey}/${resourceKey}`) {
  return { bareKey, resourceKey, label } satisfies FakeSession;
}

Deno.test("SessionRegistry starts empty", () => {
  const registry = new SessionRegistry<FakeSession>();
  assert.equal(registry.size, 0);
  assert.equal(registry.get("a@x", "r"), undefined);
  assert.equal(registry.countResources("a@x"), 0);
  assert.deepEqual([...registry.resources("a@x")], []);
  assert.deepEqual([...registry.all()], []);
});

Deno.test("SessionRegistry.add() binds sessions by bare JID and resource", () => {
  const registry = new SessionRegistry<FakeSession>();
  const phone = session("a@x", "phone");
  const laptop = session("a@x", "laptop");
  const other = session("b@x", "phone");
  assert.equal(registry.add(phone), undefined);
  assert.equal(registry.add(laptop), undefined);
  assert.equal(registry.add(other), undefined);
  assert.equal(registry.size, 3);
  assert.equal(registry.get("a@x", "phone"), phone);
  assert.equal(registry.get("a@x", "laptop"), laptop);
  assert.equal(registry.get("b@x", "phone"), other);
  assert.equal(registry.get("b@x", "laptop"), undefined);
  assert.equal(registry.countResources("a@x"), 2);
  assert.equal(registry.countResources("b@x"), 1);
});

Deno.test("SessionRegistry.add() replaces the session on the same full JID and returns it", () => {
  const registry = new SessionRegistry<FakeSession>();
  const old = session("a@x", "phone", "old");
  const fresh = session("a@x", "phone", "new");
  registry.add(old);
  assert.equal(registry.add(fresh), old);
  assert.equal(registry.size, 1);
  assert.equal(registry.countResources("a@x"), 1);
  assert.equal(registry.get("a@x", "phone"), fresh);
});

Deno.test("SessionRegistry.add() of the same session twice keeps the count", () => {
  const registry = new SessionRegistry<FakeSession>();
  const phone = session("a@x", "phone");
  registry.add(phone);
  assert.equal(registry.add(phone), phone);
  assert.equal(registry.size, 1);
});

Deno.test("SessionRegistry.remove() unbinds the session and forgets empty accounts", () => {
  const registry = new SessionRegistry<FakeSession>();
  const phone = session("a@x", "phone");
  const laptop = session("a@x", "laptop");
  registry.add(phone);
  registry.add(laptop);
  registry.remove(phone);
  assert.equal(registry.size, 1);
  assert.equal(registry.get("a@x", "phone"), undefined);
  assert.equal(registry.countResources("a@x"), 1);
  registry.remove(laptop);
  assert.equal(registry.size, 0);
  assert.equal(registry.countResources("a@x"), 0);
  assert.deepEqual([...registry.resources("a@x")], []);
  assert.deepEqual([...registry.all()], []);
});

Deno.test("SessionRegistry.remove() leaves a newer session on the same full JID alone", () => {
  const registry = new SessionRegistry<FakeSession>();
  const old = session("a@x", "phone", "old");
  const fresh = session("a@x", "phone", "new");
  registry.add(old);
  registry.add(fresh);
  registry.remove(old);
  assert.equal(registry.get("a@x", "phone"), fresh);
  assert.equal(registry.size, 1);
});

Deno.test("SessionRegistry.remove() ignores sessions that are not bound", () => {
  const registry = new SessionRegistry<FakeSession>();
  const phone = session("a@x", "phone");
  registry.remove(phone);
  registry.add(phone);
  registry.remove(phone);
  registry.remove(phone);
  assert.equal(registry.size, 0);
  registry.add(session("b@x", "r"));
  registry.remove(session("b@x", "r"));
  assert.equal(registry.size, 1);
});

Deno.test("SessionRegistry.resources() lists one account's sessions in bind order", () => {
  const registry = new SessionRegistry<FakeSession>();
  const a1 = session("a@x", "1");
  const a2 = session("a@x", "2");
  registry.add(a1);
  registry.add(session("b@x", "1"));
  registry.add(a2);
  assert.deepEqual([...registry.resources("a@x")], [a1, a2]);
});

Deno.test("SessionRegistry.resources() can be iterated while removing its sessions", () => {
  const registry = new SessionRegistry<FakeSession>();
  for (const resource of ["1", "2", "3"]) registry.add(session("a@x", resource));
  const removed: string[] = [];
  for (const bound of registry.resources("a@x")) {
    registry.remove(bound);
    removed.push(bound.resourceKey);
  }
  assert.deepEqual(removed, ["1", "2", "3"]);
  assert.equal(registry.size, 0);
});

Deno.test("SessionRegistry.all() yields every bound session once", () => {
  const registry = new SessionRegistry<FakeSession>();
  const sessions = [session("a@x", "1"), session("b@x", "1"), session("a@x", "2")];
  for (const bound of sessions) registry.add(bound);
  registry.add(session("a@x", "1", "replacement"));
  const all = [...registry.all()];
  assert.equal(all.length, 3);
  assert.equal(all.length, registry.size);
  assert.deepEqual(all.map((s) => s.label).sort(), ["a@x/2", "b@x/1", "replacement"]);
});

Deno.test("SessionRegistry keeps bare keys and resources case-sensitive", () => {
  // Normalisation is the caller's job (bareKey/resourceKey are already prepared).
  const registry = new SessionRegistry<FakeSession>();
  registry.add(session("a@x", "Phone"));
  assert.equal(registry.get("a@x", "phone"), undefined);
  assert.equal(registry.get("A@x", "Phone"), undefined);
  assert.equal(registry.countResources("A@x"), 0);
});
