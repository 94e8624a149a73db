/**
 * Stanzas to distinct recipients within a sliding time window, per connected
 * client. XEP-0205: a server "SHOULD enable a server administrator to limit
 * the number of XML stanzas that a connected client may send to distinct
 * recipients within a given time period"; the wiring answers a refusal with
 * `<unexpected-request/>` + `<too-many-stanzas xmlns='urn:xmpp:errors'/>`.
 *
 * @module
 */

import { type Clock, systemTimers } from "../core/clock.ts";

/** Options for {@linkcode DistinctWindow}. */
export interface DistinctWindowOptions {
  /**
   * The clock that ages recipients out of the window.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
}

/**
 * The answer of {@linkcode DistinctWindow.check}: allowed, or refused with
 * the whole milliseconds until a new recipient would be allowed.
 */
export type DistinctCheck =
  | { readonly allowed: true; readonly retryAfterMs?: undefined }
  | { readonly allowed: false; readonly retryAfterMs: number };

const ALLOWED: DistinctCheck = Object.freeze({ allowed: true });

/**
 * Tracks the distinct recipients a client sent to in the last `windowMs` and
 * admits at most `max` of them. A recipient stays counted until `windowMs`
 * after the last stanza sent to it: sending to a counted recipient always
 * passes and restarts its time; a new recipient beyond `max` is refused until
 * the least recently addressed one ages out (the retry hint).
 *
 * Memory is one `Map` entry per counted recipient, never more than `max`
 * (none until the first check). A known recipient costs one lookup and one
 * in-place update; aged-out entries are dropped lazily, in one pass, only when
 * a new recipient finds the tracker full, and the earliest expiry found is
 * cached so further refusals until then are O(1). The allowed answer is a
 * shared object, so the common case allocates nothing.
 *
 * @example Usage
 * ```ts
 * import { DistinctWindow } from "./distinct_window.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const recipients = new DistinctWindow(2, 60_000, { clock });
 * assert.equal(recipients.check("juliet@example.org").allowed, true);
 * clock.advance(10_000);
 * assert.equal(recipients.check("romeo@example.org").allowed, true);
 * clock.advance(10_000);
 * assert.equal(recipients.check("juliet@example.org").allowed, true); // known: passes, refreshed
 * assert.deepEqual(recipients.check("nurse@example.org"), {
 *   allowed: false,
 *   retryAfterMs: 50_000, // romeo ages out at 70 s
 * });
 * ```
 */
export class DistinctWindow {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Recipient → time last addressed. */
  #seen: Map<string, number> | undefined;
  /**
   * While the tracker is full: when the least recently addressed recipient
   * ages out, or -Infinity when unknown (the next full check scans).
   */
  #nextExpiry = -Infinity;

  /**
   * Creates an empty tracker.
   *
   * @param max Distinct recipients admitted per window; an integer ≥ 0 (0 refuses all).
   * @param windowMs How long a recipient stays counted after the last stanza
   * to it, in milliseconds; a positive finite number.
   * @param options The clock.
   * @throws {RangeError} If `max` is not an integer from 0 to 2³¹ − 1, or
   * `windowMs` is not positive and finite.
   */
  constructor(max: number, windowMs: number, options: DistinctWindowOptions = {}) {
    if (!Number.isSafeInteger(max) || max < 0 || max > 0x7fffffff) {
      throw new RangeError(
        `Cannot create distinct window: 'max' must be an integer from 0 to 2^31 - 1, got ${max}`,
      );
    }
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(
        `Cannot create distinct window: 'windowMs' must be a positive finite number, got ${windowMs}`,
      );
    }
    this.#max = max;
    this.#windowMs = windowMs;
    this.#clock = options.clock ?? systemTimers;
  }

  /**
   * How many distinct recipients are counted now (drops aged-out ones).
   *
   * @returns A number from 0 to `max`.
   */
  get size(): number {
    const seen = this.#seen;
    if (seen === undefined) return 0;
    this.#expire(seen, this.#clock.now());
    return seen.size;
  }

  /**
   * Admits a stanza to `recipientKey` (e.g. a bare JID) if the recipient is
   * already counted or there is room for one more, and counts it.
   *
   * @param recipientKey The recipient, normalised by the caller.
   * @param now The time the stanza counts at, when the caller has read the
   * clock already (e.g. once for every stanza of one read). Default: the clock's.
   * @returns `{ allowed: true }`, or `{ allowed: false, retryAfterMs }` with
   * the whole milliseconds until the oldest recipient ages out (`Infinity`
   * when `max` is 0).
   */
  check(recipientKey: string, now?: number): DistinctCheck {
    if (this.#max === 0) return { allowed: false, retryAfterMs: Infinity };
    now ??= this.#clock.now();
    const seen = this.#seen ??= new Map();
    const last = seen.get(recipientKey);
    if (last !== undefined) {
      // Counted (or aged out but still holding its slot, which it may reuse).
      if (now > last) {
        seen.set(recipientKey, now);
        if (last + this.#windowMs === this.#nextExpiry) this.#nextExpiry = -Infinity;
      }
      return ALLOWED;
    }
    if (seen.size < this.#max) {
      seen.set(recipientKey, now);
      return ALLOWED;
    }
    if (now < this.#nextExpiry) {
      return { allowed: false, retryAfterMs: Math.ceil(this.#nextExpiry - now) };
    }
    const oldest = this.#expire(seen, now);
    if (seen.size < this.#max) {
      seen.set(recipientKey, now);
      this.#nextExpiry = -Infinity;
      return ALLOWED;
    }
    this.#nextExpiry = oldest + this.#windowMs;
    return { allowed: false, retryAfterMs: Math.ceil(this.#nextExpiry - now) };
  }

  /** Forgets every recipient. */
  reset(): void {
    this.#seen = undefined;
    this.#nextExpiry = -Infinity;
  }

  /**
   * Drops recipients last addressed `windowMs` or more ago.
   *
   * @returns The earliest time among those left (Infinity when none).
   */
  #expire(seen: Map<string, number>, now: number): number {
    const cutoff = now - this.#windowMs;
    let oldest = Infinity;
    for (const [key, last] of seen) {
      if (last <= cutoff) seen.delete(key);
      else if (last < oldest) oldest = last;
    }
    return oldest;
  }
}
