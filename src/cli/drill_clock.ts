/**
 * The clock of a drill server: real time that the drill can jump forward.
 * Timers fire on their own as real time passes, like {@linkcode systemTimers};
 * {@linkcode DrillClock.advance} moves the reading ahead and fires every timer
 * that falls due, each at its own reading, so a one-minute window or a 30 s
 * tarpit is crossed at once instead of waited for.
 *
 * @module
 */

import { systemTimers, type TimerId, type Timers } from "../core/clock.ts";

interface PendingTimer {
  at: number;
  callback: () => void;
  handle: TimerId;
}

/**
 * Real-time {@linkcode Timers} with a skip-forward control. Readings start at
 * 0 when the clock is created, so fixed windows of any length start with it.
 *
 * @example Usage
 * ```ts
 * import { DrillClock } from "./drill_clock.ts";
 * import assert from "node:assert/strict";
 *
 * using clock = new DrillClock();
 * const fired: number[] = [];
 * clock.set(() => fired.push(clock.now()), 60_000);
 * clock.advance(60_000);
 * assert.equal(fired.length, 1);
 * assert.ok(fired[0]! >= 60_000 && fired[0]! < 61_000);
 * assert.ok(clock.now() >= 60_000);
 * ```
 */
export class DrillClock implements Timers, Disposable {
  #base: Timers;
  #origin: number;
  #offset = 0;
  #pinned: number | undefined;
  #last = 0;
  #nextId = 1;
  #pending = new Map<number, PendingTimer>();

  /**
   * Creates a clock reading 0 now.
   *
   * @param base The real timers underneath. @default systemTimers
   */
  constructor(base: Timers = systemTimers) {
    this.#base = base;
    this.#origin = base.now();
  }

  /** Milliseconds since creation, plus every advance; never goes backwards. */
  now(): number {
    const reading = this.#pinned ?? this.#base.now() - this.#origin + this.#offset;
    if (reading > this.#last) this.#last = reading;
    return this.#last;
  }

  /** Runs `callback` once the reading passes `now() + delayMs`, by real time or by an advance. */
  set(callback: () => void, delayMs: number): TimerId {
    const id = this.#nextId++;
    const delay = delayMs > 0 ? delayMs : 0;
    const handle = this.#base.set(() => this.#fire(id), delay);
    this.#pending.set(id, { at: this.now() + delay, callback, handle });
    return id;
  }

  /** Cancels a timer; unknown or fired ids are ignored. */
  clear(id: TimerId): void {
    const timer = this.#pending.get(id as number);
    if (timer === undefined) return;
    this.#base.clear(timer.handle);
    this.#pending.delete(id as number);
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.#pending.size;
  }

  /** The reading at which the next timer fires, if any. */
  nextTimerAt(): number | undefined {
    let next: number | undefined;
    for (const timer of this.#pending.values()) {
      if (next === undefined || timer.at < next) next = timer.at;
    }
    return next;
  }

  /**
   * Moves the reading forward by `ms`, firing every timer due on the way in
   * order, each with the clock reading its own due time (so a periodic probe
   * sees no lag); timers set by those callbacks fire too when they fall due.
   *
   * @param ms Milliseconds to skip.
   * @throws {RangeError} If `ms` is negative or not finite.
   */
  advance(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) {
      throw new RangeError(
        `Cannot advance the clock: 'ms' must be a finite non-negative number, got ${ms}`,
      );
    }
    const target = this.now() + ms;
    try {
      for (;;) {
        let nextId: number | undefined;
        let next: PendingTimer | undefined;
        for (const [id, timer] of this.#pending) {
          if (timer.at <= target && (next === undefined || timer.at < next.at)) {
            nextId = id;
            next = timer;
          }
        }
        if (next === undefined || nextId === undefined) break;
        this.#pending.delete(nextId);
        this.#base.clear(next.handle);
        this.#pinned = Math.max(next.at, this.#last);
        next.callback();
      }
    } finally {
      this.#pinned = undefined;
      const real = this.#base.now() - this.#origin;
      this.#offset = Math.max(this.#offset, target - real);
    }
    // What is still pending is now due sooner in real time.
    const now = this.now();
    for (const [id, timer] of this.#pending) {
      this.#base.clear(timer.handle);
      timer.handle = this.#base.set(() => this.#fire(id), Math.max(0, timer.at - now));
    }
  }

  /** Cancels every pending timer (the drill server is gone). */
  [Symbol.dispose](): void {
    for (const timer of this.#pending.values()) this.#base.clear(timer.handle);
    this.#pending.clear();
  }

  #fire(id: number): void {
    const timer = this.#pending.get(id);
    if (timer === undefined) return;
    this.#pending.delete(id);
    timer.callback();
  }
}
