/**
 * The effective XEP-0205 limits in words an administrator reads at a glance:
 * what `xmppd check-config` prints and what the drill's "configured" column
 * shows.
 *
 * @module
 */

import type {
  BandwidthLimit,
  ClassMatch,
  CountLimit,
  LimitsConfig,
  ServerConfig,
  StanzaRule,
  WindowLimit,
} from "../config/schema.ts";
import { formatBytes, formatDuration, formatRate } from "../config/units.ts";

/** One line of the limits table. */
export interface LimitRow {
  /** The configuration key path under `limits`, e.g. `connection_attempts_per_ip`. */
  key: string;
  /** The value in words, e.g. `30 per 1m`. */
  value: string;
  /** `enforce`, `report`, or `always` for parser caps (no mode). */
  mode: string;
}

/** A count, or "unlimited". */
export function describeCount(max: number | null): string {
  return max === null ? "unlimited" : String(max);
}

/** A size in bytes, or "unlimited". */
export function describeSize(bytes: number | null): string {
  return bytes === null ? "unlimited" : formatBytes(bytes);
}

/**
 * A `{ max, window }` limit, e.g. `30 per 1m`.
 *
 * @example Usage
 * ```ts
 * import { describeWindow } from "./limits_table.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(describeWindow({ max: 30, window: 60_000 }), "30 per 1m");
 * assert.equal(describeWindow({ max: null, window: 60_000 }), "unlimited");
 * ```
 */
export function describeWindow(limit: Pick<WindowLimit, "max" | "window">): string {
  return limit.max === null ? "unlimited" : `${limit.max} per ${formatDuration(limit.window)}`;
}

/**
 * The bandwidth limit, e.g. `10KiB/s, burst 100KiB`.
 *
 * @example Usage
 * ```ts
 * import { describeBandwidth } from "./limits_table.ts";
 * import { DEFAULT_CONFIG } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(describeBandwidth(DEFAULT_CONFIG.limits.bandwidth), "10KiB/s, burst 100KiB");
 * ```
 */
export function describeBandwidth(limit: BandwidthLimit): string {
  if (limit.rate === null) return "unlimited";
  let text = `${formatRate(limit.rate)}, burst ${formatBytes(limit.burst)}`;
  if (limit.per_account) text += ", per account";
  if (limit.penalty_rate !== null) {
    text += `, penalty ${formatRate(limit.penalty_rate)} for ${formatDuration(limit.recovery)}`;
  }
  return text;
}

/**
 * A stanza rule in one line, e.g. `deny iq get jabber:iq:version inbound`.
 *
 * @example Usage
 * ```ts
 * import { describeRule } from "./limits_table.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const [rule] = resolveConfig({
 *   limits: { stanza_rules: [{ action: "limit", kind: "message", to: "remote", rate: { max: 30, window: "1m" } }] },
 * }).limits.stanza_rules;
 * assert.equal(describeRule(rule!), "limit message to remote: 30 per 1m");
 * ```
 */
export function describeRule(rule: StanzaRule): string {
  const parts: string[] = [rule.action, rule.kind];
  if (rule.type !== undefined) parts.push(rule.type.join("|"));
  if (rule.payload !== undefined) parts.push(rule.payload.join("|"));
  if (rule.direction !== "outbound") parts.push(rule.direction);
  if (rule.to !== "any") parts.push(`to ${rule.to}`);
  let text = parts.join(" ");
  if (rule.rate !== undefined) text += `: ${describeWindow(rule.rate)}`;
  if (rule.action !== "allow" && rule.error !== "not-allowed") text += ` (${rule.error})`;
  return text;
}

/** What a class matches, e.g. `ips 192.0.2.0/24; auth ANONYMOUS`. */
export function describeMatch(match: ClassMatch): string {
  const parts: string[] = [];
  if (match.jids !== undefined) parts.push(`jids ${match.jids.join(", ")}`);
  if (match.ips !== undefined) parts.push(`ips ${match.ips.join(", ")}`);
  if (match.connection !== undefined) parts.push(`connection ${match.connection.join(", ")}`);
  if (match.auth !== undefined) parts.push(`auth ${match.auth.join(", ")}`);
  if (match.authenticated !== undefined) parts.push(`authenticated ${match.authenticated}`);
  return parts.length === 0 ? "every session" : parts.join("; ");
}

function isWindow(value: object): value is WindowLimit {
  return "window" in value && "max" in value;
}

function isBandwidth(value: object): value is BandwidthLimit {
  return "rate" in value && "burst" in value;
}

const SIZE_KEYS = new Set([
  "pre_auth_stanza_size",
  "stanza_size",
  "stanza_size_stream_error",
  "send_buffer",
  "max_attribute_value_length",
]);

/**
 * One limit value in words, by its key: sizes in binary units, windows as
 * `max per window`, counts as numbers, `unlimited` for an off limit.
 *
 * @param key The key under `limits` (its last segment is enough).
 * @param value The resolved value.
 * @returns The value in words.
 */
export function describeLimitValue(key: string, value: unknown): string {
  const last = key.slice(key.lastIndexOf(".") + 1);
  if (value === null) return "unlimited";
  if (typeof value === "number") return SIZE_KEYS.has(last) ? formatBytes(value) : String(value);
  if (typeof value === "object") {
    if (isBandwidth(value)) return describeBandwidth(value);
    if (isWindow(value)) return describeWindow(value);
    if ("max" in value) return describeCount((value as CountLimit).max);
  }
  return String(value);
}

function modeOf(value: unknown, fallback: string): string {
  return typeof value === "object" && value !== null && "mode" in value
    ? String((value as { mode: unknown }).mode)
    : fallback;
}

// Its own row, after the attempts limit: what tripping the limit also does.
// It acts in the limit's mode (enforce only), so the row takes that mode.
function pushCloseUnauthenticated(rows: LimitRow[], key: string, value: unknown): void {
  if (typeof value !== "object" || value === null || !("close_unauthenticated" in value)) return;
  rows.push({
    key: `${key}.close_unauthenticated`,
    value: String(value.close_unauthenticated),
    mode: modeOf(value, ""),
  });
}

const SCALAR_KEYS = [
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
] as const;

/**
 * Every effective limit as table rows: the base limits, the parser caps,
 * the stanza rules, each class with its overrides, and the exemptions. A
 * `connection_attempts_per_ip` row (base or class) is followed by its
 * `close_unauthenticated` row, in the limit's mode.
 *
 * @param limits The resolved `limits` section.
 * @returns The rows, in configuration order.
 *
 * @example Usage
 * ```ts
 * import { describeLimits } from "./limits_table.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const rows = describeLimits(resolveConfig({ limits: { connections_per_ip: 3 } }).limits);
 * assert.deepEqual(rows.find((row) => row.key === "connections_per_ip"), {
 *   key: "connections_per_ip", value: "3", mode: "enforce",
 * });
 * assert.equal(rows.find((row) => row.key === "parser.max_depth")?.mode, "always");
 * ```
 */
export function describeLimits(limits: LimitsConfig): LimitRow[] {
  const rows: LimitRow[] = [
    { key: "mode", value: limits.mode, mode: "" },
    { key: "ipv6_prefix", value: `/${limits.ipv6_prefix}`, mode: "" },
  ];
  for (const key of SCALAR_KEYS) {
    const value = limits[key];
    rows.push({ key, value: describeLimitValue(key, value), mode: modeOf(value, limits.mode) });
    if (key === "connection_attempts_per_ip") pushCloseUnauthenticated(rows, key, value);
  }
  rows.push({
    key: "pre_auth_max_elements",
    value: String(limits.pre_auth_max_elements),
    mode: "always",
  });
  for (const [key, value] of Object.entries(limits.parser)) {
    rows.push({ key: `parser.${key}`, value: describeLimitValue(key, value), mode: "always" });
  }
  limits.stanza_rules.forEach((rule, i) => {
    rows.push({ key: `stanza_rules[${i}]`, value: describeRule(rule), mode: rule.mode });
  });
  for (const [name, limitClass] of Object.entries(limits.classes)) {
    const prefix = `classes.${name}`;
    rows.push({
      key: prefix,
      value: `match ${describeMatch(limitClass.match)}`,
      mode: limitClass.limits.mode,
    });
    for (const [key, value] of Object.entries(limitClass.limits)) {
      if (key === "mode") continue;
      if (key === "stanza_rules") {
        (value as StanzaRule[]).forEach((rule, i) => {
          rows.push({
            key: `${prefix}.stanza_rules[${i}]`,
            value: describeRule(rule),
            mode: rule.mode,
          });
        });
        continue;
      }
      rows.push({
        key: `${prefix}.${key}`,
        value: describeLimitValue(key, value),
        mode: modeOf(value, limitClass.limits.mode),
      });
      if (key === "connection_attempts_per_ip") {
        pushCloseUnauthenticated(rows, `${prefix}.${key}`, value);
      }
    }
  }
  rows.push({
    key: "exempt.ips",
    value: limits.exempt.ips.length === 0 ? "none" : limits.exempt.ips.join(", "),
    mode: "",
  });
  rows.push({
    key: "exempt.jids",
    value: limits.exempt.jids.length === 0 ? "none" : limits.exempt.jids.join(", "),
    mode: "",
  });
  return rows;
}

/**
 * The rest of the configuration in short (no password, ever): domain,
 * listeners, TLS, storage, accounts, timeouts, logging.
 *
 * @param config The resolved configuration.
 * @returns `[key, value]` pairs.
 *
 * @example Usage
 * ```ts
 * import { describeServer } from "./limits_table.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const config = resolveConfig({ accounts: [{ jid: "a@localhost", password: "secret" }] });
 * const summary = describeServer(config);
 * assert.deepEqual(summary[0], ["domain", "localhost"]);
 * assert.ok(!JSON.stringify(summary).includes("secret"));
 * ```
 */
export function describeServer(config: ServerConfig): [string, string][] {
  const listen = config.listen.map((l) =>
    `${l.type} ${l.host.includes(":") ? `[${l.host}]` : l.host}:${l.port}`
  );
  const tls = [config.tls.required ? "required" : "optional"];
  tls.push(
    config.tls.cert === undefined
      ? "self-signed certificate made at start"
      : `cert ${config.tls.cert}, key ${config.tls.key}`,
  );
  const accounts = config.accounts.length === 0
    ? "none in the file"
    : `${config.accounts.map((a) => a.jid).join(", ")} (passwords not shown)`;
  return [
    ["domain", config.domain],
    ["listen", listen.join(", ")],
    ["tls", tls.join(", ")],
    [
      "auth",
      `${
        config.auth.mechanisms.join(", ")
      }; ${config.auth.max_failures_per_stream} failures per stream`,
    ],
    ["storage", config.storage.type === "sqlite" ? `sqlite ${config.storage.path}` : "memory"],
    ["accounts", accounts],
    [
      "timeouts",
      `negotiation ${formatDuration(config.timeouts.negotiation)}, idle ${
        formatDuration(config.timeouts.idle)
      }, shutdown ${formatDuration(config.timeouts.shutdown)}`,
    ],
    ["log", `${config.log.level}, ${config.log.format}`],
  ];
}
