/**
 * Strict base64 (RFC 4648 §4, padded, no whitespace) decoded into an array
 * the caller owns, or into new bytes when it does not fit.
 *
 * In Deno every new typed array costs about half a microsecond (its backing
 * store is allocated outside the JavaScript heap), more than decoding a SASL
 * message; `Uint8Array.fromBase64` allocates one per call and takes about
 * 0.9 µs for 100 characters. Decoding into scratch space the caller keeps
 * spares both.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Each ASCII code's 6-bit value, -1 outside the alphabet. */
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d; // "="

function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? VALUES[code]! : -1;
}

/**
 * Decodes `text` from `start` to `end` into `out`. The text must be whole
 * quanta of four characters from the base64 alphabet, with one or two `=`
 * only at its end; anything else (whitespace included) is refused.
 *
 * @param text The base64 text.
 * @param out Where the bytes go; at least three per four characters, less the padding.
 * @param start Where the base64 begins in `text`.
 * @param end Where it ends (exclusive).
 * @returns How many bytes were written, or -1 if the text is not strict base64
 *   (`out` may then hold part of it).
 * @throws {RangeError} If `out` is too small for the decoded bytes.
 *
 * @example Usage
 * ```ts
 * import { decodeBase64Into } from "./base64.ts";
 * import assert from "node:assert/strict";
 *
 * const out = new Uint8Array(16);
 * const length = decodeBase64Into("p=dXNlcg==", out, 2);
 * assert.equal(new TextDecoder().decode(out.subarray(0, length)), "user");
 * assert.equal(decodeBase64Into("dXNlcg=", out), -1);
 * ```
 */
export function decodeBase64Into(
  text: string,
  out: Uint8Array,
  start = 0,
  end: number = text.length,
): number {
  const length = end - start;
  if (length % 4 !== 0) return -1;
  let padding = 0;
  if (length > 0 && text.charCodeAt(end - 1) === PAD) {
    padding = text.charCodeAt(end - 2) === PAD ? 2 : 1;
  }
  const bytes = (length / 4) * 3 - padding;
  if (bytes > out.length) {
    throw new RangeError(
      `Cannot decode base64: 'out' holds ${out.length} bytes, the text decodes to ${bytes}`,
    );
  }
  const whole = padding === 0 ? end : end - 4;
  let at = 0;
  for (let i = start; i < whole; i += 4) {
    const a = valueAt(text, i);
    const b = valueAt(text, i + 1);
    const c = valueAt(text, i + 2);
    const d = valueAt(text, i + 3);
    if ((a | b | c | d) < 0) return -1;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[at++] = n >>> 16;
    out[at++] = (n >>> 8) & 0xff;
    out[at++] = n & 0xff;
  }
  if (padding > 0) {
    const a = valueAt(text, whole);
    const b = valueAt(text, whole + 1);
    const c = padding === 1 ? valueAt(text, whole + 2) : 0;
    if ((a | b | c) < 0) return -1;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[at++] = n >>> 16;
    if (padding === 1) out[at++] = (n >>> 8) & 0xff;
  }
  return at;
}

/**
 * Decodes strict base64 (as {@linkcode decodeBase64Into}) between `start`
 * and `end` of `text` into `scratch` when it has room for three bytes per
 * four characters, else into new bytes.
 *
 * @param text The base64 text.
 * @param scratch Space the caller reuses; the result is then a view of it.
 * @param start Where the base64 begins in `text`.
 * @param end Where it ends (exclusive).
 * @returns The bytes (a view of `scratch`, or new), or `undefined` if the
 *   text is not strict base64.
 *
 * @example Usage
 * ```ts
 * import { decodeBase64 } from "./base64.ts";
 * import assert from "node:assert/strict";
 *
 * const scratch = new Uint8Array(8);
 * const bytes = decodeBase64("dXNlcg==", scratch);
 * assert.equal(bytes?.buffer, scratch.buffer);
 * assert.equal(new TextDecoder().decode(bytes), "user");
 * assert.equal(decodeBase64("not base64"), undefined);
 * ```
 */
export function decodeBase64(
  text: string,
  scratch?: Uint8Array,
  start = 0,
  end: number = text.length,
): Uint8Array | undefined {
  const size = Math.floor((end - start) / 4) * 3;
  const out = scratch !== undefined && size <= scratch.length ? scratch : new Uint8Array(size);
  const length = decodeBase64Into(text, out, start, end);
  return length < 0 ? undefined : out.subarray(0, length);
}
