/**
 * Measurement helpers shared by the micro-benchmarks in `bench/`: timed rounds
 * with a median, memory growth per entry after full garbage collections, and
 * JSON-line output. Private to the benchmarks (underscore file).
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";

const encoder = new TextEncoder();

/** Options for {@linkcode createBench}. */
export interface BenchOptions {
  /** Length of one timed round (and of the warm-up), in milliseconds. */
  roundMs: number;
  /**
   * Timed rounds per measurement; the median round is reported.
   *
   * @default {5}
   */
  rounds?: number;
  /**
   * What a speed line reports: `"rate"` prints `opsPerSec` and `nsPerOp`,
   * `"time"` only `nsPerOp`.
   *
   * @default {"rate"}
   */
  report?: "rate" | "time";
  /**
   * Extra fields derived from the measured rate, printed after `nsPerOp` and
   * before the caller's notes (e.g. the share of one core a flood costs).
   */
  extraNotes?: (opsPerSec: number) => Record<string, unknown>;
}

/** The helpers one benchmark file uses, made by {@linkcode createBench}. */
export interface Bench {
  /** Prints `line` as one JSON line on stdout. */
  print(line: Record<string, unknown>): void;
  /**
   * Times `op(i)` for increasing `i` in rounds of about `roundMs` after one
   * warm-up round, and prints the median as one line with `notes` appended.
   */
  measure(bench: string, op: (i: number) => unknown, notes?: Record<string, unknown>): void;
  /**
   * Memory growth (JS heap plus external memory, after full garbage
   * collections) per entry while `build()` holds its result of `entries`
   * entries, rounded to 0.1 byte.
   */
  bytesPerEntry(build: () => unknown, entries: number): number;
  /** A stand-in for results, so the optimiser cannot drop the measured work. */
  readonly sink: number;
}

/** Full garbage collection, exposed at run time through `node:v8` on first use. */
let collect: (() => void) | undefined;

/** JS heap plus off-heap memory (typed-array backing stores live outside the heap). */
function memoryUsed(): number {
  if (collect === undefined) {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as () => void;
  }
  collect();
  collect();
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

/**
 * Makes the measurement helpers for one benchmark file.
 *
 * @param options Round length, round count, what a line reports, extra fields.
 * @returns The helpers, sharing one result sink.
 */
export function createBench(options: BenchOptions): Bench {
  const roundMs = options.roundMs;
  const rounds = options.rounds ?? 5;
  const report = options.report ?? "rate";
  const extraNotes = options.extraNotes;
  let sink = 0;

  function print(line: Record<string, unknown>): void {
    Deno.stdout.writeSync(encoder.encode(JSON.stringify(line) + "\n"));
  }

  function measure(
    bench: string,
    op: (i: number) => unknown,
    notes: Record<string, unknown> = {},
  ): void {
    let i = 0;
    const warmEnd = performance.now() + roundMs;
    while (performance.now() < warmEnd) {
      for (let k = 0; k < 1000; k++) if (op(i++)) sink++;
    }
    const rates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const start = performance.now();
      let done = 0;
      let now = start;
      while (now - start < roundMs) {
        for (let k = 0; k < 1000; k++) if (op(i++)) sink++;
        done += 1000;
        now = performance.now();
      }
      rates.push((done / (now - start)) * 1000);
    }
    rates.sort((a, b) => a - b);
    const medianRate = rates[Math.floor(rounds / 2)] as number;
    if (report === "time") {
      print({ bench, nsPerOp: Math.round((1e9 / medianRate) * 10) / 10, ...notes });
      return;
    }
    const opsPerSec = Math.round(medianRate);
    print({
      bench,
      opsPerSec,
      nsPerOp: Math.round((1e9 / opsPerSec) * 10) / 10,
      ...extraNotes?.(opsPerSec),
      ...notes,
    });
  }

  function bytesPerEntry(build: () => unknown, entries: number): number {
    const before = memoryUsed();
    const held = build();
    const after = memoryUsed();
    if (held === undefined) sink++;
    return Math.round(((after - before) / entries) * 10) / 10;
  }

  return {
    print,
    measure,
    bytesPerEntry,
    get sink() {
      return sink;
    },
  };
}
