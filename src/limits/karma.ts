/**
 * Bandwidth "karma" (XEP-0205: limit "the amount of bandwidth it will allow a
 * connected client or peer server to use in a given time period", with
 * administrator-set "recovery times and penalty lengths"): a token bucket on
 * the bytes read from a connection, paid for before they are parsed. Over
 * budget, reading pauses until the debt is repaid — back-pressure, never
 * disconnection — so a flood fills the flooder's own TCP window and slows
 * nobody else.
 *
 * The model, exactly:
 *
 * - The budget holds up to `burst` bytes and refills at `rate` bytes per
 *   second. It starts full.
 * - Bytes already read cannot be refused, so every chunk is paid in full:
 *   the balance may go below zero (a debt). A chunk that leaves the balance
 *   below zero is an *overrun*; reading then pauses until the balance is back
 *   at zero.
 * - An overrun at time `t` starts a penalty: until `t + recoveryMs` the budget
 *   refills at `rate × penalty` only. Each further overrun restarts the
 *   recovery time; `recoveryMs` after the last one the full rate returns.
 * - The defaults (`penalty: 1`, `recoveryMs: 0`) make this a plain token
 *   bucket, so the configured `rate` and `burst` mean what they say.
 *
 * Example: `rate` 1000 B/s, `burst` 2000 B, `penalty` 0.5, `recoveryMs`
 * 10 000. At 0 ms a client sends 2000 B: within budget. It sends 500 B more:
 * balance -500 B, penalised until 10 000 ms, refilling at 500 B/s, so reading
 * pauses for 1000 ms (a plain bucket would pause 500 ms). At 1000 ms it sends
 * 1000 B: balance -1000 B, penalised until 11 000 ms, paused for 2000 ms. If it
 * then stays quiet, from 11 000 ms on the budget refills at 1000 B/s again.
 *
 * Balances are kept in milli-bytes, so with integer clock readings, byte
 * counts and rates every figure is exact.
 *
 * @module
 */

import type { Transport } from "../transport/transport.ts";
import { type Clock, systemTimers, type TimerId, type Timers } from "../core/clock.ts";
import type { BandwidthLimit, LimitMode } from "../config/schema.ts";

/** The shape of a {@linkcode KarmaBucket}: `rate` bytes per second, `burst` bytes. */
export interface KarmaRate {
  /** Bytes per second refilled at the full rate; a finite number > 0. */
  rate: number;
  /** The most bytes the budget holds (the burst); a finite number > 0. */
  burst: number;
}

/** Options for {@linkcode KarmaBucket}. */
export interface KarmaBucketOptions {
  /**
   * The clock that refills the budget.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * The fraction of `rate` refilled while penalised, in (0, 1]; 1 means no
   * penalty.
   *
   * @default {1}
   */
  penalty?: number;
  /**
   * Milliseconds after the last overrun during which the penalty applies; a
   * finite number ≥ 0.
   *
   * @default {0}
   */
  recoveryMs?: number;
}

function checkRate(what: string, rate: number, burst: number): void {
  if (!(rate > 0) || rate === Infinity) {
    throw new RangeError(`Cannot ${what}: 'rate' must be a finite number > 0, got ${rate}`);
  }
  if (!(burst > 0) || burst === Infinity) {
    throw new RangeError(`Cannot ${what}: 'burst' must be a finite number > 0, got ${burst}`);
  }
}

function checkBytes(bytes: number): void {
  if (!(bytes >= 0 && bytes !== Infinity)) {
    throw new RangeError(
      `Cannot pay for bytes: 'bytes' must be a finite number >= 0, got ${bytes}`,
    );
  }
}

function checkPenalty(what: string, penalty: number, recoveryMs: number): void {
  if (!(penalty > 0 && penalty <= 1)) {
    throw new RangeError(`Cannot ${what}: 'penalty' must be a number in (0, 1], got ${penalty}`);
  }
  if (!(recoveryMs >= 0) || recoveryMs === Infinity) {
    throw new RangeError(
      `Cannot ${what}: 'recoveryMs' must be a finite number >= 0, got ${recoveryMs}`,
    );
  }
}

/**
 * A byte budget that may go into debt, with the penalty and recovery of the
 * module model above. One per connection (kept inside {@linkcode Karma}), or
 * one per account shared by that account's connections when the limit is
 * `per_account`: every {@linkcode Karma} given the same bucket pays into it
 * and pauses while it is in debt.
 *
 * Refilling is computed from the clock when the bucket is used; it has no
 * timers of its own.
 *
 * @example Usage
 * ```ts
 * import { KarmaBucket } from "./karma.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const bucket = new KarmaBucket({ rate: 1000, burst: 2000 }, {
 *   clock,
 *   penalty: 0.5,
 *   recoveryMs: 10_000,
 * });
 * assert.equal(bucket.debit(2000), 0); // within the burst
 * assert.equal(bucket.debit(500), 1000); // overrun: 500 B owed at the penalised 500 B/s
 * assert.equal(bucket.balance, -500);
 * assert.equal(bucket.penalised, true);
 * clock.advance(1000);
 * assert.equal(bucket.balance, 0);
 * clock.advance(9000);
 * assert.equal(bucket.penalised, false); // 10 s after the overrun: full rate again
 * ```
 */
export class KarmaBucket {
  #rate: number;
  #slowRate: number;
  #full: number;
  readonly #penalty: number;
  readonly #recoveryMs: number;
  readonly #clock: Clock;
  #milli: number;
  #last: number;
  #penalisedUntil = -Infinity;

  /**
   * Creates a full budget.
   *
   * @param limit The full refill rate in bytes per second and the burst in bytes.
   * @param options The clock, the penalty factor and the recovery time.
   * @throws {RangeError} If `rate` or `burst` is not a finite number > 0,
   * `penalty` is not in (0, 1], or `recoveryMs` is negative or not finite.
   */
  constructor(limit: KarmaRate, options: KarmaBucketOptions = {}) {
    const penalty = options.penalty ?? 1;
    const recoveryMs = options.recoveryMs ?? 0;
    checkRate("create karma bucket", limit.rate, limit.burst);
    checkPenalty("create karma bucket", penalty, recoveryMs);
    this.#rate = limit.rate;
    this.#slowRate = limit.rate * penalty;
    this.#full = limit.burst * 1000;
    this.#penalty = penalty;
    this.#recoveryMs = penalty < 1 ? recoveryMs : 0;
    this.#clock = options.clock ?? systemTimers;
    this.#milli = this.#full;
    this.#last = this.#clock.now();
  }

  /**
   * Bytes per second refilled at the full rate.
   *
   * @returns The current `rate`.
   */
  get rate(): number {
    return this.#rate;
  }

  /**
   * The most bytes the budget holds.
   *
   * @returns The current `burst`.
   */
  get burst(): number {
    return this.#full / 1000;
  }

  /**
   * The bytes available now; below zero while in debt.
   *
   * @returns A number up to {@linkcode KarmaBucket.burst}.
   */
  get balance(): number {
    this.#refill(this.#clock.now());
    return this.#milli / 1000;
  }

  /**
   * Whether the penalty rate applies now.
   *
   * @returns `true` within `recoveryMs` of the last overrun (never when `penalty` is 1).
   */
  get penalised(): boolean {
    return this.#clock.now() < this.#penalisedUntil;
  }

  /**
   * How long until the debt is repaid, assuming nothing more is read.
   *
   * @returns 0 when not in debt, else whole milliseconds.
   */
  get waitMs(): number {
    const now = this.#clock.now();
    this.#refill(now);
    return this.#milli < 0 ? this.#wait(now) : 0;
  }

  /**
   * Pays for `bytes` that were read. The balance may go below zero; a debit
   * that leaves it below zero is an overrun and (re)starts the penalty.
   *
   * @param bytes Bytes read; a finite number ≥ 0.
   * @returns 0 when the balance is still ≥ 0, else the whole milliseconds until
   * the debt is repaid.
   * @throws {RangeError} If `bytes` is negative or not finite.
   */
  debit(bytes: number): number {
    checkBytes(bytes);
    const now = this.#clock.now();
    this.#refill(now);
    const milli = this.#milli - bytes * 1000;
    this.#milli = milli;
    if (milli >= 0) return 0;
    if (this.#recoveryMs > 0) this.#penalisedUntil = now + this.#recoveryMs;
    return this.#wait(now);
  }

  /** Forgives a debt: a balance below zero becomes zero (report mode). */
  forgive(): void {
    if (this.#milli < 0) this.#milli = 0;
  }

  /**
   * Changes the rate and burst, keeping the balance (capped at the new burst)
   * and any penalty under way.
   *
   * @param limit The new rate in bytes per second and burst in bytes.
   * @throws {RangeError} If `rate` or `burst` is not a finite number > 0.
   */
  setLimit(limit: KarmaRate): void {
    checkRate("set karma bucket limit", limit.rate, limit.burst);
    this.#refill(this.#clock.now());
    this.#rate = limit.rate;
    this.#slowRate = limit.rate * this.#penalty;
    this.#full = limit.burst * 1000;
    if (this.#milli > this.#full) this.#milli = this.#full;
  }

  #refill(now: number): void {
    const last = this.#last;
    if (now <= last) return;
    this.#last = now;
    let milli = this.#milli;
    if (milli >= this.#full) return;
    const until = this.#penalisedUntil;
    if (last < until) {
      const slowEnd = now < until ? now : until;
      milli += (slowEnd - last) * this.#slowRate + (now - slowEnd) * this.#rate;
    } else {
      milli += (now - last) * this.#rate;
    }
    this.#milli = milli < this.#full ? milli : this.#full;
  }

  /** Whole milliseconds from `now` until a negative balance is back at zero. */
  #wait(now: number): number {
    const debt = -this.#milli;
    const slowSpan = this.#penalisedUntil - now;
    if (slowSpan > 0) {
      const slowGain = slowSpan * this.#slowRate;
      if (debt <= slowGain) return Math.ceil(debt / this.#slowRate);
      return Math.ceil(slowSpan + (debt - slowGain) / this.#rate);
    }
    return Math.ceil(debt / this.#rate);
  }
}

/** What {@linkcode KarmaOptions.onThrottle} receives for each overrun. */
export interface KarmaThrottleEvent {
  /** Bytes of the chunk that overdrew the budget. */
  readonly bytes: number;
  /** Milliseconds until the debt is repaid: how long reading pauses, or would pause in report mode. */
  readonly waitMs: number;
  /** `"enforce"`: reading paused; `"report"`: nothing was slowed and the debt was forgiven. */
  readonly mode: LimitMode;
  /** Whether the overdrawn budget is an account's shared one. */
  readonly shared: boolean;
  /** Whether the penalty rate applies after this overrun. */
  readonly penalised: boolean;
}

/** Options for {@linkcode Karma}. */
export interface KarmaOptions {
  /**
   * The clock that refills the budget and the timers that resume reading.
   *
   * @default {systemTimers}
   */
  timers?: Timers;
  /**
   * The fraction of `rate` refilled while penalised, in (0, 1]; 1 means no
   * penalty. Applies to the connection's own budget; a shared bucket has its own.
   *
   * @default {1}
   */
  penalty?: number;
  /**
   * Milliseconds after the last overrun during which the penalty applies.
   *
   * @default {0}
   */
  recoveryMs?: number;
  /**
   * The account's budget, shared by its connections; only with a limit whose
   * `per_account` is true. Its own rate, burst and penalty apply; `limit`
   * supplies the mode.
   *
   * @default {undefined}
   */
  shared?: KarmaBucket;
  /**
   * Called for each chunk that overdraws the budget, in either mode.
   *
   * @default {undefined}
   */
  onThrottle?: (event: KarmaThrottleEvent) => void;
}

/** Options for {@linkcode Karma.setLimit}. */
export interface KarmaSetLimitOptions {
  /**
   * The account's shared budget, as in {@linkcode KarmaOptions.shared}; left
   * out, the connection goes back to its own budget.
   *
   * @default {undefined}
   */
  shared?: KarmaBucket;
}

const MODES: ReadonlySet<unknown> = new Set(["enforce", "report"]);

function checkLimit(what: string, limit: BandwidthLimit, shared: KarmaBucket | undefined): void {
  if (!MODES.has(limit.mode)) {
    throw new TypeError(
      `Cannot ${what}: 'mode' must be "enforce" or "report", got "${String(limit.mode)}"`,
    );
  }
  if (limit.rate !== null) checkRate(what, limit.rate, limit.burst);
  if (shared !== undefined && !limit.per_account) {
    throw new TypeError(`Cannot ${what}: 'shared' needs a limit whose 'per_account' is true`);
  }
}

/**
 * The bandwidth controller of one connection. Call
 * {@linkcode Karma.consume} with the size of every chunk read, before parsing
 * it. Once {@linkcode Karma.attach}ed to the transport, Karma pauses reading on
 * an overrun and resumes it from a timer when the debt is repaid (re-checked
 * then, since a shared budget may have been drawn on meanwhile); unattached,
 * the caller acts on the returned wait.
 *
 * In `"report"` mode nothing is paused: each overrun is reported through
 * `onThrottle` with the pause enforcement would have imposed, and the debt is
 * forgiven. A `rate` of `null` is unlimited: `consume` returns 0 at once.
 *
 * Per chunk within budget the cost is a clock reading and a few arithmetic
 * operations, with no allocation.
 *
 * @example Usage
 * ```ts
 * import { Karma } from "./karma.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const timers = new ManualClock();
 * const karma = new Karma(
 *   { rate: 1000, burst: 2000, per_account: false, penalty_rate: null, recovery: 0, mode: "enforce" },
 *   { timers },
 * );
 * const calls: string[] = [];
 * karma.attach({ pause: () => calls.push("pause"), resume: () => calls.push("resume") });
 * assert.equal(karma.consume(2000), 0); // the burst
 * assert.equal(karma.consume(500), 500); // 500 B owed at 1000 B/s
 * assert.deepEqual(calls, ["pause"]);
 * timers.advance(500);
 * assert.deepEqual(calls, ["pause", "resume"]);
 * ```
 */
export class Karma implements Disposable {
  readonly #timers: Timers;
  readonly #penalty: number;
  readonly #recoveryMs: number;
  readonly #onThrottle: ((event: KarmaThrottleEvent) => void) | undefined;
  readonly #tick: () => void;
  #limit: BandwidthLimit;
  #own: KarmaBucket | undefined;
  /** The budget paid into; `undefined` when unlimited. */
  #bucket: KarmaBucket | undefined;
  #shared = false;
  #report = false;
  #target: Pick<Transport, "pause" | "resume"> | undefined;
  #paused = false;
  #timer: TimerId | undefined;
  #disposed = false;

  /**
   * Creates the controller of one connection, with a full budget.
   *
   * @param limit The resolved bandwidth limit (`rate` `null` = unlimited).
   * @param options Timers, penalty, recovery, shared budget and throttle callback.
   * @throws {RangeError} If `rate` or `burst` is not a finite number > 0,
   * `penalty` is not in (0, 1] or `recoveryMs` is negative or not finite.
   * @throws {TypeError} If `mode` is neither `"enforce"` nor `"report"`, or
   * `shared` is given while `per_account` is false.
   */
  constructor(limit: BandwidthLimit, options: KarmaOptions = {}) {
    this.#penalty = options.penalty ?? 1;
    this.#recoveryMs = options.recoveryMs ?? 0;
    checkPenalty("create karma", this.#penalty, this.#recoveryMs);
    checkLimit("create karma", limit, options.shared);
    this.#timers = options.timers ?? systemTimers;
    this.#onThrottle = options.onThrottle;
    this.#tick = () => this.#onTimer();
    this.#limit = limit;
    this.#apply(limit, options.shared);
  }

  /**
   * The limit in force.
   *
   * @returns The limit given last, to the constructor or {@linkcode Karma.setLimit}.
   */
  get limit(): BandwidthLimit {
    return this.#limit;
  }

  /**
   * Whether Karma holds the attached transport paused.
   *
   * @returns `true` from an overrun until the resume timer finds the debt repaid.
   */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The bytes available now in the budget paid into.
   *
   * @returns Below zero while in debt; `Infinity` when unlimited.
   */
  get balance(): number {
    return this.#bucket === undefined ? Infinity : this.#bucket.balance;
  }

  /**
   * How long reading must stay paused, assuming nothing more is read.
   *
   * @returns 0 when not in debt, unlimited or in report mode; else whole milliseconds.
   */
  get waitMs(): number {
    return this.#bucket === undefined || this.#report ? 0 : this.#bucket.waitMs;
  }

  /**
   * Pays for a chunk just read from the connection, before it is parsed. On an
   * overrun in enforce mode the attached transport (if any) is paused and a
   * timer will resume it.
   *
   * @param bytes The chunk's size in bytes; a finite number ≥ 0.
   * @returns 0 within budget (always in report mode or when unlimited); else the
   * whole milliseconds reading should stay paused.
   * @throws {RangeError} If `bytes` is negative or not finite.
   */
  consume(bytes: number): number {
    const bucket = this.#bucket;
    if (bucket === undefined) {
      checkBytes(bytes);
      return 0;
    }
    const wait = bucket.debit(bytes);
    if (wait === 0 || this.#disposed) return 0;
    return this.#overrun(bucket, bytes, wait);
  }

  /**
   * Lets Karma pause and resume reading itself. When the session also pauses
   * the transport for its own reasons (STARTTLS, a pending SASL step), pass a
   * handle that only resumes once no reason holds it paused.
   *
   * @param target The transport, or any object with `pause()` and `resume()`.
   * @throws {Error} If a target is already attached.
   */
  attach(target: Pick<Transport, "pause" | "resume">): void {
    if (this.#target !== undefined) {
      throw new Error("Cannot attach karma: a transport is already attached");
    }
    this.#target = target;
  }

  /**
   * Replaces the limit at run time (reconfiguration, or the limits resolved
   * after authentication). The own budget keeps its balance, capped at the new
   * burst; a paused transport is re-checked at once and resumed if the new
   * limit allows (unlimited, report mode, or the debt already repaid).
   *
   * @param limit The new resolved bandwidth limit.
   * @param options The account's shared budget, when `per_account`.
   * @throws {RangeError} If `rate` or `burst` is not a finite number > 0.
   * @throws {TypeError} If `mode` is neither `"enforce"` nor `"report"`, or
   * `shared` is given while `per_account` is false.
   */
  setLimit(limit: BandwidthLimit, options: KarmaSetLimitOptions = {}): void {
    checkLimit("set karma limit", limit, options.shared);
    this.#limit = limit;
    this.#apply(limit, options.shared);
    if (this.#paused) {
      this.#clearTimer();
      this.#onTimer();
    }
  }

  /** Cancels the resume timer and stops acting on the transport (it stays as it is). */
  [Symbol.dispose](): void {
    this.#disposed = true;
    this.#clearTimer();
    this.#target = undefined;
    this.#paused = false;
  }

  #apply(limit: BandwidthLimit, shared: KarmaBucket | undefined): void {
    this.#report = limit.mode === "report";
    this.#shared = false;
    if (limit.rate === null) {
      this.#bucket = undefined;
    } else if (shared !== undefined) {
      this.#shared = true;
      this.#bucket = shared;
    } else if (this.#own === undefined) {
      this.#own = new KarmaBucket({ rate: limit.rate, burst: limit.burst }, {
        clock: this.#timers,
        penalty: this.#penalty,
        recoveryMs: this.#recoveryMs,
      });
      this.#bucket = this.#own;
    } else {
      this.#own.setLimit({ rate: limit.rate, burst: limit.burst });
      this.#bucket = this.#own;
    }
  }

  #overrun(bucket: KarmaBucket, bytes: number, wait: number): number {
    if (this.#report) {
      bucket.forgive();
      this.#onThrottle?.({
        bytes,
        waitMs: wait,
        mode: "report",
        shared: this.#shared,
        penalised: bucket.penalised,
      });
      return 0;
    }
    const target = this.#target;
    if (target !== undefined) {
      this.#clearTimer();
      this.#timer = this.#timers.set(this.#tick, wait);
      if (!this.#paused) {
        this.#paused = true;
        target.pause();
      }
    }
    this.#onThrottle?.({
      bytes,
      waitMs: wait,
      mode: "enforce",
      shared: this.#shared,
      penalised: bucket.penalised,
    });
    return wait;
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#disposed || !this.#paused) return;
    const wait = this.waitMs;
    if (wait > 0) {
      this.#timer = this.#timers.set(this.#tick, wait);
      return;
    }
    this.#paused = false;
    this.#target?.resume();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#timers.clear(this.#timer);
      this.#timer = undefined;
    }
  }
}
