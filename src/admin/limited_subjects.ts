/**
 * The addresses and accounts being limited now: a bounded table fed with
 * limit events, read by the status page. Keys are attacker-controlled (IPs,
 * JIDs), so the table is a least-recently-limited {@linkcode BoundedMap}:
 * when it is full, the subject limited longest ago is forgotten first.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { LimitMode } from "../config/schema.ts";
import type { LimitEvent } from "../limits/limit_engine.ts";
import { BoundedMap } from "../limits/bounded_map.ts";

/** Options for {@linkcode LimitedSubjects}. */
export interface LimitedSubjectsOptions {
  /**
   * Subjects remembered at most.
   *
   * @default {1000}
   */
  capacity?: number;
  /**
   * A subject counts as "limited now" for this long after its last event, in milliseconds.
   *
   * @default {300000}
   */
  recentMs?: number;
}

/** Options for {@linkcode LimitedSubjects.list}. */
export interface LimitedSubjectsListOptions {
  /**
   * Subjects returned at most, most recently limited first.
   *
   * @default {50}
   */
  top?: number;
}

/** One address or account limited recently. */
export interface LimitedSubject {
  /** `address` for a client IP, `account` for a bare JID. */
  kind: "address" | "account";
  /** The IP address or the JID. */
  subject: string;
  /** The limits it hit, first hit first. */
  limits: string[];
  /** The mode of its last event. */
  mode: LimitMode;
  /** Events counted while it was remembered. */
  count: number;
  /** Milliseconds since its last event. */
  lastAgoMs: number;
  /** Milliseconds since its first remembered event. */
  firstAgoMs: number;
}

interface Entry {
  kind: "address" | "account";
  subject: string;
  limits: string[];
  mode: LimitMode;
  count: number;
  firstAt: number;
  lastAt: number;
}

/** Limit names kept per subject; a subject rarely hits more than a few. */
const MAX_LIMITS_PER_SUBJECT = 8;

/**
 * Remembers who was limited, and when.
 *
 * @example Usage
 * ```ts
 * import { LimitedSubjects } from "./limited_subjects.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const subjects = new LimitedSubjects(clock, { recentMs: 60_000 });
 * subjects.record({
 *   limit: "distinct_recipients", mode: "enforce", ip: "192.0.2.7",
 *   jid: "mallory@example.org", classes: [], figure: 101, max: 100,
 * });
 * assert.deepEqual(subjects.list().map((s) => s.subject), ["mallory@example.org", "192.0.2.7"]);
 * clock.advance(60_001);
 * assert.deepEqual(subjects.list(), []);
 * ```
 */
export class LimitedSubjects {
  readonly #clock: Clock;
  readonly #recentMs: number;
  readonly #table: BoundedMap<string, Entry>;

  /**
   * Creates an empty table.
   *
   * @param clock The time source (monotonic milliseconds).
   * @param options The capacity and how long "now" lasts.
   * @throws {RangeError} If `capacity` is not a positive integer or `recentMs` not positive.
   */
  constructor(clock: Clock, options: LimitedSubjectsOptions = {}) {
    const { capacity = 1000, recentMs = 300_000 } = options;
    if (!(recentMs > 0)) {
      throw new RangeError(
        `Cannot create limited subjects: 'recentMs' must be positive, got ${recentMs}`,
      );
    }
    this.#clock = clock;
    this.#recentMs = recentMs;
    this.#table = new BoundedMap(capacity);
  }

  /** Subjects remembered now, recent or not. */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Records a limit event against its address and, when known, its account.
   *
   * @param event The event as the limit engine emitted it.
   */
  record(event: LimitEvent): void {
    const now = this.#clock.now();
    if (event.ip !== "") this.#touch("address", event.ip, event, now);
    if (event.jid !== undefined && event.jid !== "") {
      this.#touch("account", event.jid, event, now);
    }
  }

  /**
   * The subjects limited within the recent window, most recent first.
   *
   * @param options How many to return.
   * @returns Fresh objects, safe to serialise.
   */
  list(options: LimitedSubjectsListOptions = {}): LimitedSubject[] {
    const { top = 50 } = options;
    const now = this.#clock.now();
    const recent: LimitedSubject[] = [];
    // Entries iterate least recently limited first: the recent ones are at the end.
    for (const entry of this.#table.values()) {
      if (now - entry.lastAt > this.#recentMs) continue;
      recent.push({
        kind: entry.kind,
        subject: entry.subject,
        limits: [...entry.limits],
        mode: entry.mode,
        count: entry.count,
        lastAgoMs: now - entry.lastAt,
        firstAgoMs: now - entry.firstAt,
      });
    }
    recent.reverse();
    if (recent.length > top) recent.length = Math.max(0, top);
    return recent;
  }

  #touch(kind: "address" | "account", subject: string, event: LimitEvent, now: number): void {
    const key = kind === "address" ? "a " + subject : "j " + subject;
    let entry = this.#table.get(key);
    if (entry === undefined) {
      entry = { kind, subject, limits: [], mode: event.mode, count: 0, firstAt: now, lastAt: now };
    }
    if (entry.limits.length < MAX_LIMITS_PER_SUBJECT && !entry.limits.includes(event.limit)) {
      entry.limits.push(event.limit);
    }
    entry.mode = event.mode;
    entry.count++;
    entry.lastAt = now;
    // set() makes the entry the most recent one (and inserts a new one).
    this.#table.set(key, entry);
  }
}
