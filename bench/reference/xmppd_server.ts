/**
 * Starts this repository's server as a child process (`deno run
 * src/cli/main.ts --config FILE`) on loopback with the bench settings: plain
 * c2s without a TLS requirement, SCRAM-SHA-1/SHA-256 and PLAIN, accounts in
 * SQLite prepared once (salted keys only, 4096 iterations), logs at `warn`,
 * and the XEP-0205 limits on with the defaults except the per-connection
 * bandwidth (64 KiB/s with a 256 KiB burst; for S2 one that paces no sender).
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { createAccountRecord } from "../../src/auth/credentials.ts";
import { SqliteAccountStore } from "../../src/storage/sqlite_account_store.ts";
import {
  type Bandwidth,
  type BenchServer,
  childProbe,
  freePort,
  LIMITED,
  spawnLogged,
  waitForPort,
  WORK_DIR,
} from "./bench_server.ts";

/** Options for {@linkcode startXmppd}. */
export interface XmppdOptions {
  /** Bench accounts `prefix1` to `prefix<accounts>`. */
  accounts: number;
  /** Account prefix. */
  prefix: string;
  /** Password of every bench account. */
  password: string;
  /** Repository root. */
  root: string;
  /** Per-connection bandwidth. @default {LIMITED} */
  bandwidth?: Bandwidth;
  /** Write a V8 CPU profile (`--cpu-prof`) into this directory when the server exits. */
  cpuProfileDir?: string;
}

/**
 * Creates (once; reused while it has enough accounts) the SQLite database of bench accounts.
 *
 * @param options Count, prefix and password.
 * @returns The database path.
 */
export async function prepareXmppdAccounts(options: XmppdOptions): Promise<string> {
  const dir = `${WORK_DIR}/xmppd`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/accounts-${options.prefix}-${options.password.length}.db`;
  const marker = `${path}.count`;
  let have = 0;
  try {
    have = Number(await Deno.readTextFile(marker));
  } catch {
    // not yet prepared
  }
  if (have >= options.accounts) return path;
  const store = new SqliteAccountStore(path);
  try {
    const batch = 16;
    for (let n = have + 1; n <= options.accounts; n += batch) {
      const records = await Promise.all(
        Array.from(
          { length: Math.min(batch, options.accounts - n + 1) },
          (_, k) => createAccountRecord(options.prefix + (n + k), options.password),
        ),
      );
      for (const record of records) await store.put(record);
    }
  } finally {
    store.close();
  }
  await Deno.writeTextFile(marker, String(options.accounts));
  return path;
}

/**
 * The YAML configuration the bench runs this server with.
 *
 * @param port The c2s port.
 * @param database The accounts database.
 * @param bandwidth Per-connection bandwidth.
 * @returns YAML text.
 */
export function xmppdConfig(
  port: number,
  database: string,
  bandwidth: Bandwidth = LIMITED,
): string {
  return `# Written by bench/reference/xmppd_server.ts
domain: localhost
listen:
  - { type: c2s, host: 127.0.0.1, port: ${port} }
tls: { required: false }
auth:
  mechanisms: [SCRAM-SHA-1, SCRAM-SHA-256, PLAIN]
  allow_plain_without_tls: true
storage: { type: sqlite, path: ${database} }
log: { level: warn }
limits:
  stanza_size: 256KiB
  offline_messages_per_account: 0
  bandwidth: { rate: ${bandwidth.rateKiB}KiB/s, burst: ${bandwidth.burstKiB}KiB }
`;
}

/**
 * The `--v8-flags=…` arguments of the `start` task in deno.json, so that the
 * bench runs the server as operators do.
 *
 * @returns The arguments, e.g. `["--v8-flags=--max-semi-space-size=8"]`.
 */
export function startTaskV8Flags(): string[] {
  return denoJson.tasks.start.split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
}

/**
 * Starts the server.
 *
 * @param options Accounts and repository root.
 * @returns The running server.
 */
export async function startXmppd(options: XmppdOptions): Promise<BenchServer> {
  const database = await prepareXmppdAccounts(options);
  const dir = `${WORK_DIR}/xmppd`;
  const port = freePort();
  const configPath = `${dir}/xmppd.yaml`;
  await Deno.writeTextFile(configPath, xmppdConfig(port, database, options.bandwidth));
  const child = spawnLogged(
    Deno.execPath(),
    [
      "run",
      "-A",
      // The runtime flags `deno task start` (and the compiled binary) use.
      ...startTaskV8Flags(),
      ...(options.cpuProfileDir !== undefined
        ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`]
        : []),
      `${options.root}/src/cli/main.ts`,
      "--config",
      configPath,
    ],
    `${dir}/xmppd.log`,
    { cwd: options.root },
  );
  try {
    await waitForPort(port, 30_000, () => !child.exited);
  } catch (error) {
    await child.stop("SIGKILL");
    throw error;
  }
  const stop = () => child.stop("SIGTERM", 10_000);
  return {
    name: "xmppd",
    version: `xmppd (Deno ${Deno.version.deno})`,
    port,
    pid: child.pid,
    probe: childProbe(child.pid),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
