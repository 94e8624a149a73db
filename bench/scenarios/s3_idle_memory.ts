/**
 * S3 idle memory: authenticated, bound, available connections that then say
 * nothing, added in steps (default 5,000, 10,000, 15,000); after each step
 * settles, the server's resident memory is read and compared with its
 * memory before the first connection.
 *
 * This machine caps open files at 20,000 per process (it cannot be raised),
 * and both the server and the load generator hold one descriptor per
 * connection, so real-socket steps stop near 19,000 (steps above the limit
 * read from /proc/self/limits are skipped). On a host with a higher limit:
 * `ulimit -n 120000` in the shell, then
 * `deno task bench --full --scenario S3 --steps 10000,25000,50000` (the runner
 * creates the 50,000 accounts once; the server and the load generator inherit
 * the limit).
 *
 * Run: `deno run -A bench/scenarios/s3_idle_memory.ts --port 5222 --server-pid PID
 * [--steps 5000,10000,15000] [--settle 3]`
 *
 * @module
 */

import { round } from "../loadgen/metrics.ts";
import type { ServerProbe } from "../loadgen/process_stats.ts";
import { type BenchTarget, closeAll, openSessions } from "../loadgen/sessions.ts";
import type { XmppConnection } from "../loadgen/connection.ts";
import { scenarioMain, sleep } from "./_cli.ts";

/** Options for {@linkcode runS3}. */
export interface S3Options {
  /** Connection counts to measure at, ascending. @default {[5000, 10000, 15000]} */
  steps?: number[];
  /** Seconds to wait after each step before reading memory. @default {3} */
  settle?: number;
}

/** This process's open-files limit (soft), from /proc/self/limits; 20,000 on this kind of machine. */
function openFilesLimit(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = /Max open files\s+(\d+|unlimited)/.exec(limits);
    if (match) return match[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(match[1]);
  } catch {
    // not Linux
  }
  return 20_000;
}

/**
 * Runs S3.
 *
 * @param target The server and credentials.
 * @param probe Server memory.
 * @param options Steps.
 * @returns The JSON line.
 */
export async function runS3(
  target: BenchTarget,
  probe: ServerProbe,
  options: S3Options = {},
): Promise<Record<string, unknown>> {
  const steps = options.steps ?? [5000, 10_000, 15_000];
  const fdCap = openFilesLimit();
  const settle = options.settle ?? 3;
  await sleep(settle * 1000);
  const base = probe.rssBytes();
  const held: (XmppConnection | undefined)[] = [];
  const results: Record<string, unknown>[] = [];
  let failures = 0;
  const errors: string[] = [];
  for (const step of steps) {
    if (step > fdCap - 1000) {
      results.push({ connections: step, skipped: `over the open-files limit of ${fdCap}` });
      continue;
    }
    const more = step - held.length;
    const opened = await openSessions(target, more, {
      first: held.length + 1,
      addressOffset: held.length,
      concurrency: 100,
    });
    held.push(...opened.connections);
    failures += opened.failures;
    errors.push(...opened.errors.slice(0, 2));
    await sleep(settle * 1000);
    const rss = probe.rssBytes();
    const live = held.filter((c) => c !== undefined && !c.closed).length;
    results.push({
      connections: step,
      live,
      rss_mib: rss === undefined ? null : round(rss / 1048576, 1),
      kib_per_connection: rss === undefined || base === undefined
        ? null
        : round((rss - base) / 1024 / live, 1),
      server_fds: probe.openFds() ?? null,
    });
  }
  await closeAll(held, 10_000);
  const last = [...results].reverse().find((r) => typeof r.kib_per_connection === "number");
  return {
    scenario: "S3",
    base_rss_mib: base === undefined ? null : round(base / 1048576, 1),
    kib_per_connection: last?.kib_per_connection ?? null,
    at_connections: last?.connections ?? null,
    steps: results,
    login_failures: failures,
    fd_cap_note: `open files are capped at ${fdCap} per process here: real sockets stop near ` +
      `${fdCap - 1000} connections; raise \`ulimit -n\` for both processes to go further`,
    ...(errors.length > 0 ? { errors: errors.slice(0, 3) } : {}),
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S3",
    { settle: 3 },
    (cli) =>
      runS3(cli.target, cli.probe, {
        ...(cli.steps !== undefined ? { steps: cli.steps } : {}),
        settle: cli.numbers.settle!,
      }),
  );
}
