/**
 * The `xmppd` command line: run the server (SIGHUP reloads the configuration
 * file, SIGINT/SIGTERM stop it gracefully), manage accounts, check a
 * configuration, drill its limits. `deno task start` and the compiled binary
 * both run this module.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../../deno.json" with { type: "json" };
import { loadConfigFile } from "../config/load_yaml.ts";
import { resolveConfig, type ServerConfig } from "../config/schema.ts";
import { createAccountRecord } from "../auth/credentials.ts";
import { systemTimers, type TimerId } from "../core/clock.ts";
import { Logger, type LogSink } from "../core/log.ts";
import { Jid } from "../jid/jid.ts";
import { MemoryAccountStore } from "../storage/memory_account_store.ts";
import { SqliteAccountStore } from "../storage/sqlite_account_store.ts";
import type { AccountStore } from "../storage/account_store.ts";
import { XmppServer } from "../server.ts";
import { formatDrillReport, runDrill } from "./drill.ts";
import { describeLimits, describeServer } from "./limits_table.ts";
import { formatTable } from "./text_table.ts";

/** The package version (from `deno.json`), printed by `--version`. */
export const VERSION: string = denoJson.version;

/** A process signal as the server acts on it: SIGHUP reloads, SIGINT and SIGTERM stop. */
export type CliSignal = "reload" | "stop";

/** Where the CLI writes and which signals it listens to. */
export interface CliIo {
  /** Normal output (stdout). */
  out(line: string): void;
  /** Error output (stderr). */
  err(line: string): void;
  /**
   * Subscribes to process signals while the server runs.
   *
   * @returns What unsubscribes.
   */
  signals(handler: (signal: CliSignal) => void): Disposable;
  /** Called once the server listens (tests use it to reach the server). */
  onStarted?(server: XmppServer): void;
  /** Where the server's log lines go. @default stderr */
  log?: LogSink;
}

/** Configuration keys whose values never reach output: passwords and the admin token. */
const SECRET_KEYS = new Set(["password", "token"]);

/** Time a stopping server gets beyond `timeouts.shutdown` before the process gives up on it. */
const STOP_MARGIN_MS = 2000;

const USAGE = `Usage:
  xmppd [--config FILE]                  run the server (embedded defaults without --config)
                                         SIGHUP reloads FILE; SIGINT/SIGTERM stop gracefully
  xmppd adduser JID PASSWORD [--config FILE]
  xmppd deluser JID [--config FILE]
  xmppd passwd JID PASSWORD [--config FILE]
  xmppd check-config FILE [--json]       validate FILE and print the effective limits
  xmppd drill FILE [--burst N]           attack throwaway servers built from FILE and check
                                         that every limit triggers as configured (exit 1 if not)
  xmppd example-config [--hardened]      print the reference (or hardened) configuration
  xmppd --version`;

const SIGNALS: [Deno.Signal, CliSignal][] = [
  ["SIGHUP", "reload"],
  ["SIGINT", "stop"],
  ["SIGTERM", "stop"],
];

function systemIo(): CliIo {
  return {
    // deno-lint-ignore no-console -- the command line's own output
    out: (line) => console.log(line),
    // deno-lint-ignore no-console -- the command line's own output
    err: (line) => console.error(line),
    signals(handler) {
      const added: [Deno.Signal, () => void][] = [];
      for (const [signal, meaning] of SIGNALS) {
        const listener = () => handler(meaning);
        try {
          Deno.addSignalListener(signal, listener);
          added.push([signal, listener]);
        } catch {
          // Not every platform has every signal (Windows has no SIGHUP).
        }
      }
      return {
        [Symbol.dispose]() {
          for (const [signal, listener] of added) Deno.removeSignalListener(signal, listener);
        },
      };
    },
  };
}

async function loadConfig(path: string | undefined): Promise<ServerConfig> {
  return path === undefined ? resolveConfig({}) : await loadConfigFile(path);
}

function openStore(config: ServerConfig): AccountStore {
  return config.storage.type === "memory"
    ? new MemoryAccountStore()
    : new SqliteAccountStore(config.storage.path);
}

function usernameOf(jid: string, config: ServerConfig): string {
  const parsed = Jid.parse(jid.includes("@") ? jid : jid + "@" + config.domain);
  if (parsed.local === undefined || parsed.domain !== config.domain) {
    throw new TypeError(`Cannot manage account '${jid}': it is not on domain '${config.domain}'`);
  }
  return parsed.local;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Runs the command line.
 *
 * @param args The arguments after the program name.
 * @param io Output and signals. @default the process's
 * @returns The exit code: 0 success, 1 failure (or a failed drill), 2 usage error.
 *
 * @example Usage
 * ```ts
 * import { main, VERSION } from "./main.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const code = await main(["--version"], {
 *   out: (line) => lines.push(line),
 *   err: () => {},
 *   signals: () => ({ [Symbol.dispose]() {} }),
 * });
 * assert.equal(code, 0);
 * assert.deepEqual(lines, [`xmppd ${VERSION}`]);
 * ```
 */
export async function main(args: string[], io: CliIo = systemIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
        burst: { type: "string" },
        hardened: { type: "boolean" },
      },
    });
  } catch (error) {
    io.err(error instanceof Error ? error.message : String(error));
    io.err(USAGE);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(`xmppd ${VERSION}`);
    return 0;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  try {
    switch (command) {
      case undefined:
      case "start":
        return await runServer(values.config, io);
      case "adduser":
      case "passwd":
        return await setPassword(command, rest, values.config, io);
      case "deluser":
        return await deleteUser(rest, values.config, io);
      case "check-config":
        return await checkConfig(rest[0] ?? values.config, values.json === true, io);
      case "drill":
        return await drill(rest[0] ?? values.config, values.burst, io);
      case "example-config":
        return await exampleConfig(values.hardened === true, io);
      default:
        io.err(`Unknown command '${command}'`);
        io.err(USAGE);
        return 2;
    }
  } catch (error) {
    io.err(describeError(error));
    return 1;
  }
}

async function runServer(configPath: string | undefined, io: CliIo): Promise<number> {
  const config = await loadConfig(configPath);
  const server = new XmppServer(
    config,
    io.log === undefined ? {} : {
      logger: new Logger({ level: config.log.level, format: config.log.format, sink: io.log }),
    },
  );
  await server.start();
  for (const { type, hostname, port } of server.addresses) {
    io.out(`Listening: ${type} on ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`);
  }
  io.onStarted?.(server);

  const stop = Promise.withResolvers<void>();
  const force = Promise.withResolvers<"forced">();
  let stopping = false;
  let reloads = Promise.resolve();
  const reload = async (path: string) => {
    try {
      // The server logs `config-reloaded` itself.
      await server.reload(await loadConfigFile(path));
    } catch (error) {
      server.log.error("config-reload-failed", {
        path,
        error: describeError(error),
        outcome: "the configuration in force is kept",
      });
    }
  };
  using _signals = io.signals((signal) => {
    if (signal === "stop") {
      // A second stop signal while stopping gives up waiting for streams.
      if (stopping) force.resolve("forced");
      stopping = true;
      stop.resolve();
    } else if (!stopping) {
      if (configPath === undefined) {
        server.log.warn("config-reload-skipped", { reason: "started without --config" });
      } else {
        reloads = reloads.then(() => reload(configPath));
      }
    }
  });
  await stop.promise;
  server.log.info("stopping", { shutdown_ms: server.config.timeouts.shutdown });
  await reloads;
  let timer: TimerId | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = systemTimers.set(
      () => resolve("timeout"),
      server.config.timeouts.shutdown + STOP_MARGIN_MS,
    );
  });
  const outcome = await Promise.race([
    server.stop().then(() => "stopped" as const),
    deadline,
    force.promise,
  ]);
  systemTimers.clear(timer);
  if (outcome !== "stopped") {
    server.log.error("stop-incomplete", {
      reason: outcome === "forced" ? "second signal" : "timeout",
    });
    return 1;
  }
  server.log.info("stopped", {});
  return 0;
}

async function setPassword(
  command: "adduser" | "passwd",
  rest: string[],
  configPath: string | undefined,
  io: CliIo,
): Promise<number> {
  const [jid, password] = rest;
  if (jid === undefined || password === undefined) {
    io.err(`Usage: xmppd ${command} JID PASSWORD [--config FILE]`);
    return 2;
  }
  const config = await loadConfig(configPath);
  const username = usernameOf(jid, config);
  const store = openStore(config);
  try {
    const exists = (await store.get(username)) !== undefined;
    if (command === "passwd" && !exists) {
      io.err(`No account '${username}@${config.domain}'`);
      return 1;
    }
    await store.put(
      await createAccountRecord(username, password, { iterations: config.auth.scram_iterations }),
    );
    io.out(
      `${command === "adduser" && !exists ? "Created" : "Updated"} ${username}@${config.domain}`,
    );
    return 0;
  } finally {
    store.close();
  }
}

async function deleteUser(
  rest: string[],
  configPath: string | undefined,
  io: CliIo,
): Promise<number> {
  const [jid] = rest;
  if (jid === undefined) {
    io.err("Usage: xmppd deluser JID [--config FILE]");
    return 2;
  }
  const config = await loadConfig(configPath);
  const username = usernameOf(jid, config);
  const store = openStore(config);
  try {
    if (!(await store.delete(username))) {
      io.err(`No account '${username}@${config.domain}'`);
      return 1;
    }
    io.out(`Deleted ${username}@${config.domain}`);
    return 0;
  } finally {
    store.close();
  }
}

async function checkConfig(path: string | undefined, json: boolean, io: CliIo): Promise<number> {
  if (path === undefined) {
    io.err("Usage: xmppd check-config FILE [--json]");
    return 2;
  }
  const config = await loadConfigFile(path);
  if (json) {
    // Passwords never reach output or logs.
    io.out(JSON.stringify(config, (key, value) => SECRET_KEYS.has(key) ? "(redacted)" : value, 2));
    return 0;
  }
  io.out(`Configuration OK: ${path}`);
  io.out("");
  for (const line of formatTable(["setting", "value"], describeServer(config))) io.out(line);
  io.out("");
  io.out("Effective limits (XEP-0205):");
  const rows = describeLimits(config.limits).map((row) => [row.key, row.value, row.mode]);
  for (const line of formatTable(["limit", "value", "mode"], rows)) io.out(line);
  return 0;
}

async function drill(
  path: string | undefined,
  burst: string | undefined,
  io: CliIo,
): Promise<number> {
  if (path === undefined) {
    io.err("Usage: xmppd drill FILE [--burst N]");
    return 2;
  }
  const clients = burst === undefined ? undefined : Number(burst);
  if (clients !== undefined && !(Number.isInteger(clients) && clients >= 2 && clients <= 500)) {
    io.err(`Cannot drill: '--burst' must be an integer from 2 to 500, got '${burst}'`);
    return 2;
  }
  const config = await loadConfigFile(path);
  io.out(`Drilling the limits of ${path} on throwaway loopback servers...`);
  io.out("");
  const report = await runDrill(config, clients === undefined ? {} : { burst: clients });
  for (const line of formatDrillReport(report)) io.out(line);
  return report.ok ? 0 : 1;
}

async function exampleConfig(hardened: boolean, io: CliIo): Promise<number> {
  const name = hardened ? "hardened.yaml" : "config.yaml";
  // Embedded in the compiled binary by `deno task compile` (--include).
  const text = await Deno.readTextFile(new URL(`../../examples/${name}`, import.meta.url));
  io.out(text.trimEnd());
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
