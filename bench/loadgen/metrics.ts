/**
 * Latency samples and percentiles for the load generator.
 *
 * @module
 */

/**
 * The value at percentile `p` (0-100) of sorted samples, nearest-rank.
 *
 * @param sorted Samples in ascending order.
 * @param p The percentile.
 * @returns The sample, or `NaN` when there are none.
 *
 * @example Usage
 * ```ts
 * import { percentile } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(percentile([1, 2, 3, 4], 50), 2);
 * assert.equal(percentile([1, 2, 3, 4], 99), 4);
 * ```
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * Rounds for JSON output.
 *
 * @param value The number.
 * @param digits Decimal places. @default {2}
 * @returns The rounded number (`null` for NaN, so JSON stays valid).
 */
export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * Collects latency samples (milliseconds) without per-sample allocation.
 *
 * @example Usage
 * ```ts
 * import { LatencyRecorder } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * const recorder = new LatencyRecorder();
 * for (let i = 1; i <= 100; i++) recorder.add(i);
 * assert.deepEqual(recorder.summary(), { count: 100, p50: 50, p99: 99, max: 100 });
 * ```
 */
export class LatencyRecorder {
  #samples = new Float64Array(1024);
  #count = 0;

  /** How many samples were added. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds one sample.
   *
   * @param ms The latency in milliseconds.
   */
  add(ms: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = ms;
  }

  /** Forgets every sample. */
  clear(): void {
    this.#count = 0;
  }

  /**
   * Percentile of the samples so far.
   *
   * @param p The percentile, 0-100.
   * @returns The value in ms, or NaN without samples.
   */
  percentile(p: number): number {
    const sorted = this.#samples.slice(0, this.#count).sort();
    return percentile(sorted, p);
  }

  /** Count, p50, p99 and max, rounded to 0.01 ms. */
  summary(): { count: number; p50: number | null; p99: number | null; max: number | null } {
    const sorted = this.#samples.slice(0, this.#count).sort();
    return {
      count: this.#count,
      p50: round(percentile(sorted, 50)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!),
    };
  }
}
