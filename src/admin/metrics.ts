/**
 * Server metrics: the server's counters, live session figures and every
 * limiter's state, as a structured snapshot and as Prometheus text. Limit
 * events are counted here (by limit, class and mode) by subscribing to the
 * server's `limit` event; a per-minute history and the table of subjects
 * limited now feed the status page.
 *
 * Nothing here reads a password or a message body: only counters, addresses,
 * JIDs and limit names.
 *
 * @module
 */

import { type Clock, systemTimers } from "../core/clock.ts";
import type { ServerStats } from "../core/stats.ts";
import type { LimitEvent, LimitsSnapshot } from "../limits/limit_engine.ts";
import type { SessionPhase } from "../stream/c2s_session.ts";
import { LimitHistory } from "./limit_history.ts";
import { LimitedSubjects } from "./limited_subjects.ts";
import { ExpositionWriter } from "./prometheus.ts";

/** What metrics read of one live session. */
export interface MetricsSession {
  /** The session's id, for the status page. */
  readonly id: string;
  /** The connection. */
  readonly transport: {
    /** `tcp`, `tls`, `websocket`, `bosh` or `memory`. */
    readonly type: string;
    /** Bytes queued for the peer and not yet taken by the operating system. */
    readonly bufferedBytes: number;
    /** The peer's IP address. */
    readonly remoteAddress: string;
    /** Whether the connection is encrypted now. */
    readonly encrypted: boolean;
  };
  /** Where the stream is in its life. */
  readonly phase: string;
  /** Bytes fed to the parser that are not yet a complete stanza. */
  readonly outstandingBytes: number;
  /** When the stream opened, on the metrics clock. */
  readonly openedAt: number;
  /** The bound JID, once bound. */
  readonly jid: { toString(): string } | undefined;
  /** Whether SASL succeeded. */
  readonly authenticated: boolean;
}

/** Where limit events come from (the server's event bus). */
export interface LimitEventSource {
  /**
   * Subscribes to limit events.
   *
   * @returns A disposable that unsubscribes.
   */
  on(
    name: "limit",
    handler: (event: LimitEvent) => boolean | void,
    priority?: number,
  ): Disposable;
}

/** What {@linkcode ServerMetrics} reads: an `XmppServer` fits. */
export interface MetricsSource {
  /** Counters since start. */
  readonly stats: ServerStats;
  /** Every open stream. */
  sessions(): Iterable<MetricsSession>;
  /** The limit engine's live state. */
  readonly limits: { snapshot(): LimitsSnapshot };
  /** Limit events. */
  readonly events: LimitEventSource;
}

/** Options for {@linkcode ServerMetrics}. */
export interface ServerMetricsOptions {
  /**
   * The server's clock (uptime, history buckets, session ages).
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * How long an address or account counts as "limited now" after its last event, in milliseconds.
   *
   * @default {300000}
   */
  recentMs?: number;
}

/** Options for {@linkcode ServerMetrics.snapshot}. */
export interface SnapshotOptions {
  /**
   * A limits snapshot already taken, to avoid taking a second one.
   *
   * @default {undefined}
   */
  limits?: LimitsSnapshot;
}

/** Limit events counted for one limit, class combination and mode. */
export interface LimitHitCount {
  /** The limit's configuration key, e.g. `connections_per_ip`. */
  limit: string;
  /** The classes that applied, comma-separated (`""` for none). */
  class: string;
  /** `enforce` or `report`. */
  mode: string;
  /** Events since the server was created. */
  count: number;
}

/** Every metric as numbers. */
export interface MetricsSnapshot {
  /** Milliseconds since the metrics (and the server) were created. */
  uptimeMs: number;
  /** Client connections. */
  connections: {
    /** Open now, by transport type. */
    open: Record<string, number>;
    /** Accepted since start, by transport type. */
    accepted: Record<string, number>;
    /** Refused at accept since start (limits, bans, overload). */
    refused: number;
  };
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
  /** Characters written to clients (bytes for ASCII traffic). */
  bytesOut: number;
  /** Streams closed with a stream error, by condition. */
  streamErrors: Record<string, number>;
  /** Bytes queued for clients now, over all connections. */
  sendQueueBytes: number;
  /** Bytes of incomplete stanzas held by parsers now, over all connections. */
  parserOutstandingBytes: number;
  /** Open streams by phase. */
  sessionsByPhase: Record<string, number>;
  /** Open streams that have authenticated. */
  authenticatedSessions: number;
  /** Limiter state. */
  limits: {
    /** Limit events since start, by limit, classes and mode. */
    hits: LimitHitCount[];
    /**
     * Streams closed by limit events since start, by limit (the
     * unauthenticated streams of addresses refused for
     * `connection_attempts_per_ip`).
     */
    closedStreams: Record<string, number>;
    /** Sessions tracked by the limit engine. */
    trackedSessions: number;
    /** Connections holding a per-address slot. */
    openConnections: number;
    /** Addresses (IPv6: prefixes) with an open connection. */
    openAddresses: number;
    /** Connections not yet authenticated (server-wide budget). */
    unauthenticated: number;
    /** Overload level, 0 (none) to 3 (shedding unauthenticated streams). */
    pressure: number;
    /** Addresses held by the authentication tarpit. */
    authHeldAddresses: number;
    /** Bans in force, by source. */
    bans: { static: number; runtime: number };
    /** Addresses with connection-attempt counters, over all tables. */
    trackedAddresses: number;
    /** The connection-attempt tables: fill and capacity. */
    attemptTables: { max: number; windowMs: number; size: number; maxKeys: number }[];
  };
}

/** Phases always reported, so a gauge drops to 0 rather than vanishing. */
const SESSION_PHASES = [
  "opening",
  "negotiating",
  "tls",
  "established",
  "closed",
] as const satisfies readonly SessionPhase[];
/** Distinct (limit, class, mode) series kept; later ones count under limit "other". */
const MAX_HIT_SERIES = 512;
// Observers first: counting must not depend on what other handlers return.
const OBSERVER_PRIORITY = Number.MAX_SAFE_INTEGER;

/**
 * Collects the server's metrics. An `XmppServer` makes one at construction;
 * its `metrics()` returns {@linkcode ServerMetrics.text}.
 *
 * @example Usage
 * ```ts
 * import { ServerMetrics } from "./metrics.ts";
 * import { createStats } from "../core/stats.ts";
 * import { EventBus } from "../core/events.ts";
 * import type { LimitEvent, LimitsSnapshot } from "../limits/limit_engine.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const events = new EventBus<{ limit: LimitEvent }>();
 * const snapshot: LimitsSnapshot = {
 *   sessions: 0, authHeld: 0, bans: [], hits: {},
 *   connections: {
 *     pressure: 0, unauthenticated: 0, openConnections: 0, openAddresses: 0,
 *     topAddresses: [], nearLimit: [], attemptTables: [],
 *   },
 * };
 * using metrics = new ServerMetrics({
 *   stats: createStats(), sessions: () => [], events,
 *   limits: { snapshot: () => snapshot },
 * }, { clock: new ManualClock() });
 * events.emit("limit", {
 *   limit: "connections_per_ip", mode: "enforce", ip: "192.0.2.1",
 *   classes: [], figure: 11, max: 10,
 * });
 * assert.match(
 *   metrics.text(),
 *   /^xmppd_limit_hits_total\{limit="connections_per_ip",class="",mode="enforce"\} 1$/m,
 * );
 * ```
 */
export class ServerMetrics implements Disposable {
  readonly #source: MetricsSource;
  readonly #clock: Clock;
  readonly #createdAt: number;
  readonly #hits = new Map<string, LimitHitCount>();
  // Seeded so the counter exists (at 0) before the first flood.
  readonly #closedStreams: Record<string, number> = { connection_attempts_per_ip: 0 };
  readonly #subscription: Disposable;
  /** Limit events per minute over the last hour, by limit name. */
  readonly history: LimitHistory;
  /** The addresses and accounts limited recently. */
  readonly limited: LimitedSubjects;

  /**
   * Starts counting the source's limit events.
   *
   * @param source The server (or anything shaped like it).
   * @param options The clock and how long "limited now" lasts.
   */
  constructor(source: MetricsSource, options: ServerMetricsOptions = {}) {
    this.#source = source;
    this.#clock = options.clock ?? systemTimers;
    this.#createdAt = this.#clock.now();
    this.history = new LimitHistory(this.#clock);
    this.limited = new LimitedSubjects(
      this.#clock,
      options.recentMs === undefined ? {} : { recentMs: options.recentMs },
    );
    this.#subscription = source.events.on("limit", (event) => {
      this.#record(event);
    }, OBSERVER_PRIORITY);
  }

  /** The clock the metrics use (the server's). */
  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Every metric as numbers.
   *
   * @param options A limits snapshot to reuse.
   * @returns A fresh object, safe to serialise.
   */
  snapshot(options: SnapshotOptions = {}): MetricsSnapshot {
    const source = this.#source;
    const stats = source.stats;
    const limits = options.limits ?? source.limits.snapshot();
    const open: Record<string, number> = {};
    for (const type in stats.connectionsAccepted) open[type] = 0;
    const sessionsByPhase: Record<string, number> = {};
    for (const phase of SESSION_PHASES) sessionsByPhase[phase] = 0;
    let sendQueueBytes = 0;
    let parserOutstandingBytes = 0;
    let authenticatedSessions = 0;
    for (const session of source.sessions()) {
      const transport = session.transport;
      open[transport.type] = (open[transport.type] ?? 0) + 1;
      sessionsByPhase[session.phase] = (sessionsByPhase[session.phase] ?? 0) + 1;
      sendQueueBytes += transport.bufferedBytes;
      parserOutstandingBytes += session.outstandingBytes;
      if (session.authenticated) authenticatedSessions++;
    }
    const connections = limits.connections;
    let staticBans = 0;
    for (const ban of limits.bans) if (ban.source === "static") staticBans++;
    let trackedAddresses = 0;
    for (const table of connections.attemptTables) trackedAddresses += table.size;
    return {
      uptimeMs: this.#clock.now() - this.#createdAt,
      connections: {
        open,
        accepted: { ...stats.connectionsAccepted },
        refused: stats.connectionsRefused,
      },
      logins: stats.logins,
      loginFailures: stats.loginFailures,
      stanzasIn: stats.stanzasIn,
      stanzasOut: stats.stanzasOut,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      streamErrors: { ...stats.streamErrors },
      sendQueueBytes,
      parserOutstandingBytes,
      sessionsByPhase,
      authenticatedSessions,
      limits: {
        hits: [...this.#hits.values()].map((hit) => ({ ...hit })),
        closedStreams: { ...this.#closedStreams },
        trackedSessions: limits.sessions,
        openConnections: connections.openConnections,
        openAddresses: connections.openAddresses,
        unauthenticated: connections.unauthenticated,
        pressure: connections.pressure,
        authHeldAddresses: limits.authHeld,
        bans: { static: staticBans, runtime: limits.bans.length - staticBans },
        trackedAddresses,
        attemptTables: connections.attemptTables.map((table) => ({ ...table })),
      },
    };
  }

  /**
   * Every metric in the Prometheus text exposition format (0.0.4).
   *
   * @returns The text to serve at `/metrics`.
   */
  text(): string {
    return formatMetrics(this.snapshot());
  }

  /** Stops counting limit events. */
  [Symbol.dispose](): void {
    this.#subscription[Symbol.dispose]();
  }

  #record(event: LimitEvent): void {
    const classes = event.classes.join(",");
    const key = event.limit + "\0" + classes + "\0" + event.mode;
    let hit = this.#hits.get(key);
    if (hit === undefined) {
      if (this.#hits.size < MAX_HIT_SERIES) {
        hit = { limit: event.limit, class: classes, mode: event.mode, count: 0 };
        this.#hits.set(key, hit);
      } else {
        const other = "other\0\0" + event.mode;
        hit = this.#hits.get(other);
        if (hit === undefined) {
          hit = { limit: "other", class: "", mode: event.mode, count: 0 };
          this.#hits.set(other, hit);
        }
      }
    }
    hit.count++;
    const closed = event.closedStreams;
    if (closed !== undefined && closed > 0) {
      const closedStreams = this.#closedStreams;
      // Only limits that close streams report them: a handful of names, never "other".
      closedStreams[event.limit] = (closedStreams[event.limit] ?? 0) + closed;
    }
    this.history.record(event.limit);
    this.limited.record(event);
  }
}

function counterByLabel(
  out: ExpositionWriter,
  label: string,
  values: Record<string, number>,
): void {
  for (const key of Object.keys(values).sort()) out.sample(values[key]!, { [label]: key });
}

/**
 * Renders a metrics snapshot in the Prometheus text exposition format.
 *
 * @param m The snapshot.
 * @returns The exposition text.
 *
 * @example Usage
 * ```ts
 * import { formatMetrics, type MetricsSnapshot } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * const m: MetricsSnapshot = {
 *   uptimeMs: 1500, connections: { open: { tcp: 1 }, accepted: { tcp: 4 }, refused: 2 },
 *   logins: 3, loginFailures: 1, stanzasIn: 10, stanzasOut: 12, bytesIn: 900, bytesOut: 1200,
 *   streamErrors: { "policy-violation": 1 }, sendQueueBytes: 0, parserOutstandingBytes: 0,
 *   sessionsByPhase: { established: 1 }, authenticatedSessions: 1,
 *   limits: {
 *     hits: [], closedStreams: { connection_attempts_per_ip: 3 }, trackedSessions: 1, openConnections: 1, openAddresses: 1, unauthenticated: 0,
 *     pressure: 0, authHeldAddresses: 0, bans: { static: 0, runtime: 0 }, trackedAddresses: 1,
 *     attemptTables: [],
 *   },
 * };
 * const text = formatMetrics(m);
 * assert.match(text, /^xmppd_connections_accepted_total\{transport="tcp"\} 4$/m);
 * assert.match(text, /^xmppd_stream_errors_total\{condition="policy-violation"\} 1$/m);
 * assert.match(text, /^xmppd_limit_closed_streams_total\{limit="connection_attempts_per_ip"\} 3$/m);
 * ```
 */
export function formatMetrics(m: MetricsSnapshot): string {
  const out = new ExpositionWriter();
  out.family("xmppd_uptime_seconds", "gauge", "Seconds since the server was created.");
  out.sample(Math.round(m.uptimeMs) / 1000);

  out.family("xmppd_connections", "gauge", "Client connections open now, by transport.");
  counterByLabel(out, "transport", m.connections.open);
  out.family(
    "xmppd_connections_accepted_total",
    "counter",
    "Client connections accepted, by transport.",
  );
  counterByLabel(out, "transport", m.connections.accepted);
  out.family(
    "xmppd_connections_refused_total",
    "counter",
    "Client connections refused before any byte was read (limits, bans, overload).",
  );
  out.sample(m.connections.refused);

  out.family("xmppd_logins_total", "counter", "Successful SASL authentications.");
  out.sample(m.logins);
  out.family("xmppd_login_failures_total", "counter", "Failed SASL attempts.");
  out.sample(m.loginFailures);

  out.family("xmppd_stanzas_received_total", "counter", "Stanzas received from bound clients.");
  out.sample(m.stanzasIn);
  out.family("xmppd_stanzas_sent_total", "counter", "Stanzas and nonzas written to clients.");
  out.sample(m.stanzasOut);
  out.family("xmppd_received_bytes_total", "counter", "Bytes read from clients.");
  out.sample(m.bytesIn);
  out.family(
    "xmppd_sent_bytes_total",
    "counter",
    "Characters written to clients (bytes for ASCII traffic).",
  );
  out.sample(m.bytesOut);

  out.family(
    "xmppd_stream_errors_total",
    "counter",
    "Streams closed with a stream error, by condition.",
  );
  counterByLabel(out, "condition", m.streamErrors);

  out.family(
    "xmppd_send_queue_bytes",
    "gauge",
    "Bytes queued for clients and not yet taken by the operating system, over all connections.",
  );
  out.sample(m.sendQueueBytes);
  out.family(
    "xmppd_parser_outstanding_bytes",
    "gauge",
    "Bytes of incomplete stanzas held by stream parsers, over all connections.",
  );
  out.sample(m.parserOutstandingBytes);

  out.family("xmppd_sessions", "gauge", "Client streams open now, by phase.");
  counterByLabel(out, "phase", m.sessionsByPhase);
  out.family("xmppd_sessions_authenticated", "gauge", "Client streams that have authenticated.");
  out.sample(m.authenticatedSessions);

  const limits = m.limits;
  out.family(
    "xmppd_limit_hits_total",
    "counter",
    "XEP-0205 limit events (enforced, or only reported in report mode), by limit, classes and mode.",
  );
  const hits = limits.hits.map((hit) => ({ hit, key: `${hit.limit}\0${hit.class}\0${hit.mode}` }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { hit } of hits) {
    out.sample(hit.count, { limit: hit.limit, class: hit.class, mode: hit.mode });
  }
  out.family(
    "xmppd_limit_closed_streams_total",
    "counter",
    "Streams closed by limit events, by limit: unauthenticated streams of an address refused for connection_attempts_per_ip.",
  );
  counterByLabel(out, "limit", limits.closedStreams);
  out.family("xmppd_limit_tracked_sessions", "gauge", "Sessions tracked by the limit engine.");
  out.sample(limits.trackedSessions);
  out.family(
    "xmppd_limit_open_connections",
    "gauge",
    "Connections holding a per-address connection slot.",
  );
  out.sample(limits.openConnections);
  out.family(
    "xmppd_limit_open_addresses",
    "gauge",
    "Addresses (IPv6: prefixes) with at least one open connection.",
  );
  out.sample(limits.openAddresses);
  out.family(
    "xmppd_limit_unauthenticated_connections",
    "gauge",
    "Connections not yet authenticated, counted against limits.unauthenticated_connections.",
  );
  out.sample(limits.unauthenticated);
  out.family(
    "xmppd_limit_pressure_level",
    "gauge",
    "Overload level, 0 (none) to 3 (unauthenticated streams shed).",
  );
  out.sample(limits.pressure);
  out.family(
    "xmppd_limit_auth_held_addresses",
    "gauge",
    "Addresses held by the authentication-failure tarpit.",
  );
  out.sample(limits.authHeldAddresses);
  out.family("xmppd_limit_bans", "gauge", "Bans in force, by source (static or runtime).");
  out.sample(limits.bans.runtime, { source: "runtime" });
  out.sample(limits.bans.static, { source: "static" });
  out.family(
    "xmppd_limit_tracked_addresses",
    "gauge",
    "Addresses with connection-attempt counters, over all attempt tables.",
  );
  out.sample(limits.trackedAddresses);
  out.family(
    "xmppd_limit_table_entries",
    "gauge",
    "Entries in each connection-attempt table (one per distinct max and window).",
  );
  for (const table of limits.attemptTables) out.sample(table.size, tableLabels(table));
  out.family(
    "xmppd_limit_table_capacity",
    "gauge",
    "Capacity of each connection-attempt table; the oldest entry is forgotten beyond it.",
  );
  for (const table of limits.attemptTables) out.sample(table.maxKeys, tableLabels(table));
  return out.text();
}

function tableLabels(table: { max: number; windowMs: number }): Record<string, string> {
  return {
    table: "connection_attempts_per_ip",
    max: String(table.max),
    window_seconds: String(table.windowMs / 1000),
  };
}
