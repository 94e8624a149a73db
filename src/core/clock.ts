/**
 * Time as the server sees it: a monotonic millisecond clock and timers that
 * can be replaced in tests. Nothing else in the server reads `Date.now()` or
 * calls `setTimeout` directly, so every time window is exact under test.
 *
 * @module
 */

/** A monotonic clock in milliseconds. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  now(): number;
}

/** An opaque handle for a scheduled callback, cancelled with {@linkcode Timers.clear}. */
export type TimerId = unknown;

/** Schedules callbacks against a {@linkcode Clock}. */
export interface Timers extends Clock {
  /** Runs `callback` once after `delayMs` milliseconds. */
  set(callback: () => void, delayMs: number): TimerId;
  /** Cancels a timer; unknown or already-fired ids are ignored. */
  clear(id: TimerId): void;
}

/**
 * The real clock (`performance.now`) and real timers. Timers are unref'd so a
 * pending timeout never keeps the process alive on its own.
 *
 * @example Usage
 * ```ts
 * import { systemTimers } from "./clock.ts";
 * import assert from "node:assert/strict";
 *
 * const before = systemTimers.now();
 * assert.ok(systemTimers.now() >= before);
 * ```
 */
export const systemTimers: Timers = {
  now(): number {
    return performance.now();
  },
  set(callback: () => void, delayMs: number): TimerId {
    const id = setTimeout(callback, delayMs);
    id.unref();
    return id;
  },
  clear(id: TimerId): void {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  },
};
