import assert from "node:assert/strict";
import type { Clock } from "../../src/core/clock.ts";
import type { EvictionReason } from "../../src/limits/bounded_map.ts";
import { WindowCounter, WindowCounterTable } from "../../src/limits/window_counter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

const DAY = 86_400_000;

function lcg(seed: number): (n: number) => number {
  return function random(n: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 8) % n;
  };
}

Deno.test("WindowCounter() rejects limits out of range", () => {
  assert.throws(
    () => new WindowCounter(-1, 1000),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "Cannot create window counter: 'max' must be an integer >= 0, got -1",
  );
  assert.throws(() => new WindowCounter(1.5, 1000), RangeError);
  assert.throws(
    () => new WindowCounter(1, 0),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create window counter: 'windowMs' must be a positive integer, got 0",
  );
  assert.throws(() => new WindowCounter(1, 1.5), RangeError);
  assert.throws(() => new WindowCounter(1, Infinity), RangeError);
  assert.throws(
    () => new WindowCounter(2 ** 31, 2 ** 31),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        `Cannot create window counter: 'max' × 'windowMs' must not exceed 9007199254740991, got ${
          2 ** 62
        }`,
  );
});

Deno.test("WindowCounter.hit() accepts max hits in a window and refuses the next", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(3, 1000, { clock });
  assert.equal(counter.max, 3);
  assert.equal(counter.windowMs, 1000);
  assert.equal(counter.peek(), true);
  assert.equal(counter.retryAfterMs(), 0);
  for (let i = 0; i < 3; i++) assert.equal(counter.hit(), true);
  assert.equal(counter.count, 3);
  assert.equal(counter.hit(), false);
  assert.equal(counter.peek(), false);
  assert.equal(counter.count, 3); // refused hits are not counted
});

Deno.test("WindowCounter counts the previous window by its share of the last windowMs", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(4, 1000, { clock });
  counter.hit();
  counter.hit();
  clock.advance(1250); // 250 ms into the next window: 2 × 750 / 1000
  assert.equal(counter.count, 1.5);
  assert.equal(counter.hit(), true);
  assert.equal(counter.count, 2.5);
  clock.advance(500); // 750 ms in: 2 × 250 / 1000 + 1
  assert.equal(counter.count, 1.5);
  clock.advance(250); // a window with 1 hit just ended
  assert.equal(counter.count, 1);
  clock.advance(1000); // two windows later everything is forgotten
  assert.equal(counter.count, 0);
});

Deno.test("WindowCounter.retryAfterMs() is exact when the current window is full", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(3, 1000, { clock });
  clock.advance(500);
  for (let i = 0; i < 3; i++) counter.hit();
  // The next window starts in 500 ms with prev = 3, which fits 1 ms later.
  assert.equal(counter.retryAfterMs(), 501);
  clock.advance(500);
  assert.equal(counter.peek(), false);
  assert.equal(counter.retryAfterMs(), 1);
  clock.advance(1);
  assert.equal(counter.retryAfterMs(), 0);
  assert.equal(counter.hit(), true);
});

Deno.test("WindowCounter.retryAfterMs() is exact while the previous window fades", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(4, 1000, { clock });
  for (let i = 0; i < 4; i++) counter.hit();
  clock.advance(1000); // e = 0: 4 × 1000/1000 = 4, not below 4
  assert.equal(counter.hit(), false);
  assert.equal(counter.retryAfterMs(), 1);
  clock.advance(1); // 4 × 999/1000 = 3.996
  assert.equal(counter.hit(), true);
  // Next: 1 + 4 × (1000 − e)/1000 < 4 once e > 250, i.e. at e = 251.
  assert.equal(counter.retryAfterMs(), 250);
  clock.advance(249);
  assert.equal(counter.hit(), false);
  clock.advance(1);
  assert.equal(counter.hit(), true);
  assert.equal(counter.retryAfterMs(), 250); // e > 500
  clock.advance(250);
  assert.equal(counter.hit(), true);
});

Deno.test("WindowCounter.retryAfterMs() says exactly when a hit next fits", () => {
  const random = lcg(5);
  for (const [max, windowMs] of [[1, 1000], [3, 1000], [7, 333], [10, 60_000]] as const) {
    const clock = new ManualClock(random(100_000));
    const counter = new WindowCounter(max, windowMs, { clock });
    let checked = 0;
    for (let step = 0; step < 3000; step++) {
      clock.advance(random(Math.ceil((windowMs / max) * 1.5)));
      if (counter.hit()) continue;
      const wait = counter.retryAfterMs();
      assert.ok(wait > 0 && Number.isInteger(wait), `wait ${wait}`);
      clock.advance(wait - 1);
      assert.equal(counter.peek(), false, `${max}/${windowMs} step ${step}: early`);
      clock.advance(1);
      assert.equal(counter.peek(), true, `${max}/${windowMs} step ${step}: late`);
      checked++;
    }
    assert.ok(checked > 100, `checked ${checked}`);
  }
});

Deno.test("WindowCounter accepts at most max hits in any fixed window", () => {
  const random = lcg(9);
  const clock = new ManualClock();
  const counter = new WindowCounter(5, 1000, { clock });
  const perWindow = new Map<number, number>();
  for (let step = 0; step < 20_000; step++) {
    clock.advance(random(120));
    if (counter.hit()) {
      const window = Math.floor(clock.now() / 1000);
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
    }
  }
  assert.equal(Math.max(...perWindow.values()), 5);
});

Deno.test("WindowCounter reaches but never passes 2 × max in an interval of windowMs", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(10, 1000, { clock });
  clock.advance(999);
  let accepted = 0;
  while (counter.hit()) accepted++;
  assert.equal(accepted, 10);
  clock.advance(999); // t = 1998, e = 998: curr + 10 × 2/1000 < 10 while curr ≤ 9
  while (counter.hit()) accepted++;
  assert.equal(accepted, 20); // all within [999, 1998], shorter than 1000 ms

  // The bound holds for any arrival pattern: check every 1000 ms interval.
  const random = lcg(21);
  const times: number[] = [];
  const other = new WindowCounter(10, 1000, { clock });
  for (let step = 0; step < 30_000; step++) {
    clock.advance(random(30));
    if (other.hit()) times.push(clock.now());
  }
  let worst = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while ((times[j] as number) - (times[i] as number) >= 1000) i++;
    worst = Math.max(worst, j - i + 1);
  }
  assert.ok(worst <= 20, `worst ${worst}`);
});

Deno.test("WindowCounter gives a client that retries at once exactly max per window", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(3, 1000, { clock });
  const perWindow: number[] = [];
  for (let t = 0; t < 100_000; t++) {
    if (counter.hit()) {
      const window = Math.floor(t / 1000);
      perWindow[window] = (perWindow[window] ?? 0) + 1;
    }
    clock.advance(1);
  }
  assert.equal(perWindow.length, 100);
  assert.ok(perWindow.every((n) => n === 3));
  // From the second window on, the hits come as the previous share fades: e = 1, 334, 667.
  const local = new ManualClock(0);
  const probe = new WindowCounter(3, 1000, { clock: local });
  const times: number[] = [];
  for (let t = 0; t < 2000; t++) {
    if (probe.hit()) times.push(t);
    local.advance(1);
  }
  assert.deepEqual(times, [0, 1, 2, 1001, 1334, 1667]);
});

Deno.test("WindowCounter never refuses while fewer than max hits came since the previous window began", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(5, 1000, { clock });
  clock.advance(100);
  counter.hit();
  counter.hit();
  clock.advance(900); // e = 0 of the next window: the estimate counts both in full
  assert.equal(counter.hit(), true);
  assert.equal(counter.hit(), true);
  assert.equal(counter.hit(), true);
  assert.equal(counter.hit(), false); // 3 + 2 = 5
});

Deno.test("WindowCounter with max 0 refuses everything forever", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(0, 1000, { clock });
  assert.equal(counter.hit(), false);
  assert.equal(counter.peek(), false);
  assert.equal(counter.retryAfterMs(), Infinity);
  assert.equal(counter.count, 0);
});

Deno.test("WindowCounter handles a window of a year", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(1000, 365 * DAY, { clock });
  for (let i = 0; i < 1000; i++) assert.equal(counter.hit(), true);
  clock.advance(364 * DAY);
  assert.equal(counter.hit(), false);
  assert.equal(counter.retryAfterMs(), DAY + 1);
  clock.advance(DAY);
  assert.equal(counter.hit(), false); // prev = 1000 counts in full at e = 0
  clock.advance(365 * DAY / 1000); // e = W / max: 1000 × (W − e)/W = 999
  assert.equal(counter.count, 999);
  assert.equal(counter.hit(), true);
});

Deno.test("WindowCounter at one clock instant accepts exactly max", () => {
  const clock = new ManualClock(77_777);
  const counter = new WindowCounter(50, 10, { clock });
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (counter.hit()) accepted++;
  assert.equal(accepted, 50);
});

Deno.test("WindowCounter stays in its window when the clock goes back", () => {
  let now = 6000;
  const clock: Clock = { now: () => now };
  const counter = new WindowCounter(2, 1000, { clock });
  counter.hit();
  counter.hit();
  now = 4000; // back into an earlier window: treated as the start of window 6
  assert.equal(counter.count, 2);
  assert.equal(counter.hit(), false);
  assert.equal(counter.retryAfterMs(), 1001);
  now = 7001; // time moves on from window 6
  assert.equal(counter.count, 2 * 999 / 1000);
  assert.equal(counter.hit(), true);
});

Deno.test("WindowCounter.reset() forgets every hit", () => {
  const clock = new ManualClock();
  const counter = new WindowCounter(1, 1000, { clock });
  counter.hit();
  clock.advance(1000);
  counter.reset();
  assert.equal(counter.count, 0);
  assert.equal(counter.hit(), true);
});

Deno.test("WindowCounterTable answers exactly like one WindowCounter per key", () => {
  const clock = new ManualClock();
  const limit = { max: 4, windowMs: 700 };
  const table = new WindowCounterTable<number>(limit, 1000, { clock });
  assert.equal(table.maxKeys, 1000);
  const counters = new Map<number, WindowCounter>();
  const random = lcg(17);
  for (let step = 0; step < 30_000; step++) {
    clock.advance(random(60));
    const key = random(10);
    let counter = counters.get(key);
    if (counter === undefined) {
      counter = new WindowCounter(limit.max, limit.windowMs, { clock });
      counters.set(key, counter);
    }
    const message = `step ${step}`;
    switch (random(4)) {
      case 0:
        assert.equal(table.peek(key), counter.peek(), message);
        break;
      case 1:
        assert.equal(table.retryAfterMs(key), counter.retryAfterMs(), message);
        break;
      default:
        assert.equal(table.hit(key), counter.hit(), message);
    }
    assert.equal(table.count(key), counter.count, message);
  }
  assert.equal(table.size, 10);
});

Deno.test("WindowCounterTable treats unknown keys as having no hits", () => {
  const clock = new ManualClock();
  const table = new WindowCounterTable<string>({ max: 2, windowMs: 1000 }, 10, { clock });
  assert.equal(table.peek("a"), true);
  assert.equal(table.retryAfterMs("a"), 0);
  assert.equal(table.count("a"), 0);
  assert.equal(table.size, 0);
  const none = new WindowCounterTable<string>({ max: 0, windowMs: 1000 }, 10, { clock });
  assert.equal(none.hit("a"), false);
  assert.equal(none.peek("a"), false);
  assert.equal(none.retryAfterMs("a"), Infinity);
  assert.equal(none.size, 0);
});

Deno.test("WindowCounterTable evicts the least recently hit key, which starts from zero", () => {
  const clock = new ManualClock();
  const evicted: [string, EvictionReason][] = [];
  const table = new WindowCounterTable<string>({ max: 1, windowMs: 1000 }, 2, {
    clock,
    onEvict(key, reason) {
      evicted.push([key, reason]);
    },
  });
  table.hit("a");
  table.hit("b");
  table.hit("a"); // refused, but used: b is now the oldest
  table.peek("b");
  table.count("b");
  table.retryAfterMs("b"); // none of these count as use
  table.hit("c");
  assert.deepEqual(evicted, [["b", "capacity"]]);
  assert.equal(table.hit("a"), false);
  assert.equal(table.hit("c"), false);
  assert.equal(table.count("b"), 0);
  assert.equal(table.hit("b"), true);
});

Deno.test("WindowCounterTable.delete() and clear() drop counters and report them", () => {
  const clock = new ManualClock();
  const evicted: [string, EvictionReason][] = [];
  const table = new WindowCounterTable<string>({ max: 3, windowMs: 1000 }, 3, {
    clock,
    onEvict(key, reason) {
      evicted.push([key, reason]);
    },
  });
  table.hit("a");
  table.hit("b");
  table.hit("b");
  table.hit("c");
  assert.equal(table.delete("b"), true);
  assert.equal(table.delete("b"), false);
  table.hit("d"); // reuses the freed slot
  assert.deepEqual([table.count("a"), table.count("b"), table.count("c"), table.count("d")], [
    1,
    0,
    1,
    1,
  ]);
  table.clear();
  assert.deepEqual(evicted, [["b", "delete"], ["a", "clear"], ["c", "clear"], ["d", "clear"]]);
  assert.equal(table.size, 0);
  assert.equal(table.hit("a"), true);
  assert.equal(table.count("a"), 1);
});

Deno.test("WindowCounterTable never holds more than maxKeys under key rotation", () => {
  const clock = new ManualClock();
  const table = new WindowCounterTable<string>({ max: 1, windowMs: 60_000 }, 256, { clock });
  for (let i = 0; i < 10_000; i++) {
    assert.equal(table.hit(`198.51.${i >> 8}.${i & 255}`), true);
    assert.ok(table.size <= 256);
  }
  assert.equal(table.size, 256);
  assert.equal(table.hit("198.51.39.15"), false); // the newest key is still counted
  assert.equal(table.count("198.51.0.0"), 0); // long evicted
});
