import assert from "node:assert/strict";
import { type DrillReport, formatDrillReport, runDrill } from "../../src/cli/drill.ts";
import { resolveConfig, type ServerConfigInput } from "../../src/config/schema.ts";

const TIGHT: ServerConfigInput = {
  domain: "drill.example",
  limits: {
    connections_per_ip: 3,
    connection_attempts_per_ip: { max: 5, window: "1m" },
    unauthenticated_connections: 20,
    pre_auth_stanza_size: "1KiB",
    auth_failures_per_ip: { max: 3, window: "5m" },
    resources_per_account: 2,
    stanza_size: "48KiB",
    stanza_size_stream_error: "64KiB",
    distinct_recipients: { max: 5, window: "1m" },
    bandwidth: { rate: "8KiB/s", burst: "64KiB" },
    presence_broadcasts: { max: 3, window: "1m" },
    stanza_rules: [
      { action: "allow", kind: "iq", payload: "urn:xmpp:ping" },
      { action: "deny", kind: "iq", payload: "jabber:iq:version", text: "No version queries" },
      {
        action: "limit",
        kind: "message",
        type: ["chat", "normal"],
        to: "remote",
        rate: { max: 3, window: "1m" },
      },
    ],
  },
};

function rows(
  report: DrillReport,
): Map<string, { observed: string; result: string; configured: string }> {
  return new Map(report.results.map((row) => [row.limit, row]));
}

function explain(report: DrillReport): string {
  return formatDrillReport(report).join("\n");
}

Deno.test("runDrill() sees every limit of a tight configuration trigger as configured", async () => {
  const report = await runDrill(resolveConfig(TIGHT), { burst: 6 });
  const byLimit = rows(report);
  assert.deepEqual([...byLimit.keys()], [
    "connections_per_ip",
    "connection_attempts_per_ip",
    "unauthenticated_connections",
    "pre_auth_stanza_size",
    "auth_failures_per_ip",
    "resources_per_account",
    "stanza_size",
    "stanza_size_stream_error",
    "distinct_recipients",
    "presence_broadcasts",
    "bandwidth",
    "stanza_rules[1]",
    "stanza_rules[2]",
    "ordinary: login burst",
    "ordinary: chat",
    "ordinary: avatar-sized stanza",
  ]);
  for (const [limit, row] of byLimit) {
    assert.equal(row.result, "ok", `${limit}\n${explain(report)}`);
  }
  assert.equal(report.ok, true);
  assert.match(
    byLimit.get("connections_per_ip")!.observed,
    /^3 open, connection 4 closed before any byte/,
  );
  assert.equal(byLimit.get("connection_attempts_per_ip")!.configured, "5 per 1m");
  assert.match(
    byLimit.get("connection_attempts_per_ip")!.observed,
    /attempt 6 refused; admitted again/,
  );
  assert.match(
    byLimit.get("pre_auth_stanza_size")!.observed,
    /^1024 B parsed .*1025 B: <policy-violation\/> \+ stanza-too-big/,
  );
  assert.match(byLimit.get("auth_failures_per_ip")!.observed, /after 3 failures/);
  assert.match(
    byLimit.get("stanza_size")!.observed,
    /^49152 B answered normally; 49153 B got <not-allowed\/>/,
  );
  assert.match(
    byLimit.get("stanza_size_stream_error")!.observed,
    /65537 B closed the stream with <policy-violation\/>/,
  );
  assert.match(
    byLimit.get("distinct_recipients")!.observed,
    /^recipient 6 got <unexpected-request\/> \+ too-many-stanzas/,
  );
  assert.match(
    byLimit.get("presence_broadcasts")!.observed,
    /^broadcast 4 got <resource-constraint\/>/,
  );
  assert.match(
    byLimit.get("bandwidth")!.observed,
    /reading paused .*resumed as the drill clock advanced; stream kept/,
  );
  assert.match(byLimit.get("stanza_rules[1]")!.observed, /jabber:iq:version .*got <not-allowed\/>/);
  assert.match(
    byLimit.get("stanza_rules[2]")!.observed,
    /^stanza 4 .*got <resource-constraint\/>; allowed again/,
  );
  assert.match(byLimit.get("ordinary: login burst")!.observed, /^6\/6 logged in and bound/);
  assert.ok(report.elapsedMs < 30_000, `took ${report.elapsedMs} ms`);
});

Deno.test("runDrill() fails stanza rules that cannot trigger as configured", async () => {
  const report = await runDrill(
    resolveConfig({
      limits: {
        stanza_rules: [
          { action: "allow", kind: "iq", payload: "urn:xmpp:ping" },
          // Shadowed: the allow rule above matches every ping first.
          { action: "deny", kind: "iq", payload: "urn:xmpp:ping" },
          // Errors are never answered with errors, so never limited.
          { action: "deny", kind: "message", type: "error" },
          { action: "deny", kind: "presence", type: "subscribe" },
        ],
      },
    }),
    { burst: 2 },
  );
  const byLimit = rows(report);
  assert.equal(report.ok, false);
  assert.deepEqual(byLimit.get("stanza_rules[1]"), {
    limit: "stanza_rules[1]",
    configured: "deny iq urn:xmpp:ping",
    observed:
      "one iq get urn:xmpp:ping to local was not refused: stanza_rules[0] (allow) matches it first",
    result: "FAIL",
  });
  assert.equal(byLimit.get("stanza_rules[2]")!.result, "FAIL");
  assert.match(byLimit.get("stanza_rules[2]")!.observed, /^cannot trigger: .*type error/);
  assert.equal(byLimit.get("stanza_rules[3]")!.result, "ok", explain(report));
  assert.equal(byLimit.get("connections_per_ip")!.result, "ok");
});

Deno.test("runDrill() fails ordinary traffic that a limit throttles", async () => {
  const report = await runDrill(
    resolveConfig({
      limits: {
        stanza_size: "16KiB",
        stanza_size_stream_error: "32KiB",
        presence_broadcasts: { max: 1 },
      },
    }),
    { burst: 3 },
  );
  const byLimit = rows(report);
  assert.equal(byLimit.get("stanza_size")!.result, "ok");
  assert.deepEqual(byLimit.get("ordinary: avatar-sized stanza"), {
    limit: "ordinary: avatar-sized stanza",
    configured: "40 KiB message",
    observed:
      "the sender's stream was closed (<policy-violation/> + stanza-too-big); limits hit: stanza_size_stream_error ×1",
    result: "FAIL",
  });
  assert.equal(report.ok, false);
});

Deno.test("runDrill() checks report-mode limits let traffic through and report it", async () => {
  const report = await runDrill(
    resolveConfig({
      limits: {
        connections_per_ip: { max: 2, mode: "report" },
        distinct_recipients: { max: 3, mode: "report" },
        presence_broadcasts: { max: 2, mode: "report" },
        bandwidth: { rate: "4KiB/s", burst: "16KiB", mode: "report" },
        stanza_rules: [{
          action: "deny",
          kind: "iq",
          payload: "jabber:iq:version",
          mode: "report",
        }],
      },
    }),
    { burst: 2 },
  );
  const byLimit = rows(report);
  for (
    const limit of [
      "connections_per_ip",
      "distinct_recipients",
      "presence_broadcasts",
      "bandwidth",
      "stanza_rules[0]",
    ]
  ) {
    assert.equal(byLimit.get(limit)!.result, "ok", `${limit}\n${explain(report)}`);
    assert.match(byLimit.get(limit)!.configured, /\(report\)$/);
    assert.match(byLimit.get(limit)!.observed, /report event$/);
  }
});

Deno.test("runDrill() skips limits that are off", async () => {
  const report = await runDrill(
    resolveConfig({
      limits: {
        connections_per_ip: "unlimited",
        connection_attempts_per_ip: "unlimited",
        unauthenticated_connections: "unlimited",
        pre_auth_stanza_size: "unlimited",
        auth_failures_per_ip: "unlimited",
        resources_per_account: "unlimited",
        stanza_size: "unlimited",
        stanza_size_stream_error: "unlimited",
        distinct_recipients: "unlimited",
        bandwidth: "unlimited",
        presence_broadcasts: "unlimited",
      },
    }),
    { burst: 2 },
  );
  for (const row of report.results) {
    if (row.limit.startsWith("ordinary")) assert.equal(row.result, "ok");
    else if (row.limit === "stanza_rules") assert.equal(row.result, "skipped");
    else {assert.deepEqual([row.limit, row.configured, row.result], [
        row.limit,
        "unlimited",
        "skipped-unlimited",
      ]);}
  }
  assert.equal(report.ok, true);
});

Deno.test("runDrill() from a single address lifts per-IP limits where many connections are needed", async () => {
  const report = await runDrill(resolveConfig(TIGHT), { burst: 6, multiAddress: false });
  const byLimit = rows(report);
  for (const [limit, row] of byLimit) {
    assert.equal(row.result, "ok", `${limit}\n${explain(report)}`);
  }
  // The burst from one address is capped by the per-IP limits (3 open).
  assert.equal(
    byLimit.get("ordinary: login burst")!.configured,
    "3 clients at once from one address",
  );
  assert.ok(report.notes.some((note) => note.startsWith("Every connection came from 127.0.0.1")));
});

Deno.test("formatDrillReport() prints the table, the notes and a summary", () => {
  const lines = formatDrillReport({
    results: [
      { limit: "connections_per_ip", configured: "10", observed: "10 open", result: "ok" },
      { limit: "bandwidth", configured: "unlimited", observed: "-", result: "skipped-unlimited" },
      { limit: "stanza_rules[0]", configured: "deny iq", observed: "not refused", result: "FAIL" },
    ],
    notes: ["Drilled on loopback."],
    ok: false,
    elapsedMs: 2500,
  });
  assert.deepEqual(lines, [
    "limit               configured  observed     result",
    "------------------  ----------  -----------  -----------------",
    "connections_per_ip  10          10 open      ok",
    "bandwidth           unlimited   -            skipped-unlimited",
    "stanza_rules[0]     deny iq     not refused  FAIL",
    "",
    "- Drilled on loopback.",
    "Result: 1 ok, 1 FAIL, 1 skipped (2.5 s)",
  ]);
});

Deno.test("runDrill() passes a configuration in global report mode: sizes report, pre-auth caps still enforce", async () => {
  const report = await runDrill(
    resolveConfig({
      limits: {
        mode: "report",
        connections_per_ip: 3,
        resources_per_account: 2,
        stanza_size: "64KiB",
        distinct_recipients: { max: 3, window: "1m" },
        presence_broadcasts: { max: 3, window: "1m" },
      },
    }),
    { burst: 2 },
  );
  assert.equal(report.ok, true, explain(report));
  const preAuth = rows(report).get("pre_auth_stanza_size")!;
  assert.doesNotMatch(preAuth.configured, /report/);
  assert.match(preAuth.observed, /<policy-violation\/> \+ stanza-too-big$/);
  assert.match(rows(report).get("stanza_size")!.observed, /65537 B answered normally/);
});
