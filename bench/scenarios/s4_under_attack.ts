/**
 * S4 under attack: `pairs` legitimate pairs exchange chat messages at `rate`
 * per second per sender (open loop) while `attackers` authenticated clients
 * flood, one attack per phase: none (the baseline), small stanzas, large
 * stanzas (under the 256 KiB stanza limit), and one oversize stanza each
 * (an unterminated body streamed until the server cuts it or 64 MiB). Every
 * phase gets fresh attacker connections in a process of their own
 * (`s4_attackers.ts`, in a session of its own at the lowest priority: real
 * attackers are remote, so their sending should not take the CPU this process
 * measures latency with), logged in before the phase starts, which exits
 * when the phase ends.
 * Reports the legitimate p99 per phase against the baseline p99, and the
 * server CPU per phase. A message counts in the phase it was sent in: one
 * sent before a phase started and delivered after is in none.
 *
 * Phases last 10 s: 2,500 legitimate messages, so that the p99 is the 25th
 * slowest. With 5 s phases it was the 13th, and a handful of multi-ms stalls
 * of a shared 2-core machine decided it: the same server and code measured
 * 1.1x to 4.5x under the small-stanza flood in runs a minute apart.
 *
 * Before the measured phases every attack runs once for `warmup` seconds,
 * and the legitimate p99 of that round is reported apart (`warmup_phases`):
 * a server that has been up for a while has met floods before, while a
 * freshly started one meets its first flood with code its JIT compiler has
 * not optimised yet (measured on xmppd: the legitimate p99 of a second
 * small-stanza flood was 1.0-1.3x the baseline where the first one's was
 * 1.4-6x).
 *
 * Run: `deno run -A bench/scenarios/s4_under_attack.ts --port 5222 --server-pid PID
 * [--pairs 50 --rate 5 --attackers 20 --seconds 10 --warmup 2]`
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
  /** Seconds per phase. @default {10} */
  seconds?: number;
  /** Seconds per attack in the warm-up round before the measured phases; 0 for none. @default {2} */
  warmup?: number;
  /** The SCRAM key cache file the attackers' process reads. */
  keyCachePath?: string | undefined;
}

/** What the attackers' process reports at the end of its flood. */
interface FloodResult {
  bytes: number;
  disconnected: number;
}

/** The attackers' process, logged in and waiting. */
interface Attackers {
  /** Starts the flood. */
  go(): void;
  /** Its result, once the flood is over and the process exited. */
  finished: Promise<FloodResult>;
}

/**
 * Starts the attackers in their own process (s4_attackers.ts) at the lowest
 * priority, and resolves once they are logged in.
 */
async function startAttackers(
  target: BenchTarget,
  attack: Exclude<Attack, "none">,
  options: { first: number; count: number; seconds: number; keyCachePath: string | undefined },
): Promise<Attackers> {
  const args = [
    "nice",
    "-n",
    "19",
    Deno.execPath(),
    "run",
    "-A",
    ATTACKERS_SCRIPT,
    "--attack",
    attack,
    "--host",
    target.host,
    "--port",
    `${target.port}`,
    "--domain",
    target.domain,
    "--prefix",
    target.prefix,
    "--password",
    target.password,
    "--mechanism",
    target.mechanism,
    "--first",
    `${options.first}`,
    "--count",
    `${options.count}`,
    "--seconds",
    `${options.seconds}`,
    ...(options.keyCachePath === undefined ? [] : ["--key-cache", options.keyCachePath]),
  ];
  // A session of its own, so that the process has its own scheduler autogroup
  // (Linux groups a session's processes, and `nice` only ranks processes
  // within their group); s4_attackers.ts then lowers that group's priority.
  const child = new Deno.Command("setsid", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  async function nextLine(): Promise<Record<string, unknown>> {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("Cannot run S4: the attackers' process ended early");
      pending += value;
    }
    const at = pending.indexOf("\n");
    const line = pending.slice(0, at);
    pending = pending.slice(at + 1);
    return JSON.parse(line) as Record<string, unknown>;
  }
  const ready = await nextLine();
  if (ready.ready !== true) {
    throw new Error(`Cannot run S4: attackers said ${JSON.stringify(ready)}`);
  }
  const stdin = child.stdin.getWriter();
  return {
    go() {
      stdin.write(new TextEncoder().encode("go\n")).then(() => stdin.close(), () => {});
    },
    finished: (async () => {
      const result = await nextLine();
      lines.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.status;
      return { bytes: Number(result.bytes), disconnected: Number(result.disconnected) };
    })(),
  };
}

/** The attacks, in order (oversize last: it gets attackers disconnected). */
export const ATTACKS = ["none", "small", "large", "oversize"] as const;

/** One of {@linkcode ATTACKS}. */
export type Attack = typeof ATTACKS[number];

const BODY = "A legitimate chat line, sent at a human pace.";
const ATTACKERS_SCRIPT = new URL("./s4_attackers.ts", import.meta.url).pathname;
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
  const seconds = options.seconds ?? 10;
  const warmup = options.warmup ?? 2;
  const legit = await openSessions(target, pairs * 2, { concurrency: 50 });
  const latency = new LatencyRecorder();
  let measuring = false;
  /** When the phase being measured started: messages sent before it belong to no phase. */
  let phaseStart = Infinity;
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
      if (id === undefined || Number(id) < phaseStart) return;
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
  /** Runs one phase (an attack, or none) for `phaseSeconds` and measures it. */
  async function phase(attack: Attack, phaseSeconds: number): Promise<Record<string, unknown>> {
    const attackersProcess = attack === "none" ? undefined : await startAttackers(
      target,
      attack,
      {
        first: pairs * 2 + 1,
        count: attackers,
        seconds: phaseSeconds,
        keyCachePath: options.keyCachePath,
      },
    );
    latency.clear();
    lag.clear();
    received = 0;
    sent = 0;
    const cpu0 = probe.cpuMs();
    const t0 = performance.now();
    phaseStart = t0;
    measuring = true;
    attackersProcess?.go();
    await sleep(phaseSeconds * 1000);
    const floodResult = await attackersProcess?.finished;
    // Messages sent in the window may still be in flight: wait a little for them.
    const drainUntil = performance.now() + 2000;
    while (received < sent && performance.now() < drainUntil) await sleep(20);
    measuring = false;
    const cpu1 = probe.cpuMs();
    const elapsed = performance.now() - t0;
    const summary = latency.summary();
    await sleep(1000);
    return {
      attack,
      legit_sent: sent,
      legit_received: received,
      legit_p50_ms: summary.p50,
      legit_p99_ms: summary.p99,
      server_cpu_ms: round(cpu1 - cpu0, 0),
      server_cpu_pct: round(((cpu1 - cpu0) / elapsed) * 100, 0),
      loadgen_lag_p99_ms: lag.summary().p99,
      attack_mib_sent: round((floodResult?.bytes ?? 0) / 1048576, 1),
      attackers_disconnected: floodResult?.disconnected ?? 0,
    };
  }
  const warmupPhases: Record<string, unknown>[] = [];
  const phases: Record<string, unknown>[] = [];
  try {
    await sleep(1000);
    if (warmup > 0) {
      for (const attack of ATTACKS) {
        if (attack !== "none") warmupPhases.push(await phase(attack, warmup));
      }
    }
    for (const attack of ATTACKS) phases.push(await phase(attack, seconds));
  } finally {
    clearInterval(ticker);
    clearInterval(lagProbe);
  }
  await closeAll(legit.connections);
  const baselineP99 = Number(phases[0]?.legit_p99_ms ?? NaN);
  const vsBaseline = (p: Record<string, unknown>) => ({
    ...p,
    p99_vs_baseline: round(Number(p.legit_p99_ms ?? NaN) / baselineP99, 2),
  });
  const measured = phases.map(vsBaseline);
  const worst = measured.slice(1).reduce(
    (max, p) => Math.max(max, Number(p.p99_vs_baseline ?? 0)),
    0,
  );
  return {
    scenario: "S4",
    pairs,
    rate_per_sender: rate,
    attackers,
    phase_s: seconds,
    warmup_s: warmup,
    baseline_p99_ms: round(baselineP99),
    worst_p99_vs_baseline: round(worst),
    phases: measured,
    warmup_phases: warmupPhases.map(vsBaseline),
    legit_error_replies: legitErrors,
    login_failures: legit.failures,
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S4",
    { pairs: 50, rate: 5, attackers: 20, seconds: 10, warmup: 2 },
    (cli) =>
      runS4(cli.target, cli.probe, {
        pairs: cli.numbers.pairs!,
        rate: cli.numbers.rate!,
        attackers: cli.numbers.attackers!,
        seconds: cli.numbers.seconds!,
        warmup: cli.numbers.warmup!,
        keyCachePath: cli.keyCachePath,
      }),
  );
}
