/**
 * The XEP-0205 limit engine: one object that owns every limiter and answers
 * the server at each point where a limit applies, from the TCP accept to the
 * routing of a stanza. Limit classes are resolved once per connection and
 * again after authentication; no rule is evaluated per stanza beyond the
 * compiled checks.
 *
 * @module
 */

import type { Timers } from "../core/clock.ts";
import type { Logger } from "../core/log.ts";
import {
  type LimitMode,
  type LimitsConfig,
  resolveConfig,
  type ServerConfig,
  type WindowLimit,
} from "../config/schema.ts";
import { StanzaError } from "../errors/stanza_error.ts";
import type { Element } from "../xml/element.ts";
import type { ParserLimits } from "../xml/stream_parser.ts";
import { AuthGuard } from "./auth_guard.ts";
import { type BanEntry, BanList, type BanOptions } from "./ban_list.ts";
import {
  ConnectionGuard,
  type ConnectionGuardSnapshot,
  type ConnectionLimitHit,
  type ConnectionSlot,
  type PressureLevel,
} from "./connection_guard.ts";
import { DistinctWindow } from "./distinct_window.ts";
import {
  type ConnectionKind,
  type EffectiveLimits,
  LimitPolicy,
  type SessionFacts,
} from "./policy.ts";
import {
  compileStanzaRules,
  type RuleCounters,
  type RuleTarget,
  type StanzaRuleSet,
} from "./stanza_rules.ts";
import { WindowCounter, WindowCounterTable } from "./window_counter.ts";
import { FairInput, type FairInputQueue } from "./fair_input.ts";
import { Karma, KarmaBucket } from "./karma.ts";
import type { HeldInputObserver, Pausable } from "../transport/pause_gate.ts";
import type { BandwidthLimit } from "../config/schema.ts";

/**
 * The parser caps for given stanza sizes: the server-wide structural caps of
 * `limits.parser` with a stanza size and a stream-error size (`null` = no limit).
 *
 * @example Usage
 * ```ts
 * import { parserCaps } from "./limit_engine.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const caps = parserCaps(resolveConfig({}).limits, 1024, null);
 * assert.equal(caps.maxStanzaBytes, 1024);
 * assert.equal(caps.maxStanzaBytesHard, Number.MAX_SAFE_INTEGER);
 * assert.equal(caps.maxDepth, 32);
 * ```
 */
export function parserCaps(
  limits: LimitsConfig,
  stanzaSize: number | null,
  streamErrorSize: number | null,
): ParserLimits {
  const parser = limits.parser;
  return {
    maxStanzaBytes: stanzaSize ?? Number.MAX_SAFE_INTEGER,
    maxStanzaBytesHard: streamErrorSize ?? Number.MAX_SAFE_INTEGER,
    maxDepth: parser.max_depth,
    maxAttributes: parser.max_attributes,
    maxNameLength: parser.max_name_length,
    maxAttributeValueLength: parser.max_attribute_value_length,
    maxNamespaceDeclarations: parser.max_namespace_declarations,
    maxElementsPerStanza: parser.max_elements_per_stanza,
  };
}

/** The karma penalty options a bandwidth limit implies. */
function penaltyOf(bandwidth: BandwidthLimit): { penalty: number; recoveryMs: number } {
  const penalty = bandwidth.penalty_rate === null || bandwidth.rate === null
    ? 1
    : Math.min(1, bandwidth.penalty_rate / bandwidth.rate);
  return { penalty, recoveryMs: bandwidth.recovery };
}

/** One limit that triggered (enforced) or would have (report mode). */
export interface LimitEvent {
  /** The configuration key of the limit, e.g. `distinct_recipients`. */
  limit: string;
  /** `enforce` when the server acted, `report` when it only counted. */
  mode: LimitMode;
  /** The client's address. */
  ip: string;
  /** The account, once authenticated. */
  jid?: string;
  /** The classes that applied. */
  classes: readonly string[];
  /** The measured figure (count, bytes, recipients). */
  figure: number;
  /** The limit in force. */
  max: number;
  /** Milliseconds until a retry may succeed, when known. */
  retryAfterMs?: number;
  /**
   * Streams closed because of this event, when any were: the address's
   * unauthenticated streams, closed when `connection_attempts_per_ip`
   * refused it in enforce mode with `close_unauthenticated`.
   */
  closedStreams?: number;
}

/** Limiter state of one connection. */
export interface SessionLimitState {
  /** What the policy knows of the session. */
  facts: SessionFacts;
  /** The limits in force. */
  effective: EffectiveLimits;
  /** The connection's share of per-address and unauthenticated budgets. */
  slot: ConnectionSlot | undefined;
  /** Recipients seen in the window, created on first use. */
  recipients: DistinctWindow | undefined;
  /** Presence broadcasts in the window, created on first use. */
  presence: WindowCounter | undefined;
  /** Rate counters of `limit` stanza rules. */
  counters: RuleCounters;
  /** Rate counters of the rules about unknown recipients, created on first use. */
  unknownCounters: RuleCounters | undefined;
  /** The bandwidth budget, once input is connected. */
  karma: Karma | undefined;
  /** The connection's share of parse time, once input is connected. */
  input: FairInputQueue | undefined;
  /** Whether a chunk of input is being parsed. */
  inChunk: boolean;
  /**
   * While a chunk of input is parsed: the time its first stanza to a
   * recipient was counted at. Every stanza in it counts at that time, so the
   * clock is read at most once per chunk, and not for chunks that count none
   * (a login's).
   */
  chunkAt: number | undefined;
  /** The account whose shared bandwidth bucket this session holds. */
  sharedAccount: string | undefined;
  /** When the last bandwidth event was recorded (one per second at most). */
  lastThrottleAt: number;
  /** Told when the session's limits change (after authentication, or a live update). */
  onChange: (() => void) | undefined;
  /**
   * Told, synchronously and at most once, to close the stream: it has not
   * authenticated and its address was just refused for
   * `connection_attempts_per_ip` (enforce mode, `close_unauthenticated`).
   * The server sets it; it must not throw.
   */
  onRevoke: (() => void) | undefined;
}

/** The switches a session gives the engine to pause its reading. */
export interface InputHandles {
  /** Paused while the bandwidth budget is overdrawn. */
  karma: Pausable;
  /** Paused while the fair-input backlog is over its cap. */
  fair: Pausable;
  /**
   * Where the fair-input queue learns that reading resumed, for any party's
   * reason, with input the transport read before the pause: that chunk does
   * not prove that sockets were polled.
   */
  heldInput?: { observeHeldInput(observer: HeldInputObserver): void };
}

/** Live limiter state for administrators. */
export interface LimitsSnapshot {
  /** Sessions tracked by the engine. */
  sessions: number;
  /** Connection-level state: open connections per address, near-limit addresses, pressure. */
  connections: ConnectionGuardSnapshot;
  /** Addresses held by the authentication tarpit now. */
  authHeld: number;
  /** Runtime and configured bans. */
  bans: BanEntry[];
  /** Limit events since start, by limit name. */
  hits: Record<string, number>;
}

/** A per-sender rate limit on one amplifier, made by {@linkcode LimitEngine.amplifier}. */
export interface AmplifierLimiter {
  /** Counts one stanza from `sender`; returns the error to answer when over the limit. */
  check(sender: string): StanzaError | undefined;
}

/** Collaborators of a {@linkcode LimitEngine}. */
export interface LimitEngineOptions {
  /** Clock and timers for every window. */
  timers: Timers;
  /** Where limit lines go. */
  log: Logger;
  /** Receives every limit event (the server re-emits them to embedders). */
  emit(event: LimitEvent): void;
  /**
   * Sends the replies transports hold until the end of the event-loop turn;
   * called by fair input once the light queues (a chat line on a connection
   * without a backlog) were served, before the backlogs.
   */
  flushWrites?: () => void;
}

/** Sessions and addresses tracked per limiter table before the oldest is forgotten. */
const MAX_TRACKED_ADDRESSES = 100_000;
const PRESSURE_LAG_MS: readonly number[] = [100, 500, 2000];

/**
 * Applies every configured XEP-0205 limit.
 *
 * @example Usage
 * ```ts
 * import { LimitEngine } from "./limit_engine.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import { Logger } from "../core/log.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const config = resolveConfig({ limits: { connections_per_ip: 1 } });
 * const engine = new LimitEngine(config, {
 *   timers: new ManualClock(), log: new Logger({ sink: () => {} }), emit: () => {},
 * });
 * assert.ok(engine.admit("192.0.2.1", "tcp") !== undefined);
 * assert.equal(engine.admit("192.0.2.1", "tcp"), undefined);
 * ```
 */
export class LimitEngine {
  #config: ServerConfig;
  #limits: LimitsConfig;
  #timers: Timers;
  #log: Logger;
  #emit: (event: LimitEvent) => void;
  #policy: LimitPolicy;
  #bans: BanList;
  #connections: ConnectionGuard;
  #auth: AuthGuard;
  #sessions = new Set<SessionLimitState>();
  #parserLimits = new WeakMap<EffectiveLimits, ParserLimits>();
  #unknownRules = new WeakMap<StanzaRuleSet, StanzaRuleSet>();
  #hits: Record<string, number> = {};
  #fair: FairInput;
  // Live accounts only: an entry goes when the account's last session closes.
  #accountBuckets = new Map<string, { bucket: KarmaBucket; refs: number }>();

  /**
   * @param config The resolved server configuration.
   * @param options Clock, logger and the event sink.
   */
  constructor(config: ServerConfig, options: LimitEngineOptions) {
    this.#config = config;
    this.#limits = config.limits;
    this.#timers = options.timers;
    this.#log = options.log;
    this.#emit = options.emit;
    this.#policy = new LimitPolicy(this.#limits);
    const ipv6Prefix = this.#limits.ipv6_prefix;
    this.#bans = new BanList({ ipv6Prefix, clock: this.#timers });
    this.#connections = new ConnectionGuard({
      ipv6Prefix,
      maxTrackedAddresses: MAX_TRACKED_ADDRESSES,
      clock: this.#timers,
      bans: this.#bans,
    });
    this.#auth = new AuthGuard({
      ipv6Prefix,
      maxTrackedAddresses: MAX_TRACKED_ADDRESSES,
      clock: this.#timers,
    });
    this.#fair = new FairInput({
      clock: this.#timers,
      ...(options.flushWrites === undefined ? {} : { onLightServed: options.flushWrites }),
      onError: (error) => {
        this.#log.error("input-error", {
          reason: error instanceof Error ? error.message : String(error),
        });
      },
    });
  }

  /** The limits configuration in force. */
  get config(): LimitsConfig {
    return this.#limits;
  }

  /**
   * Decides whether a new connection may proceed (XEP-0205 §2.1, §2.2), before
   * anything is read from it. Refusals are logged and emitted. A refusal for
   * `connection_attempts_per_ip` (enforce mode, `close_unauthenticated`) first
   * calls `onRevoke` of the address's unauthenticated sessions, and its
   * event counts them in `closedStreams`.
   *
   * @returns The connection's limiter state, or `undefined` to close it at once.
   */
  admit(ip: string, connection: ConnectionKind): SessionLimitState | undefined {
    const facts: SessionFacts = { ip, connection, authenticated: false };
    const effective = this.#policy.resolve(facts);
    let slot: ConnectionSlot | undefined;
    // Assigned once admitted; declared first so the revocation callback can reach it.
    // deno-lint-ignore prefer-const
    let state: SessionLimitState | undefined;
    if (!effective.exempt) {
      const admission = this.#connections.admit(ip, {
        connections_per_ip: effective.connections_per_ip,
        connection_attempts_per_ip: effective.connection_attempts_per_ip,
        unauthenticated_connections: this.#limits.unauthenticated_connections,
        mode: this.#limits.mode,
      }, { onRevoke: () => state?.onRevoke?.() });
      if (!admission.ok) {
        this.#connectionHit(admission, effective);
        return undefined;
      }
      for (const hit of admission.reported) this.#connectionHit(hit, effective);
      slot = admission.slot;
    }
    state = {
      facts,
      effective,
      slot,
      recipients: undefined,
      presence: undefined,
      counters: effective.stanza_rules.createCounters(),
      unknownCounters: undefined,
      karma: undefined,
      input: undefined,
      inChunk: false,
      chunkAt: undefined,
      sharedAccount: undefined,
      lastThrottleAt: -Infinity,
      onChange: undefined,
      onRevoke: undefined,
    };
    this.#sessions.add(state);
    return state;
  }

  /** Forgets a closed connection and releases its budgets. */
  release(state: SessionLimitState): void {
    state.slot?.[Symbol.dispose]();
    state.karma?.[Symbol.dispose]();
    state.input?.[Symbol.dispose]();
    this.#releaseShared(state);
    this.#sessions.delete(state);
  }

  /**
   * Connects a session's input: bytes go through its bandwidth budget
   * ("karma": over budget, reading pauses instead of the stream being
   * killed) and then through the fair scheduler, so one flooding connection
   * cannot take parse time from the others.
   *
   * @param process Parses bytes once their turn comes.
   */
  connectInput(
    state: SessionLimitState,
    handles: InputHandles,
    process: (bytes: Uint8Array) => void,
  ): void {
    const bandwidth = state.effective.bandwidth;
    const karma = new Karma(bandwidth, {
      timers: this.#timers,
      ...penaltyOf(bandwidth),
      onThrottle: (event) => {
        const now = this.#timers.now();
        if (now - state.lastThrottleAt < 1000) return;
        state.lastThrottleAt = now;
        const limit = state.karma?.limit ?? bandwidth;
        this.#hit(state, "bandwidth", event.mode, event.bytes, limit.rate ?? 0, event.waitMs);
      },
    });
    karma.attach(handles.karma);
    state.karma = karma;
    state.input = this.#fair.register((bytes) => {
      state.inChunk = true;
      try {
        process(bytes);
      } finally {
        state.inChunk = false;
        state.chunkAt = undefined;
      }
    }, handles.fair);
    handles.heldInput?.observeHeldInput(state.input);
  }

  /** Bytes read from a session's connection, before parsing. */
  input(state: SessionLimitState, bytes: Uint8Array): void {
    state.karma?.consume(bytes.byteLength);
    state.input!.push(bytes);
  }

  /**
   * Before a SASL exchange starts: the tarpit delay left for the address,
   * or `false` when it must be refused with `<temporary-auth-failure/>`.
   */
  authAttempt(state: SessionLimitState): number | false {
    if (state.effective.exempt) return 0;
    const limit = state.effective.auth_failures_per_ip;
    const decision = this.#auth.beforeAttempt(state.facts.ip, limit);
    if (!decision.allowed) {
      this.#hit(
        state,
        "auth_failures_per_ip",
        decision.mode,
        decision.figure,
        decision.max,
        decision.retryAfterMs,
      );
      return false;
    }
    for (const hit of decision.reported) {
      this.#hit(state, "auth_failures_per_ip", hit.mode, hit.figure, hit.max, hit.retryAfterMs);
    }
    return decision.delayMs;
  }

  /** A SASL attempt failed; returns how long to hold the answer (the tarpit). */
  authFailed(state: SessionLimitState): number {
    if (state.effective.exempt) return 0;
    return this.#auth.failed(state.facts.ip, state.effective.auth_failures_per_ip);
  }

  /**
   * SASL succeeded: the address's failure count is cleared, the connection
   * leaves the unauthenticated budget, and the limits are resolved again for
   * the account, mechanism and connection type.
   */
  authenticated(state: SessionLimitState, bareJid: string, mechanism: string): void {
    this.#auth.succeeded(state.facts.ip);
    state.slot?.authenticated();
    state.facts = { ...state.facts, authenticated: true, auth: mechanism, jid: bareJid };
    this.#apply(state, this.#policy.resolve(state.facts));
  }

  /** The parser caps for a session: server-wide caps with the session's stanza sizes. */
  parserLimits(state: SessionLimitState): ParserLimits {
    const effective = state.effective;
    let limits = this.#parserLimits.get(effective);
    if (limits === undefined) {
      // A size limit in report mode is not a parser cap: stanzas over it are
      // delivered and reported by stanzaSize().
      const soft = effective.stanza_size;
      const hard = effective.stanza_size_stream_error;
      limits = Object.freeze(parserCaps(
        this.#limits,
        soft.mode === "report" ? (hard.mode === "report" ? null : hard.max) : soft.max,
        hard.mode === "report" ? null : hard.max,
      ));
      this.#parserLimits.set(effective, limits);
    }
    return limits;
  }

  /**
   * A complete stanza of `bytes` arrived: in report mode, a stanza over
   * `stanza_size` or `stanza_size_stream_error` is reported (it was delivered).
   */
  stanzaSize(state: SessionLimitState, bytes: number): void {
    const soft = state.effective.stanza_size;
    if (soft.mode !== "report" || soft.max === null || bytes <= soft.max) return;
    const hard = state.effective.stanza_size_stream_error;
    if (hard.mode === "report" && hard.max !== null && bytes > hard.max) {
      this.#hit(state, "stanza_size_stream_error", "report", bytes, hard.max);
    } else {
      this.#hit(state, "stanza_size", "report", bytes, soft.max);
    }
  }

  /** A stanza over `stanza_size` was refused with `<stanza-too-big/>`. */
  stanzaTooBig(state: SessionLimitState, bytes: number): void {
    this.#hit(state, "stanza_size", "enforce", bytes, state.effective.stanza_size.max ?? 0);
  }

  /** A stanza grew past `stanza_size_stream_error` (or the pre-auth size) and the stream was closed. */
  streamTooBig(state: SessionLimitState, bytes: number): void {
    const limit = state.facts.authenticated ? "stanza_size_stream_error" : "pre_auth_stanza_size";
    const max = state.facts.authenticated
      ? state.effective.stanza_size_stream_error.max
      : this.#limits.pre_auth_stanza_size;
    this.#hit(state, limit, "enforce", bytes, max ?? 0);
  }

  /** The outgoing queue cap for a session. */
  sendBuffer(state: SessionLimitState): number | null {
    return state.effective.send_buffer.max;
  }

  /**
   * XEP-0205 §3: a bind over `resources_per_account` gets
   * `<resource-constraint/>` with `<resource-limit-exceeded/>`, the request echoed.
   *
   * @param bound Resources the account has bound now.
   * @param replacing Whether the bind replaces an existing resource (not a new one).
   */
  checkBind(state: SessionLimitState, bound: number, replacing: boolean): StanzaError | undefined {
    const limit = state.effective.resources_per_account;
    if (replacing || limit.max === null || bound < limit.max) return undefined;
    if (!this.#hit(state, "resources_per_account", limit.mode, bound + 1, limit.max)) {
      return undefined;
    }
    return new StanzaError("cancel", "resource-constraint", {
      appCondition: "resource-limit-exceeded",
      echoPayload: true,
    });
  }

  /**
   * Checks a stanza from a bound client before routing: stanza rules,
   * presence broadcasts (XEP-0205 §3.5) and distinct recipients (§3.3).
   *
   * @param target Who the stanza is for, as the rules see it.
   * @param recipient The bare JID it is for, when it names another entity.
   * @returns The error to answer with, or `undefined` to route it.
   */
  checkOutbound(
    state: SessionLimitState,
    stanza: Element,
    target: RuleTarget,
    recipient: string | undefined,
  ): StanzaError | undefined {
    const effective = state.effective;
    // Errors are never answered with errors, so they are never limited either.
    if (effective.exempt || stanza.attrs.type === "error") return undefined;
    const verdict = effective.stanza_rules.check(stanza, {
      direction: "outbound",
      to: target,
      counters: state.counters,
      clock: this.#timers,
    });
    if (!verdict.allowed) {
      const limit = effective.stanza_rules.rules[verdict.rule];
      const max = limit?.rate?.max ?? 0;
      if (this.#hit(state, "stanza_rules", verdict.mode, max + 1, max, verdict.retryAfterMs)) {
        return verdict.error;
      }
    }
    if (stanza.name === "presence" && target === "self") return this.#checkPresence(state, stanza);
    if (recipient !== undefined) return this.#checkRecipient(state, recipient);
    return undefined;
  }

  /**
   * Checks a stanza about to be delivered to a session against that
   * session's inbound stanza rules (`direction: inbound`; `to` then
   * describes the sender: `local`, `remote` or `self`).
   *
   * @returns The error for the sender, or `undefined` to deliver.
   */
  checkInbound(
    recipient: SessionLimitState,
    stanza: Element,
    sender: RuleTarget,
  ): StanzaError | undefined {
    const effective = recipient.effective;
    if (effective.exempt || stanza.attrs.type === "error") return undefined;
    const verdict = effective.stanza_rules.check(stanza, {
      direction: "inbound",
      to: sender,
      counters: recipient.counters,
      clock: this.#timers,
    });
    if (verdict.allowed) return undefined;
    const max = effective.stanza_rules.rules[verdict.rule]?.rate?.max ?? 0;
    return this.#hit(recipient, "stanza_rules", verdict.mode, max + 1, max, verdict.retryAfterMs)
      ? verdict.error
      : undefined;
  }

  /**
   * A stanza went to a local account that does not exist: the stanza rules
   * written for `to: unknown` apply (XEP-0205 "stanzas to unknown JIDs").
   * Only those rules are checked here, with their own counters, so no rule
   * counts a stanza twice.
   *
   * @returns The error to answer with instead of `<service-unavailable/>`.
   */
  checkUnknownRecipient(state: SessionLimitState, stanza: Element): StanzaError | undefined {
    const effective = state.effective;
    if (effective.exempt || stanza.attrs.type === "error") return undefined;
    let rules = this.#unknownRules.get(effective.stanza_rules);
    if (rules === undefined) {
      rules = compileStanzaRules(
        effective.stanza_rules.rules.filter((rule) => rule.to === "unknown"),
      );
      this.#unknownRules.set(effective.stanza_rules, rules);
    }
    if (rules.rules.length === 0) return undefined;
    state.unknownCounters ??= rules.createCounters();
    const verdict = rules.check(stanza, {
      direction: "outbound",
      to: "unknown",
      counters: state.unknownCounters,
      clock: this.#timers,
    });
    if (verdict.allowed) return undefined;
    const max = rules.rules[verdict.rule]?.rate?.max ?? 0;
    return this.#hit(state, "stanza_rules", verdict.mode, max + 1, max, verdict.retryAfterMs)
      ? verdict.error
      : undefined;
  }

  #checkPresence(state: SessionLimitState, stanza: Element): StanzaError | undefined {
    const type = stanza.attrs.type;
    if (type !== undefined && type !== "unavailable") return undefined;
    const limit = state.effective.presence_broadcasts;
    if (limit.max === null) return undefined;
    state.presence ??= new WindowCounter(limit.max, limit.window, { clock: this.#timers });
    if (state.presence.hit()) return undefined;
    const retryAfterMs = state.presence.retryAfterMs();
    if (
      !this.#hit(state, "presence_broadcasts", limit.mode, limit.max + 1, limit.max, retryAfterMs)
    ) {
      return undefined;
    }
    return new StanzaError("wait", "resource-constraint", {
      text: `Too many presence updates; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      retryAfterMs,
    });
  }

  /**
   * A rate limiter for a traffic amplifier (XEP-0205 §3.6: MUC rooms, pubsub
   * nodes, the presence broadcaster): who may send through it and how often.
   * Keys are the senders (bare JIDs); the table is bounded and the oldest
   * sender is forgotten first.
   *
   * @param name The limit's name in events and logs, e.g. `muc_messages`.
   * @param limit How many stanzas per window, and the mode.
   * @param maxKeys Senders tracked before the oldest is forgotten.
   *
   * @example Usage
   * ```ts
   * import { LimitEngine } from "./limit_engine.ts";
   * import { resolveConfig } from "../config/schema.ts";
   * import { Logger } from "../core/log.ts";
   * import { ManualClock } from "../testing/manual_clock.ts";
   * import assert from "node:assert/strict";
   *
   * const engine = new LimitEngine(resolveConfig({}), {
   *   timers: new ManualClock(), log: new Logger({ sink: () => {} }), emit: () => {},
   * });
   * const room = engine.amplifier("muc_messages", { max: 1, window: 60_000, mode: "enforce" });
   * assert.equal(room.check("romeo@example.org"), undefined);
   * assert.equal(room.check("romeo@example.org")?.condition, "resource-constraint");
   * ```
   */
  amplifier(name: string, limit: WindowLimit, maxKeys = MAX_TRACKED_ADDRESSES): AmplifierLimiter {
    const table = limit.max === null
      ? undefined
      : new WindowCounterTable<string>({ max: limit.max, windowMs: limit.window }, maxKeys, {
        clock: this.#timers,
      });
    return {
      check: (sender: string) => {
        if (table === undefined || limit.max === null || table.hit(sender)) return undefined;
        const retryAfterMs = table.retryAfterMs(sender);
        this.#record({
          limit: name,
          mode: limit.mode,
          ip: "",
          jid: sender,
          classes: [],
          figure: limit.max + 1,
          max: limit.max,
          retryAfterMs,
        });
        if (limit.mode === "report") return undefined;
        return new StanzaError("wait", "resource-constraint", {
          text: `Too many stanzas through ${name}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
          retryAfterMs,
        });
      },
    };
  }

  #checkRecipient(state: SessionLimitState, recipient: string): StanzaError | undefined {
    const limit = state.effective.distinct_recipients;
    if (limit.max === null) return undefined;
    state.recipients ??= new DistinctWindow(limit.max, limit.window, { clock: this.#timers });
    const at = state.inChunk ? (state.chunkAt ??= this.#timers.now()) : undefined;
    const check = state.recipients.check(recipient, at);
    if (check.allowed) return undefined;
    if (
      !this.#hit(
        state,
        "distinct_recipients",
        limit.mode,
        limit.max + 1,
        limit.max,
        check.retryAfterMs,
      )
    ) {
      return undefined;
    }
    return new StanzaError("wait", "unexpected-request", {
      appCondition: "too-many-stanzas",
      retryAfterMs: check.retryAfterMs,
    });
  }

  /**
   * Refuses connections from an address or CIDR until {@linkcode LimitEngine.unban}
   * (or `durationMs`). Open connections from it are the caller's to close.
   */
  ban(addressOrCidr: string, options: BanOptions = {}): BanEntry {
    const entry = this.#bans.ban(addressOrCidr, options);
    this.#log.warn("ban", { target: entry.target, reason: entry.reason });
    return entry;
  }

  /** Lifts a runtime ban; returns whether one was lifted. */
  unban(addressOrCidr: string): boolean {
    const lifted = this.#bans.unban(addressOrCidr);
    if (lifted) this.#log.info("unban", { target: addressOrCidr });
    return lifted;
  }

  /** Whether an address is banned now. */
  isBanned(address: string): boolean {
    return this.#bans.isBanned(address) !== undefined;
  }

  /**
   * Replaces the limits at runtime (the same shape as `limits:` in the
   * configuration). Live sessions take the new limits at once; a bad value
   * throws a `ConfigError` naming the key and nothing changes.
   *
   * @returns The effective limits configuration.
   */
  update(limits: unknown): LimitsConfig {
    const next = resolveConfig({ ...this.#config, limits }).limits;
    const policy = new LimitPolicy(next);
    this.#limits = next;
    this.#config = { ...this.#config, limits: next };
    this.#policy = policy;
    this.#parserLimits = new WeakMap();
    for (const state of this.#sessions) this.#apply(state, policy.resolve(state.facts));
    this.#log.info("limits-updated", { classes: policy.classNames.length });
    return next;
  }

  /** Sets the overload level by hand (drills) or from the lag monitor. */
  setPressure(level: PressureLevel): void {
    if (level !== this.#connections.pressure) this.#log.warn("pressure", { level });
    this.#connections.setPressure(level);
  }

  /** The overload level in force. */
  get pressure(): PressureLevel {
    return this.#connections.pressure;
  }

  /**
   * Maps measured event-loop lag to a pressure level: under overload the
   * cheapest work (new unauthenticated connections) is refused first.
   */
  observeLag(lagMs: number): PressureLevel {
    let level = 0;
    for (const threshold of PRESSURE_LAG_MS) if (lagMs >= threshold) level++;
    this.setPressure(level as PressureLevel);
    return level as PressureLevel;
  }

  /** Whether a session of this kind should be shed at the current pressure. */
  shouldShed(state: SessionLimitState): boolean {
    const kind = !state.facts.authenticated
      ? "unauthenticated"
      : state.facts.auth === "ANONYMOUS"
      ? "anonymous"
      : "authenticated";
    return this.#connections.shouldShed(kind);
  }

  /** Live limiter state for the admin API. */
  snapshot(): LimitsSnapshot {
    return {
      sessions: this.#sessions.size,
      connections: this.#connections.snapshot(),
      authHeld: this.#auth.snapshot().held,
      bans: this.#bans.list(),
      hits: { ...this.#hits },
    };
  }

  #apply(state: SessionLimitState, effective: EffectiveLimits): void {
    const before = state.effective;
    state.effective = effective;
    this.#applyBandwidth(state);
    if (effective.stanza_rules !== before.stanza_rules) {
      state.counters = effective.stanza_rules.createCounters();
      state.unknownCounters = undefined;
    }
    if (
      effective.distinct_recipients.max !== before.distinct_recipients.max ||
      effective.distinct_recipients.window !== before.distinct_recipients.window
    ) state.recipients = undefined;
    if (
      effective.presence_broadcasts.max !== before.presence_broadcasts.max ||
      effective.presence_broadcasts.window !== before.presence_broadcasts.window
    ) state.presence = undefined;
    state.onChange?.();
  }

  #applyBandwidth(state: SessionLimitState): void {
    const karma = state.karma;
    if (karma === undefined) return;
    const bandwidth = state.effective.bandwidth;
    this.#releaseShared(state);
    const account = state.facts.jid;
    if (bandwidth.per_account && bandwidth.rate !== null && account !== undefined) {
      let entry = this.#accountBuckets.get(account);
      if (entry === undefined) {
        const bucket = new KarmaBucket({ rate: bandwidth.rate, burst: bandwidth.burst }, {
          clock: this.#timers,
          ...penaltyOf(bandwidth),
        });
        entry = { bucket, refs: 0 };
        this.#accountBuckets.set(account, entry);
      }
      entry.refs++;
      state.sharedAccount = account;
      karma.setLimit(bandwidth, { shared: entry.bucket });
    } else {
      karma.setLimit(bandwidth);
    }
  }

  #releaseShared(state: SessionLimitState): void {
    const account = state.sharedAccount;
    if (account === undefined) return;
    state.sharedAccount = undefined;
    const entry = this.#accountBuckets.get(account);
    if (entry !== undefined && --entry.refs === 0) this.#accountBuckets.delete(account);
  }

  #connectionHit(hit: ConnectionLimitHit, effective: EffectiveLimits): void {
    this.#record({
      limit: hit.limit,
      mode: hit.mode,
      ip: hit.key,
      classes: effective.classes,
      figure: hit.figure,
      max: hit.max,
      ...(hit.retryAfterMs !== undefined ? { retryAfterMs: hit.retryAfterMs } : {}),
      ...(hit.revoked !== undefined ? { closedStreams: hit.revoked } : {}),
    });
  }

  /** Records a limit hit; returns whether the limit is enforced. */
  #hit(
    state: SessionLimitState,
    limit: string,
    mode: LimitMode,
    figure: number,
    max: number,
    retryAfterMs?: number,
  ): boolean {
    this.#record({
      limit,
      mode,
      ip: state.facts.ip,
      ...(state.facts.jid !== undefined ? { jid: state.facts.jid } : {}),
      classes: state.effective.classes,
      figure,
      max,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    return mode === "enforce";
  }

  #record(event: LimitEvent): void {
    this.#hits[event.limit] = (this.#hits[event.limit] ?? 0) + 1;
    this.#log.info("limit", {
      limit: event.limit,
      mode: event.mode,
      ip: event.ip,
      jid: event.jid,
      classes: event.classes.join(","),
      figure: event.figure,
      max: event.max,
      retry_after_ms: event.retryAfterMs,
      closed_streams: event.closedStreams,
    });
    this.#emit(event);
  }
}
