/**
 * `deno task bench`: the micro benchmarks, then scenarios S1-S5 (issue 7)
 * against this server started as a child process on loopback, and with
 * `--compare` against Debian's Prosody and ejabberd too (alternating,
 * medians of 3, ratios), writing `bench/results/latest.md`.
 *
 * ```
 * deno task bench                      # micro + S1-S5, this server, moderate sizes (< 5 min)
 * deno task bench --scenario S2        # one scenario (repeatable, or S1,S2)
 * deno task bench --compare            # + prosody and ejabberd, issue sizes, 3 runs each
 * deno task bench --full               # issue sizes, this server only
 * deno task bench --compare --moderate # references too, moderate sizes (a quick look)
 * deno task bench --reps 5 --no-micro  # more runs, skip the micro benchmarks
 * deno task bench --scenario S2 --profile  # this server under --cpu-prof: top self-time functions
 * deno task bench --full --scenario S3 --steps 10000,25000,50000  # needs `ulimit -n` above 50k
 * ```
 *
 * Every scenario line is printed as JSON (with `server` and `rep`) as it
 * finishes; the table follows. Load goes to 127.0.0.1 only; every server is
 * stopped by the process id the runner started.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { XmppConnection } from "./loadgen/connection.ts";
import { register } from "./loadgen/login.ts";
import { round } from "./loadgen/metrics.ts";
import { runPool, sourceAddress } from "./loadgen/sessions.ts";
import type { BenchServer } from "./reference/bench_server.ts";
import { type Bandwidth, LIMITED, THROUGHPUT, WORK_DIR } from "./reference/bench_server.ts";
import { ejabberdInstalled, startEjabberd } from "./reference/ejabberd_server.ts";
import { prosodyInstalled, startProsody } from "./reference/prosody_server.ts";
import { startXmppd } from "./reference/xmppd_server.ts";
import { profileTable, summariseProfile } from "./reference/cpu_profile.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PREFIX = "bench";
const PASSWORD = "bench-secret";
const DOMAIN = "localhost";
const SCENARIOS = ["S1", "S2", "S3", "S4", "S5"] as const;
type Scenario = typeof SCENARIOS[number];
type Line = Record<string, unknown>;

interface Sizes {
  s1: { clients: number; inFlight: number };
  s2: { pairs: number; inFlight: number; seconds: number; warmup: number };
  s3: { steps: number[]; settle: number };
  s4: { pairs: number; rate: number; attackers: number; seconds: number; warmup: number };
  s5: { rate: number; seconds: number; logins: number; inFlight: number };
}

/** The sizes. */
const FULL: Sizes = {
  s1: { clients: 2000, inFlight: 100 },
  s2: { pairs: 200, inFlight: 20, seconds: 10, warmup: 2 },
  s3: { steps: [5000, 10_000, 15_000], settle: 3 },
  s4: { pairs: 50, rate: 5, attackers: 20, seconds: 10, warmup: 2 },
  s5: { rate: 500, seconds: 10, logins: 200, inFlight: 10 },
};

/** Smaller sizes for the default run, so that it stays well under 5 minutes. */
const MODERATE: Sizes = {
  s1: { clients: 1000, inFlight: 100 },
  s2: { pairs: 100, inFlight: 20, seconds: 5, warmup: 1 },
  s3: { steps: [1000, 2000], settle: 2 },
  s4: { pairs: 20, rate: 5, attackers: 10, seconds: 3, warmup: 1 },
  s5: { rate: 200, seconds: 5, logins: 100, inFlight: 10 },
};

function accountsNeeded(sizes: Sizes, scenarios: readonly Scenario[]): number {
  const need: Record<Scenario, number> = {
    S1: sizes.s1.clients,
    S2: sizes.s2.pairs * 2,
    S3: Math.max(...sizes.s3.steps),
    S4: sizes.s4.pairs * 2 + sizes.s4.attackers,
    S5: sizes.s5.logins * 2,
  };
  return Math.max(...scenarios.map((s) => need[s]));
}

const encoder = new TextEncoder();
function out(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}
function note(text: string): void {
  Deno.stderr.writeSync(encoder.encode(`# ${text}\n`));
}

// --- servers ---------------------------------------------------------------

type ServerName = "xmppd" | "prosody" | "ejabberd";

function starter(
  name: ServerName,
  accounts: number,
  bandwidth: Bandwidth = LIMITED,
  cpuProfileDir?: string,
): () => Promise<BenchServer> {
  if (name === "prosody") return () => startProsody(bandwidth);
  if (name === "ejabberd") return () => startEjabberd(bandwidth);
  return () =>
    startXmppd({
      accounts,
      prefix: PREFIX,
      password: PASSWORD,
      root: ROOT,
      bandwidth,
      ...(cpuProfileDir !== undefined ? { cpuProfileDir } : {}),
    });
}

/** Summarises the CPU profile the server wrote into `dir`. */
async function profileSummary(dir: string): Promise<string[]> {
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const path = `${dir}/${entry.name}`;
    const rows = summariseProfile(JSON.parse(await Deno.readTextFile(path)), 30);
    return [`Self time in the server (${path}):`, "", ...profileTable(rows)];
  }
  return [`No CPU profile found in ${dir}`];
}

/** Registers (XEP-0077) the bench accounts a reference server does not have yet. */
async function provision(name: ServerName, accounts: number): Promise<void> {
  if (name === "xmppd") return; // the launcher prepares its SQLite database
  const marker = `${WORK_DIR}/${name}/accounts.count`;
  let have = 0;
  try {
    have = Number(await Deno.readTextFile(marker));
  } catch {
    // none yet
  }
  if (have >= accounts) return;
  note(`${name}: registering accounts ${have + 1}..${accounts} (once; kept for later runs)`);
  const server = await starter(name, accounts)();
  let failed = 0;
  try {
    const target = { host: "127.0.0.1", port: server.port, domain: DOMAIN };
    await runPool(accounts - have, 50, async (i) => {
      const n = have + 1 + i;
      try {
        const conn = await XmppConnection.connect(target, {
          localAddress: sourceAddress("legit", 40_000 + (n % 20_000)),
        });
        await register(conn, PREFIX + n, PASSWORD, 30_000);
      } catch (error) {
        failed++;
        if (failed <= 3) note(`${name}: registering ${PREFIX + n} failed: ${error}`);
      }
    });
  } finally {
    await server.stop();
  }
  if (failed > 0) throw new Error(`Cannot provision ${name}: ${failed} registrations failed`);
  await Deno.writeTextFile(marker, String(accounts));
}

const SCRIPTS: Record<Scenario, string> = {
  S1: "s1_login_storm.ts",
  S2: "s2_throughput.ts",
  S3: "s3_idle_memory.ts",
  S4: "s4_under_attack.ts",
  S5: "s5_connection_flood.ts",
};

function scenarioFlags(scenario: Scenario, sizes: Sizes): string[] {
  switch (scenario) {
    case "S1":
      return ["--clients", `${sizes.s1.clients}`, "--in-flight", `${sizes.s1.inFlight}`];
    case "S2": {
      const s2 = sizes.s2;
      return [
        "--pairs",
        `${s2.pairs}`,
        "--in-flight",
        `${s2.inFlight}`,
        "--seconds",
        `${s2.seconds}`,
        "--warmup",
        `${s2.warmup}`,
      ];
    }
    case "S3":
      return ["--steps", sizes.s3.steps.join(","), "--settle", `${sizes.s3.settle}`];
    case "S4": {
      const s4 = sizes.s4;
      return [
        "--pairs",
        `${s4.pairs}`,
        "--rate",
        `${s4.rate}`,
        "--attackers",
        `${s4.attackers}`,
        "--seconds",
        `${s4.seconds}`,
        "--warmup",
        `${s4.warmup}`,
      ];
    }
    case "S5": {
      const s5 = sizes.s5;
      return [
        "--rate",
        `${s5.rate}`,
        "--seconds",
        `${s5.seconds}`,
        "--logins",
        `${s5.logins}`,
        "--in-flight",
        `${s5.inFlight}`,
      ];
    }
  }
}

/**
 * Runs one scenario as its own process (a fresh load generator every run, so
 * no run inherits another's garbage or sockets) and returns its JSON line.
 */
async function runScenario(
  scenario: Scenario,
  name: ServerName,
  server: BenchServer,
  sizes: Sizes,
): Promise<Line> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/bench/scenarios/${SCRIPTS[scenario]}`,
      "--host",
      "127.0.0.1",
      "--port",
      `${server.port}`,
      "--domain",
      DOMAIN,
      "--prefix",
      PREFIX,
      "--password",
      PASSWORD,
      "--mechanism",
      "SCRAM-SHA-1",
      "--server-pid",
      `${server.pid}`,
      "--key-cache",
      `${WORK_DIR}/${name}/scram-keys.json`,
      ...scenarioFlags(scenario, sizes),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  try {
    return JSON.parse(lines[lines.length - 1]!) as Line;
  } catch {
    return {
      scenario,
      error: `no JSON line (exit ${output.code}): ${lines.join(" ").slice(0, 300)}`,
    };
  }
}

// --- micro benchmarks ------------------------------------------------------

const MICRO: { file: string; full: string[]; moderate: string[] }[] = [
  { file: "parser_bench.ts", full: [], moderate: ["1"] },
  { file: "limits_bench.ts", full: [], moderate: ["100"] },
  { file: "guards_bench.ts", full: [], moderate: ["100"] },
  { file: "karma_bench.ts", full: [], moderate: ["100"] },
];

async function runMicro(full: boolean): Promise<Line[]> {
  const lines: Line[] = [];
  for (const bench of MICRO) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/bench/${bench.file}`, ...(full ? bench.full : bench.moderate)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    for (const text of new TextDecoder().decode(output.stdout).split("\n")) {
      if (text.trim() === "") continue;
      try {
        const line = { micro: bench.file, ...JSON.parse(text) };
        lines.push(line);
        out(JSON.stringify(line));
      } catch {
        note(`${bench.file}: ${text}`);
      }
    }
    if (!output.success) note(`${bench.file} exited with ${output.code}`);
  }
  return lines;
}

// --- report ----------------------------------------------------------------

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Metric {
  scenario: Scenario;
  label: string;
  better: "higher" | "lower" | "none";
  target?: string;
  pick(line: Line): number;
}

function num(value: unknown): number {
  return typeof value === "number" ? value : Number.NaN;
}

function phase(line: Line, attack: string, key: string): number {
  const phases = line.phases as Line[] | undefined;
  return num(phases?.find((p) => p.attack === attack)?.[key]);
}

function step(line: Line, index: number, key: string): number {
  const steps = line.steps as Line[] | undefined;
  return num(steps?.[index]?.[key]);
}

function metrics(sizes: Sizes): Metric[] {
  const s3 = sizes.s3.steps;
  return [
    {
      scenario: "S1",
      label: "S1 logins/s",
      better: "higher",
      target: ">= 2x ejabberd",
      pick: (l) => num(l.logins_per_s),
    },
    {
      scenario: "S1",
      label: "S1 login p50 / p99 ms",
      better: "none",
      pick: (l) => num(l.login_p99_ms),
    },
    {
      scenario: "S1",
      label: "S1 server CPU ms per login",
      better: "lower",
      pick: (l) => num(l.server_cpu_ms_per_login),
    },
    {
      scenario: "S2",
      label: "S2 delivered msgs/s",
      better: "higher",
      target: ">= 3x ejabberd",
      pick: (l) => num(l.delivered_msgs_per_s),
    },
    {
      scenario: "S2",
      label: "S2 end-to-end p50 / p99 ms",
      better: "none",
      pick: (l) => num(l.latency_p99_ms),
    },
    {
      scenario: "S2",
      label: "S2 server CPU ms per 1k msgs",
      better: "lower",
      target: "<= 30",
      pick: (l) => num(l.server_cpu_ms_per_1k_msgs),
    },
    ...s3.map((n, i): Metric => ({
      scenario: "S3",
      label: `S3 KiB per idle connection at ${n}`,
      better: "lower",
      ...(i === s3.length - 1 ? { target: "<= 12" } : {}),
      pick: (l) => step(l, i, "kib_per_connection"),
    })),
    {
      scenario: "S3",
      label: `S3 server RSS MiB at ${s3[s3.length - 1]}`,
      better: "lower",
      pick: (l) => step(l, s3.length - 1, "rss_mib"),
    },
    {
      scenario: "S4",
      label: "S4 no-attack legit p99 ms",
      better: "lower",
      pick: (l) => num(l.baseline_p99_ms),
    },
    ...["small", "large", "oversize"].map((attack): Metric => ({
      scenario: "S4",
      label: `S4 ${attack}-stanza flood: legit p99 / no-attack p99`,
      better: "lower",
      target: "<= 1.5",
      pick: (l) => phase(l, attack, "p99_vs_baseline"),
    })),
    {
      scenario: "S4",
      label: "S4 server CPU % during small-stanza flood",
      better: "none",
      pick: (l) => phase(l, "small", "server_cpu_pct"),
    },
    {
      scenario: "S5",
      label: `S5 legit logins OK during flood (of ${sizes.s5.logins})`,
      better: "higher",
      target: "all",
      pick: (l) => num(l.during_ok),
    },
    {
      scenario: "S5",
      label: "S5 legit login p99 / no-flood p99",
      better: "lower",
      target: "<= 2",
      pick: (l) => num(l.p99_vs_baseline),
    },
    {
      scenario: "S5",
      label: "S5 flood connections refused before any byte",
      better: "higher",
      pick: (l) => num(l.flood_refused_before_data),
    },
    {
      scenario: "S5",
      label: "S5 flood connections still open at end",
      better: "lower",
      target: "0",
      pick: (l) => num(l.flood_open_at_end),
    },
    {
      scenario: "S5",
      label: "S5 server descriptors, peak",
      better: "lower",
      pick: (l) => num(l.server_fds_peak),
    },
  ];
}

/** p50 for the rows that show "p50 / p99". */
function secondary(label: string, line: Line): number {
  if (label.startsWith("S1 login p50")) return num(line.login_p50_ms);
  if (label.startsWith("S2 end-to-end")) return num(line.latency_p50_ms);
  return Number.NaN;
}

function format(value: number): string {
  if (!Number.isFinite(value)) return "-";
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", { maximumFractionDigits: digits });
}

async function machine(): Promise<string[]> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKib = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3)
    .join(" ");
  const git = await new Deno.Command("git", {
    args: ["-C", ROOT, "describe", "--always", "--dirty"],
    stdout: "piped",
    stderr: "null",
  }).output().then((o) => new TextDecoder().decode(o.stdout).trim()).catch(() => "?");
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${navigator.hardwareConcurrency} cores, ${model}`,
    `- Memory: ${format(memKib / 1048576)} GiB`,
    `- OS: Linux ${Deno.osRelease()}; open files capped at 20,000 per process`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); load average at start: ${load}`,
    `- Source: \`${git}\`` +
    (git.endsWith("-dirty") ? " (`-dirty`: the work tree had uncommitted changes)" : ""),
  ];
}

function table(
  sizes: Sizes,
  servers: readonly ServerName[],
  results: Map<string, Line[]>,
  scenarios: readonly Scenario[],
): string[] {
  const refs = servers.filter((s) => s !== "xmppd");
  const header = ["", ...servers.map((s) => s), ...refs.map((r) => `xmppd / ${r}`), "target"];
  const rows = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const metric of metrics(sizes)) {
    if (!scenarios.includes(metric.scenario)) continue;
    const values = new Map<ServerName, number>();
    const cells: string[] = [];
    for (const server of servers) {
      const lines = results.get(`${metric.scenario}/${server}`) ?? [];
      const value = median(lines.map(metric.pick));
      values.set(server, value);
      const p50 = median(lines.map((l) => secondary(metric.label, l)));
      cells.push(Number.isFinite(p50) ? `${format(p50)} / ${format(value)}` : format(value));
    }
    const ratios = refs.map((ref) => {
      const ours = values.get("xmppd")!;
      const theirs = values.get(ref)!;
      return metric.better === "none" || !(theirs > 0) ? "-" : `${format(ours / theirs)}x`;
    });
    rows.push(`| ${[metric.label, ...cells, ...ratios, metric.target ?? ""].join(" | ")} |`);
  }
  return rows;
}

// --- main ------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      compare: { type: "boolean", default: false },
      full: { type: "boolean", default: false },
      moderate: { type: "boolean", default: false },
      scenario: { type: "string", multiple: true },
      reps: { type: "string" },
      "no-micro": { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      steps: { type: "string" },
      output: { type: "string" },
    },
    strict: true,
  });
  const compare = values.compare;
  const full = (compare || values.full) && !values.moderate;
  const sizes = structuredClone(full ? FULL : MODERATE);
  if (values.steps !== undefined) {
    sizes.s3.steps = values.steps.split(",").map(Number);
    if (sizes.s3.steps.some((n) => !(n > 0))) {
      throw new RangeError(`Cannot run S3: '--steps' is '${values.steps}'`);
    }
  }
  const wanted = (values.scenario ?? []).flatMap((s) => s.toUpperCase().split(","));
  for (const s of wanted) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new RangeError(`Cannot run scenario '${s}': expected one of ${SCENARIOS.join(", ")}`);
    }
  }
  const scenarios = wanted.length === 0 ? SCENARIOS : (wanted as Scenario[]);
  const reps = Number(values.reps ?? (compare ? 3 : 1));
  const servers: ServerName[] = ["xmppd"];
  const skipped: string[] = [];
  const profiles: string[] = [];
  if (compare && values.profile) {
    throw new RangeError("Cannot combine --compare with --profile: profiling slows the server");
  }
  if (compare) {
    if (await prosodyInstalled()) servers.push("prosody");
    else skipped.push("prosody (not installed: apt-get install -y prosody)");
    if (await ejabberdInstalled()) servers.push("ejabberd");
    else skipped.push("ejabberd (not installed: apt-get install -y ejabberd)");
    for (const s of skipped) note(`skipping ${s}`);
  }
  const started = performance.now();
  const machineLines = await machine();
  const micro = values["no-micro"] || values.profile || wanted.length > 0
    ? []
    : await runMicro(full);

  const accounts = accountsNeeded(sizes, scenarios);
  for (const server of servers) await provision(server, accounts);
  const versions = new Map<ServerName, string>();
  const results = new Map<string, Line[]>();
  for (let rep = 1; rep <= reps; rep++) {
    for (const scenario of scenarios) {
      // Alternate: rotate the server order every repetition.
      const order = servers.map((_, i) => servers[(i + rep - 1) % servers.length]!);
      for (const name of order) {
        const bandwidth = scenario === "S2" ? THROUGHPUT : LIMITED;
        const profileDir = values.profile ? `${WORK_DIR}/prof/${scenario}-${rep}` : undefined;
        if (profileDir !== undefined) {
          await Deno.remove(profileDir, { recursive: true }).catch(() => {});
          await Deno.mkdir(profileDir, { recursive: true });
        }
        const server = await starter(name, accounts, bandwidth, profileDir)();
        versions.set(name, server.version);
        let line: Line;
        try {
          line = await runScenario(scenario, name, server, sizes);
        } catch (error) {
          line = { scenario, error: String(error) };
        } finally {
          await server.stop();
        }
        line = { server: name, rep, ...line };
        out(JSON.stringify(line));
        if (profileDir !== undefined) {
          const summary = [
            `### ${scenario}, run ${rep}`,
            "",
            ...await profileSummary(profileDir),
            "",
          ];
          profiles.push(...summary);
          out(summary.join("\n"));
        }
        const key = `${scenario}/${name}`;
        results.set(key, [...(results.get(key) ?? []), line]);
      }
    }
  }
  const minutes = round((performance.now() - started) / 60_000, 1);
  const report = [
    `# Benchmark results${compare ? ": xmppd, Prosody and ejabberd" : ": xmppd"}`,
    "",
    `Written by \`deno task bench${Deno.args.length > 0 ? " " + Deno.args.join(" ") : ""}\` ` +
    `(${reps} run${reps === 1 ? "" : "s"} per server and scenario, ` +
    `${reps > 1 ? "medians" : "single values"}; ${full ? "issue" : "moderate"} sizes; ` +
    `${minutes} min).`,
    "",
    "Machine:",
    "",
    ...machineLines,
    `- Servers: ${servers.map((s) => versions.get(s) ?? s).join("; ")}` +
    (skipped.length > 0 ? `; skipped: ${skipped.join("; ")}` : ""),
    "",
    ...table(sizes, servers, results, scenarios),
    "",
    "How it was measured:",
    "",
    "- Every server runs as its own process on 127.0.0.1 with equivalent settings (plain c2s, no",
    "  TLS requirement, SCRAM-SHA-1 stored keys with 4096 iterations, per-connection bandwidth",
    `  ${LIMITED.rateKiB} KiB/s with a ${LIMITED.burstKiB} KiB burst (in S2 ${THROUGHPUT.rateKiB} KiB/s, ` +
    "so that no sender is paced), 256 KiB stanza limit, warn-level logs, no offline storage:",
    "  xmppd with `limits.offline_messages_per_account: 0`); xmppd with the start task's V8 flags;",
    "  a fresh process per run; runs alternate between servers. The load generator is a fresh",
    "  Deno process per run on the same 2 cores, so the server never has the whole machine.",
    "- Server CPU is utime+stime from /proc/<pid>/stat of the server's process tree; memory is",
    "  VmRSS. CPU per message or per login is the most stable figure on a shared machine.",
    `- S1: ${sizes.s1.clients} clients, ${sizes.s1.inFlight} logins in flight, SCRAM-SHA-1; the`,
    "  client caches SaltedPassword (RFC 5802 §5.1) after an untimed salt-discovery pass, so the",
    "  server pays HMACs per login, not PBKDF2. With PLAIN (`--mechanism PLAIN` on the scenario)",
    "  every server pays PBKDF2 per login against its hashed storage. Before timing, the whole",
    "  storm runs five times, every account logging in and out (untimed warm-up, like S2's): the",
    "  timed storm meets a server that has been running, not one that started a second ago.",
    `- S2: ${sizes.s2.pairs} pairs, ${sizes.s2.inFlight} chat messages in flight per sender to`,
    `  the receiver's full JID, ${sizes.s2.seconds} s window after ${sizes.s2.warmup} s warm-up.`,
    `- S3: ${sizes.s3.steps.join(" / ")} bound, available, idle connections, one account and`,
    "  one loopback source address each; KiB per connection = (RSS - RSS before) / connections.",
    "  Open files are capped at 20,000 per process here and cannot be raised, so real sockets",
    "  stop near 19k; see the README for 50k on a host with a higher limit.",
    `- S4: ${sizes.s4.pairs} pairs at ${sizes.s4.rate} msg/s per sender; ${sizes.s4.attackers}`,
    `  attackers per phase of ${sizes.s4.seconds} s: small stanzas, 200 KiB stanzas, one`,
    "  unterminated stanza each, sent by a second load-generator process at the lowest",
    "  priority (real attackers are remote), logged in before the phase starts. Ratios compare",
    "  the legitimate p99 of messages sent in each phase with the no-attack phase's.",
    `  Before the measured phases each attack runs once for ${sizes.s4.warmup} s, untimed (as S1`,
    "  and S2 warm up): a server met by its very first flood runs it through code its JIT has",
    "  not optimised yet; the JSON lines report that round apart (`warmup_phases`).",
    `- S5: ${sizes.s5.rate} connections/s for ${sizes.s5.seconds} s from 127.3.0.1 (stream`,
    `  header, then silence) while ${sizes.s5.logins} legitimate clients log in from other`,
    "  addresses; baseline is the same logins without the flood.",
    "- The machine is shared with other work while this runs: figures are noisy; the JSON",
    "  lines below carry every run.",
    "",
    ...(profiles.length > 0 ? ["## CPU profile (`--profile`)", "", ...profiles] : []),
    "<details><summary>Every run (JSON lines)</summary>",
    "",
    "```",
    ...[...results.values()].flat().map((l) => JSON.stringify(l)),
    ...micro.map((l) => JSON.stringify(l)),
    "```",
    "",
    "</details>",
    "",
  ].join("\n");
  const path = values.output ??
    (compare ? `${ROOT}/bench/results/latest.md` : `${WORK_DIR}/results.md`);
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, report);
  // Formatted like the rest of the repository, so that a committed report passes `deno fmt --check`.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stdout: "null" })
    .output();
  out("");
  out(table(sizes, servers, results, scenarios).join("\n"));
  note(`report written to ${path}`);
}

if (import.meta.main) await main();
