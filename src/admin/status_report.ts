/**
 * The `/status` document: what an operator looks at under attack. Uptime,
 * connections, a sample of live sessions, the limiter state, who is being
 * limited now and the last hour of limit events. Plain JSON-safe data; no
 * password, credential or message body is ever read.
 *
 * @module
 */

import type { LimitsSnapshot } from "../limits/limit_engine.ts";
import type { LimitHistorySeries } from "./limit_history.ts";
import type { LimitedSubject } from "./limited_subjects.ts";
import type { LimitHitCount, MetricsSource, ServerMetrics } from "./metrics.ts";

/** Options for {@linkcode buildStatusReport}. */
export interface StatusReportOptions {
  /**
   * Live sessions listed at most (the newest ones).
   *
   * @default {100}
   */
  sessionsShown?: number;
  /**
   * Limited addresses and accounts listed at most (the most recent ones).
   *
   * @default {50}
   */
  limitedShown?: number;
}

/** One live session as the status page lists it. */
export interface SessionSummary {
  /** The session's id. */
  id: string;
  /** The bound full JID, or `null` before binding. */
  jid: string | null;
  /** The peer's IP address. */
  address: string;
  /** `tcp`, `tls`, `websocket`, `bosh` or `memory`. */
  transport: string;
  /** Whether the connection is encrypted now. */
  encrypted: boolean;
  /** Where the stream is in its life. */
  phase: string;
  /** Milliseconds since the stream opened. */
  ageMs: number;
  /** Bytes queued for the peer. */
  queuedBytes: number;
}

/** A ban as the admin API shows it. */
export interface BanView {
  /** The banned address or network. */
  target: string;
  /** Why. */
  reason: string;
  /** `static` (configuration) or `runtime` (admin API, embedding API). */
  source: "static" | "runtime";
  /** Milliseconds until it lifts, or `null` for a permanent ban. */
  expiresInMs: number | null;
}

/** The `/status` document. */
export interface StatusReport {
  /** Milliseconds since the server was created. */
  uptimeMs: number;
  /** Client connections. */
  connections: {
    /** Open now. */
    open: number;
    /** Open now, by transport. */
    byTransport: Record<string, number>;
    /** Accepted since start, by transport. */
    accepted: Record<string, number>;
    /** Refused at accept since start. */
    refused: number;
  };
  /** Open streams. */
  sessions: {
    /** How many are open. */
    total: number;
    /** How many by phase. */
    byPhase: Record<string, number>;
    /** How many have authenticated. */
    authenticated: number;
    /** The newest ones, newest first. */
    shown: SessionSummary[];
  };
  /** Counters since start. */
  counters: {
    /** Successful authentications. */
    logins: number;
    /** Failed SASL attempts. */
    loginFailures: number;
    /** Stanzas received from bound clients. */
    stanzasIn: number;
    /** Stanzas and nonzas written to clients. */
    stanzasOut: number;
    /** Bytes read from clients. */
    bytesIn: number;
    /** Characters written to clients. */
    bytesOut: number;
    /** Streams closed with a stream error, by condition. */
    streamErrors: Record<string, number>;
  };
  /** The limit engine's state. */
  limits: {
    /** Overload level, 0 to 3. */
    pressure: number;
    /** Connections not yet authenticated. */
    unauthenticated: number;
    /** Connections holding a per-address slot. */
    openConnections: number;
    /** Addresses with an open connection. */
    openAddresses: number;
    /** Sessions tracked by the engine. */
    trackedSessions: number;
    /** Addresses held by the authentication tarpit. */
    authHeldAddresses: number;
    /** The addresses with the most open connections. */
    topAddresses: LimitsSnapshot["connections"]["topAddresses"];
    /** Addresses at 80 % or more of their connection-attempt limit. */
    nearLimit: LimitsSnapshot["connections"]["nearLimit"];
    /** Connection-attempt tables: fill and capacity. */
    attemptTables: LimitsSnapshot["connections"]["attemptTables"];
    /** Bans in force. */
    bans: BanView[];
    /** Limit events since start, by limit, classes and mode. */
    hits: LimitHitCount[];
  };
  /** The addresses and accounts limited in the last minutes, most recent first. */
  limited: LimitedSubject[];
  /** Limit events per minute over the last hour, by limit. */
  history: LimitHistorySeries;
}

/**
 * Builds the `/status` document from a server and its metrics.
 *
 * @param source The server (sessions and limits).
 * @param metrics The server's metrics (counters, limit history, limited subjects).
 * @param options How many sessions and subjects to list.
 * @returns A fresh, JSON-safe object.
 *
 * @example Usage
 * ```ts
 * import { buildStatusReport } from "./status_report.ts";
 * import { ServerMetrics } from "./metrics.ts";
 * import { createStats } from "../core/stats.ts";
 * import { EventBus } from "../core/events.ts";
 * import type { LimitEvent, LimitsSnapshot } from "../limits/limit_engine.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const snapshot: LimitsSnapshot = {
 *   sessions: 0, authHeld: 0, bans: [], hits: {},
 *   connections: {
 *     pressure: 0, unauthenticated: 0, openConnections: 0, openAddresses: 0,
 *     topAddresses: [], nearLimit: [], attemptTables: [],
 *   },
 * };
 * const events = new EventBus<{ limit: LimitEvent }>();
 * const source = {
 *   stats: createStats(), sessions: () => [], events, limits: { snapshot: () => snapshot },
 * };
 * using metrics = new ServerMetrics(source, { clock: new ManualClock() });
 * events.emit("limit", {
 *   limit: "auth_failures_per_ip", mode: "enforce", ip: "192.0.2.9",
 *   classes: [], figure: 11, max: 10,
 * });
 * const status = buildStatusReport(source, metrics);
 * assert.equal(status.connections.open, 0);
 * assert.equal(status.limited[0]?.subject, "192.0.2.9");
 * assert.equal(status.history.totals.at(-1), 1);
 * ```
 */
export function buildStatusReport(
  source: MetricsSource,
  metrics: ServerMetrics,
  options: StatusReportOptions = {},
): StatusReport {
  const { sessionsShown = 100, limitedShown = 50 } = options;
  const limits = source.limits.snapshot();
  const m = metrics.snapshot({ limits });
  const now = metrics.clock.now();
  // The newest sessions: keep the last `sessionsShown` in a ring while iterating once.
  const ring: SessionSummary[] = [];
  let next = 0;
  let total = 0;
  for (const session of source.sessions()) {
    total++;
    if (sessionsShown <= 0) continue;
    const summary: SessionSummary = {
      id: session.id,
      jid: session.jid === undefined ? null : session.jid.toString(),
      address: session.transport.remoteAddress,
      transport: session.transport.type,
      encrypted: session.transport.encrypted,
      phase: session.phase,
      ageMs: Math.max(0, now - session.openedAt),
      queuedBytes: session.transport.bufferedBytes,
    };
    if (ring.length < sessionsShown) ring.push(summary);
    else ring[next] = summary;
    next = (next + 1) % Math.max(1, sessionsShown);
  }
  const shown = ring.length < sessionsShown
    ? ring.reverse()
    : [...ring.slice(next), ...ring.slice(0, next)].reverse();
  const connections = limits.connections;
  return {
    uptimeMs: m.uptimeMs,
    connections: {
      open: total,
      byTransport: m.connections.open,
      accepted: m.connections.accepted,
      refused: m.connections.refused,
    },
    sessions: {
      total,
      byPhase: m.sessionsByPhase,
      authenticated: m.authenticatedSessions,
      shown,
    },
    counters: {
      logins: m.logins,
      loginFailures: m.loginFailures,
      stanzasIn: m.stanzasIn,
      stanzasOut: m.stanzasOut,
      bytesIn: m.bytesIn,
      bytesOut: m.bytesOut,
      streamErrors: m.streamErrors,
    },
    limits: {
      pressure: connections.pressure,
      unauthenticated: connections.unauthenticated,
      openConnections: connections.openConnections,
      openAddresses: connections.openAddresses,
      trackedSessions: limits.sessions,
      authHeldAddresses: limits.authHeld,
      topAddresses: connections.topAddresses,
      nearLimit: connections.nearLimit,
      attemptTables: connections.attemptTables,
      bans: limits.bans.map((ban) => banView(ban, now)),
      hits: m.limits.hits,
    },
    limited: metrics.limited.list({ top: limitedShown }),
    history: metrics.history.series(),
  };
}

/**
 * A ban as the admin API shows it: the expiry relative to now, so no clock
 * reading leaves the process (`null` for a ban without end).
 *
 * @param ban The ban as the limit engine lists it.
 * @param now The current reading of the clock the ban list uses.
 * @returns A JSON-safe view.
 *
 * @example Usage
 * ```ts
 * import { banView } from "./status_report.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   banView({ target: "192.0.2.1", reason: "abuse", source: "runtime", expiresAt: 1500 }, 1000),
 *   { target: "192.0.2.1", reason: "abuse", source: "runtime", expiresInMs: 500 },
 * );
 * assert.equal(
 *   banView({ target: "10.0.0.0/8", reason: "x", source: "runtime", expiresAt: Infinity }, 0)
 *     .expiresInMs,
 *   null,
 * );
 * ```
 */
export function banView(
  ban: { target: string; reason: string; source: "static" | "runtime"; expiresAt?: number },
  now: number,
): BanView {
  return {
    target: ban.target,
    reason: ban.reason,
    source: ban.source,
    expiresInMs: ban.expiresAt === undefined || !Number.isFinite(ban.expiresAt)
      ? null
      : Math.max(0, ban.expiresAt - now),
  };
}
