/**
 * Per-session limits by class and exceptions (XEP-0205: "more strictly
 * limiting the proposed restrictions depending on connection type,
 * authentication type, or user class", and administrators' "exceptions").
 *
 * A {@linkcode LimitPolicy} is built once from the resolved `limits` section:
 * every class's `match` is compiled into sets and a CIDR trie. A session
 * asks it twice: when its connection arrives (IP and connection kind only)
 * and again after authentication (mechanism and JID too). The answer, an
 * {@linkcode EffectiveLimits}, is the base limits with every matching class
 * applied in written order, or every limit off for an exempt session. Answers
 * are cached by which classes matched, frozen and shared, so thousands of
 * sessions hold a handful of objects; limiters read them, no rule is
 * evaluated per stanza.
 *
 * @module
 */

import type {
  BandwidthLimit,
  ClassLimits,
  ClassMatch,
  ConnectionAttemptsLimit,
  CountLimit,
  LimitMode,
  LimitsConfig,
  WindowLimit,
} from "../config/schema.ts";
import { prepDomainpart, prepLocalpart } from "../jid/prep.ts";
import { BoundedMap } from "./bounded_map.ts";
import { CidrSet } from "./ip.ts";
import { StanzaRuleSet } from "./stanza_rules.ts";

/** How a session is connected; `memory` is the in-process transport (tests, embedding). */
export type ConnectionKind = "tcp" | "tls" | "websocket" | "bosh" | "s2s" | "memory";

/** What the policy knows about a session when it resolves its limits. */
export interface SessionFacts {
  /** The remote address (IPv4 or IPv6 text, as the transport reports it). */
  ip: string;
  /** How the session is connected. */
  connection: ConnectionKind;
  /** Whether SASL (or dialback, for s2s) has succeeded. */
  authenticated: boolean;
  /** The SASL mechanism that authenticated the session, e.g. `"SCRAM-SHA-1"`, `"ANONYMOUS"`. */
  auth?: string;
  /**
   * The authenticated bare JID, normalised (as `Jid.bare().toString()` gives
   * it); for s2s, the peer domain.
   */
  jid?: string;
}

/** A limit on a size or count without a time window: `max` (`null` = off) and its mode. */
export type ScalarLimit = CountLimit;

/**
 * The limits that apply to one session. Every value is frozen and may be
 * shared with other sessions. A limit that is off has `max: null`
 * (`rate: null` for bandwidth); `stanza_rules` is empty then.
 */
export interface EffectiveLimits {
  /** Whether the session matches `limits.exempt` (every limit off). */
  readonly exempt: boolean;
  /** Names of the classes that matched, in written order (also when exempt). */
  readonly classes: readonly string[];
  /** Open connections from the session's IP (checked when a connection arrives). */
  readonly connections_per_ip: Readonly<CountLimit>;
  /**
   * Connection attempts from the session's IP per window, also those refused
   * by `connections_per_ip` (checked when a connection arrives).
   */
  readonly connection_attempts_per_ip: Readonly<ConnectionAttemptsLimit>;
  /** Failed authentications from the session's IP per window. */
  readonly auth_failures_per_ip: Readonly<WindowLimit>;
  /** Resources bound at once per account. */
  readonly resources_per_account: Readonly<ScalarLimit>;
  /** Bytes in one stanza before a stanza error. */
  readonly stanza_size: Readonly<ScalarLimit>;
  /** Bytes in one stanza before a stream error. */
  readonly stanza_size_stream_error: Readonly<ScalarLimit>;
  /** Distinct recipients per window. */
  readonly distinct_recipients: Readonly<WindowLimit>;
  /** Bytes read per second ("karma"). */
  readonly bandwidth: Readonly<BandwidthLimit>;
  /** Presence broadcasts per window. */
  readonly presence_broadcasts: Readonly<WindowLimit>;
  /** Bytes queued for the session before it is closed. */
  readonly send_buffer: Readonly<ScalarLimit>;
  /** Messages stored for the account while it is offline. */
  readonly offline_messages_per_account: Readonly<ScalarLimit>;
  /** The compiled stanza rules; every session of one rule list shares one set. */
  readonly stanza_rules: StanzaRuleSet;
}

/** Options for {@linkcode LimitPolicy}. */
export interface LimitPolicyOptions {
  /**
   * The most distinct class combinations whose answers are kept; a new
   * combination beyond it evicts the least recently used one (its sessions
   * keep their object, later sessions get an equal new one).
   *
   * @default {256}
   */
  cacheSize?: number;
}

type WindowKey =
  | "auth_failures_per_ip"
  | "distinct_recipients"
  | "presence_broadcasts";

type ScalarKey =
  | "resources_per_account"
  | "stanza_size"
  | "stanza_size_stream_error"
  | "send_buffer"
  | "offline_messages_per_account";

const WINDOW_KEYS: readonly WindowKey[] = [
  "auth_failures_per_ip",
  "distinct_recipients",
  "presence_broadcasts",
];

const SCALAR_KEYS: readonly ScalarKey[] = [
  "resources_per_account",
  "stanza_size",
  "stanza_size_stream_error",
  "send_buffer",
  "offline_messages_per_account",
];

const CONNECTION_KINDS: readonly string[] = ["tcp", "tls", "websocket", "bosh", "s2s", "memory"];

/**
 * Bare JID patterns: `local@domain` (that account), `*@domain` (every
 * account of the domain) and `domain` (the domain itself and every JID of
 * it, as ejabberd's `server` ACL). Patterns are normalised like JIDs.
 */
class JidPatterns {
  readonly #exact = new Set<string>();
  readonly #accountsOf = new Set<string>();
  readonly #domains = new Set<string>();

  constructor(patterns: readonly string[], where: string) {
    if (!Array.isArray(patterns)) {
      throw new TypeError(
        `Cannot create limit policy: '${where}' must be a list, got ${JSON.stringify(patterns)}`,
      );
    }
    for (const pattern of patterns) this.#add(pattern, where);
  }

  has(jid: string): boolean {
    if (this.#exact.has(jid)) return true;
    const at = jid.lastIndexOf("@");
    if (at < 0) return this.#domains.has(jid);
    if (this.#accountsOf.size === 0 && this.#domains.size === 0) return false;
    const domain = jid.slice(at + 1);
    return this.#accountsOf.has(domain) || this.#domains.has(domain);
  }

  #add(pattern: unknown, where: string): void {
    const text = typeof pattern === "string" ? pattern : "";
    const at = text.indexOf("@");
    try {
      if (text.length === 0 || text.includes("/")) throw new SyntaxError("Not a bare JID");
      if (at < 0) {
        this.#domains.add(prepDomainpart(text));
        return;
      }
      const local = text.slice(0, at);
      const domain = prepDomainpart(text.slice(at + 1));
      if (local === "*") this.#accountsOf.add(domain);
      else this.#exact.add(`${prepLocalpart(local)}@${domain}`);
    } catch (cause) {
      throw new TypeError(
        `Cannot create limit policy: invalid JID pattern ${JSON.stringify(pattern)} in '${where}'`,
        { cause },
      );
    }
  }
}

/** A class's `match`, compiled. */
interface Matcher {
  readonly name: string;
  /** Needs an authenticated session (`jids`, `auth` or `authenticated: true`). */
  readonly needsAuth: boolean;
  /** Needs a session that is not authenticated (`authenticated: false`). */
  readonly needsUnauth: boolean;
  readonly ips: CidrSet | null;
  readonly jids: JidPatterns | null;
  readonly connection: ReadonlySet<string> | null;
  readonly auth: ReadonlySet<string> | null;
  readonly limits: ClassLimits;
  /** The class's stanza rules, compiled (when it sets them). */
  readonly rules: StanzaRuleSet | null;
}

function stringSet(
  values: readonly string[] | undefined,
  where: string,
  allowed?: readonly string[],
): ReadonlySet<string> | null {
  if (values === undefined) return null;
  if (!Array.isArray(values)) {
    throw new TypeError(
      `Cannot create limit policy: '${where}' must be a list, got ${JSON.stringify(values)}`,
    );
  }
  for (const value of values) {
    if (typeof value !== "string" || (allowed !== undefined && !allowed.includes(value))) {
      throw new TypeError(
        `Cannot create limit policy: invalid value ${JSON.stringify(value)} in '${where}'`,
      );
    }
  }
  return new Set(values);
}

function cidrSet(values: readonly string[] | undefined, where: string): CidrSet | null {
  if (values === undefined) return null;
  if (!Array.isArray(values)) {
    throw new TypeError(
      `Cannot create limit policy: '${where}' must be a list, got ${JSON.stringify(values)}`,
    );
  }
  try {
    return new CidrSet(values);
  } catch (cause) {
    throw new TypeError(
      `Cannot create limit policy: ${(cause as Error).message} in '${where}'`,
      { cause },
    );
  }
}

function compileMatcher(name: string, limits: ClassLimits, match: ClassMatch): Matcher {
  const where = `limits.classes.${name}.match`;
  if (typeof match !== "object" || match === null) {
    throw new TypeError(
      `Cannot create limit policy: '${where}' must be an object, got ${JSON.stringify(match)}`,
    );
  }
  const { authenticated } = match;
  if (authenticated !== undefined && typeof authenticated !== "boolean") {
    throw new TypeError(
      `Cannot create limit policy: '${where}.authenticated' must be a boolean, got ${
        JSON.stringify(authenticated)
      }`,
    );
  }
  const needsAuth = match.jids !== undefined || match.auth !== undefined ||
    authenticated === true;
  if (needsAuth && authenticated === false) {
    throw new TypeError(
      `Cannot create limit policy: '${where}' combines authenticated: false with jids or auth`,
    );
  }
  return {
    name,
    needsAuth,
    needsUnauth: authenticated === false,
    ips: cidrSet(match.ips, `${where}.ips`),
    jids: match.jids === undefined ? null : new JidPatterns(match.jids, `${where}.jids`),
    connection: stringSet(match.connection, `${where}.connection`, CONNECTION_KINDS),
    auth: stringSet(match.auth, `${where}.auth`),
    limits,
    rules: limits.stanza_rules === undefined ? null : new StanzaRuleSet(limits.stanza_rules),
  };
}

function matches(matcher: Matcher, facts: SessionFacts): boolean {
  if (facts.authenticated ? matcher.needsUnauth : matcher.needsAuth) return false;
  if (matcher.connection !== null && !matcher.connection.has(facts.connection)) return false;
  if (matcher.auth !== null && (facts.auth === undefined || !matcher.auth.has(facts.auth))) {
    return false;
  }
  if (matcher.jids !== null && (facts.jid === undefined || !matcher.jids.has(facts.jid))) {
    return false;
  }
  return matcher.ips === null || matcher.ips.has(facts.ip);
}

interface Draft {
  connections_per_ip: CountLimit;
  connection_attempts_per_ip: ConnectionAttemptsLimit;
  auth_failures_per_ip: WindowLimit;
  resources_per_account: ScalarLimit;
  stanza_size: ScalarLimit;
  stanza_size_stream_error: ScalarLimit;
  distinct_recipients: WindowLimit;
  bandwidth: BandwidthLimit;
  presence_broadcasts: WindowLimit;
  send_buffer: ScalarLimit;
  offline_messages_per_account: ScalarLimit;
  stanza_rules: StanzaRuleSet;
}

function scalar(max: number | null, mode: LimitMode): ScalarLimit {
  return { max, mode };
}

/**
 * The limits of a session, resolved from `limits` by class and exception
 * (see the module documentation). Build one per configuration; a new
 * configuration builds a new policy.
 *
 * A class matches when every criterion it lists holds, each list matching
 * when any of its values does: `ips` (CIDR blocks or addresses), `connection`
 * (`tcp`, `tls`, `websocket`, `bosh`, `s2s`), `auth` (SASL mechanism),
 * `jids` (`local@domain`; `*@domain`: every account of the domain; `domain`:
 * the domain and every JID of it) and `authenticated`. `jids`, `auth` and
 * `authenticated: true` never match before authentication. Matching classes
 * apply in written order: a later class replaces what an earlier one set,
 * key by key (a class's limit object is complete, filled from the base
 * limits, and its `stanza_rules` replace the list). A session whose IP is in
 * `limits.exempt.ips`, or whose authenticated JID matches `limits.exempt.jids`,
 * gets every limit off.
 *
 * @example Usage
 * ```ts
 * import { LimitPolicy } from "./policy.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const { limits } = resolveConfig({
 *   limits: {
 *     classes: {
 *       office: { match: { ips: "192.0.2.0/24" }, limits: { connections_per_ip: 200 } },
 *       anonymous: { match: { auth: "ANONYMOUS" }, limits: { resources_per_account: 1 } },
 *     },
 *     exempt: { ips: ["127.0.0.1"] },
 *   },
 * });
 * const policy = new LimitPolicy(limits);
 *
 * const arriving = policy.resolve({ ip: "192.0.2.7", connection: "tcp", authenticated: false });
 * assert.deepEqual(arriving.classes, ["office"]);
 * assert.deepEqual(arriving.connections_per_ip, { max: 200, mode: "enforce" });
 *
 * const guest = policy.resolve({
 *   ip: "192.0.2.7", connection: "tcp", authenticated: true, auth: "ANONYMOUS", jid: "x@localhost",
 * });
 * assert.deepEqual(guest.classes, ["office", "anonymous"]);
 * assert.equal(guest.resources_per_account.max, 1);
 *
 * const local = policy.resolve({ ip: "127.0.0.1", connection: "tcp", authenticated: false });
 * assert.equal(local.exempt, true);
 * assert.equal(local.stanza_size.max, null);
 * ```
 */
export class LimitPolicy {
  readonly #matchers: readonly Matcher[];
  readonly #names: readonly string[];
  readonly #base: Readonly<Draft>;
  readonly #exemptIps: CidrSet;
  readonly #exemptJids: JidPatterns;
  readonly #noRules = new StanzaRuleSet([]);
  readonly #cache: BoundedMap<string, EffectiveLimits>;

  /**
   * Compiles the classes and exceptions of a resolved `limits` section.
   *
   * @param config The `limits` of a resolved configuration (`resolveConfig`).
   * @param options The answer cache size.
   * @throws {TypeError} If a class's `match` or `limits.exempt` holds an
   * invalid CIDR, JID pattern or connection kind, a `stanza_rules` entry is
   * malformed, or a `match` combines `authenticated: false` with `jids`/`auth`.
   * @throws {RangeError} If `cacheSize` is not a positive integer.
   */
  constructor(config: LimitsConfig, options: LimitPolicyOptions = {}) {
    // A private copy: answers are built lazily and must not see later edits of the config.
    const limits = structuredClone(config);
    const mode = limits.mode;
    this.#base = {
      connections_per_ip: limits.connections_per_ip,
      connection_attempts_per_ip: limits.connection_attempts_per_ip,
      auth_failures_per_ip: limits.auth_failures_per_ip,
      resources_per_account: scalar(limits.resources_per_account, mode),
      stanza_size: scalar(limits.stanza_size, mode),
      stanza_size_stream_error: scalar(limits.stanza_size_stream_error, mode),
      distinct_recipients: limits.distinct_recipients,
      bandwidth: limits.bandwidth,
      presence_broadcasts: limits.presence_broadcasts,
      send_buffer: scalar(limits.send_buffer, mode),
      offline_messages_per_account: scalar(limits.offline_messages_per_account, mode),
      stanza_rules: new StanzaRuleSet(limits.stanza_rules),
    };
    this.#matchers = Object.entries(limits.classes).map(([name, limitClass]) =>
      compileMatcher(name, limitClass.limits, limitClass.match)
    );
    this.#names = Object.freeze(this.#matchers.map((matcher) => matcher.name));
    this.#exemptIps = cidrSet(limits.exempt.ips, "limits.exempt.ips") as CidrSet;
    this.#exemptJids = new JidPatterns(limits.exempt.jids, "limits.exempt.jids");
    this.#cache = new BoundedMap(options.cacheSize ?? 256);
  }

  /**
   * The names of the configured classes, in written order.
   *
   * @returns Every class name, matching or not.
   */
  get classNames(): readonly string[] {
    return this.#names;
  }

  /**
   * Resolves the limits of a session. Call it when the connection arrives
   * (`authenticated: false`, `ip` and `connection` only) and again after
   * authentication, and replace the session's limits with the new answer.
   *
   * @param facts What is known about the session.
   * @returns A frozen answer, the same object for every session that matches
   * the same classes (and exemption) while it stays cached.
   */
  resolve(facts: SessionFacts): EffectiveLimits {
    const exempt = this.#exemptIps.has(facts.ip) ||
      (facts.authenticated && facts.jid !== undefined && this.#exemptJids.has(facts.jid));
    let key = exempt ? "x" : "";
    const matchers = this.#matchers;
    for (let i = 0; i < matchers.length; i++) {
      if (matches(matchers[i] as Matcher, facts)) key += `${i},`;
    }
    let answer = this.#cache.get(key);
    if (answer === undefined) {
      answer = this.#build(exempt, facts);
      this.#cache.set(key, answer);
    }
    return answer;
  }

  #build(exempt: boolean, facts: SessionFacts): EffectiveLimits {
    const draft: Draft = { ...this.#base };
    const classes: string[] = [];
    for (const matcher of this.#matchers) {
      if (!matches(matcher, facts)) continue;
      classes.push(matcher.name);
      this.#apply(draft, matcher);
    }
    if (exempt) this.#exempt(draft);
    return Object.freeze({
      exempt,
      classes: Object.freeze(classes),
      connections_per_ip: Object.freeze({ ...draft.connections_per_ip }),
      connection_attempts_per_ip: Object.freeze({ ...draft.connection_attempts_per_ip }),
      auth_failures_per_ip: Object.freeze({ ...draft.auth_failures_per_ip }),
      resources_per_account: Object.freeze({ ...draft.resources_per_account }),
      stanza_size: Object.freeze({ ...draft.stanza_size }),
      stanza_size_stream_error: Object.freeze({ ...draft.stanza_size_stream_error }),
      distinct_recipients: Object.freeze({ ...draft.distinct_recipients }),
      bandwidth: Object.freeze({ ...draft.bandwidth }),
      presence_broadcasts: Object.freeze({ ...draft.presence_broadcasts }),
      send_buffer: Object.freeze({ ...draft.send_buffer }),
      offline_messages_per_account: Object.freeze({ ...draft.offline_messages_per_account }),
      stanza_rules: draft.stanza_rules,
    });
  }

  #apply(draft: Draft, matcher: Matcher): void {
    const limits = matcher.limits;
    if (limits.connections_per_ip !== undefined) {
      draft.connections_per_ip = limits.connections_per_ip;
    }
    if (limits.connection_attempts_per_ip !== undefined) {
      draft.connection_attempts_per_ip = limits.connection_attempts_per_ip;
    }
    if (limits.bandwidth !== undefined) draft.bandwidth = limits.bandwidth;
    for (const key of WINDOW_KEYS) {
      const value = limits[key];
      if (value !== undefined) draft[key] = value;
    }
    // A scalar override carries its class's mode (schema: "or its class's mode").
    for (const key of SCALAR_KEYS) {
      const value = limits[key];
      if (value !== undefined) draft[key] = scalar(value, limits.mode);
    }
    if (matcher.rules !== null) draft.stanza_rules = matcher.rules;
  }

  #exempt(draft: Draft): void {
    draft.connections_per_ip = { ...draft.connections_per_ip, max: null };
    draft.connection_attempts_per_ip = { ...draft.connection_attempts_per_ip, max: null };
    draft.bandwidth = { ...draft.bandwidth, rate: null };
    for (const key of WINDOW_KEYS) draft[key] = { ...draft[key], max: null };
    for (const key of SCALAR_KEYS) draft[key] = { ...draft[key], max: null };
    draft.stanza_rules = this.#noRules;
  }
}
