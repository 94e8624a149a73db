import assert from "node:assert/strict";
import { AccountQueue } from "../../src/im/account_queue.ts";

Deno.test("AccountQueue.run() runs one key's tasks in the order queued, each after the last settled", async () => {
  const queue = new AccountQueue();
  const log: string[] = [];
  const gate = Promise.withResolvers<void>();
  const first = queue.run("alice", async () => {
    log.push("first start");
    await gate.promise;
    log.push("first end");
    return 1;
  });
  const second = queue.run("alice", () => {
    log.push("second");
    return 2;
  });
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(log, ["first start"]);
  gate.resolve();
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  assert.deepEqual(log, ["first start", "first end", "second"]);
});

Deno.test("AccountQueue.run() lets other keys run while one key waits", async () => {
  const queue = new AccountQueue();
  const gate = Promise.withResolvers<void>();
  const blocked = queue.run("alice", () => gate.promise);
  assert.equal(await queue.run("bob", () => "bob ran"), "bob ran");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(queue.size, 1); // bob's entry is gone, alice's stays
  gate.resolve();
  await blocked;
});

Deno.test("AccountQueue.run() passes a failure to its caller only and keeps going", async () => {
  const queue = new AccountQueue();
  const failed = queue.run("alice", () => Promise.reject(new RangeError("store is down")));
  const next = queue.run("alice", () => "next");
  await assert.rejects(failed, RangeError);
  assert.equal(await next, "next");
});

Deno.test("AccountQueue forgets a key once its tasks settle; drain() waits for tasks queued by tasks", async () => {
  const queue = new AccountQueue();
  const order: string[] = [];
  queue.run("alice", () => {
    order.push("alice");
    queue.run("bob", async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push("bob");
    });
  });
  assert.equal(queue.size, 1);
  await queue.drain();
  assert.deepEqual(order, ["alice", "bob"]);
  assert.equal(queue.size, 0);
  await queue.drain(); // nothing queued: resolves at once
});
