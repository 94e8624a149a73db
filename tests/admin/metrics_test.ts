import assert from "node:assert/strict";
import { formatMetrics, type MetricsSession, ServerMetrics } from "../../src/admin/metrics.ts";
import { EventBus } from "../../src/core/events.ts";
import { createStats } from "../../src/core/stats.ts";
import type { LimitEvent, LimitsSnapshot } from "../../src/limits/limit_engine.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { parseExposition, sampleValue } from "./_exposition.ts";

function limitsSnapshot(): LimitsSnapshot {
  return {
    sessions: 3,
    authHeld: 1,
    bans: [
      { target: "10.0.0.0/8", reason: "configured", source: "static" },
      { target: "192.0.2.1", reason: "abuse", source: "runtime", expiresAt: 5000 },
    ],
    hits: {},
    connections: {
      pressure: 2,
      unauthenticated: 1,
      openConnections: 3,
      openAddresses: 2,
      topAddresses: [],
      nearLimit: [],
      attemptTables: [
        { max: 30, windowMs: 60_000, size: 7, maxKeys: 100_000 },
        { max: 600, windowMs: 60_000, size: 2, maxKeys: 100_000 },
      ],
    },
  };
}

function session(
  type: string,
  phase: string,
  queued: number,
  outstanding: number,
  authenticated = false,
): MetricsSession {
  return {
    id: crypto.randomUUID(),
    transport: { type, bufferedBytes: queued, remoteAddress: "192.0.2.5", encrypted: false },
    phase,
    outstandingBytes: outstanding,
    openedAt: 0,
    jid: undefined,
    authenticated,
  };
}

function fixture() {
  const clock = new ManualClock();
  const events = new EventBus<{ limit: LimitEvent }>();
  const stats = createStats();
  const sessions: MetricsSession[] = [];
  const metrics = new ServerMetrics({
    stats,
    sessions: () => sessions,
    events,
    limits: { snapshot: limitsSnapshot },
  }, { clock });
  return { clock, events, stats, sessions, metrics };
}

const HIT: LimitEvent = {
  limit: "distinct_recipients",
  mode: "enforce",
  ip: "192.0.2.5",
  jid: "mallory@example.org",
  classes: ["bots", "office"],
  figure: 101,
  max: 100,
};

Deno.test("ServerMetrics counts limit events by limit, classes and mode, even when a handler consumes them", () => {
  const { events, metrics } = fixture();
  using _consumer = events.on("limit", () => true, 100);
  events.emit("limit", HIT);
  events.emit("limit", HIT);
  events.emit("limit", { ...HIT, mode: "report" });
  events.emit("limit", { ...HIT, limit: "connections_per_ip", classes: [] });
  const hits = metrics.snapshot().limits.hits;
  assert.deepEqual(hits, [
    { limit: "distinct_recipients", class: "bots,office", mode: "enforce", count: 2 },
    { limit: "distinct_recipients", class: "bots,office", mode: "report", count: 1 },
    { limit: "connections_per_ip", class: "", mode: "enforce", count: 1 },
  ]);
  assert.equal(metrics.history.series().totals.at(-1), 4);
  assert.deepEqual(
    metrics.limited.list().map((s) => s.subject).sort(),
    ["192.0.2.5", "mallory@example.org"],
  );
  metrics[Symbol.dispose]();
  events.emit("limit", HIT);
  assert.equal(metrics.snapshot().limits.hits[0]!.count, 2);
});

Deno.test("ServerMetrics counts the streams limit events closed, by limit", () => {
  const { events, metrics } = fixture();
  assert.deepEqual(metrics.snapshot().limits.closedStreams, { connection_attempts_per_ip: 0 });
  const flood: LimitEvent = {
    limit: "connection_attempts_per_ip",
    mode: "enforce",
    ip: "192.0.2.9",
    classes: [],
    figure: 30,
    max: 30,
    retryAfterMs: 2000,
    closedStreams: 7,
  };
  events.emit("limit", flood);
  events.emit("limit", { ...flood, closedStreams: 2 });
  // Later refusals of the same flood close nothing more.
  const { closedStreams: _, ...nothingClosed } = flood;
  events.emit("limit", nothingClosed);
  events.emit("limit", HIT);
  const m = metrics.snapshot();
  assert.deepEqual(m.limits.closedStreams, { connection_attempts_per_ip: 9 });
  assert.equal(m.limits.hits.find((hit) => hit.limit === "connection_attempts_per_ip")?.count, 3);
  assert.match(
    metrics.text(),
    /^xmppd_limit_closed_streams_total\{limit="connection_attempts_per_ip"\} 9$/m,
  );
});

Deno.test("ServerMetrics keeps at most 512 hit series; the rest count as limit 'other'", () => {
  const { events, metrics } = fixture();
  for (let i = 0; i < 600; i++) events.emit("limit", { ...HIT, limit: `rule_${i}` });
  const hits = metrics.snapshot().limits.hits;
  assert.equal(hits.length, 513);
  assert.deepEqual(hits.at(-1), { limit: "other", class: "", mode: "enforce", count: 88 });
});

Deno.test("ServerMetrics.snapshot() sums sessions by transport and phase, queues and parser bytes", () => {
  const { clock, stats, sessions, metrics } = fixture();
  stats.connectionsAccepted = { tcp: 5, tls: 2 };
  stats.connectionsRefused = 4;
  stats.streamErrors = { conflict: 1 };
  sessions.push(
    session("tcp", "established", 100, 0, true),
    session("tcp", "negotiating", 0, 40),
    session("websocket", "wat", 7, 3),
  );
  clock.advance(2500);
  const m = metrics.snapshot();
  assert.equal(m.uptimeMs, 2500);
  assert.deepEqual(m.connections, {
    open: { tcp: 2, tls: 0, websocket: 1 },
    accepted: { tcp: 5, tls: 2 },
    refused: 4,
  });
  assert.deepEqual(m.sessionsByPhase, {
    opening: 0,
    negotiating: 1,
    tls: 0,
    established: 1,
    closed: 0,
    wat: 1,
  });
  assert.equal(m.sendQueueBytes, 107);
  assert.equal(m.parserOutstandingBytes, 43);
  assert.equal(m.authenticatedSessions, 1);
  assert.deepEqual(m.limits.bans, { static: 1, runtime: 1 });
  assert.equal(m.limits.trackedAddresses, 9);
  assert.equal(m.limits.pressure, 2);
  assert.equal(m.limits.authHeldAddresses, 1);
  // The snapshot is a copy: changing it changes nothing inside.
  m.connections.accepted.tcp = 99;
  assert.equal(metrics.snapshot().connections.accepted.tcp, 5);
});

Deno.test("formatMetrics() writes every family with HELP and TYPE, parseable and complete", () => {
  const { events, stats, sessions, metrics } = fixture();
  stats.connectionsAccepted = { tcp: 5 };
  stats.logins = 3;
  stats.loginFailures = 2;
  stats.stanzasIn = 10;
  stats.stanzasOut = 11;
  stats.bytesIn = 1000;
  stats.bytesOut = 2000;
  stats.streamErrors = { "policy-violation": 2 };
  sessions.push(session("tcp", "established", 12, 34, true));
  events.emit("limit", HIT);
  const families = parseExposition(metrics.text());
  const expected: Record<string, string> = {
    xmppd_uptime_seconds: "gauge",
    xmppd_connections: "gauge",
    xmppd_connections_accepted_total: "counter",
    xmppd_connections_refused_total: "counter",
    xmppd_logins_total: "counter",
    xmppd_login_failures_total: "counter",
    xmppd_stanzas_received_total: "counter",
    xmppd_stanzas_sent_total: "counter",
    xmppd_received_bytes_total: "counter",
    xmppd_sent_bytes_total: "counter",
    xmppd_stream_errors_total: "counter",
    xmppd_send_queue_bytes: "gauge",
    xmppd_parser_outstanding_bytes: "gauge",
    xmppd_sessions: "gauge",
    xmppd_sessions_authenticated: "gauge",
    xmppd_limit_hits_total: "counter",
    xmppd_limit_closed_streams_total: "counter",
    xmppd_limit_tracked_sessions: "gauge",
    xmppd_limit_open_connections: "gauge",
    xmppd_limit_open_addresses: "gauge",
    xmppd_limit_unauthenticated_connections: "gauge",
    xmppd_limit_pressure_level: "gauge",
    xmppd_limit_auth_held_addresses: "gauge",
    xmppd_limit_bans: "gauge",
    xmppd_limit_tracked_addresses: "gauge",
    xmppd_limit_table_entries: "gauge",
    xmppd_limit_table_capacity: "gauge",
  };
  assert.deepEqual(
    Object.fromEntries([...families.values()].map((f) => [f.name, f.type])),
    expected,
  );
  const value = (name: string, labels?: Record<string, string>) =>
    sampleValue(families, name, labels);
  assert.equal(value("xmppd_connections", { transport: "tcp" }), 1);
  assert.equal(value("xmppd_connections_accepted_total", { transport: "tcp" }), 5);
  assert.equal(value("xmppd_logins_total"), 3);
  assert.equal(value("xmppd_login_failures_total"), 2);
  assert.equal(value("xmppd_stanzas_received_total"), 10);
  assert.equal(value("xmppd_sent_bytes_total"), 2000);
  assert.equal(value("xmppd_stream_errors_total", { condition: "policy-violation" }), 2);
  assert.equal(value("xmppd_send_queue_bytes"), 12);
  assert.equal(value("xmppd_parser_outstanding_bytes"), 34);
  assert.equal(value("xmppd_sessions", { phase: "established" }), 1);
  assert.equal(value("xmppd_sessions", { phase: "opening" }), 0);
  assert.equal(
    value("xmppd_limit_hits_total", {
      limit: "distinct_recipients",
      class: "bots,office",
      mode: "enforce",
    }),
    1,
  );
  assert.equal(
    value("xmppd_limit_closed_streams_total", { limit: "connection_attempts_per_ip" }),
    0,
  );
  assert.equal(value("xmppd_limit_bans", { source: "static" }), 1);
  assert.equal(value("xmppd_limit_table_entries", { max: "600", window_seconds: "60" }), 2);
  assert.equal(value("xmppd_limit_table_capacity", { max: "30" }), 100_000);
  assert.equal(value("xmppd_limit_pressure_level"), 2);
});

Deno.test("formatMetrics() never prints a label value unescaped", () => {
  const { events, metrics } = fixture();
  events.emit("limit", { ...HIT, limit: 'evil"}\nx 1', classes: ["a\\b"] });
  const families = parseExposition(metrics.text());
  const hit = families.get("xmppd_limit_hits_total")!.samples[0]!;
  assert.deepEqual(hit.labels, { limit: 'evil"}\nx 1', class: "a\\b", mode: "enforce" });
  // The clock stands still, so the text is the formatted snapshot.
  assert.equal(formatMetrics(metrics.snapshot()), metrics.text());
});
