/**
 * Slot bookkeeping shared by the keyed limiter tables
 * (`TokenBucketTable`, `WindowCounterTable`): a bounded
 * key → slot map with least-recently-used eviction, a free list, and a
 * `Float64Array` holding `stride` numbers per slot, grown on demand up to
 * `maxKeys` slots. Private to `src/limits/`.
 *
 * @module
 */

import { BoundedMap, type EvictionReason } from "./bounded_map.ts";

/**
 * Keys mapped to fixed-size rows of a growing `Float64Array`. A key's row
 * starts at `slot * stride` in {@linkcode SlotTable.state}; what the numbers
 * mean is up to the owner.
 *
 * @typeParam K The key type.
 *
 * @example Usage
 * ```ts
 * import { SlotTable } from "./_slot_table.ts";
 * import assert from "node:assert/strict";
 *
 * const table = new SlotTable<string>(2, 1);
 * const slot = table.insert("a");
 * table.state[slot * 2] = 7;
 * assert.equal(table.get("a"), slot);
 * table.insert("b"); // full: "a" is evicted and "b" takes its slot
 * assert.equal(table.peek("a"), undefined);
 * assert.equal(table.peek("b"), slot);
 * ```
 */
export class SlotTable<K> {
  readonly #stride: number;
  readonly #slots: BoundedMap<K, number>;
  #state = new Float64Array(0);
  #free: number[] = [];
  #used = 0;

  /**
   * Creates an empty table.
   *
   * @param stride Numbers per slot.
   * @param maxKeys The most keys held at once; a positive integer.
   * @param onEvict Called when a key is dropped, with the reason.
   * @throws {RangeError} If `maxKeys` is not a positive integer below 2³¹.
   */
  constructor(
    stride: number,
    maxKeys: number,
    onEvict?: (key: K, reason: EvictionReason) => void,
  ) {
    this.#stride = stride;
    this.#slots = new BoundedMap<K, number>(maxKeys, {
      onEvict: (key, slot, reason) => {
        // A capacity eviction hands its slot straight to the new key.
        if (reason === "delete") this.#free.push(slot);
        onEvict?.(key, reason);
      },
    });
  }

  /**
   * The rows of every slot; replaced when it grows, so read it after
   * {@linkcode SlotTable.insert}.
   *
   * @returns The current storage.
   */
  get state(): Float64Array {
    return this.#state;
  }

  /**
   * How many keys hold a slot.
   *
   * @returns A number from 0 to {@linkcode SlotTable.capacity}.
   */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * The most keys held at once.
   *
   * @returns The `maxKeys` given at construction.
   */
  get capacity(): number {
    return this.#slots.capacity;
  }

  /**
   * The slot of `key`, marking the key as used.
   *
   * @param key The key.
   * @returns The slot, or `undefined` for an unknown key.
   */
  get(key: K): number | undefined {
    return this.#slots.get(key);
  }

  /**
   * The slot of `key`, without marking the key as used.
   *
   * @param key The key.
   * @returns The slot, or `undefined` for an unknown key.
   */
  peek(key: K): number | undefined {
    return this.#slots.peek(key);
  }

  /**
   * Gives a slot to `key`, which must not hold one; when the table is full the
   * least recently used key is evicted and its slot reused. The caller writes
   * the row afterwards.
   *
   * @param key The new key.
   * @returns The slot now held by `key`.
   */
  insert(key: K): number {
    let slot: number;
    if (this.#slots.size >= this.#slots.capacity) {
      // The least recently used key is about to be evicted by set(); reuse its slot.
      slot = this.#slots.peek(this.#slots.oldestKey as K) as number;
    } else {
      slot = this.#free.pop() ?? this.#allocate();
    }
    this.#slots.set(key, slot);
    return slot;
  }

  /**
   * Drops the slot of `key`.
   *
   * @param key The key.
   * @returns `true` when the key held a slot.
   */
  delete(key: K): boolean {
    return this.#slots.delete(key);
  }

  /** Drops every key and releases the storage. */
  clear(): void {
    this.#state = new Float64Array(0);
    this.#free = [];
    this.#used = 0;
    this.#slots.clear();
  }

  #allocate(): number {
    const stride = this.#stride;
    const slot = this.#used++;
    if ((slot + 1) * stride > this.#state.length) {
      const slots = Math.min(this.#slots.capacity, Math.max(16, (this.#state.length / stride) * 2));
      const state = new Float64Array(slots * stride);
      state.set(this.#state);
      this.#state = state;
    }
    return slot;
  }
}
