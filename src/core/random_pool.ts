/**
 * Random bytes drawn from a buffer that `crypto.getRandomValues` refills
 * when it is used up.
 *
 * A login wants a few random bytes twice (the SCRAM nonce, the bound
 * resource); fetching them one call and one new typed array at a time costs
 * about 0.9 µs each in Deno, drawing them from a pool about 0.1 µs.
 *
 * @module
 */

/**
 * A pool of random bytes for values that are public once made (nonces,
 * identifiers), not for keys: the bytes wait in memory until drawn.
 *
 * @example Usage
 * ```ts
 * import { RandomPool } from "./random_pool.ts";
 * import assert from "node:assert/strict";
 *
 * const pool = new RandomPool(64);
 * const nonce = pool.take(18).toBase64(); // used at once: the view is overwritten later
 * assert.equal(nonce.length, 24);
 * ```
 */
export class RandomPool {
  #bytes: Uint8Array;
  #at: number;

  /**
   * @param size Bytes fetched per refill (at most 65,536, what one
   *   `getRandomValues` call may fill).
   * @throws {RangeError} If `size` is not an integer from 1 to 65,536.
   */
  constructor(size = 4096) {
    if (!Number.isInteger(size) || size < 1 || size > 65_536) {
      throw new RangeError(
        `Cannot create random pool: 'size' must be an integer from 1 to 65536, got ${size}`,
      );
    }
    this.#bytes = new Uint8Array(size);
    this.#at = size;
  }

  /**
   * The next `length` random bytes, as a view into the pool: use them before
   * the next call, which may refill the pool over them.
   *
   * @param length How many bytes.
   * @returns A view of `length` fresh random bytes.
   * @throws {RangeError} If `length` is not an integer from 0 to the pool's size.
   */
  take(length: number): Uint8Array {
    const bytes = this.#bytes;
    if (!Number.isInteger(length) || length < 0 || length > bytes.length) {
      throw new RangeError(
        `Cannot take random bytes: 'length' must be an integer from 0 to ${bytes.length}, got ${length}`,
      );
    }
    if (this.#at + length > bytes.length) {
      crypto.getRandomValues(bytes);
      this.#at = 0;
    }
    const start = this.#at;
    this.#at += length;
    return bytes.subarray(start, this.#at);
  }
}
