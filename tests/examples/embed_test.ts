// Runs examples/embed.ts as a user would and talks to its echo bot.

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

Deno.test("examples/embed.ts echoes messages sent to its bot and answers its custom IQ", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../examples/embed.ts", import.meta.url).pathname],
    env: { XMPP_PORT: String(port), XMPP_TLS_REQUIRED: "false" },
    stdout: "null",
    stderr: "null",
  }).spawn();
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
