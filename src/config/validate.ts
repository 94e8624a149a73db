/**
 * Validator combinators for configuration, in the style of ejabberd's `econf`:
 * small validators (`int`, `bytes`, `duration`, `enumOf`, `cidr` …) compose
 * into `object`, `listOf` and `mapOf` validators that check a whole tree at
 * start-up and return typed, unit-free values. The TypeScript output type of
 * any validator is `Infer<typeof validator>` (and the accepted input type
 * `InferInput<typeof validator>`), so there is no generated code.
 *
 * Every failure is a {@linkcode ConfigError} naming the key path and the
 * problem: `limits.bandwidth.rate: expected a rate like "10KiB/s", got "fast"`.
 *
 * @module
 */

import {
  formatBytes,
  formatDuration,
  formatRate,
  parseBytes,
  parseDuration,
  parseRate,
} from "./units.ts";

/** Options for {@linkcode ConfigError}. */
export interface ConfigErrorOptions extends ErrorOptions {
  /** 1-based line in the source text (YAML) where the problem is, when known. */
  line?: number;
  /** 1-based column in the source text (YAML) where the problem is, when known. */
  column?: number;
}

/**
 * A configuration value that cannot be used. Thrown at start-up, before
 * anything listens; the message starts with the key path.
 *
 * @example Usage
 * ```ts
 * import { ConfigError, int, object } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => object({ port: int({ max: 65535 }) }).check({ port: 70000 }, "listen"),
 *   (e: unknown) => e instanceof ConfigError && e.path === "listen.port",
 * );
 * ```
 */
export class ConfigError extends Error {
  /** Key path of the offending value, e.g. `limits.bandwidth.rate` or `listen[1].port`; `""` for the root. */
  readonly path: string;
  /** The problem without the path, e.g. `expected a rate like "10KiB/s", got "fast"`. */
  readonly problem: string;
  /** 1-based source line when the value came from YAML, else `undefined`. */
  readonly line: number | undefined;
  /** 1-based source column when the value came from YAML, else `undefined`. */
  readonly column: number | undefined;

  /**
   * Creates an error for the value at `path`.
   *
   * @param path The key path (`""` for the root).
   * @param problem What is wrong, starting in lower case (`expected …, got …`).
   * @param options The `cause`, and the source position when known.
   */
  constructor(path: string, problem: string, options?: ConfigErrorOptions) {
    const where = options?.line === undefined
      ? ""
      : ` (line ${options.line}${
        options.column === undefined ? "" : `, column ${options.column}`
      })`;
    super(`${path === "" ? "" : `${path}: `}${problem}${where}`, options);
    this.name = "ConfigError";
    this.path = path;
    this.problem = problem;
    this.line = options?.line;
    this.column = options?.column;
  }
}

/**
 * Checks one configuration value and converts it to its typed form.
 *
 * @typeParam T The validated output type.
 * @typeParam I The input type it accepts (type-level only).
 */
export interface Validator<T, I = T> {
  /** What is accepted, for messages: `a rate like "10KiB/s"`. */
  readonly expected: string;
  /** True when a missing value is acceptable (optional, or every part has a default). */
  readonly omittable: boolean;
  /**
   * Validates `value` found at `path`.
   *
   * @param value The raw value (`undefined` when the key is missing).
   * @param path The key path used in error messages.
   * @returns The validated value.
   * @throws {ConfigError} When the value cannot be used.
   */
  check(value: unknown, path: string): T;
  /** Type-level only: the accepted input type. Never present at run time. */
  readonly "~input"?: I;
}

/** A validator produced by {@linkcode optional}: a missing key stays missing. */
export interface OptionalValidator<T, I = T> extends Validator<T | undefined, I> {
  /** Marks the key as optional in the output type. */
  readonly optional: true;
  /** A missing value is always acceptable. */
  readonly omittable: true;
}

/** The output type of a validator. */
export type Infer<V> = V extends Validator<infer T, infer _I> ? T : never;

/** The input type a validator accepts. */
export type InferInput<V> = V extends Validator<infer _T, infer I> ? I : never;

/** The keys of an object validator mapped to their validators. */
export type Shape = { readonly [key: string]: Validator<unknown, unknown> };

/** Flattens an intersection of object types for readable hovers. */
export type Simplify<T> = { [K in keyof T]: T[K] } & NonNullable<unknown>;

type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends { readonly optional: true } ? K : never;
}[keyof S];

type OmittableKeys<S extends Shape, D> = {
  [K in keyof S]: K extends keyof D ? K : S[K] extends { readonly omittable: true } ? K : never;
}[keyof S];

/** The output type of `object(shape)`: optional keys are those wrapped in {@linkcode optional}. */
export type ObjectOutput<S extends Shape> = Simplify<
  & { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> }
  & { -readonly [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

/** The input type of `object(shape, { defaults })`: keys with a default or an omittable validator may be left out. */
export type ObjectInput<S extends Shape, D> = Simplify<
  & { [K in Exclude<keyof S, OmittableKeys<S, D>>]: InferInput<S[K]> }
  & { [K in OmittableKeys<S, D>]?: InferInput<S[K]> }
>;

/** Defaults for {@linkcode object}, written in input form (`"30s"`, `"256KiB"`). */
export type ObjectDefaults<S extends Shape> = { readonly [K in keyof S]?: InferInput<S[K]> };

/** A validator produced by {@linkcode object}. */
export interface ObjectValidator<S extends Shape, D = Record<never, never>>
  extends Validator<ObjectOutput<S>, ObjectInput<S, D>> {
  /** The validators of the keys. */
  readonly shape: S;
  /** A missing object is read as `{}` when every key may be left out. */
  readonly omittable: [Exclude<keyof S, OmittableKeys<S, D>>] extends [never] ? true : false;
}

/** Options for {@linkcode object}. */
export interface ObjectOptions<D> {
  /**
   * Values for missing keys, in input form; each is validated once when the
   * validator is created.
   *
   * @default {{}}
   */
  readonly defaults?: D;
}

/** Options for {@linkcode int}, {@linkcode bytes}, {@linkcode duration} and {@linkcode rate}. */
export interface RangeOptions {
  /**
   * Smallest accepted value (bytes, milliseconds or bytes per second for units).
   *
   * @default {undefined}
   */
  readonly min?: number;
  /**
   * Largest accepted value.
   *
   * @default {undefined}
   */
  readonly max?: number;
}

/** Options for {@linkcode str}. */
export interface StrOptions {
  /**
   * Smallest accepted length in UTF-16 code units.
   *
   * @default {0}
   */
  readonly minLength?: number;
  /**
   * Largest accepted length in UTF-16 code units.
   *
   * @default {undefined}
   */
  readonly maxLength?: number;
  /**
   * A pattern the whole string must match.
   *
   * @default {undefined}
   */
  readonly pattern?: RegExp;
  /**
   * What the string should look like, for messages (`a domain name like "example.org"`).
   *
   * @default {"a string"}
   */
  readonly expected?: string;
}

/** Options for {@linkcode listOf} and {@linkcode listOrSingle}. */
export interface ListOptions {
  /**
   * Fewest items.
   *
   * @default {0}
   */
  readonly min?: number;
  /**
   * Most items.
   *
   * @default {undefined}
   */
  readonly max?: number;
  /**
   * Rejects an item equal to an earlier one (compared after validation).
   *
   * @default {false}
   */
  readonly unique?: boolean;
}

/** Options for {@linkcode mapOf}. */
export interface MapOptions {
  /**
   * The pattern every key must match. The default (a letter, then letters,
   * digits, `_` or `-`) keeps integer-like keys out, which JavaScript objects
   * would reorder.
   *
   * @default {/^[A-Za-z][A-Za-z0-9_-]*$/}
   */
  readonly keyPattern?: RegExp;
  /**
   * What a key should look like, for messages.
   *
   * @default {'a name of letters, digits, "_" or "-" starting with a letter'}
   */
  readonly keyExpected?: string;
}

/** Options for {@linkcode taggedUnion}. */
export interface TaggedUnionOptions<K extends string> {
  /**
   * The variant used when the tag key is missing (and for a missing value).
   *
   * @default {undefined}
   */
  readonly defaultTag?: K;
}

const NAME_KEY_REGEXP = /^[A-Za-z][A-Za-z0-9_-]*$/;
const PATH_KEY_REGEXP = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Appends a key or list index to a key path: `childPath("limits", "bandwidth")`
 * is `limits.bandwidth`, `childPath("listen", 1)` is `listen[1]`, and keys that
 * are not plain names are quoted (`limits.classes["a b"]`).
 *
 * @param parent The parent path (`""` for the root).
 * @param key A mapping key or a list index.
 * @returns The child path.
 *
 * @example Usage
 * ```ts
 * import { childPath } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(childPath("", "limits"), "limits");
 * assert.equal(childPath("limits", "bandwidth"), "limits.bandwidth");
 * assert.equal(childPath("listen", 1), "listen[1]");
 * assert.equal(childPath("classes", "a b"), 'classes["a b"]');
 * ```
 */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  if (!PATH_KEY_REGEXP.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function quoteText(text: string): string {
  const shown = text.length > 64 ? `${text.slice(0, 61)}...` : text;
  return JSON.stringify(shown);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return quoteText(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (Array.isArray(value)) {
    return value.length === 0
      ? "an empty list"
      : `a list of ${value.length} item${value.length === 1 ? "" : "s"}`;
  }
  if (isPlainObject(value)) return "a mapping";
  if (typeof value === "object") return `an object of type ${value.constructor?.name ?? "unknown"}`;
  return `a ${typeof value}`;
}

/** What a mismatch error expected, so {@linkcode limitOrUnlimited} can add its alternative. */
const MISMATCH_EXPECTED = new WeakMap<ConfigError, string>();

function mismatch(path: string, expected: string, value: unknown, cause?: unknown): ConfigError {
  const error = new ConfigError(
    path,
    `expected ${expected}, got ${describe(value)}`,
    cause === undefined ? undefined : { cause },
  );
  MISMATCH_EXPECTED.set(error, expected);
  return error;
}

function missing(path: string, expected: string): ConfigError {
  return new ConfigError(path, `missing required key, expected ${expected}`);
}

function rangeText(options: RangeOptions, format: (n: number) => string): string {
  const { min, max } = options;
  if (min !== undefined && max !== undefined) return ` from ${format(min)} to ${format(max)}`;
  if (min !== undefined) return ` >= ${format(min)}`;
  if (max !== undefined) return ` <= ${format(max)}`;
  return "";
}

function inRange(value: number, options: RangeOptions): boolean {
  return (options.min === undefined || value >= options.min) &&
    (options.max === undefined || value <= options.max);
}

/** Edit distance counting insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      let best = Math.min(
        above[j]! + 1,
        row[j - 1]! + 1,
        above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

function suggest(key: string, candidates: readonly string[]): string | undefined {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  if (snake !== key && candidates.includes(snake)) return snake;
  let best: string | undefined;
  // Short keys get no typo hint: every one-letter key is one edit from another.
  let bestDistance = key.length < 3 ? 1 : Math.max(1, Math.floor(key.length / 4)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function quoteList(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

function makeValidator<T, I>(
  expected: string,
  omittable: boolean,
  check: (value: unknown, path: string) => T,
): Validator<T, I> {
  return { expected, omittable, check };
}

/**
 * Accepts a safe integer (a number, never a numeric string), optionally within `[min, max]`.
 *
 * @param options The accepted range.
 * @returns A validator of integers.
 *
 * @example Usage
 * ```ts
 * import { int } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const port = int({ min: 0, max: 65535 });
 * assert.equal(port.check(5222, "port"), 5222);
 * assert.throws(() => port.check(70000, "port"), {
 *   message: "port: expected an integer from 0 to 65535, got 70000",
 * });
 * ```
 */
export function int(options: RangeOptions = {}): Validator<number> {
  const expected = `an integer${rangeText(options, String)}`;
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (!Number.isSafeInteger(value) || !inRange(value as number, options)) {
      throw mismatch(path, expected, value);
    }
    return value as number;
  });
}

/**
 * Accepts `true` or `false` (YAML `yes`/`no` are strings and are rejected).
 *
 * @returns A validator of booleans.
 *
 * @example Usage
 * ```ts
 * import { bool } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(bool().check(false, "tls.required"), false);
 * assert.throws(() => bool().check("yes", "tls.required"), {
 *   message: 'tls.required: expected true or false, got "yes"',
 * });
 * ```
 */
export function bool(): Validator<boolean> {
  const expected = "true or false";
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (typeof value !== "boolean") throw mismatch(path, expected, value);
    return value;
  });
}

/**
 * Accepts a string, optionally with length bounds and a pattern.
 *
 * @param options Length bounds, pattern and the description used in messages.
 * @returns A validator of strings.
 *
 * @example Usage
 * ```ts
 * import { str } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(str({ minLength: 1 }).check("xmppd", "name"), "xmppd");
 * assert.throws(() => str({ minLength: 1 }).check("", "name"), {
 *   message: 'name: expected a non-empty string, got ""',
 * });
 * ```
 */
export function str(options: StrOptions = {}): Validator<string> {
  const { minLength = 0, maxLength, pattern } = options;
  const lengthText = rangeText({
    ...(minLength > 0 ? { min: minLength } : {}),
    ...(maxLength === undefined ? {} : { max: maxLength }),
  }, String);
  const expected = options.expected ??
    (minLength === 1 && maxLength === undefined
      ? "a non-empty string"
      : `a string${lengthText === "" ? "" : ` of length${lengthText}`}`);
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (
      typeof value !== "string" || value.length < minLength ||
      (maxLength !== undefined && value.length > maxLength) ||
      (pattern !== undefined && !pattern.test(value))
    ) {
      throw mismatch(path, expected, value);
    }
    return value;
  });
}

/**
 * Accepts one of a fixed set of strings (case-sensitive; a value that differs
 * only by case gets a "did you mean" hint).
 *
 * @typeParam T The accepted strings.
 * @param values The accepted strings.
 * @returns A validator whose output type is the union of `values`.
 *
 * @example Usage
 * ```ts
 * import { enumOf } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const level = enumOf(["debug", "info", "warn", "error"]);
 * assert.equal(level.check("warn", "log.level"), "warn");
 * assert.throws(() => level.check("verbose", "log.level"), {
 *   message: 'log.level: expected one of "debug", "info", "warn", "error", got "verbose"',
 * });
 * ```
 */
export function enumOf<const T extends readonly string[]>(values: T): Validator<T[number]> {
  const expected = values.length === 1 ? JSON.stringify(values[0]) : `one of ${quoteList(values)}`;
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (typeof value === "string" && values.includes(value)) return value as T[number];
    const error = mismatch(path, expected, value);
    if (typeof value === "string") {
      const close = values.find((v) => v.toLowerCase() === value.toLowerCase());
      if (close !== undefined) {
        throw new ConfigError(path, `${error.problem}, did you mean ${JSON.stringify(close)}?`);
      }
    }
    throw error;
  });
}

function unitValidator(
  noun: string,
  example: string,
  parse: (input: string | number) => number,
  format: (n: number) => string,
  options: RangeOptions,
): Validator<number, string | number> {
  const written = `${noun} like ${JSON.stringify(example)}`;
  const range = rangeText(options, format);
  const expected = `${written}${range}`;
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (typeof value !== "string" && typeof value !== "number") {
      throw mismatch(path, written, value);
    }
    let parsed: number;
    try {
      parsed = parse(value);
    } catch (error) {
      throw mismatch(path, written, value, error);
    }
    if (!inRange(parsed, options)) throw mismatch(path, `${noun}${range}`, value);
    return parsed;
  });
}

/**
 * Accepts a byte size (`"256KiB"`, `"8 KiB"`, `"1MB"`, `1000`) and returns bytes.
 * See {@linkcode parseBytes} for the units.
 *
 * @param options The accepted range in bytes.
 * @returns A validator of byte counts.
 *
 * @example Usage
 * ```ts
 * import { bytes } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(bytes().check("256KiB", "limits.stanza_size"), 262144);
 * assert.throws(() => bytes().check("big", "limits.stanza_size"), {
 *   message: 'limits.stanza_size: expected a size like "256KiB", got "big"',
 * });
 * ```
 */
export function bytes(options: RangeOptions = {}): Validator<number, string | number> {
  return unitValidator("a size", "256KiB", parseBytes, formatBytes, options);
}

/**
 * Accepts a duration (`"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`, or a number
 * of milliseconds) and returns milliseconds. See {@linkcode parseDuration}.
 *
 * @param options The accepted range in milliseconds.
 * @returns A validator of durations in milliseconds.
 *
 * @example Usage
 * ```ts
 * import { duration } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(duration().check("5m", "timeouts.idle"), 300000);
 * assert.throws(() => duration({ min: 1 }).check("0s", "timeouts.idle"), {
 *   message: 'timeouts.idle: expected a duration >= 1ms, got "0s"',
 * });
 * ```
 */
export function duration(options: RangeOptions = {}): Validator<number, string | number> {
  return unitValidator("a duration", "30s", parseDuration, formatDuration, options);
}

/**
 * Accepts a byte rate (`"10KiB/s"`, or a number of bytes per second) and
 * returns bytes per second. See {@linkcode parseRate}.
 *
 * @param options The accepted range in bytes per second.
 * @returns A validator of rates in bytes per second.
 *
 * @example Usage
 * ```ts
 * import { rate } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(rate().check("10KiB/s", "limits.bandwidth.rate"), 10240);
 * assert.throws(() => rate().check("fast", "limits.bandwidth.rate"), {
 *   message: 'limits.bandwidth.rate: expected a rate like "10KiB/s", got "fast"',
 * });
 * ```
 */
export function rate(options: RangeOptions = {}): Validator<number, string | number> {
  return unitValidator("a rate", "10KiB/s", parseRate, formatRate, options);
}

function checkList<T>(
  items: readonly unknown[],
  item: Validator<T, unknown>,
  path: string,
  expected: string,
  options: ListOptions,
): T[] {
  if (
    items.length < (options.min ?? 0) ||
    (options.max !== undefined && items.length > options.max)
  ) {
    throw mismatch(path, expected, items);
  }
  const out: T[] = [];
  const seen = options.unique ? new Map<string, number>() : undefined;
  for (let i = 0; i < items.length; i++) {
    const itemPath = childPath(path, i);
    const value = item.check(items[i], itemPath);
    if (seen) {
      const key = JSON.stringify(value);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new ConfigError(itemPath, `duplicates ${childPath(path, first)}`);
      }
      seen.set(key, i);
    }
    out.push(value);
  }
  return out;
}

function listText(options: ListOptions): string {
  const { min, max } = options;
  const noun = (n: number) => `${n} item${n === 1 ? "" : "s"}`;
  if (min !== undefined && min > 0 && max !== undefined) return `a list of ${min} to ${noun(max)}`;
  if (min !== undefined && min > 0) return `a list of at least ${noun(min)}`;
  if (max !== undefined) return `a list of at most ${noun(max)}`;
  return "a list";
}

/**
 * Accepts a list whose items all pass `item`; errors name the index
 * (`listen[1].port`).
 *
 * @typeParam V The item validator.
 * @param item The validator applied to every item.
 * @param options Length bounds and uniqueness.
 * @returns A validator of arrays.
 *
 * @example Usage
 * ```ts
 * import { int, listOf } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const ports = listOf(int({ min: 0, max: 65535 }), { unique: true });
 * assert.deepEqual(ports.check([5222, 5223], "ports"), [5222, 5223]);
 * assert.throws(() => ports.check([5222, -1], "ports"), {
 *   message: "ports[1]: expected an integer from 0 to 65535, got -1",
 * });
 * ```
 */
export function listOf<V extends Validator<unknown, unknown>>(
  item: V,
  options: ListOptions = {},
): Validator<Infer<V>[], readonly InferInput<V>[]> {
  const expected = listText(options);
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (!Array.isArray(value)) throw mismatch(path, expected, value);
    return checkList(value, item as Validator<Infer<V>, unknown>, path, expected, options);
  });
}

/**
 * Accepts a list of items or a single item, always returning a list (ejabberd's
 * `list_or_single`): `payload: urn:xmpp:ping` reads as `["urn:xmpp:ping"]`.
 *
 * @typeParam V The item validator.
 * @param item The validator applied to every item.
 * @param options Length bounds and uniqueness of the resulting list.
 * @returns A validator of arrays.
 *
 * @example Usage
 * ```ts
 * import { listOrSingle, str } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const types = listOrSingle(str({ minLength: 1 }));
 * assert.deepEqual(types.check("chat", "type"), ["chat"]);
 * assert.deepEqual(types.check(["chat", "normal"], "type"), ["chat", "normal"]);
 * ```
 */
export function listOrSingle<V extends Validator<unknown, unknown>>(
  item: V,
  options: ListOptions = {},
): Validator<Infer<V>[], InferInput<V> | readonly InferInput<V>[]> {
  const expected = `${item.expected} or ${listText(options)} of them`;
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    const typed = item as Validator<Infer<V>, unknown>;
    if (Array.isArray(value)) return checkList(value, typed, path, expected, options);
    return checkList([typed.check(value, path)], typed, path, expected, {});
  });
}

/**
 * Accepts a mapping with exactly the keys of `shape`. Unknown keys are rejected
 * with their path (and a "did you mean" hint for camelCase or a typo); a
 * missing key takes its default, or is left out when its validator is
 * {@linkcode optional}, or is validated as `undefined` when its validator is
 * omittable (a nested object whose keys all have defaults reads as `{}`).
 *
 * @typeParam S The validators of the keys.
 * @typeParam D The defaults (only their keys matter to the types).
 * @param shape The validator of each key.
 * @param options Defaults in input form, validated once here.
 * @returns A validator of objects typed by `shape`.
 * @throws {TypeError} When a default names an unknown key or does not pass its validator.
 *
 * @example Usage
 * ```ts
 * import { duration, object } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const timeouts = object(
 *   { negotiation: duration(), idle: duration() },
 *   { defaults: { negotiation: "30s", idle: "10m" } },
 * );
 * assert.deepEqual(timeouts.check({ idle: "1h" }, "timeouts"), { negotiation: 30000, idle: 3600000 });
 * assert.deepEqual(timeouts.check(undefined, "timeouts"), { negotiation: 30000, idle: 600000 });
 * assert.throws(() => timeouts.check({ idel: "1h" }, "timeouts"), {
 *   message: 'timeouts.idel: unknown key, did you mean "idle"?',
 * });
 * ```
 */
export function object<
  S extends Shape,
  D extends ObjectDefaults<S> = Record<never, never>,
>(shape: S, options: ObjectOptions<D> = {}): ObjectValidator<S, D> {
  const keys = Object.keys(shape);
  const defaults = new Map<string, unknown>();
  for (const [key, raw] of Object.entries(options.defaults ?? {})) {
    const validator = shape[key];
    if (validator === undefined) {
      throw new TypeError(`Cannot create object validator: default for unknown key "${key}"`);
    }
    try {
      defaults.set(key, validator.check(raw, key));
    } catch (error) {
      throw new TypeError(
        `Cannot create object validator: default for "${key}" is invalid: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  const omittable = keys.every((key) => defaults.has(key) || shape[key]!.omittable);
  const expected = "a mapping";
  function check(value: unknown, path: string): ObjectOutput<S> {
    if (value === undefined) {
      if (!omittable) throw missing(path, expected);
      value = {};
    }
    if (!isPlainObject(value)) throw mismatch(path, expected, value);
    for (const key of Object.keys(value)) {
      if (Object.hasOwn(shape, key)) continue;
      const hint = suggest(key, keys);
      throw new ConfigError(
        childPath(path, key),
        hint === undefined
          ? `unknown key, expected one of ${quoteList(keys)}`
          : `unknown key, did you mean ${JSON.stringify(hint)}?`,
      );
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const validator = shape[key]!;
      const keyPath = childPath(path, key);
      const raw = Object.hasOwn(value, key) ? value[key] : undefined;
      let result: unknown;
      if (raw !== undefined) result = validator.check(raw, keyPath);
      else if (defaults.has(key)) result = structuredClone(defaults.get(key));
      else if (validator.omittable) result = validator.check(undefined, keyPath);
      else throw missing(keyPath, validator.expected);
      if (result !== undefined) out[key] = result;
    }
    return out as ObjectOutput<S>;
  }
  return { expected, omittable, check, shape } as ObjectValidator<S, D>;
}

/**
 * Accepts a mapping from names to values that all pass `value`, keeping the
 * written order (names must not look like integers, which JavaScript objects
 * would move to the front).
 *
 * @typeParam V The value validator.
 * @param value The validator applied to every entry.
 * @param options The key pattern.
 * @returns A validator of records.
 *
 * @example Usage
 * ```ts
 * import { int, mapOf } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const weights = mapOf(int());
 * assert.deepEqual(Object.keys(weights.check({ b: 1, a: 2 }, "w")), ["b", "a"]);
 * assert.throws(() => weights.check({ "1": 1 }, "w"), {
 *   message: 'w["1"]: invalid name, expected a name of letters, digits, "_" or "-" starting with a letter',
 * });
 * ```
 */
export function mapOf<V extends Validator<unknown, unknown>>(
  value: V,
  options: MapOptions = {},
): Validator<Record<string, Infer<V>>, Readonly<Record<string, InferInput<V>>>> {
  const keyPattern = options.keyPattern ?? NAME_KEY_REGEXP;
  const keyExpected = options.keyExpected ??
    'a name of letters, digits, "_" or "-" starting with a letter';
  const expected = "a mapping";
  return makeValidator(expected, false, (input, path) => {
    if (input === undefined) throw missing(path, expected);
    if (!isPlainObject(input)) throw mismatch(path, expected, input);
    const entries: [string, Infer<V>][] = [];
    for (const key of Object.keys(input)) {
      const keyPath = childPath(path, key);
      if (!keyPattern.test(key)) {
        throw new ConfigError(keyPath, `invalid name, expected ${keyExpected}`);
      }
      entries.push([key, (value as Validator<Infer<V>, unknown>).check(input[key], keyPath)]);
    }
    return Object.fromEntries(entries);
  });
}

/**
 * Makes a key optional: a missing value stays missing (the key is absent from
 * the output object).
 *
 * @typeParam V The wrapped validator.
 * @param validator The validator used when a value is present.
 * @returns An optional validator.
 *
 * @example Usage
 * ```ts
 * import { object, optional, str } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const tls = object({ cert: optional(str()) });
 * assert.deepEqual(tls.check({}, "tls"), {});
 * assert.deepEqual(tls.check({ cert: "a.pem" }, "tls"), { cert: "a.pem" });
 * ```
 */
export function optional<V extends Validator<unknown, unknown>>(
  validator: V,
): OptionalValidator<Infer<V>, InferInput<V>> {
  return {
    expected: validator.expected,
    omittable: true,
    optional: true,
    check(value: unknown, path: string): Infer<V> | undefined {
      return value === undefined ? undefined : validator.check(value, path) as Infer<V>;
    },
  };
}

/**
 * Accepts a value that passes any of `alternatives`, tried in order. When all
 * fail, the error of an alternative that failed deeper inside the value is
 * reported (it matched the shape and is the likely intent), otherwise one
 * message lists every alternative.
 *
 * @typeParam V The alternative validators.
 * @param alternatives The validators to try.
 * @returns A validator of the union of their outputs.
 *
 * @example Usage
 * ```ts
 * import { bool, int, oneOf } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const v = oneOf(int(), bool());
 * assert.equal(v.check(3, "x"), 3);
 * assert.equal(v.check(true, "x"), true);
 * assert.throws(() => v.check("3", "x"), {
 *   message: 'x: expected an integer or true or false, got "3"',
 * });
 * ```
 */
export function oneOf<const V extends readonly Validator<unknown, unknown>[]>(
  ...alternatives: V
): Validator<Infer<V[number]>, InferInput<V[number]>> {
  const expected = alternatives.map((v) => v.expected).join(" or ");
  const omittable = alternatives.some((v) => v.omittable);
  return makeValidator(expected, omittable, (value, path) => {
    let deepest: ConfigError | undefined;
    for (const alternative of alternatives) {
      if (value === undefined && !alternative.omittable) continue;
      try {
        return alternative.check(value, path) as Infer<V[number]>;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        if (
          error.path.length > path.length && (!deepest || error.path.length > deepest.path.length)
        ) {
          deepest = error;
        }
      }
    }
    if (deepest) throw deepest;
    if (value === undefined) throw missing(path, expected);
    throw mismatch(path, expected, value);
  });
}

/**
 * Accepts a mapping whose `tagKey` picks the variant that validates it
 * (`storage: { type: sqlite, path: … }`), with precise errors for the chosen
 * variant. Each variant's shape includes the tag key itself (`enumOf(["sqlite"])`).
 *
 * @typeParam M The variant validators by tag.
 * @param tagKey The key that names the variant.
 * @param variants The validator of each variant.
 * @param options The variant used when the tag (or the whole value) is missing.
 * @returns A validator of the union of the variants.
 *
 * @example Usage
 * ```ts
 * import { enumOf, object, str, taggedUnion } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const storage = taggedUnion("type", {
 *   memory: object({ type: enumOf(["memory"]) }),
 *   sqlite: object({ type: enumOf(["sqlite"]), path: str() }, { defaults: { type: "sqlite", path: "x.db" } }),
 * }, { defaultTag: "sqlite" });
 * assert.deepEqual(storage.check({ type: "memory" }, "storage"), { type: "memory" });
 * assert.deepEqual(storage.check(undefined, "storage"), { type: "sqlite", path: "x.db" });
 * assert.throws(() => storage.check({ type: "pg" }, "storage"), {
 *   message: 'storage.type: expected one of "memory", "sqlite", got "pg"',
 * });
 * ```
 */
export function taggedUnion<const M extends Readonly<Record<string, Validator<unknown, unknown>>>>(
  tagKey: string,
  variants: M,
  options: TaggedUnionOptions<keyof M & string> = {},
): Validator<Infer<M[keyof M]>, InferInput<M[keyof M]>> {
  const tags = Object.keys(variants);
  const tagExpected = `one of ${quoteList(tags)}`;
  const { defaultTag } = options;
  const expected = "a mapping";
  return makeValidator(expected, defaultTag !== undefined, (value, path) => {
    if (value === undefined) {
      if (defaultTag === undefined) throw missing(path, expected);
      value = {};
    }
    if (!isPlainObject(value)) throw mismatch(path, expected, value);
    const tagPath = childPath(path, tagKey);
    const tag = Object.hasOwn(value, tagKey) ? value[tagKey] : defaultTag;
    if (tag === undefined) throw missing(tagPath, tagExpected);
    if (typeof tag !== "string" || !Object.hasOwn(variants, tag)) {
      throw mismatch(tagPath, tagExpected, tag);
    }
    return variants[tag]!.check(value, path) as Infer<M[keyof M]>;
  });
}

/**
 * Accepts the string `"unlimited"` (or `null`) as "no limit" and returns
 * `null` for it; anything else goes to `validator`.
 *
 * @typeParam V The validator of a finite limit.
 * @param validator The validator of a finite limit.
 * @returns A validator whose output is the limit or `null`.
 *
 * @example Usage
 * ```ts
 * import { bytes, limitOrUnlimited } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const size = limitOrUnlimited(bytes());
 * assert.equal(size.check("unlimited", "limits.stanza_size"), null);
 * assert.equal(size.check("8KiB", "limits.stanza_size"), 8192);
 * ```
 */
export function limitOrUnlimited<V extends Validator<unknown, unknown>>(
  validator: V,
): Validator<Infer<V> | null, InferInput<V> | "unlimited" | null> & {
  readonly omittable: V["omittable"];
} {
  const expected = `${validator.expected} or "unlimited"`;
  return makeValidator(expected, validator.omittable, (value, path) => {
    if (value === "unlimited" || value === null) return null;
    if (value === undefined && !validator.omittable) throw missing(path, expected);
    try {
      return validator.check(value, path) as Infer<V>;
    } catch (error) {
      const inner = error instanceof ConfigError && error.path === path
        ? MISMATCH_EXPECTED.get(error)
        : undefined;
      if (inner !== undefined) throw mismatch(path, `${inner} or "unlimited"`, value, error);
      throw error;
    }
  }) as Validator<Infer<V> | null, InferInput<V> | "unlimited" | null> & {
    readonly omittable: V["omittable"];
  };
}

/**
 * Adds a check to a validator: `test` returns a problem (reported at the same
 * path) or `undefined`; it may also throw a {@linkcode ConfigError} for a
 * nested path (cross-field checks).
 *
 * @typeParam V The refined validator.
 * @param validator The validator to run first.
 * @param test The extra check on the validated value.
 * @returns A validator with the same types and the extra check.
 *
 * @example Usage
 * ```ts
 * import { int, refine } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const even = refine(int(), (n) => n % 2 === 0 ? undefined : `expected an even integer, got ${n}`);
 * assert.equal(even.check(4, "n"), 4);
 * assert.throws(() => even.check(3, "n"), { message: "n: expected an even integer, got 3" });
 * ```
 */
export function refine<V extends Validator<unknown, unknown>>(
  validator: V,
  test: (value: Infer<V>, path: string) => string | undefined,
): V {
  return {
    ...validator,
    check(value: unknown, path: string): unknown {
      const result = validator.check(value, path) as Infer<V>;
      const problem = test(result, path);
      if (problem !== undefined) throw new ConfigError(path, problem);
      return result;
    },
  };
}

/**
 * Converts the validated value (normalisation, filling derived fields).
 *
 * @typeParam V The inner validator.
 * @typeParam U The converted type.
 * @param validator The validator to run first.
 * @param convert The conversion; it may throw {@linkcode ConfigError}.
 * @returns A validator of the converted type with the same input type.
 *
 * @example Usage
 * ```ts
 * import { str, transform } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const lower = transform(str(), (s) => s.toLowerCase());
 * assert.equal(lower.check("Example.ORG", "domain"), "example.org");
 * ```
 */
export function transform<V extends Validator<unknown, unknown>, U>(
  validator: V,
  convert: (value: Infer<V>, path: string) => U,
): Validator<U, InferInput<V>> & { readonly omittable: V["omittable"] } {
  return makeValidator(validator.expected, validator.omittable, (value, path) => {
    return convert(validator.check(value, path) as Infer<V>, path);
  }) as Validator<U, InferInput<V>> & { readonly omittable: V["omittable"] };
}

// --- IP addresses -----------------------------------------------------------

const IPV4_PART_REGEXP = /^(0|[1-9]\d{0,2})$/;
const HEX_GROUP_REGEXP = /^[0-9A-Fa-f]{1,4}$/;

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!IPV4_PART_REGEXP.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parses an IPv6 address into 16 bytes. */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups: number[][] = [];
  for (const half of halves) {
    const words: number[] = [];
    if (half !== "") {
      const pieces = half.split(":");
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i]!;
        if (i === pieces.length - 1 && half === halves[halves.length - 1] && piece.includes(".")) {
          const v4 = parseIpv4(piece);
          if (!v4) return undefined;
          words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        } else if (HEX_GROUP_REGEXP.test(piece)) {
          words.push(parseInt(piece, 16));
        } else {
          return undefined;
        }
      }
    }
    groups.push(words);
  }
  const head = groups[0]!;
  const tail = groups[1] ?? [];
  const explicit = head.length + tail.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  const words = [...head, ...new Array(8 - explicit).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function formatIpv6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join(".")}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

interface ParsedIp {
  readonly bytes: number[];
  readonly v6: boolean;
}

function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { bytes: v4, v6: false };
  const v6 = text.includes(":") ? parseIpv6(text) : undefined;
  return v6 ? { bytes: v6, v6: true } : undefined;
}

function formatIp(ip: ParsedIp): string {
  return ip.v6 ? formatIpv6(ip.bytes) : ip.bytes.join(".");
}

/**
 * Returns the canonical text of an IP address (RFC 5952 for IPv6), or
 * `undefined` when `text` is not an IP address.
 *
 * @param text An IPv4 or IPv6 address without prefix or zone.
 * @returns The canonical form, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import { canonicalIp } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
 * assert.equal(canonicalIp("127.0.0.1"), "127.0.0.1");
 * assert.equal(canonicalIp("localhost"), undefined);
 * ```
 */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/**
 * Accepts an IPv4 or IPv6 network in CIDR notation (`"10.0.0.0/8"`,
 * `"2001:db8::/32"`) or a single address (read as `/32` or `/128`) and
 * returns its canonical text. Bits set after the prefix are rejected with a
 * suggestion, because `10.0.0.1/8` usually hides a typo.
 *
 * @returns A validator of canonical CIDR strings.
 *
 * @example Usage
 * ```ts
 * import { cidr } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(cidr().check("10.0.0.0/8", "ips[0]"), "10.0.0.0/8");
 * assert.equal(cidr().check("::1", "ips[0]"), "::1/128");
 * assert.throws(() => cidr().check("10.0.0.1/8", "ips[0]"), {
 *   message: 'ips[0]: host bits set after the /8 prefix in "10.0.0.1/8", did you mean "10.0.0.0/8"?',
 * });
 * ```
 */
export function cidr(): Validator<string> {
  const expected = 'an IP address or CIDR like "10.0.0.0/8" or "2001:db8::/32"';
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (typeof value !== "string") throw mismatch(path, expected, value);
    const slash = value.indexOf("/");
    const ip = parseIp(slash < 0 ? value : value.slice(0, slash));
    if (!ip) throw mismatch(path, expected, value);
    const bits = ip.v6 ? 128 : 32;
    let prefix = bits;
    if (slash >= 0) {
      const text = value.slice(slash + 1);
      prefix = /^(0|[1-9]\d{0,2})$/.test(text) ? Number(text) : NaN;
      if (!(prefix <= bits)) throw mismatch(path, expected, value);
    }
    const masked = ip.bytes.map((b, i) => {
      const keep = Math.max(0, Math.min(8, prefix - i * 8));
      return b & (0xff << (8 - keep)) & 0xff;
    });
    if (masked.some((b, i) => b !== ip.bytes[i])) {
      const suggestion = `${formatIp({ bytes: masked, v6: ip.v6 })}/${prefix}`;
      throw new ConfigError(
        path,
        `host bits set after the /${prefix} prefix in ${JSON.stringify(value)}, did you mean ${
          JSON.stringify(suggestion)
        }?`,
      );
    }
    return `${formatIp(ip)}/${prefix}`;
  });
}

const HOSTNAME_REGEXP =
  /^(?=.{1,253}$)[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)*$/u;

/**
 * Returns true when `text` is a host name (letters, digits and `-` in dot
 * separated labels of up to 63 characters, 253 in total) or an IP address.
 *
 * @param text The candidate host.
 * @returns Whether it can name a host.
 *
 * @example Usage
 * ```ts
 * import { isHost } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isHost("xmpp.example.org"));
 * assert.ok(isHost("::1"));
 * assert.ok(!isHost("exa mple.org"));
 * ```
 */
export function isHost(text: string): boolean {
  return HOSTNAME_REGEXP.test(text) || parseIp(text) !== undefined;
}

/** A host and port pair, the output of {@linkcode hostPort}. */
export interface HostPort {
  /** Host name or IP address (IPv6 without brackets, canonical). */
  host: string;
  /** Port number, 0 to 65535. */
  port: number;
}

/**
 * Accepts `"host:port"` (IPv6 in brackets: `"[::1]:5222"`) and returns
 * `{ host, port }`.
 *
 * @returns A validator of host and port pairs.
 *
 * @example Usage
 * ```ts
 * import { hostPort } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(hostPort().check("[::1]:5222", "to"), { host: "::1", port: 5222 });
 * assert.deepEqual(hostPort().check("example.org:5269", "to"), { host: "example.org", port: 5269 });
 * ```
 */
export function hostPort(): Validator<HostPort, string> {
  const expected = 'a "host:port" pair like "127.0.0.1:5222" or "[::1]:5222"';
  return makeValidator(expected, false, (value, path) => {
    if (value === undefined) throw missing(path, expected);
    if (typeof value !== "string") throw mismatch(path, expected, value);
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(0|[1-9]\d{0,4})$/.exec(value);
    const port = match ? Number(match[3]) : NaN;
    if (!match || !(port <= 65535)) throw mismatch(path, expected, value);
    const bracketed = match[1];
    if (bracketed !== undefined) {
      const ip = parseIp(bracketed);
      if (!ip?.v6) throw mismatch(path, expected, value);
      return { host: formatIp(ip), port };
    }
    const host = match[2]!;
    if (!isHost(host)) throw mismatch(path, expected, value);
    return { host, port };
  });
}
