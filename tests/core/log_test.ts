import assert from "node:assert/strict";
import { Logger, type LoggerOptions, type LogLevel } from "../../src/core/log.ts";

const EPOCH_ISO = "1970-01-01T00:00:00.000Z";

function capture(options: LoggerOptions = {}) {
  const lines: { line: string; level: LogLevel }[] = [];
  const log = new Logger({
    wallClock: () => 0,
    sink: (line, level) => lines.push({ line, level }),
    ...options,
  });
  return { log, lines };
}

Deno.test("Logger writes info, warn and error but not debug by default", () => {
  const { log, lines } = capture();
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((entry) => entry.level), ["info", "warn", "error"]);
});

Deno.test("Logger.enabled() compares against the configured level", () => {
  const table: [LogLevel, LogLevel[]][] = [
    ["debug", ["debug", "info", "warn", "error"]],
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
  ];
  for (const [level, written] of table) {
    const { log, lines } = capture({ level });
    for (const candidate of ["debug", "info", "warn", "error"] as const) {
      assert.equal(log.enabled(candidate), written.includes(candidate), `${level}/${candidate}`);
      log.log(candidate, "event");
    }
    assert.deepEqual(lines.map((entry) => entry.level), written);
  }
});

Deno.test("Logger.log() writes JSON with time, level and event first, then the fields", () => {
  const { log, lines } = capture({ wallClock: () => 1_700_000_000_123 });
  log.warn("limit", { limit: "stanza_size", bytes: 70000, enforced: true });
  assert.deepEqual(lines, [{
    line: `{"time":"2023-11-14T22:13:20.123Z","level":"warn","event":"limit",` +
      `"limit":"stanza_size","bytes":70000,"enforced":true}`,
    level: "warn",
  }]);
});

Deno.test("Logger.log() leaves out fields whose value is undefined", () => {
  const { log, lines } = capture();
  log.info("auth", { user: undefined, ip: "::1" });
  assert.equal(lines[0]?.line, `{"time":"${EPOCH_ISO}","level":"info","event":"auth","ip":"::1"}`);
  const logfmt = capture({ format: "logfmt" });
  logfmt.log.info("auth", { user: undefined, ip: "::1" });
  assert.equal(logfmt.lines[0]?.line, `time=${EPOCH_ISO} level=info event=auth ip=::1`);
});

Deno.test("Logger.log() writes logfmt values bare when they need no quoting", () => {
  const { log, lines } = capture({ format: "logfmt" });
  log.error("closed", {
    jid: "a@example.org/phone+1",
    path: "/tmp/x.y:z",
    n: -12.5,
    ok: false,
    under_score: "A_b-9",
  });
  assert.equal(
    lines[0]?.line,
    `time=${EPOCH_ISO} level=error event=closed jid=a@example.org/phone+1 path=/tmp/x.y:z ` +
      `n=-12.5 ok=false under_score=A_b-9`,
  );
});

Deno.test("Logger.log() quotes logfmt values with spaces, quotes, equals signs or line breaks", () => {
  const { log, lines } = capture({ format: "logfmt" });
  log.info("x", {
    spaced: "two words",
    quoted: `say "hi"`,
    equals: "a=b",
    broken: "line1\nline2",
    empty: "",
    accent: "é",
  });
  assert.equal(
    lines[0]?.line,
    `time=${EPOCH_ISO} level=info event=x spaced="two words" quoted="say \\"hi\\"" ` +
      `equals="a=b" broken="line1\\nline2" empty="" accent="é"`,
  );
  // Whatever the values, a record stays on one line.
  assert.equal(lines[0]?.line.includes("\n"), false);
});

Deno.test("Logger.log() keeps a JSON record on one line whatever the values", () => {
  const { log, lines } = capture();
  log.info("x", { text: "a\nb\r\nc" });
  const line = lines[0]?.line ?? "";
  assert.equal(line.includes("\n"), false);
  assert.equal(JSON.parse(line).text, "a\nb\r\nc");
});

Deno.test("Logger.log() quotes an event name that needs it in logfmt", () => {
  const { log, lines } = capture({ format: "logfmt" });
  log.info("two words");
  assert.equal(lines[0]?.line, `time=${EPOCH_ISO} level=info event="two words"`);
});

Deno.test("Logger.debug(), info(), warn() and error() pass their level to the sink", () => {
  const { log, lines } = capture({ level: "debug", format: "logfmt" });
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  assert.deepEqual(lines, [
    { line: `time=${EPOCH_ISO} level=debug event=a`, level: "debug" },
    { line: `time=${EPOCH_ISO} level=info event=b`, level: "info" },
    { line: `time=${EPOCH_ISO} level=warn event=c`, level: "warn" },
    { line: `time=${EPOCH_ISO} level=error event=d`, level: "error" },
  ]);
});

Deno.test("Logger reads the wall clock once per written line and not for skipped lines", () => {
  let reads = 0;
  const { log, lines } = capture({
    wallClock: () => {
      reads++;
      return reads * 1000;
    },
  });
  log.debug("skipped");
  assert.equal(reads, 0);
  log.info("a");
  log.info("b");
  assert.equal(reads, 2);
  assert.deepEqual(lines.map((entry) => JSON.parse(entry.line).time), [
    "1970-01-01T00:00:01.000Z",
    "1970-01-01T00:00:02.000Z",
  ]);
});

Deno.test("Logger uses Date.now for the time field by default", () => {
  const lines: string[] = [];
  const log = new Logger({ sink: (line) => lines.push(line) });
  const before = Date.now();
  log.info("now");
  const after = Date.now();
  const time = Date.parse(JSON.parse(lines[0] ?? "{}").time);
  assert.ok(time >= before && time <= after, `${time} not in [${before}, ${after}]`);
});

Deno.test("Logger writes to stderr, not stdout, by default", async () => {
  const logUrl = new URL("../../src/core/log.ts", import.meta.url).href;
  const script = `import { Logger } from ${JSON.stringify(logUrl)};
new Logger({ format: "logfmt", wallClock: () => 0 }).warn("to-stderr", { n: 1 });`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  assert.equal(decoder.decode(output.stdout), "");
  assert.equal(decoder.decode(output.stderr), `time=${EPOCH_ISO} level=warn event=to-stderr n=1\n`);
});

Deno.test("Logger rejects an unknown level or format", () => {
  assert.throws(
    () => new Logger({ level: "verbose" as LogLevel }),
    new RangeError("Cannot create logger: unknown level 'verbose'"),
  );
  assert.throws(
    () => new Logger({ level: "toString" as LogLevel }),
    new RangeError("Cannot create logger: unknown level 'toString'"),
  );
  assert.throws(
    () => new Logger({ format: "text" as "json" }),
    new RangeError("Cannot create logger: unknown format 'text'"),
  );
});
