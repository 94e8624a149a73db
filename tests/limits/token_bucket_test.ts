import assert from "node:assert/strict";
import type { Clock } from "../../src/core/clock.ts";
import type { EvictionReason } from "../../src/limits/bounded_map.ts";
import { TokenBucket, TokenBucketTable } from "../../src/limits/token_bucket.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

Deno.test("TokenBucket() rejects a negative or non-finite capacity or rate", () => {
  assert.throws(
    () => new TokenBucket(-1, 1),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create token bucket: 'capacity' must be a finite number >= 0, got -1",
  );
  assert.throws(
    () => new TokenBucket(1, NaN),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create token bucket: 'refillPerSecond' must be a finite number >= 0, got NaN",
  );
  assert.throws(() => new TokenBucket(Infinity, 1), RangeError);
  assert.throws(() => new TokenBucket(1, Infinity), RangeError);
  assert.throws(() => new TokenBucket(1, -0.5), RangeError);
});

Deno.test("TokenBucket starts full and exposes its shape", () => {
  const clock = new ManualClock(5000);
  const bucket = new TokenBucket(10, 2.5, { clock });
  assert.equal(bucket.capacity, 10);
  assert.equal(bucket.refillPerSecond, 2.5);
  assert.equal(bucket.balance, 10);
});

Deno.test("TokenBucket.take() refuses a cost above the balance without taking", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(5, 1, { clock });
  assert.equal(bucket.take(3), true);
  assert.equal(bucket.balance, 2);
  assert.equal(bucket.take(3), false);
  assert.equal(bucket.balance, 2);
  assert.equal(bucket.take(2), true);
  assert.equal(bucket.balance, 0);
  assert.equal(bucket.take(), false);
});

Deno.test("TokenBucket refills exactly 10 tokens in 1,000 ms at 10 per second", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(20, 10, { clock });
  assert.equal(bucket.take(20), true);
  clock.advance(1000);
  assert.equal(bucket.balance, 10);
  clock.advance(250);
  assert.equal(bucket.balance, 12.5);
  clock.advance(10_000);
  assert.equal(bucket.balance, 20); // capped at capacity
});

Deno.test("TokenBucket refills exactly through many 1 ms steps at an uneven rate", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(100, 3, { clock });
  assert.equal(bucket.take(100), true);
  for (let i = 0; i < 1000; i++) {
    clock.advance(1);
    void bucket.balance; // a refill at every step
  }
  assert.equal(bucket.balance, 3);
  assert.equal(bucket.take(3), true);
  assert.equal(bucket.balance, 0);
});

Deno.test("TokenBucket.tryTake() returns the exact whole milliseconds to wait", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(1, 3, { clock });
  assert.equal(bucket.tryTake(), 0);
  assert.equal(bucket.tryTake(), 334); // 1 token at 3/s: 333.3 ms, rounded up
  clock.advance(333);
  assert.equal(bucket.tryTake(), 1);
  clock.advance(1);
  assert.equal(bucket.tryTake(), 0);

  const bytes = new TokenBucket(1000, 100, { clock });
  assert.equal(bytes.tryTake(900), 0);
  assert.equal(bytes.tryTake(500), 4000); // 400 tokens short at 100/s
  assert.equal(bytes.tryTake(100), 0);
  assert.equal(bytes.tryTake(1), 10);
});

Deno.test("TokenBucket.tryTake() never satisfies a cost above the capacity", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(10, 10, { clock });
  assert.equal(bucket.tryTake(10.5), Infinity);
  assert.equal(bucket.take(11), false);
  assert.equal(bucket.balance, 10);
  clock.advance(1e9);
  assert.equal(bucket.tryTake(11), Infinity);
});

Deno.test("TokenBucket lets a cost of 0 pass, even with capacity 0", () => {
  const clock = new ManualClock();
  const empty = new TokenBucket(0, 10, { clock });
  assert.equal(empty.tryTake(0), 0);
  assert.equal(empty.take(0), true);
  assert.equal(empty.tryTake(1), Infinity);
  assert.equal(empty.balance, 0);
  clock.advance(60_000);
  assert.equal(empty.balance, 0);

  const drained = new TokenBucket(1, 1, { clock });
  drained.take();
  assert.equal(drained.tryTake(0), 0);
});

Deno.test("TokenBucket with rate 0 never refills", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(2, 0, { clock });
  assert.equal(bucket.take(), true);
  assert.equal(bucket.tryTake(), 0);
  assert.equal(bucket.tryTake(), Infinity);
  clock.advance(1e12);
  assert.equal(bucket.balance, 0);
  bucket.reset();
  assert.equal(bucket.balance, 2);
});

Deno.test("TokenBucket at one clock instant only spends", () => {
  const clock = new ManualClock(1234);
  const bucket = new TokenBucket(10, 1000, { clock });
  for (let i = 0; i < 10; i++) assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
  assert.equal(bucket.tryTake(), 1);
  assert.equal(bucket.balance, 0);
});

Deno.test("TokenBucket with a fractional rate waits the exact time", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(1, 0.5, { clock });
  bucket.take();
  assert.equal(bucket.tryTake(), 2000);
  clock.advance(1999);
  assert.equal(bucket.take(), false);
  clock.advance(1);
  assert.equal(bucket.take(), true);
});

Deno.test("TokenBucket.reset() fills the bucket", () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(4, 1, { clock });
  bucket.take(4);
  bucket.reset();
  assert.equal(bucket.balance, 4);
  clock.advance(5000);
  assert.equal(bucket.balance, 4);
});

Deno.test("TokenBucket ignores a clock that goes back", () => {
  let now = 10_000;
  const clock: Clock = { now: () => now };
  const bucket = new TokenBucket(10, 1, { clock });
  bucket.take(10);
  now = 5000;
  assert.equal(bucket.balance, 0);
  now = 10_500;
  assert.equal(bucket.balance, 0.5); // counted from 10,000 ms, not from 5,000 ms
});

Deno.test("TokenBucket.tryTake() rejects a negative or non-finite cost", () => {
  const bucket = new TokenBucket(1, 1, { clock: new ManualClock() });
  for (const cost of [-1, NaN, Infinity]) {
    assert.throws(
      () => bucket.tryTake(cost),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message === `Cannot take tokens: 'cost' must be a finite number >= 0, got ${cost}`,
    );
  }
  assert.throws(() => bucket.take(-1), RangeError);
});

Deno.test("TokenBucket uses the system clock by default", () => {
  const bucket = new TokenBucket(1, 0);
  assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
});

Deno.test("TokenBucketTable gives each key its own bucket and unknown keys a full one", () => {
  const clock = new ManualClock();
  const table = new TokenBucketTable<string>({ capacity: 3, refillPerSecond: 1 }, 100, { clock });
  assert.equal(table.maxKeys, 100);
  assert.equal(table.balance("a"), 3);
  assert.equal(table.size, 0);
  assert.equal(table.take("a", 3), true);
  assert.equal(table.tryTake("a"), 1000);
  assert.equal(table.take("b"), true);
  assert.equal(table.balance("a"), 0);
  assert.equal(table.balance("b"), 2);
  assert.equal(table.size, 2);
  clock.advance(1500);
  assert.equal(table.balance("a"), 1.5);
  assert.equal(table.balance("b"), 3);
});

Deno.test("TokenBucketTable creates no entry for a free or impossible cost", () => {
  const clock = new ManualClock();
  const table = new TokenBucketTable<string>({ capacity: 3, refillPerSecond: 1 }, 10, { clock });
  assert.equal(table.tryTake("a", 0), 0);
  assert.equal(table.tryTake("a", 4), Infinity);
  assert.equal(table.size, 0);
  assert.throws(() => table.tryTake("a", -1), RangeError);
  assert.equal(table.take("a", 3), true);
  assert.equal(table.tryTake("a", 0), 0);
  assert.equal(table.tryTake("a", 4), Infinity);
});

Deno.test("TokenBucketTable evicts the least recently used key, which starts full again", () => {
  const clock = new ManualClock();
  const evicted: [string, EvictionReason][] = [];
  const table = new TokenBucketTable<string>({ capacity: 2, refillPerSecond: 1 }, 2, {
    clock,
    onEvict(key, reason) {
      evicted.push([key, reason]);
    },
  });
  table.take("a", 2);
  table.take("b", 2);
  table.tryTake("a"); // a refused, but used: b is now the oldest
  void table.balance("b"); // reading a balance does not count as use
  table.take("c", 1);
  assert.deepEqual(evicted, [["b", "capacity"]]);
  assert.equal(table.size, 2);
  assert.equal(table.balance("a"), 0);
  assert.equal(table.balance("b"), 2);
  assert.equal(table.balance("c"), 1);
});

Deno.test("TokenBucketTable.delete() and clear() drop buckets and report them", () => {
  const clock = new ManualClock();
  const evicted: [string, EvictionReason][] = [];
  const table = new TokenBucketTable<string>({ capacity: 5, refillPerSecond: 1 }, 3, {
    clock,
    onEvict(key, reason) {
      evicted.push([key, reason]);
    },
  });
  table.take("a", 1);
  table.take("b", 2);
  table.take("c", 3);
  assert.equal(table.delete("b"), true);
  assert.equal(table.delete("b"), false);
  assert.equal(table.balance("b"), 5);
  table.take("d", 4); // reuses the freed slot
  assert.equal(table.balance("a"), 4);
  assert.equal(table.balance("c"), 2);
  assert.equal(table.balance("d"), 1);
  assert.equal(table.size, 3);
  table.clear();
  assert.deepEqual(evicted, [["b", "delete"], ["a", "clear"], ["c", "clear"], ["d", "clear"]]);
  assert.equal(table.size, 0);
  assert.equal(table.balance("a"), 5);
  assert.equal(table.take("e", 5), true);
  assert.equal(table.balance("e"), 0);
});

Deno.test("TokenBucketTable never holds more than maxKeys under key rotation", () => {
  const clock = new ManualClock();
  let evicted = 0;
  const table = new TokenBucketTable<string>({ capacity: 1, refillPerSecond: 0 }, 500, {
    clock,
    onEvict() {
      evicted++;
    },
  });
  for (let i = 0; i < 20_000; i++) {
    assert.equal(table.take(`2001:db8:${i.toString(16)}::/64`), true);
    assert.ok(table.size <= 500);
  }
  assert.equal(table.size, 500);
  assert.equal(evicted, 19_500);
  // The newest keys are still drained; the rotated-out ones are full again.
  assert.equal(table.balance(`2001:db8:${(19_999).toString(16)}::/64`), 0);
  assert.equal(table.balance(`2001:db8:${(19_500).toString(16)}::/64`), 0);
  assert.equal(table.balance(`2001:db8:${(19_499).toString(16)}::/64`), 1);
});

Deno.test("TokenBucketTable answers exactly like one TokenBucket per key", () => {
  const clock = new ManualClock();
  const limit = { capacity: 7, refillPerSecond: 3 };
  const table = new TokenBucketTable<number>(limit, 1000, { clock });
  const buckets = new Map<number, TokenBucket>();
  let seed = 3;
  function random(n: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 8) % n;
  }
  for (let step = 0; step < 20_000; step++) {
    clock.advance(random(200));
    const key = random(20);
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(limit.capacity, limit.refillPerSecond, { clock });
      buckets.set(key, bucket);
    }
    const cost = random(9);
    assert.equal(table.tryTake(key, cost), bucket.tryTake(cost), `step ${step}`);
    assert.equal(table.balance(key), bucket.balance);
  }
});
