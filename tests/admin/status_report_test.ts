import assert from "node:assert/strict";
import { type MetricsSession, ServerMetrics } from "../../src/admin/metrics.ts";
import { banView, buildStatusReport } from "../../src/admin/status_report.ts";
import { EventBus } from "../../src/core/events.ts";
import { createStats } from "../../src/core/stats.ts";
import type { LimitEvent, LimitsSnapshot } from "../../src/limits/limit_engine.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function fixture(count: number) {
  const clock = new ManualClock(1000);
  const events = new EventBus<{ limit: LimitEvent }>();
  const sessions: MetricsSession[] = [];
  for (let i = 0; i < count; i++) {
    sessions.push({
      id: `s${i}`,
      transport: {
        type: "tcp",
        bufferedBytes: i,
        remoteAddress: `192.0.2.${i}`,
        encrypted: i % 2 === 0,
      },
      phase: i === 0 ? "negotiating" : "established",
      outstandingBytes: 0,
      openedAt: i * 10,
      jid: i === 0 ? undefined : { toString: () => `u${i}@example.org/r` },
      authenticated: i !== 0,
    });
  }
  const snapshot: LimitsSnapshot = {
    sessions: count,
    authHeld: 0,
    bans: [{ target: "198.51.100.0/24", reason: "scan", source: "runtime", expiresAt: 61_000 }],
    hits: { connections_per_ip: 1 },
    connections: {
      pressure: 0,
      unauthenticated: 1,
      openConnections: count,
      openAddresses: count,
      topAddresses: [{ key: "192.0.2.1", open: 1 }],
      nearLimit: [{ key: "203.0.113.9", attempts: 28, max: 30, windowMs: 60_000 }],
      attemptTables: [],
    },
  };
  const source = {
    stats: createStats(),
    sessions: () => sessions,
    events,
    limits: { snapshot: () => snapshot },
  };
  const metrics = new ServerMetrics(source, { clock });
  return { clock, events, source, metrics };
}

Deno.test("buildStatusReport() lists the newest sessions first, without credentials", () => {
  const { source, metrics } = fixture(5);
  const status = buildStatusReport(source, metrics, { sessionsShown: 3 });
  assert.equal(status.connections.open, 5);
  assert.equal(status.sessions.total, 5);
  assert.equal(status.sessions.authenticated, 4);
  assert.deepEqual(status.sessions.shown.map((s) => s.id), ["s4", "s3", "s2"]);
  assert.deepEqual(status.sessions.shown[0], {
    id: "s4",
    jid: "u4@example.org/r",
    address: "192.0.2.4",
    transport: "tcp",
    encrypted: true,
    phase: "established",
    ageMs: 960,
    queuedBytes: 4,
  });
  const all = buildStatusReport(source, metrics);
  assert.deepEqual(all.sessions.shown.map((s) => s.id), ["s4", "s3", "s2", "s1", "s0"]);
  assert.equal(all.sessions.shown.at(-1)!.jid, null);
  assert.deepEqual(buildStatusReport(source, metrics, { sessionsShown: 0 }).sessions.shown, []);
  // The document is plain data.
  assert.deepEqual(JSON.parse(JSON.stringify(all)), all);
});

Deno.test("buildStatusReport() carries limits, bans with relative expiry, subjects and history", () => {
  const { clock, events, source, metrics } = fixture(1);
  events.emit("limit", {
    limit: "connection_attempts_per_ip",
    mode: "enforce",
    ip: "203.0.113.9",
    classes: [],
    figure: 31,
    max: 30,
  });
  clock.advance(1000);
  const status = buildStatusReport(source, metrics);
  assert.deepEqual(status.limits.bans, [
    { target: "198.51.100.0/24", reason: "scan", source: "runtime", expiresInMs: 59_000 },
  ]);
  assert.deepEqual(status.limits.nearLimit, [
    { key: "203.0.113.9", attempts: 28, max: 30, windowMs: 60_000 },
  ]);
  assert.equal(status.limited[0]!.subject, "203.0.113.9");
  assert.equal(status.limited[0]!.lastAgoMs, 1000);
  assert.deepEqual(status.history.byLimit.connection_attempts_per_ip!.at(-1), 1);
  assert.deepEqual(status.limits.hits, [
    { limit: "connection_attempts_per_ip", class: "", mode: "enforce", count: 1 },
  ]);
  assert.equal(status.uptimeMs, 1000);
});

Deno.test("banView() reports a permanent ban as null and never a negative expiry", () => {
  assert.equal(
    banView({ target: "a", reason: "r", source: "runtime", expiresAt: Infinity }, 5).expiresInMs,
    null,
  );
  assert.equal(banView({ target: "a", reason: "r", source: "static" }, 5).expiresInMs, null);
  assert.equal(
    banView({ target: "a", reason: "r", source: "runtime", expiresAt: 3 }, 5).expiresInMs,
    0,
  );
});
