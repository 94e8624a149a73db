// The BOSH binding with a real client library in a real browser: headless
// Chromium runs Strophe.js (its UMD build, from Deno's npm cache), which logs
// in as alice over /http-bind and chats with bob on a raw TCP connection.
// The test page is served from a second origin; the BOSH endpoint allows any
// origin (CORS), so this is also the cross-origin check a deployed page needs.
//
// CI installs Chromium (.ci/run) and sets CI=true, where a missing browser
// fails this test; elsewhere it is skipped.

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer } from "../_util/test_server.ts";
import {
  CHROMIUM,
  chromiumAvailable as available,
  chromiumRequired as required,
  HeadlessPage,
  until,
} from "../_util/devtools.ts";

/** Pinned: `npm view strophe.js version` gave 5.0.0. */
const STROPHE = "npm:strophe.js@5.0.0";
const STROPHE_FILE = "dist/strophe.umd.min.js";

/**
 * The package's directory in Deno's npm cache, fetched when missing.
 * `--no-lock --no-config` keep the project's lockfile and import map as they are.
 */
async function packageDir(specifier: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-lock", "--no-config", specifier],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `deno info ${specifier} failed: ${decoder.decode(stderr)}`);
  const info = JSON.parse(decoder.decode(stdout)) as {
    npmPackages: Record<string, { localPath?: string }>;
  };
  const dir = Object.values(info.npmPackages)[0]?.localPath;
  assert.ok(dir, `deno info ${specifier} gave no local path`);
  return dir;
}

/** The test page: Strophe connects over BOSH and records what happens in `window.test`. */
function page(bosh: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>Strophe over BOSH</title>
<script>
  // Strophe reports protocol trouble (bad responses, HTTP errors) through the console.
  const problems = [];
  for (const level of ["warn", "error"]) {
    console[level] = (...args) => problems.push(level + ": " + args.join(" "));
  }
  addEventListener("error", (event) => problems.push("uncaught: " + event.message));
</script>
<script src="/strophe.js"></script>
<script>
  const { Strophe, $msg } = globalThis;
  const statuses = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k]));
  const test = globalThis.test = { statuses: [], received: [], problems };
  const connection = new Strophe.Connection(${JSON.stringify(bosh)});
  test.connection = connection;
  connection.addHandler((stanza) => {
    test.received.push(Strophe.serialize(stanza));
    return true;
  }, null, "message");
  test.connect = () => connection.connect("alice@localhost/strophe", "alice-secret",
    (status, condition) => {
      test.statuses.push(condition ? statuses[status] + " " + condition : statuses[status]);
    });
  test.say = (to, text) => connection.send(
    $msg({ to, type: "chat", id: "s1" }).c("body").t(text));
</script>
`;
}

Deno.test({
  name: available || required
    ? "Strophe.js in headless Chromium logs in over BOSH and chats with a TCP client"
    : `Strophe.js over BOSH in headless Chromium (skipped: no ${CHROMIUM}; apt-get install -y chromium, or set CI=true to fail instead)`,
  ignore: !available && !required,
  async fn() {
    assert.ok(
      available,
      `${CHROMIUM} is missing: CI must install it (apt-get install -y chromium in .ci/run)`,
    );
    const strophe = await Deno.readFile(`${await packageDir(STROPHE)}/${STROPHE_FILE}`);

    await using t = await startTestServer({
      tls: { required: false },
      auth: { allow_plain_without_tls: true },
      listen: [
        { type: "c2s", host: "127.0.0.1", port: 0 },
        { type: "http", host: "127.0.0.1", port: 0 },
      ],
    });
    const server = t.server;
    const http = server.addresses.find((a) => a.type === "http")!.port;
    const bosh = `http://127.0.0.1:${http}/http-bind`;
    const login = Promise.withResolvers<string>();
    server.events.on("authenticated", (e) => {
      if (e.session.transport.type !== "bosh") return;
      login.resolve(`${e.username} ${e.mechanism} ${e.session.transport.type}`);
    });

    // The page comes from another origin than the BOSH endpoint.
    const html = page(bosh);
    await using site = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      function servePage(request) {
        const path = new URL(request.url).pathname;
        if (path === "/") {
          return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
        }
        if (path === "/strophe.js") {
          return new Response(strophe, {
            headers: { "content-type": "text/javascript; charset=utf-8" },
          });
        }
        return new Response("Not found\n", { status: 404 });
      },
    );
    const pageUrl = `http://127.0.0.1:${site.addr.port}/`;

    await using bob = await RawClient.connect(t.port);
    await bob.loginPlain("bob", "bob-secret", "desk");
    await bob.send("<presence/>");
    assert.equal(
      await bob.readUntil("/>"),
      `<presence from="bob@localhost/desk" to="bob@localhost/desk"/>`,
    );

    await using browser = await HeadlessPage.open(pageUrl);
    const evaluate = (expression: string) => browser.evaluate(expression);
    const statuses = async () => await evaluate(`globalThis.test?.statuses`) as string[];

    await until("the page script", async () => await evaluate(`!!globalThis.test`) || undefined);
    await evaluate(`test.connect()`);
    await until("CONNECTED", async () => {
      const seen = await statuses();
      if (seen.some((s) => /FAIL|DISCONNECT/.test(s))) {
        throw new Error(`Strophe did not connect: ${seen.join(", ")}`);
      }
      return seen.includes("CONNECTED") || undefined;
    });
    assert.deepEqual(await statuses(), ["CONNECTING", "CONNECTED"]);
    assert.equal(await login.promise, "alice SCRAM-SHA-256 bosh");
    assert.equal(await evaluate(`test.connection.jid`), "alice@localhost/strophe");

    // Browser (BOSH) → TCP.
    await evaluate(`test.say("bob@localhost/desk", "hello from strophe <&>")`);
    assert.equal(
      await bob.readUntil("</message>"),
      `<message id="s1" to="bob@localhost/desk" type="chat" from="alice@localhost/strophe">` +
        `<body>hello from strophe &lt;&amp;&gt;</body></message>`,
    );

    // TCP → browser (BOSH).
    await bob.send(
      "<message to='alice@localhost/strophe' type='chat' id='b1'>" +
        "<body>hello from tcp &amp; co</body></message>",
    );
    const received = await until("the message in the page", async () => {
      const list = await evaluate(`test.received`) as string[];
      return list.length > 0 ? list : undefined;
    });
    assert.deepEqual(received, [
      // Strophe.serialize sorts the attributes.
      `<message from="bob@localhost/desk" id="b1" to="alice@localhost/strophe" type="chat" ` +
      `xmlns="jabber:client"><body>hello from tcp &amp; co</body></message>`,
    ]);

    // Strophe ends the session with a terminate body; the server closes the stream.
    const closed = Promise.withResolvers<void>();
    server.events.on("closed", (e) => {
      if (e.session.transport.type === "bosh") closed.resolve();
    });
    await evaluate(`test.connection.disconnect("done")`);
    await closed.promise;
    await until("DISCONNECTED", async () => {
      const seen = await statuses();
      return seen.at(-1) === "DISCONNECTED" || undefined;
    });
    assert.deepEqual((await statuses()).slice(2), ["DISCONNECTING done", "DISCONNECTED"]);
    assert.deepEqual(await evaluate(`test.problems`), []);
    await browser.close();
  },
});
