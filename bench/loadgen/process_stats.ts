/**
 * CPU time, resident memory and open descriptors of a server process (and
 * its descendants, for servers started through wrapper scripts such as
 * `ejabberdctl`), read from Linux `/proc`.
 *
 * @module
 */

import process from "node:process";

/** Kernel clock ticks per second for `utime`/`stime` (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may contain spaces: fields follow the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/**
 * The process and every descendant that is alive now.
 *
 * @param root The process id.
 * @returns Ids, the root first.
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [pid]);
    else list.push(pid);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const child of children.get(pid) ?? []) stack.push(child);
  }
  return out;
}

/**
 * User plus system CPU time consumed so far, in milliseconds.
 *
 * @param pids The processes (see {@linkcode processTree}).
 * @returns Milliseconds of CPU.
 *
 * @example Usage
 * ```ts
 * import { cpuMs } from "./process_stats.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(cpuMs([Deno.pid]) >= 0);
 * ```
 */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0;
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * Resident set size, in bytes.
 *
 * @param pids The processes.
 * @returns The summed VmRSS.
 *
 * @example Usage
 * ```ts
 * import { rssBytes } from "./process_stats.ts";
 * import assert from "node:assert/strict";
 *
 * // Processes that cannot be read (gone, or not permitted) count as 0.
 * assert.equal(rssBytes([]), 0);
 * ```
 */
export function rssBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/**
 * Open file descriptors.
 *
 * @param pids The processes.
 * @returns The summed count.
 */
export function openFds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) total++;
    } catch {
      // gone
    }
  }
  return total;
}

/** How a scenario observes the server it loads. */
export interface ServerProbe {
  /** CPU milliseconds consumed so far. */
  cpuMs(): number;
  /** Resident bytes now, if known. */
  rssBytes(): number | undefined;
  /** Open descriptors now, if known. */
  openFds(): number | undefined;
  /** How CPU is measured, for the report. */
  readonly method: string;
}

/**
 * A probe for a server running as another process (and its children).
 *
 * @param pid The server's process id.
 * @returns The probe.
 */
export function processProbe(pid: number): ServerProbe {
  let tree = processTree(pid);
  let refreshed = performance.now();
  const pids = () => {
    if (performance.now() - refreshed > 5000) {
      tree = processTree(pid);
      refreshed = performance.now();
    }
    return tree;
  };
  return {
    cpuMs: () => cpuMs(pids()),
    rssBytes: () => rssBytes(pids()),
    openFds: () => openFds(pids()),
    method: "/proc/<pid>/stat utime+stime of the server process tree",
  };
}

/**
 * A probe for a server in this very process: CPU and memory include the
 * load generator (only good for sanity checks).
 *
 * @returns The probe.
 */
export function selfProbe(): ServerProbe {
  // This process's own figures come from the runtime, not /proc: reading
  // /proc/<pid> needs more than the test task's --allow-read.
  return {
    cpuMs: () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    },
    rssBytes: () => Deno.memoryUsage().rss,
    openFds: () => openFds([Deno.pid]),
    method: "this process (server and load generator together)",
  };
}

/** A probe that knows nothing (the server is elsewhere). */
export const NO_PROBE: ServerProbe = {
  cpuMs: () => Number.NaN,
  rssBytes: () => undefined,
  openFds: () => undefined,
  method: "unknown (no --server-pid)",
};
