/**
 * Many logged-in connections at once: accounts `<prefix><n>`, each from its
 * own loopback source address (so per-IP limits see one client per address,
 * as on the Internet), with a bounded number of logins in flight.
 *
 * @module
 */

import { type ConnectOptions, type Target, XmppConnection } from "./connection.ts";
import { login, type Mechanism } from "./login.ts";
import { LatencyRecorder } from "./metrics.ts";
import type { ScramKeyCache } from "./scram_client.ts";

/** Everything a scenario needs to reach and log in to a server. */
export interface BenchTarget extends Target {
  /** Account localparts are `prefix + n`, n from 1. */
  prefix: string;
  /** The password of every bench account. */
  password: string;
  /** SASL mechanism for logins. */
  mechanism: Mechanism;
  /** Shared SCRAM key cache. */
  cache: ScramKeyCache;
}

/** Source-address pools: legitimate clients, attackers, the connection flood. */
export type AddressPool = "legit" | "attack" | "flood";

const POOL_OCTET: Record<AddressPool, number> = { legit: 1, attack: 2, flood: 3 };

/**
 * The loopback source address of client `n` of a pool: 127.<pool>.x.y.
 *
 * @param pool Which pool.
 * @param n Client number (0-based, < 62,500).
 * @returns An address in 127.0.0.0/8.
 *
 * @example Usage
 * ```ts
 * import { sourceAddress } from "./sessions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sourceAddress("legit", 0), "127.1.0.1");
 * assert.equal(sourceAddress("attack", 251), "127.2.1.2");
 * ```
 */
export function sourceAddress(pool: AddressPool, n: number): string {
  return `127.${POOL_OCTET[pool]}.${Math.floor(n / 250)}.${1 + (n % 250)}`;
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` at once.
 *
 * @param count How many tasks.
 * @param concurrency How many at once.
 * @param task The task.
 * @returns When all have settled.
 */
export async function runPool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) await task(next++);
  }
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker));
}

/** Options for {@linkcode openSessions}. */
export interface OpenSessionsOptions {
  /** First account number. @default {1} */
  first?: number;
  /** Logins in flight. @default {100} */
  concurrency?: number;
  /** Resource to bind. @default {"bench"} */
  resource?: string;
  /** Source-address pool. @default {"legit"} */
  pool?: AddressPool;
  /** Offset into the pool's addresses. @default {0} */
  addressOffset?: number;
  /** Mechanism override. */
  mechanism?: Mechanism;
  /** Send initial presence. @default {true} */
  presence?: boolean;
  /** Per-reply timeout. @default {15000} */
  timeoutMs?: number;
}

/** What {@linkcode openSessions} returns. */
export interface OpenedSessions {
  /** Connections by position (undefined where the login failed). */
  connections: (XmppConnection | undefined)[];
  /** Bound JIDs by position. */
  jids: (string | undefined)[];
  /** Connect-to-bound latency of successful logins. */
  latency: LatencyRecorder;
  /** Failed logins. */
  failures: number;
  /** The first few failure messages. */
  errors: string[];
  /** Wall time of the whole batch, ms. */
  elapsedMs: number;
}

/**
 * Logs in `count` accounts.
 *
 * @param target The server and credentials.
 * @param count How many accounts.
 * @param options Numbering, concurrency, resource and address pool.
 * @returns The connections and login statistics.
 */
export async function openSessions(
  target: BenchTarget,
  count: number,
  options: OpenSessionsOptions = {},
): Promise<OpenedSessions> {
  const first = options.first ?? 1;
  const result: OpenedSessions = {
    connections: new Array(count),
    jids: new Array(count),
    latency: new LatencyRecorder(),
    failures: 0,
    errors: [],
    elapsedMs: 0,
  };
  const started = performance.now();
  await runPool(count, options.concurrency ?? 100, async (i) => {
    const t0 = performance.now();
    const connect: ConnectOptions = {
      localAddress: sourceAddress(options.pool ?? "legit", (options.addressOffset ?? 0) + i),
    };
    let conn: XmppConnection | undefined;
    try {
      conn = await XmppConnection.connect(target, connect);
      const jid = await login(conn, {
        username: target.prefix + (first + i),
        password: target.password,
        mechanism: options.mechanism ?? target.mechanism,
        resource: options.resource ?? "bench",
        cache: target.cache,
        presence: options.presence ?? true,
        timeoutMs: options.timeoutMs ?? 15_000,
      });
      result.latency.add(performance.now() - t0);
      result.connections[i] = conn;
      result.jids[i] = jid;
    } catch (error) {
      conn?.destroy();
      result.failures++;
      if (result.errors.length < 5) {
        result.errors.push(error instanceof Error ? error.message.slice(0, 300) : String(error));
      }
    }
  });
  result.elapsedMs = performance.now() - started;
  return result;
}

/**
 * Closes connections politely and waits (bounded) for the sockets to go.
 *
 * @param connections The connections.
 * @param waitMs Longest wait. @default {5000}
 */
export async function closeAll(
  connections: readonly (XmppConnection | undefined)[],
  waitMs = 5000,
): Promise<void> {
  const open = connections.filter((c): c is XmppConnection => c !== undefined && !c.closed);
  for (const conn of open) conn.end();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(open.map((c) => c.whenClosed())),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs))),
  ]);
  clearTimeout(timer);
  for (const conn of open) conn.destroy();
}
