import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigFile, parseConfigYaml } from "../../src/config/load_yaml.ts";
import { DEFAULT_CONFIG, resolveConfig, type ServerConfigInput } from "../../src/config/schema.ts";
import { ConfigError } from "../../src/config/validate.ts";

const EXAMPLE = new URL("../../examples/config.yaml", import.meta.url);

/** Asserts that parsing `text` fails with exactly this path, message and position. */
function assertYamlError(
  text: string,
  expected: { path: string; message: string; line?: number; column?: number },
): ConfigError {
  let caught: unknown;
  try {
    parseConfigYaml(text);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.message, expected.message);
  assert.equal(caught.path, expected.path);
  assert.equal(caught.line, expected.line);
  assert.equal(caught.column, expected.column);
  return caught;
}

Deno.test("examples/config.yaml parses to the defaults, paths resolved beside it", async () => {
  const config = await loadConfigFile(EXAMPLE);
  const baseDir = dirname(fileURLToPath(EXAMPLE));
  assert.deepEqual(config, resolveConfig(DEFAULT_CONFIG, { baseDir }));
  assert.deepEqual(config, {
    ...DEFAULT_CONFIG,
    storage: { type: "sqlite", path: `${baseDir}/data/xmpp.db` },
  });
});

Deno.test("examples/config.yaml writes out every key of the configuration", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const active = text.split("\n").filter((line) => !line.trimStart().startsWith("#")).join("\n");
  function keysOf(value: unknown, prefix: string): string[] {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return [];
    return Object.entries(value).flatMap(([key, child]) => [
      `${prefix}${key}`,
      ...keysOf(child, `${prefix}${key}.`),
    ]);
  }
  for (const path of keysOf(DEFAULT_CONFIG, "")) {
    if (path.startsWith("listen") || path.startsWith("auth.mechanisms")) continue;
    const key = path.split(".").at(-1)!;
    assert.match(
      active,
      new RegExp(`(^|[\\s{,])${key}:`, "m"),
      `examples/config.yaml lacks ${path}`,
    );
  }
  for (const optionalKey of ["cert", "key", "software_version", "os"]) {
    assert.match(text, new RegExp(`#\\s*${optionalKey}:`), `no commented ${optionalKey}`);
  }
});

Deno.test("examples/config.yaml shows a real error message in its header", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const shown = /^# {3}(limits\.bandwidth\.rate: .*)$/m.exec(text)?.[1];
  assert.ok(shown !== undefined, "the header shows no example error");
  assert.throws(() => parseConfigYaml(text.replace("rate: 10KiB/s", "rate: fast")), {
    name: "ConfigError",
    message: shown,
  });
});

const RICH_YAML = `
domain: example.org
listen:
  - { type: c2s, host: 0.0.0.0, port: 5222 }
  - type: https
    host: "::"
    port: 5443
tls:
  cert: certs/fullchain.pem
  key: certs/privkey.pem
  required: true
auth:
  mechanisms: [SCRAM-SHA-256, PLAIN]
  allow_plain_without_tls: false
  max_failures_per_stream: 2
  scram_iterations: 8192
storage: { type: sqlite, path: ":memory:" }
accounts:
  - { jid: admin@example.org, password: change-me }
timeouts: { negotiation: 10s, idle: 1h, shutdown: 500ms }
software_version:
  version: 0.1.0
  os: Linux
log: { level: warn, format: logfmt }
limits:
  mode: report
  ipv6_prefix: 56
  connections_per_ip: 20
  connection_attempts_per_ip: { max: 60, window: 2m, mode: enforce }
  unauthenticated_connections: unlimited
  stanza_size: 512 KiB
  stanza_size_stream_error: 2MiB
  parser: { max_depth: 16 }
  bandwidth: { rate: 20KiB/s, burst: 1MiB, per_account: true }
  send_buffer: ~
  stanza_rules:
    - { action: allow, kind: iq, payload: "urn:xmpp:ping" }
    - action: limit
      kind: message
      type: [chat, normal]
      to: remote
      rate: { max: 30, window: 1m }
      error: policy-violation
      text: Slow down
    - { action: deny, kind: iq, payload: "jabber:iq:version", direction: inbound, mode: report }
  classes:
    anonymous:
      match: { auth: ANONYMOUS }
      limits: { resources_per_account: 1, distinct_recipients: { max: 10 } }
    office:
      match: { ips: [192.0.2.0/24, "2001:db8::/32"] }
      limits: { connections_per_ip: 200, connection_attempts_per_ip: { max: 600 } }
    bots:
      match: { jids: ["*@bots.example.org", feed@example.org] }
      limits:
        mode: enforce
        bandwidth: { rate: 1MiB/s, burst: 4MiB }
        stanza_size: unlimited
        stanza_size_stream_error: unlimited
  exempt:
    ips: ["127.0.0.1", "::1"]
    jids: [admin@example.org]
`;

const RICH_CODE: ServerConfigInput = {
  domain: "example.org",
  listen: [
    { type: "c2s", host: "0.0.0.0", port: 5222 },
    { type: "https", host: "::", port: 5443 },
  ],
  tls: { cert: "certs/fullchain.pem", key: "certs/privkey.pem", required: true },
  auth: {
    mechanisms: ["SCRAM-SHA-256", "PLAIN"],
    allow_plain_without_tls: false,
    max_failures_per_stream: 2,
    scram_iterations: 8192,
  },
  storage: { type: "sqlite", path: ":memory:" },
  accounts: [{ jid: "admin@example.org", password: "change-me" }],
  timeouts: { negotiation: 10_000, idle: "1h", shutdown: 500 },
  software_version: { version: "0.1.0", os: "Linux" },
  log: { level: "warn", format: "logfmt" },
  limits: {
    mode: "report",
    ipv6_prefix: 56,
    connections_per_ip: { max: 20 },
    connection_attempts_per_ip: { max: 60, window: 120_000, mode: "enforce" },
    unauthenticated_connections: null,
    stanza_size: 524_288,
    stanza_size_stream_error: "2 MiB",
    parser: { max_depth: 16 },
    bandwidth: { rate: 20_480, burst: "1MiB", per_account: true },
    send_buffer: "unlimited",
    stanza_rules: [
      { action: "allow", kind: "iq", payload: ["urn:xmpp:ping"] },
      {
        action: "limit",
        kind: "message",
        type: ["chat", "normal"],
        to: "remote",
        rate: { max: 30, window: "60s" },
        error: "policy-violation",
        text: "Slow down",
      },
      {
        action: "deny",
        kind: "iq",
        payload: "jabber:iq:version",
        direction: "inbound",
        mode: "report",
      },
    ],
    classes: {
      anonymous: {
        match: { auth: ["ANONYMOUS"] },
        limits: { resources_per_account: 1, distinct_recipients: { max: 10 } },
      },
      office: {
        match: { ips: ["192.0.2.0/24", "2001:db8::/32"] },
        limits: { connections_per_ip: 200, connection_attempts_per_ip: { max: 600 } },
      },
      bots: {
        match: { jids: ["*@bots.example.org", "feed@example.org"] },
        limits: {
          mode: "enforce",
          bandwidth: { rate: "1MiB/s", burst: "4MiB" },
          stanza_size: null,
          stanza_size_stream_error: "unlimited",
        },
      },
    },
    exempt: { ips: ["127.0.0.1/32", "::1/128"], jids: ["admin@example.org"] },
  },
};

Deno.test("parseConfigYaml() gives the same object as the equivalent code", () => {
  const fromYaml = parseConfigYaml(RICH_YAML, { baseDir: "/srv/xmppd" });
  const fromCode = resolveConfig(RICH_CODE, { baseDir: "/srv/xmppd" });
  assert.deepEqual(fromYaml, fromCode);
  assert.equal(fromYaml.tls.cert, "/srv/xmppd/certs/fullchain.pem");
  assert.deepEqual(fromYaml.storage, { type: "sqlite", path: ":memory:" });
  assert.deepEqual(Object.keys(fromYaml.limits.classes), ["anonymous", "office", "bots"]);
  assert.equal(fromYaml.limits.send_buffer, null);
  assert.deepEqual(fromYaml.limits.classes.bots!.limits.bandwidth, {
    rate: 1_048_576,
    burst: 4_194_304,
    per_account: true,
    penalty_rate: null,
    recovery: 0,
    mode: "enforce",
  });
});

Deno.test("parseConfigYaml() reads an empty document as every default", () => {
  assert.deepEqual(parseConfigYaml(""), DEFAULT_CONFIG);
  assert.deepEqual(parseConfigYaml("# only a comment\n"), DEFAULT_CONFIG);
  assert.deepEqual(parseConfigYaml("{}"), DEFAULT_CONFIG);
});

Deno.test("parseConfigYaml() puts the line and column of the key on validation errors", () => {
  assertYamlError("limits:\n  bandwidth:\n    rate: fast\n", {
    path: "limits.bandwidth.rate",
    message:
      'limits.bandwidth.rate: expected a rate like "10KiB/s" or "unlimited", got "fast" (line 3, column 5)',
    line: 3,
    column: 5,
  });
  assertYamlError("domain: localhost\nlimits:\n  stanzaSize: 1KiB\n", {
    path: "limits.stanzaSize",
    message: 'limits.stanzaSize: unknown key, did you mean "stanza_size"? (line 3, column 3)',
    line: 3,
    column: 3,
  });
  assertYamlError(
    "listen:\n  - { type: c2s, host: 127.0.0.1, port: 1 }\n  - { type: c2s, port: 2 }\n",
    {
      path: "listen[1].host",
      message: "listen[1].host: missing required key, expected a string (line 3, column 5)",
      line: 3,
      column: 5,
    },
  );
  assertYamlError(
    "listen:\n  - { type: c2s, host: 127.0.0.1, port: 1 }\n  - { type: http, host: 127.0.0.1, port: 1 }\n",
    {
      path: "listen[1]",
      message: "listen[1]: duplicates listen[0] (both listen on 127.0.0.1:1) (line 3, column 5)",
      line: 3,
      column: 5,
    },
  );
  assertYamlError('limits:\n  classes:\n    "1st": {}\n', {
    path: 'limits.classes["1st"]',
    message:
      'limits.classes["1st"]: invalid name, expected a name of letters, digits, "_" or "-" starting with a letter (line 3, column 5)',
    line: 3,
    column: 5,
  });
  assertYamlError("- domain: x\n", {
    path: "",
    message: "expected a mapping, got a list of 1 item (line 1, column 1)",
    line: 1,
    column: 1,
  });
  assertYamlError("tls:\n  cert: a.pem\n", {
    path: "tls.key",
    message:
      "tls.key: missing required key, expected a file path because tls.cert is set (line 1, column 1)",
    line: 1,
    column: 1,
  });
});

Deno.test("parseConfigYaml() turns YAML syntax problems into ConfigErrors with a position", () => {
  const bad = assertYamlError("domain: localhost\nlisten: [1\nlog: {}\n", {
    path: "",
    message:
      "Cannot parse YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (line 3, column 1)",
    line: 3,
    column: 1,
  });
  assert.ok(bad.cause instanceof Error);
  assertYamlError("domain: a\ndomain: b\n", {
    path: "",
    message: "Cannot parse YAML: Map keys must be unique (line 2, column 1)",
    line: 2,
    column: 1,
  });
  assertYamlError("domain: a\n---\ndomain: b\n", {
    path: "",
    message:
      "Cannot parse YAML: Source contains multiple documents; please use YAML.parseAllDocuments() (line 2, column 1)",
    line: 2,
    column: 1,
  });
  assertYamlError("domain: !secret a\n", {
    path: "",
    message: "Cannot parse YAML: Unresolved tag: !secret (line 1, column 9)",
    line: 1,
    column: 9,
  });
  assertYamlError("limits:\n  exempt:\n    jids: [*@example.org]\n", {
    path: "",
    message:
      "Cannot parse YAML: Unresolved alias (the anchor must be set before the alias): @example.org",
  });
});

Deno.test("parseConfigYaml() refuses an alias bomb", () => {
  const rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (const [name, previous] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"]]) {
    rows.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(", ")}]`);
  }
  assertYamlError(`${rows.join("\n")}\n`, {
    path: "",
    message: "Cannot parse YAML: Excessive alias count indicates a resource exhaustion attack",
  });
});

Deno.test("parseConfigYaml() refuses empty values but accepts an explicit null", () => {
  assertYamlError("limits:\n  stanza_size:\n", {
    path: "limits.stanza_size",
    message:
      'limits.stanza_size: expected a value, got an empty entry (remove the key to use its default, or write "unlimited" to turn a limit off) (line 2, column 3)',
    line: 2,
    column: 3,
  });
  assertYamlError("limits:\n  exempt:\n    ips:\n      -\n", {
    path: "limits.exempt.ips[0]",
    message:
      'limits.exempt.ips[0]: expected a value, got an empty entry (remove the key to use its default, or write "unlimited" to turn a limit off) (line 4, column 8)',
    line: 4,
    column: 8,
  });
  assertYamlError("tls:\n", {
    path: "tls",
    message:
      'tls: expected a value, got an empty entry (remove the key to use its default, or write "unlimited" to turn a limit off) (line 1, column 1)',
    line: 1,
    column: 1,
  });
  assert.equal(parseConfigYaml("limits:\n  stanza_size: ~\n").limits.stanza_size, null);
  assert.equal(parseConfigYaml("limits:\n  stanza_size: null\n").limits.stanza_size, null);
});

Deno.test("parseConfigYaml() refuses complex keys", () => {
  assertYamlError("? [a, b]\n: 1\n", {
    path: "",
    message: "expected plain text keys, got a complex or empty key (line 1, column 3)",
    line: 1,
    column: 3,
  });
});

Deno.test("parseConfigYaml() keeps YAML 1.2 scalars as text (no yes/no booleans, no octal)", () => {
  assertYamlError("tls:\n  required: yes\n", {
    path: "tls.required",
    message: 'tls.required: expected true or false, got "yes" (line 2, column 3)',
    line: 2,
    column: 3,
  });
  assert.equal(
    parseConfigYaml("limits:\n  pre_auth_max_elements: 010\n").limits.pre_auth_max_elements,
    10,
  );
});

Deno.test("loadConfigFile() resolves relative paths against the file's directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/conf`);
    await Deno.writeTextFile(
      `${dir}/conf/xmppd.yaml`,
      "tls: { cert: ../certs/a.pem, key: /abs/a.key }\nstorage: { path: db/x.sqlite }\n",
    );
    const config = await loadConfigFile(`${dir}/conf/xmppd.yaml`);
    assert.deepEqual(config.tls, { cert: `${dir}/certs/a.pem`, key: "/abs/a.key", required: true });
    assert.deepEqual(config.storage, { type: "sqlite", path: `${dir}/conf/db/x.sqlite` });
    const viaUrl = await loadConfigFile(new URL(`file://${dir}/conf/xmppd.yaml`));
    assert.deepEqual(viaUrl, config);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfigFile() names the file in read and syntax errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nope.yaml`;
    await assert.rejects(loadConfigFile(missing), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.path, "");
      assert.match(e.message, new RegExp(`^Cannot read config file "${missing}": `));
      assert.ok(e.cause instanceof Deno.errors.NotFound);
      return true;
    });
    await Deno.writeTextFile(`${dir}/bad.yaml`, "domain: [\n");
    await assert.rejects(loadConfigFile(`${dir}/bad.yaml`), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, new RegExp(`^Cannot parse YAML in "${dir}/bad.yaml": `));
      assert.equal(e.line, 2);
      return true;
    });
    await Deno.writeTextFile(`${dir}/invalid.yaml`, "log:\n  level: loud\n");
    await assert.rejects(loadConfigFile(`${dir}/invalid.yaml`), {
      name: "ConfigError",
      message:
        'log.level: expected one of "debug", "info", "warn", "error", got "loud" (line 2, column 3)',
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
