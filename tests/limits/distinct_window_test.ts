import assert from "node:assert/strict";
import type { Clock } from "../../src/core/clock.ts";
import { DistinctWindow } from "../../src/limits/distinct_window.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

Deno.test("DistinctWindow() rejects limits out of range", () => {
  assert.throws(
    () => new DistinctWindow(-1, 1000),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create distinct window: 'max' must be an integer from 0 to 2^31 - 1, got -1",
  );
  assert.throws(() => new DistinctWindow(2.5, 1000), RangeError);
  assert.throws(() => new DistinctWindow(2 ** 31, 1000), RangeError);
  assert.throws(
    () => new DistinctWindow(1, 0),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create distinct window: 'windowMs' must be a positive finite number, got 0",
  );
  assert.throws(() => new DistinctWindow(1, Infinity), RangeError);
  assert.throws(() => new DistinctWindow(1, NaN), RangeError);
});

Deno.test("DistinctWindow.check() admits max distinct recipients and refuses a new one", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(3, 60_000, { clock });
  assert.equal(window.check("a@example.org").allowed, true);
  assert.equal(window.check("b@example.org").allowed, true);
  assert.equal(window.check("c@example.org").allowed, true);
  assert.equal(window.size, 3);
  assert.deepEqual(window.check("d@example.org"), { allowed: false, retryAfterMs: 60_000 });
  assert.equal(window.size, 3); // a refused recipient is not counted
});

Deno.test("DistinctWindow.check() always passes a counted recipient", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(1, 1000, { clock });
  assert.equal(window.check("a").allowed, true);
  for (let i = 0; i < 100; i++) {
    clock.advance(5);
    assert.equal(window.check("a").allowed, true);
  }
  assert.equal(window.check("b").allowed, false);
});

Deno.test("DistinctWindow refreshes a recipient each time it is addressed", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(2, 60_000, { clock });
  window.check("a"); // t = 0
  clock.advance(10_000);
  window.check("b"); // t = 10 s
  clock.advance(10_000);
  window.check("a"); // t = 20 s: a now ages out at 80 s, b at 70 s
  clock.advance(45_000); // t = 65 s
  assert.deepEqual(window.check("c"), { allowed: false, retryAfterMs: 5000 });
  clock.advance(4999);
  assert.equal(window.check("c").allowed, false);
  clock.advance(1); // t = 70 s: b is out
  assert.equal(window.check("c").allowed, true);
  assert.deepEqual(window.check("b"), { allowed: false, retryAfterMs: 10_000 });
});

Deno.test("DistinctWindow counts a recipient for exactly windowMs after the last stanza", () => {
  const clock = new ManualClock(1_000_000);
  const window = new DistinctWindow(1, 1000, { clock });
  window.check("a");
  clock.advance(999);
  assert.equal(window.size, 1);
  assert.deepEqual(window.check("b"), { allowed: false, retryAfterMs: 1 });
  clock.advance(1);
  assert.equal(window.size, 0);
  assert.equal(window.check("b").allowed, true);
});

Deno.test("DistinctWindow retry hint names the oldest recipient's expiry", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(3, 100, { clock });
  window.check("a");
  clock.advance(10);
  window.check("b");
  clock.advance(10);
  window.check("c");
  clock.advance(10);
  assert.deepEqual(window.check("x"), { allowed: false, retryAfterMs: 70 });
  clock.advance(70);
  assert.equal(window.check("x").allowed, true); // a went, x took its place
  assert.deepEqual(window.check("y"), { allowed: false, retryAfterMs: 10 }); // b at 110
});

Deno.test("DistinctWindow gives an exact hint after the oldest recipient is refreshed", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(3, 1000, { clock });
  window.check("a"); // t = 0
  clock.advance(100);
  window.check("b"); // t = 100
  clock.advance(100);
  window.check("c"); // t = 200
  assert.deepEqual(window.check("x"), { allowed: false, retryAfterMs: 800 }); // a at 1000
  clock.advance(50);
  assert.equal(window.check("a").allowed, true); // a refreshed to 250: b is now the oldest
  assert.deepEqual(window.check("x"), { allowed: false, retryAfterMs: 850 }); // b at 1100
  clock.advance(849);
  assert.equal(window.check("x").allowed, false);
  clock.advance(1);
  assert.equal(window.check("x").allowed, true);
  assert.deepEqual(window.check("y"), { allowed: false, retryAfterMs: 100 }); // c at 1200
});

Deno.test("DistinctWindow lets an aged-out recipient come back into its own place", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(2, 1000, { clock });
  window.check("a"); // t = 0
  clock.advance(500);
  window.check("b"); // t = 500
  clock.advance(700); // t = 1200: a aged out, b counted until 1500
  assert.equal(window.check("a").allowed, true);
  assert.equal(window.size, 2);
  assert.deepEqual(window.check("c"), { allowed: false, retryAfterMs: 300 });
});

Deno.test("DistinctWindow answers allowed checks with one shared object", () => {
  const window = new DistinctWindow(2, 1000, { clock: new ManualClock() });
  const first = window.check("a");
  assert.equal(window.check("b"), first);
  assert.equal(window.check("a"), first);
  assert.equal(Object.isFrozen(first), true);
  assert.equal(first.retryAfterMs, undefined);
});

Deno.test("DistinctWindow holds at most max recipients whatever is sent", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(100, 60_000, { clock });
  const allowedAt: number[] = [];
  for (let t = 0; t < 100_000; t++) {
    if (window.check(`spam${t}@example.org`).allowed) allowedAt.push(t);
    assert.ok(window.size <= 100);
    clock.advance(1);
  }
  // A new recipient every millisecond: the first 100 fit, then room comes back only
  // as those age out, 60 s after each was addressed.
  const expected = [0, 60_000].flatMap((start) => Array.from({ length: 100 }, (_, i) => start + i));
  assert.deepEqual(allowedAt, expected);
});

Deno.test("DistinctWindow with max 0 refuses every recipient", () => {
  const window = new DistinctWindow(0, 1000, { clock: new ManualClock() });
  assert.deepEqual(window.check("a"), { allowed: false, retryAfterMs: Infinity });
  assert.equal(window.size, 0);
});

Deno.test("DistinctWindow at one clock instant admits exactly max", () => {
  const window = new DistinctWindow(5, 1000, { clock: new ManualClock(42) });
  let allowed = 0;
  for (let i = 0; i < 50; i++) if (window.check(`r${i}`).allowed) allowed++;
  assert.equal(allowed, 5);
  assert.deepEqual(window.check("late"), { allowed: false, retryAfterMs: 1000 });
});

Deno.test("DistinctWindow handles a huge window", () => {
  const clock = new ManualClock();
  const window = new DistinctWindow(1, 1e15, { clock });
  window.check("a");
  clock.advance(1e14);
  assert.deepEqual(window.check("b"), { allowed: false, retryAfterMs: 9e14 });
});

Deno.test("DistinctWindow rounds the retry hint up on a fractional clock", () => {
  let now = 0.25;
  const clock: Clock = { now: () => now };
  const window = new DistinctWindow(1, 10, { clock });
  window.check("a");
  now = 3.5;
  assert.deepEqual(window.check("b"), { allowed: false, retryAfterMs: 7 }); // 6.75 rounded up
});

Deno.test("DistinctWindow keeps a recipient's latest time when the clock goes back", () => {
  let now = 5000;
  const clock: Clock = { now: () => now };
  const window = new DistinctWindow(1, 1000, { clock });
  window.check("a");
  now = 4000;
  assert.equal(window.check("a").allowed, true);
  now = 5999;
  assert.equal(window.check("b").allowed, false);
  now = 6000;
  assert.equal(window.check("b").allowed, true);
});

Deno.test("DistinctWindow.reset() forgets every recipient", () => {
  const window = new DistinctWindow(1, 1000, { clock: new ManualClock() });
  window.check("a");
  window.reset();
  assert.equal(window.size, 0);
  assert.equal(window.check("b").allowed, true);
});

Deno.test("DistinctWindow.check() counts at the time it is given, without reading the clock", () => {
  let reads = 0;
  const clock: Clock = {
    now() {
      reads++;
      return 5_000;
    },
  };
  const window = new DistinctWindow(1, 1000, { clock });
  assert.equal(window.check("a@example.org", 0).allowed, true);
  assert.deepEqual(window.check("b@example.org", 400), { allowed: false, retryAfterMs: 600 });
  assert.equal(window.check("a@example.org", 900).allowed, true); // refreshed at 900
  assert.deepEqual(window.check("b@example.org", 1500), { allowed: false, retryAfterMs: 400 });
  assert.equal(reads, 0);
  // Without a time, the clock's (5000): "a" aged out, "b" takes its place.
  assert.equal(window.check("b@example.org").allowed, true);
  assert.equal(reads, 1);
});
