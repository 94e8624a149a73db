import assert from "node:assert/strict";
import type { CountLimit, LimitMode } from "../../src/config/schema.ts";
import { resolveConfig } from "../../src/config/schema.ts";
import { BanList } from "../../src/limits/ban_list.ts";
import {
  type Admission,
  type AdmissionGranted,
  type AdmissionRefused,
  ConnectionGuard,
  type ConnectionLimitHit,
  type ConnectionLimits,
  type ConnectionSlot,
} from "../../src/limits/connection_guard.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

interface LimitsInput {
  perIp?: number | null;
  perIpMode?: LimitMode;
  attempts?: number | null;
  windowMs?: number;
  attemptsMode?: LimitMode;
  closeUnauthenticated?: boolean;
  unauthenticated?: CountLimit | number | null;
  mode?: LimitMode;
}

function limitsOf(input: LimitsInput = {}): ConnectionLimits {
  const connections_per_ip: CountLimit = {
    max: input.perIp === undefined ? 10 : input.perIp,
    mode: input.perIpMode ?? "enforce",
  };
  const connection_attempts_per_ip: ConnectionLimits["connection_attempts_per_ip"] = {
    max: input.attempts === undefined ? 1000 : input.attempts,
    window: input.windowMs ?? 60_000,
    mode: input.attemptsMode ?? "enforce",
    ...(input.closeUnauthenticated === undefined
      ? {}
      : { close_unauthenticated: input.closeUnauthenticated }),
  };
  const unauthenticated_connections = input.unauthenticated === undefined
    ? 1000
    : input.unauthenticated;
  return input.mode === undefined
    ? { connections_per_ip, connection_attempts_per_ip, unauthenticated_connections }
    : {
      connections_per_ip,
      connection_attempts_per_ip,
      unauthenticated_connections,
      mode: input.mode,
    };
}

function granted(result: Admission): AdmissionGranted {
  if (!result.ok) assert.fail(`expected admission, got refusal by ${result.limit}`);
  return result;
}

function refused(result: Admission): AdmissionRefused {
  if (result.ok) assert.fail("expected a refusal, got admission");
  return result;
}

function slotOf(result: Admission): ConnectionSlot {
  return granted(result).slot;
}

Deno.test("ConnectionGuard.admit() admits 10 open connections from one address, then refuses", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ perIp: 10 });
  const slots: ConnectionSlot[] = [];
  for (let i = 0; i < 10; i++) {
    const result = granted(guard.admit("192.0.2.1", limits));
    assert.deepEqual(result.reported, []);
    assert.equal(result.slot.key, "192.0.2.1");
    slots.push(result.slot);
  }
  const refusal = refused(guard.admit("192.0.2.1", limits));
  assert.deepEqual({ ...refusal }, {
    ok: false,
    limit: "connections_per_ip",
    key: "192.0.2.1",
    figure: 10,
    max: 10,
    mode: "enforce",
  });
  // Another address is not affected.
  granted(guard.admit("192.0.2.2", limits));
  // Releasing one lets exactly one more in.
  slots[3]?.[Symbol.dispose]();
  slots.push(slotOf(guard.admit("192.0.2.1", limits)));
  assert.equal(refused(guard.admit("192.0.2.1", limits)).figure, 10);
  for (const slot of slots) slot[Symbol.dispose]();
  assert.equal(guard.snapshot().openConnections, 1);
});

Deno.test("ConnectionSlot releases once, and authenticated() leaves only the unauthenticated budget", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ perIp: 2, unauthenticated: 5 });
  const a = slotOf(guard.admit("192.0.2.1", limits));
  const b = slotOf(guard.admit("192.0.2.1", limits));
  assert.equal(guard.unauthenticated, 2);
  assert.equal(a.isAuthenticated, false);
  a.authenticated();
  a.authenticated();
  assert.equal(a.isAuthenticated, true);
  assert.equal(guard.unauthenticated, 1);
  // Authenticated connections still count per address.
  assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "connections_per_ip");
  a[Symbol.dispose]();
  a[Symbol.dispose]();
  assert.equal(a.isReleased, true);
  assert.equal(guard.unauthenticated, 1);
  assert.equal(guard.snapshot().openConnections, 1);
  {
    using c = slotOf(guard.admit("192.0.2.1", limits));
    assert.equal(c.isReleased, false);
    assert.equal(guard.unauthenticated, 2);
  }
  assert.equal(guard.unauthenticated, 1);
  b[Symbol.dispose]();
  b.authenticated(); // after release: no effect
  assert.equal(b.isAuthenticated, false);
  assert.equal(guard.unauthenticated, 0);
  const snapshot = guard.snapshot();
  assert.equal(snapshot.openConnections, 0);
  assert.equal(snapshot.openAddresses, 0);
});

Deno.test("ConnectionGuard.admit() slides the attempts window exactly", () => {
  const clock = new ManualClock();
  const guard = new ConnectionGuard({ clock });
  const limits = limitsOf({ perIp: null, attempts: 3, windowMs: 1000 });
  const admitAndClose = () => slotOf(guard.admit("192.0.2.1", limits))[Symbol.dispose]();
  for (let i = 0; i < 3; i++) admitAndClose();
  assert.deepEqual({ ...refused(guard.admit("192.0.2.1", limits)) }, {
    ok: false,
    limit: "connection_attempts_per_ip",
    key: "192.0.2.1",
    figure: 3,
    max: 3,
    mode: "enforce",
    retryAfterMs: 1001,
  });
  // The next window starts with the previous window's 3 fully counted.
  clock.advance(1000);
  const atBoundary = refused(guard.admit("192.0.2.1", limits));
  assert.equal(atBoundary.figure, 3);
  assert.equal(atBoundary.retryAfterMs, 1);
  clock.advance(1);
  admitAndClose(); // estimate 3 × 999/1000 < 3
  const later = refused(guard.admit("192.0.2.1", limits));
  assert.equal(later.figure, 1 + (3 * 999) / 1000);
  assert.equal(later.retryAfterMs, 333);
  clock.advance(332);
  refused(guard.admit("192.0.2.1", limits));
  clock.advance(1);
  admitAndClose();
  // Two windows later everything is forgotten.
  clock.advance(3000 - clock.now());
  for (let i = 0; i < 3; i++) admitAndClose();
  refused(guard.admit("192.0.2.1", limits));
});

Deno.test("ConnectionGuard.admit() counts connections refused at the open cap as attempts, since XEP-0205 limits attempts, not successes", () => {
  const clock = new ManualClock();
  const hits: ConnectionLimitHit[] = [];
  const guard = new ConnectionGuard({ clock, onLimit: (hit) => hits.push(hit) });
  const limits = limitsOf({ perIp: 1, attempts: 3, windowMs: 60_000 });
  const revoked: string[] = [];
  const pending = slotOf(guard.admit("192.0.2.1", limits, { onRevoke: () => revoked.push("p") }));
  // Attempts 2 and 3 hit the open cap: refused, and counted.
  for (let i = 0; i < 2; i++) {
    assert.deepEqual({ ...refused(guard.admit("192.0.2.1", limits)) }, {
      ok: false,
      limit: "connections_per_ip",
      key: "192.0.2.1",
      figure: 1,
      max: 1,
      mode: "enforce",
    });
  }
  assert.deepEqual(revoked, []);
  // Attempt 4 is over both limits: the refusal names the attempts limit,
  // which closes the pending connection.
  assert.deepEqual({ ...refused(guard.admit("192.0.2.1", limits)) }, {
    ok: false,
    limit: "connection_attempts_per_ip",
    key: "192.0.2.1",
    figure: 3,
    max: 3,
    mode: "enforce",
    retryAfterMs: 60_001,
    revoked: 1,
  });
  assert.deepEqual(revoked, ["p"]);
  assert.deepEqual(hits.map((hit) => hit.limit), [
    "connections_per_ip",
    "connections_per_ip",
    "connection_attempts_per_ip",
  ]);
  // A flood refused by the attempts limit does not extend its own lockout...
  for (let i = 0; i < 500; i++) {
    assert.equal(refused(guard.admit("192.0.2.1", limits)).figure, 3);
  }
  // ...but the address stays locked out, its cap free or not, until the window passes.
  pending[Symbol.dispose]();
  assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "connection_attempts_per_ip");
  clock.advance(120_000);
  slotOf(guard.admit("192.0.2.1", limits))[Symbol.dispose]();
});

Deno.test("ConnectionGuard.admit() counts no attempt for bans and server-wide refusals, so another address's load never uses up an address's budget", () => {
  const clock = new ManualClock();
  const limits = limitsOf({ perIp: 1, attempts: 3, windowMs: 60_000, unauthenticated: 1 });
  // Banned: refused before counting.
  const bans = new BanList({ clock });
  const banned = new ConnectionGuard({ clock, bans });
  bans.ban("192.0.2.9", { durationMs: 1000 });
  for (let i = 0; i < 10; i++) {
    assert.equal(refused(banned.admit("192.0.2.9", limits)).limit, "banned");
  }
  clock.advance(1000);
  for (let i = 0; i < 3; i++) slotOf(banned.admit("192.0.2.9", limits))[Symbol.dispose]();
  assert.equal(refused(banned.admit("192.0.2.9", limits)).limit, "connection_attempts_per_ip");
  // The unauthenticated budget and overload refuse before counting too.
  const guard = new ConnectionGuard({ clock });
  const other = slotOf(guard.admit("198.51.100.1", limits));
  for (let i = 0; i < 10; i++) {
    assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "unauthenticated_connections");
  }
  other[Symbol.dispose]();
  guard.setPressure(2);
  for (let i = 0; i < 10; i++) {
    assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "overload");
  }
  guard.setPressure(0);
  for (let i = 0; i < 3; i++) slotOf(guard.admit("192.0.2.1", limits))[Symbol.dispose]();
  assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "connection_attempts_per_ip");
});

Deno.test("ConnectionGuard.admit() refused at the open cap still reports an attempts limit in report mode", () => {
  const hits: ConnectionLimitHit[] = [];
  const guard = new ConnectionGuard({ clock: new ManualClock(), onLimit: (hit) => hits.push(hit) });
  const limits = limitsOf({ perIp: 1, attempts: 1, attemptsMode: "report" });
  const revoked: string[] = [];
  slotOf(guard.admit("192.0.2.1", limits, { onRevoke: () => revoked.push("p") }));
  assert.equal(refused(guard.admit("192.0.2.1", limits)).limit, "connections_per_ip");
  assert.deepEqual(hits.map((hit) => [hit.limit, hit.mode]), [
    ["connection_attempts_per_ip", "report"],
    ["connections_per_ip", "enforce"],
  ]);
  assert.deepEqual(revoked, []);
});

/** Admits a connection whose revocation is recorded in `revoked` under `name`. */
function admitNamed(
  guard: ConnectionGuard,
  ip: string,
  limits: ConnectionLimits,
  name: string,
  revoked: string[],
): ConnectionSlot {
  return slotOf(guard.admit(ip, limits, { onRevoke: () => revoked.push(name) }));
}

Deno.test("ConnectionGuard revokes only the refused address's unauthenticated connections", () => {
  const clock = new ManualClock();
  const hits: ConnectionLimitHit[] = [];
  const guard = new ConnectionGuard({ clock, onLimit: (hit) => hits.push(hit) });
  const limits = limitsOf({ perIp: 10, attempts: 4, closeUnauthenticated: true });
  const revoked: string[] = [];
  const a1 = admitNamed(guard, "192.0.2.1", limits, "a1", revoked);
  const a2 = admitNamed(guard, "192.0.2.1", limits, "a2", revoked);
  const user = admitNamed(guard, "192.0.2.1", limits, "user", revoked);
  user.authenticated();
  const gone = admitNamed(guard, "192.0.2.1", limits, "gone", revoked);
  gone[Symbol.dispose]();
  const other = admitNamed(guard, "192.0.2.2", limits, "other", revoked);
  // Admitted without a callback: counted, never revoked.
  const silent = slotOf(guard.admit("192.0.2.3", limits));

  const refusal = refused(guard.admit("192.0.2.1", limits));
  assert.deepEqual({ ...refusal }, {
    ok: false,
    limit: "connection_attempts_per_ip",
    key: "192.0.2.1",
    figure: 4,
    max: 4,
    mode: "enforce",
    retryAfterMs: 60_001,
    revoked: 2,
  });
  assert.equal(hits.at(-1), refusal);
  assert.deepEqual(revoked.sort(), ["a1", "a2"]);
  // Revoked slots stay counted until the connections close.
  assert.equal(a1.isReleased, false);
  assert.equal(guard.unauthenticated, 4);
  // The next refusal finds nothing left to revoke.
  assert.equal(refused(guard.admit("192.0.2.1", limits)).revoked, undefined);
  assert.deepEqual(revoked.sort(), ["a1", "a2"]);
  for (const slot of [a1, a2, user, other, silent]) slot[Symbol.dispose]();
  const snapshot = guard.snapshot();
  assert.equal(snapshot.unauthenticated, 0);
  assert.equal(snapshot.openConnections, 0);
});

Deno.test("ConnectionGuard revocation callbacks may release their slot at once", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ perIp: null, attempts: 3 });
  const slots: ConnectionSlot[] = [];
  let calls = 0;
  for (let i = 0; i < 3; i++) {
    const index = i;
    slots.push(slotOf(guard.admit("192.0.2.1", limits, {
      onRevoke: () => {
        calls++;
        // Releasing during the revocation must not disturb the others.
        slots[index]![Symbol.dispose]();
        slots[(index + 1) % 3]![Symbol.dispose]();
      },
    })));
  }
  assert.equal(refused(guard.admit("192.0.2.1", limits)).revoked, 3);
  assert.equal(calls, 3);
  assert.ok(slots.every((slot) => slot.isReleased));
  assert.equal(guard.unauthenticated, 0);
  assert.equal(guard.snapshot().openConnections, 0);
});

Deno.test("ConnectionGuard revokes by address key: one IPv6 /64, IPv4-mapped with IPv4", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ perIp: null, attempts: 3 });
  const revoked: string[] = [];
  admitNamed(guard, "2001:db8:1:2::1", limits, "a", revoked);
  admitNamed(guard, "2001:db8:1:2:ffff::9", limits, "b", revoked);
  admitNamed(guard, "2001:db8:1:3::1", limits, "other-64", revoked);
  admitNamed(guard, "192.0.2.1", limits, "v4", revoked);
  admitNamed(guard, "2001:db8:1:2::3", limits, "c", revoked);
  const refusal = refused(guard.admit("2001:db8:1:2::77", limits));
  assert.equal(refusal.key, "2001:db8:1:2::/64");
  assert.equal(refusal.revoked, 3);
  assert.deepEqual(revoked.sort(), ["a", "b", "c"]);
  admitNamed(guard, "::ffff:192.0.2.1", limits, "mapped", revoked);
  admitNamed(guard, "192.0.2.1", limits, "v4-again", revoked);
  assert.equal(refused(guard.admit("::FFFF:192.0.2.1", limits)).revoked, 3);
  assert.deepEqual(revoked.slice(3).sort(), ["mapped", "v4", "v4-again"]);
});

Deno.test("ConnectionGuard revokes nothing in report mode, with close_unauthenticated false, or for other limits", () => {
  const revoked: string[] = [];
  const onLimit = (hit: ConnectionLimitHit) => assert.equal(hit.revoked, undefined);
  // Report mode: admitted, reported, nothing revoked.
  const report = new ConnectionGuard({ clock: new ManualClock(), onLimit });
  const reportLimits = limitsOf({ perIp: null, attempts: 1, attemptsMode: "report" });
  admitNamed(report, "192.0.2.1", reportLimits, "r1", revoked);
  const reported = granted(report.admit("192.0.2.1", reportLimits));
  assert.deepEqual(reported.reported.map((hit) => hit.limit), ["connection_attempts_per_ip"]);
  // Switched off.
  const off = new ConnectionGuard({ clock: new ManualClock(), onLimit });
  const offLimits = limitsOf({ perIp: null, attempts: 1, closeUnauthenticated: false });
  admitNamed(off, "192.0.2.1", offLimits, "o1", revoked);
  assert.equal(refused(off.admit("192.0.2.1", offLimits)).limit, "connection_attempts_per_ip");
  // connections_per_ip refuses without revoking.
  const perIp = new ConnectionGuard({ clock: new ManualClock(), onLimit });
  const perIpLimits = limitsOf({ perIp: 1, attempts: 5 });
  admitNamed(perIp, "192.0.2.1", perIpLimits, "p1", revoked);
  assert.equal(refused(perIp.admit("192.0.2.1", perIpLimits)).limit, "connections_per_ip");
  assert.deepEqual(revoked, []);
});

Deno.test("ConnectionGuard.admit() keeps a server-wide budget of unauthenticated connections", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ unauthenticated: 3 });
  const slots = ["192.0.2.1", "192.0.2.2", "2001:db8::1"].map((ip) =>
    slotOf(guard.admit(ip, limits))
  );
  assert.deepEqual({ ...refused(guard.admit("198.51.100.1", limits)) }, {
    ok: false,
    limit: "unauthenticated_connections",
    key: "198.51.100.1",
    figure: 3,
    max: 3,
    mode: "enforce",
  });
  slots[0]?.authenticated();
  const fourth = slotOf(guard.admit("198.51.100.1", limits));
  refused(guard.admit("198.51.100.2", limits));
  // Releasing an authenticated connection frees no unauthenticated room.
  slots[0]?.[Symbol.dispose]();
  refused(guard.admit("198.51.100.2", limits));
  fourth[Symbol.dispose]();
  slotOf(guard.admit("198.51.100.2", limits));
  // The object form and "off" work too.
  const objectForm = limitsOf({ unauthenticated: { max: 4, mode: "enforce" } });
  slotOf(guard.admit("198.51.100.3", objectForm));
  assert.equal(refused(guard.admit("198.51.100.4", objectForm)).max, 4);
  slotOf(guard.admit("198.51.100.4", limitsOf({ unauthenticated: null })));
  assert.equal(guard.unauthenticated, 5);
});

Deno.test("ConnectionGuard.admit() refuses banned addresses with the reason and time left", () => {
  const clock = new ManualClock();
  const bans = new BanList({ cidrs: ["203.0.113.0/24"], clock });
  const hits: ConnectionLimitHit[] = [];
  const guard = new ConnectionGuard({ clock, bans, onLimit: (hit) => hits.push(hit) });
  const limits = limitsOf();
  assert.deepEqual({ ...refused(guard.admit("203.0.113.5", limits)) }, {
    ok: false,
    limit: "banned",
    key: "203.0.113.5",
    figure: 0,
    max: 0,
    mode: "enforce",
    reason: "configured",
  });
  bans.ban("2001:db8:1:2::1", { durationMs: 10_000, reason: "abuse" });
  clock.advance(2500);
  const refusal = refused(guard.admit("2001:db8:1:2:ffff::7", limits));
  assert.equal(refusal.key, "2001:db8:1:2::/64");
  assert.equal(refusal.reason, "abuse");
  assert.equal(refusal.retryAfterMs, 7500);
  assert.equal(hits.length, 2);
  assert.equal(hits[1], refusal); // the callback receives the refusal itself
  clock.advance(7500);
  slotOf(guard.admit("2001:db8:1:2:ffff::7", limits));
  assert.equal(guard.snapshot().openConnections, 1);
});

Deno.test("ConnectionGuard groups IPv6 by /64 and IPv4-mapped addresses with IPv4", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ perIp: 2 });
  assert.equal(slotOf(guard.admit("2001:db8:1:2::1", limits)).key, "2001:db8:1:2::/64");
  slotOf(guard.admit("2001:db8:1:2:aaaa:bbbb:cccc:dddd", limits));
  assert.equal(refused(guard.admit("2001:DB8:1:2::9", limits)).key, "2001:db8:1:2::/64");
  slotOf(guard.admit("2001:db8:1:3::1", limits));

  assert.equal(slotOf(guard.admit("::ffff:192.0.2.1", limits)).key, "192.0.2.1");
  slotOf(guard.admit("192.0.2.1", limits));
  assert.equal(refused(guard.admit("::FFFF:192.0.2.1", limits)).limit, "connections_per_ip");

  const perHost = new ConnectionGuard({ clock: new ManualClock(), ipv6Prefix: 128 });
  slotOf(perHost.admit("2001:db8:1:2::1", limits));
  slotOf(perHost.admit("2001:db8:1:2::1", limits));
  assert.equal(slotOf(perHost.admit("2001:db8:1:2::2", limits)).key, "2001:db8:1:2::2");
  refused(perHost.admit("2001:db8:1:2::1", limits));
});

Deno.test("ConnectionGuard attempt table never grows past maxTrackedAddresses", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock(), maxTrackedAddresses: 1000 });
  const limits = limitsOf({ perIp: 10, attempts: 5, unauthenticated: 100 });
  const start = performance.now();
  for (let i = 0; i < 1_000_000; i++) {
    const ip = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    const result = guard.admit(ip, limits);
    if (!result.ok) assert.fail(`refused ${ip} by ${result.limit}`);
    result.slot[Symbol.dispose]();
    if ((i & 0xffff) === 0) {
      assert.ok(guard.snapshot({ top: 0 }).attemptTables[0]!.size <= 1000);
    }
  }
  const elapsed = performance.now() - start;
  const snapshot = guard.snapshot();
  assert.deepEqual(snapshot.attemptTables, [{
    max: 5,
    windowMs: 60_000,
    size: 1000,
    maxKeys: 1000,
  }]);
  assert.equal(snapshot.openConnections, 0);
  assert.equal(snapshot.openAddresses, 0);
  assert.equal(snapshot.unauthenticated, 0);
  assert.ok(elapsed < 2000, `1,000,000 admissions took ${Math.round(elapsed)} ms`);
});

Deno.test("ConnectionGuard refuses a flood from one address cheaply", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ attempts: 30 });
  for (let i = 0; i < 30; i++) slotOf(guard.admit("192.0.2.1", limits))[Symbol.dispose]();
  const start = performance.now();
  for (let i = 0; i < 100_000; i++) {
    if (guard.admit("192.0.2.1", limits).ok) assert.fail("admitted during the flood");
  }
  const elapsed = performance.now() - start;
  // 100,000 refusals are 200 s of a 500/s flood; a generous bound, not a benchmark.
  assert.ok(elapsed < 1000, `100,000 refusals took ${Math.round(elapsed)} ms`);
  assert.equal(guard.snapshot().attemptTables[0]?.size, 1);
});

Deno.test("ConnectionGuard in report mode admits and reports each limit hit", () => {
  const clock = new ManualClock();
  const hits: ConnectionLimitHit[] = [];
  const guard = new ConnectionGuard({ clock, onLimit: (hit) => hits.push(hit) });
  const limits = limitsOf({
    perIp: 2,
    perIpMode: "report",
    attempts: 2,
    windowMs: 1000,
    attemptsMode: "report",
    unauthenticated: 2,
    mode: "report",
  });
  granted(guard.admit("192.0.2.1", limits));
  granted(guard.admit("192.0.2.1", limits));
  assert.equal(hits.length, 0);
  const third = granted(guard.admit("192.0.2.1", limits));
  assert.deepEqual(third.reported, [
    { limit: "unauthenticated_connections", key: "192.0.2.1", figure: 2, max: 2, mode: "report" },
    { limit: "connections_per_ip", key: "192.0.2.1", figure: 2, max: 2, mode: "report" },
    {
      limit: "connection_attempts_per_ip",
      key: "192.0.2.1",
      figure: 2,
      max: 2,
      mode: "report",
      retryAfterMs: 1001,
    },
  ]);
  assert.deepEqual(hits, third.reported);
  assert.equal(guard.snapshot().openConnections, 3);
  assert.equal(guard.unauthenticated, 3);

  // A reported hit does not stop an enforced limit from refusing.
  const mixed = limitsOf({ perIp: 1, perIpMode: "report", attempts: 1, windowMs: 1000 });
  granted(guard.admit("198.51.100.1", mixed));
  hits.length = 0;
  const refusal = refused(guard.admit("198.51.100.1", mixed));
  assert.equal(refusal.limit, "connection_attempts_per_ip");
  assert.deepEqual(hits.map((hit) => [hit.limit, hit.mode]), [
    ["connections_per_ip", "report"],
    ["connection_attempts_per_ip", "enforce"],
  ]);
});

Deno.test("ConnectionGuard.setPressure() sheds unauthenticated work first", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const limits = limitsOf({ unauthenticated: 9 });
  const ips = Array.from({ length: 20 }, (_, i) => `192.0.2.${i + 1}`);
  assert.equal(guard.pressure, 0);
  guard.setPressure(1);
  // Level 1 halves the budget: ceil(9 / 2) = 5.
  const slots = ips.slice(0, 5).map((ip) => slotOf(guard.admit(ip, limits)));
  assert.deepEqual({ ...refused(guard.admit(ips[5]!, limits)) }, {
    ok: false,
    limit: "overload",
    key: "192.0.2.6",
    figure: 5,
    max: 5,
    mode: "enforce",
  });
  slots[0]!.authenticated();
  slots.push(slotOf(guard.admit(ips[5]!, limits)));
  guard.setPressure(2);
  assert.deepEqual([refused(guard.admit(ips[6]!, limits))].map((r) => [r.limit, r.max]), [
    ["overload", 0],
  ]);
  guard.setPressure(0);
  for (const ip of ips.slice(6, 10)) slots.push(slotOf(guard.admit(ip, limits)));
  assert.equal(refused(guard.admit(ips[10]!, limits)).limit, "unauthenticated_connections");

  // Level 1 has no budget to halve when the budget is off; level 2 refuses anyway.
  const unbudgeted = limitsOf({ unauthenticated: null });
  guard.setPressure(1);
  slotOf(guard.admit(ips[11]!, unbudgeted));
  guard.setPressure(3);
  assert.equal(refused(guard.admit(ips[12]!, unbudgeted)).limit, "overload");
  // Report mode follows the budget's mode.
  assert.equal(
    granted(guard.admit(ips[12]!, limitsOf({ mode: "report" }))).reported[0]?.limit,
    "overload",
  );
});

Deno.test("ConnectionGuard.shouldShed() names unauthenticated and anonymous sessions at level 3 only", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const table = (): boolean[] =>
    (["unauthenticated", "anonymous", "authenticated"] as const).map((c) => guard.shouldShed(c));
  assert.deepEqual(table(), [false, false, false]);
  guard.setPressure(1);
  assert.deepEqual(table(), [false, false, false]);
  guard.setPressure(2);
  assert.deepEqual(table(), [false, false, false]);
  guard.setPressure(3);
  assert.deepEqual(table(), [true, true, false]);
  assert.throws(
    () => guard.setPressure(4 as 0),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "Cannot set pressure: 'level' must be 0, 1, 2 or 3, got 4",
  );
  assert.equal(guard.pressure, 3);
});

Deno.test("ConnectionGuard.snapshot() reports top addresses, attempts near limit and tables", () => {
  const clock = new ManualClock();
  const guard = new ConnectionGuard({ clock });
  const limits = limitsOf({ perIp: 10, attempts: 10, windowMs: 60_000 });
  const slots: ConnectionSlot[] = [];
  for (let i = 0; i < 3; i++) slots.push(slotOf(guard.admit("192.0.2.3", limits)));
  for (let i = 0; i < 5; i++) slots.push(slotOf(guard.admit("192.0.2.5", limits)));
  slots.push(slotOf(guard.admit("2001:db8::1", limits)));
  for (let i = 0; i < 7; i++) slotOf(guard.admit("198.51.100.8", limits))[Symbol.dispose]();
  for (let i = 0; i < 8; i++) slotOf(guard.admit("198.51.100.9", limits))[Symbol.dispose]();
  slots.push(slotOf(guard.admit("198.51.100.9", limits)));
  slots.push(slotOf(guard.admit("198.51.100.9", limits)));
  refused(guard.admit("198.51.100.9", limits));
  slotOf(guard.admit("192.0.2.1", limitsOf({ attempts: 4, windowMs: 1000 })))[Symbol.dispose]();

  const snapshot = guard.snapshot({ top: 3 });
  assert.deepEqual(snapshot, {
    pressure: 0,
    unauthenticated: 11,
    openConnections: 11,
    openAddresses: 4,
    topAddresses: [
      { key: "192.0.2.5", open: 5 },
      { key: "192.0.2.3", open: 3 },
      { key: "198.51.100.9", open: 2 },
    ],
    nearLimit: [{ key: "198.51.100.9", attempts: 10, max: 10, windowMs: 60_000 }],
    attemptTables: [
      { max: 10, windowMs: 60_000, size: 5, maxKeys: 100_000 },
      { max: 4, windowMs: 1000, size: 1, maxKeys: 100_000 },
    ],
  });
  // 8 of 10 is near the limit too; once the window slides away, nothing is.
  slotOf(guard.admit("198.51.100.8", limits))[Symbol.dispose]();
  assert.deepEqual(guard.snapshot().nearLimit.map((n) => [n.key, n.attempts]), [
    ["198.51.100.9", 10],
    ["198.51.100.8", 8],
  ]);
  clock.advance(120_000);
  assert.deepEqual(guard.snapshot().nearLimit, []);
  for (const slot of slots) slot[Symbol.dispose]();
  assert.deepEqual(guard.snapshot().topAddresses, []);
  assert.throws(() => guard.snapshot({ top: -1 }), RangeError);
});

Deno.test("ConnectionGuard shares one attempt table between equal limits", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  const a = limitsOf({ attempts: 2, windowMs: 1000 });
  const b = limitsOf({ attempts: 2, windowMs: 1000 });
  slotOf(guard.admit("192.0.2.1", a))[Symbol.dispose]();
  slotOf(guard.admit("192.0.2.1", b))[Symbol.dispose]();
  refused(guard.admit("192.0.2.1", a));
  // A limit object changed in place is read afresh.
  const mutable = { ...a.connection_attempts_per_ip };
  const changed = { ...a, connection_attempts_per_ip: mutable };
  refused(guard.admit("192.0.2.1", changed));
  mutable.max = 3;
  slotOf(guard.admit("192.0.2.1", changed))[Symbol.dispose]();
  assert.deepEqual(guard.snapshot().attemptTables.map((t) => [t.max, t.size]), [[2, 1], [3, 1]]);
  // Limits that are off keep no table.
  slotOf(guard.admit("192.0.2.7", limitsOf({ attempts: null })))[Symbol.dispose]();
  assert.equal(guard.snapshot().attemptTables.length, 2);
});

Deno.test("ConnectionGuard.admit() takes the resolved limits section as it is", () => {
  const config = resolveConfig({});
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  for (let i = 0; i < 10; i++) slotOf(guard.admit("192.0.2.1", config.limits));
  const refusal = refused(guard.admit("192.0.2.1", config.limits));
  assert.equal(refusal.limit, "connections_per_ip");
  assert.equal(refusal.max, 10);
});

Deno.test("ConnectionGuard rejects bad addresses and options", () => {
  const guard = new ConnectionGuard({ clock: new ManualClock() });
  assert.throws(
    () => guard.admit("not-an-ip", limitsOf()),
    (error: unknown) =>
      error instanceof SyntaxError && error.message === 'Cannot parse IP address: "not-an-ip"',
  );
  assert.throws(() => guard.admit("192.0.2.1", limitsOf({ attempts: 1, windowMs: 0 })), RangeError);
  assert.equal(guard.snapshot().openConnections, 0);
  assert.throws(
    () => new ConnectionGuard({ maxTrackedAddresses: 0 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create connection guard: 'maxTrackedAddresses' must be a positive integer below 2^31, got 0",
  );
  assert.throws(() => new ConnectionGuard({ ipv6Prefix: 129 }), RangeError);
  assert.throws(() => new ConnectionGuard({ ipv6Prefix: 1.5 }), RangeError);
});
