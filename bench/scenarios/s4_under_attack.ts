/**
 * S4 under attack: `pairs` legitimate pairs exchange chat messages at `rate`
 * per second per sender (open loop) while `attackers` authenticated clients
 * flood, one attack per phase: none (the baseline), small stanzas, large
 * stanzas (under the 256 KiB stanza limit), and one oversize stanza each
 * (an unterminated body streamed until the server cuts it or 64 MiB). Every
 * phase gets fresh attacker connections, which are dropped when it ends.
 * Reports the legitimate p99 per phase against the baseline p99, and the
 * server CPU per phase.
 *
 * Run: `deno run -A bench/scenarios/s4_under_attack.ts --port 5222 --server-pid PID
 * [--pairs 50 --rate 5 --attackers 20 --seconds 5]`
 *
 * @module
 */

import { attribute } from "../loadgen/framer.ts";
import { LatencyRecorder, round } from "../loadgen/metrics.ts";
import type { ServerProbe } from "../loadgen/process_stats.ts";
import { type BenchTarget, closeAll, openSessions } from "../loadgen/sessions.ts";
import type { XmppConnection } from "../loadgen/connection.ts";
import { scenarioMain, sleep } from "./_cli.ts";

/** Options for {@linkcode runS4}. */
export interface S4Options {
  /** Legitimate pairs (accounts 1 to 2 × pairs). @default {50} */
  pairs?: number;
  /** Messages per second per legitimate sender. @default {5} */
  rate?: number;
  /** Attackers (the accounts after the legitimate ones). @default {20} */
  attackers?: number;
  /** Seconds per phase. @default {5} */
  seconds?: number;
}

/** The attacks, in order (oversize last: it gets attackers disconnected). */
export const ATTACKS = ["none", "small", "large", "oversize"] as const;

/** One of {@linkcode ATTACKS}. */
export type Attack = typeof ATTACKS[number];

const BODY = "A legitimate chat line, sent at a human pace.";
const OVERSIZE_LIMIT = 64 * 1024 * 1024;

/** Floods one connection with `attack` until `until` (performance.now ms); returns bytes written. */
async function flood(
  conn: XmppConnection,
  to: string,
  attack: Exclude<Attack, "none">,
  until: number,
): Promise<number> {
  let bytes = 0;
  if (attack === "oversize") {
    const open = `<message type='chat' to='${to}'><body>`;
    conn.writeNow(open);
    bytes += open.length;
    const chunk = "A".repeat(64 * 1024);
    while (!conn.closed && performance.now() < until && bytes < OVERSIZE_LIMIT) {
      bytes += chunk.length;
      if (!conn.writeNow(chunk)) await conn.drained(until - performance.now());
    }
    return bytes;
  }
  const one = attack === "small"
    ? `<message type='chat' to='${to}'><body>x</body></message>`
    : `<message type='chat' to='${to}'><body>${"B".repeat(200 * 1024)}</body></message>`;
  const batch = attack === "small" ? one.repeat(100) : one;
  while (!conn.closed && performance.now() < until) {
    bytes += batch.length;
    if (!conn.writeNow(batch)) await conn.drained(until - performance.now());
    // Let reads and timers run between writes the kernel took at once.
    else await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return bytes;
}

/**
 * Runs S4.
 *
 * @param target The server and credentials.
 * @param probe Server CPU.
 * @param options Sizes.
 * @returns The JSON line.
 */
export async function runS4(
  target: BenchTarget,
  probe: ServerProbe,
  options: S4Options = {},
): Promise<Record<string, unknown>> {
  const pairs = options.pairs ?? 50;
  const rate = options.rate ?? 5;
  const attackers = options.attackers ?? 20;
  const seconds = options.seconds ?? 5;
  const legit = await openSessions(target, pairs * 2, { concurrency: 50 });
  const latency = new LatencyRecorder();
  let measuring = false;
  let received = 0;
  let sent = 0;
  let legitErrors = 0;
  const senders: { conn: XmppConnection; head: string; nextAt: number }[] = [];
  for (let k = 0; k < pairs; k++) {
    const sender = legit.connections[2 * k];
    const receiver = legit.connections[2 * k + 1];
    const to = legit.jids[2 * k + 1];
    if (sender === undefined || receiver === undefined || to === undefined) continue;
    receiver.onElement = (xml) => {
      if (!xml.startsWith("<message") || !measuring) return;
      const id = attribute(xml, "id");
      if (id === undefined) return;
      latency.add(performance.now() - Number(id));
      received++;
    };
    sender.onElement = (xml) => {
      if (xml.startsWith("<message") && attribute(xml, "type") === "error") legitErrors++;
    };
    // Spread the senders' first messages over one interval.
    senders.push({
      conn: sender,
      head: `<message type='chat' to='${to}' id='`,
      nextAt: performance.now() + (1000 / rate) * (k / pairs),
    });
  }
  const interval = 1000 / rate;
  const tail = `'><body>${BODY}</body></message>`;
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const s of senders) {
      while (s.nextAt <= now) {
        s.conn.send(s.head + performance.now().toFixed(3) + tail);
        s.nextAt += interval;
        if (measuring) sent++;
      }
    }
  }, 5);
  // The load generator's own event-loop lag, so its stalls are not blamed on the server.
  const lag = new LatencyRecorder();
  let expected = performance.now() + 10;
  const lagProbe = setInterval(() => {
    const now = performance.now();
    if (measuring) lag.add(Math.max(0, now - expected));
    expected = now + 10;
  }, 10);
  const phases: Record<string, unknown>[] = [];
  let baselineP99 = Number.NaN;
  try {
    await sleep(1000);
    for (const attack of ATTACKS) {
      let attackConns: (XmppConnection | undefined)[] = [];
      let attackJids: (string | undefined)[] = [];
      if (attack !== "none") {
        const opened = await openSessions(target, attackers, {
          first: pairs * 2 + 1,
          pool: "attack",
          concurrency: attackers,
        });
        attackConns = opened.connections;
        attackJids = opened.jids;
        for (const conn of attackConns) conn?.discardInput();
      }
      latency.clear();
      lag.clear();
      received = 0;
      sent = 0;
      const cpu0 = probe.cpuMs();
      const t0 = performance.now();
      const until = t0 + seconds * 1000;
      measuring = true;
      const floods = attack === "none" ? [] : attackConns.map((conn, i) => {
        const to = attackJids[(i + 1) % attackers];
        return conn === undefined || to === undefined
          ? Promise.resolve(0)
          : flood(conn, to, attack, until);
      });
      await sleep(seconds * 1000);
      const bytes = (await Promise.all(floods)).reduce((a, b) => a + b, 0);
      // Messages sent in the window may still be in flight: wait a little for them.
      const drainUntil = performance.now() + 2000;
      while (received < sent && performance.now() < drainUntil) await sleep(20);
      measuring = false;
      const cpu1 = probe.cpuMs();
      const elapsed = performance.now() - t0;
      const cut = attackConns.filter((c) => c !== undefined && c.closed).length;
      const summary = latency.summary();
      if (attack === "none") baselineP99 = summary.p99 ?? Number.NaN;
      phases.push({
        attack,
        legit_sent: sent,
        legit_received: received,
        legit_p50_ms: summary.p50,
        legit_p99_ms: summary.p99,
        p99_vs_baseline: attack === "none" ? 1 : round((summary.p99 ?? NaN) / baselineP99, 2),
        server_cpu_ms: round(cpu1 - cpu0, 0),
        server_cpu_pct: round(((cpu1 - cpu0) / elapsed) * 100, 0),
        loadgen_lag_p99_ms: lag.summary().p99,
        attack_mib_sent: round(bytes / 1048576, 1),
        attackers_disconnected: attack === "none" ? 0 : cut,
      });
      for (const conn of attackConns) conn?.destroy();
      await sleep(1000);
    }
  } finally {
    clearInterval(ticker);
    clearInterval(lagProbe);
  }
  await closeAll(legit.connections);
  const worst = phases.slice(1).reduce(
    (max, p) => Math.max(max, Number(p.p99_vs_baseline ?? 0)),
    0,
  );
  return {
    scenario: "S4",
    pairs,
    rate_per_sender: rate,
    attackers,
    phase_s: seconds,
    baseline_p99_ms: round(baselineP99),
    worst_p99_vs_baseline: round(worst),
    phases,
    legit_error_replies: legitErrors,
    login_failures: legit.failures,
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S4",
    { pairs: 50, rate: 5, attackers: 20, seconds: 5 },
    (cli) =>
      runS4(cli.target, cli.probe, {
        pairs: cli.numbers.pairs!,
        rate: cli.numbers.rate!,
        attackers: cli.numbers.attackers!,
        seconds: cli.numbers.seconds!,
      }),
  );
}
