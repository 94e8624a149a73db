import assert from "node:assert/strict";
import { type LimitsConfig, resolveConfig } from "../../src/config/schema.ts";
import { type EffectiveLimits, LimitPolicy, type SessionFacts } from "../../src/limits/policy.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { el } from "../../src/xml/element.ts";

function limitsOf(limits: unknown): LimitsConfig {
  return resolveConfig({ limits }).limits;
}

function policyOf(limits: unknown): LimitPolicy {
  return new LimitPolicy(limitsOf(limits));
}

const ARRIVING: SessionFacts = { ip: "198.51.100.7", connection: "tcp", authenticated: false };

function authenticated(facts: Partial<SessionFacts> = {}): SessionFacts {
  return {
    ip: "198.51.100.7",
    connection: "tls",
    authenticated: true,
    auth: "SCRAM-SHA-1",
    jid: "juliet@localhost",
    ...facts,
  };
}

/** The limits without the shared rule set, to compare with deepEqual. */
function plain(limits: EffectiveLimits): Record<string, unknown> {
  const { stanza_rules, ...rest } = limits;
  return { ...rest, stanza_rules: stanza_rules.rules };
}

Deno.test("LimitPolicy.resolve() gives the base limits, each with its mode, when no class matches", () => {
  const policy = policyOf({ mode: "report", distinct_recipients: { mode: "enforce" } });
  assert.deepEqual(plain(policy.resolve(ARRIVING)), {
    exempt: false,
    classes: [],
    connections_per_ip: { max: 10, mode: "report" },
    connection_attempts_per_ip: {
      max: 30,
      window: 60_000,
      close_unauthenticated: true,
      mode: "report",
    },
    auth_failures_per_ip: { max: 10, window: 300_000, mode: "report" },
    resources_per_account: { max: 5, mode: "report" },
    stanza_size: { max: 262_144, mode: "report" },
    stanza_size_stream_error: { max: 1_048_576, mode: "report" },
    distinct_recipients: { max: 100, window: 60_000, mode: "enforce" },
    bandwidth: {
      rate: 10_240,
      burst: 102_400,
      per_account: false,
      penalty_rate: null,
      recovery: 0,
      mode: "report",
    },
    presence_broadcasts: { max: 10, window: 60_000, mode: "report" },
    send_buffer: { max: 1_048_576, mode: "report" },
    offline_messages_per_account: { max: 100, mode: "report" },
    stanza_rules: [],
  });
});

Deno.test("LimitPolicy.resolve() applies matching classes in written order, later ones key by key", () => {
  const policy = policyOf({
    classes: {
      websocket: {
        match: { connection: "websocket" },
        limits: {
          stanza_size: "64KiB",
          distinct_recipients: { max: 20 },
          bandwidth: { rate: "4KiB/s" },
        },
      },
      office: {
        match: { ips: "198.51.100.0/24" },
        limits: { mode: "report", stanza_size: "unlimited", connections_per_ip: 200 },
      },
      trusted_ws: {
        match: { ips: "198.51.100.0/24", connection: ["websocket", "bosh"] },
        limits: { distinct_recipients: { window: "10s" }, resources_per_account: "unlimited" },
      },
    },
  });
  const result = policy.resolve({
    ip: "198.51.100.7",
    connection: "websocket",
    authenticated: false,
  });
  assert.deepEqual(result.classes, ["websocket", "office", "trusted_ws"]);
  // office (later) replaces websocket's stanza_size; its mode is the class's mode.
  assert.deepEqual(result.stanza_size, { max: null, mode: "report" });
  assert.deepEqual(result.connections_per_ip, { max: 200, mode: "report" });
  // trusted_ws replaces distinct_recipients whole: its partial object was filled from the base.
  assert.deepEqual(result.distinct_recipients, { max: 100, window: 10_000, mode: "enforce" });
  assert.deepEqual(result.resources_per_account, { max: null, mode: "enforce" });
  // Keys no later class sets keep websocket's values.
  assert.deepEqual(result.bandwidth, {
    rate: 4096,
    burst: 102_400,
    per_account: false,
    penalty_rate: null,
    recovery: 0,
    mode: "enforce",
  });

  // ALL criteria must hold; ANY value within one list.
  assert.deepEqual(
    policy.resolve({ ip: "203.0.113.1", connection: "websocket", authenticated: false }).classes,
    ["websocket"],
  );
  assert.deepEqual(
    policy.resolve({ ip: "198.51.100.9", connection: "bosh", authenticated: false }).classes,
    ["office", "trusted_ws"],
  );
  assert.deepEqual(
    policy.resolve({ ip: "198.51.100.9", connection: "memory", authenticated: false }).classes,
    ["office"],
  );
});

Deno.test("LimitPolicy.resolve() matches auth, jids and authenticated only when the facts allow", () => {
  const policy = policyOf({
    classes: {
      anonymous: { match: { auth: "ANONYMOUS" }, limits: { resources_per_account: 1 } },
      bots: {
        match: { jids: ["*@bots.localhost", "feed@localhost"] },
        limits: { stanza_size: "1MiB" },
      },
      pre_auth: { match: { authenticated: false }, limits: { send_buffer: "16KiB" } },
      post_auth: {
        match: { authenticated: true, connection: "tls" },
        limits: { send_buffer: "4MiB" },
      },
      plain_or_external: {
        match: { auth: ["PLAIN", "EXTERNAL"] },
        limits: { offline_messages_per_account: 10 },
      },
    },
  });
  // On arrival nothing is known but the IP and the connection.
  const arriving = policy.resolve({ ip: "192.0.2.1", connection: "tls", authenticated: false });
  assert.deepEqual(arriving.classes, ["pre_auth"]);
  assert.equal(arriving.send_buffer.max, 16_384);
  // Facts that only authentication can give do not count before it.
  const early = policy.resolve({
    ip: "192.0.2.1",
    connection: "tls",
    authenticated: false,
    auth: "ANONYMOUS",
    jid: "feed@localhost",
  });
  assert.equal(early, arriving);

  assert.deepEqual(policy.resolve(authenticated()).classes, ["post_auth"]);
  assert.equal(policy.resolve(authenticated()).send_buffer.max, 4_194_304);
  assert.deepEqual(
    policy.resolve(authenticated({ auth: "ANONYMOUS", jid: "x1y2@localhost" })).classes,
    ["anonymous", "post_auth"],
  );
  assert.deepEqual(
    policy.resolve(authenticated({ auth: "PLAIN", jid: "feed@localhost", connection: "tcp" }))
      .classes,
    ["bots", "plain_or_external"],
  );
  assert.deepEqual(policy.resolve(authenticated({ jid: "news@bots.localhost" })).classes, [
    "bots",
    "post_auth",
  ]);
  // Authenticated, but without a mechanism or a JID: auth and jids criteria fail.
  assert.deepEqual(
    policy.resolve({ ip: "192.0.2.1", connection: "s2s", authenticated: true }).classes,
    [],
  );
});

Deno.test("LimitPolicy.resolve() matches IPv4 and IPv6 CIDR blocks", () => {
  const policy = policyOf({
    classes: {
      lan: { match: { ips: ["10.0.0.0/8", "192.168.1.5"] }, limits: { connections_per_ip: 100 } },
      v6: { match: { ips: "2001:db8::/32" }, limits: { connections_per_ip: 50 } },
    },
  });
  const classesOf = (ip: string) =>
    policy.resolve({ ip, connection: "tcp", authenticated: false }).classes;
  assert.deepEqual(classesOf("10.200.3.4"), ["lan"]);
  assert.deepEqual(classesOf("::ffff:10.1.1.1"), ["lan"]);
  assert.deepEqual(classesOf("192.168.1.5"), ["lan"]);
  assert.deepEqual(classesOf("192.168.1.6"), []);
  assert.deepEqual(classesOf("11.0.0.1"), []);
  assert.deepEqual(classesOf("2001:db8:ffff::1"), ["v6"]);
  assert.deepEqual(classesOf("2001:db9::1"), []);
  assert.deepEqual(classesOf("not an address"), []);
});

Deno.test("LimitPolicy.resolve() matches JID patterns: accounts, *@domain and domains", () => {
  const policy = policyOf({
    classes: {
      account: { match: { jids: "Feed@LocalHost" }, limits: { stanza_size: "2KiB" } },
      any_account: { match: { jids: "*@bots.example" }, limits: { stanza_size: "3KiB" } },
      domain: { match: { jids: "peer.example" }, limits: { stanza_size: "4KiB" } },
    },
  });
  const classesOf = (jid: string) => policy.resolve(authenticated({ jid })).classes;
  assert.deepEqual(classesOf("feed@localhost"), ["account"]); // the pattern is normalised
  assert.deepEqual(classesOf("feed2@localhost"), []);
  assert.deepEqual(classesOf("a@bots.example"), ["any_account"]);
  assert.deepEqual(classesOf("bots.example"), []); // *@ needs an account
  assert.deepEqual(classesOf("a@sub.bots.example"), []);
  assert.deepEqual(classesOf("peer.example"), ["domain"]); // e.g. an s2s peer
  assert.deepEqual(classesOf("someone@peer.example"), ["domain"]);
  assert.deepEqual(classesOf("someone@other.peer.example"), []);
});

Deno.test("LimitPolicy.resolve() turns every limit off for exempt IPs and JIDs", () => {
  const policy = policyOf({
    stanza_rules: [{ action: "deny", kind: "iq", payload: "jabber:iq:register" }],
    classes: {
      tls: { match: { connection: "tls" }, limits: { stanza_size: "1KiB" } },
    },
    exempt: { ips: ["127.0.0.0/8", "::1"], jids: ["admin@localhost", "*@monitor.localhost"] },
  });
  const off = {
    exempt: true,
    connections_per_ip: { max: null, mode: "enforce" },
    connection_attempts_per_ip: {
      max: null,
      window: 60_000,
      close_unauthenticated: true,
      mode: "enforce",
    },
    auth_failures_per_ip: { max: null, window: 300_000, mode: "enforce" },
    resources_per_account: { max: null, mode: "enforce" },
    stanza_size: { max: null, mode: "enforce" },
    stanza_size_stream_error: { max: null, mode: "enforce" },
    distinct_recipients: { max: null, window: 60_000, mode: "enforce" },
    bandwidth: {
      rate: null,
      burst: 102_400,
      per_account: false,
      penalty_rate: null,
      recovery: 0,
      mode: "enforce",
    },
    presence_broadcasts: { max: null, window: 60_000, mode: "enforce" },
    send_buffer: { max: null, mode: "enforce" },
    offline_messages_per_account: { max: null, mode: "enforce" },
    stanza_rules: [],
  };
  // By IP, from the first resolution on; matching classes are still named.
  assert.deepEqual(plain(policy.resolve({ ip: "::1", connection: "tls", authenticated: false })), {
    ...off,
    classes: ["tls"],
  });
  assert.equal(
    policy.resolve({ ip: "127.8.8.8", connection: "tcp", authenticated: false }).exempt,
    true,
  );
  // By JID, only once authenticated.
  assert.equal(policy.resolve({ ...ARRIVING, jid: "admin@localhost" }).exempt, false);
  const admin = policy.resolve(authenticated({ jid: "admin@localhost", connection: "tcp" }));
  assert.deepEqual(plain(admin), { ...off, classes: [] });
  assert.equal(policy.resolve(authenticated({ jid: "probe@monitor.localhost" })).exempt, true);
  // Not exempt: the base rules apply.
  const user = policy.resolve(authenticated());
  assert.equal(user.exempt, false);
  assert.equal(user.stanza_size.max, 1024);
  const register = el("iq", { type: "set" }, el("query", { xmlns: "jabber:iq:register" }));
  const context = {
    direction: "outbound",
    to: "self",
    counters: user.stanza_rules.createCounters(),
    clock: new ManualClock(),
  } as const;
  assert.equal(user.stanza_rules.check(register, context).allowed, false);
  const adminContext = { ...context, counters: admin.stanza_rules.createCounters() };
  assert.equal(admin.stanza_rules.check(register, adminContext).allowed, true);
});

Deno.test("LimitPolicy.resolve() uses a class's stanza_rules in place of the base list", () => {
  const policy = policyOf({
    stanza_rules: [{ action: "deny", kind: "iq", payload: "jabber:iq:avatar" }],
    classes: {
      guests: {
        match: { auth: "ANONYMOUS" },
        limits: {
          stanza_rules: [{
            action: "limit",
            kind: "message",
            to: "remote",
            rate: { max: 5, window: "1m" },
          }],
        },
      },
      staff: { match: { jids: "*@staff.localhost" }, limits: { stanza_rules: "unlimited" } },
    },
  });
  const base = policy.resolve(ARRIVING).stanza_rules;
  assert.equal(base.rules.length, 1);
  assert.equal(base.rules[0]?.action, "deny");
  const guest = policy.resolve(authenticated({ auth: "ANONYMOUS", jid: "g1@localhost" }));
  assert.deepEqual(guest.stanza_rules.rules.map((rule) => rule.action), ["limit"]);
  // Every guest shares one compiled set (and the base set is shared too).
  const guest2 = policy.resolve(
    authenticated({ auth: "ANONYMOUS", jid: "g2@localhost", ip: "192.0.2.1" }),
  );
  assert.equal(guest2.stanza_rules, guest.stanza_rules);
  assert.equal(policy.resolve(authenticated()).stanza_rules, base);
  assert.deepEqual(
    policy.resolve(authenticated({ jid: "boss@staff.localhost" })).stanza_rules.rules,
    [],
  );
});

Deno.test("LimitPolicy.resolve() shares one frozen answer per set of matching classes", () => {
  const policy = policyOf({
    classes: {
      office: { match: { ips: "198.51.100.0/24" }, limits: { connections_per_ip: 200 } },
      anonymous: { match: { auth: "ANONYMOUS" }, limits: { resources_per_account: 1 } },
    },
  });
  const a = policy.resolve({ ip: "198.51.100.1", connection: "tcp", authenticated: false });
  const b = policy.resolve({ ip: "198.51.100.200", connection: "websocket", authenticated: false });
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.ok(Object.isFrozen(a.classes));
  assert.ok(Object.isFrozen(a.connections_per_ip));
  assert.ok(Object.isFrozen(a.bandwidth));
  assert.throws(() => {
    (a.connections_per_ip as { max: number | null }).max = 1;
  }, TypeError);
  const outside = policy.resolve({ ip: "203.0.113.1", connection: "tcp", authenticated: false });
  assert.notEqual(outside, a);
  // 50,000 sessions over four class combinations share four objects.
  const seen = new Set<EffectiveLimits>();
  for (let i = 0; i < 50_000; i++) {
    const ip = i % 2 === 0 ? `198.51.100.${i % 250}` : `203.0.${(i >> 8) % 250}.${i % 250}`;
    seen.add(policy.resolve({ ip, connection: "tcp", authenticated: false }));
    seen.add(policy.resolve({
      ip,
      connection: "tcp",
      authenticated: true,
      auth: i % 3 === 0 ? "ANONYMOUS" : "PLAIN",
      jid: `u${i}@localhost`,
    }));
  }
  assert.equal(seen.size, 4);
  assert.ok(seen.has(a) && seen.has(outside));
});

Deno.test("LimitPolicy keeps answers equal after its cache evicts them", () => {
  const policy = new LimitPolicy(
    limitsOf({
      classes: {
        a: { match: { connection: "tcp" }, limits: { stanza_size: "1KiB" } },
        b: { match: { connection: "tls" }, limits: { stanza_size: "2KiB" } },
      },
    }),
    { cacheSize: 1 },
  );
  const tcp = policy.resolve(ARRIVING);
  const tls = policy.resolve({ ...ARRIVING, connection: "tls" });
  assert.equal(tls.stanza_size.max, 2048);
  const again = policy.resolve(ARRIVING);
  assert.notEqual(again, tcp); // evicted by tls, rebuilt
  assert.deepEqual(plain(again), plain(tcp));
  assert.equal(again.stanza_rules, tcp.stanza_rules);
  assert.throws(() => new LimitPolicy(limitsOf({}), { cacheSize: 0 }), RangeError);
});

Deno.test("LimitPolicy answers do not change when the config object is edited afterwards", () => {
  const limits = limitsOf({
    classes: { tls: { match: { connection: "tls" }, limits: { distinct_recipients: { max: 7 } } } },
  });
  const policy = new LimitPolicy(limits);
  (limits.classes.tls?.limits.distinct_recipients as { max: number }).max = 1;
  limits.stanza_size = 1;
  const answer = policy.resolve({ ...ARRIVING, connection: "tls" });
  assert.equal(answer.distinct_recipients.max, 7);
  assert.equal(answer.stanza_size.max, 262_144);
});

Deno.test("LimitPolicy() rejects bad patterns with TypeError", () => {
  const base = limitsOf({ classes: { c: { match: { ips: "10.0.0.0/8" }, limits: {} } } });
  function withMatch(match: Record<string, unknown>): LimitsConfig {
    const limits = structuredClone(base);
    (limits.classes.c as { match: unknown }).match = match;
    return limits;
  }
  const cases: [LimitsConfig, string][] = [
    [
      withMatch({ ips: ["10.0.0.0/33"] }),
      `Cannot create limit policy: Invalid CIDR: "10.0.0.0/33" in 'limits.classes.c.match.ips'`,
    ],
    [
      withMatch({ jids: ["a@b@c"] }),
      `Cannot create limit policy: invalid JID pattern "a@b@c" in 'limits.classes.c.match.jids'`,
    ],
    [
      withMatch({ jids: ["alice@example.org/phone"] }),
      `Cannot create limit policy: invalid JID pattern "alice@example.org/phone" in 'limits.classes.c.match.jids'`,
    ],
    [
      withMatch({ jids: ["*@"] }),
      `Cannot create limit policy: invalid JID pattern "*@" in 'limits.classes.c.match.jids'`,
    ],
    [
      withMatch({ jids: [""] }),
      `Cannot create limit policy: invalid JID pattern "" in 'limits.classes.c.match.jids'`,
    ],
    [
      withMatch({ connection: ["quic"] }),
      `Cannot create limit policy: invalid value "quic" in 'limits.classes.c.match.connection'`,
    ],
    [
      withMatch({ authenticated: false, auth: ["PLAIN"] }),
      `Cannot create limit policy: 'limits.classes.c.match' combines authenticated: false with jids or auth`,
    ],
    [
      withMatch({ authenticated: "yes" }),
      `Cannot create limit policy: 'limits.classes.c.match.authenticated' must be a boolean, got "yes"`,
    ],
  ];
  const exemptJid = structuredClone(base);
  exemptJid.exempt.jids = ["*@*"];
  cases.push([
    exemptJid,
    `Cannot create limit policy: invalid JID pattern "*@*" in 'limits.exempt.jids'`,
  ]);
  const exemptIp = structuredClone(base);
  exemptIp.exempt.ips = ["localhost"];
  cases.push([
    exemptIp,
    `Cannot create limit policy: Invalid CIDR: "localhost" in 'limits.exempt.ips'`,
  ]);
  for (const [limits, message] of cases) {
    assert.throws(
      () => new LimitPolicy(limits),
      (error: unknown) => error instanceof TypeError && error.message === message,
      message,
    );
  }
  assert.deepEqual(new LimitPolicy(base).classNames, ["c"]);
});
