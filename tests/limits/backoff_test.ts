import assert from "node:assert/strict";
import { AuthBackoff } from "../../src/limits/backoff.ts";

Deno.test("AuthBackoff defaults: one free failure, 1 s doubling to 30 s, refused from 10", () => {
  const backoff = new AuthBackoff();
  const delays = Array.from({ length: 12 }, (_, i) => backoff.delayMs(i));
  assert.deepEqual(delays, [
    0,
    0,
    1000,
    2000,
    4000,
    8000,
    16_000,
    30_000,
    30_000,
    30_000,
    30_000,
    30_000,
  ]);
  assert.equal(backoff.isRefused(0), false);
  assert.equal(backoff.isRefused(9), false);
  assert.equal(backoff.isRefused(10), true);
  assert.equal(backoff.isRefused(11), true);
});

Deno.test("AuthBackoff.delayMs() doubles from the base after the free failures", () => {
  const backoff = new AuthBackoff({ freeFailures: 3, baseDelayMs: 250, maxDelayMs: 60_000 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoff.delayMs(n)),
    [0, 0, 0, 250, 500, 1000, 2000],
  );
});

Deno.test("AuthBackoff.delayMs() with no free failures delays the first failure", () => {
  const backoff = new AuthBackoff({ freeFailures: 0, baseDelayMs: 100, maxDelayMs: 350 });
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => backoff.delayMs(n)), [0, 100, 200, 350, 350]);
});

Deno.test("AuthBackoff.delayMs() stays at the cap for huge failure counts", () => {
  const backoff = new AuthBackoff({ baseDelayMs: 7, maxDelayMs: 1234 });
  assert.equal(backoff.delayMs(2000), 1234);
  assert.equal(backoff.delayMs(Number.MAX_SAFE_INTEGER), 1234);
  const never = new AuthBackoff({ baseDelayMs: 0, maxDelayMs: 0 });
  assert.equal(never.delayMs(5000), 0);
});

Deno.test("AuthBackoff with refuseAfter Infinity never refuses", () => {
  const backoff = new AuthBackoff({ refuseAfter: Infinity });
  assert.equal(backoff.isRefused(Number.MAX_SAFE_INTEGER), false);
  const strict = new AuthBackoff({ refuseAfter: 1 });
  assert.equal(strict.isRefused(0), false);
  assert.equal(strict.isRefused(1), true);
});

Deno.test("AuthBackoff() rejects options out of range", () => {
  const cases: [object, string][] = [
    [{ freeFailures: -1 }, "'freeFailures' must be an integer >= 0, got -1"],
    [{ freeFailures: 1.5 }, "'freeFailures' must be an integer >= 0, got 1.5"],
    [{ baseDelayMs: -1 }, "'baseDelayMs' must be a finite number >= 0, got -1"],
    [{ baseDelayMs: Infinity }, "'baseDelayMs' must be a finite number >= 0, got Infinity"],
    [
      { baseDelayMs: 1000, maxDelayMs: 999 },
      "'maxDelayMs' must be a finite number >= 'baseDelayMs' (1000), got 999",
    ],
    [
      { maxDelayMs: Infinity },
      "'maxDelayMs' must be a finite number >= 'baseDelayMs' (1000), got Infinity",
    ],
    [{ refuseAfter: 0 }, "'refuseAfter' must be an integer >= 1 or Infinity, got 0"],
    [{ refuseAfter: 2.5 }, "'refuseAfter' must be an integer >= 1 or Infinity, got 2.5"],
    [{ refuseAfter: NaN }, "'refuseAfter' must be an integer >= 1 or Infinity, got NaN"],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => new AuthBackoff(options),
      (error: unknown) =>
        error instanceof RangeError && error.message === `Cannot create auth backoff: ${message}`,
      message,
    );
  }
});

Deno.test("AuthBackoff rejects a failure count that is not an integer >= 0", () => {
  const backoff = new AuthBackoff();
  for (const failures of [-1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => backoff.delayMs(failures),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot compute auth backoff: 'failures' must be an integer >= 0, got ${failures}`,
    );
    assert.throws(() => backoff.isRefused(failures), RangeError);
  }
});
