/**
 * A bounded, per-minute history of limit events by limit name, for the
 * status page's "last hour" chart. Memory is fixed: `buckets` counters per
 * limit name and at most `maxNames` names; the oldest minute is overwritten
 * as time moves on, so nothing needs a timer.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/** Options for {@linkcode LimitHistory}. */
export interface LimitHistoryOptions {
  /**
   * Width of one bucket in milliseconds.
   *
   * @default {60000}
   */
  bucketMs?: number;
  /**
   * How many buckets are kept (the chart's width).
   *
   * @default {60}
   */
  buckets?: number;
  /**
   * Distinct limit names kept; events of further names count under `"other"`.
   *
   * @default {32}
   */
  maxNames?: number;
}

/** The history as numbers, oldest bucket first. */
export interface LimitHistorySeries {
  /** Width of one bucket in milliseconds. */
  bucketMs: number;
  /** How many buckets each series has. */
  buckets: number;
  /** Milliseconds already elapsed in the newest (last) bucket. */
  elapsedInLastMs: number;
  /** Events per bucket by limit name, oldest first; only names with events in range. */
  byLimit: Record<string, number[]>;
  /** Events per bucket over all limits, oldest first. */
  totals: number[];
}

/** The name events of limits beyond `maxNames` are counted under. */
export const OTHER_LIMITS = "other";

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create limit history: '${name}' must be a positive integer, got ${value}`,
    );
  }
}

/**
 * Counts limit events per time bucket (a minute by default) over a fixed
 * window (an hour by default).
 *
 * @example Usage
 * ```ts
 * import { LimitHistory } from "./limit_history.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const history = new LimitHistory(clock);
 * history.record("stanza_size");
 * clock.advance(60_000);
 * history.record("stanza_size");
 * history.record("bandwidth");
 * const series = history.series();
 * assert.deepEqual(series.byLimit.stanza_size!.slice(-2), [1, 1]);
 * assert.deepEqual(series.totals.slice(-2), [1, 2]);
 * assert.equal(series.totals.length, 60);
 * ```
 */
export class LimitHistory {
  readonly #clock: Clock;
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #maxNames: number;
  /** Which bucket number each ring slot holds now. */
  readonly #stamps: Float64Array;
  readonly #counts = new Map<string, Float64Array>();

  /**
   * Creates an empty history.
   *
   * @param clock The time source (monotonic milliseconds).
   * @param options Bucket width, bucket count and the cap on names.
   * @throws {RangeError} If an option is not a positive integer.
   */
  constructor(clock: Clock, options: LimitHistoryOptions = {}) {
    const { bucketMs = 60_000, buckets = 60, maxNames = 32 } = options;
    checkPositiveInteger("bucketMs", bucketMs);
    checkPositiveInteger("buckets", buckets);
    checkPositiveInteger("maxNames", maxNames);
    this.#clock = clock;
    this.#bucketMs = bucketMs;
    this.#buckets = buckets;
    this.#maxNames = maxNames;
    this.#stamps = new Float64Array(buckets).fill(-Infinity);
  }

  /**
   * Counts `count` events of `limit` now.
   *
   * @param limit The limit's name, e.g. `connections_per_ip`.
   * @param count How many events.
   */
  record(limit: string, count = 1): void {
    const bucket = Math.floor(this.#clock.now() / this.#bucketMs);
    const slot = this.#slot(bucket);
    if (this.#stamps[slot] !== bucket) {
      for (const counts of this.#counts.values()) counts[slot] = 0;
      this.#stamps[slot] = bucket;
    }
    let counts = this.#counts.get(limit);
    if (counts === undefined) {
      const name = this.#counts.size < this.#maxNames ? limit : OTHER_LIMITS;
      counts = this.#counts.get(name);
      if (counts === undefined) {
        counts = new Float64Array(this.#buckets);
        this.#counts.set(name, counts);
      }
    }
    counts[slot]! += count;
  }

  /**
   * The counts of the last `buckets` buckets, the current one last.
   *
   * @returns Fresh arrays; names without events in range are left out.
   */
  series(): LimitHistorySeries {
    const now = this.#clock.now();
    const newest = Math.floor(now / this.#bucketMs);
    const totals = new Array<number>(this.#buckets).fill(0);
    const byLimit: Record<string, number[]> = {};
    for (const [name, counts] of this.#counts) {
      let seen = false;
      const out = new Array<number>(this.#buckets).fill(0);
      for (let i = 0; i < this.#buckets; i++) {
        const bucket = newest - this.#buckets + 1 + i;
        const slot = this.#slot(bucket);
        if (this.#stamps[slot] !== bucket) continue;
        const n = counts[slot]!;
        if (n === 0) continue;
        out[i] = n;
        totals[i]! += n;
        seen = true;
      }
      if (seen) byLimit[name] = out;
    }
    return {
      bucketMs: this.#bucketMs,
      buckets: this.#buckets,
      elapsedInLastMs: now - newest * this.#bucketMs,
      byLimit,
      totals,
    };
  }

  #slot(bucket: number): number {
    const slot = bucket % this.#buckets;
    return slot < 0 ? slot + this.#buckets : slot;
  }
}
