// Runs the embedding examples as a user would: examples/minimal.ts (two
// accounts, clean stop) and examples/echo_bot.ts (a bot on the stanza hook).

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function run(example: string, port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../../examples/${example}`, import.meta.url).pathname],
    env: { XMPP_PORT: String(port), XMPP_TLS_REQUIRED: "false" },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("examples/minimal.ts lets two accounts chat and stops cleanly on SIGTERM", async () => {
  const port = freePort();
  const child = run("minimal.ts", port);
  try {
    await waitForPort(port, 20_000);
    await using alice = await RawClient.connect(port);
    await alice.loginScram("alice", "alice-secret", "sha256", "laptop");
    await using bob = await RawClient.connect(port);
    await bob.loginScram("bob", "bob-secret", "sha256", "phone");
    await bob.send("<presence/>");
    await alice.send(
      "<message to='bob@localhost' type='chat' id='m1'><body>hi bob</body></message>",
    );
    assert.match(
      await bob.readUntil("</message>"),
      /<message[^>]*from="alice@localhost\/laptop"[^>]*>.*<body>hi bob<\/body><\/message>$/,
    );
    child.kill("SIGTERM");
    assert.match(
      await alice.readToEnd(),
      /<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/,
    );
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
  }
});

Deno.test("examples/echo_bot.ts echoes messages sent to its bot and answers its custom IQ", async () => {
  const port = freePort();
  const child = run("echo_bot.ts", port);
  try {
    await waitForPort(port, 20_000);
    await using client = await RawClient.connect(port);
    await client.loginScram("alice", "alice-secret", "sha256", "test");
    await client.send("<message to='echo@localhost' type='chat'><body>hello</body></message>");
    assert.equal(
      await client.readUntil("</message>"),
      `<message from="echo@localhost" to="alice@localhost/test" type="chat"><body>echo: hello</body></message>`,
    );
    await client.send(
      "<iq type='get' id='t1' to='localhost'><time xmlns='urn:example:time'/></iq>",
    );
    assert.match(
      await client.readUntil("</iq>"),
      /<time xmlns="urn:example:time">\d{4}-\d\d-\d\dT/,
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
