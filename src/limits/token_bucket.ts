/**
 * Token buckets, refilled lazily from an injected clock: one bucket
 * ({@linkcode TokenBucket}) or a bounded table of buckets keyed by address or
 * JID ({@linkcode TokenBucketTable}).
 *
 * Balances are kept in milli-tokens and refilled by `elapsedMs × rate`, so with
 * integer clock readings, integer costs and an integer rate every figure is
 * exact: 1,000 ms at 10 tokens/s gives back exactly 10 tokens, and the retry
 * hint is the exact whole number of milliseconds after which the cost fits.
 *
 * @module
 */

import { type Clock, systemTimers } from "../core/clock.ts";
import type { EvictionReason } from "./bounded_map.ts";
import { SlotTable } from "./_slot_table.ts";

/** Options for {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /**
   * The clock that refills the bucket.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
}

/** The shape of every bucket in a {@linkcode TokenBucketTable}. */
export interface TokenBucketLimit {
  /** The most tokens a bucket holds (the burst); a finite number ≥ 0. */
  capacity: number;
  /** Tokens added per second; a finite number ≥ 0 (0 never refills). */
  refillPerSecond: number;
}

/** Options for {@linkcode TokenBucketTable}. */
export interface TokenBucketTableOptions<K> {
  /**
   * The clock that refills the buckets.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * Called after a key's bucket is dropped: `"capacity"` when the least
   * recently used key made room for a new one, `"delete"` or `"clear"` when
   * removed on request. A dropped key starts again with a full bucket.
   *
   * @default {undefined}
   */
  onEvict?: (key: K, reason: EvictionReason) => void;
}

function checkLimit(what: string, capacity: number, refillPerSecond: number): void {
  if (!Number.isFinite(capacity) || capacity < 0) {
    throw new RangeError(
      `Cannot create ${what}: 'capacity' must be a finite number >= 0, got ${capacity}`,
    );
  }
  if (!Number.isFinite(refillPerSecond) || refillPerSecond < 0) {
    throw new RangeError(
      `Cannot create ${what}: 'refillPerSecond' must be a finite number >= 0, got ${refillPerSecond}`,
    );
  }
}

function checkCost(cost: number): void {
  if (!Number.isFinite(cost) || cost < 0) {
    throw new RangeError(`Cannot take tokens: 'cost' must be a finite number >= 0, got ${cost}`);
  }
}

/**
 * The balance in milli-tokens after refilling from `last` to `now` at `rate`
 * milli-tokens per millisecond (numerically, tokens per second). A clock that
 * did not advance (or went back) refills nothing.
 */
function refilled(milli: number, last: number, now: number, rate: number, full: number): number {
  if (now <= last) return milli;
  const balance = milli + (now - last) * rate;
  return balance < full ? balance : full;
}

/** 0 when `costMilli` fits in `milli`, else whole milliseconds until it does (Infinity: never). */
function waitMs(milli: number, costMilli: number, rate: number, full: number): number {
  if (costMilli <= milli) return 0;
  if (costMilli > full || rate === 0) return Infinity;
  return Math.ceil((costMilli - milli) / rate);
}

/**
 * A token bucket: it holds up to `capacity` tokens, gains `refillPerSecond`
 * tokens per second, and each action takes `cost` tokens if they are there.
 * Refilling is computed from the clock when the bucket is used; there are no
 * timers. A cost above the capacity can never be paid: it is refused with an
 * infinite wait. A cost of 0 always passes.
 *
 * @example Usage
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const bucket = new TokenBucket(10, 10, { clock }); // burst 10, 10 per second
 * assert.equal(bucket.take(10), true);
 * assert.equal(bucket.tryTake(2), 200); // refused: 2 tokens are 200 ms away
 * clock.advance(1000);
 * assert.equal(bucket.balance, 10);
 * assert.equal(bucket.tryTake(11), Infinity); // never satisfiable
 * ```
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #rate: number;
  readonly #full: number;
  readonly #clock: Clock;
  #milli: number;
  #last: number;

  /**
   * Creates a full bucket.
   *
   * @param capacity The most tokens the bucket holds (the burst).
   * @param refillPerSecond Tokens added per second; 0 never refills.
   * @param options The clock.
   * @throws {RangeError} If `capacity` or `refillPerSecond` is negative or not finite.
   */
  constructor(capacity: number, refillPerSecond: number, options: TokenBucketOptions = {}) {
    checkLimit("token bucket", capacity, refillPerSecond);
    this.#capacity = capacity;
    this.#rate = refillPerSecond;
    this.#full = capacity * 1000;
    this.#clock = options.clock ?? systemTimers;
    this.#milli = this.#full;
    this.#last = this.#clock.now();
  }

  /**
   * The most tokens the bucket holds.
   *
   * @returns The capacity given at construction.
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Tokens added per second.
   *
   * @returns The rate given at construction.
   */
  get refillPerSecond(): number {
    return this.#rate;
  }

  /**
   * The tokens available now (refilled up to the current clock reading).
   *
   * @returns A number from 0 to {@linkcode TokenBucket.capacity}.
   */
  get balance(): number {
    this.#refill();
    return this.#milli / 1000;
  }

  /**
   * Takes `cost` tokens if the bucket holds them.
   *
   * @param cost Tokens to take; a finite number ≥ 0.
   * @returns `true` when the tokens were taken, `false` when the balance is short.
   * @throws {RangeError} If `cost` is negative or not finite.
   */
  take(cost = 1): boolean {
    return this.tryTake(cost) === 0;
  }

  /**
   * Takes `cost` tokens if the bucket holds them, else says how long until it
   * would (assuming nothing else is taken meanwhile).
   *
   * @param cost Tokens to take; a finite number ≥ 0.
   * @returns 0 when the tokens were taken; otherwise the whole milliseconds to
   * wait (the retry hint), or `Infinity` when `cost` exceeds the capacity or
   * the bucket never refills.
   * @throws {RangeError} If `cost` is negative or not finite.
   */
  tryTake(cost = 1): number {
    checkCost(cost);
    this.#refill();
    const costMilli = cost * 1000;
    const wait = waitMs(this.#milli, costMilli, this.#rate, this.#full);
    if (wait === 0) this.#milli -= costMilli;
    return wait;
  }

  /** Fills the bucket to its capacity. */
  reset(): void {
    this.#milli = this.#full;
    this.#last = Math.max(this.#last, this.#clock.now());
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#milli = refilled(this.#milli, this.#last, now, this.#rate, this.#full);
    if (now > this.#last) this.#last = now;
  }
}

const STRIDE = 2; // milli-tokens, last refill time

/**
 * Token buckets of one shape for up to `maxKeys` keys (per IP prefix, per
 * JID), stored as two numbers per key in a `Float64Array` rather than one
 * object per key. Keys live in a {@linkcode BoundedMap}: when a new key needs
 * room the least recently used key is dropped, and a dropped or unknown key has
 * a full bucket. A key gets an entry only when it first pays a positive cost.
 *
 * @typeParam K The key type.
 *
 * @example Usage
 * ```ts
 * import { TokenBucketTable } from "./token_bucket.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const perIp = new TokenBucketTable<string>({ capacity: 2, refillPerSecond: 1 }, 10_000, {
 *   clock,
 * });
 * assert.equal(perIp.take("192.0.2.1"), true);
 * assert.equal(perIp.take("192.0.2.1"), true);
 * assert.equal(perIp.tryTake("192.0.2.1"), 1000);
 * assert.equal(perIp.take("192.0.2.2"), true); // another key, another bucket
 * clock.advance(1000);
 * assert.equal(perIp.balance("192.0.2.1"), 1);
 * ```
 */
export class TokenBucketTable<K> {
  readonly #capacity: number;
  readonly #rate: number;
  readonly #full: number;
  readonly #clock: Clock;
  readonly #slots: SlotTable<K>;

  /**
   * Creates an empty table.
   *
   * @param limit The capacity and refill rate of every bucket.
   * @param maxKeys The most keys held at once; a positive integer.
   * @param options The clock and the eviction callback.
   * @throws {RangeError} If the limit is negative or not finite, or `maxKeys`
   * is not a positive integer below 2³¹.
   */
  constructor(limit: TokenBucketLimit, maxKeys: number, options: TokenBucketTableOptions<K> = {}) {
    checkLimit("token bucket table", limit.capacity, limit.refillPerSecond);
    this.#capacity = limit.capacity;
    this.#rate = limit.refillPerSecond;
    this.#full = limit.capacity * 1000;
    this.#clock = options.clock ?? systemTimers;
    this.#slots = new SlotTable<K>(STRIDE, maxKeys, options.onEvict);
  }

  /**
   * How many keys hold a bucket.
   *
   * @returns A number from 0 to {@linkcode TokenBucketTable.maxKeys}.
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
   * The tokens available to `key` now, without marking the key as used.
   *
   * @param key The key.
   * @returns A number from 0 to the capacity; the capacity for an unknown key.
   */
  balance(key: K): number {
    const slot = this.#slots.peek(key);
    if (slot === undefined) return this.#capacity;
    const at = slot * STRIDE;
    const milli = refilled(
      this.#slots.state[at] as number,
      this.#slots.state[at + 1] as number,
      this.#clock.now(),
      this.#rate,
      this.#full,
    );
    return milli / 1000;
  }

  /**
   * Takes `cost` tokens from the bucket of `key` if it holds them.
   *
   * @param key The key.
   * @param cost Tokens to take; a finite number ≥ 0.
   * @returns `true` when the tokens were taken.
   * @throws {RangeError} If `cost` is negative or not finite.
   */
  take(key: K, cost = 1): boolean {
    return this.tryTake(key, cost) === 0;
  }

  /**
   * Takes `cost` tokens from the bucket of `key` if it holds them, else says how
   * long until it would. Marks the key as used.
   *
   * @param key The key.
   * @param cost Tokens to take; a finite number ≥ 0.
   * @returns 0 when taken; otherwise whole milliseconds to wait, or `Infinity`
   * when `cost` exceeds the capacity or the buckets never refill.
   * @throws {RangeError} If `cost` is negative or not finite.
   */
  tryTake(key: K, cost = 1): number {
    checkCost(cost);
    const costMilli = cost * 1000;
    const now = this.#clock.now();
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      const wait = waitMs(this.#full, costMilli, this.#rate, this.#full);
      if (wait === 0 && costMilli > 0) this.#insert(key, this.#full - costMilli, now);
      return wait;
    }
    const state = this.#slots.state;
    const at = slot * STRIDE;
    const last = state[at + 1] as number;
    const milli = refilled(state[at] as number, last, now, this.#rate, this.#full);
    if (now > last) state[at + 1] = now;
    const wait = waitMs(milli, costMilli, this.#rate, this.#full);
    state[at] = wait === 0 ? milli - costMilli : milli;
    return wait;
  }

  /**
   * Drops the bucket of `key` (the key starts again with a full bucket).
   *
   * @param key The key.
   * @returns `true` when the key held a bucket.
   */
  delete(key: K): boolean {
    return this.#slots.delete(key);
  }

  /** Drops every bucket and releases the storage. */
  clear(): void {
    this.#slots.clear();
  }

  #insert(key: K, milli: number, now: number): void {
    const at = this.#slots.insert(key) * STRIDE;
    this.#slots.state[at] = milli;
    this.#slots.state[at + 1] = now;
  }
}
