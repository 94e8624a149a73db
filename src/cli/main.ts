/**
 * The `xmppd` command line: run the server, manage accounts, check a
 * configuration. `deno task start` and the compiled binary both run this.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadConfigFile } from "../config/load_yaml.ts";
import { resolveConfig, type ServerConfig } from "../config/schema.ts";
import { createAccountRecord } from "../auth/credentials.ts";
import { Jid } from "../jid/jid.ts";
import { MemoryAccountStore } from "../storage/memory_account_store.ts";
import { SqliteAccountStore } from "../storage/sqlite_account_store.ts";
import type { AccountStore } from "../storage/account_store.ts";
import { XmppServer } from "../server.ts";

/** The package version, printed by `--version`. */
export const VERSION = "0.1.0";

/** Where the CLI writes and what it runs until. */
export interface CliIo {
  /** Normal output. */
  out(line: string): void;
  /** Error output. */
  err(line: string): void;
  /** Resolves when the process should stop (SIGINT/SIGTERM). */
  stopSignal(): Promise<void>;
  /** Called once the server listens (tests use it to find ports). */
  onStarted?(server: XmppServer): void;
}

const USAGE = `Usage:
  xmppd [--config FILE]                  run the server (embedded defaults without --config)
  xmppd adduser JID PASSWORD [--config FILE]
  xmppd deluser JID [--config FILE]
  xmppd passwd JID PASSWORD [--config FILE]
  xmppd check-config FILE                validate and print the effective configuration
  xmppd --version`;

function systemIo(): CliIo {
  return {
    // deno-lint-ignore no-console -- the command line's own output
    out: (line) => console.log(line),
    // deno-lint-ignore no-console -- the command line's own output
    err: (line) => console.error(line),
    stopSignal: () =>
      new Promise<void>((resolve) => {
        Deno.addSignalListener("SIGINT", () => resolve());
        Deno.addSignalListener("SIGTERM", () => resolve());
      }),
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

/**
 * Runs the command line.
 *
 * @param args The arguments after the program name.
 * @param io Output and the stop signal. @default the process's
 * @returns The exit code.
 *
 * @example Usage
 * ```ts
 * import { main, VERSION } from "./main.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const code = await main(["--version"], {
 *   out: (line) => lines.push(line), err: () => {}, stopSignal: () => Promise.resolve(),
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
        return await checkConfig(rest[0] ?? values.config, io);
      default:
        io.err(`Unknown command '${command}'`);
        io.err(USAGE);
        return 2;
    }
  } catch (error) {
    io.err(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return 1;
  }
}

async function runServer(configPath: string | undefined, io: CliIo): Promise<number> {
  const config = await loadConfig(configPath);
  const server = new XmppServer(config);
  await server.start();
  io.onStarted?.(server);
  await io.stopSignal();
  await server.stop();
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

async function checkConfig(path: string | undefined, io: CliIo): Promise<number> {
  if (path === undefined) {
    io.err("Usage: xmppd check-config FILE");
    return 2;
  }
  const config = await loadConfigFile(path);
  // Passwords never reach output or logs.
  io.out(JSON.stringify(config, (key, value) => key === "password" ? "(redacted)" : value, 2));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
