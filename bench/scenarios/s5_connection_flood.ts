/**
 * S5 connection flood: one address opens `rate` TCP connections per second
 * for `seconds`, each sending a stream header and then nothing, while
 * legitimate clients log in from other addresses. A no-flood run of the same
 * logins comes first as the baseline. Reports legitimate success and p99
 * against the baseline, how the flood was shed (refused before any byte,
 * closed later, time to close), flood connections still open at the end, and
 * the server's descriptors.
 *
 * Run: `deno run -A bench/scenarios/s5_connection_flood.ts --port 5222 --server-pid PID
 * [--rate 500 --seconds 10 --logins 200 --in-flight 10]`
 *
 * @module
 */

import { connect as netConnect } from "node:net";
import { assertLoopback, streamHeader } from "../loadgen/connection.ts";
import { LatencyRecorder, round } from "../loadgen/metrics.ts";
import type { ServerProbe } from "../loadgen/process_stats.ts";
import { type BenchTarget, closeAll, openSessions, sourceAddress } from "../loadgen/sessions.ts";
import { scenarioMain, sleep } from "./_cli.ts";

/** Options for {@linkcode runS5}. */
export interface S5Options {
  /** Flood connection attempts per second. @default {500} */
  rate?: number;
  /** Flood duration, seconds. @default {10} */
  seconds?: number;
  /** Legitimate logins in each of the two runs. @default {200} */
  logins?: number;
  /** Legitimate logins in flight. @default {10} */
  inFlight?: number;
}

interface FloodStats {
  attempts: number;
  connectErrors: number;
  /** Closed by the server before it sent a byte. */
  refusedBeforeData: number;
  /** Closed by the server after it answered. */
  closedLater: number;
  timeToClose: LatencyRecorder;
  /** Connected and not yet closed by the server. */
  open: Set<{ destroy(): void }>;
  /** Every socket not yet closed, connected or not. */
  all: Set<{ destroy(): void }>;
  /** Set at the end: sockets that connect later are dropped at once. */
  stopped: boolean;
}

function startFlood(target: BenchTarget, rate: number, seconds: number): {
  stats: FloodStats;
  done: Promise<void>;
} {
  assertLoopback(target.host);
  const stats: FloodStats = {
    attempts: 0,
    connectErrors: 0,
    refusedBeforeData: 0,
    closedLater: 0,
    timeToClose: new LatencyRecorder(),
    open: new Set(),
    all: new Set(),
    stopped: false,
  };
  const header = streamHeader(target.domain);
  const localAddress = sourceAddress("flood", 0);
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (stats.attempts < due) {
        stats.attempts++;
        const started = performance.now();
        let gotData = false;
        let connected = false;
        const socket = netConnect({ host: target.host, port: target.port, localAddress });
        stats.all.add(socket);
        socket.on("connect", () => {
          if (stats.stopped) return socket.destroy();
          connected = true;
          stats.open.add(socket);
          socket.write(header);
        });
        socket.on("data", () => {
          gotData = true;
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          stats.all.delete(socket);
          if (!connected) {
            stats.connectErrors++;
            return;
          }
          if (!stats.open.delete(socket)) return; // closed by us at the end
          stats.timeToClose.add(performance.now() - started);
          if (gotData) stats.closedLater++;
          else stats.refusedBeforeData++;
        });
      }
      if (stats.attempts >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  return { stats, done };
}

/**
 * Runs S5.
 *
 * @param target The server and credentials.
 * @param probe Server descriptors.
 * @param options Sizes.
 * @returns The JSON line.
 */
export async function runS5(
  target: BenchTarget,
  probe: ServerProbe,
  options: S5Options = {},
): Promise<Record<string, unknown>> {
  const rate = options.rate ?? 500;
  const seconds = options.seconds ?? 10;
  const logins = options.logins ?? 200;
  const inFlight = options.inFlight ?? 10;
  const fds0 = probe.openFds();
  const baseline = await openSessions(target, logins, { concurrency: inFlight });
  await closeAll(baseline.connections);
  await sleep(1000);
  const { stats, done } = startFlood(target, rate, seconds);
  let peakFds = 0;
  const sampler = setInterval(() => {
    peakFds = Math.max(peakFds, probe.openFds() ?? 0);
  }, 250);
  // Legitimate logins start once the flood is under way and run during it.
  await sleep(Math.min(2000, (seconds * 1000) / 4));
  const during = await openSessions(target, logins, {
    first: logins + 1,
    addressOffset: logins,
    concurrency: inFlight,
  });
  await done;
  clearInterval(sampler);
  const fdsEnd = probe.openFds();
  const stillOpen = stats.open.size;
  stats.stopped = true;
  stats.open.clear();
  for (const socket of stats.all) socket.destroy();
  await closeAll(during.connections);
  const base = baseline.latency.summary();
  const flood = during.latency.summary();
  const closed = stats.timeToClose.summary();
  return {
    scenario: "S5",
    flood_rate_per_s: rate,
    flood_s: seconds,
    legit_logins: logins,
    baseline_ok: logins - baseline.failures,
    baseline_p99_ms: base.p99,
    during_ok: logins - during.failures,
    during_p99_ms: flood.p99,
    p99_vs_baseline: round((flood.p99 ?? NaN) / (base.p99 ?? NaN), 2),
    flood_attempts: stats.attempts,
    flood_connect_errors: stats.connectErrors,
    flood_refused_before_data: stats.refusedBeforeData,
    flood_closed_after_data: stats.closedLater,
    flood_close_p50_ms: closed.p50,
    flood_close_p99_ms: closed.p99,
    flood_open_at_end: stillOpen,
    server_fds_before: fds0 ?? null,
    server_fds_peak: peakFds || null,
    server_fds_end: fdsEnd ?? null,
    ...(during.errors.length > 0 ? { errors: during.errors.slice(0, 3) } : {}),
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S5",
    { rate: 500, seconds: 10, logins: 200, "in-flight": 10 },
    (cli) =>
      runS5(cli.target, cli.probe, {
        rate: cli.numbers.rate!,
        seconds: cli.numbers.seconds!,
        logins: cli.numbers.logins!,
        inFlight: cli.numbers["in-flight"]!,
      }),
  );
}
