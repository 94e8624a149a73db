import assert from "node:assert/strict";
import type { LimitMode, WindowLimit } from "../../src/config/schema.ts";
import { resolveConfig } from "../../src/config/schema.ts";
import {
  type AuthAllowed,
  type AuthDecision,
  AuthGuard,
  type AuthLimitHit,
  type AuthRefused,
} from "../../src/limits/auth_guard.ts";
import { AuthBackoff } from "../../src/limits/backoff.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function limitOf(max: number | null, window = 300_000, mode: LimitMode = "enforce"): WindowLimit {
  return { max, window, mode };
}

function allowed(decision: AuthDecision): AuthAllowed {
  if (!decision.allowed) {
    assert.fail(`expected an allowed attempt, got ${JSON.stringify(decision)}`);
  }
  return decision;
}

function refused(decision: AuthDecision): AuthRefused {
  if (decision.allowed) assert.fail("expected a refusal, got an allowed attempt");
  return decision;
}

Deno.test("AuthGuard.failed() returns the tarpit delays of the backoff exactly", () => {
  const clock = new ManualClock();
  const guard = new AuthGuard({ clock });
  const limit = limitOf(100, 3_600_000);
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const delay = guard.failed("192.0.2.1", limit);
    delays.push(delay);
    clock.advance(delay); // the client waits for each answer
  }
  assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  assert.equal(guard.failures("192.0.2.1", limit), 9);

  const custom = new AuthGuard({
    clock,
    backoff: new AuthBackoff({ freeFailures: 2, baseDelayMs: 250, maxDelayMs: 600 }),
  });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => custom.failed("192.0.2.1", limit)),
    [0, 0, 250, 500, 600],
  );
});

Deno.test("AuthGuard.beforeAttempt() delays attempts until the tarpit of the last failure ends", () => {
  const clock = new ManualClock();
  const guard = new AuthGuard({ clock });
  const limit = limitOf(10);
  assert.deepEqual(guard.beforeAttempt("192.0.2.1", limit), {
    allowed: true,
    delayMs: 0,
    reported: [],
  });
  assert.equal(guard.failed("192.0.2.1", limit), 0); // free: no hold
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", limit)).delayMs, 0);
  assert.equal(guard.failed("192.0.2.1", limit), 1000);
  // Another connection of the same address waits out the rest of the tarpit.
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", limit)).delayMs, 1000);
  clock.advance(400);
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", limit)).delayMs, 600);
  // Parallel failures keep the latest deadline.
  assert.equal(guard.failed("192.0.2.1", limit), 2000); // held until 2400
  clock.advance(600);
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", limit)).delayMs, 1400);
  clock.advance(1400);
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", limit)).delayMs, 0);
  // Other addresses are never held.
  guard.failed("192.0.2.9", limit);
  assert.equal(guard.failed("192.0.2.9", limit), 1000);
  assert.equal(allowed(guard.beforeAttempt("192.0.2.2", limit)).delayMs, 0);
  assert.equal(guard.snapshot().held, 1);
});

Deno.test("AuthGuard.beforeAttempt() refuses once the window holds max failures", () => {
  const clock = new ManualClock();
  const hits: AuthLimitHit[] = [];
  const guard = new AuthGuard({ clock, onLimit: (hit) => hits.push(hit) });
  const limit = limitOf(3, 300_000);
  for (let i = 0; i < 3; i++) {
    allowed(guard.beforeAttempt("192.0.2.1", limit));
    clock.advance(guard.failed("192.0.2.1", limit));
  }
  assert.equal(clock.now(), 3000);
  const refusal = refused(guard.beforeAttempt("192.0.2.1", limit));
  assert.deepEqual({ ...refusal }, {
    limit: "auth_failures_per_ip",
    key: "192.0.2.1",
    figure: 3,
    max: 3,
    mode: "enforce",
    retryAfterMs: 297_001,
    allowed: false,
  });
  assert.equal(hits.length, 1);
  assert.equal(hits[0], refusal);
  // Refused attempts are not failures: the lockout does not grow.
  refused(guard.beforeAttempt("192.0.2.1", limit));
  clock.advance(297_000);
  refused(guard.beforeAttempt("192.0.2.1", limit));
  clock.advance(1);
  // The next window starts with the old failures fading out.
  allowed(guard.beforeAttempt("192.0.2.1", limit));
  assert.equal(guard.failures("192.0.2.1", limit), 3 * (299_999 / 300_000));
  // Two windows on, the first failure is free again.
  clock.advance(600_000);
  assert.equal(guard.failures("192.0.2.1", limit), 0);
  assert.equal(guard.failed("192.0.2.1", limit), 0);
});

Deno.test("AuthGuard.failed() past the limit keeps the count and delay at max", () => {
  const guard = new AuthGuard({ clock: new ManualClock() });
  const limit = limitOf(3);
  // Parallel connections all allowed before their failures arrive.
  assert.deepEqual([1, 2, 3, 4, 5].map(() => guard.failed("192.0.2.1", limit)), [
    0,
    1000,
    2000,
    2000,
    2000,
  ]);
  assert.equal(guard.failures("192.0.2.1", limit), 3);
});

Deno.test("AuthGuard.succeeded() clears the address's failures and tarpit", () => {
  const clock = new ManualClock();
  const guard = new AuthGuard({ clock });
  const limit = limitOf(3);
  const other = limitOf(5, 60_000);
  for (let i = 0; i < 3; i++) guard.failed("2001:db8:1:2::1", limit);
  guard.failed("2001:db8:1:2::1", other);
  guard.failed("2001:db8:1:2::1", other);
  guard.failed("192.0.2.7", limit);
  refused(guard.beforeAttempt("2001:db8:1:2::1", limit));
  // Success from any address of the /64 clears it, under every limit.
  guard.succeeded("2001:db8:1:2::99");
  assert.deepEqual(guard.beforeAttempt("2001:db8:1:2::1", limit), {
    allowed: true,
    delayMs: 0,
    reported: [],
  });
  assert.equal(guard.failures("2001:db8:1:2::1", limit), 0);
  assert.equal(guard.failures("2001:db8:1:2::1", other), 0);
  assert.equal(guard.failed("2001:db8:1:2::1", limit), 0);
  // Other addresses keep theirs.
  assert.equal(guard.failures("192.0.2.7", limit), 1);
  guard.succeeded("198.51.100.1"); // unknown address: nothing to do
});

Deno.test("AuthGuard groups IPv6 by /64 and IPv4-mapped addresses with IPv4", () => {
  const guard = new AuthGuard({ clock: new ManualClock() });
  const limit = limitOf(2);
  guard.failed("2001:db8:1:2::1", limit);
  guard.failed("2001:db8:1:2:ffff::2", limit);
  assert.equal(refused(guard.beforeAttempt("2001:db8:1:2::3", limit)).key, "2001:db8:1:2::/64");
  allowed(guard.beforeAttempt("2001:db8:1:3::1", limit));
  guard.failed("::ffff:192.0.2.1", limit);
  guard.failed("192.0.2.1", limit);
  assert.equal(refused(guard.beforeAttempt("::FFFF:192.0.2.1", limit)).key, "192.0.2.1");

  const perHost = new AuthGuard({ clock: new ManualClock(), ipv6Prefix: 128 });
  perHost.failed("2001:db8:1:2::1", limit);
  perHost.failed("2001:db8:1:2::1", limit);
  allowed(perHost.beforeAttempt("2001:db8:1:2::2", limit));
});

Deno.test("AuthGuard in report mode lets attempts through, reports, and holds nothing", () => {
  const hits: AuthLimitHit[] = [];
  const guard = new AuthGuard({ clock: new ManualClock(), onLimit: (hit) => hits.push(hit) });
  const limit = limitOf(2, 60_000, "report");
  assert.equal(guard.failed("192.0.2.1", limit), 0);
  assert.equal(guard.failed("192.0.2.1", limit), 0);
  assert.equal(guard.failed("192.0.2.1", limit), 0);
  const decision = allowed(guard.beforeAttempt("192.0.2.1", limit));
  assert.equal(decision.delayMs, 0);
  assert.deepEqual(decision.reported, [{
    limit: "auth_failures_per_ip",
    key: "192.0.2.1",
    figure: 2,
    max: 2,
    mode: "report",
    retryAfterMs: 60_001,
  }]);
  assert.deepEqual(hits, decision.reported);
  assert.equal(guard.snapshot().held, 0);
});

Deno.test("AuthGuard with max null counts and holds nothing", () => {
  const guard = new AuthGuard({ clock: new ManualClock() });
  const off = limitOf(null);
  for (let i = 0; i < 50; i++) assert.equal(guard.failed("192.0.2.1", off), 0);
  assert.equal(allowed(guard.beforeAttempt("192.0.2.1", off)).delayMs, 0);
  assert.equal(guard.failures("192.0.2.1", off), 0);
  assert.deepEqual(guard.snapshot(), { held: 0, failureTables: [] });
});

Deno.test("AuthGuard tables never grow past maxTrackedAddresses", () => {
  const clock = new ManualClock();
  const guard = new AuthGuard({ clock, maxTrackedAddresses: 100 });
  const limit = limitOf(10);
  for (let i = 0; i < 100_000; i++) {
    const ip = `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
    guard.failed(ip, limit);
    guard.failed(ip, limit); // delayed: held
  }
  const snapshot = guard.snapshot();
  assert.deepEqual(snapshot.failureTables, [{
    max: 10,
    windowMs: 300_000,
    size: 100,
    maxKeys: 100,
  }]);
  assert.equal(snapshot.held, 100);
  // The most recent addresses are still tracked, the oldest dropped.
  assert.equal(guard.failures("2001:db8:1:869f::1", limit), 2);
  assert.equal(guard.failures("2001:db8:0:0::1", limit), 0);
  clock.advance(1000);
  assert.equal(guard.snapshot().held, 0);
});

Deno.test("AuthGuard takes the resolved auth_failures_per_ip limit as it is", () => {
  const { limits } = resolveConfig({});
  const guard = new AuthGuard({ clock: new ManualClock() });
  for (let i = 0; i < 10; i++) guard.failed("192.0.2.1", limits.auth_failures_per_ip);
  const refusal = refused(guard.beforeAttempt("192.0.2.1", limits.auth_failures_per_ip));
  assert.equal(refusal.max, 10);
  assert.equal(refusal.retryAfterMs, 300_001);
});

Deno.test("AuthGuard rejects bad addresses and options", () => {
  const guard = new AuthGuard({ clock: new ManualClock() });
  for (
    const call of [
      () => guard.beforeAttempt("nope", limitOf(3)),
      () => guard.failed("nope", limitOf(3)),
      () => guard.succeeded("nope"),
      () => guard.failures("nope", limitOf(3)),
    ]
  ) {
    assert.throws(
      call,
      (error: unknown) =>
        error instanceof SyntaxError && error.message === 'Cannot parse IP address: "nope"',
    );
  }
  assert.throws(() => guard.failed("192.0.2.1", limitOf(3, 0)), RangeError);
  assert.throws(
    () => new AuthGuard({ maxTrackedAddresses: 1.5 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create auth guard: 'maxTrackedAddresses' must be a positive integer below 2^31, got 1.5",
  );
  assert.throws(() => new AuthGuard({ ipv6Prefix: -1 }), RangeError);
});
