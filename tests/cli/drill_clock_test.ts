import assert from "node:assert/strict";
import { DrillClock } from "../../src/cli/drill_clock.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

// The real time underneath is a ManualClock, so nothing here sleeps.

Deno.test("DrillClock reads 0 at creation and then follows real time", () => {
  const real = new ManualClock(5000);
  using clock = new DrillClock(real);
  assert.equal(clock.now(), 0);
  real.advance(250);
  assert.equal(clock.now(), 250);
});

Deno.test("DrillClock timers fire as real time passes, like systemTimers", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  const fired: number[] = [];
  clock.set(() => fired.push(clock.now()), 100);
  real.advance(99);
  assert.deepEqual(fired, []);
  real.advance(1);
  assert.deepEqual(fired, [100]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("DrillClock.advance() fires due timers in order, each at its own reading", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  const seen: string[] = [];
  // A periodic probe that measures its own lateness, like the server's lag monitor.
  let expected = 1000;
  const probe = () => {
    seen.push(`probe late ${clock.now() - expected}`);
    expected = clock.now() + 1000;
    clock.set(probe, 1000);
  };
  clock.set(probe, 1000);
  clock.set(() => seen.push(`tarpit at ${clock.now()}`), 2500);
  clock.advance(3000);
  assert.deepEqual(seen, [
    "probe late 0",
    "probe late 0",
    "tarpit at 2500",
    "probe late 0",
  ]);
  assert.equal(clock.now(), 3000);
  assert.equal(real.now(), 0, "no real time passed");
});

Deno.test("DrillClock.advance() brings the remaining timers closer in real time", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  let fired = false;
  clock.set(() => (fired = true), 60_000);
  clock.advance(59_000);
  assert.equal(fired, false);
  real.advance(999);
  assert.equal(fired, false);
  real.advance(1);
  assert.equal(fired, true);
  assert.equal(clock.now(), 60_000);
});

Deno.test("DrillClock.nextTimerAt() names the earliest pending timer", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  assert.equal(clock.nextTimerAt(), undefined);
  clock.set(() => {}, 3000);
  const early = clock.set(() => {}, 2000);
  assert.equal(clock.nextTimerAt(), 2000);
  clock.clear(early);
  assert.equal(clock.nextTimerAt(), 3000);
});

Deno.test("DrillClock.clear() and disposal cancel the real timers underneath", () => {
  const real = new ManualClock();
  const clock = new DrillClock(real);
  let fired = 0;
  const id = clock.set(() => fired++, 10);
  clock.set(() => fired++, 20);
  clock.clear(id);
  clock.clear("unknown");
  assert.equal(real.pendingTimers, 1);
  clock[Symbol.dispose]();
  assert.equal(real.pendingTimers, 0);
  real.advance(100);
  assert.equal(fired, 0);
});

Deno.test("DrillClock.advance() refuses a negative or infinite skip and never goes backwards", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => clock.advance(Infinity), {
    name: "RangeError",
    message: "Cannot advance the clock: 'ms' must be a finite non-negative number, got Infinity",
  });
  clock.advance(500);
  real.advance(100);
  const before = clock.now();
  clock.advance(0);
  assert.ok(clock.now() >= before);
  assert.equal(clock.now(), 600);
});

Deno.test("DrillClock.advance() keeps its reading when a timer callback throws", () => {
  const real = new ManualClock();
  using clock = new DrillClock(real);
  clock.set(() => {
    throw new Error("boom");
  }, 10);
  assert.throws(() => clock.advance(1000), { message: "boom" });
  assert.equal(clock.now(), 1000);
});
