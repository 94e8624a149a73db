/**
 * The tarpit for failed authentication per address (XEP-0205
 * `auth_failures_per_ip`): how long to hold the answer to the n-th failure,
 * and when to stop accepting attempts from the address altogether.
 *
 * Delaying the `<failure/>` costs a guessing client time per guess without
 * locking out the account owner (XEP-0205 advises against per-JID lockouts).
 * Counting failures per address over time, and forgetting them, is the job of
 * a window counter; this module only maps a count to a decision.
 *
 * @module
 */

/** Options for {@linkcode AuthBackoff}. */
export interface AuthBackoffOptions {
  /**
   * Failures answered at once, before any delay (a mistyped password).
   *
   * @default {1}
   */
  freeFailures?: number;
  /**
   * The delay before answering the first delayed failure, in milliseconds;
   * each later failure doubles it.
   *
   * @default {1000}
   */
  baseDelayMs?: number;
  /**
   * The longest delay, in milliseconds.
   *
   * @default {30000}
   */
  maxDelayMs?: number;
  /**
   * The failure count from which the address is refused (no more
   * authentication attempts or new connections until failures are forgotten);
   * `Infinity` never refuses.
   *
   * @default {10}
   */
  refuseAfter?: number;
}

/**
 * The delay schedule for failed authentication from one address. With `f`
 * free failures, base `b` and cap `c`, the answer to the n-th failure
 * (n = 1, 2, …) is held for
 *
 * - `0` when `n ≤ f`;
 * - `min(c, b × 2^(n − f − 1))` otherwise,
 *
 * and the address is refused once `n ≥ refuseAfter`. With the defaults: 0 s,
 * 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s, refused from the 10th failure.
 * The schedule is a pure function of the count: no clock, no state.
 *
 * @example Usage
 * ```ts
 * import { AuthBackoff } from "./backoff.ts";
 * import assert from "node:assert/strict";
 *
 * const tarpit = new AuthBackoff({ freeFailures: 1, baseDelayMs: 500, maxDelayMs: 4000, refuseAfter: 6 });
 * assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => tarpit.delayMs(n)), [0, 500, 1000, 2000, 4000, 4000]);
 * assert.equal(tarpit.isRefused(5), false);
 * assert.equal(tarpit.isRefused(6), true);
 * ```
 */
export class AuthBackoff {
  readonly #free: number;
  readonly #base: number;
  readonly #cap: number;
  readonly #refuseAfter: number;

  /**
   * Creates a schedule.
   *
   * @param options The free failures, base delay, cap and refusal threshold.
   * @throws {RangeError} If `freeFailures` is not an integer ≥ 0, a delay is
   * negative or not finite, `maxDelayMs` is below `baseDelayMs`, or
   * `refuseAfter` is neither an integer ≥ 1 nor `Infinity`.
   */
  constructor(options: AuthBackoffOptions = {}) {
    const {
      freeFailures = 1,
      baseDelayMs = 1000,
      maxDelayMs = 30_000,
      refuseAfter = 10,
    } = options;
    if (!Number.isSafeInteger(freeFailures) || freeFailures < 0) {
      throw new RangeError(
        `Cannot create auth backoff: 'freeFailures' must be an integer >= 0, got ${freeFailures}`,
      );
    }
    if (!Number.isFinite(baseDelayMs) || baseDelayMs < 0) {
      throw new RangeError(
        `Cannot create auth backoff: 'baseDelayMs' must be a finite number >= 0, got ${baseDelayMs}`,
      );
    }
    if (!Number.isFinite(maxDelayMs) || maxDelayMs < baseDelayMs) {
      throw new RangeError(
        `Cannot create auth backoff: 'maxDelayMs' must be a finite number >= 'baseDelayMs' (${baseDelayMs}), got ${maxDelayMs}`,
      );
    }
    if (!(Number.isSafeInteger(refuseAfter) && refuseAfter >= 1) && refuseAfter !== Infinity) {
      throw new RangeError(
        `Cannot create auth backoff: 'refuseAfter' must be an integer >= 1 or Infinity, got ${refuseAfter}`,
      );
    }
    this.#free = freeFailures;
    this.#base = baseDelayMs;
    this.#cap = maxDelayMs;
    this.#refuseAfter = refuseAfter;
  }

  /**
   * How long to hold the answer to the `failures`-th failure.
   *
   * @param failures The failure count including this one; 0 means none.
   * @returns The delay in milliseconds, from 0 to `maxDelayMs`.
   * @throws {RangeError} If `failures` is not an integer ≥ 0.
   */
  delayMs(failures: number): number {
    checkFailures(failures);
    if (failures <= this.#free) return 0;
    // 2^1023 is the largest finite power; any larger exponent is capped anyway.
    const delay = this.#base * 2 ** Math.min(failures - this.#free - 1, 1023);
    return delay < this.#cap ? delay : this.#cap;
  }

  /**
   * Tells whether an address with `failures` failures is refused.
   *
   * @param failures The failure count.
   * @returns `true` once `failures` reaches `refuseAfter`.
   * @throws {RangeError} If `failures` is not an integer ≥ 0.
   */
  isRefused(failures: number): boolean {
    checkFailures(failures);
    return failures >= this.#refuseAfter;
  }
}

function checkFailures(failures: number): void {
  if (!Number.isSafeInteger(failures) || failures < 0) {
    throw new RangeError(
      `Cannot compute auth backoff: 'failures' must be an integer >= 0, got ${failures}`,
    );
  }
}
