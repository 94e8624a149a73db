// Shared command-line handling for the scenario scripts: every scenario can
// be run on its own against any server and prints one JSON line.

import { parseArgs } from "node:util";
import type { Mechanism } from "../loadgen/login.ts";
import { NO_PROBE, processProbe, type ServerProbe } from "../loadgen/process_stats.ts";
import type { ScramKeyCache } from "../loadgen/scram_client.ts";
import type { BenchTarget } from "../loadgen/sessions.ts";

const MECHANISMS: readonly Mechanism[] = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"];

/** Target, probe and the scenario's own numeric options. */
export interface ScenarioCli {
  target: BenchTarget;
  probe: ServerProbe;
  numbers: Record<string, number>;
  /** `--steps 5000,10000` (S3). */
  steps: number[] | undefined;
  /** `--key-cache FILE`: SCRAM keys kept between runs (the salts of a server's accounts do not change). */
  keyCachePath: string | undefined;
}

/** Usage shared by every scenario. */
export const COMMON_USAGE =
  "--host 127.0.0.1 --port 5222 --domain localhost --prefix bench --password bench-secret " +
  "[--mechanism SCRAM-SHA-1|SCRAM-SHA-256|PLAIN] [--server-pid PID] [--key-cache FILE]";

/**
 * Parses the common flags plus numeric flags with defaults.
 *
 * @param args Command-line arguments.
 * @param defaults The scenario's numeric flags and defaults.
 * @returns What the scenario needs.
 */
export function parseScenarioArgs(
  args: string[],
  defaults: Record<string, number>,
): ScenarioCli {
  const options: Record<string, { type: "string" }> = {
    host: { type: "string" },
    port: { type: "string" },
    domain: { type: "string" },
    prefix: { type: "string" },
    password: { type: "string" },
    mechanism: { type: "string" },
    "server-pid": { type: "string" },
    "key-cache": { type: "string" },
    steps: { type: "string" },
  };
  for (const name of Object.keys(defaults)) options[name] = { type: "string" };
  const { values } = parseArgs({ args, options, strict: true });
  const value = (name: string) => values[name] as string | undefined;
  const mechanism = (value("mechanism") ?? "SCRAM-SHA-1") as Mechanism;
  if (!MECHANISMS.includes(mechanism)) {
    throw new RangeError(`Cannot run: unknown mechanism '${mechanism}'`);
  }
  const port = Number(value("port") ?? 5222);
  const numbers: Record<string, number> = {};
  for (const [name, fallback] of Object.entries(defaults)) {
    const text = value(name);
    const parsed = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(parsed)) throw new RangeError(`Cannot run: '--${name}' is '${text}'`);
    numbers[name] = parsed;
  }
  const pid = value("server-pid");
  const steps = value("steps")?.split(",").map(Number);
  if (steps?.some((n) => !(n > 0))) {
    throw new RangeError(`Cannot run: '--steps' is '${value("steps")}'`);
  }
  return {
    steps,
    keyCachePath: value("key-cache"),
    target: {
      host: value("host") ?? "127.0.0.1",
      port,
      domain: value("domain") ?? "localhost",
      prefix: value("prefix") ?? "bench",
      password: value("password") ?? "bench-secret",
      mechanism,
      cache: new Map(),
    },
    probe: pid === undefined ? NO_PROBE : processProbe(Number(pid)),
    numbers,
  };
}

/** Prints one JSON line on stdout. */
export function printLine(line: Record<string, unknown>): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(line) + "\n"));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a scenario as a program: parses the flags, loads and saves the SCRAM
 * key cache, and prints its one JSON line (or an error line, exit code 1).
 *
 * @param scenario The scenario name, for the error line.
 * @param defaults Its numeric flags and defaults.
 * @param run Runs it.
 */
export async function scenarioMain(
  scenario: string,
  defaults: Record<string, number>,
  run: (cli: ScenarioCli) => Promise<Record<string, unknown>>,
): Promise<void> {
  try {
    const cli = parseScenarioArgs(Deno.args, defaults);
    if (cli.keyCachePath !== undefined) await loadKeyCache(cli.keyCachePath, cli.target.cache);
    const line = await run(cli);
    if (cli.keyCachePath !== undefined) await saveKeyCache(cli.keyCachePath, cli.target.cache);
    printLine(line);
  } catch (error) {
    printLine({ scenario, error: String(error), usage: COMMON_USAGE });
    Deno.exitCode = 1;
  }
  // Sockets a server never closes (a flood it ignores) must not keep the process alive.
  Deno.exit();
}

/**
 * Fills `cache` from a key cache file written by an earlier run, if there is one.
 *
 * @param path The file.
 * @param cache The cache to fill.
 */
export async function loadKeyCache(path: string, cache: ScramKeyCache): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const entries = JSON.parse(text) as [string, string, string][];
  for (const [key, clientKey, serverKey] of entries) {
    cache.set(key, {
      clientKey: Buffer.from(clientKey, "base64"),
      serverKey: Buffer.from(serverKey, "base64"),
    });
  }
}

async function saveKeyCache(path: string, cache: ScramKeyCache): Promise<void> {
  const entries = [...cache].map(([key, keys]) => [
    key,
    Buffer.from(keys.clientKey).toString("base64"),
    Buffer.from(keys.serverKey).toString("base64"),
  ]);
  await Deno.writeTextFile(path + ".tmp", JSON.stringify(entries));
  await Deno.rename(path + ".tmp", path);
}
