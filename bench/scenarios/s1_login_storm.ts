/**
 * S1 login storm: `clients` accounts log in (connect, SASL, restart, bind,
 * presence) with `inFlight` logins at a time, each from its own loopback
 * address; they stay connected until the storm is over. Reports logins per
 * second, login latency and server CPU per login.
 *
 * With SCRAM the client's PBKDF2 result is cached (RFC 5802 §5.1): a
 * discovery pass before timing asks the server for each account's salt, so
 * the timed storm measures the server (HMACs per login) and not the load
 * generator's key derivation. With PLAIN the server runs PBKDF2 per login
 * against its hashed storage.
 *
 * Before timing, the same storm runs `warmupRounds` times (every account
 * logging in and out again), from other addresses: the timed storm measures a
 * server that has run for a while (its code compiled, its caches warm), as S2
 * does with its warm-up, not one that started a second ago. One round was not
 * enough for this server: V8 kept optimising the login path for about 10,000
 * logins (0.19 ms of CPU per login after one warm-up storm, 0.16-0.17 after
 * five); ejabberd's storms got faster too (2,480 to 2,680 logins/s).
 *
 * Run: `deno run -A bench/scenarios/s1_login_storm.ts --port 5222 --server-pid PID
 * [--clients 2000 --in-flight 100 --warmup-rounds 5] [--mechanism SCRAM-SHA-1|PLAIN]`
 *
 * @module
 */

import { XmppConnection } from "../loadgen/connection.ts";
import { warmScramCache } from "../loadgen/login.ts";
import { round } from "../loadgen/metrics.ts";
import { cpuMs, type ServerProbe } from "../loadgen/process_stats.ts";
import {
  type BenchTarget,
  closeAll,
  openSessions,
  runPool,
  sourceAddress,
} from "../loadgen/sessions.ts";
import { scenarioMain, sleep } from "./_cli.ts";

/** Options for {@linkcode runS1}. */
export interface S1Options {
  /** Accounts that log in. @default {2000} */
  clients?: number;
  /** Logins in flight. @default {100} */
  inFlight?: number;
  /** Untimed storms before the timed one, each logging every account in and out. @default {5} */
  warmupRounds?: number;
}

/**
 * Runs S1.
 *
 * @param target The server and credentials (`target.mechanism` is used).
 * @param probe Server CPU.
 * @param options Sizes.
 * @returns The JSON line.
 */
export async function runS1(
  target: BenchTarget,
  probe: ServerProbe,
  options: S1Options = {},
): Promise<Record<string, unknown>> {
  const clients = options.clients ?? 2000;
  const inFlight = options.inFlight ?? 100;
  const warmupRounds = options.warmupRounds ?? 5;
  let warmFailures = 0;
  if (target.mechanism !== "PLAIN") {
    // Discovery pass (untimed), from addresses the timed storm does not use.
    await runPool(clients, 50, async (i) => {
      try {
        const conn = await XmppConnection.connect(target, {
          localAddress: sourceAddress("legit", 30_000 + i),
        });
        await warmScramCache(conn, {
          username: target.prefix + (i + 1),
          password: target.password,
          mechanism: target.mechanism,
          cache: target.cache,
        });
      } catch {
        warmFailures++;
      }
    });
  }
  // Warm-up (untimed): the same storm, from the discovery pass's addresses, closed again.
  for (let round = 0; round < warmupRounds; round++) {
    const warm = await openSessions(target, clients, {
      concurrency: inFlight,
      addressOffset: 30_000,
    });
    warmFailures += warm.failures;
    await closeAll(warm.connections);
  }
  await sleep(1000);
  const cpu0 = probe.cpuMs();
  const own0 = cpuMs([Deno.pid]);
  const opened = await openSessions(target, clients, { concurrency: inFlight });
  const cpu1 = probe.cpuMs();
  const own1 = cpuMs([Deno.pid]);
  const ok = clients - opened.failures;
  await closeAll(opened.connections);
  const summary = opened.latency.summary();
  return {
    scenario: "S1",
    clients,
    in_flight: inFlight,
    mechanism: target.mechanism,
    client_key_cache: target.mechanism !== "PLAIN",
    logins_per_s: round((ok / opened.elapsedMs) * 1000, 0),
    login_p50_ms: summary.p50,
    login_p99_ms: summary.p99,
    server_cpu_ms_per_login: round((cpu1 - cpu0) / ok, 2),
    loadgen_cpu_pct: round(((own1 - own0) / opened.elapsedMs) * 100, 0),
    failures: opened.failures,
    ...(warmFailures > 0 ? { warm_failures: warmFailures } : {}),
    ...(opened.errors.length > 0 ? { errors: opened.errors } : {}),
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S1",
    { clients: 2000, "in-flight": 100, "warmup-rounds": 5 },
    (cli) =>
      runS1(cli.target, cli.probe, {
        clients: cli.numbers.clients!,
        inFlight: cli.numbers["in-flight"]!,
        warmupRounds: cli.numbers["warmup-rounds"]!,
      }),
  );
}
