/**
 * S2 message throughput: `pairs` sender/receiver pairs; each sender keeps
 * `inFlight` chat messages outstanding to its receiver's full JID (a new one
 * leaves when one arrives). After a warm-up, delivered messages, end-to-end
 * latency and server CPU are measured over a fixed window.
 *
 * Run: `deno run -A bench/scenarios/s2_throughput.ts --port 5222 --server-pid PID
 * [--pairs 200 --in-flight 20 --seconds 10 --warmup 2]`
 *
 * @module
 */

import { attribute } from "../loadgen/framer.ts";
import { LatencyRecorder, round } from "../loadgen/metrics.ts";
import { cpuMs, type ServerProbe } from "../loadgen/process_stats.ts";
import { type BenchTarget, closeAll, openSessions } from "../loadgen/sessions.ts";
import { scenarioMain, sleep } from "./_cli.ts";

/** Options for {@linkcode runS2}. */
export interface S2Options {
  /** Sender/receiver pairs (accounts 1 to 2 × pairs). @default {200} */
  pairs?: number;
  /** Messages outstanding per sender. @default {20} */
  inFlight?: number;
  /** Measured window, seconds. @default {10} */
  seconds?: number;
  /** Warm-up before the window, seconds. @default {2} */
  warmup?: number;
}

const BODY = "The quick brown fox jumps over the lazy dog; a benchmark chat line.";

/**
 * Runs S2.
 *
 * @param target The server and credentials.
 * @param probe Server CPU.
 * @param options Sizes.
 * @returns The JSON line.
 */
export async function runS2(
  target: BenchTarget,
  probe: ServerProbe,
  options: S2Options = {},
): Promise<Record<string, unknown>> {
  const pairs = options.pairs ?? 200;
  const inFlight = options.inFlight ?? 20;
  const seconds = options.seconds ?? 10;
  const warmup = options.warmup ?? 2;
  const opened = await openSessions(target, pairs * 2, { concurrency: 50 });
  const latency = new LatencyRecorder();
  let delivered = 0;
  let errors = 0;
  let measuring = false;
  let sending = true;
  let outstanding = 0;
  let activePairs = 0;
  for (let k = 0; k < pairs; k++) {
    const sender = opened.connections[2 * k];
    const receiver = opened.connections[2 * k + 1];
    const to = opened.jids[2 * k + 1];
    if (sender === undefined || receiver === undefined || to === undefined) continue;
    activePairs++;
    const head = `<message type='chat' to='${to}' id='`;
    const tail = `'><body>${BODY}</body></message>`;
    const sendOne = () => {
      outstanding++;
      sender.send(head + performance.now().toFixed(3) + tail);
    };
    receiver.onElement = (xml) => {
      if (!xml.startsWith("<message")) return;
      outstanding--;
      if (measuring) {
        const sent = Number(attribute(xml, "id"));
        latency.add(performance.now() - sent);
        delivered++;
      }
      if (sending) sendOne();
    };
    sender.onElement = (xml) => {
      if (xml.startsWith("<message") && attribute(xml, "type") === "error") {
        outstanding--;
        errors++;
        if (sending) sendOne();
      }
    };
    for (let i = 0; i < inFlight; i++) sendOne();
  }
  await sleep(warmup * 1000);
  const cpu0 = probe.cpuMs();
  const own0 = cpuMs([Deno.pid]);
  const t0 = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = performance.now() - t0;
  const cpu1 = probe.cpuMs();
  const own1 = cpuMs([Deno.pid]);
  sending = false;
  const drainUntil = performance.now() + 3000;
  while (outstanding > 0 && performance.now() < drainUntil) await sleep(20);
  await closeAll(opened.connections);
  const summary = latency.summary();
  const serverCpu = cpu1 - cpu0;
  return {
    scenario: "S2",
    pairs,
    active_pairs: activePairs,
    in_flight_per_sender: inFlight,
    window_s: seconds,
    delivered_msgs_per_s: round((delivered / elapsed) * 1000, 0),
    latency_p50_ms: summary.p50,
    latency_p99_ms: summary.p99,
    server_cpu_ms_per_1k_msgs: round((serverCpu / delivered) * 1000, 1),
    server_cpu_pct: round((serverCpu / elapsed) * 100, 0),
    loadgen_cpu_pct: round(((own1 - own0) / elapsed) * 100, 0),
    error_replies: errors,
    undelivered_at_end: outstanding,
    login_failures: opened.failures,
    ...(opened.errors.length > 0 ? { login_errors: opened.errors } : {}),
  };
}

if (import.meta.main) {
  await scenarioMain(
    "S2",
    { pairs: 200, "in-flight": 20, seconds: 10, warmup: 2 },
    (cli) =>
      runS2(cli.target, cli.probe, {
        pairs: cli.numbers.pairs!,
        inFlight: cli.numbers["in-flight"]!,
        seconds: cli.numbers.seconds!,
        warmup: cli.numbers.warmup!,
      }),
  );
}
