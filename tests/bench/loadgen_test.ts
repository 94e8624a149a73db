// The load generator against this server in the same process: real sockets
// on 127.0.0.1, real SCRAM-SHA-1 and PLAIN logins, and S2 with 5 pairs for
// 1 s. Checks that the figures it reports agree with the server's counters.

import assert from "node:assert/strict";
import { XmppConnection } from "../../bench/loadgen/connection.ts";
import { login, LoginError } from "../../bench/loadgen/login.ts";
import { selfProbe } from "../../bench/loadgen/process_stats.ts";
import type { BenchTarget } from "../../bench/loadgen/sessions.ts";
import { runS2 } from "../../bench/scenarios/s2_throughput.ts";
import { Logger } from "../../src/core/log.ts";
import { XmppServer } from "../../src/server.ts";

async function startServer(accounts: number): Promise<{ server: XmppServer; target: BenchTarget }> {
  const server = new XmppServer({
    domain: "localhost",
    listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
    tls: { required: false },
    auth: { allow_plain_without_tls: true, mechanisms: ["SCRAM-SHA-1", "PLAIN"] },
    storage: { type: "memory" },
    limits: { bandwidth: { rate: "1MiB/s", burst: "4MiB" } },
  }, { logger: new Logger({ level: "error", sink: () => {} }) });
  await server.start();
  for (let i = 1; i <= accounts; i++) await server.addAccount(`bench${i}`, "bench-secret");
  return {
    server,
    target: {
      host: "127.0.0.1",
      port: server.addresses[0]!.port,
      domain: "localhost",
      prefix: "bench",
      password: "bench-secret",
      mechanism: "SCRAM-SHA-1",
      cache: new Map(),
    },
  };
}

Deno.test("login() binds with SCRAM-SHA-1 and PLAIN and reports a bad password", async () => {
  const { server, target } = await startServer(1);
  try {
    for (const mechanism of ["SCRAM-SHA-1", "PLAIN"] as const) {
      const conn = await XmppConnection.connect(target);
      const jid = await login(conn, {
        username: "bench1",
        password: "bench-secret",
        mechanism,
        resource: mechanism,
        cache: target.cache,
      });
      assert.equal(jid, `bench1@localhost/${mechanism}`);
      conn.end();
      await conn.whenClosed();
    }
    const bad = await XmppConnection.connect(target);
    await assert.rejects(
      login(bad, { username: "bench1", password: "wrong", mechanism: "SCRAM-SHA-1" }),
      LoginError,
    );
    bad.destroy();
    await bad.whenClosed();
  } finally {
    await server.stop();
  }
});

Deno.test("runS2() with 5 pairs for 1 s returns figures that match the server", async () => {
  const { server, target } = await startServer(10);
  try {
    const before = server.stats.stanzasIn;
    const line = await runS2(target, selfProbe(), {
      pairs: 5,
      inFlight: 5,
      seconds: 1,
      warmup: 0.2,
    });
    const routed = server.stats.stanzasIn - before;
    assert.equal(line.scenario, "S2");
    assert.equal(line.active_pairs, 5);
    assert.equal(line.login_failures, 0);
    assert.equal(line.error_replies, 0);
    assert.equal(line.undelivered_at_end, 0);
    const rate = line.delivered_msgs_per_s as number;
    assert.ok(rate > 100, `delivered ${rate} msgs/s`);
    // Everything delivered in the 1 s window was routed by the server (plus warm-up and logins).
    assert.ok(routed >= rate * 0.9, `server routed ${routed}, client counted ${rate}/s`);
    const p50 = line.latency_p50_ms as number;
    const p99 = line.latency_p99_ms as number;
    assert.ok(p50 > 0 && p50 <= p99 && p99 < 1000, `p50 ${p50} p99 ${p99}`);
    assert.ok((line.server_cpu_ms_per_1k_msgs as number) > 0);
  } finally {
    await server.stop();
  }
});
