/**
 * The XMPP server: listeners, streams, accounts and routing for one domain,
 * with hooks an embedding app can use.
 *
 * @module
 */

import { createPlainMechanism } from "./auth/plain.ts";
import type { SaslMechanism } from "./auth/sasl_mechanism.ts";
import { createScramMechanism } from "./auth/scram.ts";
import { createAccountRecord } from "./auth/credentials.ts";
import { systemTimers, type TimerId, type Timers } from "./core/clock.ts";
import { EventBus } from "./core/events.ts";
import { Logger } from "./core/log.ts";
import { createStats, type ServerStats } from "./core/stats.ts";
import { resolveConfig, type ServerConfig, type ServerConfigInput } from "./config/schema.ts";
import { ConfigError } from "./config/validate.ts";
import { StanzaError } from "./errors/stanza_error.ts";
import { StreamError } from "./errors/stream_error.ts";
import { DiscoInfo, registerDisco } from "./im/disco.ts";
import { registerPing } from "./im/ping.ts";
import { registerVersion } from "./im/version.ts";
import { Jid } from "./jid/jid.ts";
import { type IqHandler, IqRegistry, type IqScope } from "./routing/iq_registry.ts";
import { Router } from "./routing/router.ts";
import { SessionRegistry } from "./routing/session_registry.ts";
import type { AccountStore, ScramHash } from "./storage/account_store.ts";
import { MemoryAccountStore } from "./storage/memory_account_store.ts";
import { SqliteAccountStore } from "./storage/sqlite_account_store.ts";
import type { ImStore, RosterData } from "./storage/im_store.ts";
import { MemoryImStore } from "./storage/memory_im_store.ts";
import { SqliteImStore } from "./storage/sqlite_im_store.ts";
import { ImService } from "./im/im_service.ts";
import { AccountServices } from "./im/account_services.ts";
import type { RegistrationSettings } from "./im/register.ts";
import { C2sSession, type SessionHost, type StreamPolicy } from "./stream/c2s_session.ts";
import { generateResource } from "./stream/bind.ts";
import { type LoadedTlsMaterial, loadTlsMaterial } from "./tls/tls_material.ts";
import { listenTcp, type TcpListener } from "./transport/tcp_listener.ts";
import { TcpTransport } from "./transport/tcp_transport.ts";
import {
  type AcceptResult,
  type HttpListener,
  httpListenerOptions,
  listenHttp,
} from "./transport/http_listener.ts";
import type { Transport, TransportType } from "./transport/transport.ts";
import type { Element } from "./xml/element.ts";
import { errorReply } from "./errors/stanza_error.ts";
import {
  LimitEngine,
  type LimitEvent,
  type LimitsSnapshot,
  parserCaps,
} from "./limits/limit_engine.ts";
import type { BanEntry, BanOptions } from "./limits/ban_list.ts";
import type { PressureLevel } from "./limits/connection_guard.ts";
import type { RuleTarget } from "./limits/stanza_rules.ts";
import type { LimitsConfig } from "./config/schema.ts";
import { AdminServer } from "./admin/admin_server.ts";
import { type MetricsSnapshot, ServerMetrics } from "./admin/metrics.ts";

/** Events an embedding app can subscribe to through {@linkcode XmppServer.events}. */
export interface ServerEvents {
  /** A connection arrived; return `true` to refuse it before any byte is read. */
  connection: { remoteAddress: string; type: TransportType };
  /** A stream authenticated. */
  authenticated: { session: C2sSession; username: string; mechanism: string };
  /** A SASL attempt failed. */
  "auth-failure": { session: C2sSession; condition: string; mechanism: string | undefined };
  /** A resource was bound. */
  bound: { session: C2sSession; jid: string };
  /** A stanza from a bound client, before routing; return `true` to consume it. */
  stanza: { session: C2sSession; stanza: Element };
  /** A stream ended. */
  closed: { session: C2sSession; error: StreamError | undefined };
  /** A XEP-0205 limit triggered (or would have, in report mode). */
  limit: LimitEvent;
}

/** Runtime control of the XEP-0205 limits, through {@linkcode XmppServer.limits}. */
export interface LimitsAdmin {
  /** Live limiter state: sessions, open connections per address, bans, hits by limit. */
  snapshot(): LimitsSnapshot;
  /** Refuses an address or CIDR from now on and closes its open streams. */
  ban(addressOrCidr: string, options?: BanOptions): BanEntry;
  /** Lifts a runtime ban. */
  unban(addressOrCidr: string): boolean;
  /** Replaces the `limits:` section at runtime; live sessions follow. Throws `ConfigError`. */
  update(limits: unknown): LimitsConfig;
  /** Sets the overload level by hand (0 none to 3 shed unauthenticated streams). */
  setPressure(level: PressureLevel): void;
}

/** Things only code (not YAML) can supply. */
export interface XmppServerOptions {
  /** Clock and timers for every timeout. @default systemTimers */
  timers?: Timers;
  /** Where logs go. @default a logger built from `config.log` */
  logger?: Logger;
  /** An account store to use instead of the one `config.storage` names. */
  accountStore?: AccountStore;
  /** An IM store (rosters, offline messages, …) to use instead of the one `config.storage` names. */
  imStore?: ImStore;
  /** Wall-clock milliseconds since the epoch, for offline message stamps. @default Date.now */
  wallClock?: () => number;
}

/** A listening socket and what it serves. */
export interface ListenerAddress {
  /** The listener type from the configuration (`c2s`, `c2s_direct_tls`, …). */
  type: string;
  /** The bound address. */
  hostname: string;
  /** The bound port (the real one when configured as 0). */
  port: number;
}

const LAG_PROBE_MS = 1000;
/** Configuration keys a running server cannot change. */
const RESTART_KEYS = [
  "domain",
  "listen",
  "tls",
  "storage",
  "log",
  "software_version",
  "admin",
  "registration",
  "http",
] as const;
const SELF = { target: "self", recipient: undefined } as const;
const LOCAL_HOST = { target: "local", recipient: undefined } as const;

/**
 * XEP-0205 "limit offline storage": the quota of the sender's class
 * (`limits.offline_messages_per_account`); unlimited when the limit is off
 * or only reported.
 */
function offlineQuota(session: C2sSession): number | undefined {
  const limit = session.limits?.effective.offline_messages_per_account;
  if (limit === undefined) return undefined;
  return limit.max === null || limit.mode === "report" ? Number.MAX_SAFE_INTEGER : limit.max;
}

/** XEP-0077 settings as the configuration gives them. */
function registrationSettings(config: ServerConfig): RegistrationSettings {
  return {
    enabled: config.registration.enabled,
    limit: config.limits.registrations_per_ip,
    ipv6Prefix: config.limits.ipv6_prefix,
    exemptIps: config.limits.exempt.ips,
    tlsRequired: config.tls.required,
    allowPlainWithoutTls: config.auth.allow_plain_without_tls,
    iterations: config.auth.scram_iterations,
  };
}

/** Parser caps and stream policy as the configuration gives them. */
function streamPolicy(config: ServerConfig): StreamPolicy {
  const limits = config.limits;
  const base = parserCaps(limits, limits.stanza_size, limits.stanza_size_stream_error);
  const preAuthSize = limits.pre_auth_stanza_size ?? Number.MAX_SAFE_INTEGER;
  return {
    tlsRequired: config.tls.required,
    maxAuthFailures: config.auth.max_failures_per_stream,
    authLimits: base,
    // XEP-0205: an unauthenticated stream gets much smaller limits; anything over is a stream error.
    preAuthLimits: {
      ...base,
      maxStanzaBytes: preAuthSize,
      maxStanzaBytesHard: preAuthSize,
      maxElementsPerStanza: Math.min(base.maxElementsPerStanza, limits.pre_auth_max_elements),
    },
    sendBufferBytes: limits.send_buffer,
    idleSeconds: Math.round(config.timeouts.idle / 1000),
  };
}

/**
 * An XMPP server for one domain.
 *
 * @example Usage
 * ```ts
 * import { XmppServer } from "./server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new XmppServer({
 *   domain: "localhost",
 *   listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
 *   tls: { required: false },
 *   storage: { type: "memory" },
 *   accounts: [{ jid: "alice@localhost", password: "secret" }],
 * });
 * await server.start();
 * assert.equal(server.addresses[0]?.type, "c2s");
 * ```
 */
export class XmppServer implements AsyncDisposable {
  #config: ServerConfig;
  /** Events for embedding apps. */
  readonly events: EventBus<ServerEvents> = new EventBus();
  /** The structured logger. */
  readonly log: Logger;
  /** Counters since start, for metrics. */
  readonly stats: ServerStats = createStats();

  #timers: Timers;
  #storeOverride: AccountStore | undefined;
  #store: AccountStore | undefined;
  #imStoreOverride: ImStore | undefined;
  #imStore: ImStore | undefined;
  #im: ImService<C2sSession> | undefined;
  #services: AccountServices<C2sSession>;
  #wallClock: (() => number) | undefined;
  #tls: LoadedTlsMaterial | undefined;
  #iq: IqRegistry;
  #disco: DiscoInfo;
  #registry = new SessionRegistry<C2sSession>();
  #sessions = new Set<C2sSession>();
  #router: Router<C2sSession>;
  #listeners: { type: string; listener: TcpListener | HttpListener }[] = [];
  #mechanismsPlain = new Map<string, SaslMechanism>();
  #mechanismsTls = new Map<string, SaslMechanism>();
  #policy: StreamPolicy;
  #host: SessionHost;
  #sweep: TimerId | undefined;
  #lagTimer: TimerId | undefined;
  #engine: LimitEngine;
  #limitsAdmin: LimitsAdmin;
  #started = false;
  #stopping: Promise<void> | undefined;
  #metrics: ServerMetrics;
  #admin: AdminServer | undefined;

  /**
   * Creates a server; nothing listens until {@linkcode XmppServer.start}.
   *
   * @param config The configuration, the same shape as the YAML file.
   * @param options Clock, logger and store overrides.
   * @throws {ConfigError} If the configuration is invalid.
   */
  constructor(config: ServerConfigInput | ServerConfig = {}, options: XmppServerOptions = {}) {
    this.#config = resolveConfig(config);
    this.#timers = options.timers ?? systemTimers;
    this.log = options.logger ??
      new Logger({ level: this.config.log.level, format: this.config.log.format });
    this.#storeOverride = options.accountStore;
    this.#imStoreOverride = options.imStore;
    this.#wallClock = options.wallClock;
    this.#iq = new IqRegistry((error, request) => {
      this.log.error("iq-handler-error", {
        ns: request.payload.ns,
        reason: error instanceof Error ? error.message : String(error),
      });
    });
    this.#disco = new DiscoInfo({ category: "server", type: "im", name: "xmppd" });
    registerDisco(this.#iq, this.#disco);
    registerPing(this.#iq, this.#disco);
    if (this.config.software_version !== undefined) {
      registerVersion(this.#iq, this.#disco, this.config.software_version);
    }
    this.#router = new Router({
      domain: this.config.domain,
      sessions: this.#registry,
      iq: this.#iq,
      accountExists: (username) => this.#accountExists(username),
      unknownRecipient: (session, stanza) =>
        session.limits === undefined
          ? undefined
          : this.#engine.checkUnknownRecipient(session.limits, stanza),
      presence: (session, stanza) => this.#im?.handlePresence(session, stanza),
      inbound: (sender, recipient, stanza) =>
        recipient.limits === undefined ? undefined : this.#engine.checkInbound(
          recipient.limits,
          stanza,
          sender.bareKey === recipient.bareKey ? "self" : "local",
        ),
      delivered: (stanza, bare, sessions) =>
        this.#services?.carbons.received(stanza, bare, sessions),
      offline: (session, stanza, username, retry) =>
        this.#im === undefined
          ? Promise.resolve(new StanzaError("cancel", "service-unavailable"))
          : this.#im.storeOffline(stanza, username, retry, offlineQuota(session)),
    });
    this.#policy = streamPolicy(this.config);
    this.#host = this.#sessionHost();
    this.#engine = new LimitEngine(this.config, {
      timers: this.#timers,
      log: this.log,
      emit: (event) => this.events.emit("limit", event),
      flushWrites: TcpTransport.flushHeldWrites,
    });
    this.#limitsAdmin = this.#adminApi();
    this.#metrics = new ServerMetrics(this, { clock: this.#timers });
    this.#services = this.#accountServices();
  }

  /** The resolved configuration in force. */
  get config(): ServerConfig {
    return this.#config;
  }

  /**
   * Applies a new configuration without dropping connections: limits (live
   * sessions follow at once), timeouts, SASL settings and new accounts. A
   * change that needs a restart (domain, listeners, TLS, storage, logging,
   * software version) or an invalid value throws a `ConfigError` naming the
   * key, and the configuration in force stays.
   *
   * @param config The whole new configuration, the same shape as at start.
   * @returns The configuration now in force.
   */
  async reload(config: ServerConfigInput | ServerConfig): Promise<ServerConfig> {
    const next = resolveConfig(config);
    for (const key of RESTART_KEYS) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.#config[key])) {
        throw new ConfigError(key, "cannot change while running; restart the server to apply it");
      }
    }
    this.#engine.update(next.limits);
    this.#config = next;
    this.#policy = streamPolicy(next);
    if (this.#started) {
      this.#mechanismsPlain.clear();
      this.#mechanismsTls.clear();
      this.#buildMechanisms();
      for (const account of next.accounts) await this.addAccount(account.jid, account.password);
    }
    this.log.info("config-reloaded", {});
    return next;
  }

  /** Runtime control and live state of the XEP-0205 limits. */
  get limits(): LimitsAdmin {
    return this.#limitsAdmin;
  }

  /** The listening addresses, once started (port 0 resolves to the real port). */
  get addresses(): ListenerAddress[] {
    const addresses = this.#listeners.map(({ type, listener }) => ({ type, ...listener.addr }));
    if (this.#admin !== undefined) addresses.push({ type: "admin", ...this.#admin.addr });
    return addresses;
  }

  /** Open streams, bound or not. */
  get connectionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Every metric in the Prometheus text exposition format, as the admin
   * listener serves it at `/metrics`: connections, logins, stanzas, bytes,
   * queues, sessions by phase, and every limiter's hits and table sizes.
   *
   * @returns The exposition text.
   */
  metrics(): string {
    return this.#metrics.text();
  }

  /**
   * The numbers behind {@linkcode XmppServer.metrics}, as an object.
   *
   * @returns A fresh, JSON-safe snapshot.
   */
  metricsSnapshot(): MetricsSnapshot {
    return this.#metrics.snapshot();
  }

  /** Every open stream, bound or not. */
  sessions(): IterableIterator<C2sSession> {
    return this.#sessions.values();
  }

  /** The TLS certificate in use (PEM), e.g. for clients that must trust a self-signed one. */
  get certificate(): string | undefined {
    return this.#tls?.cert;
  }

  /**
   * Handles IQ requests to the server (`"host"`) or to a user's own account
   * (`"account"`) for one payload element.
   *
   * @returns A disposable that removes the handler.
   */
  handleIq(
    scope: IqScope,
    type: "get" | "set",
    ns: string,
    name: string,
    handler: IqHandler,
  ): Disposable {
    const stack = new DisposableStack();
    stack.use(this.#iq.set(scope, type, ns, name, handler));
    stack.use(this.#disco.addFeature(ns));
    return stack;
  }

  /**
   * Delivers a stanza from the server side (e.g. a bot's reply) to local
   * clients. `from` must be set by the caller.
   *
   * @returns How many sessions received it.
   */
  deliver(stanza: Element): number {
    const to = Jid.tryParse(stanza.attrs.to ?? "");
    if (to === undefined || to.local === undefined || to.domain !== this.config.domain) return 0;
    const bare = to.local + "@" + to.domain;
    if (to.resource !== undefined) {
      const session = this.#registry.get(bare, to.resource);
      session?.send(stanza);
      return session === undefined ? 0 : 1;
    }
    let count = 0;
    for (const session of this.#registry.resources(bare)) {
      if (session.available && session.priority >= 0) {
        session.send(stanza);
        count++;
      }
    }
    return count;
  }

  /**
   * Creates or replaces an account.
   *
   * @param jid The account's bare JID (or its localpart) on the served domain.
   * @param password The password; only SCRAM keys are stored.
   * @throws {TypeError} If the JID is not on the served domain.
   */
  async addAccount(jid: string, password: string): Promise<void> {
    const username = this.#username(jid);
    await this.#accounts().put(
      await createAccountRecord(username, password, {
        iterations: this.config.auth.scram_iterations,
      }),
    );
  }

  /** Opens storage, loads TLS and starts listening. */
  async start(): Promise<void> {
    if (this.#started) throw new Error("Cannot start the server: it is already started");
    this.#started = true;
    this.#store = this.#storeOverride ??
      (this.config.storage.type === "memory"
        ? new MemoryAccountStore()
        : new SqliteAccountStore(this.config.storage.path));
    // RFC 6121 data lives next to the accounts (the same SQLite file).
    const imStore = this.#imStoreOverride ??
      (this.config.storage.type === "memory"
        ? new MemoryImStore()
        : new SqliteImStore(this.config.storage.path));
    this.#imStore = imStore;
    this.#im = new ImService({
      domain: this.config.domain,
      store: imStore,
      sessions: this.#registry,
      iq: this.#iq,
      accountExists: (username) => this.#accountExists(username),
      afterReply: (request, then) => this.#router.afterReply(request, then),
      blocked: (a, b) => this.#services?.blocking.eitherBlocks(a, b) ?? Promise.resolve(false),
      log: this.log,
      ...(this.#wallClock === undefined ? {} : { wallClock: this.#wallClock }),
    });
    for (const account of this.config.accounts) {
      await this.addAccount(account.jid, account.password);
    }
    this.#tls = await loadTlsMaterial({
      domain: this.config.domain,
      ...(this.config.tls.cert !== undefined ? { cert: this.config.tls.cert } : {}),
      ...(this.config.tls.key !== undefined ? { key: this.config.tls.key } : {}),
    });
    if (this.#tls.selfSigned) {
      this.log.warn("tls-self-signed", {
        domain: this.config.domain,
        hint: "clients must trust this certificate; set tls.cert and tls.key for a real one",
      });
    }
    this.#buildMechanisms();
    for (const listen of this.config.listen) {
      const directTls = listen.type === "c2s_direct_tls";
      const listener = listen.type === "http" || listen.type === "https"
        ? await listenHttp({
          ...httpListenerOptions(this.config, listen),
          ...(listen.type === "https" && { tls: this.#tls }),
          timers: this.#timers,
          accept: (transport) => this.#acceptHttp(transport),
        })
        : await listenTcp({
          host: listen.host,
          port: listen.port,
          ...(directTls ? { directTls: this.#tls } : { startTls: this.#tls }),
          accept: (remoteAddress) =>
            !this.events.emit("connection", { remoteAddress, type: directTls ? "tls" : "tcp" }),
        }, (transport) => this.accept(transport));
      this.#listeners.push({ type: listen.type, listener });
      this.log.info("listening", {
        type: listen.type,
        host: listener.addr.hostname,
        port: listener.addr.port,
      });
    }
    this.#scheduleSweep();
    this.#watchLag(this.#timers.now());
    const admin = this.config.admin;
    if (admin !== undefined) {
      this.#admin = AdminServer.start(this, this.#metrics, { ...admin, log: this.log });
    }
  }

  /**
   * Runs a stream over any transport (TCP, TLS, or an in-memory pair in
   * tests and embedding).
   *
   * @returns The session, or `undefined` if the server is stopping.
   */
  accept(transport: Transport): C2sSession | undefined {
    if (this.#stopping !== undefined) {
      transport.destroy();
      return undefined;
    }
    // XEP-0205 §2.1-2.2: refused connections are closed before any byte is read.
    const limits = this.#engine.admit(transport.remoteAddress, transport.type);
    if (limits === undefined) {
      this.stats.connectionsRefused++;
      transport.destroy();
      return undefined;
    }
    this.stats.connectionsAccepted[transport.type] =
      (this.stats.connectionsAccepted[transport.type] ?? 0) + 1;
    const session = new C2sSession(this.#host, transport, limits);
    // Per-class parser caps and send queue follow the session's limits.
    limits.onChange = () => {
      session.setParserLimits(this.#engine.parserLimits(limits));
      session.sendBufferBytes = this.#engine.sendBuffer(limits);
    };
    limits.onRevoke = () => this.#revoke(session);
    this.#sessions.add(session);
    this.#engine.connectInput(
      limits,
      { karma: session.pauseHandle(), fair: session.pauseHandle(), heldInput: session },
      (bytes) => session.receive(bytes),
    );
    return session;
  }

  // WebSocket upgrades and BOSH session creations pass the same gate as TCP
  // connections; the answer becomes an HTTP status when they are refused.
  #acceptHttp(transport: Transport): AcceptResult {
    const { remoteAddress, type } = transport;
    if (this.events.emit("connection", { remoteAddress, type })) return "refused";
    if (this.#stopping !== undefined) return "unavailable";
    return this.accept(transport) === undefined ? "limited" : "accepted";
  }

  /**
   * Stops accepting, closes every stream with `<system-shutdown/>`, waits
   * for them to go (up to `timeouts.shutdown`), then closes storage.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#sweep !== undefined) this.#timers.clear(this.#sweep);
    if (this.#lagTimer !== undefined) this.#timers.clear(this.#lagTimer);
    await Promise.all(this.#listeners.map(({ listener }) => listener.close()));
    await this.#admin?.shutdown();
    const sessions = [...this.#sessions];
    for (const session of sessions) session.close(new StreamError("system-shutdown"));
    const deadline = this.#timers.now() + this.config.timeouts.shutdown;
    while (this.#sessions.size > 0 && this.#timers.now() < deadline) {
      await new Promise<void>((resolve) => this.#timers.set(resolve, 10));
    }
    for (const session of [...this.#sessions]) session.transport.destroy();
    // HTTP listeners close last: shutting down cuts WebSockets and held BOSH requests.
    await Promise.all(
      this.#listeners.map(({ listener }) =>
        "shutdown" in listener ? listener.shutdown() : undefined
      ),
    );
    // Unavailable presence of the streams just closed still goes out before the store closes.
    await this.#im?.drain();
    this.#im?.[Symbol.dispose]();
    this.#imStore?.close();
    this.#store?.close();
  }

  /** Stops the server. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #accounts(): AccountStore {
    if (this.#store === undefined) {
      throw new Error("Cannot use accounts: the server is not started");
    }
    return this.#store;
  }

  /** Whether the account exists, as cheaply as the store can tell. */
  async #accountExists(username: string): Promise<boolean> {
    const store = this.#accounts();
    return store.has !== undefined
      ? await store.has(username)
      : (await store.get(username)) !== undefined;
  }

  #username(jid: string): string {
    const parsed = Jid.parse(jid.includes("@") ? jid : jid + "@" + this.config.domain);
    if (parsed.domain !== this.config.domain || parsed.local === undefined) {
      throw new TypeError(`Cannot add account: '${jid}' is not on domain '${this.config.domain}'`);
    }
    return parsed.local;
  }

  #buildMechanisms(): void {
    const lookup = (username: string) => this.#accounts().get(username);
    // SCRAM needs one hash: a store that reads it alone spares each login the other row.
    const credentials = (username: string, hash: ScramHash) => {
      const store = this.#accounts();
      return store.getScram !== undefined
        ? store.getScram(username, hash)
        : store.get(username).then((record) => record?.scram[hash]);
    };
    for (const name of this.config.auth.mechanisms) {
      // Unknown users get decoy salts with the configured iteration count, so an
      // exchange does not reveal whether an account exists.
      const common = {
        lookup,
        domain: this.config.domain,
        iterations: this.config.auth.scram_iterations,
      };
      const mechanism = name === "PLAIN"
        ? createPlainMechanism({
          ...common,
          allowWithoutTls: this.config.auth.allow_plain_without_tls,
        })
        : createScramMechanism(name === "SCRAM-SHA-1" ? "SHA-1" : "SHA-256", {
          ...common,
          credentials,
        });
      this.#mechanismsTls.set(name, mechanism);
      // PLAIN sends the password itself: never offered in the clear unless allowed.
      if (name !== "PLAIN" || this.config.auth.allow_plain_without_tls) {
        this.#mechanismsPlain.set(name, mechanism);
      }
    }
  }

  // One timer for every stream: negotiation deadlines and idle streams.
  #scheduleSweep(): void {
    const interval = Math.max(
      250,
      Math.min(this.config.timeouts.negotiation, this.config.timeouts.idle) / 4,
    );
    this.#sweep = this.#timers.set(() => {
      this.#sweepSessions();
      if (this.#stopping === undefined) this.#scheduleSweep();
    }, interval);
  }

  // Event-loop lag is the overload signal: a late timer means the process is
  // saturated, so new unauthenticated work is refused first (XEP-0205 spirit).
  #watchLag(expectedAt: number): void {
    const next = expectedAt + LAG_PROBE_MS;
    this.#lagTimer = this.#timers.set(() => {
      const level = this.#engine.observeLag(Math.max(0, this.#timers.now() - next));
      if (level === 3) this.#shed();
      if (this.#stopping === undefined) this.#watchLag(this.#timers.now());
    }, LAG_PROBE_MS);
  }

  // XEP-0205 §2.2: the session's address was refused for connection attempts
  // while this stream had not authenticated: a flood's earlier connections go
  // too. A header not answered yet is cut like a refused connection.
  #revoke(session: C2sSession): void {
    if (!session.headerSent) return session.abort();
    session.close(
      new StreamError("policy-violation", {
        text: "Connection attempts from your address exceeded the limit",
      }),
    );
  }

  #shed(): void {
    for (const session of [...this.#sessions]) {
      if (session.limits !== undefined && this.#engine.shouldShed(session.limits)) {
        session.close(new StreamError("resource-constraint", { text: "Server overloaded" }));
      }
    }
  }

  #adminApi(): LimitsAdmin {
    return {
      snapshot: () => this.#engine.snapshot(),
      ban: (addressOrCidr, options) => {
        const entry = this.#engine.ban(addressOrCidr, options);
        for (const session of [...this.#sessions]) {
          if (this.#engine.isBanned(session.transport.remoteAddress)) {
            session.close(new StreamError("policy-violation", { text: "Banned" }));
          }
        }
        return entry;
      },
      unban: (addressOrCidr) => this.#engine.unban(addressOrCidr),
      update: (limits) => this.#engine.update(limits),
      setPressure: (level) => {
        this.#engine.setPressure(level);
        if (level === 3) this.#shed();
      },
    };
  }

  /** Who a stanza is for, as the stanza rules and the recipient limit see it. */
  #target(
    session: C2sSession,
    stanza: Element,
  ): { target: RuleTarget; recipient: string | undefined } {
    const to = stanza.attrs.to;
    if (to === undefined) return SELF;
    const jid = Jid.tryParse(to);
    if (jid === undefined) return SELF;
    if (jid.domain !== this.config.domain) {
      return { target: "remote", recipient: jid.bare().toString() };
    }
    if (jid.local === undefined) return LOCAL_HOST;
    const bare = jid.bare().toString();
    if (bare === session.bareKey) return SELF;
    return { target: "local", recipient: bare };
  }

  #sweepSessions(): void {
    const now = this.#timers.now();
    const negotiation = this.config.timeouts.negotiation;
    const idle = this.config.timeouts.idle;
    for (const session of this.#sessions) {
      if (session.phase !== "established" && now - session.openedAt >= negotiation) {
        session.close(new StreamError("connection-timeout", { text: "Negotiation took too long" }));
      } else if (now - session.lastActivity >= idle) {
        session.close(new StreamError("connection-timeout", { text: "Idle for too long" }));
      }
    }
  }

  /** XEP-0191, 0280, 0054, 0163, 0012, 0077 and account disco, fed by the stream events. */
  #accountServices(): AccountServices<C2sSession> {
    const pepLimit = this.#engine.amplifier(
      "pep_notifications",
      this.config.limits.presence_broadcasts,
    );
    const services = new AccountServices<C2sSession>({
      domain: this.config.domain,
      iq: this.#iq,
      disco: this.#disco,
      sessions: this.#registry,
      store: () => {
        if (this.#imStore === undefined) {
          throw new Error("Cannot use IM data: the server is not started");
        }
        return this.#imStore;
      },
      accounts: () => this.#accounts(),
      timers: this.#timers,
      route: (session, stanza) => this.#router.route(session, stanza),
      registration: () => registrationSettings(this.#config),
      pepLimit: (owner) => pepLimit.check(owner),
      roster: (username) => this.#loadedRoster(username),
      onRegistrationLimit: (hit) => {
        const event = { limit: "registrations_per_ip", classes: [], ...hit };
        const { retryAfterMs, ...fields } = event;
        this.log.info("limit", { ...fields, classes: "", retry_after_ms: retryAfterMs });
        this.events.emit("limit", event);
      },
      onAccountChange: (change, username, ip) => {
        this.log.info("account-" + change, { username, ip });
        // Its IM data is gone from the store: no cached roster may outlive it.
        if (change === "removed") this.#im?.forgetAccount(username);
      },
    });
    // After the embedder's handlers: what they consume is theirs; the rest is routed.
    this.events.on("stanza", ({ session, stanza }) => services.stanza(session, stanza), -100);
    this.events.on("bound", ({ session }) => services.bound(session));
    this.events.on("closed", ({ session }) => services.closed(session));
    return services;
  }

  // The roster the roster service keeps for online accounts (read in the
  // account's queue, as every use of it is), not a second store read.
  #loadedRoster(username: string): Promise<RosterData> {
    const im = this.#im;
    if (im === undefined) {
      return Promise.reject(new Error("Cannot use IM data: the server is not started"));
    }
    return im.queue.run(username, () => im.rosters.load(username)).then(({ roster }) => ({
      version: roster.version,
      items: roster.items(),
    }));
  }

  #sessionHost(): SessionHost {
    // deno-lint-ignore no-this-alias -- the host's policy getter must see reloads
    const server = this;
    const domain = this.config.domain;
    return {
      domain,
      log: this.log,
      get policy() {
        return server.#policy;
      },
      now: () => this.#timers.now(),
      after: (delayMs, callback) => {
        this.#timers.set(callback, delayMs);
      },
      stats: this.stats,
      stanzaSize: (session, bytes, outcome) => {
        const limits = session.limits;
        if (limits === undefined) return;
        if (outcome === "delivered") this.#engine.stanzaSize(limits, bytes);
        else if (outcome === "refused") this.#engine.stanzaTooBig(limits, bytes);
        else this.#engine.streamTooBig(limits, bytes);
      },
      input: (session, bytes) => {
        this.stats.bytesIn += bytes.byteLength;
        if (session.limits === undefined) session.receive(bytes);
        else this.#engine.input(session.limits, bytes);
      },
      authAttempt: (session) =>
        session.limits === undefined ? 0 : this.#engine.authAttempt(session.limits),
      mechanisms: (encrypted) => encrypted ? this.#mechanismsTls : this.#mechanismsPlain,
      authenticated: (session, username, mechanism) => {
        this.log.info("authenticated", {
          session: session.id,
          ip: session.transport.remoteAddress,
          username,
          mechanism,
        });
        if (session.limits !== undefined) {
          this.#engine.authenticated(session.limits, username + "@" + domain, mechanism);
        }
        this.stats.logins++;
        this.events.emit("authenticated", { session, username, mechanism });
      },
      authFailed: (session, condition, mechanism) => {
        this.log.info("auth-failure", {
          session: session.id,
          ip: session.transport.remoteAddress,
          condition,
          mechanism,
        });
        this.stats.loginFailures++;
        this.events.emit("auth-failure", { session, condition, mechanism });
        return session.limits === undefined ? 0 : this.#engine.authFailed(session.limits);
      },
      bind: (session, requested) => this.#bind(session, requested),
      route: (session, stanza) => {
        if (session.limits !== undefined) {
          const { target, recipient } = this.#target(session, stanza);
          const refused = this.#engine.checkOutbound(session.limits, stanza, target, recipient);
          if (refused !== undefined) return session.send(errorReply(stanza, refused, domain));
        }
        if (this.events.emit("stanza", { session, stanza })) return;
        this.#router.route(session, stanza);
      },
      streamFeatures: (session) =>
        session.authenticated
          ? this.#im?.streamFeatures() ?? []
          : this.#services.registration.features(session),
      // XEP-0077: in-band registration is the one IQ taken before authentication.
      preAuthIq: (session, iq) => this.#services.registration.preAuth(session, iq),
      closed: (session, error) => {
        this.#sessions.delete(session);
        if (error !== undefined) {
          this.stats.streamErrors[error.condition] =
            (this.stats.streamErrors[error.condition] ?? 0) + 1;
        }
        if (session.limits !== undefined) this.#engine.release(session.limits);
        this.#registry.remove(session);
        // RFC 6121 §4.5.2: the server sends unavailable presence on the client's behalf.
        if (session.jid !== undefined) this.#im?.closed(session);
        this.events.emit("closed", { session, error });
      },
    };
  }

  #bind(session: C2sSession, requested: string | undefined): Jid | StanzaError {
    const base = Jid.parse(session.username! + "@" + this.config.domain);
    let jid: Jid;
    try {
      jid = base.withResource(requested ?? generateResource());
    } catch {
      // RFC 6120 §7.7.2.1: a resource that cannot be prepared is bad-request; pick one instead.
      jid = base.withResource(generateResource());
    }
    const bare = base.toString();
    const replaced = this.#registry.get(bare, jid.resource!);
    if (session.limits !== undefined) {
      const refused = this.#engine.checkBind(
        session.limits,
        this.#registry.countResources(bare),
        replaced !== undefined,
      );
      if (refused !== undefined) return refused;
    }
    if (replaced !== undefined && replaced !== session) {
      // RFC 6120 §7.7.2.2: the new session wins; the old one gets <conflict/>.
      this.#registry.remove(replaced);
      replaced.close(new StreamError("conflict", { text: "Replaced by new connection" }));
    }
    session.jid = jid;
    session.bareKey = bare;
    session.resourceKey = jid.resource!;
    this.#registry.add(session);
    this.events.emit("bound", { session, jid: jid.toString() });
    return jid;
  }
}
