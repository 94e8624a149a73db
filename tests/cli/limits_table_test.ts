import assert from "node:assert/strict";
import {
  describeBandwidth,
  describeLimits,
  describeLimitValue,
  describeMatch,
  describeRule,
  describeServer,
  describeWindow,
} from "../../src/cli/limits_table.ts";
import { resolveConfig } from "../../src/config/schema.ts";
import { loadConfigFile } from "../../src/config/load_yaml.ts";

Deno.test("describeLimits() lists every base limit with its value in units and its mode", () => {
  const limits = resolveConfig({
    limits: {
      connections_per_ip: { max: 4, mode: "report" },
      stanza_size: "64KiB",
      distinct_recipients: "unlimited",
      bandwidth: { rate: "20KiB/s", burst: "1MiB", per_account: true },
    },
  }).limits;
  const rows = new Map(describeLimits(limits).map((row) => [row.key, row]));
  assert.deepEqual(rows.get("connections_per_ip"), {
    key: "connections_per_ip",
    value: "4",
    mode: "report",
  });
  assert.equal(rows.get("connection_attempts_per_ip")?.value, "30 per 1m");
  assert.equal(rows.get("stanza_size")?.value, "64KiB");
  assert.equal(rows.get("stanza_size")?.mode, "enforce");
  assert.equal(rows.get("distinct_recipients")?.value, "unlimited");
  assert.equal(rows.get("bandwidth")?.value, "20KiB/s, burst 1MiB, per account");
  assert.equal(rows.get("parser.max_attribute_value_length")?.value, "64KiB");
  assert.equal(rows.get("parser.max_depth")?.mode, "always");
  assert.equal(rows.get("exempt.ips")?.value, "none");
  for (
    const key of [
      "connections_per_ip",
      "connection_attempts_per_ip",
      "unauthenticated_connections",
      "pre_auth_stanza_size",
      "auth_failures_per_ip",
      "resources_per_account",
      "stanza_size",
      "stanza_size_stream_error",
      "distinct_recipients",
      "bandwidth",
      "presence_broadcasts",
      "send_buffer",
      "offline_messages_per_account",
    ]
  ) assert.ok(rows.has(key), key);
});

Deno.test("describeLimits() shows rules, classes with their overrides, and exemptions", () => {
  const limits = resolveConfig({
    limits: {
      mode: "report",
      stanza_rules: [{ action: "deny", kind: "iq", payload: "jabber:iq:version", mode: "enforce" }],
      classes: {
        office: {
          match: { ips: ["192.0.2.0/24"] },
          limits: { connections_per_ip: 200, stanza_rules: [{ action: "allow", kind: "any" }] },
        },
      },
      exempt: { ips: ["127.0.0.1"], jids: ["admin@localhost"] },
    },
  }).limits;
  const rows = describeLimits(limits).map((row) => `${row.key} = ${row.value} [${row.mode}]`);
  assert.ok(
    rows.includes("stanza_rules[0] = deny iq jabber:iq:version [enforce]"),
    rows.join("\n"),
  );
  assert.ok(rows.includes("classes.office = match ips 192.0.2.0/24 [report]"));
  assert.ok(rows.includes("classes.office.connections_per_ip = 200 [report]"));
  assert.ok(rows.includes("classes.office.stanza_rules[0] = allow any [report]"));
  assert.ok(rows.includes("exempt.ips = 127.0.0.1/32 []"));
  assert.ok(rows.includes("exempt.jids = admin@localhost []"));
});

Deno.test("describeLimits() shows close_unauthenticated after the attempts limit, in its mode, for the base and each class", () => {
  const limits = resolveConfig({
    limits: {
      connection_attempts_per_ip: { max: 20, mode: "report" },
      classes: {
        nat: {
          match: { ips: ["192.0.2.0/24"] },
          limits: { connection_attempts_per_ip: { close_unauthenticated: false, mode: "enforce" } },
        },
      },
    },
  }).limits;
  const rows = describeLimits(limits).map((row) => `${row.key} = ${row.value} [${row.mode}]`);
  const base = rows.indexOf("connection_attempts_per_ip = 20 per 1m [report]");
  assert.ok(base >= 0, rows.join("\n"));
  assert.equal(rows[base + 1], "connection_attempts_per_ip.close_unauthenticated = true [report]");
  const inClass = rows.indexOf("classes.nat.connection_attempts_per_ip = 20 per 1m [enforce]");
  assert.ok(inClass >= 0, rows.join("\n"));
  assert.equal(
    rows[inClass + 1],
    "classes.nat.connection_attempts_per_ip.close_unauthenticated = false [enforce]",
  );
  // A class that does not override the attempts limit gets no row for it.
  const other = resolveConfig({
    limits: {
      classes: {
        office: { match: { ips: ["198.51.100.0/24"] }, limits: { connections_per_ip: 50 } },
      },
    },
  }).limits;
  assert.ok(
    !describeLimits(other).some((row) => row.key.startsWith("classes.office.connection_attempts")),
  );
});

Deno.test("describeRule() names action, kind, types, payloads, direction, target, rate and error", () => {
  const [deny, limit] = resolveConfig({
    limits: {
      stanza_rules: [
        {
          action: "deny",
          kind: "iq",
          type: ["get", "set"],
          direction: "inbound",
          error: "policy-violation",
        },
        { action: "limit", kind: "presence", type: "subscribe", rate: { max: 20, window: "1h" } },
      ],
    },
  }).limits.stanza_rules;
  assert.equal(describeRule(deny!), "deny iq get|set inbound (policy-violation)");
  assert.equal(describeRule(limit!), "limit presence subscribe: 20 per 1h");
});

Deno.test("describeWindow(), describeBandwidth() and describeLimitValue() say unlimited for off limits", () => {
  const limits = resolveConfig({
    limits: {
      bandwidth: "unlimited",
      send_buffer: "unlimited",
      presence_broadcasts: { max: 3, window: "30s" },
    },
  }).limits;
  assert.equal(describeBandwidth(limits.bandwidth), "unlimited");
  assert.equal(describeLimitValue("send_buffer", limits.send_buffer), "unlimited");
  assert.equal(describeWindow(limits.presence_broadcasts), "3 per 30s");
  assert.equal(
    describeBandwidth(
      resolveConfig({
        limits: { bandwidth: { penalty_rate: "1KiB/s", recovery: "2m" } },
      }).limits.bandwidth,
    ),
    "10KiB/s, burst 100KiB, penalty 1KiB/s for 2m",
  );
});

Deno.test("describeMatch() lists every criterion; an empty match fits every session", () => {
  assert.equal(describeMatch({}), "every session");
  assert.equal(
    describeMatch({ jids: ["*@bots.localhost"], connection: ["tls"], authenticated: true }),
    "jids *@bots.localhost; connection tls; authenticated true",
  );
});

Deno.test("describeServer() summarises the configuration and never shows a password", async () => {
  const config = await loadConfigFile(
    new URL("../../examples/hardened.yaml", import.meta.url).pathname,
  );
  const summary = new Map(describeServer(config));
  assert.equal(summary.get("domain"), "example.org");
  assert.equal(summary.get("listen"), "c2s 0.0.0.0:5222, c2s_direct_tls 0.0.0.0:5223");
  assert.equal(summary.get("timeouts"), "negotiation 10s, idle 5m, shutdown 5s");
  const withAccounts = resolveConfig({
    listen: [{ type: "c2s", host: "::1", port: 5222 }],
    accounts: [{ jid: "a@localhost", password: "hunter2" }],
  });
  const text = JSON.stringify(describeServer(withAccounts));
  assert.ok(!text.includes("hunter2"));
  assert.match(text, /a@localhost \(passwords not shown\)/);
  assert.match(text, /c2s \[::1\]:5222/);
});
