/**
 * What the runner needs of any server under test, and the process plumbing
 * shared by the launchers: free loopback ports, waiting for a listener,
 * child processes with logs in files, and stopping exactly the process the
 * launcher started.
 *
 * @module
 */

import { processProbe, type ServerProbe } from "../loadgen/process_stats.ts";

/** A server started for a benchmark run. */
export interface BenchServer extends AsyncDisposable {
  /** Short name for tables: "xmppd", "prosody", "ejabberd". */
  readonly name: string;
  /** Version string. */
  readonly version: string;
  /** Loopback c2s port (plain, no TLS required). */
  readonly port: number;
  /** The started process. */
  readonly pid: number;
  /** CPU, RSS and descriptors of the server. */
  readonly probe: ServerProbe;
  /** Stops the server and waits for the process to exit. */
  stop(): Promise<void>;
}

/** Per-connection read budget, set the same way on every server. */
export interface Bandwidth {
  /** Sustained rate, KiB per second. */
  rateKiB: number;
  /** Burst, KiB. */
  burstKiB: number;
}

/** The limit the scenarios run with (S4, S5 and the logins): XEP-0205 karma on. */
export const LIMITED: Bandwidth = { rateKiB: 64, burstKiB: 256 };

/**
 * For S2 (throughput): high enough that no sender is paced by it, so the
 * server, not its rate limit, is measured.
 */
export const THROUGHPUT: Bandwidth = { rateKiB: 4096, burstKiB: 16384 };

/**
 * Where the runner keeps configs, data and logs between runs
 * (`XMPPD_BENCH_DIR` overrides it, so that runs from several work trees at
 * once do not overwrite each other's server config and profiles).
 */
export const WORK_DIR = Deno.env.get("XMPPD_BENCH_DIR") ?? "/tmp/xmppd-bench";

/**
 * A TCP port that was free on 127.0.0.1 a moment ago.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Waits until something accepts TCP connections on 127.0.0.1:`port`.
 *
 * @param port The port.
 * @param timeoutMs Longest wait.
 * @param alive Returns false once the server process has died.
 * @throws {Error} On timeout or when the process dies.
 */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!alive()) throw new Error(`Cannot start the server: it exited before listening`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`Cannot start the server: nothing listens on port ${port} after ${timeoutMs} ms`);
}

/** A started child process whose output goes to a log file. */
export interface Child {
  readonly pid: number;
  readonly exited: boolean;
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends a signal to this process (by its id) and waits up to `graceMs`, then SIGKILLs it. */
  stop(signal?: Deno.Signal, graceMs?: number): Promise<void>;
}

/**
 * Spawns a command with stdout and stderr appended to `logPath`.
 *
 * @param command The program.
 * @param args Its arguments.
 * @param logPath Log file.
 * @param options Working directory and extra environment.
 * @returns The child.
 */
export function spawnLogged(
  command: string,
  args: string[],
  logPath: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Child {
  const log = Deno.openSync(logPath, { create: true, append: true });
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  }).spawn();
  const copies = [child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream) log.writeSync(chunk);
  });
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await Promise.allSettled(copies);
    log.close();
    return s;
  });
  return {
    pid: child.pid,
    get exited() {
      return exited;
    },
    status,
    async stop(signal: Deno.Signal = "SIGTERM", graceMs = 10_000) {
      if (exited) return;
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        status.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!done) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        await status;
      }
    },
  };
}

/**
 * A probe for a child (and its descendants).
 *
 * @param pid The child's id.
 * @returns The probe.
 */
export function childProbe(pid: number): ServerProbe {
  return processProbe(pid);
}

/**
 * Runs a command to completion and returns its stdout.
 *
 * @param command The program.
 * @param args Its arguments.
 * @returns Trimmed stdout, or `undefined` if it failed to run.
 */
export async function commandOutput(command: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    return (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
  } catch {
    return undefined;
  }
}

/**
 * Whether an executable exists on PATH.
 *
 * @param name The program name.
 * @returns Its path, or `undefined`.
 */
export async function which(name: string): Promise<string | undefined> {
  const out = await commandOutput("sh", ["-c", `command -v ${name}`]);
  return out === undefined || out === "" ? undefined : out;
}
