/**
 * A least-recently-used map with a hard capacity, for every table keyed by
 * attacker-controlled input (IP prefix, JID, recipient, stream id).
 *
 * @module
 */

/**
 * Why an entry left a {@linkcode BoundedMap}:
 * - `"capacity"`: it was the least recently used entry and a new key needed room;
 * - `"delete"`: {@linkcode BoundedMap.delete} removed it;
 * - `"replace"`: {@linkcode BoundedMap.set} stored a different value under its key;
 * - `"clear"`: {@linkcode BoundedMap.clear} removed it.
 */
export type EvictionReason = "capacity" | "delete" | "replace" | "clear";

/** Options for {@linkcode BoundedMap}. */
export interface BoundedMapOptions<K, V> {
  /**
   * Called after an entry has left the map, once the map is consistent again
   * (the callback may read or modify it). Use it to release resources or to
   * remember an evicted attacker.
   *
   * @default {undefined}
   */
  onEvict?: (key: K, value: V, reason: EvictionReason) => void;
}

const NONE = -1;
const INITIAL_SLOTS = 16;

/**
 * A map that never holds more than `capacity` entries: inserting a new key
 * into a full map evicts the least recently used entry. `get` and `set` count
 * as a use; `peek`, `has` and iteration do not. Every operation is O(1) and
 * `get`/`peek`/`has`/`set` on a present key allocate nothing.
 *
 * Layout: a `Map` from key to slot number plus parallel arrays per slot (key,
 * value, and the previous/next slot of a doubly linked recency list in
 * `Int32Array`s), grown by doubling up to `capacity`. A touch relinks two
 * integers instead of re-inserting into the `Map`, and there is no node object
 * per entry.
 *
 * @typeParam K The key type.
 * @typeParam V The value type.
 *
 * @example Usage
 * ```ts
 * import { BoundedMap } from "./bounded_map.ts";
 * import assert from "node:assert/strict";
 *
 * const evicted: string[] = [];
 * const failures = new BoundedMap<string, number>(2, {
 *   onEvict(key, _value, reason) {
 *     evicted.push(`${key}:${reason}`);
 *   },
 * });
 * failures.set("192.0.2.1", 1);
 * failures.set("192.0.2.2", 1);
 * failures.get("192.0.2.1"); // now the most recently used
 * failures.set("192.0.2.3", 1); // evicts 192.0.2.2
 * assert.deepEqual([...failures.keys()], ["192.0.2.1", "192.0.2.3"]);
 * assert.deepEqual(evicted, ["192.0.2.2:capacity"]);
 * assert.equal(failures.size, 2);
 * ```
 */
export class BoundedMap<K, V> implements Iterable<[K, V]> {
  readonly #capacity: number;
  readonly #onEvict: ((key: K, value: V, reason: EvictionReason) => void) | undefined;
  #index = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
  /** Least recently used slot. */
  #head = NONE;
  /** Most recently used slot. */
  #tail = NONE;
  /** Freed slots, chained through `#next`. */
  #free = NONE;
  /** Slots handed out so far (the high-water mark). */
  #used = 0;

  /**
   * Creates an empty map.
   *
   * @param capacity The most entries the map holds; a positive integer.
   * @param options The eviction callback.
   * @throws {RangeError} If `capacity` is not a positive safe integer below 2³¹.
   */
  constructor(capacity: number, options: BoundedMapOptions<K, V> = {}) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 0x7fffffff) {
      throw new RangeError(
        `Cannot create bounded map: 'capacity' must be a positive integer below 2^31, got ${capacity}`,
      );
    }
    this.#capacity = capacity;
    this.#onEvict = options.onEvict;
  }

  /**
   * The most entries the map holds.
   *
   * @returns The capacity given at construction.
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * How many entries the map holds now.
   *
   * @returns A number from 0 to {@linkcode BoundedMap.capacity}.
   */
  get size(): number {
    return this.#index.size;
  }

  /**
   * The least recently used key, the one the next insertion into a full map
   * evicts. Reading it does not count as a use.
   *
   * @returns The key, or `undefined` when the map is empty.
   */
  get oldestKey(): K | undefined {
    return this.#head === NONE ? undefined : this.#keys[this.#head];
  }

  /**
   * Returns the value for `key` and marks the entry as most recently used.
   *
   * @param key The key to look up.
   * @returns The value, or `undefined` when the key is absent.
   */
  get(key: K): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) return undefined;
    if (slot !== this.#tail) this.#moveToTail(slot);
    return this.#values[slot];
  }

  /**
   * Returns the value for `key` without marking it as used.
   *
   * @param key The key to look up.
   * @returns The value, or `undefined` when the key is absent.
   */
  peek(key: K): V | undefined {
    const slot = this.#index.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  /**
   * Tells whether `key` is present, without marking it as used.
   *
   * @param key The key to look up.
   * @returns `true` when the map holds `key`.
   */
  has(key: K): boolean {
    return this.#index.has(key);
  }

  /**
   * Stores `value` under `key` and marks the entry as most recently used. A new
   * key in a full map first evicts the least recently used entry (reason
   * `"capacity"`); a different value under a present key reports the old one
   * (reason `"replace"`).
   *
   * @param key The key.
   * @param value The value.
   * @returns This map.
   */
  set(key: K, value: V): this {
    const present = this.#index.get(key);
    if (present !== undefined) {
      const old = this.#values[present] as V;
      this.#values[present] = value;
      if (present !== this.#tail) this.#moveToTail(present);
      if (old !== value && this.#onEvict !== undefined) this.#onEvict(key, old, "replace");
      return this;
    }
    if (this.#index.size >= this.#capacity) {
      // Reuse the least recently used slot for the new entry.
      const slot = this.#head;
      const evictedKey = this.#keys[slot] as K;
      const evictedValue = this.#values[slot] as V;
      this.#index.delete(evictedKey);
      this.#unlink(slot);
      this.#keys[slot] = key;
      this.#values[slot] = value;
      this.#linkAtTail(slot);
      this.#index.set(key, slot);
      if (this.#onEvict !== undefined) this.#onEvict(evictedKey, evictedValue, "capacity");
      return this;
    }
    const slot = this.#allocate();
    this.#keys[slot] = key;
    this.#values[slot] = value;
    this.#linkAtTail(slot);
    this.#index.set(key, slot);
    return this;
  }

  /**
   * Removes `key` and reports it to `onEvict` with reason `"delete"`.
   *
   * @param key The key to remove.
   * @returns `true` when the key was present.
   */
  delete(key: K): boolean {
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    const value = this.#values[slot] as V;
    this.#index.delete(key);
    this.#unlink(slot);
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#next[slot] = this.#free;
    this.#free = slot;
    if (this.#onEvict !== undefined) this.#onEvict(key, value, "delete");
    return true;
  }

  /**
   * Removes every entry, releases the storage, and reports each entry to
   * `onEvict` (least recently used first) with reason `"clear"`.
   */
  clear(): void {
    const removed = this.#onEvict === undefined ? [] : [...this];
    this.#index = new Map();
    this.#keys = [];
    this.#values = [];
    this.#prev = new Int32Array(0);
    this.#next = new Int32Array(0);
    this.#head = NONE;
    this.#tail = NONE;
    this.#free = NONE;
    this.#used = 0;
    if (this.#onEvict !== undefined) {
      for (const [key, value] of removed) this.#onEvict(key, value, "clear");
    }
  }

  /**
   * Iterates keys from least to most recently used, without marking them as
   * used. Entries changed during iteration may be skipped or visited twice;
   * at most `size` keys are visited.
   *
   * @returns An iterator of keys.
   */
  *keys(): IterableIterator<K> {
    let slot = this.#head;
    for (let left = this.#index.size; slot !== NONE && left > 0; left--) {
      const next = this.#next[slot] as number;
      yield this.#keys[slot] as K;
      slot = next;
    }
  }

  /**
   * Iterates values from least to most recently used, like
   * {@linkcode BoundedMap.keys}.
   *
   * @returns An iterator of values.
   */
  *values(): IterableIterator<V> {
    let slot = this.#head;
    for (let left = this.#index.size; slot !== NONE && left > 0; left--) {
      const next = this.#next[slot] as number;
      yield this.#values[slot] as V;
      slot = next;
    }
  }

  /**
   * Iterates `[key, value]` pairs from least to most recently used, like
   * {@linkcode BoundedMap.keys}.
   *
   * @returns An iterator of entries.
   */
  *entries(): IterableIterator<[K, V]> {
    let slot = this.#head;
    for (let left = this.#index.size; slot !== NONE && left > 0; left--) {
      const next = this.#next[slot] as number;
      yield [this.#keys[slot] as K, this.#values[slot] as V];
      slot = next;
    }
  }

  /**
   * Same as {@linkcode BoundedMap.entries}.
   *
   * @returns An iterator of entries.
   */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  #allocate(): number {
    if (this.#free !== NONE) {
      const slot = this.#free;
      this.#free = this.#next[slot] as number;
      return slot;
    }
    const slot = this.#used++;
    if (slot >= this.#prev.length) {
      const length = Math.min(this.#capacity, Math.max(INITIAL_SLOTS, this.#prev.length * 2));
      const prev = new Int32Array(length);
      const next = new Int32Array(length);
      prev.set(this.#prev);
      next.set(this.#next);
      this.#prev = prev;
      this.#next = next;
    }
    return slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot] as number;
    const next = this.#next[slot] as number;
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tail = prev;
    else this.#prev[next] = prev;
  }

  #linkAtTail(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #moveToTail(slot: number): void {
    this.#unlink(slot);
    this.#linkAtTail(slot);
  }
}
