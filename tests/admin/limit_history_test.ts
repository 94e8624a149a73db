import assert from "node:assert/strict";
import { LimitHistory, OTHER_LIMITS } from "../../src/admin/limit_history.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

const MINUTE = 60_000;

Deno.test("LimitHistory.series() counts events per minute by limit, newest last", () => {
  const clock = new ManualClock(10 * MINUTE + 5_000);
  const history = new LimitHistory(clock);
  history.record("bandwidth");
  history.record("bandwidth");
  clock.advance(2 * MINUTE);
  history.record("stanza_size", 3);
  history.record("bandwidth");
  const series = history.series();
  assert.equal(series.buckets, 60);
  assert.equal(series.bucketMs, MINUTE);
  assert.equal(series.elapsedInLastMs, 5_000);
  assert.deepEqual(series.byLimit.bandwidth!.slice(-3), [2, 0, 1]);
  assert.deepEqual(series.byLimit.stanza_size!.slice(-3), [0, 0, 3]);
  assert.deepEqual(series.totals.slice(-3), [2, 0, 4]);
  assert.equal(series.totals.reduce((a, b) => a + b, 0), 6);
  assert.equal(series.totals.length, 60);
});

Deno.test("LimitHistory forgets events older than the window and reuses their slots", () => {
  const clock = new ManualClock();
  const history = new LimitHistory(clock, { buckets: 3, bucketMs: 1000 });
  history.record("a");
  clock.advance(2000);
  assert.deepEqual(history.series().byLimit.a, [1, 0, 0]);
  clock.advance(1000);
  // Three buckets later the first one is out of range.
  assert.deepEqual(history.series().byLimit, {});
  assert.deepEqual(history.series().totals, [0, 0, 0]);
  // The slot the old event sat in is zeroed before reuse.
  history.record("b");
  assert.deepEqual(history.series().byLimit, { b: [0, 0, 1] });
  clock.advance(60_000);
  history.record("a");
  assert.deepEqual(history.series().byLimit, { a: [0, 0, 1] });
});

Deno.test("LimitHistory counts names beyond maxNames under 'other'", () => {
  const clock = new ManualClock();
  const history = new LimitHistory(clock, { maxNames: 2, buckets: 2 });
  history.record("a");
  history.record("b");
  history.record("c");
  history.record("d");
  history.record("a");
  const series = history.series();
  assert.deepEqual(Object.keys(series.byLimit).sort(), ["a", "b", OTHER_LIMITS]);
  assert.deepEqual(series.byLimit[OTHER_LIMITS], [0, 2]);
  assert.deepEqual(series.byLimit.a, [0, 2]);
});

Deno.test("LimitHistory refuses options that are not positive integers", () => {
  const clock = new ManualClock();
  assert.throws(() => new LimitHistory(clock, { buckets: 0 }), {
    name: "RangeError",
    message: "Cannot create limit history: 'buckets' must be a positive integer, got 0",
  });
  assert.throws(() => new LimitHistory(clock, { bucketMs: 1.5 }), RangeError);
  assert.throws(() => new LimitHistory(clock, { maxNames: -1 }), RangeError);
});
