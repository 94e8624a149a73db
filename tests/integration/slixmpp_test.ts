// RFC 6121 interop with a second real client library: Debian's
// python3-slixmpp (run with /usr/bin/python3, where apt installs it) drives
// two clients through _slixmpp_im.py over STARTTLS: roster add, the
// subscription handshake, presence, and offline delivery.
//
// In CI (CI=true) a missing slixmpp fails the test; elsewhere it is skipped
// with the command that installs it.

import assert from "node:assert/strict";
import { startTestServer } from "../_util/test_server.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("_slixmpp_im.py", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures/", import.meta.url);
const TLS = {
  cert: new URL("localhost.pem", FIXTURES).pathname,
  key: new URL("localhost.key", FIXTURES).pathname,
};
const INSTALL = "apt-get update && apt-get install -y python3-slixmpp";

async function slixmppVersion(): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(PYTHON, {
      args: ["-c", "import slixmpp; print(slixmpp.__version__)"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined; // no /usr/bin/python3 at all
  }
}

const version = await slixmppVersion();
const ci = Deno.env.get("CI") === "true";

Deno.test({
  name: version === undefined && !ci
    ? `slixmpp interop (skipped: python3-slixmpp is not installed for ${PYTHON}; ${INSTALL})`
    : "slixmpp adds a contact, completes the subscription handshake, sees presence and gets offline messages",
  ignore: version === undefined && !ci,
  async fn() {
    if (version === undefined) {
      throw new Error(`python3-slixmpp is not installed for ${PYTHON} (CI=true): ${INSTALL}`);
    }
    await using t = await startTestServer({ tls: TLS });
    const logins: { username: string; mechanism: string; encrypted: boolean }[] = [];
    t.server.events.on("authenticated", (e) => {
      logins.push({
        username: e.username,
        mechanism: e.mechanism,
        encrypted: e.session.transport.encrypted,
      });
    });
    const child = new Deno.Command(PYTHON, {
      args: [SCRIPT, String(t.port), new URL("ca.pem", FIXTURES).pathname],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const { code, stdout, stderr } = await child.output();
    clearTimeout(timer);
    const out = new TextDecoder().decode(stdout);
    assert.equal(
      code,
      0,
      `slixmpp ${version} failed:\n${out}\n${new TextDecoder().decode(stderr)}`,
    );

    const steps = new Map<string, unknown>();
    for (const line of out.split("\n")) {
      const match = /^STEP (\S+) (.*)$/.exec(line);
      if (match) steps.set(match[1]!, JSON.parse(match[2]!));
    }
    assert.deepEqual(steps.get("roster-add"), {
      subscription: "none",
      pending_out: false,
      name: "Bob",
    });
    assert.deepEqual(steps.get("alice-roster"), {
      subscription: "to",
      pending_out: false,
      name: "Bob",
    });
    assert.deepEqual(steps.get("bob-roster"), {
      subscription: "from",
      pending_out: false,
      name: "",
    });
    assert.equal(steps.get("bob-offline"), true);
    assert.deepEqual(steps.get("offline"), [
      { from: "alice@localhost/laptop", body: "first", delay_from: "localhost", has_stamp: true },
      { from: "alice@localhost/laptop", body: "second", delay_from: "localhost", has_stamp: true },
    ]);
    assert.deepEqual(steps.get("bob-roster-again"), {
      subscription: "from",
      pending_out: false,
      name: "",
    });
    assert.equal(logins.length, 3);
    assert.ok(logins.every((login) => login.encrypted && login.mechanism.startsWith("SCRAM-")));
  },
});
