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
/** HMAC's inner digests. */
const INNER: Record<ScramHash, Uint8Array> = {
  "SHA-1": new Uint8Array(20),
  "SHA-256": new Uint8Array(32),
};
/** UTF-8 of string messages, grown as needed. */
let utf8 = new Uint8Array(1024);

/**
 * Writes into `out` the SHA-1 or SHA-256 of `head` (none, or exactly one
 * block) followed by the first `length` bytes of `data`: HMAC hashes a
 * padded key block before each message.
 */
function digestInto(
  hash: ScramHash,
  head: Uint8Array | undefined,
  data: Uint8Array,
  length: number,
  out: Uint8Array,
): Uint8Array {
  const sha1 = hash === "SHA-1";
  const compress = sha1 ? sha1Blocks : sha256Blocks;
  const init = sha1 ? SHA1_INIT : SHA256_INIT;
  const state = STATE;
  for (let i = 0; i < init.length; i++) state[i] = init[i]!;
  if (head !== undefined) compress(state, head, 0, BLOCK);
  const whole = length - (length % BLOCK);
  compress(state, data, 0, whole);
  // FIPS 180-4 §5.1.1: 0x80, zeros, then the length in bits as 64 bits big-endian.
  let used = 0;
  for (let i = whole; i < length; i++) TAIL[used++] = data[i]!;
  TAIL[used++] = 0x80;
  const end = used <= BLOCK - 8 ? BLOCK : BLOCK * 2;
  while (used < end - 8) TAIL[used++] = 0;
  const bits = (length + (head === undefined ? 0 : BLOCK)) * 8;
  writeWord(TAIL, end - 8, Math.floor(bits / 0x100000000));
  writeWord(TAIL, end - 4, bits >>> 0);
  compress(state, TAIL, 0, end);
  for (let i = 0; i < init.length; i++) writeWord(out, i * 4, state[i]!);
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

/**
 * The SHA-1 or SHA-256 digest of `data`.
 *
 * @param hash Which function.
 * @param data The message; a string is hashed as UTF-8.
 * @returns 20 or 32 bytes.
 *
 * @example Usage
 * ```ts
 * import { shaDigest } from "./_sha.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(shaDigest("SHA-1", "abc").toHex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
 * ```
 */
export function shaDigest(hash: ScramHash, data: Uint8Array | string): Uint8Array {
  const out = new Uint8Array(size(hash));
  if (typeof data !== "string") return digestInto(hash, undefined, data, data.length, out);
  const length = encodeText(data); // first: it may replace the buffer
  return digestInto(hash, undefined, utf8, length, out);
}

/**
 * HMAC (RFC 2104) with SHA-1 or SHA-256.
 *
 * @param hash Which function.
 * @param key The key; one longer than a block (64 bytes) is hashed first.
 * @param message The message; a string is taken as UTF-8.
 * @returns 20 or 32 bytes.
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
export function hmac(hash: ScramHash, key: Uint8Array, message: Uint8Array | string): Uint8Array {
  const k = key.length > BLOCK ? shaDigest(hash, key) : key;
  const pad = PAD.fill(0x36);
  for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ 0x36;
  const inner = INNER[hash];
  if (typeof message === "string") {
    const length = encodeText(message); // first: it may replace the buffer
    digestInto(hash, pad, utf8, length, inner);
  } else {
    digestInto(hash, pad, message, message.length, inner);
  }
  // (k ^ 0x36) ^ (0x36 ^ 0x5c) is k ^ 0x5c, zero bytes of the padded key included.
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= 0x36 ^ 0x5c;
  const mac = digestInto(hash, pad, inner, inner.length, new Uint8Array(size(hash)));
  pad.fill(0);
  inner.fill(0);
  return mac;
}
