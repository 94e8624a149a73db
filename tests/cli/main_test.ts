// The command line as an administrator uses it, in-process: accounts in the
// persistent SQLite store, a YAML configuration, check-config, drill,
// example-config, start, reload and stop. main_process_test.ts runs it as a
// real process and sends it real signals.

import assert from "node:assert/strict";
import { parse } from "yaml";
import { type CliIo, type CliSignal, main, VERSION } from "../../src/cli/main.ts";
import { loadConfigFile } from "../../src/config/load_yaml.ts";
import type { XmppServer } from "../../src/server.ts";
import { RawClient } from "../_util/raw_client.ts";

const HARDENED = new URL("../../examples/hardened.yaml", import.meta.url).pathname;
const REFERENCE = new URL("../../examples/config.yaml", import.meta.url).pathname;

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const logs: string[] = [];
  const started = Promise.withResolvers<XmppServer>();
  let handler: ((signal: CliSignal) => void) | undefined;
  const cli: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    signals(listener) {
      handler = listener;
      return { [Symbol.dispose]: () => (handler = undefined) };
    },
    onStarted: (server) => started.resolve(server),
    log: (line) => logs.push(line),
  };
  const signal = (name: CliSignal) => {
    assert.ok(handler !== undefined, "the CLI listens to signals while the server runs");
    handler(name);
  };
  const logged = (event: string) =>
    logs.map((line) => JSON.parse(line)).filter((entry) => entry.event === event);
  return {
    cli,
    out,
    logged,
    err,
    started: started.promise,
    signal,
    listening: () => handler !== undefined,
  };
}

/** The server main() started, or why main() ended first. */
function started(run: ReturnType<typeof io>, running: Promise<number>): Promise<XmppServer> {
  return Promise.race([
    run.started,
    running.then((code) => {
      throw new Error(`main() ended with ${code} before the server started: ${run.err.join("; ")}`);
    }),
  ]);
}

async function writeConfig(dir: string, extra: string[] = []): Promise<string> {
  const path = `${dir}/xmppd.yaml`;
  await Deno.writeTextFile(
    path,
    [
      "domain: localhost",
      "listen:",
      "  - { type: c2s, host: 127.0.0.1, port: 0 }",
      "tls: { required: false }",
      "storage: { type: sqlite, path: ./data/xmpp.db }",
      "log: { level: info }",
      "accounts:",
      "  - { jid: fixed@localhost, password: fixed-secret }",
      ...extra,
    ].join("\n"),
  );
  return path;
}

Deno.test("main() prints the version from deno.json", async () => {
  const { cli, out } = io();
  assert.equal(await main(["--version"], cli), 0);
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, denoJson.version);
  assert.deepEqual(out, [`xmppd ${VERSION}`]);
});

Deno.test("main() prints usage for --help and refuses unknown commands and flags", async () => {
  const help = io();
  assert.equal(await main(["--help"], help.cli), 0);
  assert.match(help.out.join("\n"), /xmppd drill FILE \[--burst N\]/);
  const unknown = io();
  assert.equal(await main(["frobnicate"], unknown.cli), 2);
  assert.equal(unknown.err[0], "Unknown command 'frobnicate'");
  const flag = io();
  assert.equal(await main(["--frob"], flag.cli), 2);
});

Deno.test("main() adds, changes and deletes accounts in the SQLite store the server then uses", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir);
    const add = io();
    assert.equal(
      await main(["adduser", "carol@localhost", "first", "--config", config], add.cli),
      0,
    );
    assert.deepEqual(add.out, ["Created carol@localhost"]);
    const passwd = io();
    assert.equal(await main(["passwd", "carol", "second", "--config", config], passwd.cli), 0);
    assert.deepEqual(passwd.out, ["Updated carol@localhost"]);
    const elsewhere = io();
    assert.equal(
      await main(["adduser", "carol@example.org", "x", "--config", config], elsewhere.cli),
      1,
    );
    assert.match(elsewhere.err[0]!, /not on domain 'localhost'/);

    const run = io();
    const running = main(["--config", config], run.cli);
    const server = await started(run, running);
    const port = server.addresses[0]!.port;
    assert.deepEqual(run.out, [`Listening: c2s on 127.0.0.1:${port}`]);
    {
      await using client = await RawClient.connect(port);
      assert.equal(await client.loginScram("carol", "second", "sha1", "r"), "carol@localhost/r");
    }
    {
      await using client = await RawClient.connect(port);
      assert.equal(
        await client.loginScram("fixed", "fixed-secret", "sha256", "r"),
        "fixed@localhost/r",
      );
    }
    run.signal("stop");
    assert.equal(await running, 0);
    assert.equal(run.listening(), false, "signal listeners are removed after the server stops");

    const del = io();
    assert.equal(await main(["deluser", "carol", "--config", config], del.cli), 0);
    const again = io();
    assert.equal(await main(["deluser", "carol", "--config", config], again.cli), 1);
    assert.deepEqual(again.err, ["No account 'carol@localhost'"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() reloads the file on a reload signal and keeps the old configuration when it is bad", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir, ["limits: { resources_per_account: 5 }"]);
    const run = io();
    const running = main(["--config", config], run.cli);
    const server = await started(run, running);
    await writeConfig(dir, ["limits: { resources_per_account: 2 }"]);
    run.signal("reload");
    await waitFor(() => run.logged("config-reloaded").length === 1);
    assert.equal(server.config.limits.resources_per_account, 2);

    // A broken file: rejected with the key and the reason, the config in force stays.
    await Deno.writeTextFile(
      config,
      "limits:\n  bandwidth: { rate: fast }\n",
    );
    run.signal("reload");
    await waitFor(() => run.logged("config-reload-failed").length === 1);
    assert.match(
      run.logged("config-reload-failed")[0].error,
      /^ConfigError: limits\.bandwidth\.rate: expected a rate like "10KiB\/s" or "unlimited", got "fast"/,
    );

    // A change that needs a restart: rejected the same way.
    await writeConfig(dir, ["limits: { resources_per_account: 3 }"]);
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replaceAll("localhost", "other.example"),
    );
    run.signal("reload");
    await waitFor(() => run.logged("config-reload-failed").length === 2);
    assert.match(
      run.logged("config-reload-failed")[1].error,
      /^ConfigError: domain: cannot change while running/,
    );
    assert.equal(server.config.limits.resources_per_account, 2);
    assert.equal(server.config.domain, "localhost");

    run.signal("stop");
    assert.equal(await running, 0);
    assert.equal(run.logged("stopped").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("Timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("main() check-config prints the effective limits as a table without passwords", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir, [
      "limits: { connections_per_ip: { max: 4, mode: report } }",
    ]);
    const check = io();
    assert.equal(await main(["check-config", config], check.cli), 0);
    const text = check.out.join("\n");
    assert.equal(check.out[0], `Configuration OK: ${config}`);
    assert.match(text, /^accounts +fixed@localhost \(passwords not shown\)$/m);
    assert.match(text, /^storage +sqlite .*\/data\/xmpp\.db$/m);
    assert.match(text, /^connections_per_ip +4 +report$/m);
    assert.match(text, /^connection_attempts_per_ip +30 per 1m +enforce$/m);
    assert.match(text, /^stanza_size +256KiB +enforce$/m);
    assert.match(text, /^bandwidth +10KiB\/s, burst 100KiB +enforce$/m);
    assert.ok(!text.includes("fixed-secret"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() check-config --json prints the effective configuration with passwords redacted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir);
    const check = io();
    assert.equal(await main(["check-config", config, "--json"], check.cli), 0);
    const printed = JSON.parse(check.out.join("\n"));
    assert.equal(printed.limits.stanza_size, 262144);
    assert.equal(printed.accounts[0].password, "(redacted)");
    assert.equal(printed.storage.path, `${dir}/data/xmpp.db`);
    const secret = "admin-token-0123456789";
    await Deno.writeTextFile(config, `\nadmin: { host: 192.0.2.1, token: ${secret} }\n`, {
      append: true,
    });
    const withToken = io();
    assert.equal(
      await main(["check-config", config, "--json"], withToken.cli),
      0,
      withToken.err.join("\n"),
    );
    assert.equal(JSON.parse(withToken.out.join("\n")).admin.token, "(redacted)");
    const table = io();
    assert.equal(await main(["check-config", config], table.cli), 0);
    assert.ok(!table.out.join("\n").includes(secret));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() reports a bad configuration with the key that is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.yaml`;
    await Deno.writeTextFile(path, "limits:\n  bandwidth: { rate: fast }\n");
    const check = io();
    assert.equal(await main(["check-config", path], check.cli), 1);
    assert.match(check.err[0]!, /^ConfigError: limits\.bandwidth\.rate: /);
    const missing = io();
    assert.equal(await main(["check-config"], missing.cli), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const LIMIT_KEYS = [
  "mode",
  "ipv6_prefix",
  "connections_per_ip",
  "connection_attempts_per_ip",
  "unauthenticated_connections",
  "pre_auth_stanza_size",
  "pre_auth_max_elements",
  "auth_failures_per_ip",
  "resources_per_account",
  "stanza_size",
  "stanza_size_stream_error",
  "parser",
  "distinct_recipients",
  "bandwidth",
  "presence_broadcasts",
  "send_buffer",
  "offline_messages_per_account",
  "stanza_rules",
  "classes",
  "exempt",
];

Deno.test("examples/hardened.yaml sets and comments every XEP-0205 limit and passes check-config", async () => {
  const text = await Deno.readTextFile(HARDENED);
  const raw = parse(text) as { limits: Record<string, unknown> };
  const lines = text.split("\n");
  for (const key of LIMIT_KEYS) {
    assert.ok(key in raw.limits, `limits.${key} is set`);
    const at = lines.findIndex((line) => line.startsWith(`  ${key}:`));
    assert.match(lines[at - 1]!, /^\s*#/, `limits.${key} has a comment above it`);
  }
  for (const key of Object.keys(raw.limits.parser as object)) {
    const at = lines.findIndex((line) => line.startsWith(`    ${key}:`));
    assert.match(lines[at - 1]!, /^\s*#/, `limits.parser.${key} has a comment above it`);
  }
  const config = await loadConfigFile(HARDENED);
  assert.equal(config.limits.connections_per_ip.max, 8);
  assert.equal(config.limits.ipv6_prefix, 56);
  assert.deepEqual(config.auth.mechanisms, ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
  const check = io();
  assert.equal(await main(["check-config", HARDENED], check.cli), 0);
  const printed = check.out.join("\n");
  assert.match(printed, /^auth_failures_per_ip +5 per 15m +enforce$/m);
  assert.match(printed, /^bandwidth +10KiB\/s, burst 160KiB, penalty 2KiB\/s for 1m +enforce$/m);
  assert.match(printed, /^stanza_rules\[1\] +limit presence subscribe: 20 per 1h +enforce$/m);
});

Deno.test("main() drill passes a hardened configuration and prints the table", async () => {
  const drill = io();
  assert.equal(await main(["drill", HARDENED, "--burst", "4"], drill.cli), 0);
  const text = drill.out.join("\n");
  assert.match(text, /^limit +configured +observed +result$/m);
  assert.match(text, /^connections_per_ip +8 +8 open, connection 9 closed before any byte.* ok$/m);
  assert.match(text, /^Result: 16 ok, 0 FAIL, 0 skipped \(\d+\.\d s\)$/m);
});

Deno.test("main() drill exits 1 when a limit cannot trigger as configured", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/shadowed.yaml`;
    await Deno.writeTextFile(
      path,
      [
        "limits:",
        "  stanza_rules:",
        "    - { action: allow, kind: iq, payload: 'urn:xmpp:ping' }",
        "    - { action: deny, kind: iq, payload: 'urn:xmpp:ping' }",
      ].join("\n"),
    );
    const drill = io();
    assert.equal(await main(["drill", "--config", path, "--burst", "2"], drill.cli), 1);
    assert.match(
      drill.out.join("\n"),
      /^stanza_rules\[1\] +deny iq urn:xmpp:ping +.*stanza_rules\[0\] \(allow\) matches it first +FAIL$/m,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() drill checks its arguments", async () => {
  const none = io();
  assert.equal(await main(["drill"], none.cli), 2);
  const burst = io();
  assert.equal(await main(["drill", HARDENED, "--burst", "1"], burst.cli), 2);
  assert.deepEqual(burst.err, [
    "Cannot drill: '--burst' must be an integer from 2 to 500, got '1'",
  ]);
});

Deno.test("main() example-config prints the reference and the hardened configuration", async () => {
  const reference = io();
  assert.equal(await main(["example-config"], reference.cli), 0);
  assert.equal(reference.out.join("\n"), (await Deno.readTextFile(REFERENCE)).trimEnd());
  const hardened = io();
  assert.equal(await main(["example-config", "--hardened"], hardened.cli), 0);
  assert.equal(hardened.out.join("\n"), (await Deno.readTextFile(HARDENED)).trimEnd());
});
