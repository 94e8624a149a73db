/**
 * The attackers of S4 in a process of their own: logs `--count` accounts in
 * (after the legitimate ones, from the attack address pool), prints
 * `{"ready":true}` once the server has answered a ping on each (their logins
 * and initial presence processed), waits for one line on stdin, floods for `--seconds` with
 * `--attack`, then prints `{"bytes":…,"disconnected":…}` and exits.
 *
 * Run by S4 (`s4_under_attack.ts`) at the lowest priority, so that on a shared machine
 * the flood's sending costs the load generator's measuring process and the
 * server as little CPU as possible: real attackers are remote.
 *
 * @module
 */

import type { XmppConnection } from "../loadgen/connection.ts";
import { attribute } from "../loadgen/framer.ts";
import { openSessions } from "../loadgen/sessions.ts";
import { loadKeyCache, parseScenarioArgs, printLine } from "./_cli.ts";
import { type Attack, ATTACKS } from "./s4_under_attack.ts";

/** An attack of S4 (every phase but the baseline). */
type FloodAttack = Exclude<Attack, "none">;

const FLOOD_ATTACKS = ATTACKS.filter((attack): attack is FloodAttack => attack !== "none");

const OVERSIZE_LIMIT = 64 * 1024 * 1024;

/**
 * Floods one connection with `attack` until `until` (performance.now ms).
 *
 * @param conn The attacker's connection.
 * @param to The recipient.
 * @param attack What to send.
 * @param until When to stop.
 * @returns Bytes written.
 */
async function flood(
  conn: XmppConnection,
  to: string,
  attack: FloodAttack,
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
 * Waits for the server's answer to a ping: everything sent on `conn` before
 * it, such as the initial presence, has been processed by then.
 *
 * @param conn A logged-in connection.
 */
async function settled(conn: XmppConnection): Promise<void> {
  conn.send("<iq type='get' id='settle'><ping xmlns='urn:xmpp:ping'/></iq>");
  while (attribute(await conn.next(), "id") !== "settle") {
    // The presence the server echoes, and the like.
  }
}

async function readLine(): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done || value.includes(10)) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Lowers the priority of this process's scheduler autogroup (Linux, when
 * autogroups are on): processes of other sessions, the server and the load
 * generator, then go first, as they would if the attackers were remote.
 * Without autogroups `nice` alone does that, and this does nothing.
 */
function yieldToOtherSessions(): void {
  try {
    Deno.writeTextFileSync("/proc/self/autogroup", "19");
  } catch {
    // No autogroups here (or not Linux): `nice` is enough.
  }
}

if (import.meta.main) {
  yieldToOtherSessions();
  const at = Deno.args.indexOf("--attack");
  const attack = FLOOD_ATTACKS.find((name) => name === Deno.args[at + 1]);
  if (at < 0 || attack === undefined) {
    throw new RangeError(`Cannot flood: '--attack' must be one of ${FLOOD_ATTACKS.join(", ")}`);
  }
  const args = Deno.args.toSpliced(at, 2);
  const cli = parseScenarioArgs(args, { first: 101, count: 20, seconds: 5 });
  if (cli.keyCachePath !== undefined) await loadKeyCache(cli.keyCachePath, cli.target.cache);
  const count = cli.numbers.count!;
  const opened = await openSessions(cli.target, count, {
    first: cli.numbers.first!,
    pool: "attack",
    concurrency: count,
  });
  // The flood starts from settled sessions: their logins, initial presence
  // included, are not part of the attack measured.
  await Promise.all(opened.connections.map((conn) => conn === undefined ? 0 : settled(conn)));
  for (const conn of opened.connections) conn?.discardInput();
  printLine({ ready: true, logged_in: opened.connections.filter((c) => c !== undefined).length });
  await readLine();
  const until = performance.now() + cli.numbers.seconds! * 1000;
  const sent = await Promise.all(opened.connections.map((conn, i) => {
    const to = opened.jids[(i + 1) % count];
    return conn === undefined || to === undefined ? 0 : flood(conn, to, attack, until);
  }));
  const disconnected = opened.connections.filter((c) => c !== undefined && c.closed).length;
  printLine({ bytes: sent.reduce((a, b) => a + b, 0), disconnected });
  for (const conn of opened.connections) conn?.destroy();
  Deno.exit(0);
}
