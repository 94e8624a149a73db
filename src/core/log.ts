/**
 * Structured logging: one line per event as JSON or logfmt. Only this module
 * writes to the console.
 *
 * @module
 */

/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Line formats. */
export type LogFormat = "json" | "logfmt";

/** Field values a log line carries. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Receives finished log lines. */
export type LogSink = (line: string, level: LogLevel) => void;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LOGFMT_BARE_REGEXP = /^[A-Za-z0-9_.:/@+-]+$/;

/** Options of a {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lowest level written. @default {"info"} */
  level?: LogLevel;
  /** Line format. @default {"json"} */
  format?: LogFormat;
  /** Where lines go. @default stderr */
  sink?: LogSink;
  /** Wall-clock source for the `time` field. @default Date.now */
  wallClock?: () => number;
}

function stderrSink(line: string): void {
  // deno-lint-ignore no-console -- the logger is the one place that writes to the console
  console.error(line);
}

function formatLogfmt(fields: Record<string, string | number | boolean>): string {
  const parts: string[] = [];
  for (const key in fields) {
    const value = String(fields[key]);
    parts.push(key + "=" + (LOGFMT_BARE_REGEXP.test(value) ? value : JSON.stringify(value)));
  }
  return parts.join(" ");
}

/**
 * A structured logger. Callers pass an event name and fields; message bodies
 * and passwords never belong in fields.
 *
 * @example Usage
 * ```ts
 * import { Logger } from "./log.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const log = new Logger({ format: "logfmt", sink: (line) => lines.push(line), wallClock: () => 0 });
 * log.info("limit", { limit: "stanza_size", ip: "10.0.0.1" });
 * log.debug("ignored");
 * assert.deepEqual(lines, [
 *   "time=1970-01-01T00:00:00.000Z level=info event=limit limit=stanza_size ip=10.0.0.1",
 * ]);
 * ```
 */
export class Logger {
  #rank: number;
  #format: LogFormat;
  #sink: LogSink;
  #wallClock: () => number;

  /**
   * Creates a logger.
   *
   * @param options Level, format, sink and wall clock.
   * @throws {RangeError} If `level` or `format` is not one of the known names (an unknown
   * level would otherwise silence every line, an unknown format would quietly mean logfmt).
   */
  constructor(options: LoggerOptions = {}) {
    const level = options.level ?? "info";
    if (!Object.hasOwn(LEVEL_RANK, level)) {
      throw new RangeError(`Cannot create logger: unknown level '${level}'`);
    }
    const format = options.format ?? "json";
    if (format !== "json" && format !== "logfmt") {
      throw new RangeError(`Cannot create logger: unknown format '${format}'`);
    }
    this.#rank = LEVEL_RANK[level];
    this.#format = format;
    this.#sink = options.sink ?? stderrSink;
    this.#wallClock = options.wallClock ?? Date.now;
  }

  /** Whether lines at `level` are written. */
  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.#rank;
  }

  /** Writes one line at `level`. */
  log(level: LogLevel, event: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const line: Record<string, string | number | boolean> = {
      time: new Date(this.#wallClock()).toISOString(),
      level,
      event,
    };
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line[key] = value;
    }
    this.#sink(this.#format === "json" ? JSON.stringify(line) : formatLogfmt(line), level);
  }

  /** Writes a debug line. */
  debug(event: string, fields?: LogFields): void {
    this.log("debug", event, fields);
  }

  /** Writes an info line. */
  info(event: string, fields?: LogFields): void {
    this.log("info", event, fields);
  }

  /** Writes a warning line. */
  warn(event: string, fields?: LogFields): void {
    this.log("warn", event, fields);
  }

  /** Writes an error line. */
  error(event: string, fields?: LogFields): void {
    this.log("error", event, fields);
  }
}
