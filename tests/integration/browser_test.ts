// The examples/web chat page in a real browser: headless Chromium loads it,
// logs in over the WebSocket binding (SCRAM-SHA-256 in WebCrypto) and
// exchanges messages with a TCP client. Chromium is driven through the
// DevTools protocol; the screenshot is kept in test-artifacts/web_chat.png.
//
// CI installs Chromium (.ci/run: apt-get install -y chromium) and sets
// CI=true, where a missing browser fails this test; elsewhere it is skipped.

import assert from "node:assert/strict";
import { Logger } from "../../src/core/log.ts";
import { startWebDemo } from "../../examples/web/serve.ts";
import { RawClient } from "../_util/raw_client.ts";
import {
  CHROMIUM,
  chromiumAvailable as available,
  chromiumRequired as required,
  HeadlessPage,
  until,
} from "../_util/devtools.ts";

const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);

Deno.test({
  name: available || required
    ? "the web chat page logs in over WebSocket in headless Chromium and chats with a TCP client"
    : `the web chat page in headless Chromium (skipped: no ${CHROMIUM}; apt-get install -y chromium, or set CI=true to fail instead)`,
  ignore: !available && !required,
  async fn() {
    assert.ok(
      available,
      `${CHROMIUM} is missing: CI must install it (apt-get install -y chromium in .ci/run)`,
    );
    await using demo = await startWebDemo({
      pagePort: 0,
      config: {
        domain: "localhost",
        listen: [
          { type: "c2s", host: "127.0.0.1", port: 0 },
          { type: "http", host: "127.0.0.1", port: 0 },
        ],
        tls: { required: false },
        auth: { allow_plain_without_tls: true },
        storage: { type: "memory" },
        accounts: [
          { jid: "alice@localhost", password: "alice-secret" },
          { jid: "bob@localhost", password: "bob-secret" },
        ],
      },
      serverOptions: { logger: new Logger({ sink: () => {} }) },
    });
    const server = demo.server;
    const login = Promise.withResolvers<string>();
    server.events.on("authenticated", (e) => {
      login.resolve(`${e.username} ${e.mechanism} ${e.session.transport.type}`);
    });

    await using page = await HeadlessPage.open(demo.pageUrl, { windowSize: "1000,800" });
    const evaluate = (expression: string) => page.evaluate(expression);
    const status = () => evaluate(`document.getElementById("status")?.textContent`);

    // The module script fills in the WebSocket URL from the query string once it ran.
    const url = await until("the page script", async () => {
      const value = await evaluate(`document.getElementById("url")?.value`);
      return value ? value : undefined;
    });
    assert.equal(url, demo.websocketUrl);
    assert.equal(await status(), "offline");
    await evaluate(`(() => {
        document.getElementById("jid").value = "alice@localhost";
        document.getElementById("password").value = "alice-secret";
        document.getElementById("login").requestSubmit();
      })()`);
    await until("online", async () => await status() === "online" || undefined);
    assert.equal(await login.promise, "alice SCRAM-SHA-256 websocket");

    await using bob = await RawClient.connect(
      server.addresses.find((a) => a.type === "c2s")!.port,
    );
    await bob.loginPlain("bob", "bob-secret", "desk");
    await bob.send("<presence/>");

    // Browser → TCP.
    await evaluate(`(() => {
        document.getElementById("to").value = "bob@localhost";
        document.getElementById("text").value = "hello from chromium <&>";
        document.getElementById("compose").requestSubmit();
      })()`);
    assert.match(
      await bob.readUntil("</message>"),
      /<message to="bob@localhost" type="chat" id="m[0-9a-f]{8}" from="alice@localhost\/web"><body>hello from chromium &lt;&amp;&gt;<\/body><\/message>/,
    );

    // TCP → browser.
    await bob.send(
      "<message to='alice@localhost/web' type='chat'><body>hello from tcp &amp; co</body></message>",
    );
    const shown = await until("the message in the page", async () => {
      const items = await evaluate(
        `[...document.querySelectorAll("#log li")].map((li) => li.textContent)`,
      ) as string[];
      return items.find((text) => text.includes("hello from tcp")) ?? undefined;
    });
    assert.equal(shown, "bob@localhost/deskhello from tcp & co");

    const png = await page.screenshot();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await Deno.writeFile(new URL("web_chat.png", ARTIFACTS), png);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);

    // The page closes its stream with <close/>; the server ends the session.
    const closed = Promise.withResolvers<void>();
    server.events.on("closed", (e) => {
      if (e.session.transport.type === "websocket") closed.resolve();
    });
    await evaluate(`document.getElementById("disconnect").click()`);
    await closed.promise;
    await until("offline", async () => await status() === "offline" || undefined);
    await page.close();
  },
});
