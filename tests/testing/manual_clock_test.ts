import assert from "node:assert/strict";
import { ManualClock } from "../../src/testing/manual_clock.ts";

Deno.test("ManualClock.now() starts at zero or at the given start", () => {
  assert.equal(new ManualClock().now(), 0);
  assert.equal(new ManualClock(1234.5).now(), 1234.5);
});

Deno.test("ManualClock.now() only moves when advanced", () => {
  const clock = new ManualClock(10);
  assert.equal(clock.now(), 10);
  assert.equal(clock.now(), 10);
  clock.advance(5);
  assert.equal(clock.now(), 15);
  clock.advance(0);
  assert.equal(clock.now(), 15);
});

Deno.test("ManualClock.advance() fires a timer exactly at its due time", () => {
  const clock = new ManualClock(100);
  const seen: number[] = [];
  clock.set(() => seen.push(clock.now()), 50);
  clock.advance(49);
  assert.deepEqual(seen, []);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(1);
  assert.deepEqual(seen, [150]);
  assert.equal(clock.pendingTimers, 0);
  clock.advance(1000);
  assert.deepEqual(seen, [150]);
});

Deno.test("ManualClock.advance() fires due timers in due-time order with now() at each due time", () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  clock.set(() => seen.push(`c@${clock.now()}`), 30);
  clock.set(() => seen.push(`a@${clock.now()}`), 10);
  clock.set(() => seen.push(`b@${clock.now()}`), 20);
  clock.advance(100);
  assert.deepEqual(seen, ["a@10", "b@20", "c@30"]);
  assert.equal(clock.now(), 100);
});

Deno.test("ManualClock.advance() fires timers due at the same time in the order they were set", () => {
  const clock = new ManualClock();
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) clock.set(() => seen.push(i), 7);
  clock.advance(7);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
});

Deno.test("ManualClock.advance() fires timers that callbacks schedule within the window", () => {
  const clock = new ManualClock();
  const seen: number[] = [];
  clock.set(() => {
    seen.push(clock.now());
    clock.set(() => seen.push(clock.now()), 10);
    clock.set(() => seen.push(clock.now()), 1000);
  }, 10);
  clock.advance(25);
  assert.deepEqual(seen, [10, 20]);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(990);
  assert.deepEqual(seen, [10, 20, 1010]);
});

Deno.test("ManualClock.advance() does not fire a timer that an earlier callback cleared", () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const later = clock.set(() => seen.push("later"), 20);
  clock.set(() => {
    seen.push("first");
    clock.clear(later);
  }, 10);
  clock.advance(30);
  assert.deepEqual(seen, ["first"]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("ManualClock.set() with a zero, negative or NaN delay fires on the next advance", () => {
  const clock = new ManualClock(5);
  const seen: string[] = [];
  clock.set(() => seen.push(`zero@${clock.now()}`), 0);
  clock.set(() => seen.push(`negative@${clock.now()}`), -100);
  clock.set(() => seen.push(`nan@${clock.now()}`), NaN);
  assert.deepEqual(seen, []);
  clock.advance(0);
  assert.deepEqual(seen, ["zero@5", "negative@5", "nan@5"]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("ManualClock.set() returns a distinct id per timer", () => {
  const clock = new ManualClock();
  const ids = new Set([clock.set(() => {}, 1), clock.set(() => {}, 1), clock.set(() => {}, 1)]);
  assert.equal(ids.size, 3);
});

Deno.test("ManualClock.clear() cancels only the given timer and ignores unknown ids", () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const a = clock.set(() => seen.push("a"), 10);
  clock.set(() => seen.push("b"), 10);
  clock.clear(a);
  clock.clear(a);
  clock.clear(12345);
  clock.clear(undefined);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(10);
  assert.deepEqual(seen, ["b"]);
});

Deno.test("ManualClock.advance() rejects negative, NaN and infinite amounts without moving", () => {
  const clock = new ManualClock(42);
  let fired = 0;
  clock.set(() => fired++, 1);
  for (const bad of [-1, -0.001, NaN, Infinity, -Infinity]) {
    assert.throws(() => clock.advance(bad), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /^Cannot advance the clock: 'ms' must be a finite non-negative/);
      return true;
    });
  }
  assert.equal(clock.now(), 42);
  assert.equal(fired, 0);
});

Deno.test("ManualClock satisfies the Timers contract", () => {
  const clock: import("../../src/core/clock.ts").Timers = new ManualClock();
  let fired = false;
  clock.set(() => fired = true, 1);
  (clock as ManualClock).advance(1);
  assert.ok(fired);
});
