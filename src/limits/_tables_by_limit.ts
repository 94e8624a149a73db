/**
 * One {@linkcode WindowCounterTable} per distinct `{ max, window }`, shared by
 * the connection and authentication guards. Private to `src/limits/`.
 *
 * @module
 */

import type { WindowLimit } from "../config/schema.ts";
import type { Clock } from "../core/clock.ts";
import { WindowCounterTable } from "./window_counter.ts";

/** A table of window counters for one `{ max, window }`. */
export interface LimitTable {
  /** The counters, keyed by address key. */
  readonly table: WindowCounterTable<string>;
  /** Hits accepted per window. */
  readonly max: number;
  /** The window length in milliseconds. */
  readonly windowMs: number;
}

/**
 * Window counter tables made on first use, one per distinct `{ max, window }`,
 * each holding up to `maxKeys` keys.
 *
 * @example Usage
 * ```ts
 * import { TablesByLimit } from "./_tables_by_limit.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const tables = new TablesByLimit(100, new ManualClock());
 * const limit = { max: 2, window: 60_000, mode: "enforce" as const };
 * const entry = tables.tableFor(limit, 2);
 * assert.equal(tables.tableFor(limit, 2), entry);
 * assert.equal(tables.get(60_000, 2), entry);
 * assert.notEqual(tables.tableFor(limit, 3), entry);
 * assert.equal([...tables.values()].length, 2);
 * ```
 */
export class TablesByLimit {
  readonly #maxKeys: number;
  readonly #clock: Clock;
  /** Tables by window, then by max. */
  readonly #tables = new Map<number, Map<number, LimitTable>>();
  #lastLimit: WindowLimit | undefined;
  #lastTable: LimitTable | undefined;

  /**
   * Creates an empty set of tables.
   *
   * @param maxKeys The most keys each table holds; checked by the caller.
   * @param clock The clock every table reads.
   */
  constructor(maxKeys: number, clock: Clock) {
    this.#maxKeys = maxKeys;
    this.#clock = clock;
  }

  /**
   * The table for `max` hits per `limit.window`, made on first use.
   *
   * @param limit The limit (its `window` is used; the object is remembered).
   * @param max Hits accepted per window.
   * @returns The table with its `max` and `windowMs`.
   */
  tableFor(limit: WindowLimit, max: number): LimitTable {
    const last = this.#lastTable;
    // The same object as last time (the common case): no map lookups. The
    // values are compared too, in case the caller changed the object.
    if (
      limit === this.#lastLimit && last !== undefined && last.max === max &&
      last.windowMs === limit.window
    ) {
      return last;
    }
    let byMax = this.#tables.get(limit.window);
    let entry = byMax?.get(max);
    if (entry === undefined) {
      const table = new WindowCounterTable<string>(
        { max, windowMs: limit.window },
        this.#maxKeys,
        { clock: this.#clock },
      );
      entry = { table, max, windowMs: limit.window };
      if (byMax === undefined) {
        byMax = new Map();
        this.#tables.set(limit.window, byMax);
      }
      byMax.set(max, entry);
    }
    this.#lastLimit = limit;
    this.#lastTable = entry;
    return entry;
  }

  /**
   * The table for `max` hits per `windowMs`, if one was made.
   *
   * @param windowMs The window length in milliseconds.
   * @param max Hits accepted per window.
   * @returns The table, or `undefined`.
   */
  get(windowMs: number, max: number): LimitTable | undefined {
    return this.#tables.get(windowMs)?.get(max);
  }

  /**
   * Every table made so far, by window then by max, in order of first use.
   *
   * @returns An iterator over the tables.
   */
  *values(): IterableIterator<LimitTable> {
    for (const byMax of this.#tables.values()) yield* byMax.values();
  }
}
