/**
 * Speed and memory of the connection and authentication guards in
 * `src/limits/`. Prints one JSON line per measurement: `opsPerSec` (median of
 * 5 rounds) for admissions and refusals, and `bytesPerAddress` for guards
 * tracking 100,000 addresses, measured as the growth of the JS heap plus
 * external memory (typed-array backing stores) after full garbage collections
 * (`--expose-gc` is switched on at run time through `node:v8`). The address
 * strings themselves are made before measuring and not counted; the keys the
 * guards derive from them (`ipKey`) are.
 *
 * Run: `deno run -A bench/guards_bench.ts [milliseconds per round]`
 *
 * @module
 */

import { createBench } from "./_measure.ts";
import type { ConnectionLimits } from "../src/limits/connection_guard.ts";
import { ConnectionGuard } from "../src/limits/connection_guard.ts";
import { AuthGuard } from "../src/limits/auth_guard.ts";
import { BanList } from "../src/limits/ban_list.ts";
import type { WindowLimit } from "../src/config/schema.ts";

const ENTRIES = 100_000;

const bench = createBench({
  roundMs: Number(Deno.args[0] ?? 200),
  // A 500/s flood costs this share of one core.
  extraNotes: (opsPerSec) => ({
    cpuAt500PerSec: `${((500 / opsPerSec) * 100).toPrecision(2)} %`,
  }),
});
const { measure, print } = bench;

/** Memory growth per address while `build()` holds its result. */
function bytesPerAddress(build: () => unknown, entries = ENTRIES): number {
  return bench.bytesPerEntry(build, entries);
}

function ipv6Address(n: number): string {
  return `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}:1234:5678:9abc:def0`;
}

function ipv4Address(n: number): string {
  return `${10 + ((n >>> 24) & 63)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const V6 = Array.from({ length: 2 * ENTRIES }, (_, n) => ipv6Address(n));
const V4 = Array.from({ length: 2 * ENTRIES }, (_, n) => ipv4Address(n));

const limits: ConnectionLimits = {
  connections_per_ip: { max: 10, mode: "enforce" },
  connection_attempts_per_ip: { max: 30, window: 60_000, mode: "enforce" },
  unauthenticated_connections: 1_000_000,
};

// --- speed ------------------------------------------------------------------

{
  const guard = new ConnectionGuard();
  measure("connection_guard.admit+dispose rotating IPv4 (table at capacity)", (i) => {
    const result = guard.admit(V4[i % V4.length] as string, limits);
    if (result.ok) result.slot[Symbol.dispose]();
    return result.ok;
  }, { maxTrackedAddresses: 100_000, distinctAddresses: V4.length });
}
{
  const guard = new ConnectionGuard();
  measure("connection_guard.admit+dispose rotating IPv6 /64", (i) => {
    const result = guard.admit(V6[i % V6.length] as string, limits);
    if (result.ok) result.slot[Symbol.dispose]();
    return result.ok;
  }, { maxTrackedAddresses: 100_000, distinctAddresses: V6.length });
}
{
  const guard = new ConnectionGuard();
  for (let i = 0; i < 30; i++) {
    const result = guard.admit("192.0.2.1", limits);
    if (result.ok) result.slot[Symbol.dispose]();
  }
  measure(
    "connection_guard.admit refused: attempts flood from one IPv4 address",
    () => guard.admit("192.0.2.1", limits).ok,
  );
  for (let i = 0; i < 30; i++) {
    const result = guard.admit("2001:db8::1", limits);
    if (result.ok) result.slot[Symbol.dispose]();
  }
  measure(
    "connection_guard.admit refused: attempts flood from one IPv6 /64",
    (i) => guard.admit(`2001:db8::${(i & 0xfff).toString(16)}`, limits).ok,
    { note: "includes building the address string" },
  );
}
{
  const guard = new ConnectionGuard();
  for (let i = 0; i < 10; i++) guard.admit("192.0.2.1", limits);
  measure(
    "connection_guard.admit refused: connections_per_ip",
    () => guard.admit("192.0.2.1", limits).ok,
  );
}
{
  const bans = new BanList({ cidrs: ["203.0.113.0/24", "2001:db8:bad::/48"] });
  for (let i = 0; i < 1000; i++) bans.ban(V4[i] as string);
  bans.ban("198.51.100.0/24");
  const guard = new ConnectionGuard({ bans });
  measure(
    "connection_guard.admit refused: static ban",
    () => guard.admit("203.0.113.9", limits).ok,
  );
  measure(
    "connection_guard.admit refused: runtime ban (1,001 bans, 2 prefix lengths)",
    () => guard.admit(V4[17] as string, limits).ok,
  );
  measure(
    "ban_list.isBanned miss (1,001 runtime bans, 2 prefix lengths)",
    (i) => bans.isBanned(V6[i % V6.length] as string) !== undefined,
  );
}
{
  const guard = new AuthGuard();
  const limit: WindowLimit = { max: 10, window: 300_000, mode: "enforce" };
  measure(
    "auth_guard.beforeAttempt clean address",
    (i) => guard.beforeAttempt(V4[i % 1000] as string, limit).allowed,
  );
  for (let i = 0; i < 10; i++) guard.failed("192.0.2.1", limit);
  measure(
    "auth_guard.beforeAttempt refused",
    () => guard.beforeAttempt("192.0.2.1", limit).allowed,
  );
  measure(
    "auth_guard.failed rotating addresses",
    (i) => guard.failed(V6[i % V6.length] as string, limit),
  );
}

// --- memory -----------------------------------------------------------------

print({
  bench: "connection_guard.bytes_per_tracked_address",
  what:
    "attempt table entry per address (admitted then closed): ipKey string + BoundedMap + 3 float64",
  ipv6: bytesPerAddress(() => {
    const guard = new ConnectionGuard({ maxTrackedAddresses: ENTRIES });
    for (let n = 0; n < ENTRIES; n++) {
      const result = guard.admit(V6[n] as string, limits);
      if (result.ok) result.slot[Symbol.dispose]();
    }
    return guard;
  }),
  ipv4: bytesPerAddress(() => {
    const guard = new ConnectionGuard({ maxTrackedAddresses: ENTRIES });
    for (let n = 0; n < ENTRIES; n++) {
      const result = guard.admit(V4[n] as string, limits);
      if (result.ok) result.slot[Symbol.dispose]();
    }
    return guard;
  }),
  entries: ENTRIES,
});
print({
  bench: "connection_guard.bytes_per_open_connection",
  what: "an open connection from its own address: slot + open-count Map entry + attempt entry",
  ipv4: bytesPerAddress(() => {
    const guard = new ConnectionGuard({ maxTrackedAddresses: ENTRIES });
    const slots = [];
    for (let n = 0; n < ENTRIES; n++) {
      const result = guard.admit(V4[n] as string, limits);
      if (result.ok) slots.push(result.slot);
    }
    return [guard, slots];
  }),
  entries: ENTRIES,
});
print({
  bench: "auth_guard.bytes_per_tracked_address",
  what: "two failures per address: failure table entry + tarpit deadline entry + ipKey string",
  ipv6: bytesPerAddress(() => {
    const guard = new AuthGuard({ maxTrackedAddresses: ENTRIES });
    const limit: WindowLimit = { max: 10, window: 300_000, mode: "enforce" };
    for (let n = 0; n < ENTRIES; n++) {
      guard.failed(V6[n] as string, limit);
      guard.failed(V6[n] as string, limit);
    }
    return guard;
  }),
  entries: ENTRIES,
});
print({
  bench: "ban_list.bytes_per_ban",
  what: "runtime ban of one IPv6 address: entry object + key + BoundedMap",
  ipv6: bytesPerAddress(() => {
    const bans = new BanList({ capacity: ENTRIES });
    for (let n = 0; n < ENTRIES; n++) bans.ban(V6[n] as string, { durationMs: 60_000 });
    return bans;
  }),
  entries: ENTRIES,
});

if (bench.sink === -1) print({ sink: bench.sink });
