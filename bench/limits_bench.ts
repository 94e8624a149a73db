/**
 * Speed and memory of the limiter primitives in `src/limits/`. Prints one JSON
 * line per measurement: `opsPerSec` (median of 5 rounds) for the hot
 * operations, and `bytesPerEntry` for tables of 100,000 attacker keys (IPv6 /64
 * prefixes as made by `ipKey`), measured as the growth of the JS heap plus
 * external memory (typed-array backing stores) after full garbage collections
 * (`--expose-gc` is switched on at run time through `node:v8`).
 *
 * Run: `deno run -A bench/limits_bench.ts [milliseconds per round]`
 *
 * @module
 */

import { createBench } from "./_measure.ts";
import { systemTimers } from "../src/core/clock.ts";
import { BoundedMap } from "../src/limits/bounded_map.ts";
import { DistinctWindow } from "../src/limits/distinct_window.ts";
import { CidrSet, ipKey } from "../src/limits/ip.ts";
import { TokenBucket, TokenBucketTable } from "../src/limits/token_bucket.ts";
import { WindowCounter, WindowCounterTable } from "../src/limits/window_counter.ts";

const ENTRIES = 100_000;
const CAPACITY = 10_000;

const bench = createBench({ roundMs: Number(Deno.args[0] ?? 200) });
const { measure, print } = bench;

/** Memory growth per entry while `build()` holds its result of `entries` entries. */
function bytesPerEntry(build: () => unknown, entries = ENTRIES): number {
  return bench.bytesPerEntry(build, entries);
}

/** The n-th distinct IPv6 /64 address, as a client would connect from. */
function ipv6Address(n: number): string {
  return `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}:1234:5678:9abc:def0`;
}

// Keys made up front, so map benchmarks do not time key building.
const KEYS = Array.from({ length: 200_000 }, (_, n) => ipKey(ipv6Address(n)));
const ADDRESSES_V6 = Array.from({ length: 4096 }, (_, n) => ipv6Address(n * 7919));
const ADDRESSES_V4 = Array.from(
  { length: 4096 },
  (_, n) => `${10 + (n % 200)}.${(n * 7) & 255}.${(n * 13) & 255}.${n & 255}`,
);
const MAPPED = ADDRESSES_V4.map((a) => `::ffff:${a}`);
function key(i: number): string {
  return KEYS[i % KEYS.length] as string;
}

// --- speed ------------------------------------------------------------------

const bucket = new TokenBucket(1e12, 1e9, { clock: systemTimers });
measure("token_bucket.take", () => bucket.take(1), { clock: "systemTimers" });

const bucketTable = new TokenBucketTable<string>(
  { capacity: 5, refillPerSecond: 1 },
  CAPACITY,
  { clock: systemTimers },
);
measure("token_bucket_table.take rotating keys at capacity", (i) => bucketTable.take(key(i)), {
  maxKeys: CAPACITY,
  distinctKeys: KEYS.length,
});
measure(
  "token_bucket_table.take hot keys",
  (i) => bucketTable.take(key(i % 1000)),
  { maxKeys: CAPACITY, distinctKeys: 1000 },
);

const counter = new WindowCounter(1e6, 1000, { clock: systemTimers });
measure("window_counter.hit", () => counter.hit(), { clock: "systemTimers" });

const counterTable = new WindowCounterTable<string>(
  { max: 5, windowMs: 60_000 },
  CAPACITY,
  { clock: systemTimers },
);
measure("window_counter_table.hit rotating keys at capacity", (i) => counterTable.hit(key(i)), {
  maxKeys: CAPACITY,
  distinctKeys: KEYS.length,
});

const RECIPIENTS = Array.from({ length: 1000 }, (_, n) => `contact${n}@example.org`);
const recipients = new DistinctWindow(100, 60_000, { clock: systemTimers });
measure(
  "distinct_window.check known recipients",
  (i) => recipients.check(RECIPIENTS[i % 20] as string).allowed,
  { max: 100, recipients: 20 },
);
measure(
  "distinct_window.check new recipients beyond max",
  (i) => recipients.check(RECIPIENTS[i % RECIPIENTS.length] as string).allowed,
  { max: 100, recipients: RECIPIENTS.length },
);

const map = new BoundedMap<string, { count: number }>(CAPACITY);
const value = { count: 1 };
measure("bounded_map.set rotating keys at capacity", (i) => map.set(key(i), value), {
  capacity: CAPACITY,
  distinctKeys: KEYS.length,
});
measure(
  "bounded_map.get miss then set, rotating keys at capacity",
  (i) => {
    const k = key(i);
    return map.get(k) ?? map.set(k, value);
  },
  { capacity: CAPACITY, distinctKeys: KEYS.length },
);
for (let i = 0; i < CAPACITY; i++) map.set(key(i), value);
measure("bounded_map.get hit (touch)", (i) => map.get(key((i * 7919) % CAPACITY)), {
  capacity: CAPACITY,
});

measure("ipKey ipv6 /64", (i) => ipKey(ADDRESSES_V6[i & 4095] as string).length);
measure("ipKey ipv4", (i) => ipKey(ADDRESSES_V4[i & 4095] as string).length);
measure("ipKey ipv4-mapped ipv6", (i) => ipKey(MAPPED[i & 4095] as string).length);

const cidrs = new CidrSet([
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "::1",
  "fc00::/7",
  "fe80::/10",
  "2001:db8:ffff::/48",
]);
measure("cidr_set.has ipv4", (i) => cidrs.has(ADDRESSES_V4[i & 4095] as string));
measure("cidr_set.has ipv6", (i) => cidrs.has(ADDRESSES_V6[i & 4095] as string));

// --- memory -----------------------------------------------------------------

const memoryNotes = { entries: ENTRIES, keys: "ipKey() IPv6 /64, e.g. " + key(12345) };
print({
  bench: "bounded_map.bytes_per_entry",
  what: "BoundedMap<string, {count, firstSeenMs}>: keys from ipKey + object values + structure",
  bytesPerEntry: bytesPerEntry(() => {
    const m = new BoundedMap<string, { count: number; firstSeenMs: number }>(ENTRIES);
    for (let n = 0; n < ENTRIES; n++) {
      m.set(ipKey(ipv6Address(500_000 + n)), { count: 1, firstSeenMs: n });
    }
    return m;
  }),
  ...memoryNotes,
});
print({
  bench: "bounded_map.structure_bytes_per_entry",
  what: "BoundedMap<string, number> over keys held elsewhere: the map's own cost",
  bytesPerEntry: bytesPerEntry(() => {
    const m = new BoundedMap<string, number>(ENTRIES);
    for (let n = 0; n < ENTRIES; n++) m.set(KEYS[n] as string, 1);
    return m;
  }),
  ...memoryNotes,
});
print({
  bench: "map.structure_bytes_per_entry",
  what: "plain Map<string, number> over the same keys, for comparison",
  bytesPerEntry: bytesPerEntry(() => {
    const m = new Map<string, number>();
    for (let n = 0; n < ENTRIES; n++) m.set(KEYS[n] as string, 1);
    return m;
  }),
  ...memoryNotes,
});
print({
  bench: "token_bucket_table.bytes_per_entry",
  what: "TokenBucketTable over keys held elsewhere (2 float64 per key + BoundedMap)",
  bytesPerEntry: bytesPerEntry(() => {
    const t = new TokenBucketTable<string>({ capacity: 5, refillPerSecond: 1 }, ENTRIES);
    for (let n = 0; n < ENTRIES; n++) t.take(KEYS[n] as string);
    return t;
  }),
  ...memoryNotes,
});
print({
  bench: "bounded_map_of_token_buckets.bytes_per_entry",
  what: "BoundedMap<string, TokenBucket> over keys held elsewhere, for comparison",
  bytesPerEntry: bytesPerEntry(() => {
    const m = new BoundedMap<string, TokenBucket>(ENTRIES);
    for (let n = 0; n < ENTRIES; n++) {
      const b = new TokenBucket(5, 1);
      b.take();
      m.set(KEYS[n] as string, b);
    }
    return m;
  }),
  ...memoryNotes,
});
print({
  bench: "window_counter_table.bytes_per_entry",
  what: "WindowCounterTable over keys held elsewhere (3 float64 per key + BoundedMap)",
  bytesPerEntry: bytesPerEntry(() => {
    const t = new WindowCounterTable<string>({ max: 5, windowMs: 60_000 }, ENTRIES);
    for (let n = 0; n < ENTRIES; n++) t.hit(KEYS[n] as string);
    return t;
  }),
  ...memoryNotes,
});
print({
  bench: "bounded_map_of_window_counters.bytes_per_entry",
  what: "BoundedMap<string, WindowCounter> over keys held elsewhere, for comparison",
  bytesPerEntry: bytesPerEntry(() => {
    const m = new BoundedMap<string, WindowCounter>(ENTRIES);
    for (let n = 0; n < ENTRIES; n++) {
      const c = new WindowCounter(5, 60_000);
      c.hit();
      m.set(KEYS[n] as string, c);
    }
    return m;
  }),
  ...memoryNotes,
});

const TRACKERS = 10_000;
for (const recipientCount of [0, 1, 10, 100]) {
  print({
    bench: "distinct_window.bytes_per_tracker",
    what: "one DistinctWindow(100, 60 s) per session, recipients' JID strings held elsewhere",
    recipients: recipientCount,
    bytesPerEntry: bytesPerEntry(() => {
      const trackers: DistinctWindow[] = [];
      for (let n = 0; n < TRACKERS; n++) {
        const tracker = new DistinctWindow(100, 60_000);
        for (let r = 0; r < recipientCount; r++) tracker.check(RECIPIENTS[r] as string);
        trackers.push(tracker);
      }
      return trackers;
    }, TRACKERS),
    trackers: TRACKERS,
  });
}

if (bench.sink === -1) print({ sink: bench.sink });
