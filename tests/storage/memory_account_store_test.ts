import assert from "node:assert/strict";
import { MemoryAccountStore } from "../../src/storage/memory_account_store.ts";
import { createAccountRecord, verifyPassword } from "../../src/auth/credentials.ts";
import type { AccountRecord } from "../../src/storage/account_store.ts";
import { accountStoreContract } from "./_account_store_contract.ts";

accountStoreContract("MemoryAccountStore", () => new MemoryAccountStore());

const juliet = await createAccountRecord("juliet", "r0m30", { iterations: 16 });
const romeo = await createAccountRecord("romeo", "juliet", { iterations: 16 });

Deno.test("MemoryAccountStore round-trips records", async () => {
  using store = new MemoryAccountStore();
  assert.equal(await store.get("juliet"), undefined);
  await store.put(juliet);
  const stored = await store.get("juliet");
  assert.deepEqual(stored, juliet);
  assert.ok(stored !== undefined && await verifyPassword(stored, "r0m30"));
});

Deno.test("MemoryAccountStore.getScram() returns a copy of one hash's credentials", async () => {
  using store = new MemoryAccountStore();
  await store.put(juliet);
  for (const hash of ["SHA-1", "SHA-256"] as const) {
    assert.deepEqual(await store.getScram("juliet", hash), juliet.scram[hash]);
  }
  const copy = await store.getScram("juliet", "SHA-1");
  copy!.storedKey.fill(0);
  assert.deepEqual(await store.getScram("juliet", "SHA-1"), juliet.scram["SHA-1"]);
  assert.equal(await store.getScram("nobody", "SHA-1"), undefined);
  store.close();
  await assert.rejects(store.getScram("juliet", "SHA-1"));
});

Deno.test("MemoryAccountStore.put() replaces an existing account", async () => {
  using store = new MemoryAccountStore();
  await store.put(juliet);
  const changed = await createAccountRecord("juliet", "new password", { iterations: 16 });
  await store.put(changed);
  assert.deepEqual(await store.get("juliet"), changed);
  assert.deepEqual(await store.list(), ["juliet"]);
});

Deno.test("MemoryAccountStore copies records in and out", async () => {
  using store = new MemoryAccountStore();
  const record = await createAccountRecord("juliet", "r0m30", { iterations: 16 });
  const original = record.scram["SHA-1"].storedKey.slice();
  await store.put(record);
  record.scram["SHA-1"].storedKey.fill(0);
  const first = await store.get("juliet");
  assert.deepEqual(first?.scram["SHA-1"].storedKey, original);
  first!.scram["SHA-1"].storedKey.fill(0);
  assert.deepEqual((await store.get("juliet"))?.scram["SHA-1"].storedKey, original);
});

Deno.test("MemoryAccountStore.delete() reports whether the account existed", async () => {
  using store = new MemoryAccountStore();
  await store.put(juliet);
  assert.equal(await store.delete("juliet"), true);
  assert.equal(await store.delete("juliet"), false);
  assert.equal(await store.get("juliet"), undefined);
});

Deno.test("MemoryAccountStore.list() returns sorted usernames", async () => {
  using store = new MemoryAccountStore();
  await store.put(romeo);
  await store.put(juliet);
  await store.put({ ...juliet, username: "benvolio" });
  assert.deepEqual(await store.list(), ["benvolio", "juliet", "romeo"]);
});

Deno.test("MemoryAccountStore.put() rejects records without a username or a hash", async () => {
  using store = new MemoryAccountStore();
  await assert.rejects(store.put({ ...juliet, username: "" }), TypeError);
  const partial = { username: "x", scram: { "SHA-1": juliet.scram["SHA-1"] } };
  await assert.rejects(store.put(partial as unknown as AccountRecord), {
    name: "TypeError",
    message: "Cannot store account 'x': it has no SHA-256 credentials",
  });
  const badKey = {
    username: "y",
    scram: { ...juliet.scram, "SHA-256": { ...juliet.scram["SHA-256"], salt: "text" } },
  };
  await assert.rejects(store.put(badKey as unknown as AccountRecord), {
    name: "TypeError",
    message: "Cannot store account 'y': its SHA-256 credentials are malformed",
  });
  assert.deepEqual(await store.list(), []);
});

Deno.test("MemoryAccountStore rejects calls after close()", async () => {
  const store = new MemoryAccountStore();
  await store.put(juliet);
  store.close();
  store.close();
  const closed = { message: "Cannot use account store: it is closed" };
  await assert.rejects(store.get("juliet"), closed);
  await assert.rejects(store.put(juliet), closed);
  await assert.rejects(store.delete("juliet"), closed);
  await assert.rejects(store.list(), closed);
});
