/**
 * The guard around SASL authentication (XEP-0205 `auth_failures_per_ip`):
 * failed attempts counted per address in a sliding window, a tarpit that
 * holds the answer to each failure longer than the last, and a refusal once
 * the window's failures reach the limit.
 *
 * @module
 */

import type { LimitMode, WindowLimit } from "../config/schema.ts";
import { type Clock, systemTimers } from "../core/clock.ts";
import { AuthBackoff } from "./backoff.ts";
import { BoundedMap } from "./bounded_map.ts";
import { ipKey, type IpKeyOptions } from "./ip.ts";
import { TablesByLimit } from "./_tables_by_limit.ts";

/** Options for {@linkcode AuthGuard}. */
export interface AuthGuardOptions {
  /**
   * How many leading bits of an IPv6 address identify one client
   * (`limits.ipv6_prefix`).
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /**
   * The most addresses whose failures are tracked, per distinct
   * `auth_failures_per_ip` limit, and the most addresses held by the tarpit;
   * the least recently seen is dropped first.
   *
   * @default {100000}
   */
  maxTrackedAddresses?: number;
  /**
   * The clock that moves the windows and the tarpit.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * The tarpit schedule: the delay for the n-th failure in the window. Its
   * `refuseAfter` is not consulted: the limit's `max` decides refusal.
   *
   * @default {new AuthBackoff()}
   */
  backoff?: AuthBackoff;
  /**
   * Called synchronously for every limit hit, refused or reported (refusals
   * receive the refusal itself).
   *
   * @default {undefined}
   */
  onLimit?: (hit: AuthLimitHit) => void;
}

/** An authentication attempt that ran into `auth_failures_per_ip`. */
export interface AuthLimitHit {
  /** Always `"auth_failures_per_ip"`. */
  readonly limit: "auth_failures_per_ip";
  /** The address key failures count under (`ipKey`). */
  readonly key: string;
  /** Failures from the address in the window (sliding estimate, may be fractional). */
  readonly figure: number;
  /** The limit's `max`. */
  readonly max: number;
  /** `"enforce"` for a refusal, `"report"` for an attempt let through. */
  readonly mode: LimitMode;
  /** Milliseconds until an attempt from the address would be allowed. */
  readonly retryAfterMs: number;
}

/** An attempt that may go ahead, after `delayMs`. */
export interface AuthAllowed {
  /** Always `true`. */
  readonly allowed: true;
  /**
   * Milliseconds to wait before checking the credentials: the rest of the
   * tarpit set by this address's last failure, so parallel connections cannot
   * guess while another connection is held. 0 for a client that waited for
   * its last answer.
   */
  readonly delayMs: number;
  /** Limits in report mode this attempt exceeded (usually empty), to log. */
  readonly reported: readonly AuthLimitHit[];
}

/** A refused attempt: answer SASL `<failure><temporary-auth-failure/></failure>`. */
export interface AuthRefused extends AuthLimitHit {
  /** Always `false`. */
  readonly allowed: false;
}

/** The answer of {@linkcode AuthGuard.beforeAttempt}. */
export type AuthDecision = AuthAllowed | AuthRefused;

/** The live state of an {@linkcode AuthGuard}, for an admin API. */
export interface AuthGuardSnapshot {
  /** Addresses held by the tarpit now. */
  held: number;
  /** One failure table per distinct limit in use, with its fill. */
  failureTables: { max: number; windowMs: number; size: number; maxKeys: number }[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_HITS: readonly AuthLimitHit[] = Object.freeze([]);
const ALLOWED_NOW: AuthAllowed = Object.freeze({ allowed: true, delayMs: 0, reported: NO_HITS });

/**
 * Counts failed authentication per address and answers, before each attempt,
 * whether it may go ahead and after how long.
 *
 * The caller's sequence for one SASL exchange:
 * 1. {@linkcode AuthGuard.beforeAttempt} when `<auth/>` arrives: refused →
 *    answer `<temporary-auth-failure/>`; allowed → wait `delayMs`, then check
 *    the credentials;
 * 2. on failure, {@linkcode AuthGuard.failed}, and hold the `<failure/>`
 *    answer for the returned delay; on success, {@linkcode AuthGuard.succeeded}.
 *
 * **The tarpit.** The n-th failure in the window is answered after
 * `backoff.delayMs(n)` (defaults: 0, 1 s, 2 s, 4 s … up to 30 s), and until
 * then further attempts from the address, on any connection, are delayed too.
 * Once `max` failures fall in the window, attempts are refused until the
 * window slides (`retryAfterMs`). A limit with `max: null` counts nothing and
 * holds nothing. In report mode failures are counted and over-limit attempts
 * reported, but nothing is delayed or refused.
 *
 * **Never an account lockout.** The guard keys on the client's address, not
 * on the account, and never locks or disables an account: XEP-0205 §2 warns
 * that a per-JID limit lets anyone lock the legitimate owner out by failing on
 * purpose, and RFC 6120 §6.4.5 only allows limiting retries per connection.
 * An attacker's failures slow and then refuse the attacker's address while
 * the owner, elsewhere, still logs in.
 *
 * **Success clears.** {@linkcode AuthGuard.succeeded} forgets the address's
 * failures, so a user who mistyped a password starts fresh. An attacker with a
 * valid account behind the same address could interleave logins to reset its
 * count; the tarpit still bounds it, since the n-th failure before each reset
 * waits out `delayMs(n)` (with the defaults nine failures cost over four
 * minutes), and the per-connection retry limit of SASL still applies.
 *
 * **Bounded state.** Failures live in a {@linkcode WindowCounterTable} of
 * `maxTrackedAddresses` keys per distinct limit, tarpit deadlines in a
 * {@linkcode BoundedMap} of the same capacity. The least recently seen address
 * is dropped first and starts again from zero, which needs an attacker with
 * more addresses failing in the window than the table holds. Measured by
 * `bench/guards_bench.ts`: about 210 bytes per address held by the tarpit
 * (failure entry, deadline entry and key), about 21 MB for a full default
 * table.
 *
 * @example Usage
 * ```ts
 * import { AuthGuard } from "./auth_guard.ts";
 * import { AuthBackoff } from "./backoff.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const guard = new AuthGuard({ clock, backoff: new AuthBackoff({ baseDelayMs: 1000 }) });
 * const limit = { max: 3, window: 300_000, mode: "enforce" } as const;
 *
 * assert.deepEqual(guard.beforeAttempt("192.0.2.1", limit), { allowed: true, delayMs: 0, reported: [] });
 * assert.equal(guard.failed("192.0.2.1", limit), 0); // the first failure is free
 * assert.equal(guard.failed("192.0.2.1", limit), 1000);
 * clock.advance(1000);
 * assert.equal(guard.failed("192.0.2.1", limit), 2000);
 * clock.advance(2000);
 * const refused = guard.beforeAttempt("192.0.2.1", limit);
 * assert.equal(refused.allowed, false); // answer <temporary-auth-failure/>
 *
 * guard.succeeded("192.0.2.1"); // e.g. from another connection of the same address
 * assert.equal(guard.beforeAttempt("192.0.2.1", limit).allowed, true);
 * ```
 */
export class AuthGuard {
  readonly #keyOptions: IpKeyOptions;
  readonly #clock: Clock;
  readonly #backoff: AuthBackoff;
  readonly #onLimit: ((hit: AuthLimitHit) => void) | undefined;
  /** Failure tables by window, then by max. */
  readonly #tables: TablesByLimit;
  /** When the tarpit releases each held address (a clock reading). */
  readonly #heldUntil: BoundedMap<string, number>;

  /**
   * Creates a guard with no failures.
   *
   * @param options The IPv6 grouping, table size, clock, schedule and hit callback.
   * @throws {RangeError} If `ipv6Prefix` is not an integer from 0 to 128 or
   * `maxTrackedAddresses` not a positive integer below 2³¹.
   */
  constructor(options: AuthGuardOptions = {}) {
    const { ipv6Prefix = 64, maxTrackedAddresses = 100_000, clock = systemTimers } = options;
    if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 0 || ipv6Prefix > 128) {
      throw new RangeError(
        `Cannot create auth guard: 'ipv6Prefix' must be an integer from 0 to 128, got ${ipv6Prefix}`,
      );
    }
    if (
      !Number.isSafeInteger(maxTrackedAddresses) || maxTrackedAddresses < 1 ||
      maxTrackedAddresses > 0x7fffffff
    ) {
      throw new RangeError(
        `Cannot create auth guard: 'maxTrackedAddresses' must be a positive integer below 2^31, got ${maxTrackedAddresses}`,
      );
    }
    this.#keyOptions = { ipv6Prefix };
    this.#tables = new TablesByLimit(maxTrackedAddresses, clock);
    this.#clock = clock;
    this.#backoff = options.backoff ?? new AuthBackoff();
    this.#onLimit = options.onLimit;
    this.#heldUntil = new BoundedMap<string, number>(maxTrackedAddresses);
  }

  /**
   * Decides whether an authentication attempt from `ip` may go ahead.
   *
   * @param ip The remote address, in any form `parseIp` accepts.
   * @param limit The effective `auth_failures_per_ip` for this address.
   * @returns `{ allowed: true, delayMs, reported }`, or `{ allowed: false,
   * retryAfterMs, … }`: answer `<temporary-auth-failure/>`.
   * @throws {SyntaxError} If `ip` is not an IP address.
   * @throws {RangeError} If the limit's `max` or `window` is not a positive integer.
   */
  beforeAttempt(ip: string, limit: WindowLimit): AuthDecision {
    if (limit.max === null) return ALLOWED_NOW;
    const key = ipKey(ip, this.#keyOptions);
    const { table, max } = this.#tables.tableFor(limit, limit.max);
    const held = this.#remainingHold(key);
    if (!table.peek(key)) {
      const hit: Mutable<AuthLimitHit> & { allowed?: false } = {
        limit: "auth_failures_per_ip",
        key,
        figure: table.count(key),
        max,
        mode: limit.mode,
        retryAfterMs: Math.max(table.retryAfterMs(key), held),
      };
      if (limit.mode === "enforce") {
        const refusal = Object.assign(hit, { allowed: false as const });
        this.#onLimit?.(refusal);
        return refusal;
      }
      this.#onLimit?.(hit);
      return { allowed: true, delayMs: 0, reported: [hit] };
    }
    if (held === 0 || limit.mode === "report") return ALLOWED_NOW;
    return { allowed: true, delayMs: held, reported: NO_HITS };
  }

  /**
   * Counts a failed attempt from `ip` and returns how long to hold the
   * `<failure/>` answer; attempts from the address are delayed until then.
   *
   * @param ip The remote address.
   * @param limit The effective `auth_failures_per_ip` for this address.
   * @returns The delay in milliseconds: `backoff.delayMs(n)` for the n-th
   * failure in the window (rounded up while old failures fade out); 0 in
   * report mode or when the limit is off.
   * @throws {SyntaxError} If `ip` is not an IP address.
   * @throws {RangeError} If the limit's `max` or `window` is not a positive integer.
   */
  failed(ip: string, limit: WindowLimit): number {
    if (limit.max === null) return 0;
    const key = ipKey(ip, this.#keyOptions);
    const { table } = this.#tables.tableFor(limit, limit.max);
    // Over the limit the hit is not counted: the count, and the delay, stay at max.
    table.hit(key);
    if (limit.mode === "report") return 0;
    const delayMs = this.#backoff.delayMs(Math.ceil(table.count(key)));
    if (delayMs > 0) {
      const until = this.#clock.now() + delayMs;
      const previous = this.#heldUntil.peek(key);
      this.#heldUntil.set(key, previous !== undefined && previous > until ? previous : until);
    }
    return delayMs;
  }

  /**
   * Forgets the failures of `ip` (under every limit) and releases its tarpit,
   * after a successful authentication.
   *
   * @param ip The remote address.
   * @throws {SyntaxError} If `ip` is not an IP address.
   */
  succeeded(ip: string): void {
    const key = ipKey(ip, this.#keyOptions);
    for (const { table } of this.#tables.values()) table.delete(key);
    this.#heldUntil.delete(key);
  }

  /**
   * The failures from `ip` in the window of `limit`, as the guard counts them.
   *
   * @param ip The remote address.
   * @param limit The effective `auth_failures_per_ip` for this address.
   * @returns The sliding estimate (may be fractional); 0 when the limit is off.
   * @throws {SyntaxError} If `ip` is not an IP address.
   */
  failures(ip: string, limit: WindowLimit): number {
    if (limit.max === null) return 0;
    const key = ipKey(ip, this.#keyOptions);
    return this.#tables.get(limit.window, limit.max)?.table.count(key) ?? 0;
  }

  /**
   * Reports the live state, for an admin API.
   *
   * @returns A new snapshot object.
   */
  snapshot(): AuthGuardSnapshot {
    const failureTables: AuthGuardSnapshot["failureTables"] = [];
    for (const { table, max, windowMs } of this.#tables.values()) {
      failureTables.push({ max, windowMs, size: table.size, maxKeys: table.maxKeys });
    }
    const now = this.#clock.now();
    let held = 0;
    for (const until of this.#heldUntil.values()) if (until > now) held++;
    return { held, failureTables };
  }

  /** Milliseconds left in the tarpit of `key`; drops a hold that has passed. */
  #remainingHold(key: string): number {
    const until = this.#heldUntil.peek(key);
    if (until === undefined) return 0;
    const left = until - this.#clock.now();
    if (left > 0) return left;
    this.#heldUntil.delete(key);
    return 0;
  }
}
