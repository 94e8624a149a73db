// The command line as an administrator uses it: accounts in the persistent
// SQLite store, a YAML configuration, start and stop.

import assert from "node:assert/strict";
import { type CliIo, main, VERSION } from "../../src/cli/main.ts";
import type { XmppServer } from "../../src/server.ts";
import { RawClient } from "../_util/raw_client.ts";

function io(stop: Promise<void> = Promise.resolve()) {
  const out: string[] = [];
  const err: string[] = [];
  const started = Promise.withResolvers<XmppServer>();
  const cli: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    stopSignal: () => stop,
    onStarted: (server) => started.resolve(server),
  };
  return { cli, out, err, started: started.promise };
}

async function writeConfig(dir: string): Promise<string> {
  const path = `${dir}/xmppd.yaml`;
  await Deno.writeTextFile(
    path,
    [
      "domain: localhost",
      "listen:",
      "  - { type: c2s, host: 127.0.0.1, port: 0 }",
      "tls: { required: false }",
      "storage: { type: sqlite, path: ./data/xmpp.db }",
      "log: { level: error }",
      "accounts:",
      "  - { jid: fixed@localhost, password: fixed-secret }",
    ].join("\n"),
  );
  return path;
}

Deno.test("main() prints the version", async () => {
  const { cli, out } = io();
  assert.equal(await main(["--version"], cli), 0);
  assert.deepEqual(out, [`xmppd ${VERSION}`]);
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

    const stop = Promise.withResolvers<void>();
    const run = io(stop.promise);
    const running = main(["--config", config], run.cli);
    const server = await run.started;
    const port = server.addresses[0]!.port;
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
    stop.resolve();
    assert.equal(await running, 0);

    const del = io();
    assert.equal(await main(["deluser", "carol", "--config", config], del.cli), 0);
    const again = io();
    assert.equal(await main(["deluser", "carol", "--config", config], again.cli), 1);
    assert.deepEqual(again.err, ["No account 'carol@localhost'"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() check-config prints the effective configuration without passwords", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir);
    const check = io();
    assert.equal(await main(["check-config", config], check.cli), 0);
    const printed = JSON.parse(check.out.join("\n"));
    assert.equal(printed.limits.stanza_size, 262144);
    assert.equal(printed.accounts[0].password, "(redacted)");
    assert.equal(printed.storage.path, `${dir}/data/xmpp.db`);
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
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
