/**
 * Unit parsing for configuration values: byte sizes (`"256KiB"`), durations
 * (`"30s"`) and byte rates (`"10KiB/s"`). Each is parsed once at start-up into
 * a plain number (bytes, milliseconds, bytes per second), so nothing at run
 * time handles unit strings.
 *
 * @module
 */

const BYTE_UNITS: Readonly<Record<string, bigint>> = {
  "": 1n,
  B: 1n,
  kB: 1000n,
  KB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  TB: 1000n ** 4n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  TiB: 1024n ** 4n,
};

const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ms: 1n,
  s: 1000n,
  m: 60_000n,
  h: 3_600_000n,
  d: 86_400_000n,
};

const AMOUNT_REGEXP = /^\s*([+-]?)(\d+)(?:\.(\d+))?\s*([A-Za-z]*)\s*$/;
const RATE_REGEXP = /^(.*)\/\s*s\s*$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function quote(input: string | number): string {
  return typeof input === "string" ? JSON.stringify(input) : String(input);
}

/**
 * Converts `<digits>[.<digits>]` times `multiplier` exactly (no floating point
 * rounding), or returns `undefined` when the product is not a whole number.
 */
function exactProduct(whole: string, fraction: string, multiplier: bigint): bigint | undefined {
  const scale = 10n ** BigInt(fraction.length);
  const numerator = BigInt(whole + fraction) * multiplier;
  return numerator % scale === 0n ? numerator / scale : undefined;
}

interface Quantity {
  readonly what: string;
  readonly wholeName: string;
  readonly units: Readonly<Record<string, bigint>>;
  readonly syntaxHint: string;
}

const BYTE_QUANTITY: Quantity = {
  what: "byte size",
  wholeName: "a whole number of bytes",
  units: BYTE_UNITS,
  syntaxHint:
    'a number with an optional unit (B, kB, KB, MB, GB, TB, KiB, MiB, GiB, TiB) like "256KiB"',
};

const DURATION_QUANTITY: Quantity = {
  what: "duration",
  wholeName: "a whole number of milliseconds",
  units: DURATION_UNITS,
  syntaxHint: 'a number with a unit (ms, s, m, h, d) like "30s"',
};

function parseQuantity(input: unknown, quantity: Quantity, shown: string | number): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) {
      throw new RangeError(
        `Cannot use ${quantity.what} ${quote(shown)}: must be a finite number that is not negative`,
      );
    }
    if (!Number.isSafeInteger(input)) {
      throw new RangeError(
        `Cannot use ${quantity.what} ${quote(shown)}: must be ${quantity.wholeName}`,
      );
    }
    return input === 0 ? 0 : input;
  }
  if (typeof input !== "string") {
    throw new TypeError(
      `Cannot parse ${quantity.what}: expected a string or a number, got ${typeof input}`,
    );
  }
  const match = AMOUNT_REGEXP.exec(input);
  const multiplier = match ? quantity.units[match[4] ?? ""] : undefined;
  if (!match || multiplier === undefined) {
    throw new SyntaxError(
      `Cannot parse ${quantity.what} ${quote(shown)}: expected ${quantity.syntaxHint}`,
    );
  }
  if (match[1] === "-" && /[1-9]/.test(match[2]! + (match[3] ?? ""))) {
    throw new RangeError(`Cannot use ${quantity.what} ${quote(shown)}: must not be negative`);
  }
  const value = exactProduct(match[2]!, match[3] ?? "", multiplier);
  if (value === undefined) {
    throw new RangeError(
      `Cannot use ${quantity.what} ${quote(shown)}: must be ${quantity.wholeName}`,
    );
  }
  if (value > MAX_SAFE) {
    throw new RangeError(
      `Cannot use ${quantity.what} ${quote(shown)}: exceeds ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  return Number(value);
}

/**
 * Parses a byte size. Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of
 * 1024, decimal units (`kB`/`KB`, `MB`, `GB`, `TB`) powers of 1000, `B` or no
 * unit means bytes. A space between number and unit is allowed; a decimal
 * fraction is allowed when the result is a whole number of bytes
 * (`"1.5KiB"` is 1536). Units are case-sensitive (`"kib"` is rejected) so
 * that bits and bytes are never confused.
 *
 * @param input A string like `"256KiB"`, `"8 KiB"`, `"1000"`, or a number of bytes.
 * @returns The size in bytes, a non-negative safe integer.
 * @throws {SyntaxError} When the text cannot be parsed (the text is quoted).
 * @throws {RangeError} When the size is negative, fractional or unsafe.
 * @throws {TypeError} When `input` is neither a string nor a number.
 *
 * @example Usage
 * ```ts
 * import { parseBytes } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseBytes("256KiB"), 262144);
 * assert.equal(parseBytes("8 KiB"), 8192);
 * assert.equal(parseBytes("1MB"), 1000000);
 * assert.equal(parseBytes("1000"), 1000);
 * assert.equal(parseBytes(1000), 1000);
 * assert.throws(() => parseBytes("fast"), SyntaxError);
 * ```
 */
export function parseBytes(input: string | number): number {
  return parseQuantity(input, BYTE_QUANTITY, input);
}

/**
 * Parses a duration. Units: `ms`, `s`, `m` (minutes), `h`, `d`; a number is
 * already milliseconds. A string needs a unit (`"30"` is rejected because
 * seconds and milliseconds are easily confused).
 *
 * @param input A string like `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`, or a number of milliseconds.
 * @returns The duration in milliseconds, a non-negative safe integer.
 * @throws {SyntaxError} When the text cannot be parsed (the text is quoted).
 * @throws {RangeError} When the duration is negative, not a whole number of milliseconds or unsafe.
 * @throws {TypeError} When `input` is neither a string nor a number.
 *
 * @example Usage
 * ```ts
 * import { parseDuration } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("500ms"), 500);
 * assert.equal(parseDuration("30s"), 30000);
 * assert.equal(parseDuration("5m"), 300000);
 * assert.equal(parseDuration(1500), 1500);
 * assert.throws(() => parseDuration("5 minutes"), SyntaxError);
 * ```
 */
export function parseDuration(input: string | number): number {
  return parseQuantity(input, DURATION_QUANTITY, input);
}

/**
 * Parses a byte rate written as a byte size per second (`"10KiB/s"`,
 * `"1 MB/s"`); a number is already bytes per second.
 *
 * @param input A string like `"10KiB/s"`, or a number of bytes per second.
 * @returns The rate in bytes per second, a non-negative safe integer.
 * @throws {SyntaxError} When the text cannot be parsed (the text is quoted).
 * @throws {RangeError} When the rate is negative, fractional or unsafe.
 * @throws {TypeError} When `input` is neither a string nor a number.
 *
 * @example Usage
 * ```ts
 * import { parseRate } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseRate("10KiB/s"), 10240);
 * assert.equal(parseRate(3000), 3000);
 * assert.throws(() => parseRate("10KiB"), SyntaxError);
 * ```
 */
export function parseRate(input: string | number): number {
  if (typeof input !== "string") {
    return parseQuantity(input, { ...BYTE_QUANTITY, what: "rate" }, input);
  }
  const match = RATE_REGEXP.exec(input);
  if (!match) {
    throw new SyntaxError(
      `Cannot parse rate ${quote(input)}: expected a byte size per second like "10KiB/s"`,
    );
  }
  try {
    return parseQuantity(match[1], { ...BYTE_QUANTITY, what: "rate" }, input);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new SyntaxError(
        `Cannot parse rate ${quote(input)}: expected a byte size per second like "10KiB/s"`,
        { cause: error },
      );
    }
    throw error;
  }
}

function formatWith(value: number, units: readonly (readonly [string, number])[]): string {
  for (const [unit, size] of units) {
    if (value >= size && value % size === 0) return `${value / size}${unit}`;
  }
  return "";
}

const BINARY_UNITS: readonly (readonly [string, number])[] = [
  ["TiB", 1024 ** 4],
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
];

const TIME_UNITS: readonly (readonly [string, number])[] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/**
 * Formats a byte count with the largest binary unit that divides it exactly,
 * the inverse of {@linkcode parseBytes} for logs and error messages.
 *
 * @param bytes A non-negative integer number of bytes.
 * @returns Text like `"256KiB"` or `"1000B"`.
 *
 * @example Usage
 * ```ts
 * import { formatBytes } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatBytes(262144), "256KiB");
 * assert.equal(formatBytes(1000), "1000B");
 * ```
 */
export function formatBytes(bytes: number): string {
  return formatWith(bytes, BINARY_UNITS) || `${bytes}B`;
}

/**
 * Formats milliseconds with the largest unit that divides them exactly, the
 * inverse of {@linkcode parseDuration}.
 *
 * @param ms A non-negative integer number of milliseconds.
 * @returns Text like `"5m"` or `"1500ms"`.
 *
 * @example Usage
 * ```ts
 * import { formatDuration } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatDuration(300000), "5m");
 * assert.equal(formatDuration(1500), "1500ms");
 * ```
 */
export function formatDuration(ms: number): string {
  return formatWith(ms, TIME_UNITS) || `${ms}ms`;
}

/**
 * Formats bytes per second as `<size>/s`, the inverse of {@linkcode parseRate}.
 *
 * @param bytesPerSecond A non-negative integer rate.
 * @returns Text like `"10KiB/s"`.
 *
 * @example Usage
 * ```ts
 * import { formatRate } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatRate(10240), "10KiB/s");
 * ```
 */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}
