// The status page in a real browser: headless Chromium loads it from the
// admin listener, runs its script against /status and renders. The
// screenshot is kept in test-artifacts/admin_status.png.
//
// CI installs Chromium (.ci/run: apt-get install -y chromium) and sets
// CI=true, where a missing browser fails this test; elsewhere it is skipped.

import assert from "node:assert/strict";
import { STATUS_PAGE_HTML } from "../../src/admin/status_page.ts";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer } from "../_util/test_server.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);
const SCREENSHOT = new URL("admin_status.png", ARTIFACTS);
const TOKEN = "page-test-token-0123456789";
const OPEN = { tls: { required: false }, auth: { allow_plain_without_tls: true } };

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const available = exists(CHROMIUM);
const required = Deno.env.get("CI") === "true";

/** Runs headless Chromium with the flags every run needs plus `extra`; returns stdout. */
async function chromium(userDataDir: string, extra: string[], url: string): Promise<string> {
  const output = await new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${userDataDir}`,
      "--window-size=1200,900",
      // Let the page's script fetch /status and render before the capture.
      "--virtual-time-budget=3000",
      ...extra,
      url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.ok(output.success, `Chromium failed (${output.code}): ${stderr.slice(-2000)}`);
  return new TextDecoder().decode(output.stdout);
}

Deno.test({
  name: available || required
    ? "the status page renders live connections and limit events in headless Chromium"
    : `the status page in headless Chromium (skipped: no ${CHROMIUM}; apt-get install -y chromium, or set CI=true to fail instead)`,
  ignore: !available && !required,
  async fn() {
    assert.ok(
      available,
      `${CHROMIUM} is missing: CI must install it (apt-get install -y chromium in .ci/run)`,
    );
    await using t = await startTestServer({
      ...OPEN,
      limits: { connections_per_ip: 2 },
      admin: { host: "127.0.0.1", port: 0, token: TOKEN },
    });
    await using alice = await RawClient.connect(t.port);
    await alice.loginPlain("alice", "alice-secret", "phone");
    await using idle = await RawClient.connect(t.port);
    await idle.open();
    // A third connection from 127.0.0.1 is over connections_per_ip: one limit event.
    await using refused = await RawClient.connect(t.port);
    assert.equal(await refused.readToEnd(), "");
    const admin = t.server.addresses.find((a) => a.type === "admin")!;
    // The token travels in the fragment, which the browser never sends.
    const url = `http://127.0.0.1:${admin.port}/#token=${TOKEN}`;
    const profile = await Deno.makeTempDir({ prefix: "xmppd-chromium-" });
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await Deno.remove(SCREENSHOT).catch(() => {});
      const screenshotPath = decodeURIComponent(SCREENSHOT.pathname);
      await chromium(profile, [`--screenshot=${screenshotPath}`], url);
      const png = await Deno.readFile(SCREENSHOT);
      assert.ok(png.byteLength > 10_000, `screenshot of ${png.byteLength} bytes`);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const header = new DataView(png.buffer, png.byteOffset + 16, 8);
      assert.deepEqual([header.getUint32(0), header.getUint32(4)], [1200, 900]);

      const dom = await chromium(profile, ["--dump-dom"], url);
      // The script ran, fetched /status with the token and rendered it.
      assert.match(dom, /<span id="state" class="ok">Live<\/span>/);
      const shown = /<div class="value" id="connections">(\d+)<\/div>/.exec(dom)?.[1];
      assert.equal(Number(shown), t.server.connectionCount);
      assert.equal(t.server.connectionCount, 2);
      assert.match(dom, /<td title="alice@localhost\/phone">alice@localhost\/phone<\/td>/);
      // The limit event: in the "limited now" table and as a bar in the chart.
      const limited = /<table id="limited">[\s\S]*?<\/table>/.exec(dom)?.[0] ?? "";
      assert.match(limited, /<td title="127\.0\.0\.1">127\.0\.0\.1<\/td>/);
      assert.match(limited, /<td title="connections_per_ip">connections_per_ip<\/td>/);
      assert.match(dom, /<rect [^>]*data-limit="connections_per_ip" data-count="1"/);
      assert.match(dom, /<div class="value" id="events-hour">1<\/div>/);
      assert.doesNotMatch(dom, new RegExp(TOKEN));
    } finally {
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("the status page is self-contained: no external script, style, image or font", () => {
  assert.doesNotMatch(STATUS_PAGE_HTML, /<script[^>]+src=/);
  assert.doesNotMatch(STATUS_PAGE_HTML, /<link[^>]+rel="stylesheet"/);
  assert.doesNotMatch(STATUS_PAGE_HTML, /url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.match(STATUS_PAGE_HTML, /<link rel="icon" href="data:,">/);
  // Server data is inserted as text, never parsed as markup.
  assert.doesNotMatch(STATUS_PAGE_HTML, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
});
