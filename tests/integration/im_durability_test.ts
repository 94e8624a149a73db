// Durability of RFC 6121 data: xmppd runs as a child process on SQLite while
// a client changes its roster and sends messages to an offline account; the
// process is killed with SIGKILL mid-traffic, restarted on the same database,
// and every acknowledged change must be there. A roster change is
// acknowledged by its IQ result; a stored message by the answer to a ping
// sent after it (the server processes a sender's stanzas in order).

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const LISTENING_REGEXP = /Listening: c2s on 127\.0\.0\.1:(\d+)/;

/** xmppd as a child process; resolves its port from its first output line. */
class Xmppd implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #port: Promise<number>;
  #drained: Promise<void>;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(config: string) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
        MAIN,
        "--config",
        config,
      ],
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.status = child.status;
    const stderr = new Response(child.stderr).text();
    const stdout = child.stdout.getReader();
    const decoder = new TextDecoder();
    let output = "";
    const port = Promise.withResolvers<number>();
    this.#port = port.promise;
    this.#drained = (async () => {
      for (;;) {
        const { value, done } = await stdout.read();
        if (done) break;
        output += decoder.decode(value, { stream: true });
        const match = LISTENING_REGEXP.exec(output);
        if (match) port.resolve(Number(match[1]));
      }
      port.reject(new Error(`xmppd exited before listening: ${output}\n${await stderr}`));
    })();
  }

  port(): Promise<number> {
    return this.#port;
  }

  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.status;
    await this.#drained;
    await this.#port.catch(() => {});
  }
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
      "auth: { allow_plain_without_tls: true }",
      `storage: { type: sqlite, path: ${dir}/xmpp.db }`,
      "log: { level: warn }",
      "accounts:",
      "  - { jid: alice@localhost, password: alice-secret }",
      "  - { jid: bob@localhost, password: bob-secret }",
      "limits:",
      "  offline_messages_per_account: 10000",
      "  distinct_recipients: unlimited",
      "  bandwidth: { rate: unlimited }",
    ].join("\n"),
  );
  return path;
}

Deno.test("roster changes and offline messages acknowledged before a SIGKILL survive a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir);
    const acked = { roster: 0, offline: 0 };
    {
      await using xmppd = new Xmppd(config);
      await using alice = await RawClient.connect(await xmppd.port());
      await alice.loginPlain("alice", "alice-secret", "writer");
      const traffic = (async () => {
        for (let n = 1;; n++) {
          await alice.send(
            `<iq type='set' id='r${n}'><query xmlns='jabber:iq:roster'>` +
              `<item jid='contact${n}@localhost' name='Contact ${n}'><group>Friends</group></item>` +
              `</query></iq>`,
          );
          await alice.readUntil(`<iq type="result" id="r${n}" `);
          acked.roster = n;
          await alice.send(
            `<message to='bob@localhost' type='chat' id='m${n}'><body>message ${n}</body></message>` +
              `<iq type='get' id='p${n}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`,
          );
          await alice.readUntil(`<iq type="result" id="p${n}" `);
          acked.offline = n;
        }
      })();
      // Handled at once: the loop fails as soon as the connection drops.
      let over = false;
      const ended = traffic.then(() => "finished", () => "cut off").finally(() => (over = true));
      while (acked.offline < 60 && !over) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(!over, "the traffic stopped before the kill");
      // Mid-traffic: the loop keeps sending while the process dies.
      xmppd.kill("SIGKILL");
      const status = await xmppd.status;
      assert.equal(status.signal, "SIGKILL");
      assert.equal(await ended, "cut off");
    }

    await using restarted = new Xmppd(config);
    const port = await restarted.port();
    await using alice = await RawClient.connect(port);
    await alice.loginPlain("alice", "alice-secret", "reader");
    await alice.send("<iq type='get' id='all'><query xmlns='jabber:iq:roster'/></iq>");
    const roster = await alice.readUntil(/<iq type="result" id="all"[\s\S]*?<\/iq>/);
    const items = [
      ...roster.matchAll(
        /<item jid="contact(\d+)@localhost" name="Contact \1" subscription="none"><group>Friends<\/group><\/item>/g,
      ),
    ]
      .map((match) => Number(match[1]));
    for (let n = 1; n <= acked.roster; n++) assert.ok(items.includes(n), `roster item ${n}`);
    assert.ok(items.length <= acked.roster + 1, "at most one unacknowledged roster change");

    await using bob = await RawClient.connect(port);
    await bob.loginPlain("bob", "bob-secret", "phone");
    await bob.send(
      "<presence/><iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    const inbox = await bob.readUntil(`<iq type="result" id="sync" `);
    const bodies = [
      ...inbox.matchAll(
        /<message [^>]*id="m(\d+)"[^>]*><body>message \1<\/body><delay xmlns="urn:xmpp:delay" from="localhost" stamp="[^"]+Z"\/><\/message>/g,
      ),
    ]
      .map((match) => Number(match[1]));
    const expected = Array.from({ length: acked.offline }, (_, i) => i + 1);
    assert.deepEqual(bodies.slice(0, acked.offline), expected, "acknowledged messages, in order");
    assert.ok(bodies.length <= acked.offline + 1, "at most one unacknowledged message");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
