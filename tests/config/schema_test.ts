import assert from "node:assert/strict";
import {
  type ClassLimits,
  DEFAULT_CONFIG,
  type LimitsConfig,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
  type StanzaRule,
  type StorageConfig,
} from "../../src/config/schema.ts";
import { ConfigError } from "../../src/config/validate.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_proof: T): void {}

/** Asserts that resolving `input` fails with exactly this path and message. */
function assertInvalid(input: unknown, path: string, message: string): void {
  let caught: unknown;
  try {
    resolveConfig(input);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.message, message);
  assert.equal(caught.path, path);
}

/** Every default, written out by hand: the documented values. */
const EXPECTED_DEFAULTS: ServerConfig = {
  domain: "localhost",
  listen: [
    { type: "c2s", host: "127.0.0.1", port: 5222 },
    { type: "c2s_direct_tls", host: "127.0.0.1", port: 5223 },
  ],
  tls: { required: true },
  auth: {
    mechanisms: ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
    allow_plain_without_tls: false,
    max_failures_per_stream: 3,
    scram_iterations: 4096,
  },
  storage: { type: "sqlite", path: "./data/xmpp.db" },
  accounts: [],
  timeouts: { negotiation: 30_000, idle: 600_000, shutdown: 5_000 },
  log: { level: "info", format: "json" },
  registration: { enabled: false },
  limits: {
    mode: "enforce",
    ipv6_prefix: 64,
    connections_per_ip: { max: 10, mode: "enforce" },
    connection_attempts_per_ip: {
      max: 30,
      window: 60_000,
      close_unauthenticated: true,
      mode: "enforce",
    },
    unauthenticated_connections: 1000,
    pre_auth_stanza_size: 8192,
    pre_auth_max_elements: 32,
    auth_failures_per_ip: { max: 10, window: 300_000, mode: "enforce" },
    registrations_per_ip: { max: 5, window: 3_600_000, mode: "enforce" },
    resources_per_account: 5,
    stanza_size: 262_144,
    stanza_size_stream_error: 1_048_576,
    parser: {
      max_depth: 32,
      max_attributes: 64,
      max_name_length: 256,
      max_attribute_value_length: 65_536,
      max_namespace_declarations: 16,
      max_elements_per_stanza: 4096,
    },
    distinct_recipients: { max: 100, window: 60_000, mode: "enforce" },
    bandwidth: {
      rate: 10_240,
      burst: 102_400,
      per_account: false,
      penalty_rate: null,
      recovery: 0,
      mode: "enforce",
    },
    presence_broadcasts: { max: 10, window: 60_000, mode: "enforce" },
    send_buffer: 1_048_576,
    offline_messages_per_account: 100,
    stanza_rules: [],
    classes: {},
    exempt: { ips: [], jids: [] },
  },
  http: {
    websocket_path: "/xmpp-websocket",
    bosh_path: "/http-bind",
    trusted_proxies: [],
    bosh: {
      max_wait: 60_000,
      max_hold: 1,
      max_requests: 2,
      inactivity: 60_000,
      polling: 2_000,
      max_body: 524_288,
      max_requests_per_ip: 20,
    },
  },
};

Deno.test("DEFAULT_CONFIG holds every documented default", () => {
  assert.deepEqual(DEFAULT_CONFIG, EXPECTED_DEFAULTS);
  assert.ok(!("software_version" in DEFAULT_CONFIG));
  assert.ok(!("cert" in DEFAULT_CONFIG.tls));
  assert.ok(!("key" in DEFAULT_CONFIG.tls));
});

Deno.test("resolveConfig() of nothing, {} or empty sections gives the defaults", () => {
  assert.deepEqual(resolveConfig(undefined), EXPECTED_DEFAULTS);
  assert.deepEqual(resolveConfig({}), EXPECTED_DEFAULTS);
  assert.deepEqual(
    resolveConfig({
      tls: {},
      auth: {},
      storage: {},
      timeouts: {},
      log: {},
      limits: { parser: {} },
    }),
    EXPECTED_DEFAULTS,
  );
});

Deno.test("DEFAULT_CONFIG is deeply frozen and resolveConfig() returns fresh objects", () => {
  assert.ok(Object.isFrozen(DEFAULT_CONFIG));
  assert.ok(Object.isFrozen(DEFAULT_CONFIG.listen[0]));
  assert.ok(Object.isFrozen(DEFAULT_CONFIG.limits.bandwidth));
  assert.throws(() => {
    (DEFAULT_CONFIG.auth.mechanisms as string[]).push("X");
  }, TypeError);
  const first = resolveConfig({});
  first.listen.push({ type: "http", host: "::1", port: 1 });
  first.limits.bandwidth.rate = 1;
  first.auth.mechanisms.pop();
  assert.deepEqual(resolveConfig({}), EXPECTED_DEFAULTS);
});

Deno.test("resolveConfig() converts every unit form to bytes, milliseconds and bytes per second", () => {
  const config = resolveConfig({
    timeouts: { negotiation: "500ms", idle: "1h", shutdown: 250 },
    limits: {
      stanza_size: "64 KiB",
      stanza_size_stream_error: "1MB",
      pre_auth_stanza_size: 4000,
      send_buffer: "2MiB",
      connection_attempts_per_ip: { window: "1d" },
      auth_failures_per_ip: { window: 90_000 },
      bandwidth: { rate: "1MB/s", burst: "1.5KiB" },
      parser: { max_attribute_value_length: "1000" },
    },
  });
  assert.deepEqual(config.timeouts, { negotiation: 500, idle: 3_600_000, shutdown: 250 });
  assert.equal(config.limits.stanza_size, 65_536);
  assert.equal(config.limits.stanza_size_stream_error, 1_000_000);
  assert.equal(config.limits.pre_auth_stanza_size, 4000);
  assert.equal(config.limits.send_buffer, 2_097_152);
  assert.deepEqual(config.limits.connection_attempts_per_ip, {
    max: 30,
    window: 86_400_000,
    close_unauthenticated: true,
    mode: "enforce",
  });
  assert.equal(config.limits.auth_failures_per_ip.window, 90_000);
  assert.equal(config.limits.bandwidth.rate, 1_000_000);
  assert.equal(config.limits.bandwidth.burst, 1536);
  assert.equal(config.limits.parser.max_attribute_value_length, 1000);
});

const RICH_INPUT: ServerConfigInput = {
  domain: "example.org",
  listen: [
    { type: "c2s", host: "0.0.0.0", port: 5222 },
    { type: "https", host: "::", port: 5443 },
    { type: "http", host: "127.0.0.1", port: 0 },
    { type: "http", host: "127.0.0.1", port: 0 },
  ],
  tls: { cert: "/etc/xmppd/cert.pem", key: "/etc/xmppd/key.pem", required: false },
  auth: { mechanisms: ["SCRAM-SHA-256"], scram_iterations: 10_000 },
  storage: { type: "memory" },
  accounts: [{ jid: "alice@example.org", password: "secret" }],
  software_version: { version: "1.2.3", os: "Linux" },
  log: { level: "debug", format: "logfmt" },
  limits: {
    mode: "report",
    connections_per_ip: 20,
    stanza_rules: [
      { action: "allow", kind: "iq", payload: "urn:xmpp:ping" },
      {
        action: "limit",
        kind: "message",
        type: ["chat", "normal"],
        to: "remote",
        rate: { max: 30, window: "1m" },
        mode: "enforce",
      },
    ],
    classes: {
      bots: {
        match: { jids: "*@bots.example.org", connection: ["tcp", "tls"] },
        limits: { bandwidth: { rate: "1MiB/s" }, stanza_size: "unlimited" },
      },
      office: {
        match: { ips: ["192.0.2.0/24", "2001:DB8::/32"], authenticated: true },
        limits: { mode: "enforce", connections_per_ip: "unlimited" },
      },
    },
    exempt: { ips: ["127.0.0.1"], jids: ["admin@example.org"] },
  },
};

Deno.test("resolveConfig() resolves a full configuration", () => {
  const config = resolveConfig(RICH_INPUT);
  assert.deepEqual(config.listen[1], { type: "https", host: "::", port: 5443 });
  assert.deepEqual(config.tls, {
    cert: "/etc/xmppd/cert.pem",
    key: "/etc/xmppd/key.pem",
    required: false,
  });
  assert.deepEqual(config.auth, {
    mechanisms: ["SCRAM-SHA-256"],
    allow_plain_without_tls: false,
    max_failures_per_stream: 3,
    scram_iterations: 10_000,
  });
  assert.deepEqual(config.storage, { type: "memory" });
  assert.deepEqual(config.software_version, { name: "xmppd", version: "1.2.3", os: "Linux" });
  assert.deepEqual(config.log, { level: "debug", format: "logfmt" });
  assert.deepEqual(config.limits.connections_per_ip, { max: 20, mode: "report" });
  assert.deepEqual(config.limits.stanza_rules, [
    {
      action: "allow",
      kind: "iq",
      payload: ["urn:xmpp:ping"],
      direction: "outbound",
      to: "any",
      error: "not-allowed",
      mode: "report",
    },
    {
      action: "limit",
      kind: "message",
      type: ["chat", "normal"],
      direction: "outbound",
      to: "remote",
      rate: { max: 30, window: 60_000 },
      error: "not-allowed",
      mode: "enforce",
    },
  ]);
  assert.deepEqual(config.limits.classes, {
    bots: {
      match: { jids: ["*@bots.example.org"], connection: ["tcp", "tls"] },
      limits: {
        bandwidth: {
          rate: 1_048_576,
          burst: 102_400,
          per_account: false,
          penalty_rate: null,
          recovery: 0,
          mode: "report",
        },
        stanza_size: null,
        mode: "report",
      },
    },
    office: {
      match: { ips: ["192.0.2.0/24", "2001:db8::/32"], authenticated: true },
      limits: { connections_per_ip: { max: null, mode: "enforce" }, mode: "enforce" },
    },
  });
  assert.deepEqual(config.limits.exempt, { ips: ["127.0.0.1/32"], jids: ["admin@example.org"] });
});

Deno.test("resolveConfig() of a resolved configuration gives an equal one", () => {
  const once = resolveConfig(RICH_INPUT);
  assert.deepEqual(resolveConfig(once), once);
  assert.deepEqual(resolveConfig(DEFAULT_CONFIG), DEFAULT_CONFIG);
  const unlimited = resolveConfig({ limits: { stanza_size: "unlimited", bandwidth: "unlimited" } });
  assert.deepEqual(resolveConfig(unlimited), unlimited);
});

Deno.test("limit modes are inherited from the limit, then its class, then limits.mode", () => {
  const config = resolveConfig({
    limits: {
      mode: "report",
      distinct_recipients: { mode: "enforce" },
      stanza_rules: [{ action: "deny", kind: "iq", payload: "jabber:iq:version" }],
      classes: {
        strict: {
          match: { authenticated: true },
          limits: {
            mode: "enforce",
            bandwidth: { burst: "10KiB" },
            presence_broadcasts: { max: 5, mode: "report" },
            stanza_rules: [{ action: "deny", kind: "message", type: "headline" }],
          },
        },
        lax: { match: { authenticated: false }, limits: { resources_per_account: 1 } },
      },
    },
  });
  const { limits } = config;
  for (
    const limit of [
      limits.connections_per_ip,
      limits.connection_attempts_per_ip,
      limits.auth_failures_per_ip,
      limits.bandwidth,
      limits.presence_broadcasts,
      limits.stanza_rules[0]!,
    ]
  ) {
    assert.equal(limit.mode, "report");
  }
  assert.equal(limits.distinct_recipients.mode, "enforce");
  const strict = limits.classes.strict!.limits;
  assert.equal(strict.mode, "enforce");
  assert.deepEqual(strict.bandwidth, {
    rate: 10_240,
    burst: 10_240,
    per_account: false,
    penalty_rate: null,
    recovery: 0,
    mode: "enforce",
  });
  assert.deepEqual(strict.presence_broadcasts, { max: 5, window: 60_000, mode: "report" });
  assert.equal(strict.stanza_rules![0]!.mode, "enforce");
  assert.deepEqual(limits.classes.lax!.limits, { resources_per_account: 1, mode: "report" });
});

Deno.test("connections_per_ip takes a number, { max, mode } or unlimited", () => {
  function connections(value: unknown): unknown {
    return resolveConfig({ limits: { connections_per_ip: value } }).limits.connections_per_ip;
  }
  assert.deepEqual(connections(3), { max: 3, mode: "enforce" });
  assert.deepEqual(connections({ max: 4, mode: "report" }), { max: 4, mode: "report" });
  assert.deepEqual(connections({ mode: "report" }), { max: 10, mode: "report" });
  assert.deepEqual(connections("unlimited"), { max: null, mode: "enforce" });
  assert.deepEqual(connections({ max: "unlimited" }), { max: null, mode: "enforce" });
  assert.deepEqual(connections(null), { max: null, mode: "enforce" });
  assertInvalid(
    { limits: { connections_per_ip: 0 } },
    "limits.connections_per_ip",
    'limits.connections_per_ip: expected an integer >= 1 or "unlimited" or a mapping, got 0',
  );
  assertInvalid(
    { limits: { connections_per_ip: { max: 0 } } },
    "limits.connections_per_ip.max",
    'limits.connections_per_ip.max: expected an integer >= 1 or "unlimited", got 0',
  );
  assertInvalid(
    { limits: { connections_per_ip: { max: 5, window: "1m" } } },
    "limits.connections_per_ip.window",
    'limits.connections_per_ip.window: unknown key, expected one of "max", "mode"',
  );
});

Deno.test("connection_attempts_per_ip takes close_unauthenticated, a boolean that defaults to true", () => {
  function attempts(value: unknown, classValue?: unknown): unknown {
    const limits = resolveConfig({
      limits: {
        connection_attempts_per_ip: value,
        ...(classValue === undefined ? {} : {
          classes: { c: { match: {}, limits: { connection_attempts_per_ip: classValue } } },
        }),
      },
    }).limits;
    return classValue === undefined
      ? limits.connection_attempts_per_ip
      : limits.classes.c!.limits.connection_attempts_per_ip;
  }
  assert.deepEqual(attempts({ max: 5 }), {
    max: 5,
    window: 60_000,
    close_unauthenticated: true,
    mode: "enforce",
  });
  assert.deepEqual(attempts({ close_unauthenticated: false, mode: "report" }), {
    max: 30,
    window: 60_000,
    close_unauthenticated: false,
    mode: "report",
  });
  assert.deepEqual(attempts("unlimited"), {
    max: null,
    window: 60_000,
    close_unauthenticated: true,
    mode: "enforce",
  });
  // A class inherits the base setting unless it writes its own.
  assert.deepEqual(attempts({ close_unauthenticated: false }, { max: 100 }), {
    max: 100,
    window: 60_000,
    close_unauthenticated: false,
    mode: "enforce",
  });
  assert.deepEqual(attempts(undefined, { close_unauthenticated: false }), {
    max: 30,
    window: 60_000,
    close_unauthenticated: false,
    mode: "enforce",
  });
  assertInvalid(
    { limits: { connection_attempts_per_ip: { close_unauthenticated: "yes" } } },
    "limits.connection_attempts_per_ip.close_unauthenticated",
    'limits.connection_attempts_per_ip.close_unauthenticated: expected true or false, got "yes"',
  );
  assertInvalid(
    { limits: { connection_attempts_per_ip: { max: 30, close_unauthenticated: 1 } } },
    "limits.connection_attempts_per_ip.close_unauthenticated",
    "limits.connection_attempts_per_ip.close_unauthenticated: expected true or false, got 1",
  );
  assertInvalid(
    {
      limits: {
        classes: {
          c: { limits: { connection_attempts_per_ip: { close_unauthenticated: null } } },
        },
      },
    },
    "limits.classes.c.limits.connection_attempts_per_ip.close_unauthenticated",
    "limits.classes.c.limits.connection_attempts_per_ip.close_unauthenticated: expected true or false, got null",
  );
  // Only connection_attempts_per_ip has it.
  assertInvalid(
    { limits: { auth_failures_per_ip: { close_unauthenticated: true } } },
    "limits.auth_failures_per_ip.close_unauthenticated",
    'limits.auth_failures_per_ip.close_unauthenticated: unknown key, expected one of "max", "window", "mode"',
  );
});

Deno.test("window limits, bandwidth and sizes accept unlimited", () => {
  const { limits } = resolveConfig({
    limits: {
      distinct_recipients: "unlimited",
      presence_broadcasts: { max: "unlimited", window: "10s" },
      bandwidth: "unlimited",
      stanza_size: "unlimited",
      stanza_size_stream_error: "unlimited",
      send_buffer: "unlimited",
      pre_auth_stanza_size: "unlimited",
      resources_per_account: "unlimited",
      offline_messages_per_account: 0,
      unauthenticated_connections: "unlimited",
    },
  });
  assert.deepEqual(limits.distinct_recipients, { max: null, window: 60_000, mode: "enforce" });
  assert.deepEqual(limits.presence_broadcasts, { max: null, window: 10_000, mode: "enforce" });
  assert.deepEqual(limits.bandwidth, {
    rate: null,
    burst: 102_400,
    per_account: false,
    penalty_rate: null,
    recovery: 0,
    mode: "enforce",
  });
  assert.equal(limits.stanza_size, null);
  assert.equal(limits.stanza_size_stream_error, null);
  assert.equal(limits.send_buffer, null);
  assert.equal(limits.pre_auth_stanza_size, null);
  assert.equal(limits.resources_per_account, null);
  assert.equal(limits.offline_messages_per_account, 0);
  assert.equal(limits.unauthenticated_connections, null);
});

Deno.test("parser caps and pre_auth_max_elements are always finite and enforced", () => {
  const { limits } = resolveConfig({
    limits: { parser: { max_depth: 8 }, pre_auth_max_elements: 4 },
  });
  assert.deepEqual(limits.parser, { ...EXPECTED_DEFAULTS.limits.parser, max_depth: 8 });
  assert.equal(limits.pre_auth_max_elements, 4);
  assertInvalid(
    { limits: { parser: { max_depth: "unlimited" } } },
    "limits.parser.max_depth",
    'limits.parser.max_depth: expected an integer >= 1, got "unlimited"',
  );
  assertInvalid(
    { limits: { parser: { max_attribute_value_length: "unlimited" } } },
    "limits.parser.max_attribute_value_length",
    'limits.parser.max_attribute_value_length: expected a size like "256KiB", got "unlimited"',
  );
  assertInvalid(
    { limits: { parser: { mode: "report" } } },
    "limits.parser.mode",
    'limits.parser.mode: unknown key, expected one of "max_depth", "max_attributes", "max_name_length", "max_attribute_value_length", "max_namespace_declarations", "max_elements_per_stanza"',
  );
  assertInvalid(
    { limits: { pre_auth_max_elements: null } },
    "limits.pre_auth_max_elements",
    "limits.pre_auth_max_elements: expected an integer >= 1, got null",
  );
});

Deno.test("stanza_size_stream_error must not be below stanza_size", () => {
  assertInvalid(
    { limits: { stanza_size: "2MiB" } },
    "limits.stanza_size_stream_error",
    "limits.stanza_size_stream_error: must be >= limits.stanza_size (2MiB), got 1MiB",
  );
  assertInvalid(
    { limits: { stanza_size_stream_error: "100KiB" } },
    "limits.stanza_size_stream_error",
    "limits.stanza_size_stream_error: must be >= limits.stanza_size (256KiB), got 100KiB",
  );
  assert.equal(
    resolveConfig({ limits: { stanza_size_stream_error: "256KiB" } }).limits
      .stanza_size_stream_error,
    262_144,
  );
  assert.equal(
    resolveConfig({ limits: { stanza_size: "unlimited", stanza_size_stream_error: "1MiB" } })
      .limits.stanza_size,
    null,
  );
  function classWith(limits: Record<string, unknown>): unknown {
    return { limits: { classes: { big: { match: {}, limits } } } };
  }
  assertInvalid(
    classWith({ stanza_size: "2MiB" }),
    "limits.classes.big.limits.stanza_size",
    "limits.classes.big.limits.stanza_size: must be <= limits.stanza_size_stream_error (1MiB), got 2MiB",
  );
  assertInvalid(
    classWith({ stanza_size_stream_error: "128KiB" }),
    "limits.classes.big.limits.stanza_size_stream_error",
    "limits.classes.big.limits.stanza_size_stream_error: must be >= limits.stanza_size (256KiB), got 128KiB",
  );
  assertInvalid(
    classWith({ stanza_size: "8MiB", stanza_size_stream_error: "4MiB" }),
    "limits.classes.big.limits.stanza_size_stream_error",
    "limits.classes.big.limits.stanza_size_stream_error: must be >= limits.classes.big.limits.stanza_size (8MiB), got 4MiB",
  );
  resolveConfig(classWith({ stanza_size: "8MiB", stanza_size_stream_error: "unlimited" }));
});

Deno.test("stanza_rules check actions, rates, types per kind and unknown keys", () => {
  function rule(value: Record<string, unknown>): unknown {
    return { limits: { stanza_rules: [value] } };
  }
  assertInvalid(
    rule({ action: "limit" }),
    "limits.stanza_rules[0].rate",
    'limits.stanza_rules[0].rate: missing required key, expected a mapping { max, window } because action is "limit"',
  );
  assertInvalid(
    rule({ action: "deny", rate: { max: 1, window: "1s" } }),
    "limits.stanza_rules[0].rate",
    'limits.stanza_rules[0].rate: only allowed when action is "limit"',
  );
  assertInvalid(
    rule({ action: "allow", text: "hi" }),
    "limits.stanza_rules[0].text",
    'limits.stanza_rules[0].text: only allowed when action is "deny" or "limit"',
  );
  assertInvalid(
    rule({ action: "deny", kind: "message", type: "chatt" }),
    "limits.stanza_rules[0].type",
    'limits.stanza_rules[0].type: expected message types ("normal", "chat", "groupchat", "headline", "error"), got "chatt"',
  );
  assertInvalid(
    rule({ action: "deny", kind: "iq", type: ["get", "subscribe"] }),
    "limits.stanza_rules[0].type",
    'limits.stanza_rules[0].type: expected iq types ("get", "set", "result", "error"), got "subscribe"',
  );
  assertInvalid(
    rule({ action: "deny", type: "bogus" }),
    "limits.stanza_rules[0].type",
    'limits.stanza_rules[0].type: expected stanza types ("normal", "chat", "groupchat", "headline", "error", "available", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "get", "set", "result"), got "bogus"',
  );
  assertInvalid(
    rule({ action: "block" }),
    "limits.stanza_rules[0].action",
    'limits.stanza_rules[0].action: expected one of "allow", "deny", "limit", got "block"',
  );
  assertInvalid(
    rule({ kind: "iq" }),
    "limits.stanza_rules[0].action",
    'limits.stanza_rules[0].action: missing required key, expected one of "allow", "deny", "limit"',
  );
  assertInvalid(
    rule({ action: "deny", payload: "urn:xmpp:ping urn:xmpp:time" }),
    "limits.stanza_rules[0].payload",
    'limits.stanza_rules[0].payload: expected a namespace like "urn:xmpp:ping", got "urn:xmpp:ping urn:xmpp:time"',
  );
  assertInvalid(
    rule({ action: "limit", rate: { max: 1 } }),
    "limits.stanza_rules[0].rate.window",
    'limits.stanza_rules[0].rate.window: missing required key, expected a duration like "30s" >= 1ms',
  );
  assertInvalid(
    rule({ action: "deny", error: "forbidden" }),
    "limits.stanza_rules[0].error",
    'limits.stanza_rules[0].error: expected one of "not-allowed", "policy-violation", got "forbidden"',
  );
  assertInvalid(
    rule({ action: "deny", errorText: "x" }),
    "limits.stanza_rules[0].errorText",
    'limits.stanza_rules[0].errorText: unknown key, expected one of "action", "kind", "type", "payload", "direction", "to", "rate", "error", "text", "mode"',
  );
  const config = resolveConfig(rule({
    action: "deny",
    kind: "presence",
    type: "subscribe",
    payload: ["urn:a", "urn:b"],
    direction: "inbound",
    to: "unknown",
    error: "policy-violation",
    text: "No",
  }));
  assert.deepEqual(config.limits.stanza_rules[0], {
    action: "deny",
    kind: "presence",
    type: ["subscribe"],
    payload: ["urn:a", "urn:b"],
    direction: "inbound",
    to: "unknown",
    error: "policy-violation",
    text: "No",
    mode: "enforce",
  });
});

Deno.test("classes keep their written order and check names, matches and overrides", () => {
  const names = ["zz", "aa", "mm", "b-1", "x_y"];
  const classes = Object.fromEntries(names.map((name) => [name, { match: {}, limits: {} }]));
  const config = resolveConfig({ limits: { classes } });
  assert.deepEqual(Object.keys(config.limits.classes), names);
  assert.deepEqual(config.limits.classes.zz, { match: {}, limits: { mode: "enforce" } });
  function withClass(value: unknown): unknown {
    return { limits: { classes: { c: value } } };
  }
  assertInvalid(
    { limits: { classes: { "7": { match: {}, limits: {} } } } },
    'limits.classes["7"]',
    'limits.classes["7"]: invalid name, expected a name of letters, digits, "_" or "-" starting with a letter',
  );
  assert.deepEqual(
    resolveConfig(withClass({ limits: { resources_per_account: 2 } })).limits.classes.c,
    { match: {}, limits: { resources_per_account: 2, mode: "enforce" } },
  );
  assertInvalid(
    withClass("strict"),
    "limits.classes.c",
    'limits.classes.c: expected a mapping, got "strict"',
  );
  assertInvalid(
    withClass({ match: { jid: "a@b.c" }, limits: {} }),
    "limits.classes.c.match.jid",
    'limits.classes.c.match.jid: unknown key, did you mean "jids"?',
  );
  assertInvalid(
    withClass({ match: { jids: "a b@c" }, limits: {} }),
    "limits.classes.c.match.jids",
    'limits.classes.c.match.jids: expected a bare JID, "*@domain" or a domain, got "a b@c"',
  );
  assertInvalid(
    withClass({ match: { jids: ["*@x.org", "a@x.org/res"] }, limits: {} }),
    "limits.classes.c.match.jids[1]",
    'limits.classes.c.match.jids[1]: expected a bare JID, "*@domain" or a domain, got "a@x.org/res"',
  );
  assertInvalid(
    withClass({ match: { ips: "10.1.2.3/8" }, limits: {} }),
    "limits.classes.c.match.ips",
    'limits.classes.c.match.ips: host bits set after the /8 prefix in "10.1.2.3/8", did you mean "10.0.0.0/8"?',
  );
  assertInvalid(
    withClass({ match: { connection: "xmpp" }, limits: {} }),
    "limits.classes.c.match.connection",
    'limits.classes.c.match.connection: expected one of "tcp", "tls", "websocket", "bosh", "s2s", got "xmpp"',
  );
  assertInvalid(
    withClass({ match: { auth: ["PLAIN", "DIGEST-MD5"] }, limits: {} }),
    "limits.classes.c.match.auth[1]",
    'limits.classes.c.match.auth[1]: expected one of "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "EXTERNAL", "ANONYMOUS", got "DIGEST-MD5"',
  );
  assertInvalid(
    withClass({ match: { authenticated: false, auth: "ANONYMOUS" }, limits: {} }),
    "limits.classes.c.match",
    "limits.classes.c.match: authenticated: false cannot be combined with jids or auth, which only match authenticated sessions",
  );
  assertInvalid(
    withClass({ match: {}, limits: { ipv6_prefix: 48 } }),
    "limits.classes.c.limits.ipv6_prefix",
    'limits.classes.c.limits.ipv6_prefix: unknown key, expected one of "connections_per_ip", "connection_attempts_per_ip", "auth_failures_per_ip", "resources_per_account", "stanza_size", "stanza_size_stream_error", "distinct_recipients", "bandwidth", "presence_broadcasts", "send_buffer", "offline_messages_per_account", "stanza_rules", "mode"',
  );
  assertInvalid(
    withClass({ match: {}, limits: { bandwidth: { rate: "fast" } } }),
    "limits.classes.c.limits.bandwidth.rate",
    'limits.classes.c.limits.bandwidth.rate: expected a rate like "10KiB/s" or "unlimited", got "fast"',
  );
  const everything = resolveConfig(withClass({
    match: { jids: ["*@example.org", "example.net", "bob@example.org"], auth: "EXTERNAL" },
    limits: {
      connections_per_ip: 50,
      connection_attempts_per_ip: { max: 100 },
      auth_failures_per_ip: "unlimited",
      resources_per_account: 20,
      stanza_size: "512KiB",
      stanza_size_stream_error: "2MiB",
      distinct_recipients: { window: "10s" },
      bandwidth: { per_account: true },
      presence_broadcasts: "unlimited",
      send_buffer: "4MiB",
      offline_messages_per_account: "unlimited",
      stanza_rules: "unlimited",
    },
  })).limits.classes.c!;
  const expected: ClassLimits = {
    connections_per_ip: { max: 50, mode: "enforce" },
    connection_attempts_per_ip: {
      max: 100,
      window: 60_000,
      close_unauthenticated: true,
      mode: "enforce",
    },
    auth_failures_per_ip: { max: null, window: 300_000, mode: "enforce" },
    resources_per_account: 20,
    stanza_size: 524_288,
    stanza_size_stream_error: 2_097_152,
    distinct_recipients: { max: 100, window: 10_000, mode: "enforce" },
    bandwidth: {
      rate: 10_240,
      burst: 102_400,
      per_account: true,
      penalty_rate: null,
      recovery: 0,
      mode: "enforce",
    },
    presence_broadcasts: { max: null, window: 60_000, mode: "enforce" },
    send_buffer: 4_194_304,
    offline_messages_per_account: null,
    stanza_rules: [],
    mode: "enforce",
  };
  assert.deepEqual(everything.limits, expected);
  assert.deepEqual(everything.match, {
    jids: ["*@example.org", "example.net", "bob@example.org"],
    auth: ["EXTERNAL"],
  });
});

Deno.test("exempt lists are validated and canonical", () => {
  const { exempt } = resolveConfig({
    limits: { exempt: { ips: ["::1", "10.0.0.0/8"], jids: ["*@example.org"] } },
  }).limits;
  assert.deepEqual(exempt, { ips: ["::1/128", "10.0.0.0/8"], jids: ["*@example.org"] });
  assertInvalid(
    { limits: { exempt: { ips: "10.0.0.0/8" } } },
    "limits.exempt.ips",
    'limits.exempt.ips: expected a list, got "10.0.0.0/8"',
  );
  assertInvalid(
    { limits: { exempt: { ips: ["::1", "0::1"] } } },
    "limits.exempt.ips[1]",
    "limits.exempt.ips[1]: duplicates limits.exempt.ips[0]",
  );
  assertInvalid(
    { limits: { exempt: { hosts: [] } } },
    "limits.exempt.hosts",
    'limits.exempt.hosts: unknown key, expected one of "ips", "jids"',
  );
});

Deno.test("listen entries are checked and may not share host and port", () => {
  assertInvalid(
    {
      listen: [
        { type: "c2s", host: "127.0.0.1", port: 5222 },
        { type: "http", host: "127.0.0.1", port: 5222 },
      ],
    },
    "listen[1]",
    "listen[1]: duplicates listen[0] (both listen on 127.0.0.1:5222)",
  );
  assertInvalid(
    {
      listen: [
        { type: "c2s", host: "::1", port: 5222 },
        { type: "c2s", host: "0:0:0:0:0:0:0:1", port: 5222 },
      ],
    },
    "listen[1]",
    "listen[1]: duplicates listen[0] (both listen on [::1]:5222)",
  );
  assertInvalid(
    { listen: [{ type: "c2s", host: "127.0.0.1" }] },
    "listen[0].port",
    "listen[0].port: missing required key, expected an integer from 0 to 65535",
  );
  assertInvalid(
    { listen: [{ type: "c2s", host: "127.0.0.1", port: 65536 }] },
    "listen[0].port",
    "listen[0].port: expected an integer from 0 to 65535, got 65536",
  );
  assertInvalid(
    { listen: [{ type: "s2s", host: "127.0.0.1", port: 5269 }] },
    "listen[0].type",
    'listen[0].type: expected one of "c2s", "c2s_direct_tls", "http", "https", got "s2s"',
  );
  assertInvalid(
    { listen: [{ type: "c2s", host: "not a host", port: 5222 }] },
    "listen[0].host",
    'listen[0].host: expected a host name or IP address like "127.0.0.1", got "not a host"',
  );
  assertInvalid(
    { listen: { type: "c2s", host: "127.0.0.1", port: 5222 } },
    "listen",
    "listen: expected a list, got a mapping",
  );
  const config = resolveConfig({
    listen: [
      { type: "http", host: "LocalHost", port: 0 },
      { type: "http", host: "localhost", port: 0 },
      { type: "c2s", host: "2001:DB8::1", port: 5222 },
    ],
  });
  assert.deepEqual(config.listen, [
    { type: "http", host: "localhost", port: 0 },
    { type: "http", host: "localhost", port: 0 },
    { type: "c2s", host: "2001:db8::1", port: 5222 },
  ]);
  assert.deepEqual(resolveConfig({ listen: [] }).listen, []);
});

Deno.test("tls.cert and tls.key are both set or neither", () => {
  assertInvalid(
    { tls: { cert: "cert.pem" } },
    "tls.key",
    "tls.key: missing required key, expected a file path because tls.cert is set",
  );
  assertInvalid(
    { tls: { key: "key.pem" } },
    "tls.cert",
    "tls.cert: missing required key, expected a file path because tls.key is set",
  );
  assertInvalid(
    { tls: { cert: "", key: "k" } },
    "tls.cert",
    'tls.cert: expected a file path, got ""',
  );
  assertInvalid(
    { tls: { required: "yes" } },
    "tls.required",
    'tls.required: expected true or false, got "yes"',
  );
});

Deno.test("relative paths resolve against baseDir; absolute ones and :memory: stay", () => {
  const relative = resolveConfig(
    { tls: { cert: "certs/a.pem", key: "./certs/../keys/a.key" } },
    { baseDir: "/etc/xmppd" },
  );
  assert.deepEqual(relative.tls, {
    cert: "/etc/xmppd/certs/a.pem",
    key: "/etc/xmppd/keys/a.key",
    required: true,
  });
  assert.deepEqual(relative.storage, { type: "sqlite", path: "/etc/xmppd/data/xmpp.db" });
  const absolute = resolveConfig(
    { tls: { cert: "/a.pem", key: "/b.key" }, storage: { path: "/var/lib/x.db" } },
    { baseDir: "/etc/xmppd" },
  );
  assert.equal(absolute.tls.cert, "/a.pem");
  assert.equal(absolute.tls.key, "/b.key");
  assert.deepEqual(absolute.storage, { type: "sqlite", path: "/var/lib/x.db" });
  assert.deepEqual(
    resolveConfig({ storage: { path: ":memory:" } }, { baseDir: "/etc" }).storage,
    { type: "sqlite", path: ":memory:" },
  );
  assert.deepEqual(
    resolveConfig({ storage: { type: "memory" } }, { baseDir: "/etc" }).storage,
    { type: "memory" },
  );
  assert.deepEqual(resolveConfig({ tls: { cert: "a", key: "b" } }).tls, {
    cert: "a",
    key: "b",
    required: true,
  });
});

Deno.test("auth settings are checked against their ranges", () => {
  assertInvalid(
    { auth: { mechanisms: [] } },
    "auth.mechanisms",
    "auth.mechanisms: expected a list of at least 1 item, got an empty list",
  );
  assertInvalid(
    { auth: { mechanisms: ["PLAIN", "PLAIN"] } },
    "auth.mechanisms[1]",
    "auth.mechanisms[1]: duplicates auth.mechanisms[0]",
  );
  assertInvalid(
    { auth: { mechanisms: ["plain"] } },
    "auth.mechanisms[0]",
    'auth.mechanisms[0]: expected one of "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", got "plain", did you mean "PLAIN"?',
  );
  for (const n of [1, 6]) {
    assertInvalid(
      { auth: { max_failures_per_stream: n } },
      "auth.max_failures_per_stream",
      `auth.max_failures_per_stream: expected an integer from 2 to 5, got ${n}`,
    );
  }
  assertInvalid(
    { auth: { scram_iterations: 1000 } },
    "auth.scram_iterations",
    "auth.scram_iterations: expected an integer >= 4096, got 1000",
  );
  assertInvalid(
    { auth: { maxFailuresPerStream: 3 } },
    "auth.maxFailuresPerStream",
    'auth.maxFailuresPerStream: unknown key, did you mean "max_failures_per_stream"?',
  );
});

Deno.test("storage is memory or sqlite", () => {
  assert.deepEqual(resolveConfig({ storage: { type: "memory" } }).storage, { type: "memory" });
  assert.deepEqual(resolveConfig({ storage: { type: "sqlite" } }).storage, {
    type: "sqlite",
    path: "./data/xmpp.db",
  });
  assertInvalid(
    { storage: { type: "postgres" } },
    "storage.type",
    'storage.type: expected one of "memory", "sqlite", got "postgres"',
  );
  assertInvalid(
    { storage: { type: "memory", path: "x.db" } },
    "storage.path",
    'storage.path: unknown key, expected one of "type"',
  );
  assertInvalid(
    { storage: "sqlite" },
    "storage",
    'storage: expected a mapping, got "sqlite"',
  );
});

Deno.test("accounts must be bare JIDs of the served domain, each once", () => {
  const config = resolveConfig({
    domain: "Example.org",
    accounts: [{ jid: "alice@example.org", password: "pw" }],
  });
  assert.deepEqual(config.accounts, [{ jid: "alice@example.org", password: "pw" }]);
  assert.equal(config.domain, "example.org");
  assertInvalid(
    { accounts: [{ jid: "alice@example.org", password: "pw" }] },
    "accounts[0].jid",
    'accounts[0].jid: expected a JID at the served domain "localhost", got "alice@example.org"',
  );
  assertInvalid(
    {
      accounts: [
        { jid: "bob@localhost", password: "a" },
        { jid: "Bob@localhost", password: "b" },
      ],
    },
    "accounts[1].jid",
    "accounts[1].jid: duplicates accounts[0].jid",
  );
  for (const jid of ["alice", "alice@localhost/phone", "@localhost", "a b@localhost"]) {
    assertInvalid(
      { accounts: [{ jid, password: "pw" }] },
      "accounts[0].jid",
      `accounts[0].jid: expected a bare JID like "alice@example.org", got ${JSON.stringify(jid)}`,
    );
  }
  assertInvalid(
    { accounts: [{ jid: "a@localhost", password: "" }] },
    "accounts[0].password",
    'accounts[0].password: expected a non-empty string, got ""',
  );
  assertInvalid(
    { accounts: [{ jid: "a@localhost" }] },
    "accounts[0].password",
    "accounts[0].password: missing required key, expected a non-empty string",
  );
});

Deno.test("timeouts, log, domain and software_version are checked", () => {
  assertInvalid(
    { timeouts: { negotiation: "5 minutes" } },
    "timeouts.negotiation",
    'timeouts.negotiation: expected a duration like "30s", got "5 minutes"',
  );
  assertInvalid(
    { timeouts: { idle: 0 } },
    "timeouts.idle",
    "timeouts.idle: expected a duration >= 1ms, got 0",
  );
  assert.equal(resolveConfig({ timeouts: { shutdown: 0 } }).timeouts.shutdown, 0);
  assertInvalid(
    { log: { level: "trace" } },
    "log.level",
    'log.level: expected one of "debug", "info", "warn", "error", got "trace"',
  );
  assertInvalid(
    { log: { format: "text" } },
    "log.format",
    'log.format: expected one of "json", "logfmt", got "text"',
  );
  for (const domain of ["exa mple.org", "-x.org", "a..b", "", "a@b", "x_y.org"]) {
    assertInvalid(
      { domain },
      "domain",
      `domain: expected a domain name like "example.org", got ${JSON.stringify(domain)}`,
    );
  }
  assertInvalid(
    { domain: `${"x".repeat(64)}.org` },
    "domain",
    `domain: expected a domain name like "example.org", got "${"x".repeat(61)}..."`,
  );
  assert.equal(resolveConfig({ domain: "chat.example.org" }).domain, "chat.example.org");
  assertInvalid(
    { software_version: {} },
    "software_version.version",
    "software_version.version: missing required key, expected a non-empty string",
  );
  assertInvalid(
    { software_version: { version: "1", platform: "x" } },
    "software_version.platform",
    'software_version.platform: unknown key, expected one of "name", "version", "os"',
  );
  assert.deepEqual(
    resolveConfig({ software_version: { name: "srv", version: "2" } }).software_version,
    { name: "srv", version: "2" },
  );
});

Deno.test("unknown and camelCase keys are rejected with their path at every level", () => {
  assertInvalid(
    { softwareVersion: { version: "1" } },
    "softwareVersion",
    'softwareVersion: unknown key, did you mean "software_version"?',
  );
  assertInvalid(
    { limits: { stanzaSize: "1KiB" } },
    "limits.stanzaSize",
    'limits.stanzaSize: unknown key, did you mean "stanza_size"?',
  );
  assertInvalid(
    { limits: { bandwidth: { perAccount: true } } },
    "limits.bandwidth.perAccount",
    'limits.bandwidth.perAccount: unknown key, did you mean "per_account"?',
  );
  assertInvalid(
    { limits: { parser: { maxDepth: 3 } } },
    "limits.parser.maxDepth",
    'limits.parser.maxDepth: unknown key, did you mean "max_depth"?',
  );
  assertInvalid(
    { limits: { bandwith: {} } },
    "limits.bandwith",
    'limits.bandwith: unknown key, did you mean "bandwidth"?',
  );
  assertInvalid(
    { modules: [] },
    "modules",
    'modules: unknown key, expected one of "domain", "listen", "tls", "auth", "storage", "accounts", "timeouts", "software_version", "log", "limits", "admin", "registration", "http"',
  );
  assertInvalid(
    { listen: [{ type: "c2s", host: "127.0.0.1", port: 1, tls: true }] },
    "listen[0].tls",
    'listen[0].tls: unknown key, expected one of "type", "host", "port"',
  );
});

Deno.test("admin is off by default and needs a token unless bound to loopback", () => {
  assert.ok(!("admin" in DEFAULT_CONFIG));
  assert.deepEqual(resolveConfig({ admin: {} }).admin, { host: "127.0.0.1", port: 5290 });
  assert.deepEqual(resolveConfig({ admin: { host: "::1", port: 0 } }).admin, {
    host: "::1",
    port: 0,
  });
  assert.deepEqual(resolveConfig({ admin: { host: "LOCALHOST" } }).admin, {
    host: "localhost",
    port: 5290,
  });
  const token = "s3cret-admin-token-0123";
  assert.deepEqual(resolveConfig({ admin: { host: "0.0.0.0", token } }).admin, {
    host: "0.0.0.0",
    port: 5290,
    token,
  });
  assertInvalid(
    { admin: { host: "0.0.0.0" } },
    "admin.token",
    'admin.token: missing required key, expected a token because admin.host "0.0.0.0" is not a loopback address',
  );
  assertInvalid(
    { admin: { host: "2001:DB8::1", port: 9 } },
    "admin.token",
    'admin.token: missing required key, expected a token because admin.host "2001:db8::1" is not a loopback address',
  );
  // The message never repeats the token: it would end up in logs.
  assertInvalid(
    { admin: { token: "short-secret" } },
    "admin.token",
    "admin.token: expected a token of 16 to 1024 visible ASCII characters, got 12 characters",
  );
  assertInvalid(
    { admin: { host: "0.0.0.0", token: "has a space in it, sadly" } },
    "admin.token",
    "admin.token: expected a token of 16 to 1024 visible ASCII characters, got 24 characters with spaces or non-ASCII",
  );
  assertInvalid(
    { admin: { port: 70000 } },
    "admin.port",
    "admin.port: expected an integer from 0 to 65535, got 70000",
  );
  assertInvalid(
    { admin: { hots: "::1" } },
    "admin.hots",
    'admin.hots: unknown key, did you mean "host"?',
  );
});

Deno.test("a configuration that is not a mapping is refused at the root", () => {
  assertInvalid(null, "", "expected a mapping, got null");
  assertInvalid([], "", "expected a mapping, got an empty list");
  assertInvalid("domain: x", "", 'expected a mapping, got "domain: x"');
});

Deno.test("the exported types describe the resolved and the written forms", () => {
  assertType<Equals<ServerConfig["limits"]["stanza_size"], number | null>>(true);
  assertType<Equals<ServerConfig["timeouts"]["idle"], number>>(true);
  assertType<Equals<LimitsConfig["bandwidth"]["rate"], number | null>>(true);
  assertType<Equals<LimitsConfig["connections_per_ip"]["mode"], "enforce" | "report">>(true);
  assertType<Equals<StanzaRule["type"], string[] | undefined>>(true);
  assertType<
    Equals<StorageConfig, { type: "memory" } | { type: "sqlite"; path: string }>
  >(true);
  assertType<Equals<ServerConfig["software_version"], ServerConfig["software_version"]>>(true);
  const written: ServerConfigInput = {
    timeouts: { idle: "10m" },
    limits: { stanza_size: "unlimited", bandwidth: { rate: "10KiB/s" }, connections_per_ip: 3 },
  };
  // @ts-expect-error camelCase keys are not part of the input type
  const camel: ServerConfigInput = { softwareVersion: { version: "1" } };
  assert.throws(() => resolveConfig(camel), ConfigError);
  assert.equal(resolveConfig(written).limits.stanza_size, null);
});

Deno.test("pre_auth_stanza_size cannot be set below the size of a stream header", () => {
  assert.throws(
    () => resolveConfig({ limits: { pre_auth_stanza_size: "512B" } }),
    (error: unknown) =>
      error instanceof ConfigError && error.path === "limits.pre_auth_stanza_size",
  );
  assert.equal(
    resolveConfig({ limits: { pre_auth_stanza_size: "1KiB" } }).limits.pre_auth_stanza_size,
    1024,
  );
});
