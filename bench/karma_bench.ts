/**
 * Per-read cost of bandwidth karma and fair input scheduling (both run for
 * every chunk read from every connection). Prints one JSON line per
 * measurement: `nsPerOp`, the median of 5 rounds.
 *
 * - `karma.consume …`: one call per chunk read; with the real clock
 *   (`performance.now()` is part of the cost).
 * - `fair_input.push idle`: the common case, one connection with data, a
 *   chunk within the quantum: processed synchronously.
 * - `fair_input round-robin …`: per chunk through queues and rounds (a
 *   blocker queue keeps the scheduler busy so nothing takes the synchronous
 *   path), with rounds run synchronously so only the scheduler's own work is
 *   timed (`setImmediate` adds about 1 µs per round, not per chunk).
 *
 * Run: `deno run -A bench/karma_bench.ts [milliseconds per round]`
 *
 * @module
 */

import { createBench } from "./_measure.ts";
import { systemTimers } from "../src/core/clock.ts";
import { FairInput } from "../src/limits/fair_input.ts";
import { Karma, KarmaBucket } from "../src/limits/karma.ts";

const bench = createBench({ roundMs: Number(Deno.args[0] ?? 200), report: "time" });
const { measure, print } = bench;

measure("performance.now (baseline: one clock reading)", () => performance.now());

// --- karma -------------------------------------------------------------------

const within = new Karma(
  { rate: 1e12, burst: 1e12, per_account: false, penalty_rate: null, recovery: 0, mode: "enforce" },
  { timers: systemTimers },
);
measure("karma.consume within budget", () => within.consume(4096), { chunk: 4096 });

const penalised = new Karma(
  { rate: 1e12, burst: 1e12, per_account: false, penalty_rate: null, recovery: 0, mode: "enforce" },
  { timers: systemTimers, penalty: 0.5, recoveryMs: 60_000 },
);
measure("karma.consume within budget, penalty configured", () => penalised.consume(4096));

const unlimited = new Karma(
  { rate: null, burst: 1, per_account: false, penalty_rate: null, recovery: 0, mode: "enforce" },
  { timers: systemTimers },
);
measure("karma.consume unlimited", () => unlimited.consume(4096));

const account = new KarmaBucket({ rate: 1e12, burst: 1e12 }, { clock: systemTimers });
const shared = new Karma(
  { rate: 1e12, burst: 1e12, per_account: true, penalty_rate: null, recovery: 0, mode: "enforce" },
  { timers: systemTimers, shared: account },
);
measure("karma.consume shared account budget", () => shared.consume(4096));

let events = 0;
const reporting = new Karma(
  { rate: 1000, burst: 1000, per_account: false, penalty_rate: null, recovery: 0, mode: "report" },
  { timers: systemTimers, onThrottle: () => events++ },
);
measure("karma.consume over budget, report mode (event per call)", () => reporting.consume(4096));

// --- fair input ----------------------------------------------------------------

const CHUNK = new Uint8Array(1024);
let processed = 0;
function process(chunk: Uint8Array): void {
  processed += chunk.length;
}

const idle = new FairInput({ schedule: () => {} });
const idleQueue = idle.register(process);
measure("fair_input.push idle (synchronous)", () => {
  idleQueue.push(CHUNK);
  return 0;
}, { chunk: CHUNK.length });

/** Rounds run synchronously from a list, to time the scheduler itself. */
const tasks: (() => void)[] = [];
const busy = new FairInput({ schedule: (task) => tasks.push(task), maxQueuedQuanta: 1e6 });
const pause = { pause() {}, resume() {} };
const queues = Array.from({ length: 8 }, () => busy.register(process, pause));
// Leaves one byte queued, so the other queues are not idle and go through rounds.
const blocker = busy.register(process);
const BLOCK = new Uint8Array(busy.quantumBytes + 1);
measure("fair_input round-robin, 8 busy connections (per chunk)", (i) => {
  if ((i & 255) === 0) blocker.push(BLOCK);
  (queues[i & 7] as { push(chunk: Uint8Array): void }).push(CHUNK);
  if ((i & 255) === 255) { while (tasks.length > 0) (tasks.shift() as () => void)(); }
  return 0;
}, { chunk: CHUNK.length, quantum: busy.quantumBytes });

const big = new Uint8Array(64 * 1024);
measure("fair_input round-robin, 64 KiB reads sliced into 16 KiB quanta (per read)", (i) => {
  if ((i & 7) === 0) blocker.push(BLOCK);
  (queues[i & 7] as { push(chunk: Uint8Array): void }).push(big);
  if ((i & 7) === 7) { while (tasks.length > 0) (tasks.shift() as () => void)(); }
  return 0;
}, { chunk: big.length });

if (bench.sink === -1 || events === -1 || processed === -1) print({ sink: bench.sink });
