import assert from "node:assert/strict";
import { BanList } from "../../src/limits/ban_list.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function reasonOf(bans: BanList, address: string): string | undefined {
  return bans.isBanned(address)?.reason;
}

Deno.test("BanList static bans match CIDR blocks and single addresses as written", () => {
  const bans = new BanList({
    cidrs: ["203.0.113.0/24", "198.51.100.7", "2001:db8:bad::/48", "2001:db8::1"],
  });
  assert.deepEqual(bans.isBanned("203.0.113.200"), { reason: "configured" });
  assert.equal(reasonOf(bans, "203.0.114.1"), undefined);
  assert.equal(reasonOf(bans, "198.51.100.7"), "configured");
  assert.equal(reasonOf(bans, "198.51.100.8"), undefined);
  assert.equal(reasonOf(bans, "2001:db8:bad:ffff::1"), "configured");
  assert.equal(reasonOf(bans, "2001:db8::1"), "configured");
  // A static single IPv6 address is not widened to its /64.
  assert.equal(reasonOf(bans, "2001:db8::2"), undefined);
  // IPv4-mapped IPv6 counts as IPv4.
  assert.equal(reasonOf(bans, "::ffff:203.0.113.9"), "configured");
  // Static bans cannot be lifted at run time.
  assert.equal(bans.unban("203.0.113.0/24"), false);
  assert.equal(reasonOf(bans, "203.0.113.200"), "configured");
  assert.equal(bans.size, 0);
});

Deno.test("BanList.ban() bans an IPv4 address until unban()", () => {
  const bans = new BanList();
  const entry = bans.ban("192.0.2.1", { reason: "scanner" });
  assert.equal(entry.target, "192.0.2.1");
  assert.equal(entry.source, "runtime");
  assert.equal(entry.expiresAt, undefined);
  assert.equal("expiresAt" in entry, false);
  assert.equal(reasonOf(bans, "192.0.2.1"), "scanner");
  assert.equal(reasonOf(bans, "::ffff:192.0.2.1"), "scanner");
  assert.equal(reasonOf(bans, "192.0.2.2"), undefined);
  assert.equal(bans.size, 1);
  assert.equal(bans.unban("192.0.2.1"), true);
  assert.equal(bans.unban("192.0.2.1"), false);
  assert.equal(reasonOf(bans, "192.0.2.1"), undefined);
  assert.equal(bans.size, 0);
  assert.equal(bans.ban("192.0.2.9").reason, "banned");
});

Deno.test("BanList.ban() with durationMs expires exactly at expiresAt", () => {
  const clock = new ManualClock(5000);
  const bans = new BanList({ clock });
  const entry = bans.ban("192.0.2.1", { durationMs: 60_000, reason: "flood" });
  assert.equal(entry.expiresAt, 65_000);
  clock.advance(59_999);
  assert.deepEqual(bans.isBanned("192.0.2.1")?.expiresAt, 65_000);
  clock.advance(1);
  assert.equal(bans.isBanned("192.0.2.1"), undefined);
  // The expired ban was removed by the lookup.
  assert.equal(bans.size, 0);
  assert.equal(bans.ban("192.0.2.2", { durationMs: Infinity }).expiresAt, undefined);
});

Deno.test("BanList.list() reports static then runtime bans and drops expired ones", () => {
  const clock = new ManualClock();
  const bans = new BanList({ cidrs: ["10.0.0.0/8"], clock });
  bans.ban("192.0.2.1", { durationMs: 1000, reason: "short" });
  bans.ban("192.0.2.2", { reason: "long" });
  assert.deepEqual(
    bans.list().map((b) => [b.target, b.source, b.reason, b.expiresAt]),
    [
      ["10.0.0.0/8", "static", "configured", undefined],
      ["192.0.2.1", "runtime", "short", 1000],
      ["192.0.2.2", "runtime", "long", undefined],
    ],
  );
  assert.equal(bans.size, 2);
  clock.advance(1000);
  assert.deepEqual(bans.list().map((b) => b.target), ["10.0.0.0/8", "192.0.2.2"]);
  assert.equal(bans.size, 1);
});

Deno.test("BanList.ban() of one IPv6 address bans its /64", () => {
  const bans = new BanList();
  assert.equal(bans.ban("2001:db8:1:2::5").target, "2001:db8:1:2::/64");
  assert.equal(reasonOf(bans, "2001:db8:1:2::5"), "banned");
  assert.equal(reasonOf(bans, "2001:db8:1:2:ffff:ffff:ffff:ffff"), "banned");
  assert.equal(reasonOf(bans, "2001:DB8:1:2:0:0:0:1"), "banned");
  assert.equal(reasonOf(bans, "2001:db8:1:3::5"), undefined);
  // Unbanning any address of the /64 lifts the ban on the whole /64.
  assert.equal(bans.unban("2001:db8:1:2::abcd"), true);
  assert.equal(reasonOf(bans, "2001:db8:1:2::5"), undefined);
});

Deno.test("BanList ipv6Prefix changes the network a single IPv6 ban covers", () => {
  const bans = new BanList({ ipv6Prefix: 48 });
  assert.equal(bans.ban("2001:db8:1:2::5").target, "2001:db8:1::/48");
  assert.equal(reasonOf(bans, "2001:db8:1:ffff::1"), "banned");
  assert.equal(reasonOf(bans, "2001:db8:2::1"), undefined);
  assert.throws(() => new BanList({ ipv6Prefix: 129 }), RangeError);
});

Deno.test("BanList.ban() of a CIDR block bans exactly that block", () => {
  const bans = new BanList();
  assert.equal(bans.ban("10.1.2.3/8", { reason: "net" }).target, "10.0.0.0/8");
  assert.equal(bans.ban("2001:db8::1/128", { reason: "one" }).target, "2001:db8::1");
  assert.equal(bans.ban("2001:db8:ff00::/40", { reason: "wide" }).target, "2001:db8:ff00::/40");
  assert.equal(bans.ban("::ffff:172.16.0.0/108", { reason: "mapped" }).target, "172.16.0.0/12");
  assert.equal(reasonOf(bans, "10.255.255.255"), "net");
  assert.equal(reasonOf(bans, "11.0.0.0"), undefined);
  assert.equal(reasonOf(bans, "2001:db8::1"), "one");
  assert.equal(reasonOf(bans, "2001:db8::2"), undefined);
  assert.equal(reasonOf(bans, "2001:db8:ffff::1"), "wide");
  assert.equal(reasonOf(bans, "172.31.0.1"), "mapped");
  assert.equal(reasonOf(bans, "::ffff:172.31.0.1"), "mapped");
  assert.equal(bans.unban("10.0.0.0/8"), true);
  assert.equal(reasonOf(bans, "10.255.255.255"), undefined);
});

Deno.test("BanList.isBanned() prefers the narrowest runtime ban", () => {
  const bans = new BanList();
  bans.ban("10.0.0.0/8", { reason: "network" });
  bans.ban("10.1.2.3", { reason: "host" });
  bans.ban("2001:db8::/32", { reason: "v6 network" });
  bans.ban("2001:db8:0:1::9", { reason: "v6 host" });
  assert.equal(reasonOf(bans, "10.1.2.3"), "host");
  assert.equal(reasonOf(bans, "10.1.2.4"), "network");
  assert.equal(reasonOf(bans, "2001:db8:0:1::1"), "v6 host");
  assert.equal(reasonOf(bans, "2001:db8:0:2::1"), "v6 network");
  bans.unban("10.1.2.3");
  assert.equal(reasonOf(bans, "10.1.2.3"), "network");
});

Deno.test("BanList.ban() again replaces the reason and expiry", () => {
  const clock = new ManualClock();
  const bans = new BanList({ clock });
  bans.ban("192.0.2.1", { durationMs: 1000, reason: "first" });
  bans.ban("192.0.2.1", { reason: "second" });
  assert.equal(bans.size, 1);
  clock.advance(5000);
  assert.equal(reasonOf(bans, "192.0.2.1"), "second");
  bans.unban("192.0.2.1");
  assert.equal(bans.size, 0);
  assert.equal(reasonOf(bans, "192.0.2.1"), undefined);
});

Deno.test("BanList holds at most capacity runtime bans, dropping the least recently matched", () => {
  const bans = new BanList({ capacity: 3 });
  bans.ban("192.0.2.1");
  bans.ban("10.0.0.0/8");
  bans.ban("2001:db8::/32");
  assert.equal(reasonOf(bans, "192.0.2.1"), "banned"); // matched: kept
  bans.ban("192.0.2.4"); // drops 10.0.0.0/8, the least recently used
  assert.equal(bans.size, 3);
  assert.equal(reasonOf(bans, "10.9.9.9"), undefined);
  assert.deepEqual(bans.list().map((b) => b.target), ["2001:db8::/32", "192.0.2.1", "192.0.2.4"]);

  const many = new BanList({ capacity: 1000 });
  for (let i = 0; i < 100_000; i++) {
    many.ban(`10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, { durationMs: 60_000 });
    if (many.size > 1000) assert.fail(`size ${many.size} exceeds the capacity`);
  }
  assert.equal(many.size, 1000);
  assert.equal(many.capacity, 1000);
  assert.equal(reasonOf(many, "10.1.134.159"), "banned"); // ban number 99,999
  assert.equal(reasonOf(many, "10.0.0.0"), undefined);
});

Deno.test("BanList.isBanned() answers undefined for text that is not an address", () => {
  const bans = new BanList({ cidrs: ["0.0.0.0/0"] });
  assert.equal(bans.isBanned("not an address"), undefined);
  bans.ban("192.0.2.1");
  assert.equal(bans.isBanned("not an address"), undefined);
  assert.equal(bans.isBanned(""), undefined);
});

Deno.test("BanList rejects bad targets and options", () => {
  const bans = new BanList();
  assert.throws(
    () => bans.ban("nonsense"),
    (error: unknown) =>
      error instanceof SyntaxError && error.message === 'Cannot parse IP address: "nonsense"',
  );
  assert.throws(
    () => bans.ban("10.0.0.0/x"),
    (error: unknown) =>
      error instanceof SyntaxError &&
      error.message === 'Cannot parse ban target: invalid prefix length in "10.0.0.0/x"',
  );
  assert.throws(() => bans.ban("10.0.0.0/"), SyntaxError);
  assert.throws(() => bans.ban("10.0.0.0/08"), SyntaxError);
  assert.throws(() => bans.ban("fe80::1%eth0/64"), SyntaxError);
  assert.throws(
    () => bans.ban("10.0.0.0/33"),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot ban "10.0.0.0/33": an IPv4 prefix length must be from 0 to 32, got 33',
  );
  assert.throws(() => bans.ban("2001:db8::/129"), RangeError);
  assert.throws(() => bans.ban("::ffff:10.0.0.0/64"), RangeError);
  for (const durationMs of [0, -1, NaN]) {
    assert.throws(
      () => bans.ban("192.0.2.1", { durationMs }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot ban "192.0.2.1": 'durationMs' must be a positive number, got ${durationMs}`,
    );
  }
  assert.throws(() => bans.unban("nonsense"), SyntaxError);
  assert.throws(() => bans.ban(42 as unknown as string), TypeError);
  assert.equal(bans.size, 0);
  assert.throws(() => new BanList({ capacity: 0 }), RangeError);
  assert.throws(() => new BanList({ cidrs: ["10.0.0.0/99"] }), TypeError);
});
