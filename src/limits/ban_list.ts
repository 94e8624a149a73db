/**
 * Banned addresses, checked when a connection is accepted: static bans
 * compiled once from the configuration, and runtime bans an operator (or an
 * automatic rule) adds and removes while the server runs.
 *
 * @module
 */

import { type Clock, systemTimers } from "../core/clock.ts";
import { BoundedMap, type EvictionReason } from "./bounded_map.ts";
import { CidrSet, ipKey, type IpKeyOptions } from "./ip.ts";

/** Options for {@linkcode BanList}. */
export interface BanListOptions {
  /**
   * Static bans: CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) or single
   * addresses, matched exactly as written (a single IPv6 address here bans
   * that address only). They cannot be lifted with {@linkcode BanList.unban}.
   *
   * @default {[]}
   */
  cidrs?: Iterable<string>;
  /**
   * The most runtime bans held at once. When a new ban needs room, the ban
   * that has gone longest without matching a connection (or being set) is
   * dropped.
   *
   * @default {10000}
   */
  capacity?: number;
  /**
   * How many leading bits of an IPv6 address a runtime ban of a single
   * address covers; the same grouping as the per-address limits.
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /**
   * The clock that expires runtime bans.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
}

/** Options for {@linkcode BanList.ban}. */
export interface BanOptions {
  /**
   * How long the ban lasts, in milliseconds; a positive number. `Infinity`
   * or left out: until {@linkcode BanList.unban}.
   *
   * @default {Infinity}
   */
  durationMs?: number;
  /**
   * Why the address is banned, for logs and the admin API.
   *
   * @default {"banned"}
   */
  reason?: string;
}

/** A ban that covers an address. */
export interface Ban {
  /** Why the address is banned; `"configured"` for a static ban. */
  readonly reason: string;
  /** When the ban ends, as a reading of the list's clock; absent for a permanent ban. */
  readonly expiresAt?: number;
}

/** One ban as {@linkcode BanList.list} reports it. */
export interface BanEntry extends Ban {
  /**
   * What is banned: a static ban as written; a runtime ban as its canonical
   * key (`192.0.2.1`, `10.0.0.0/8`, `2001:db8:1:2::/64`).
   */
  readonly target: string;
  /** `"static"` from the configuration, `"runtime"` from {@linkcode BanList.ban}. */
  readonly source: "static" | "runtime";
}

const STATIC_BAN: Ban = Object.freeze({ reason: "configured" });

class RuntimeBan implements BanEntry {
  readonly target: string;
  readonly reason: string;
  declare readonly expiresAt?: number;
  readonly source = "runtime" as const;
  readonly family: 4 | 6;
  readonly prefix: number;

  constructor(target: string, reason: string, expiresAt: number, family: 4 | 6, prefix: number) {
    this.target = target;
    this.reason = reason;
    if (expiresAt !== Infinity) this.expiresAt = expiresAt;
    this.family = family;
    this.prefix = prefix;
  }
}

/** `ipKey` options per prefix length, made once: `{ ipv4Prefix: p }` and `{ ipv6Prefix: p }`. */
const IPV4_OPTIONS: IpKeyOptions[] = Array.from({ length: 33 }, (_, p) => ({ ipv4Prefix: p }));
const IPV6_OPTIONS: IpKeyOptions[] = Array.from({ length: 129 }, (_, p) => ({ ipv6Prefix: p }));

/** A parsed ban target: its canonical key, family and prefix length. */
interface Target {
  key: string;
  family: 4 | 6;
  prefix: number;
}

function parsePrefixLength(text: string, cidr: string): number {
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(text)) {
    throw new SyntaxError(`Cannot parse ban target: invalid prefix length in "${cidr}"`);
  }
  return Number(text);
}

/**
 * A set of banned addresses. {@linkcode BanList.isBanned} answers in O(1):
 * one walk of the static CIDR trie (no allocation), then, when runtime bans
 * exist, one hash lookup per prefix length in use for the address's family
 * (one for bans of single addresses only).
 *
 * **IPv6 grouping.** A runtime ban of a single IPv6 address bans its whole
 * `/ipv6Prefix` network (default /64), because one host usually owns a /64
 * and rotating through it is free; give a CIDR (`2001:db8::1/128`) to ban a
 * narrower or wider range. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`)
 * count as IPv4, and `::ffff:a.b.c.d/n` blocks (n ≥ 96) as IPv4 blocks. A
 * runtime IPv6 block never covers IPv4 addresses (static bans follow
 * {@linkcode CidrSet}, where `::/0` does).
 *
 * **Bounded.** Runtime bans live in a {@linkcode BoundedMap} of `capacity`
 * entries. A ban that is matched counts as used, so when the list is full the
 * ban that has gone longest without matching any connection is dropped first;
 * a ban still hit by its attacker stays. Expired bans are removed lazily,
 * when a lookup or {@linkcode BanList.list} meets them.
 *
 * Banning does not close connections already open from the address; that is
 * the caller's job.
 *
 * @example Usage
 * ```ts
 * import { BanList } from "./ban_list.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const bans = new BanList({ cidrs: ["203.0.113.0/24"], clock });
 * assert.deepEqual(bans.isBanned("203.0.113.7"), { reason: "configured" });
 *
 * bans.ban("2001:db8:1:2::5", { durationMs: 60_000, reason: "spam" });
 * // The whole /64 is banned, until the ban expires.
 * assert.deepEqual(bans.isBanned("2001:db8:1:2:ffff::1")?.reason, "spam");
 * clock.advance(60_000);
 * assert.equal(bans.isBanned("2001:db8:1:2::5"), undefined);
 * ```
 */
export class BanList {
  readonly #static: CidrSet | undefined;
  readonly #staticTargets: readonly string[];
  readonly #clock: Clock;
  readonly #ipv6Prefix: number;
  readonly #keyOptions: IpKeyOptions;
  readonly #bans: BoundedMap<string, RuntimeBan>;
  /** Runtime bans per prefix length, per family, and the lengths in use. */
  readonly #ipv4Counts = new Int32Array(33);
  readonly #ipv6Counts = new Int32Array(129);
  #ipv4InUse: number[] = [];
  #ipv6InUse: number[] = [];

  /**
   * Creates a list holding the static bans and no runtime bans.
   *
   * @param options The static bans, capacity, IPv6 grouping and clock.
   * @throws {TypeError} If a static ban is not an address or CIDR block.
   * @throws {RangeError} If `capacity` is not a positive integer below 2³¹ or
   * `ipv6Prefix` not an integer from 0 to 128.
   */
  constructor(options: BanListOptions = {}) {
    const { cidrs = [], capacity = 10_000, ipv6Prefix = 64, clock = systemTimers } = options;
    if (!Number.isInteger(ipv6Prefix) || ipv6Prefix < 0 || ipv6Prefix > 128) {
      throw new RangeError(
        `Cannot create ban list: 'ipv6Prefix' must be an integer from 0 to 128, got ${ipv6Prefix}`,
      );
    }
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 0x7fffffff) {
      throw new RangeError(
        `Cannot create ban list: 'capacity' must be a positive integer below 2^31, got ${capacity}`,
      );
    }
    const targets = [...cidrs];
    this.#static = targets.length > 0 ? new CidrSet(targets) : undefined;
    this.#staticTargets = Object.freeze(targets);
    this.#clock = clock;
    this.#ipv6Prefix = ipv6Prefix;
    this.#keyOptions = { ipv4Prefix: 32, ipv6Prefix };
    this.#bans = new BoundedMap<string, RuntimeBan>(capacity, {
      onEvict: (_key, ban, reason) => this.#forget(ban, reason),
    });
  }

  /**
   * The most runtime bans held at once.
   *
   * @returns The `capacity` given at construction.
   */
  get capacity(): number {
    return this.#bans.capacity;
  }

  /**
   * How many runtime bans are held, including expired ones not yet removed.
   *
   * @returns A number from 0 to {@linkcode BanList.capacity}.
   */
  get size(): number {
    return this.#bans.size;
  }

  /**
   * Bans an address (its `/ipv6Prefix` network for IPv6) or a CIDR block.
   * Banning a target again replaces its reason and expiry.
   *
   * @param addressOrCidr An address (`192.0.2.1`, `2001:db8::1`) or block
   * (`10.0.0.0/8`, `2001:db8::/48`, `::ffff:10.0.0.0/104`); host bits of a
   * block are ignored.
   * @param options The duration and reason.
   * @returns The ban as stored, with its canonical target.
   * @throws {SyntaxError} If `addressOrCidr` is not an address or block.
   * @throws {RangeError} If the prefix length is out of range for the family,
   * or `durationMs` is not a positive number.
   */
  ban(addressOrCidr: string, options: BanOptions = {}): BanEntry {
    const { durationMs = Infinity, reason = "banned" } = options;
    if (!(durationMs > 0)) {
      throw new RangeError(
        `Cannot ban "${addressOrCidr}": 'durationMs' must be a positive number, got ${durationMs}`,
      );
    }
    const target = this.#parse(addressOrCidr);
    const ban = new RuntimeBan(
      target.key,
      reason,
      this.#clock.now() + durationMs,
      target.family,
      target.prefix,
    );
    if (!this.#bans.has(target.key)) this.#count(target.family, target.prefix, 1);
    this.#bans.set(target.key, ban);
    return ban;
  }

  /**
   * Lifts a runtime ban. The target is read as {@linkcode BanList.ban} reads
   * it, so unbanning one IPv6 address lifts the ban on its whole network.
   * Static bans stay.
   *
   * @param addressOrCidr The address or block that was banned.
   * @returns `true` when a runtime ban was lifted.
   * @throws {SyntaxError} If `addressOrCidr` is not an address or block.
   * @throws {RangeError} If the prefix length is out of range for the family.
   */
  unban(addressOrCidr: string): boolean {
    return this.#bans.delete(this.#parse(addressOrCidr).key);
  }

  /**
   * Tells whether a ban covers `address`: a static ban first, then the
   * narrowest runtime ban that has not expired. A match counts as a use of
   * that ban (see the eviction rule above).
   *
   * @param address The remote address, in any form {@linkcode CidrSet} accepts.
   * @returns The ban, or `undefined` when none covers the address or
   * `address` is not an IP address.
   */
  isBanned(address: string): Ban | undefined {
    if (this.#static !== undefined && this.#static.has(address)) return STATIC_BAN;
    if (this.#bans.size === 0) return undefined;
    let probe: string;
    try {
      probe = ipKey(address, this.#keyOptions);
    } catch {
      return undefined;
    }
    const ipv6 = probe.indexOf(":") >= 0;
    const inUse = ipv6 ? this.#ipv6InUse : this.#ipv4InUse;
    const probePrefix = ipv6 ? this.#ipv6Prefix : 32;
    const options = ipv6 ? IPV6_OPTIONS : IPV4_OPTIONS;
    // Longest prefix first: the narrowest ban is the most specific reason.
    for (let i = inUse.length - 1; i >= 0; i--) {
      const prefix = inUse[i] as number;
      const key = prefix === probePrefix ? probe : ipKey(address, options[prefix]);
      const ban = this.#bans.get(key);
      if (ban === undefined) continue;
      if (ban.expiresAt !== undefined && ban.expiresAt <= this.#clock.now()) {
        this.#bans.delete(key);
        continue;
      }
      return ban;
    }
    return undefined;
  }

  /**
   * Lists every ban in force: static bans as configured, then runtime bans
   * from the least to the most recently used. Expired runtime bans are
   * removed on the way.
   *
   * @returns A new array of bans.
   */
  list(): BanEntry[] {
    const out: BanEntry[] = this.#staticTargets.map((target) => ({
      target,
      reason: STATIC_BAN.reason,
      source: "static",
    }));
    const now = this.#clock.now();
    const expired: string[] = [];
    for (const [key, ban] of this.#bans) {
      if (ban.expiresAt !== undefined && ban.expiresAt <= now) expired.push(key);
      else out.push(ban);
    }
    for (const key of expired) this.#bans.delete(key);
    return out;
  }

  #parse(text: string): Target {
    if (typeof text !== "string") {
      throw new TypeError(`Cannot parse ban target: expected a string, got ${typeof text}`);
    }
    const slash = text.indexOf("/");
    if (slash < 0) {
      const key = ipKey(text, this.#keyOptions);
      return key.indexOf(":") >= 0
        ? { key, family: 6, prefix: this.#ipv6Prefix }
        : { key, family: 4, prefix: 32 };
    }
    const address = text.slice(0, slash);
    const prefix = parsePrefixLength(text.slice(slash + 1), text);
    if (address.indexOf("%") >= 0) {
      throw new SyntaxError(`Cannot parse ban target: a block has no zone id, got "${text}"`);
    }
    const full = ipKey(address, IPV6_OPTIONS[128]); // throws SyntaxError for a bad address
    if (full.indexOf(":") >= 0) {
      if (prefix > 128) {
        throw new RangeError(
          `Cannot ban "${text}": an IPv6 prefix length must be from 0 to 128, got ${prefix}`,
        );
      }
      return { key: ipKey(address, IPV6_OPTIONS[prefix]), family: 6, prefix };
    }
    const mapped = address.indexOf(":") >= 0;
    const ipv4Prefix = mapped ? prefix - 96 : prefix;
    if (ipv4Prefix < 0 || ipv4Prefix > 32) {
      throw new RangeError(
        `Cannot ban "${text}": ${
          mapped
            ? "an IPv4-mapped prefix length must be from 96 to 128"
            : "an IPv4 prefix length must be from 0 to 32"
        }, got ${prefix}`,
      );
    }
    return { key: ipKey(address, IPV4_OPTIONS[ipv4Prefix]), family: 4, prefix: ipv4Prefix };
  }

  #forget(ban: RuntimeBan, reason: EvictionReason): void {
    // A replaced ban has the same target, so the counts do not change.
    if (reason !== "replace") this.#count(ban.family, ban.prefix, -1);
  }

  #count(family: 4 | 6, prefix: number, delta: 1 | -1): void {
    const counts = family === 4 ? this.#ipv4Counts : this.#ipv6Counts;
    const before = counts[prefix] as number;
    counts[prefix] = before + delta;
    if (before === 0 || before + delta === 0) {
      const inUse: number[] = [];
      for (let p = 0; p < counts.length; p++) if ((counts[p] as number) > 0) inUse.push(p);
      if (family === 4) this.#ipv4InUse = inUse;
      else this.#ipv6InUse = inUse;
    }
  }
}
