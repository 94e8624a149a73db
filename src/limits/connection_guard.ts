/**
 * The guard every accepted socket passes before a byte is read (XEP-0205
 * §3.1, §3.2): bans, open connections per address, connection attempts per
 * address per window, the server-wide budget of unauthenticated connections,
 * and overload shedding.
 *
 * XEP-0205 §3.1: "the receiving server MUST NOT allow the new connection to
 * proceed", and there is no XMPP error to send, since no stream exists yet:
 * a refused connection is simply closed. An address refused for too many
 * attempts also loses the connections it opened before the limit tripped
 * that have not authenticated yet (`close_unauthenticated`), so a flood does
 * not keep them until the negotiation timeout.
 *
 * @module
 */

import type { CountLimit, LimitMode, WindowLimit } from "../config/schema.ts";
import { type Clock, systemTimers } from "../core/clock.ts";
import type { BanList } from "./ban_list.ts";
import { BoundedMap } from "./bounded_map.ts";
import { ipKey, type IpKeyOptions } from "./ip.ts";
import { type LimitTable, TablesByLimit } from "./_tables_by_limit.ts";

/**
 * How loaded the server says it is, from 0 (normal) to 3 (shedding), set with
 * {@linkcode ConnectionGuard.setPressure}.
 */
export type PressureLevel = 0 | 1 | 2 | 3;

/** The kinds of session, from the cheapest to shed to the dearest. */
export type SessionClass = "unauthenticated" | "anonymous" | "authenticated";

/** The limit behind a refusal or a report. */
export type ConnectionLimitName =
  | "banned"
  | "connections_per_ip"
  | "connection_attempts_per_ip"
  | "unauthenticated_connections"
  | "overload";

/**
 * The limits {@linkcode ConnectionGuard.admit} applies to one connection: the
 * effective per-address limits for its address (after limit classes), and
 * the server-wide unauthenticated budget. The resolved `limits` section of
 * the configuration fits as it is.
 */
export interface ConnectionLimits {
  /** Open connections per address (`max: null` = off). */
  readonly connections_per_ip: CountLimit;
  /**
   * Connection attempts per address per `window` ms (`max: null` = off):
   * connections admitted or refused by `connections_per_ip`.
   * `close_unauthenticated` (default `true`): an enforced refusal by this
   * limit also revokes the address's unauthenticated connections (see
   * {@linkcode AdmitOptions.onRevoke}).
   */
  readonly connection_attempts_per_ip: WindowLimit & { readonly close_unauthenticated?: boolean };
  /**
   * Unauthenticated connections open server-wide: a `{ max, mode }` limit, or
   * a bare count (`null` = off) that takes `mode`.
   */
  readonly unauthenticated_connections: CountLimit | number | null;
  /**
   * The mode of a bare `unauthenticated_connections` count.
   *
   * @default {"enforce"}
   */
  readonly mode?: LimitMode;
}

/**
 * A limit a connection ran into: the reason for a refusal, or a limit in
 * report mode that would have refused.
 */
export interface ConnectionLimitHit {
  /** Which limit. */
  readonly limit: ConnectionLimitName;
  /** The address key the per-address limits count under (`ipKey`). */
  readonly key: string;
  /**
   * The figure the limit compares, before this connection: open connections
   * from the address, its attempts in the window (the sliding estimate, may be
   * fractional), or unauthenticated connections server-wide. 0 for a ban.
   */
  readonly figure: number;
  /** The maximum in force (halved or 0 for `"overload"`); 0 for a ban. */
  readonly max: number;
  /** `"enforce"` for a refusal, `"report"` for a hit that was let through. */
  readonly mode: LimitMode;
  /**
   * Milliseconds until the limit lets this address in again, when known: for
   * attempts, and for a ban that expires.
   */
  readonly retryAfterMs?: number;
  /** The ban's reason, for `"banned"`. */
  readonly reason?: string;
  /**
   * For an enforced `"connection_attempts_per_ip"` refusal with
   * `close_unauthenticated`: how many unauthenticated connections of the
   * address were revoked (their {@linkcode AdmitOptions.onRevoke} called),
   * when at least one was.
   */
  readonly revoked?: number;
}

/** Options for {@linkcode ConnectionGuard.admit}. */
export interface AdmitOptions {
  /**
   * Called (synchronously, at most once, from a later `admit()` of the same
   * address key) when the guard revokes this connection while it is still
   * unauthenticated: its address was refused for
   * `connection_attempts_per_ip` in enforce mode with
   * `close_unauthenticated`. Close the connection; the slot stays counted
   * until it is disposed. It may dispose the slot at once, and must not
   * throw. Only connections
   * admitted with this callback can be revoked, and only they are indexed.
   *
   * @default {undefined}
   */
  onRevoke?: () => void;
}

/** A refused connection: close it without reading. */
export interface AdmissionRefused extends ConnectionLimitHit {
  /** Always `false`. */
  readonly ok: false;
}

/** An admitted connection and the slot it holds. */
export interface AdmissionGranted {
  /** Always `true`. */
  readonly ok: true;
  /** The slot, to release when the connection closes. */
  readonly slot: ConnectionSlot;
  /** Limits in report mode this connection exceeded (usually empty), to log. */
  readonly reported: readonly ConnectionLimitHit[];
}

/** The answer of {@linkcode ConnectionGuard.admit}. */
export type Admission = AdmissionGranted | AdmissionRefused;

/**
 * An admitted connection's share of the limits: one open connection for its
 * address and, until {@linkcode ConnectionSlot.authenticated}, one of the
 * unauthenticated budget. Disposing releases both; it is idempotent.
 */
export interface ConnectionSlot extends Disposable {
  /** The address key the connection counts under. */
  readonly key: string;
  /** Whether {@linkcode ConnectionSlot.authenticated} was called. */
  readonly isAuthenticated: boolean;
  /** Whether the slot was released. */
  readonly isReleased: boolean;
  /**
   * Moves the connection out of the unauthenticated budget, once the stream
   * has authenticated. Later calls, and calls after release, do nothing.
   */
  authenticated(): void;
}

/** Options for {@linkcode ConnectionGuard}. */
export interface ConnectionGuardOptions {
  /**
   * How many leading bits of an IPv6 address identify one client
   * (`limits.ipv6_prefix`).
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /**
   * The most addresses whose attempts are tracked, per distinct
   * `connection_attempts_per_ip` limit; the least recently seen is dropped
   * first.
   *
   * @default {100000}
   */
  maxTrackedAddresses?: number;
  /**
   * The clock that moves the attempt windows and expires bans.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * Bans checked before any limit.
   *
   * @default {undefined}
   */
  bans?: BanList;
  /**
   * Called synchronously for every hit, refused or reported, before
   * {@linkcode ConnectionGuard.admit} returns (refusals receive the refusal
   * itself). Under a flood this runs once per refused socket: rate-limit logs
   * there.
   *
   * @default {undefined}
   */
  onLimit?: (hit: ConnectionLimitHit) => void;
}

/** Options for {@linkcode ConnectionGuard.snapshot}. */
export interface SnapshotOptions {
  /**
   * How many entries the per-address lists hold at most.
   *
   * @default {20}
   */
  top?: number;
}

/** The live state of a {@linkcode ConnectionGuard}, for an admin API. */
export interface ConnectionGuardSnapshot {
  /** The pressure level in force. */
  pressure: PressureLevel;
  /** Admitted connections not yet authenticated nor released. */
  unauthenticated: number;
  /** Admitted connections not yet released. */
  openConnections: number;
  /** Addresses (keys) with at least one open connection. */
  openAddresses: number;
  /** The addresses with the most open connections, most first. */
  topAddresses: { key: string; open: number }[];
  /**
   * Addresses whose attempts reached 80 % of their limit or more, most
   * loaded first (from a watch list of the last 1,024 such addresses).
   */
  nearLimit: { key: string; attempts: number; max: number; windowMs: number }[];
  /** One attempt table per distinct limit in use, with its fill. */
  attemptTables: { max: number; windowMs: number; size: number; maxKeys: number }[];
}

/** A table of attempt counters for one `{ max, window }`. */
type AttemptTable = LimitTable;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_HITS: readonly ConnectionLimitHit[] = Object.freeze([]);
const NEAR_LIMIT = 0.8;
const WATCH_CAPACITY = 1024;

/** The open-connection counts shared by a guard and its slots. */
class Ledger {
  /** Open connections per key; a key is deleted when its count reaches 0. */
  readonly open = new Map<string, number>();
  /**
   * Revocable connections per key: unauthenticated, unreleased, admitted with
   * `onRevoke`. A key is deleted when its set empties, so the index never
   * holds more than the open unauthenticated connections.
   */
  readonly revocable = new Map<string, Set<Slot>>();
  openTotal = 0;
  unauthenticated = 0;

  index(slot: Slot): void {
    const set = this.revocable.get(slot.key);
    if (set === undefined) this.revocable.set(slot.key, new Set([slot]));
    else set.add(slot);
  }

  unindex(slot: Slot): void {
    const set = this.revocable.get(slot.key);
    // A revoked slot's set was detached already: nothing to do.
    if (set === undefined || !set.delete(slot)) return;
    if (set.size === 0) this.revocable.delete(slot.key);
  }

  release(key: string, unauthenticated: boolean): void {
    const open = this.open.get(key) ?? 0;
    if (open <= 1) this.open.delete(key);
    else this.open.set(key, open - 1);
    this.openTotal--;
    if (unauthenticated) this.unauthenticated--;
  }
}

const UNAUTHENTICATED = 0;
const AUTHENTICATED = 1;
const RELEASED = 2;

class Slot implements ConnectionSlot {
  readonly key: string;
  readonly #ledger: Ledger;
  readonly onRevoke: (() => void) | undefined;
  #state = UNAUTHENTICATED;

  constructor(ledger: Ledger, key: string, onRevoke: (() => void) | undefined) {
    this.#ledger = ledger;
    this.key = key;
    this.onRevoke = onRevoke;
    if (onRevoke !== undefined) ledger.index(this);
  }

  get isAuthenticated(): boolean {
    return this.#state === AUTHENTICATED;
  }

  get isReleased(): boolean {
    return this.#state === RELEASED;
  }

  authenticated(): void {
    if (this.#state !== UNAUTHENTICATED) return;
    this.#state = AUTHENTICATED;
    this.#ledger.unauthenticated--;
    if (this.onRevoke !== undefined) this.#ledger.unindex(this);
  }

  [Symbol.dispose](): void {
    if (this.#state === RELEASED) return;
    this.#ledger.release(this.key, this.#state === UNAUTHENTICATED);
    if (this.#state === UNAUTHENTICATED && this.onRevoke !== undefined) {
      this.#ledger.unindex(this);
    }
    this.#state = RELEASED;
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > 0x7fffffff) {
    throw new RangeError(
      `Cannot create connection guard: '${name}' must be a positive integer below 2^31, got ${value}`,
    );
  }
}

/**
 * Admits or refuses accepted connections, per address and server-wide, and
 * holds the counts of the admitted ones.
 *
 * **Checks**, in order (the first enforced hit refuses; a hit in report mode
 * is listed in `reported` and the next check runs):
 * 1. `banned`: the {@linkcode BanList}, if given (always enforced);
 * 2. `unauthenticated_connections`: refused once `max` unauthenticated
 *    connections are open server-wide;
 * 3. `overload`: at pressure 1, refused once `ceil(max / 2)` unauthenticated
 *    connections are open (nothing when the budget is off); at pressure 2 and
 *    3, every new connection is refused (every new connection is
 *    unauthenticated). Same mode as the unauthenticated budget;
 * 4. `connection_attempts_per_ip`: at most `max` attempts from the address
 *    per window (sliding estimate of {@linkcode WindowCounterTable}). Every
 *    connection that passed checks 1 to 3 is an attempt, including one
 *    refused by `connections_per_ip` (XEP-0205 counts attempts, not
 *    successes): an address hammering at its open cap trips this limit. A
 *    connection refused by this limit itself, a ban or a server-wide check
 *    is not counted, so a refused flood does not extend its own lockout and
 *    server-wide refusals never use up an address's budget; an address that
 *    keeps retrying at its open cap is locked out until its window passes.
 *    An enforced refusal here also revokes the address's unauthenticated
 *    connections (unless `close_unauthenticated` is `false`): each one
 *    admitted with {@linkcode AdmitOptions.onRevoke} has it called once, and
 *    the refusal's `revoked` says how many. Report mode never revokes. When
 *    both per-address limits refuse, the refusal names this one, since it
 *    also closed the pending streams;
 * 5. `connections_per_ip`: refused once `max` connections from the address
 *    are open (a hit in report mode is listed before check 4's).
 *
 * **Cost.** A refusal is O(1): one `ipKey` (one small string), at most one
 * ban trie walk and hash lookup, two map lookups, and the refusal object.
 * No timer, no per-refusal state. Revoking is O(revoked connections) through
 * a per-address index; no other connection is looked at.
 *
 * **Bounded state.** Open-connection counts are a `Map` keyed by address,
 * deleted at zero: bounded by open sockets; so is the index of revocable
 * (unauthenticated) connections per address, which a slot leaves when it
 * authenticates, is released or is revoked. Attempts live in a
 * {@linkcode WindowCounterTable} of `maxTrackedAddresses` keys per distinct
 * `{ max, window }` limit (distinct limits come from the configuration's
 * classes, so a handful). Eviction drops the least recently seen address,
 * which then starts from zero: an attacker can reset its own counter only by
 * making `maxTrackedAddresses` other addresses connect within its window, so
 * size the table well above the number of live attacking addresses (the
 * default 100,000 needs a botnet of that size, or that many IPv6 /64s).
 * Measured by `bench/guards_bench.ts`: about 120 bytes per tracked IPv4
 * address and 128 per IPv6 /64 (key string included), so a full default
 * table costs about 13 MB.
 *
 * **Overload shedding** (cheapest to refuse first: unauthenticated
 * connections, then anonymous sessions, then authenticated users): the server
 * sets a pressure level from its measured load. Levels 1 and 2 act on new
 * connections (above); at level 3 {@linkcode ConnectionGuard.shouldShed}
 * also names the existing sessions to close: unauthenticated ones first, then
 * anonymous ones. Authenticated users are never named.
 *
 * Exempt addresses (`limits.exempt`) should not be passed to
 * {@linkcode ConnectionGuard.admit}; they are then not counted either.
 *
 * @example Usage
 * ```ts
 * import { ConnectionGuard } from "./connection_guard.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const guard = new ConnectionGuard({ clock: new ManualClock() });
 * const limits = {
 *   connections_per_ip: { max: 1, mode: "enforce" },
 *   connection_attempts_per_ip: { max: 30, window: 60_000, mode: "enforce" },
 *   unauthenticated_connections: 1000,
 * } as const;
 *
 * const first = guard.admit("192.0.2.1", limits);
 * assert.ok(first.ok);
 * const second = guard.admit("192.0.2.1", limits);
 * assert.equal(second.ok, false);
 * assert.equal(!second.ok && second.limit, "connections_per_ip");
 *
 * first.slot.authenticated(); // leaves the unauthenticated budget
 * first.slot[Symbol.dispose](); // the connection closed
 * assert.ok(guard.admit("192.0.2.1", limits).ok);
 *
 * // Too many attempts: the address's unauthenticated connections are revoked.
 * const strict = {
 *   ...limits,
 *   connections_per_ip: { max: 10, mode: "enforce" },
 *   connection_attempts_per_ip: { max: 1, window: 60_000, mode: "enforce" },
 * } as const;
 * const revoked: string[] = [];
 * const pending = guard.admit("192.0.2.7", strict, { onRevoke: () => revoked.push("pending") });
 * assert.ok(pending.ok);
 * const flood = guard.admit("192.0.2.7", strict);
 * assert.equal(!flood.ok && flood.revoked, 1);
 * assert.deepEqual(revoked, ["pending"]);
 * ```
 */
export class ConnectionGuard {
  readonly #keyOptions: IpKeyOptions;
  readonly #clock: Clock;
  readonly #bans: BanList | undefined;
  readonly #onLimit: ((hit: ConnectionLimitHit) => void) | undefined;
  readonly #ledger = new Ledger();
  /** Attempt tables by window, then by max. */
  readonly #tables: TablesByLimit;
  /** Addresses seen at or near their attempt limit, for the snapshot. */
  readonly #watch = new BoundedMap<string, AttemptTable>(WATCH_CAPACITY);
  #pressure: PressureLevel = 0;

  /**
   * Creates a guard with no connections.
   *
   * @param options The IPv6 grouping, table size, clock, bans and hit callback.
   * @throws {RangeError} If `ipv6Prefix` is not an integer from 0 to 128 or
   * `maxTrackedAddresses` not a positive integer below 2³¹.
   */
  constructor(options: ConnectionGuardOptions = {}) {
    const { ipv6Prefix = 64, maxTrackedAddresses = 100_000, clock = systemTimers } = options;
    if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 0 || ipv6Prefix > 128) {
      throw new RangeError(
        `Cannot create connection guard: 'ipv6Prefix' must be an integer from 0 to 128, got ${ipv6Prefix}`,
      );
    }
    checkPositiveInteger("maxTrackedAddresses", maxTrackedAddresses);
    this.#keyOptions = { ipv6Prefix };
    this.#tables = new TablesByLimit(maxTrackedAddresses, clock);
    this.#clock = clock;
    this.#bans = options.bans;
    this.#onLimit = options.onLimit;
  }

  /**
   * The pressure level in force.
   *
   * @returns A level from 0 to 3.
   */
  get pressure(): PressureLevel {
    return this.#pressure;
  }

  /**
   * Admitted connections not yet authenticated nor released.
   *
   * @returns A count ≥ 0.
   */
  get unauthenticated(): number {
    return this.#ledger.unauthenticated;
  }

  /**
   * Decides whether a freshly accepted connection may proceed, and if so
   * counts it.
   *
   * @param ip The remote address, in any form `parseIp` accepts.
   * @param limits The effective limits for this address.
   * @param options How to close this connection if it is revoked later.
   * @returns `{ ok: true, slot, reported }`, or `{ ok: false, limit, … }`:
   * close the socket without reading.
   * @throws {SyntaxError} If `ip` is not an IP address.
   * @throws {RangeError} If `connection_attempts_per_ip` has a `max` or
   * `window` that is not a positive integer.
   */
  admit(ip: string, limits: ConnectionLimits, options?: AdmitOptions): Admission {
    const key = ipKey(ip, this.#keyOptions);
    let reported = NO_HITS;

    if (this.#bans !== undefined) {
      const ban = this.#bans.isBanned(ip);
      if (ban !== undefined) {
        const retryAfterMs = ban.expiresAt === undefined
          ? undefined
          : Math.max(0, Math.ceil(ban.expiresAt - this.#clock.now()));
        return this.#refuse("banned", key, 0, 0, retryAfterMs, ban.reason);
      }
    }

    const budget = limits.unauthenticated_connections;
    let budgetMax: number | null;
    let budgetMode: LimitMode;
    if (typeof budget === "object" && budget !== null) {
      budgetMax = budget.max;
      budgetMode = budget.mode;
    } else {
      budgetMax = budget;
      budgetMode = limits.mode ?? "enforce";
    }
    const unauthenticated = this.#ledger.unauthenticated;
    if (budgetMax !== null && unauthenticated >= budgetMax) {
      if (budgetMode === "enforce") {
        return this.#refuse("unauthenticated_connections", key, unauthenticated, budgetMax);
      }
      reported = this.#report(
        reported,
        "unauthenticated_connections",
        key,
        unauthenticated,
        budgetMax,
      );
    } else if (this.#pressure > 0) {
      const cap = this.#pressure >= 2
        ? 0
        : budgetMax === null
        ? Infinity
        : Math.ceil(budgetMax / 2);
      if (unauthenticated >= cap) {
        if (budgetMode === "enforce") return this.#refuse("overload", key, unauthenticated, cap);
        reported = this.#report(reported, "overload", key, unauthenticated, cap);
      }
    }

    const perIp = limits.connections_per_ip;
    const open = this.#ledger.open.get(key) ?? 0;
    // Refused at its open cap only after the attempt is counted below: a
    // connection refused there is still an attempt (XEP-0205 counts attempts).
    let cappedAt: number | undefined;
    if (perIp.max !== null && open >= perIp.max) {
      if (perIp.mode === "enforce") cappedAt = perIp.max;
      else reported = this.#report(reported, "connections_per_ip", key, open, perIp.max);
    }

    const attempts = limits.connection_attempts_per_ip;
    if (attempts.max !== null) {
      const entry = this.#tables.tableFor(attempts, attempts.max);
      const { table } = entry;
      if (table.hit(key)) {
        if (table.count(key) >= NEAR_LIMIT * entry.max) this.#watch.set(key, entry);
      } else {
        this.#watch.set(key, entry);
        const figure = table.count(key);
        const retryAfterMs = table.retryAfterMs(key);
        if (attempts.mode === "enforce") {
          const revoked = attempts.close_unauthenticated === false ? 0 : this.#revoke(key);
          return this.#refuse(
            "connection_attempts_per_ip",
            key,
            figure,
            entry.max,
            retryAfterMs,
            undefined,
            revoked,
          );
        }
        reported = this.#report(
          reported,
          "connection_attempts_per_ip",
          key,
          figure,
          entry.max,
          retryAfterMs,
        );
      }
    }

    if (cappedAt !== undefined) return this.#refuse("connections_per_ip", key, open, cappedAt);

    const ledger = this.#ledger;
    ledger.open.set(key, open + 1);
    ledger.openTotal++;
    ledger.unauthenticated++;
    return { ok: true, slot: new Slot(ledger, key, options?.onRevoke), reported };
  }

  /**
   * Sets the pressure level the server measured: 0 normal; 1 halves the
   * unauthenticated budget for new connections; 2 refuses every new
   * connection; 3 as 2, and {@linkcode ConnectionGuard.shouldShed} names
   * sessions to close.
   *
   * @param level The level, 0 to 3.
   * @throws {RangeError} If `level` is not 0, 1, 2 or 3.
   */
  setPressure(level: PressureLevel): void {
    if (level !== 0 && level !== 1 && level !== 2 && level !== 3) {
      throw new RangeError(
        `Cannot set pressure: 'level' must be 0, 1, 2 or 3, got ${level as unknown}`,
      );
    }
    this.#pressure = level;
  }

  /**
   * Tells whether an existing session of a class should be closed to shed
   * load: at pressure 3, unauthenticated sessions (close these first) and
   * anonymous ones; never authenticated users.
   *
   * @param sessionClass The session's class.
   * @returns `true` when the caller should close such sessions now.
   */
  shouldShed(sessionClass: SessionClass): boolean {
    return this.#pressure === 3 &&
      (sessionClass === "unauthenticated" || sessionClass === "anonymous");
  }

  /**
   * Reports the live state, for an admin API. Costs O(open addresses +
   * watched addresses) and allocates; not for hot paths.
   *
   * @param options How many entries per list.
   * @returns A new snapshot object.
   * @throws {RangeError} If `top` is not an integer ≥ 0.
   */
  snapshot(options: SnapshotOptions = {}): ConnectionGuardSnapshot {
    const { top = 20 } = options;
    if (!Number.isSafeInteger(top) || top < 0) {
      throw new RangeError(`Cannot take snapshot: 'top' must be an integer >= 0, got ${top}`);
    }
    const ledger = this.#ledger;
    const topAddresses = [...ledger.open]
      .map(([key, open]) => ({ key, open }))
      .sort((a, b) => b.open - a.open || (a.key < b.key ? -1 : 1))
      .slice(0, top);
    const nearLimit: ConnectionGuardSnapshot["nearLimit"] = [];
    const stale: string[] = [];
    for (const [key, entry] of this.#watch) {
      const attempts = entry.table.count(key);
      if (attempts >= NEAR_LIMIT * entry.max) {
        nearLimit.push({ key, attempts, max: entry.max, windowMs: entry.windowMs });
      } else {
        stale.push(key);
      }
    }
    for (const key of stale) this.#watch.delete(key);
    nearLimit.sort((a, b) => b.attempts / b.max - a.attempts / a.max || (a.key < b.key ? -1 : 1));
    nearLimit.length = Math.min(nearLimit.length, top);
    const attemptTables: ConnectionGuardSnapshot["attemptTables"] = [];
    for (const { table, max, windowMs } of this.#tables.values()) {
      attemptTables.push({ max, windowMs, size: table.size, maxKeys: table.maxKeys });
    }
    return {
      pressure: this.#pressure,
      unauthenticated: ledger.unauthenticated,
      openConnections: ledger.openTotal,
      openAddresses: ledger.open.size,
      topAddresses,
      nearLimit,
      attemptTables,
    };
  }

  /** Revokes every revocable connection of `key`; returns how many. */
  #revoke(key: string): number {
    const revocable = this.#ledger.revocable;
    const slots = revocable.get(key);
    if (slots === undefined) return 0;
    // Detached first: callbacks that dispose their slot find nothing to unindex.
    revocable.delete(key);
    for (const slot of slots) slot.onRevoke!();
    return slots.size;
  }

  #refuse(
    limit: ConnectionLimitName,
    key: string,
    figure: number,
    max: number,
    retryAfterMs?: number,
    reason?: string,
    revoked = 0,
  ): AdmissionRefused {
    const refusal: Mutable<AdmissionRefused> = {
      ok: false,
      limit,
      key,
      figure,
      max,
      mode: "enforce",
    };
    if (retryAfterMs !== undefined) refusal.retryAfterMs = retryAfterMs;
    if (reason !== undefined) refusal.reason = reason;
    if (revoked > 0) refusal.revoked = revoked;
    this.#onLimit?.(refusal);
    return refusal;
  }

  #report(
    reported: readonly ConnectionLimitHit[],
    limit: ConnectionLimitName,
    key: string,
    figure: number,
    max: number,
    retryAfterMs?: number,
  ): readonly ConnectionLimitHit[] {
    const hit: Mutable<ConnectionLimitHit> = { limit, key, figure, max, mode: "report" };
    if (retryAfterMs !== undefined) hit.retryAfterMs = retryAfterMs;
    this.#onLimit?.(hit);
    return reported === NO_HITS ? [hit] : [...reported, hit];
  }
}
