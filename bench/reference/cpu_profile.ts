/**
 * Summarises a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): self
 * time per function, the hottest first, so a benchmark run ends with what to
 * optimise.
 *
 * Run: `deno run -A bench/reference/cpu_profile.ts FILE.cpuprofile [top]`
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One row of {@linkcode summariseProfile}. */
export interface ProfileRow {
  /** Function name (or "(anonymous)", "(garbage collector)", ...). */
  name: string;
  /** Source location, shortened to the repository or package path. */
  where: string;
  /** Self time, ms. */
  selfMs: number;
  /** Share of all sampled time, percent. */
  percent: number;
}

function shorten(url: string): string {
  const src = url.indexOf("/src/");
  if (src !== -1) return url.slice(src + 1);
  const npm = url.indexOf("/node_modules/");
  if (npm !== -1) return "npm:" + url.slice(npm + 14);
  const ext = url.indexOf("ext:");
  return ext !== -1 ? url.slice(ext) : url.replace(/^file:\/\//, "");
}

/**
 * Self time per function, summed over every node of that function.
 *
 * @param profile The parsed `.cpuprofile`.
 * @param top How many rows. @default {25}
 * @returns The hottest functions.
 *
 * @example Usage
 * ```ts
 * import { summariseProfile } from "./cpu_profile.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = (functionName: string) => ({ functionName, url: "file:///x/src/a.ts", lineNumber: 1 });
 * const rows = summariseProfile({
 *   nodes: [{ id: 1, callFrame: frame("(root)") }, { id: 2, callFrame: frame("parse") }],
 *   startTime: 0, endTime: 3000, samples: [2, 2, 1], timeDeltas: [1000, 1000, 1000],
 * });
 * assert.equal(rows[0]?.name, "parse");
 * assert.equal(rows[0]?.selfMs, 2);
 * ```
 */
export function summariseProfile(profile: CpuProfile, top = 25): ProfileRow[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // The delta before sample i+1 is the time spent in sample i.
    const spent = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, spent));
  }
  const rows = new Map<string, ProfileRow>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    total += us;
    const frame = node.callFrame;
    const name = frame.functionName || "(anonymous)";
    const where = frame.url === "" ? "" : `${shorten(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${name}\0${where}`;
    const row = rows.get(key) ?? { name, where, selfMs: 0, percent: 0 };
    row.selfMs += us / 1000;
    rows.set(key, row);
  }
  const sorted = [...rows.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  for (const row of sorted) {
    row.percent = total === 0 ? 0 : Math.round((row.selfMs * 1000 / total) * 1000) / 10;
    row.selfMs = Math.round(row.selfMs * 10) / 10;
  }
  return sorted;
}

/**
 * Formats rows as a Markdown table.
 *
 * @param rows From {@linkcode summariseProfile}.
 * @returns Markdown lines.
 */
export function profileTable(rows: readonly ProfileRow[]): string[] {
  return [
    "| self ms | % | function | where |",
    "|---:|---:|---|---|",
    ...rows.map((r) => `| ${r.selfMs} | ${r.percent} | ${r.name} | ${r.where} |`),
  ];
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (file === undefined) {
    Deno.stderr.writeSync(
      new TextEncoder().encode("Usage: cpu_profile.ts FILE.cpuprofile [top]\n"),
    );
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  const rows = summariseProfile(profile, Number(Deno.args[1] ?? 25));
  Deno.stdout.writeSync(new TextEncoder().encode(profileTable(rows).join("\n") + "\n"));
}
