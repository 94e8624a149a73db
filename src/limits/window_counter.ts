/**
 * Counting attempts in a sliding time window with O(1) memory per key
 * (connection attempts per IP, authentication failures per IP, presence
 * broadcasts, registrations): one counter ({@linkcode WindowCounter}) or a
 * bounded table of counters keyed by address or JID
 * ({@linkcode WindowCounterTable}).
 *
 * ## Semantics
 *
 * Time is cut into fixed windows `[k·W, (k+1)·W)` of the clock (`W` =
 * `windowMs`). A counter keeps three numbers: the current window `k`, the hits
 * accepted in it (`curr`) and those accepted in window `k−1` (`prev`). At a
 * time `e` ms into window `k`, the sliding-window estimate is
 * `curr + prev × (W − e) / W`: the previous window's hits are assumed spread
 * evenly, and the part of it still inside the last `W` ms is counted. A hit is
 * accepted while the estimate is below `max`, computed in integers as
 * `curr·W + prev·(W − e) < max·W`, so decisions are exact for integer clock
 * readings. Refused hits are not counted.
 *
 * ## Error bound
 *
 * - At most `max` hits are accepted in any fixed window `[k·W, (k+1)·W)`.
 * - At most `2·max` hits are accepted in any interval of length `W` (reached
 *   when the previous window's hits all came at its very end).
 * - A hit is never refused while fewer than `max` hits were accepted since the
 *   start of the previous fixed window (at most `2·W` ago). It can be refused
 *   while fewer than `max` fall in the last `W` ms, when the previous window's
 *   hits came early in it.
 * - A client that retries as soon as it is allowed gets `max` hits per window
 *   over time: the configured rate, not less.
 *
 * @module
 */

import { type Clock, systemTimers } from "../core/clock.ts";
import type { EvictionReason } from "./bounded_map.ts";
import { SlotTable } from "./_slot_table.ts";

/** Options for {@linkcode WindowCounter}. */
export interface WindowCounterOptions {
  /**
   * The clock that moves the window.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
}

/** The limit every counter in a {@linkcode WindowCounterTable} applies. */
export interface WindowLimit {
  /** Hits accepted per window; an integer ≥ 0 (0 refuses every hit). */
  max: number;
  /** The window length in milliseconds; a positive integer. */
  windowMs: number;
}

/** Options for {@linkcode WindowCounterTable}. */
export interface WindowCounterTableOptions<K> {
  /**
   * The clock that moves the windows.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * Called after a key's counter is dropped: `"capacity"` when the least
   * recently used key made room for a new one, `"delete"` or `"clear"` when
   * removed on request. A dropped key starts again from zero.
   *
   * @default {undefined}
   */
  onEvict?: (key: K, reason: EvictionReason) => void;
}

function checkLimit(what: string, max: number, windowMs: number): void {
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new RangeError(`Cannot create ${what}: 'max' must be an integer >= 0, got ${max}`);
  }
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new RangeError(
      `Cannot create ${what}: 'windowMs' must be a positive integer, got ${windowMs}`,
    );
  }
  if (max * windowMs > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `Cannot create ${what}: 'max' × 'windowMs' must not exceed ${Number.MAX_SAFE_INTEGER}, got ${
        max * windowMs
      }`,
    );
  }
}

/** Whether one more hit fits: `curr·W + prev·(W − e) < max·W`. */
function fits(prev: number, curr: number, elapsed: number, max: number, windowMs: number): boolean {
  return curr * windowMs + prev * (windowMs - elapsed) < max * windowMs;
}

function estimate(prev: number, curr: number, elapsed: number, windowMs: number): number {
  return prev === 0 ? curr : curr + (prev * (windowMs - elapsed)) / windowMs;
}

/**
 * The least whole milliseconds until one more hit fits, if nothing else is
 * counted meanwhile. A hit fits strictly after the estimate falls to `max`, so
 * the wait is the next whole millisecond past that moment.
 */
function retryAfter(
  prev: number,
  curr: number,
  elapsed: number,
  max: number,
  windowMs: number,
): number {
  if (max === 0) return Infinity;
  if (fits(prev, curr, elapsed, max, windowMs)) return 0;
  const toNextWindow = windowMs - elapsed;
  if (curr >= max) {
    // Only the next window can help; there prev' = max, which fits once e'' > 0.
    return Math.floor(toNextWindow) + 1;
  }
  // The previous window's share must shrink until prev·(W − e') < (max − curr)·W,
  // or the next window starts, where prev' = curr < max fits at once.
  const toBoundary = (prev * toNextWindow - (max - curr) * windowMs) / prev;
  return Math.min(Math.floor(toBoundary) + 1, Math.ceil(toNextWindow));
}

/**
 * Counts hits in a sliding window of `windowMs` and accepts at most `max`,
 * estimated from two fixed windows (see the module documentation for the exact
 * rule and its error bound). Memory is three numbers whatever the traffic.
 *
 * @example Usage
 * ```ts
 * import { WindowCounter } from "./window_counter.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const attempts = new WindowCounter(2, 1000, { clock }); // 2 per second
 * assert.equal(attempts.hit(), true);
 * assert.equal(attempts.hit(), true);
 * assert.equal(attempts.hit(), false);
 * assert.equal(attempts.retryAfterMs(), 1001); // just past the next window's start
 * clock.advance(1500);
 * assert.equal(attempts.count, 1); // 2 hits × half the previous window still counted
 * assert.equal(attempts.hit(), true);
 * assert.equal(attempts.hit(), false);
 * ```
 */
export class WindowCounter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  #window: number;
  #prev = 0;
  #curr = 0;
  #elapsed = 0;

  /**
   * Creates a counter with no hits.
   *
   * @param max Hits accepted per window; 0 refuses every hit.
   * @param windowMs The window length in milliseconds.
   * @param options The clock.
   * @throws {RangeError} If `max` is not an integer ≥ 0, `windowMs` not a
   * positive integer, or `max × windowMs` exceeds `Number.MAX_SAFE_INTEGER`.
   */
  constructor(max: number, windowMs: number, options: WindowCounterOptions = {}) {
    checkLimit("window counter", max, windowMs);
    this.#max = max;
    this.#windowMs = windowMs;
    this.#clock = options.clock ?? systemTimers;
    this.#window = Math.floor(this.#clock.now() / windowMs);
  }

  /**
   * Hits accepted per window.
   *
   * @returns The `max` given at construction.
   */
  get max(): number {
    return this.#max;
  }

  /**
   * The window length.
   *
   * @returns The `windowMs` given at construction.
   */
  get windowMs(): number {
    return this.#windowMs;
  }

  /**
   * The sliding-window estimate of hits in the last `windowMs` now:
   * `curr + prev × (W − e) / W`.
   *
   * @returns A number from 0 to `2 × max`, fractional while the previous
   * window fades out; a hit is accepted while it is below `max`.
   */
  get count(): number {
    this.#roll();
    return estimate(this.#prev, this.#curr, this.#elapsed, this.#windowMs);
  }

  /**
   * Counts a hit if it fits within the limit.
   *
   * @returns `true` when the hit was accepted (and counted), `false` when refused.
   */
  hit(): boolean {
    this.#roll();
    if (!fits(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs)) return false;
    this.#curr++;
    return true;
  }

  /**
   * Tells whether a hit now would be accepted, without counting it.
   *
   * @returns `true` when {@linkcode WindowCounter.hit} would accept.
   */
  peek(): boolean {
    this.#roll();
    return fits(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs);
  }

  /**
   * How long until a hit would be accepted, if no other hit is counted first.
   *
   * @returns 0 when a hit would be accepted now; otherwise whole milliseconds,
   * or `Infinity` when `max` is 0.
   */
  retryAfterMs(): number {
    this.#roll();
    return retryAfter(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs);
  }

  /** Forgets every hit. */
  reset(): void {
    this.#roll();
    this.#prev = 0;
    this.#curr = 0;
  }

  #roll(): void {
    const now = this.#clock.now();
    const window = Math.floor(now / this.#windowMs);
    if (window > this.#window) {
      this.#prev = window === this.#window + 1 ? this.#curr : 0;
      this.#curr = 0;
      this.#window = window;
    }
    // A clock that went back stays in the current window, at its start.
    const elapsed = now - this.#window * this.#windowMs;
    this.#elapsed = elapsed > 0 ? elapsed : 0;
  }
}

const STRIDE = 3; // window index, prev, curr

/**
 * Window counters of one limit for up to `maxKeys` keys (per IP prefix, per
 * JID), stored as three numbers per key in a `Float64Array` rather than one
 * object per key, with the semantics of {@linkcode WindowCounter}. Keys live
 * in a {@linkcode BoundedMap}: when a new key needs room the least recently
 * used key is dropped, and a dropped or unknown key has no hits. A key gets an
 * entry only when a hit is accepted.
 *
 * @typeParam K The key type.
 *
 * @example Usage
 * ```ts
 * import { WindowCounterTable } from "./window_counter.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const attemptsPerIp = new WindowCounterTable<string>({ max: 1, windowMs: 60_000 }, 100_000, {
 *   clock,
 * });
 * assert.equal(attemptsPerIp.hit("192.0.2.1"), true);
 * assert.equal(attemptsPerIp.hit("192.0.2.1"), false);
 * assert.equal(attemptsPerIp.hit("192.0.2.2"), true);
 * assert.equal(attemptsPerIp.retryAfterMs("192.0.2.1"), 60_001);
 * ```
 */
export class WindowCounterTable<K> {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #slots: SlotTable<K>;
  // The last rolled state, read by the public methods after #roll().
  #prev = 0;
  #curr = 0;
  #elapsed = 0;

  /**
   * Creates an empty table.
   *
   * @param limit Hits accepted per window and the window length.
   * @param maxKeys The most keys held at once; a positive integer.
   * @param options The clock and the eviction callback.
   * @throws {RangeError} If the limit is out of range as for
   * {@linkcode WindowCounter}, or `maxKeys` is not a positive integer below 2³¹.
   */
  constructor(limit: WindowLimit, maxKeys: number, options: WindowCounterTableOptions<K> = {}) {
    checkLimit("window counter table", limit.max, limit.windowMs);
    this.#max = limit.max;
    this.#windowMs = limit.windowMs;
    this.#clock = options.clock ?? systemTimers;
    this.#slots = new SlotTable<K>(STRIDE, maxKeys, options.onEvict);
  }

  /**
   * How many keys hold a counter.
   *
   * @returns A number from 0 to {@linkcode WindowCounterTable.maxKeys}.
   */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * The most keys held at once.
   *
   * @returns The `maxKeys` given at construction.
   */
  get maxKeys(): number {
    return this.#slots.capacity;
  }

  /**
   * Counts a hit for `key` if it fits within the limit, and marks the key as used.
   *
   * @param key The key.
   * @returns `true` when the hit was accepted (and counted), `false` when refused.
   */
  hit(key: K): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      if (this.#max === 0) return false;
      this.#insert(key);
      return true;
    }
    this.#roll(slot, true);
    if (!fits(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs)) return false;
    this.#slots.state[slot * STRIDE + 2] = this.#curr + 1;
    return true;
  }

  /**
   * Tells whether a hit for `key` now would be accepted, without counting it
   * or marking the key as used.
   *
   * @param key The key.
   * @returns `true` when {@linkcode WindowCounterTable.hit} would accept.
   */
  peek(key: K): boolean {
    if (!this.#peekState(key)) return this.#max > 0;
    return fits(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs);
  }

  /**
   * How long until a hit for `key` would be accepted, if no other hit for it is
   * counted first. Does not mark the key as used.
   *
   * @param key The key.
   * @returns 0 when a hit would be accepted now; otherwise whole milliseconds,
   * or `Infinity` when `max` is 0.
   */
  retryAfterMs(key: K): number {
    if (!this.#peekState(key)) return this.#max > 0 ? 0 : Infinity;
    return retryAfter(this.#prev, this.#curr, this.#elapsed, this.#max, this.#windowMs);
  }

  /**
   * The sliding-window estimate of hits for `key` in the last `windowMs`, as
   * {@linkcode WindowCounter.count}. Does not mark the key as used.
   *
   * @param key The key.
   * @returns A number from 0 to `2 × max`; 0 for an unknown key.
   */
  count(key: K): number {
    if (!this.#peekState(key)) return 0;
    return estimate(this.#prev, this.#curr, this.#elapsed, this.#windowMs);
  }

  /**
   * Drops the counter of `key` (the key starts again from zero).
   *
   * @param key The key.
   * @returns `true` when the key held a counter.
   */
  delete(key: K): boolean {
    return this.#slots.delete(key);
  }

  /** Drops every counter and releases the storage. */
  clear(): void {
    this.#slots.clear();
  }

  #peekState(key: K): boolean {
    const slot = this.#slots.peek(key);
    if (slot === undefined) return false;
    this.#roll(slot, false);
    return true;
  }

  /** Loads the state of `slot` as of now into #prev/#curr/#elapsed, storing it when `store`. */
  #roll(slot: number, store: boolean): void {
    const state = this.#slots.state;
    const at = slot * STRIDE;
    const now = this.#clock.now();
    let current = state[at] as number;
    let prev = state[at + 1] as number;
    let curr = state[at + 2] as number;
    const window = Math.floor(now / this.#windowMs);
    if (window > current) {
      prev = window === current + 1 ? curr : 0;
      curr = 0;
      current = window;
      if (store) {
        state[at] = current;
        state[at + 1] = prev;
        state[at + 2] = curr;
      }
    }
    const elapsed = now - current * this.#windowMs;
    this.#prev = prev;
    this.#curr = curr;
    this.#elapsed = elapsed > 0 ? elapsed : 0;
  }

  #insert(key: K): void {
    const at = this.#slots.insert(key) * STRIDE;
    const state = this.#slots.state;
    state[at] = Math.floor(this.#clock.now() / this.#windowMs);
    state[at + 1] = 0;
    state[at + 2] = 1;
  }
}
