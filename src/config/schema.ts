/**
 * The server configuration: one schema for code and YAML. Users write a
 * {@linkcode ServerConfigInput} (every key optional, snake_case only, sizes
 * like `"256KiB"`, durations like `"30s"`, rates like `"10KiB/s"`);
 * {@linkcode resolveConfig} checks it once at start-up and returns a
 * {@linkcode ServerConfig} with every default filled, sizes in bytes,
 * durations in milliseconds and rates in bytes per second, under the same key
 * names. A resolved config is itself a valid input (resolving it again gives
 * an equal object).
 *
 * Limits (XEP-0205) follow three rules:
 * - Every `max` and every size limit accepts `"unlimited"` (or `null`), which
 *   resolves to `null`: that limit is off. The exceptions are the parser caps
 *   (`limits.parser`, `limits.pre_auth_max_elements`): they protect the
 *   parser itself, so they are always finite and always enforced.
 * - Every limit object accepts `mode: enforce | report`; when it is left out
 *   it inherits the class's `mode`, then `limits.mode`. Resolved limit objects
 *   always carry their effective `mode`; a scalar limit (`stanza_size`,
 *   `resources_per_account` …) uses `limits.mode`, or its class's `mode`.
 * - `limits.classes` is an ordered map of name → `{ match, limits }`. Every
 *   class whose `match` fits a session applies, in written order, and a later
 *   class overrides what an earlier one set, key by key (a class's
 *   `stanza_rules` replaces the list). Every criterion in `match` must hold;
 *   a missing one always holds (an empty or missing `match` fits every session). A class limit object may be partial:
 *   missing fields are filled from the base limits. `limits.exempt` lists IPs
 *   and JIDs no limit applies to.
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import {
  bool,
  bytes,
  canonicalIp,
  childPath,
  cidr,
  ConfigError,
  duration,
  enumOf,
  type Infer,
  type InferInput,
  int,
  isHost,
  limitOrUnlimited,
  listOf,
  listOrSingle,
  mapOf,
  object,
  oneOf,
  optional,
  rate,
  refine,
  type Shape,
  type Simplify,
  str,
  taggedUnion,
  transform,
  type Validator,
} from "./validate.ts";
import { formatBytes } from "./units.ts";
import { isLoopbackHost } from "../admin/loopback.ts";

// --- Shared pieces ------------------------------------------------------------

const LABEL = "[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?";
const DOMAIN = `${LABEL}(?:\\.${LABEL})*`;
const LOCALPART = "[^\\s\"&'/:<>@]{1,1023}";
const DOMAIN_REGEXP = new RegExp(`^(?=.{1,253}$)${DOMAIN}$`, "u");
const BARE_JID_REGEXP = new RegExp(`^${LOCALPART}@${DOMAIN}$`, "u");
const JID_PATTERN_REGEXP = new RegExp(`^(?:(?:\\*|${LOCALPART})@)?${DOMAIN}$`, "u");

// Domains compare case-insensitively; the resolved domain is lower case.
const DOMAIN_NAME = transform(
  str({ pattern: DOMAIN_REGEXP, expected: 'a domain name like "example.org"' }),
  (domain) => domain.toLowerCase(),
);
const BARE_JID = str({ pattern: BARE_JID_REGEXP, expected: 'a bare JID like "alice@example.org"' });
const JID_PATTERN = str({
  pattern: JID_PATTERN_REGEXP,
  expected: 'a bare JID, "*@domain" or a domain',
});
const FILE_PATH = str({ pattern: /^[^\0]+$/, expected: "a file path" });
const NON_EMPTY = str({ minLength: 1 });

const SASL_MECHANISMS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] as const;
const CLASS_AUTH = [...SASL_MECHANISMS, "EXTERNAL", "ANONYMOUS"] as const;
const CONNECTION_KINDS = ["tcp", "tls", "websocket", "bosh", "s2s"] as const;
const STANZA_TYPES = {
  // "normal" and "available" name the missing type attribute (RFC 6121 §5.2.2, §4.7.1).
  message: ["normal", "chat", "groupchat", "headline", "error"],
  presence: [
    "available",
    "unavailable",
    "subscribe",
    "subscribed",
    "unsubscribe",
    "unsubscribed",
    "probe",
    "error",
  ],
  iq: ["get", "set", "result", "error"],
} as const;

const MODE = enumOf(["enforce", "report"]);
const OPTIONAL_MODE = optional(MODE);
const SIZE = limitOrUnlimited(bytes({ min: 1 }));
const WINDOW = duration({ min: 1 });
const MAX = limitOrUnlimited(int({ min: 1 }));

function count(min: number) {
  return limitOrUnlimited(int({ min }));
}

/** Every key of `shape` made optional (class overrides are partial). */
function allOptional<S extends Shape>(shape: S) {
  const out: Record<string, Validator<unknown, unknown>> = {};
  for (const [key, validator] of Object.entries(shape)) {
    out[key] = "optional" in validator ? validator : optional(validator);
  }
  return out as { [K in keyof S]: ReturnType<typeof optional<S[K]>> };
}

/** Lets a whole limit object be written as `"unlimited"` (or `null`): `{ [key]: null }`. */
function unlimitedAs<V extends Validator<unknown, unknown>>(validator: V, key: string) {
  const expected = `${validator.expected} or "unlimited"`;
  const wrapped: Validator<Infer<V>, InferInput<V> | "unlimited" | null> & {
    readonly omittable: V["omittable"];
  } = {
    expected,
    omittable: validator.omittable,
    check(value: unknown, path: string): Infer<V> {
      const input = value === "unlimited" || value === null ? { [key]: null } : value;
      return validator.check(input, path) as Infer<V>;
    },
  };
  return wrapped;
}

const WINDOW_SHAPE = { max: MAX, window: WINDOW, mode: OPTIONAL_MODE };

/** A `{ max, window, mode? }` limit with its defaults. */
function windowLimit(max: number, window: string) {
  return unlimitedAs(object(WINDOW_SHAPE, { defaults: { max, window } }), "max");
}

const PARTIAL_WINDOW = unlimitedAs(object(allOptional(WINDOW_SHAPE)), "max");

const ATTEMPTS_SHAPE = { ...WINDOW_SHAPE, close_unauthenticated: bool() };

// connection_attempts_per_ip: a window limit, and what happens to the
// address's streams that have not authenticated yet when it trips.
const CONNECTION_ATTEMPTS = unlimitedAs(
  object(ATTEMPTS_SHAPE, {
    defaults: {
      max: 30,
      window: "1m",
      // true: when an address is refused for this limit (enforce mode), its
      // streams that have not authenticated yet are closed too, with
      // policy-violation (a flood's admitted connections do not sit until
      // timeouts.negotiation); authenticated streams are never touched.
      close_unauthenticated: true,
    },
  }),
  "max",
);

const PARTIAL_CONNECTION_ATTEMPTS = unlimitedAs(object(allOptional(ATTEMPTS_SHAPE)), "max");

const COUNT_SHAPE = { max: MAX, mode: OPTIONAL_MODE };

function countLimit<V extends Validator<{ max?: number | null; mode?: LimitMode }, unknown>>(
  objectForm: V,
) {
  return transform(
    oneOf(MAX, objectForm),
    (value): Infer<V> =>
      (typeof value === "object" && value !== null ? value : { max: value }) as Infer<V>,
  );
}

const CONNECTIONS_PER_IP = countLimit(object(COUNT_SHAPE, { defaults: { max: 10 } }));
const PARTIAL_CONNECTIONS_PER_IP = countLimit(object(allOptional(COUNT_SHAPE)));

const BANDWIDTH_SHAPE = {
  rate: limitOrUnlimited(rate({ min: 1 })),
  burst: bytes({ min: 1 }),
  per_account: bool(),
  penalty_rate: limitOrUnlimited(rate({ min: 1 })),
  recovery: duration(),
  mode: OPTIONAL_MODE,
};

const BANDWIDTH = unlimitedAs(
  object(BANDWIDTH_SHAPE, {
    defaults: {
      // Bytes per second read from one connection (or account) before reading
      // pauses (TCP back-pressure, Prosody's "karma"); fits chat, slows floods.
      rate: "10KiB/s",
      // Bytes that may arrive at once above the rate, so a burst of presence or
      // a vCard after login is not throttled.
      burst: "100KiB",
      // false: one budget per connection; true: shared by an account's connections.
      per_account: false,
      // The karma penalty: after a connection overruns its budget it refills at
      // this lower rate until `recovery` has passed without another overrun.
      // "unlimited" (the default) means no penalty: a plain token bucket.
      penalty_rate: "unlimited",
      recovery: "0s",
    },
  }),
  "rate",
);

const PARTIAL_BANDWIDTH = unlimitedAs(object(allOptional(BANDWIDTH_SHAPE)), "rate");

// Structural caps that protect the parser itself: always finite and always
// enforced (no "unlimited", no report mode), since a stream that exceeds them
// cannot be parsed on safely.
const CAP = int({ min: 1 });

const PARSER = object({
  max_depth: CAP,
  max_attributes: CAP,
  max_name_length: CAP,
  max_attribute_value_length: bytes({ min: 1 }),
  max_namespace_declarations: CAP,
  max_elements_per_stanza: CAP,
}, {
  defaults: {
    // Element nesting depth inside the stream; deep nesting costs parser stack.
    max_depth: 32,
    // Attributes on one element; attribute lists are kept in memory whole.
    max_attributes: 64,
    // Characters in an element or attribute name.
    max_name_length: 256,
    // Bytes in one attribute value (text is bounded by stanza_size instead).
    max_attribute_value_length: "64KiB",
    // xmlns declarations on one element; each one grows the namespace scope.
    max_namespace_declarations: 16,
    // Elements in one stanza, against stanzas made of millions of tiny elements.
    max_elements_per_stanza: 4096,
  },
});

const STANZA_RULE_SHAPE = {
  action: enumOf(["allow", "deny", "limit"]),
  kind: enumOf(["message", "presence", "iq", "any"]),
  type: optional(listOrSingle(NON_EMPTY, { min: 1, unique: true })),
  payload: optional(
    listOrSingle(str({ pattern: /^\S+$/, expected: 'a namespace like "urn:xmpp:ping"' }), {
      min: 1,
      unique: true,
    }),
  ),
  direction: enumOf(["outbound", "inbound", "any"]),
  to: enumOf(["local", "remote", "unknown", "any"]),
  rate: optional(object({ max: MAX, window: WINDOW })),
  error: enumOf(["not-allowed", "policy-violation"]),
  text: optional(NON_EMPTY),
  mode: OPTIONAL_MODE,
};

const STANZA_RULE = refine(
  object(STANZA_RULE_SHAPE, {
    defaults: { kind: "any", direction: "outbound", to: "any", error: "not-allowed" },
  }),
  (rule, path) => {
    if (rule.action === "limit" && rule.rate === undefined) {
      throw new ConfigError(
        childPath(path, "rate"),
        'missing required key, expected a mapping { max, window } because action is "limit"',
      );
    }
    if (rule.action !== "limit" && rule.rate !== undefined) {
      throw new ConfigError(childPath(path, "rate"), 'only allowed when action is "limit"');
    }
    if (rule.action === "allow" && rule.text !== undefined) {
      throw new ConfigError(
        childPath(path, "text"),
        'only allowed when action is "deny" or "limit"',
      );
    }
    const allowed: readonly string[] = rule.kind === "any"
      ? [...new Set(Object.values(STANZA_TYPES).flat())]
      : STANZA_TYPES[rule.kind];
    const wrong = rule.type?.find((type) => !allowed.includes(type));
    if (wrong !== undefined) {
      throw new ConfigError(
        childPath(path, "type"),
        `expected ${rule.kind === "any" ? "stanza" : rule.kind} types (${
          allowed.map((t) => JSON.stringify(t)).join(", ")
        }), got ${JSON.stringify(wrong)}`,
      );
    }
    return undefined;
  },
);

const STANZA_RULES = listOf(STANZA_RULE);

const MATCH = refine(
  object({
    jids: optional(listOrSingle(JID_PATTERN, { min: 1, unique: true })),
    ips: optional(listOrSingle(cidr(), { min: 1, unique: true })),
    connection: optional(listOrSingle(enumOf(CONNECTION_KINDS), { min: 1, unique: true })),
    auth: optional(listOrSingle(enumOf(CLASS_AUTH), { min: 1, unique: true })),
    authenticated: optional(bool()),
  }),
  (match) =>
    match.authenticated === false && (match.jids !== undefined || match.auth !== undefined)
      ? "authenticated: false cannot be combined with jids or auth, which only match authenticated sessions"
      : undefined,
);

const CLASS_LIMITS = object({
  connections_per_ip: optional(PARTIAL_CONNECTIONS_PER_IP),
  connection_attempts_per_ip: optional(PARTIAL_CONNECTION_ATTEMPTS),
  auth_failures_per_ip: optional(PARTIAL_WINDOW),
  resources_per_account: optional(count(1)),
  stanza_size: optional(SIZE),
  stanza_size_stream_error: optional(SIZE),
  distinct_recipients: optional(PARTIAL_WINDOW),
  bandwidth: optional(PARTIAL_BANDWIDTH),
  presence_broadcasts: optional(PARTIAL_WINDOW),
  send_buffer: optional(SIZE),
  offline_messages_per_account: optional(count(0)),
  stanza_rules: optional(
    transform(oneOf(enumOf(["unlimited"]), STANZA_RULES), (v) => (v === "unlimited" ? [] : v)),
  ),
  mode: OPTIONAL_MODE,
});

const LIMIT_CLASS = object({ match: MATCH, limits: CLASS_LIMITS });

const LIMITS_SHAPE = {
  mode: MODE,
  ipv6_prefix: int({ min: 1, max: 128 }),
  // Open connections from one IP (IPv6: one ipv6_prefix network); an int or
  // { max, mode }. Refused before any byte is read. Default 10.
  connections_per_ip: CONNECTIONS_PER_IP,
  // Connection attempts from one IP per window (also those connections_per_ip
  // refuses: XEP-0205 counts attempts), refused like connections_per_ip.
  // Default 30 per 1m: reconnect loops and scanners stop, NAT users do not.
  // See CONNECTION_ATTEMPTS for close_unauthenticated.
  connection_attempts_per_ip: CONNECTION_ATTEMPTS,
  unauthenticated_connections: count(1),
  // At least 1 KiB: the stream header itself counts against it.
  pre_auth_stanza_size: limitOrUnlimited(bytes({ min: 1024 })),
  pre_auth_max_elements: CAP,
  // Failed SASL attempts from one IP per window before further attempts are
  // refused. Default 10 per 5m: slows password guessing across reconnects.
  auth_failures_per_ip: windowLimit(10, "5m"),
  // XEP-0077 in-band registrations from one IP (IPv6: one ipv6_prefix
  // network) per window, when registration.enabled; over it the request gets
  // <resource-constraint/>. Default 5 per 1h: open registration is a spam
  // source (XEP-0205 §3).
  registrations_per_ip: windowLimit(5, "1h"),
  resources_per_account: count(1),
  stanza_size: SIZE,
  stanza_size_stream_error: SIZE,
  // Structural limits checked while parsing (each value per element/stanza).
  parser: PARSER,
  // Distinct recipients one session may send to per window (XEP-0205 §3,
  // spam). Default 100 per 1m.
  distinct_recipients: windowLimit(100, "1m"),
  // Bytes in per second ("karma"), see BANDWIDTH.
  bandwidth: BANDWIDTH,
  // Presence broadcasts one session may trigger per window (each one fans out
  // to every contact). Default 10 per 1m.
  presence_broadcasts: windowLimit(10, "1m"),
  send_buffer: SIZE,
  offline_messages_per_account: count(0),
  stanza_rules: STANZA_RULES,
  classes: mapOf(LIMIT_CLASS),
  exempt: object({
    ips: listOf(cidr(), { unique: true }),
    jids: listOf(JID_PATTERN, { unique: true }),
  }, {
    defaults: {
      // Networks no limit applies to (e.g. your monitoring); CIDR or single IP.
      ips: [],
      // Accounts ("alice@example.org"), "*@domain" or domains no limit applies to.
      jids: [],
    },
  }),
};

const LIMITS_OBJECT = object(LIMITS_SHAPE, {
  defaults: {
    // enforce: over-limit traffic is refused; report: it is only logged, to
    // try limits on live traffic first. Inherited by every limit object.
    mode: "enforce",
    // IPv6 prefix length whose addresses count as one "IP"; an attacker gets
    // a /64 (often more) from any provider, so single addresses mean little.
    ipv6_prefix: 64,
    // Streams open but not authenticated yet, server-wide; caps the memory an
    // anonymous flood can hold (each also ends after timeouts.negotiation).
    unauthenticated_connections: 1000,
    // Bytes in one top-level element before authentication (SASL exchanges are
    // small); stream error policy-violation above it.
    pre_auth_stanza_size: "8KiB",
    // Elements in one top-level element before authentication (a parser
    // cap like limits.parser: always finite).
    pre_auth_max_elements: 32,
    // Resources (devices) bound at once per account; above it binding fails
    // with resource-constraint (XEP-0205 §3).
    resources_per_account: 5,
    // Bytes in one stanza; above it a stanza error (not-allowed,
    // stanza-too-big), advertised per XEP-0478. Leaves room for avatars.
    stanza_size: "256KiB",
    // Bytes in one stanza above which the stream itself is closed
    // (policy-violation); must be >= stanza_size.
    stanza_size_stream_error: "1MiB",
    // Bytes queued for a slow reader per connection; above it the connection
    // is closed with policy-violation rather than buffering without bound.
    send_buffer: "1MiB",
    // Messages stored per account while it is offline; later ones bounce.
    offline_messages_per_account: 100,
    // Ordered stanza rules; the first that matches decides.
    stanza_rules: [],
    // Named classes of sessions with their own limits; see the module docs.
    classes: {},
  },
});

/** Whether a limit is enforced or only reported (logged). */
export type LimitMode = Infer<typeof MODE>;

type WithMode<T> = Simplify<Omit<T, "mode"> & { mode: LimitMode }>;

/** A limit on a count without a time window: `{ max, mode }` (`max: null` = off). */
export type CountLimit = WithMode<Infer<typeof CONNECTIONS_PER_IP>>;
/** A limit on events per time window: `max` per `window` milliseconds (`max: null` = off). */
export type WindowLimit = WithMode<Infer<ReturnType<typeof windowLimit>>>;
/**
 * `connection_attempts_per_ip`: a {@linkcode WindowLimit} whose enforced
 * refusals also close the address's unauthenticated streams when
 * `close_unauthenticated` is true.
 */
export type ConnectionAttemptsLimit = WithMode<Infer<typeof CONNECTION_ATTEMPTS>>;
/** The bandwidth ("karma") limit: `rate` in bytes per second (`null` = off), `burst` in bytes. */
export type BandwidthLimit = WithMode<Infer<typeof BANDWIDTH>>;
/** Parser caps per element or stanza: always finite and enforced. */
export type ParserLimits = Infer<typeof PARSER>;
/** One stanza rule; `type` and `payload` left out mean "any". */
export type StanzaRule = WithMode<Infer<typeof STANZA_RULE>>;
/** What a limit class matches; every listed criterion must hold, a missing one always holds. */
export type ClassMatch = Infer<typeof MATCH>;

type ObjectLimitKey =
  | "connections_per_ip"
  | "connection_attempts_per_ip"
  | "auth_failures_per_ip"
  | "distinct_recipients"
  | "bandwidth"
  | "presence_broadcasts"
  | "registrations_per_ip";

type RawLimits = Infer<typeof LIMITS_OBJECT>;

/** The resolved `limits` section (XEP-0205). */
export type LimitsConfig = Simplify<
  & Omit<RawLimits, ObjectLimitKey | "stanza_rules" | "classes">
  & {
    connections_per_ip: CountLimit;
    connection_attempts_per_ip: ConnectionAttemptsLimit;
    auth_failures_per_ip: WindowLimit;
    distinct_recipients: WindowLimit;
    bandwidth: BandwidthLimit;
    presence_broadcasts: WindowLimit;
    registrations_per_ip: WindowLimit;
    stanza_rules: StanzaRule[];
    classes: Record<string, LimitClass>;
  }
>;

type ClassLimitKey = Exclude<keyof Infer<typeof CLASS_LIMITS>, "mode">;

/**
 * A class's limit overrides, resolved: only the keys the class sets, each
 * complete (partial objects filled from the base limits); `mode` is the
 * class's mode (or `limits.mode`), used by its scalar overrides.
 */
export type ClassLimits = Simplify<
  & { [K in ClassLimitKey]?: LimitsConfig[K] }
  & { mode: LimitMode }
>;

/** One entry of `limits.classes`. */
export interface LimitClass {
  /** Which sessions the class applies to. */
  match: ClassMatch;
  /** The limits it overrides. */
  limits: ClassLimits;
}

function withMode<T extends { mode?: LimitMode }>(limit: T, mode: LimitMode): WithMode<T> {
  return { ...limit, mode: limit.mode ?? mode } as WithMode<T>;
}

/**
 * stanza_size_stream_error >= stanza_size, where either may come from the
 * base limits (`inherited*`); the error names the key that was written.
 */
function checkStanzaSizes(
  path: string,
  size: { value: number | null; path: string },
  streamError: { value: number | null; path: string; written: boolean },
): void {
  if (size.value === null || streamError.value === null || streamError.value >= size.value) {
    return;
  }
  if (streamError.written) {
    throw new ConfigError(
      streamError.path,
      `must be >= ${size.path} (${formatBytes(size.value)}), got ${formatBytes(streamError.value)}`,
    );
  }
  throw new ConfigError(
    childPath(path, "stanza_size"),
    `must be <= ${streamError.path} (${formatBytes(streamError.value)}), got ${
      formatBytes(size.value)
    }`,
  );
}

function resolveClass(
  raw: Infer<typeof LIMIT_CLASS>,
  base: Omit<LimitsConfig, "classes">,
  basePath: string,
  path: string,
): LimitClass {
  const mode = raw.limits.mode ?? base.mode;
  const limits: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw.limits)) {
    if (key === "mode") continue;
    if (key === "stanza_rules") {
      limits[key] = (value as Infer<typeof STANZA_RULES>).map((rule) => withMode(rule, mode));
    } else if (typeof value === "object" && value !== null) {
      const written = value as { mode?: LimitMode };
      limits[key] = {
        ...(base[key as keyof typeof base] as object),
        ...written,
        mode: written.mode ?? mode,
      };
    } else {
      limits[key] = value;
    }
  }
  limits.mode = mode;
  const resolved = limits as ClassLimits;
  const limitsPath = childPath(path, "limits");
  const { stanza_size: size, stanza_size_stream_error: streamError } = resolved;
  if (size !== undefined || streamError !== undefined) {
    checkStanzaSizes(limitsPath, {
      value: size === undefined ? base.stanza_size : size,
      path: childPath(size === undefined ? basePath : limitsPath, "stanza_size"),
    }, {
      value: streamError === undefined ? base.stanza_size_stream_error : streamError,
      path: childPath(
        streamError === undefined ? basePath : limitsPath,
        "stanza_size_stream_error",
      ),
      written: streamError !== undefined,
    });
  }
  return { match: raw.match, limits: resolved };
}

const LIMITS = transform(LIMITS_OBJECT, (raw, path): LimitsConfig => {
  checkStanzaSizes(path, {
    value: raw.stanza_size,
    path: childPath(path, "stanza_size"),
  }, {
    value: raw.stanza_size_stream_error,
    path: childPath(path, "stanza_size_stream_error"),
    written: true,
  });
  const { mode } = raw;
  const base: Omit<LimitsConfig, "classes"> = {
    ...raw,
    connections_per_ip: withMode(raw.connections_per_ip, mode),
    connection_attempts_per_ip: withMode(raw.connection_attempts_per_ip, mode),
    auth_failures_per_ip: withMode(raw.auth_failures_per_ip, mode),
    distinct_recipients: withMode(raw.distinct_recipients, mode),
    bandwidth: withMode(raw.bandwidth, mode),
    presence_broadcasts: withMode(raw.presence_broadcasts, mode),
    registrations_per_ip: withMode(raw.registrations_per_ip, mode),
    stanza_rules: raw.stanza_rules.map((rule) => withMode(rule, mode)),
  };
  const classesPath = childPath(path, "classes");
  const classes = Object.fromEntries(
    Object.entries(raw.classes).map((
      [name, raw],
    ) => [name, resolveClass(raw, base, path, childPath(classesPath, name))]),
  );
  return { ...base, classes } as LimitsConfig;
});

// --- Other sections ---------------------------------------------------------

const LISTENER = object({
  type: enumOf(["c2s", "c2s_direct_tls", "http", "https"]),
  host: transform(
    refine(
      str(),
      (host) =>
        isHost(host)
          ? undefined
          : `expected a host name or IP address like "127.0.0.1", got ${JSON.stringify(host)}`,
    ),
    (host) => canonicalIp(host) ?? host.toLowerCase(),
  ),
  port: int({ min: 0, max: 65535 }),
});

const LISTEN = refine(listOf(LISTENER), (listeners, path) => {
  const seen = new Map<string, number>();
  listeners.forEach((listener, i) => {
    if (listener.port === 0) return; // port 0 = any free port, never a clash
    const key = `${listener.host}|${listener.port}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const address = listener.host.includes(":")
        ? `[${listener.host}]:${listener.port}`
        : `${listener.host}:${listener.port}`;
      throw new ConfigError(
        childPath(path, i),
        `duplicates ${childPath(path, first)} (both listen on ${address})`,
      );
    }
    seen.set(key, i);
  });
  return undefined;
});

const TLS = refine(
  object({ cert: optional(FILE_PATH), key: optional(FILE_PATH), required: bool() }, {
    defaults: {
      // true: c2s streams must STARTTLS before SASL (RFC 6120 §5.3.1); turn
      // off only behind a TLS-terminating proxy or for local tests.
      required: true,
    },
  }),
  (tls, path) => {
    const [set, unset] = tls.cert !== undefined && tls.key === undefined
      ? ["cert", "key"]
      : tls.key !== undefined && tls.cert === undefined
      ? ["key", "cert"]
      : [];
    if (set === undefined || unset === undefined) return undefined;
    throw new ConfigError(
      childPath(path, unset),
      `missing required key, expected a file path because ${childPath(path, set)} is set`,
    );
  },
);

const AUTH = object({
  mechanisms: listOf(enumOf(SASL_MECHANISMS), { min: 1, unique: true }),
  allow_plain_without_tls: bool(),
  max_failures_per_stream: int({ min: 2, max: 5 }),
  scram_iterations: int({ min: 4096 }),
}, {
  defaults: {
    // SASL mechanisms offered, in order of preference.
    mechanisms: ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
    // false: PLAIN is only offered on TLS streams; the password is cleartext.
    allow_plain_without_tls: false,
    // Failed SASL attempts before the stream is closed; RFC 6120 §6.4.5
    // suggests 2 to 5 so password guessing needs reconnects (which are limited).
    max_failures_per_stream: 3,
    // PBKDF2 iterations for new SCRAM credentials; 4096 is the RFC 7677 minimum.
    scram_iterations: 4096,
  },
});

const STORAGE = taggedUnion("type", {
  memory: object({ type: enumOf(["memory"]) }),
  sqlite: object({ type: enumOf(["sqlite"]), path: FILE_PATH }, {
    defaults: {
      type: "sqlite",
      // SQLite file, relative to the config file's directory (or baseDir);
      // ":memory:" keeps the database in memory.
      path: "./data/xmpp.db",
    },
  }),
}, { defaultTag: "sqlite" });

const ACCOUNT = object({ jid: BARE_JID, password: NON_EMPTY });

const TIMEOUTS = object({
  negotiation: duration({ min: 1 }),
  idle: duration({ min: 1 }),
  shutdown: duration({ min: 0 }),
}, {
  defaults: {
    // An unauthenticated stream must finish TLS, SASL and resource binding
    // within this, so half-open streams cannot hold a slot.
    negotiation: "30s",
    // A stream with no traffic for this long is closed (advertised as
    // idle-seconds, XEP-0478); clients ping well within it.
    idle: "10m",
    // On shutdown, streams get this long to close cleanly before sockets are cut.
    shutdown: "5s",
  },
});

const SOFTWARE_VERSION = object({
  name: NON_EMPTY,
  version: NON_EMPTY,
  os: optional(NON_EMPTY),
}, {
  defaults: {
    // Product name answered to XEP-0092 queries.
    name: "xmppd",
  },
});

const LOG = object({
  level: enumOf(["debug", "info", "warn", "error"]),
  format: enumOf(["json", "logfmt"]),
}, {
  defaults: {
    // Least severe level written.
    level: "info",
    // One JSON object per line, or key=value pairs (logfmt).
    format: "json",
  },
});

const TOKEN_REGEXP = /^[\x21-\x7e]{16,1024}$/;
const TOKEN_EXPECTED = "a token of 16 to 1024 visible ASCII characters";

// A custom validator: messages never echo the token (it would land in logs).
const ADMIN_TOKEN: Validator<string> = {
  expected: TOKEN_EXPECTED,
  omittable: false,
  check(value: unknown, path: string): string {
    if (typeof value === "string" && TOKEN_REGEXP.test(value)) return value;
    const got = typeof value === "string"
      ? `${value.length} characters${/[^\x21-\x7e]/.test(value) ? " with spaces or non-ASCII" : ""}`
      : value === null
      ? "null"
      : `a ${typeof value}`;
    throw new ConfigError(path, `expected ${TOKEN_EXPECTED}, got ${got}`);
  },
};

const ADMIN = refine(
  object({
    host: LISTENER.shape.host,
    port: int({ min: 0, max: 65535 }),
    token: optional(ADMIN_TOKEN),
  }, {
    defaults: {
      // The admin HTTP listener's address; loopback unless a token is set.
      host: "127.0.0.1",
      // Its port (0 picks a free one).
      port: 5290,
    },
  }),
  (admin, path) => {
    if (admin.token !== undefined || isLoopbackHost(admin.host)) return undefined;
    throw new ConfigError(
      childPath(path, "token"),
      `missing required key, expected a token because ${childPath(path, "host")} ${
        JSON.stringify(admin.host)
      } is not a loopback address`,
    );
  },
);

const URL_PATH_REGEXP = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const URL_PATH = str({ pattern: URL_PATH_REGEXP, expected: 'a URL path like "/http-bind"' });

function wholeSeconds(ms: number): string | undefined {
  return ms % 1000 === 0
    ? undefined
    : `expected whole seconds (BOSH counts in seconds), got ${ms}ms`;
}

const BOSH = refine(
  object({
    max_wait: refine(duration({ min: 1000, max: 3_600_000 }), wholeSeconds),
    max_hold: int({ min: 0, max: 16 }),
    max_requests: int({ min: 1, max: 17 }),
    inactivity: refine(duration({ min: 1000, max: 3_600_000 }), wholeSeconds),
    polling: refine(duration({ min: 0, max: 3_600_000 }), wholeSeconds),
    max_body: bytes({ min: 1024 }),
    max_requests_per_ip: int({ min: 1 }),
  }, {
    defaults: {
      // XEP-0124 `wait`: the longest a request is held open waiting for data;
      // a client asking for more gets this.
      max_wait: "60s",
      // XEP-0124 `hold`: requests held at once per session; a client asking
      // for more gets this.
      max_hold: 1,
      // XEP-0124 `requests`: simultaneous HTTP requests per session (the
      // server offers min(this, hold + 1)); one more ends the session with
      // policy-violation. Also the rid window and the replay buffer size.
      max_requests: 2,
      // XEP-0124 `inactivity`: a session with no request open for this long ends.
      inactivity: "60s",
      // XEP-0124 `polling`: empty requests closer together than this, while
      // the server already holds enough, end the session with policy-violation.
      polling: "2s",
      // Largest HTTP request body: before a session exists a bigger one gets
      // HTTP 413, after it ends the session with policy-violation. Each stanza
      // inside still meets limits.stanza_size.
      max_body: "512KiB",
      // HTTP requests open at once from one address (IPv6 by limits.ipv6_prefix),
      // all sessions together; one more gets HTTP 429.
      max_requests_per_ip: 20,
    },
  }),
  (bosh, path) => {
    if (bosh.max_hold < bosh.max_requests) return undefined;
    throw new ConfigError(
      childPath(path, "max_hold"),
      `expected less than ${
        childPath(path, "max_requests")
      } (${bosh.max_requests}), got ${bosh.max_hold}`,
    );
  },
);

const HTTP = refine(
  object({
    websocket_path: URL_PATH,
    bosh_path: URL_PATH,
    trusted_proxies: listOf(cidr()),
    bosh: BOSH,
  }, {
    defaults: {
      // RFC 7395 WebSocket endpoint on every http/https listener (subprotocol "xmpp").
      websocket_path: "/xmpp-websocket",
      // XEP-0124/0206 BOSH endpoint on every http/https listener.
      bosh_path: "/http-bind",
      // Reverse proxies whose X-Forwarded-For (client address) and
      // X-Forwarded-Proto (https counts as encrypted) are believed. Default:
      // none, so per-address limits see the connecting address.
      trusted_proxies: [],
    },
  }),
  (http, path) => {
    if (http.websocket_path !== http.bosh_path) return undefined;
    throw new ConfigError(
      childPath(path, "bosh_path"),
      `expected a path other than ${childPath(path, "websocket_path")}, got ${
        JSON.stringify(http.bosh_path)
      }`,
    );
  },
);

const REGISTRATION = object({ enabled: bool() }, {
  defaults: {
    // XEP-0077 in-band registration: anyone who can connect may create an
    // account (limited by limits.registrations_per_ip), and accounts may
    // change their password and delete themselves. Off: accounts come from
    // the configuration or the adduser command only.
    enabled: false,
  },
});

const SERVER_CONFIG = refine(
  object({
    domain: DOMAIN_NAME,
    listen: LISTEN,
    tls: TLS,
    auth: AUTH,
    storage: STORAGE,
    accounts: listOf(ACCOUNT),
    timeouts: TIMEOUTS,
    software_version: optional(SOFTWARE_VERSION),
    log: LOG,
    limits: LIMITS,
    admin: optional(ADMIN),
    registration: REGISTRATION,
    http: HTTP,
  }, {
    defaults: {
      // The XMPP domain served (the part after "@" in every local JID).
      domain: "localhost",
      // Where to accept connections; loopback only until configured. c2s is
      // STARTTLS on 5222 (RFC 6120), c2s_direct_tls is TLS first on 5223 (XEP-0368).
      listen: [
        { type: "c2s", host: "127.0.0.1", port: 5222 },
        { type: "c2s_direct_tls", host: "127.0.0.1", port: 5223 },
      ],
      // Accounts created at start-up if missing (tests, demos); passwords are
      // stored as SCRAM credentials, never in cleartext.
      accounts: [],
    },
  }),
  (config) => {
    const seen = new Map<string, number>();
    config.accounts.forEach((account, i) => {
      const jidPath = childPath(childPath("accounts", i), "jid");
      const at = account.jid.lastIndexOf("@");
      const domain = account.jid.slice(at + 1);
      if (domain.toLowerCase() !== config.domain) {
        throw new ConfigError(
          jidPath,
          `expected a JID at the served domain ${JSON.stringify(config.domain)}, got ${
            JSON.stringify(account.jid)
          }`,
        );
      }
      const key = account.jid.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) {
        throw new ConfigError(
          jidPath,
          `duplicates ${childPath(childPath("accounts", first), "jid")}`,
        );
      }
      seen.set(key, i);
    });
    return undefined;
  },
);

/** The resolved server configuration: every default filled, bytes, milliseconds and bytes per second. */
export type ServerConfig = Infer<typeof SERVER_CONFIG>;
/** What users write, in code or YAML: every section optional, snake_case keys, unit strings allowed. */
export type ServerConfigInput = InferInput<typeof SERVER_CONFIG>;
/** One entry of `listen`. */
export type ListenerConfig = ServerConfig["listen"][number];
/** The `tls` section (certificate and key paths, both or neither). */
export type TlsConfig = ServerConfig["tls"];
/** The `auth` section. */
export type AuthConfig = ServerConfig["auth"];
/** A SASL mechanism name the server can offer. */
export type SaslMechanismName = AuthConfig["mechanisms"][number];
/** The `storage` section: `{ type: "memory" }` or `{ type: "sqlite", path }`. */
export type StorageConfig = ServerConfig["storage"];
/** One entry of `accounts`. */
export type AccountConfig = ServerConfig["accounts"][number];
/** The `timeouts` section, in milliseconds. */
export type TimeoutsConfig = ServerConfig["timeouts"];
/** The `software_version` section (XEP-0092 answers are off when it is absent). */
export type SoftwareVersionConfig = NonNullable<ServerConfig["software_version"]>;
/** The `log` section. */
export type LogConfig = ServerConfig["log"];
/** The `registration` section (XEP-0077 in-band registration). */
export type RegistrationConfig = ServerConfig["registration"];
/** The `admin` section (no admin listener when it is absent). */
export type AdminConfig = NonNullable<ServerConfig["admin"]>;
/** The `http` section: paths, trusted proxies and BOSH caps of the http/https listeners. */
export type HttpConfig = ServerConfig["http"];
/** The `limits.exempt` section. */
export type ExemptConfig = LimitsConfig["exempt"];

/** Options for {@linkcode resolveConfig}. */
export interface ResolveConfigOptions {
  /**
   * Directory that relative `tls.cert`, `tls.key` and `storage.path` are
   * resolved against (the YAML file's directory). Left out, they stay relative
   * (to the process's working directory).
   *
   * @default {undefined}
   */
  baseDir?: string;
}

function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : join(baseDir, path);
}

/**
 * Validates a configuration and fills every default. Call it once at
 * start-up: it throws on the first problem, naming its key path.
 *
 * @param input The configuration as written (parsed YAML or a code object); `undefined` means `{}`.
 * @param options The directory relative paths are resolved against.
 * @returns The resolved configuration.
 * @throws {ConfigError} For an unknown key, a wrong type, a bad unit, a value
 * out of range or a cross-field conflict; `path` names the key.
 *
 * @example Usage
 * ```ts
 * import { resolveConfig } from "./schema.ts";
 * import { ConfigError } from "./validate.ts";
 * import assert from "node:assert/strict";
 *
 * const config = resolveConfig({
 *   domain: "example.org",
 *   limits: { stanza_size: "64KiB", bandwidth: { rate: "20KiB/s" } },
 * }, { baseDir: "/etc/xmppd" });
 * assert.equal(config.limits.stanza_size, 65536);
 * assert.equal(config.limits.bandwidth.rate, 20480);
 * assert.equal(config.timeouts.idle, 600000);
 * assert.deepEqual(config.storage, { type: "sqlite", path: "/etc/xmppd/data/xmpp.db" });
 *
 * assert.throws(() => resolveConfig({ limits: { bandwidth: { rate: "fast" } } }), {
 *   name: "ConfigError",
 *   message: 'limits.bandwidth.rate: expected a rate like "10KiB/s" or "unlimited", got "fast"',
 * });
 * ```
 */
export function resolveConfig(input: unknown, options: ResolveConfigOptions = {}): ServerConfig {
  const config = SERVER_CONFIG.check(input, "");
  const { baseDir } = options;
  if (baseDir !== undefined) {
    if (config.tls.cert !== undefined) config.tls.cert = resolvePath(baseDir, config.tls.cert);
    if (config.tls.key !== undefined) config.tls.key = resolvePath(baseDir, config.tls.key);
    if (config.storage.type === "sqlite" && config.storage.path !== ":memory:") {
      config.storage.path = resolvePath(baseDir, config.storage.path);
    }
  }
  return config;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Every default, resolved (bytes, milliseconds, bytes per second) and deeply
 * frozen: what `resolveConfig({})` returns. Each knob's unit and reason is
 * commented where its default is declared in this file, and the YAML form of
 * all of them is `examples/config.yaml`.
 *
 * @example Usage
 * ```ts
 * import { DEFAULT_CONFIG } from "./schema.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_CONFIG.domain, "localhost");
 * assert.equal(DEFAULT_CONFIG.limits.stanza_size, 262144);
 * assert.equal(DEFAULT_CONFIG.timeouts.negotiation, 30000);
 * assert.ok(Object.isFrozen(DEFAULT_CONFIG.limits));
 * ```
 */
export const DEFAULT_CONFIG: ServerConfig = deepFreeze(resolveConfig({}));
