// xmppd as a real process: the CLI started with `deno run` (what `deno task
// start` does) on a temporary YAML configuration, driven by real signals.

import assert from "node:assert/strict";
import { RawClient } from "../_util/raw_client.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const LISTENING_REGEXP = /^Listening: c2s on 127\.0\.0\.1:(\d+)$/;

/** A running `xmppd` child process with its output collected line by line. */
class ChildCli implements AsyncDisposable {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #readers: Promise<void>[];
  #wake: (() => void) | undefined;

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
        MAIN,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.status = this.#child.status;
    this.#readers = [
      this.#collect(this.#child.stdout, this.stdout),
      this.#collect(this.#child.stderr, this.stderr),
    ];
  }

  async #collect(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
      this.#wake?.();
    }
    if (rest !== "") lines.push(rest);
    this.#wake?.();
  }

  /** Waits for a line matching `pattern` (among all lines so far) and returns it. */
  async waitLine(lines: string[], pattern: RegExp, after = 0, timeoutMs = 15_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = lines.slice(after).find((l) => pattern.test(l));
      if (line !== undefined) return line;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `No line matched ${pattern}; stdout: ${this.stdout.join("\n")}; stderr: ${
            this.stderr.join("\n")
          }`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#wake = resolve)),
        this.status,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(left, 100)))),
      ]);
      clearTimeout(timer);
    }
  }

  /** The port the CLI printed once it listened. */
  async port(): Promise<number> {
    const line = await this.waitLine(this.stdout, LISTENING_REGEXP);
    return Number(LISTENING_REGEXP.exec(line)![1]);
  }

  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.status;
    await Promise.all(this.#readers);
  }
}

async function writeConfig(path: string, limits: string[]): Promise<void> {
  await Deno.writeTextFile(
    path,
    [
      "domain: localhost",
      "listen:",
      "  - { type: c2s, host: 127.0.0.1, port: 0 }",
      "tls: { required: false }",
      "auth: { allow_plain_without_tls: true }",
      "storage: { type: memory }",
      "timeouts: { shutdown: 1500ms }",
      "log: { level: info }",
      "accounts:",
      "  - { jid: alice@localhost, password: alice-secret }",
      "limits:",
      ...limits.map((line) => `  ${line}`),
    ].join("\n"),
  );
}

function paddedIq(id: string, bytes: number): string {
  const head = `<iq type='get' id='${id}' to='localhost'><query xmlns='urn:example:pad'>`;
  const tail = "</query></iq>";
  return head + "a".repeat(bytes - head.length - tail.length) + tail;
}

function reply(id: string): RegExp {
  return new RegExp(`<iq[^>]*id="${id}"[^>]*>[\\s\\S]*?</iq>`);
}

Deno.test("xmppd on SIGTERM sends <system-shutdown/> and exits 0 within timeouts.shutdown", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/xmppd.yaml`;
    await writeConfig(path, ["stanza_size: 64KiB"]);
    await using cli = new ChildCli(["--config", path]);
    const port = await cli.port();
    await using client = await RawClient.connect(port);
    assert.equal(await client.loginPlain("alice", "alice-secret", "r"), "alice@localhost/r");
    // A peer that never answers the closing stream: the server must not wait past its bound.
    await using stubborn = await RawClient.connect(port);
    await stubborn.open();

    const signalled = performance.now();
    cli.kill("SIGTERM");
    assert.match(
      await client.readToEnd(5000),
      /<stream:error><system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><\/stream:error><\/stream:stream>$/,
    );
    const status = await cli.status;
    const elapsed = performance.now() - signalled;
    assert.equal(status.code, 0);
    assert.ok(elapsed < 1500 + 1500, `exited ${Math.round(elapsed)} ms after SIGTERM`);
    await cli.waitLine(cli.stderr, /"event":"stopped"/);
    assert.ok(cli.stderr.some((line) => /"event":"stopping","shutdown_ms":1500/.test(line)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("xmppd on SIGHUP applies a changed limit to a live connection and keeps running on a broken file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/xmppd.yaml`;
    await writeConfig(path, ["stanza_size: 64KiB"]);
    await using cli = new ChildCli(["--config", path]);
    const port = await cli.port();
    await using client = await RawClient.connect(port);
    await client.loginPlain("alice", "alice-secret", "r");
    await client.send(paddedIq("before", 3000));
    assert.match(await client.readUntil(reply("before")), /<service-unavailable /);

    // A smaller stanza limit, applied to the stream already open.
    await writeConfig(path, ["stanza_size: 2KiB"]);
    cli.kill("SIGHUP");
    await cli.waitLine(cli.stderr, /"event":"config-reloaded"/);
    await client.send(paddedIq("after", 3000));
    assert.match(
      await client.readUntil(reply("after")),
      /<not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/><stanza-too-big xmlns="urn:xmpp:errors"\/>/,
    );

    // A broken file: the error is logged with its key, the server and its limits stay.
    await Deno.writeTextFile(path, "limits:\n  bandwidth: { rate: fast }\n");
    const seen = cli.stderr.length;
    cli.kill("SIGHUP");
    const failure = JSON.parse(
      await cli.waitLine(cli.stderr, /"event":"config-reload-failed"/, seen),
    );
    assert.equal(failure.level, "error");
    assert.match(failure.error, /^ConfigError: limits\.bandwidth\.rate: expected a rate like/);
    assert.equal(failure.path, path);
    await client.send(paddedIq("kept", 3000));
    assert.match(await client.readUntil(reply("kept")), /<stanza-too-big /);
    await using again = await RawClient.connect(port);
    assert.equal(await again.loginPlain("alice", "alice-secret", "s"), "alice@localhost/s");

    cli.kill("SIGINT");
    assert.equal((await cli.status).code, 0);
    assert.match(await client.readToEnd(5000), /<system-shutdown /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
