import type { TimerId, Timers } from "../core/clock.ts";

interface PendingTimer {
  id: TimerId;
  at: number;
  callback: () => void;
}

/**
 * A clock and timer set that only moves when told to, for exact time-window
 * tests without sleeping.
 *
 * @example Usage
 * ```ts
 * import { ManualClock } from "./manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * let fired = 0;
 * clock.set(() => fired++, 1000);
 * clock.advance(999);
 * assert.equal(fired, 0);
 * clock.advance(1);
 * assert.equal(fired, 1);
 * assert.equal(clock.now(), 1000);
 * ```
 */
export class ManualClock implements Timers {
  #now: number;
  #nextId = 1;
  #pending: PendingTimer[] = [];

  /**
   * Creates a clock that starts at `startMs`.
   *
   * @param startMs The initial reading in milliseconds.
   */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** The current reading in milliseconds. */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `callback` at `now() + delayMs`. Like `setTimeout`, a negative
   * or `NaN` delay means "as soon as possible" (the next {@linkcode ManualClock.advance}).
   */
  set(callback: () => void, delayMs: number): TimerId {
    const id = this.#nextId++;
    // `delayMs > 0` is false for NaN too, which Math.max(0, NaN) would keep and never fire.
    this.#pending.push({ id, at: this.#now + (delayMs > 0 ? delayMs : 0), callback });
    return id;
  }

  /** Cancels a pending timer. */
  clear(id: TimerId): void {
    this.#pending = this.#pending.filter((timer) => timer.id !== id);
  }

  /** How many timers are waiting to fire. */
  get pendingTimers(): number {
    return this.#pending.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order of their due time.
   *
   * @param ms Milliseconds to advance; a finite number, not negative.
   * @throws {RangeError} If `ms` is negative, `NaN` or infinite.
   */
  advance(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) {
      throw new RangeError(
        `Cannot advance the clock: 'ms' must be a finite non-negative number, got ${ms}`,
      );
    }
    const target = this.#now + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const timer of this.#pending) {
        if (timer.at <= target && (next === undefined || timer.at < next.at)) next = timer;
      }
      if (next === undefined) break;
      this.#pending = this.#pending.filter((timer) => timer !== next);
      this.#now = next.at;
      next.callback();
    }
    this.#now = target;
  }
}
