/**
 * Synchronous SHA-1 and SHA-256 (FIPS 180-4) and HMAC (RFC 2104) for the
 * SCRAM exchange, in plain TypeScript. Private to `src/auth/`.
 *
 * A login computes three HMACs and one hash over a few hundred bytes.
 * Through `node:crypto` each costs several native calls and `Buffer`
 * copies (about 30 µs per S1 login in the server profile); here the whole
 * work is a few compression rounds over typed arrays. The round functions
 * have no branch or table lookup that depends on the data, so their timing
 * does not depend on the keys. Comparing a proof stays with
 * `timingSafeEqual`.
 *
 * @module
 */

import type { ScramHash } from "../storage/account_store.ts";

/** Bytes per input block (both hashes). */
const BLOCK = 64;
const ENCODER = new TextEncoder();

const SHA1_INIT = Int32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0);

/** FIPS 180-4 §4.2.2 and §5.3.3: fractional parts of square and cube roots of primes. */
const SHA256_INIT = new Int32Array(8);
const SHA256_K = new Int32Array(64);
{
  const primes: number[] = [];
  for (let n = 2; primes.length < 64; n++) {
    if (primes.every((p) => n % p !== 0)) primes.push(n);
  }
  const fraction = (x: number) => ((x - Math.floor(x)) * 0x100000000) | 0;
  for (let i = 0; i < 8; i++) SHA256_INIT[i] = fraction(Math.sqrt(primes[i]!));
  for (let i = 0; i < 64; i++) SHA256_K[i] = fraction(Math.cbrt(primes[i]!));
}

/** Message schedule, shared: the functions here run to completion one at a time. */
const W = new Int32Array(80);

function sha1Blocks(state: Int32Array, data: Uint8Array, start: number, end: number): void {
  let h0 = state[0]!, h1 = state[1]!, h2 = state[2]!, h3 = state[3]!, h4 = state[4]!;
  for (let offset = start; offset < end; offset += BLOCK) {
    for (let t = 0; t < 16; t++) {
      const j = offset + t * 4;
      W[t] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
    }
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const temp = (((a << 5) | (a >>> 27)) + f + e + k + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  state[0] = h0;
  state[1] = h1;
  state[2] = h2;
  state[3] = h3;
  state[4] = h4;
}

function sha256Blocks(state: Int32Array, data: Uint8Array, start: number, end: number): void {
  let h0 = state[0]!, h1 = state[1]!, h2 = state[2]!, h3 = state[3]!;
  let h4 = state[4]!, h5 = state[5]!, h6 = state[6]!, h7 = state[7]!;
  for (let offset = start; offset < end; offset += BLOCK) {
    for (let t = 0; t < 16; t++) {
      const j = offset + t * 4;
      W[t] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = W[t - 15]!;
      const y = W[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + sum1 + ((e & f) ^ (~e & g)) + SHA256_K[t]! + W[t]!) | 0;
      const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (sum0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  state[0] = h0;
  state[1] = h1;
  state[2] = h2;
  state[3] = h3;
  state[4] = h4;
  state[5] = h5;
  state[6] = h6;
  state[7] = h7;
}

// Scratch space, shared: every function here runs to completion before the
// next call, and allocating small typed arrays costs more than the hashing.
// Each call wipes what it wrote.
/** The last one or two blocks of a message: its tail, then the padding. */
const TAIL = new Uint8Array(BLOCK * 2);
const STATE = new Int32Array(8);
/** HMAC's padded key block. */
const PAD = new Uint8Array(BLOCK);
/** The states after the padded key blocks of a key not prepared by `hmacKey`. */
const KEY_INNER = new Int32Array(8);
const KEY_OUTER = new Int32Array(8);
/** HMAC's inner digests. */
const INNER: Record<ScramHash, Uint8Array> = {
  "SHA-1": new Uint8Array(20),
  "SHA-256": new Uint8Array(32),
};
/** UTF-8 of string messages, grown as needed. */
let utf8 = new Uint8Array(1024);

/** `state` set to the hash's initial value; returns it. */
function initialState(hash: ScramHash, state: Int32Array): Int32Array {
  const init = hash === "SHA-1" ? SHA1_INIT : SHA256_INIT;
  for (let i = 0; i < init.length; i++) state[i] = init[i]!;
  return state;
}

/**
 * Finishes into `out` the hash whose `state` has taken `prefixBytes` bytes
 * (none, or HMAC's padded key block) with the first `length` bytes of `data`.
 */
function digestInto(
  hash: ScramHash,
  state: Int32Array,
  prefixBytes: number,
  data: Uint8Array,
  length: number,
  out: Uint8Array,
): Uint8Array {
  const compress = hash === "SHA-1" ? sha1Blocks : sha256Blocks;
  const whole = length - (length % BLOCK);
  compress(state, data, 0, whole);
  // FIPS 180-4 §5.1.1: 0x80, zeros, then the length in bits as 64 bits big-endian.
  let used = 0;
  for (let i = whole; i < length; i++) TAIL[used++] = data[i]!;
  TAIL[used++] = 0x80;
  const end = used <= BLOCK - 8 ? BLOCK : BLOCK * 2;
  while (used < end - 8) TAIL[used++] = 0;
  const bits = (length + prefixBytes) * 8;
  writeWord(TAIL, end - 8, Math.floor(bits / 0x100000000));
  writeWord(TAIL, end - 4, bits >>> 0);
  compress(state, TAIL, 0, end);
  const words = size(hash) / 4;
  for (let i = 0; i < words; i++) writeWord(out, i * 4, state[i]!);
  // Key material (a SCRAM ClientKey is hashed here) does not stay in the scratch space.
  TAIL.fill(0);
  W.fill(0);
  state.fill(0);
  return out;
}

function writeWord(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = word >>> 16;
  out[at + 2] = word >>> 8;
  out[at + 3] = word;
}

/** Digest size in bytes. */
function size(hash: ScramHash): number {
  return hash === "SHA-1" ? 20 : 32;
}

/** The UTF-8 of `message` in the shared scratch buffer; returns its length. */
function encodeText(message: string): number {
  if (message.length * 3 > utf8.length) utf8 = new Uint8Array(message.length * 3);
  return ENCODER.encodeInto(message, utf8).written;
}

/** `out`, or a new array of the digest's size; throws if `out` has another size. */
function output(hash: ScramHash, out: Uint8Array | undefined): Uint8Array {
  if (out === undefined) return new Uint8Array(size(hash));
  if (out.length !== size(hash)) {
    throw new RangeError(
      `Cannot write a ${hash} digest: 'out' must hold ${size(hash)} bytes, got ${out.length}`,
    );
  }
  return out;
}

/**
 * The SHA-1 or SHA-256 digest of `data`.
 *
 * @param hash Which function.
 * @param data The message; a string is hashed as UTF-8.
 * @param out Where to write the digest (20 or 32 bytes), sparing an
 *   allocation, which costs more than the hash of a short message.
 * @returns `out`, or 20 or 32 new bytes.
 * @throws {RangeError} If `out` does not have the digest's size.
 *
 * @example Usage
 * ```ts
 * import { shaDigest } from "./_sha.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(shaDigest("SHA-1", "abc").toHex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
 * ```
 */
export function shaDigest(
  hash: ScramHash,
  data: Uint8Array | string,
  out?: Uint8Array,
): Uint8Array {
  const digest = output(hash, out);
  const state = initialState(hash, STATE);
  if (typeof data !== "string") return digestInto(hash, state, 0, data, data.length, digest);
  const length = encodeText(data); // first: it may replace the buffer
  return digestInto(hash, state, 0, utf8, length, digest);
}

/**
 * An HMAC key whose padded blocks are already hashed: each HMAC with it
 * then costs two compressions less. For a key that signs many messages.
 */
export interface HmacKey {
  /** The hash function it is for. */
  readonly hash: ScramHash;
  /** The state after the inner padded key block. */
  readonly inner: Int32Array;
  /** The state after the outer padded key block. */
  readonly outer: Int32Array;
}

/**
 * Prepares a key for {@linkcode hmac}.
 *
 * @param hash Which function.
 * @param key The key; one longer than a block (64 bytes) is hashed first.
 * @returns The prepared key.
 *
 * @example Usage
 * ```ts
 * import { hmac, hmacKey } from "./_sha.ts";
 * import assert from "node:assert/strict";
 *
 * const raw = new TextEncoder().encode("key");
 * const prepared = hmacKey("SHA-1", raw);
 * assert.deepEqual(hmac("SHA-1", prepared, "message"), hmac("SHA-1", raw, "message"));
 * ```
 */
export function hmacKey(hash: ScramHash, key: Uint8Array): HmacKey {
  const inner = new Int32Array(8);
  const outer = new Int32Array(8);
  prepareKey(hash, key, inner, outer);
  return { hash, inner, outer };
}

/** Hashes `key`'s inner and outer padded blocks (RFC 2104) into `inner` and `outer`. */
function prepareKey(hash: ScramHash, key: Uint8Array, inner: Int32Array, outer: Int32Array): void {
  const compress = hash === "SHA-1" ? sha1Blocks : sha256Blocks;
  const k = key.length > BLOCK ? shaDigest(hash, key) : key;
  const pad = PAD.fill(0x36);
  for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ 0x36;
  compress(initialState(hash, inner), pad, 0, BLOCK);
  // (k ^ 0x36) ^ (0x36 ^ 0x5c) is k ^ 0x5c, zero bytes of the padded key included.
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= 0x36 ^ 0x5c;
  compress(initialState(hash, outer), pad, 0, BLOCK);
  pad.fill(0);
  W.fill(0);
}

/**
 * HMAC (RFC 2104) with SHA-1 or SHA-256.
 *
 * @param hash Which function.
 * @param key The key (one longer than a block, 64 bytes, is hashed first),
 *   or one prepared by {@linkcode hmacKey} for `hash`.
 * @param message The message; a string is taken as UTF-8.
 * @param out Where to write the MAC (20 or 32 bytes), sparing an allocation.
 * @returns `out`, or 20 or 32 new bytes.
 * @throws {RangeError} If `out` does not have the digest's size.
 * @throws {TypeError} If a prepared key is for another hash.
 *
 * @example Usage
 * ```ts
 * import { hmac } from "./_sha.ts";
 * import assert from "node:assert/strict";
 *
 * const key = new TextEncoder().encode("key");
 * const mac = hmac("SHA-256", key, "The quick brown fox jumps over the lazy dog");
 * assert.equal(mac.toHex(), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
 * ```
 */
export function hmac(
  hash: ScramHash,
  key: Uint8Array | HmacKey,
  message: Uint8Array | string,
  out?: Uint8Array,
): Uint8Array {
  const mac = output(hash, out);
  const raw = key instanceof Uint8Array;
  if (!raw && key.hash !== hash) {
    throw new TypeError(`Cannot compute HMAC-${hash}: the key is prepared for ${key.hash}`);
  }
  if (raw) prepareKey(hash, key, KEY_INNER, KEY_OUTER);
  const state = STATE;
  state.set(raw ? KEY_INNER : key.inner);
  const inner = INNER[hash];
  if (typeof message === "string") {
    const length = encodeText(message); // first: it may replace the buffer
    digestInto(hash, state, BLOCK, utf8, length, inner);
  } else {
    digestInto(hash, state, BLOCK, message, message.length, inner);
  }
  state.set(raw ? KEY_OUTER : key.outer);
  digestInto(hash, state, BLOCK, inner, inner.length, mac);
  inner.fill(0);
  if (raw) {
    KEY_INNER.fill(0);
    KEY_OUTER.fill(0);
  }
  return mac;
}
