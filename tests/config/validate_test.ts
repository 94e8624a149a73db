import assert from "node:assert/strict";
import {
  bool,
  bytes,
  canonicalIp,
  childPath,
  cidr,
  ConfigError,
  duration,
  enumOf,
  hostPort,
  type Infer,
  type InferInput,
  int,
  isHost,
  limitOrUnlimited,
  listOf,
  listOrSingle,
  mapOf,
  object,
  oneOf,
  optional,
  rate,
  refine,
  str,
  taggedUnion,
  transform,
  type Validator,
} from "../../src/config/validate.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_proof: T): void {}

/** Asserts that `check` throws a ConfigError with exactly this path and message. */
function assertConfigError(check: () => unknown, path: string, message: string): ConfigError {
  let caught: unknown;
  try {
    check();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.message, message);
  assert.equal(caught.path, path);
  return caught;
}

Deno.test("ConfigError carries name, path, problem and an optional position", () => {
  const cause = new SyntaxError("inner");
  const error = new ConfigError("limits.stanza_size", 'expected a size, got "x"', { cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.path, "limits.stanza_size");
  assert.equal(error.problem, 'expected a size, got "x"');
  assert.equal(error.message, 'limits.stanza_size: expected a size, got "x"');
  assert.equal(error.cause, cause);
  assert.equal(error.line, undefined);
  const placed = new ConfigError("domain", "bad", { line: 3, column: 9 });
  assert.equal(placed.message, "domain: bad (line 3, column 9)");
  assert.equal(placed.line, 3);
  assert.equal(placed.column, 9);
  assert.equal(new ConfigError("", "Cannot parse YAML: x").message, "Cannot parse YAML: x");
});

Deno.test("childPath() joins names with dots, indexes with brackets and quotes odd keys", () => {
  assert.equal(childPath("", "domain"), "domain");
  assert.equal(childPath("limits", "stanza_size"), "limits.stanza_size");
  assert.equal(childPath("listen", 0), "listen[0]");
  assert.equal(childPath("listen[0]", "port"), "listen[0].port");
  assert.equal(childPath("classes", "my-class"), "classes.my-class");
  assert.equal(childPath("classes", "1"), 'classes["1"]');
  assert.equal(childPath("classes", "a.b"), 'classes["a.b"]');
  assert.equal(childPath("", "a b"), '["a b"]');
});

Deno.test("int() accepts safe integers in range and names the range when it refuses", () => {
  assert.equal(int().check(-5, "n"), -5);
  assert.equal(int({ min: 2, max: 5 }).check(2, "n"), 2);
  assert.equal(int({ min: 2, max: 5 }).check(5, "n"), 5);
  assertConfigError(
    () => int({ min: 2, max: 5 }).check(6, "auth.max_failures_per_stream"),
    "auth.max_failures_per_stream",
    "auth.max_failures_per_stream: expected an integer from 2 to 5, got 6",
  );
  assertConfigError(
    () => int({ min: 4096 }).check(1000, "x"),
    "x",
    "x: expected an integer >= 4096, got 1000",
  );
  assertConfigError(
    () => int({ max: 9 }).check(10, "x"),
    "x",
    "x: expected an integer <= 9, got 10",
  );
  assertConfigError(() => int().check("10", "x"), "x", 'x: expected an integer, got "10"');
  assertConfigError(() => int().check(1.5, "x"), "x", "x: expected an integer, got 1.5");
  assertConfigError(() => int().check(NaN, "x"), "x", "x: expected an integer, got NaN");
  assertConfigError(
    () => int().check(2 ** 53, "x"),
    "x",
    "x: expected an integer, got 9007199254740992",
  );
  assertConfigError(() => int().check(null, "x"), "x", "x: expected an integer, got null");
  assertConfigError(
    () => int().check([1], "x"),
    "x",
    "x: expected an integer, got a list of 1 item",
  );
  assertConfigError(() => int().check({}, "x"), "x", "x: expected an integer, got a mapping");
  assertConfigError(
    () => int().check(undefined, "x"),
    "x",
    "x: missing required key, expected an integer",
  );
});

Deno.test("bool() accepts only true and false", () => {
  assert.equal(bool().check(true, "b"), true);
  assert.equal(bool().check(false, "b"), false);
  for (const value of ["yes", "true", 1, 0, null]) {
    assertConfigError(
      () => bool().check(value, "tls.required"),
      "tls.required",
      `tls.required: expected true or false, got ${
        typeof value === "string" ? JSON.stringify(value) : value
      }`,
    );
  }
});

Deno.test("str() checks type, length and pattern and describes what it wanted", () => {
  assert.equal(str().check("", "s"), "");
  assert.equal(str({ minLength: 1 }).check("x", "s"), "x");
  assertConfigError(() => str().check(5, "s"), "s", "s: expected a string, got 5");
  assertConfigError(
    () => str({ minLength: 1 }).check("", "s"),
    "s",
    's: expected a non-empty string, got ""',
  );
  assertConfigError(
    () => str({ minLength: 2, maxLength: 3 }).check("abcd", "s"),
    "s",
    's: expected a string of length from 2 to 3, got "abcd"',
  );
  assertConfigError(
    () => str({ pattern: /^[a-z]+$/, expected: "lower-case letters" }).check("aB", "s"),
    "s",
    's: expected lower-case letters, got "aB"',
  );
  const long = "x".repeat(100);
  assertConfigError(
    () => str({ maxLength: 10 }).check(long, "s"),
    "s",
    `s: expected a string of length <= 10, got "${"x".repeat(61)}..."`,
  );
});

Deno.test("enumOf() lists the choices and hints at a case mismatch", () => {
  const level = enumOf(["debug", "info"]);
  assert.equal(level.check("info", "log.level"), "info");
  assertConfigError(
    () => level.check("verbose", "log.level"),
    "log.level",
    'log.level: expected one of "debug", "info", got "verbose"',
  );
  assertConfigError(
    () => level.check("INFO", "log.level"),
    "log.level",
    'log.level: expected one of "debug", "info", got "INFO", did you mean "info"?',
  );
  assertConfigError(
    () => enumOf(["memory"]).check("sqlite", "type"),
    "type",
    'type: expected "memory", got "sqlite"',
  );
  assertConfigError(() => level.check(1, "l"), "l", 'l: expected one of "debug", "info", got 1');
  assertType<Equals<Infer<typeof level>, "debug" | "info">>(true);
});

Deno.test("bytes(), duration() and rate() convert units and report syntax and range apart", () => {
  assert.equal(bytes().check("256KiB", "s"), 262144);
  assert.equal(bytes().check(1000, "s"), 1000);
  assert.equal(bytes().check("1000", "s"), 1000);
  assert.equal(duration().check("1d", "d"), 86_400_000);
  assert.equal(duration().check(250, "d"), 250);
  assert.equal(rate().check("1MiB/s", "r"), 1048576);
  assertConfigError(
    () => bytes().check("big", "limits.stanza_size"),
    "limits.stanza_size",
    'limits.stanza_size: expected a size like "256KiB", got "big"',
  );
  assertConfigError(
    () => bytes({ min: 1 }).check(0, "limits.send_buffer"),
    "limits.send_buffer",
    "limits.send_buffer: expected a size >= 1B, got 0",
  );
  assertConfigError(
    () => bytes({ min: 1024, max: 1048576 }).check("2MiB", "s"),
    "s",
    's: expected a size from 1KiB to 1MiB, got "2MiB"',
  );
  assertConfigError(
    () => bytes().check("-1KiB", "s"),
    "s",
    's: expected a size like "256KiB", got "-1KiB"',
  );
  assertConfigError(
    () => bytes().check(true, "s"),
    "s",
    's: expected a size like "256KiB", got true',
  );
  assertConfigError(
    () => duration().check("5 minutes", "timeouts.idle"),
    "timeouts.idle",
    'timeouts.idle: expected a duration like "30s", got "5 minutes"',
  );
  assertConfigError(
    () => duration({ min: 1 }).check("0ms", "t"),
    "t",
    't: expected a duration >= 1ms, got "0ms"',
  );
  assertConfigError(
    () => duration({ max: 60_000 }).check("2m", "t"),
    "t",
    't: expected a duration <= 1m, got "2m"',
  );
  assertConfigError(
    () => rate().check("fast", "limits.bandwidth.rate"),
    "limits.bandwidth.rate",
    'limits.bandwidth.rate: expected a rate like "10KiB/s", got "fast"',
  );
  assertConfigError(
    () => rate({ min: 1024 }).check("1000B/s", "r"),
    "r",
    'r: expected a rate >= 1KiB/s, got "1000B/s"',
  );
  const error = assertConfigError(
    () => bytes().check("fast", "s"),
    "s",
    's: expected a size like "256KiB", got "fast"',
  );
  assert.ok(error.cause instanceof SyntaxError);
  assertType<Equals<InferInput<ReturnType<typeof bytes>>, string | number>>(true);
});

Deno.test("listOf() validates every item, names its index and checks length", () => {
  const ports = listOf(int({ min: 0, max: 65535 }));
  assert.deepEqual(ports.check([], "p"), []);
  assert.deepEqual(ports.check([1, 2], "p"), [1, 2]);
  assertConfigError(
    () => ports.check([1, 70000], "ports"),
    "ports[1]",
    "ports[1]: expected an integer from 0 to 65535, got 70000",
  );
  assertConfigError(() => ports.check(5222, "ports"), "ports", "ports: expected a list, got 5222");
  assertConfigError(
    () => listOf(int(), { min: 1 }).check([], "l"),
    "l",
    "l: expected a list of at least 1 item, got an empty list",
  );
  assertConfigError(
    () => listOf(int(), { max: 2 }).check([1, 2, 3], "l"),
    "l",
    "l: expected a list of at most 2 items, got a list of 3 items",
  );
  assertConfigError(
    () => listOf(int(), { min: 1, max: 2 }).check([], "l"),
    "l",
    "l: expected a list of 1 to 2 items, got an empty list",
  );
  assertConfigError(
    () => listOf(str(), { unique: true }).check(["a", "b", "a"], "auth.mechanisms"),
    "auth.mechanisms[2]",
    "auth.mechanisms[2]: duplicates auth.mechanisms[0]",
  );
  assertConfigError(
    () => listOf(cidr(), { unique: true }).check(["::1", "0:0:0:0:0:0:0:1/128"], "ips"),
    "ips[1]",
    "ips[1]: duplicates ips[0]",
  );
});

Deno.test("listOrSingle() wraps a single value in a list", () => {
  const types = listOrSingle(str({ minLength: 1 }), { min: 1 });
  assert.deepEqual(types.check("chat", "t"), ["chat"]);
  assert.deepEqual(types.check(["chat", "normal"], "t"), ["chat", "normal"]);
  assertConfigError(
    () => types.check("", "rule.type"),
    "rule.type",
    'rule.type: expected a non-empty string, got ""',
  );
  assertConfigError(
    () => types.check(["chat", 5], "rule.type"),
    "rule.type[1]",
    "rule.type[1]: expected a non-empty string, got 5",
  );
  assertConfigError(
    () => types.check([], "rule.type"),
    "rule.type",
    "rule.type: expected a non-empty string or a list of at least 1 item of them, got an empty list",
  );
  assertType<Equals<Infer<typeof types>, string[]>>(true);
});

Deno.test("object() fills defaults, omits optional keys and types its output", () => {
  const shape = object({
    host: str(),
    port: int({ min: 0, max: 65535 }),
    idle: duration(),
    note: optional(str()),
  }, { defaults: { port: 5222, idle: "10m" } });
  assert.deepEqual(shape.check({ host: "h" }, "l"), { host: "h", port: 5222, idle: 600_000 });
  assert.deepEqual(shape.check({ host: "h", port: 1, idle: 5, note: "n" }, "l"), {
    host: "h",
    port: 1,
    idle: 5,
    note: "n",
  });
  assert.ok(!("note" in shape.check({ host: "h" }, "l")));
  assert.equal(shape.omittable, false);
  assertConfigError(
    () => shape.check({}, "listen[0]"),
    "listen[0].host",
    "listen[0].host: missing required key, expected a string",
  );
  assertConfigError(
    () => shape.check(undefined, "listen[0]"),
    "listen[0]",
    "listen[0]: missing required key, expected a mapping",
  );
  type Out = Infer<typeof shape>;
  type In = InferInput<typeof shape>;
  assertType<Equals<Out, { host: string; port: number; idle: number; note?: string }>>(true);
  assertType<
    Equals<In, { host: string; port?: number; idle?: string | number; note?: string }>
  >(true);
});

Deno.test("object() rejects unknown keys with their path and a hint", () => {
  const auth = object({ allow_plain_without_tls: bool(), mechanisms: listOf(str()) }, {
    defaults: { allow_plain_without_tls: false, mechanisms: [] },
  });
  assertConfigError(
    () => auth.check({ allowPlainWithoutTls: true }, "auth"),
    "auth.allowPlainWithoutTls",
    'auth.allowPlainWithoutTls: unknown key, did you mean "allow_plain_without_tls"?',
  );
  assertConfigError(
    () => auth.check({ mechanism: [] }, "auth"),
    "auth.mechanism",
    'auth.mechanism: unknown key, did you mean "mechanisms"?',
  );
  assertConfigError(
    () => auth.check({ users: [] }, "auth"),
    "auth.users",
    'auth.users: unknown key, expected one of "allow_plain_without_tls", "mechanisms"',
  );
  assertConfigError(
    () => auth.check({ "a b": 1 }, "auth"),
    'auth["a b"]',
    'auth["a b"]: unknown key, expected one of "allow_plain_without_tls", "mechanisms"',
  );
  assertConfigError(
    () => auth.check(JSON.parse('{"__proto__": {"x": 1}}'), "auth"),
    "auth.__proto__",
    'auth.__proto__: unknown key, expected one of "allow_plain_without_tls", "mechanisms"',
  );
});

Deno.test("object() refuses values that are not plain mappings", () => {
  const o = object({ a: optional(int()) });
  assert.deepEqual(o.check(Object.create(null), "o"), {});
  assertConfigError(() => o.check([], "o"), "o", "o: expected a mapping, got an empty list");
  assertConfigError(() => o.check(null, "o"), "o", "o: expected a mapping, got null");
  assertConfigError(() => o.check("a", "o"), "o", 'o: expected a mapping, got "a"');
  assertConfigError(
    () => o.check(new Map(), "o"),
    "o",
    "o: expected a mapping, got an object of type Map",
  );
});

Deno.test("object() reads a missing nested object as {} when all its keys have defaults", () => {
  const inner = object({ a: int(), b: optional(int()) }, { defaults: { a: 1 } });
  const outer = object({ inner });
  assert.equal(inner.omittable, true);
  assert.equal(outer.omittable, true);
  assert.deepEqual(outer.check(undefined, ""), { inner: { a: 1 } });
  assert.deepEqual(outer.check({ inner: { b: 2 } }, ""), { inner: { a: 1, b: 2 } });
  assertType<Equals<InferInput<typeof outer>, { inner?: { a?: number; b?: number } }>>(true);
});

Deno.test("object() gives every result its own copy of a default", () => {
  const o = object({ list: listOf(int()) }, { defaults: { list: [1] } });
  const first = o.check({}, "");
  first.list.push(2);
  assert.deepEqual(o.check({}, "").list, [1]);
});

Deno.test("object() validates defaults when it is created", () => {
  assert.throws(() => object({ a: int() }, { defaults: { b: 1 } as never }), {
    name: "TypeError",
    message: 'Cannot create object validator: default for unknown key "b"',
  });
  assert.throws(() => object({ a: int({ min: 5 }) }, { defaults: { a: 1 } }), {
    name: "TypeError",
    message:
      'Cannot create object validator: default for "a" is invalid: a: expected an integer >= 5, got 1',
  });
});

Deno.test("mapOf() keeps the written order and checks names and values", () => {
  const classes = mapOf(object({ n: int() }));
  const out = classes.check({ zeta: { n: 1 }, alpha: { n: 2 } }, "limits.classes");
  assert.deepEqual(Object.keys(out), ["zeta", "alpha"]);
  assert.deepEqual(out.alpha, { n: 2 });
  assertConfigError(
    () => classes.check({ alpha: { n: "x" } }, "limits.classes"),
    "limits.classes.alpha.n",
    'limits.classes.alpha.n: expected an integer, got "x"',
  );
  for (const name of ["10", "_x", "a b", "__proto__"]) {
    const input = JSON.parse(`{${JSON.stringify(name)}: {"n": 1}}`);
    assertConfigError(
      () => classes.check(input, "limits.classes"),
      childPath("limits.classes", name),
      `${
        childPath("limits.classes", name)
      }: invalid name, expected a name of letters, digits, "_" or "-" starting with a letter`,
    );
  }
  assertConfigError(
    () => classes.check([], "limits.classes"),
    "limits.classes",
    "limits.classes: expected a mapping, got an empty list",
  );
});

Deno.test("optional() leaves a missing value missing and checks a present one", () => {
  const v = optional(int());
  assert.equal(v.check(undefined, "x"), undefined);
  assert.equal(v.check(3, "x"), 3);
  assertConfigError(() => v.check("3", "x"), "x", 'x: expected an integer, got "3"');
  assertConfigError(() => v.check(null, "x"), "x", "x: expected an integer, got null");
});

Deno.test("oneOf() reports the alternative that failed deepest, else all alternatives", () => {
  const limit = oneOf(int({ min: 1 }), object({ max: int({ min: 1 }) }));
  assert.equal(limit.check(5, "l"), 5);
  assert.deepEqual(limit.check({ max: 5 }, "l"), { max: 5 });
  assertConfigError(
    () => limit.check({ max: 0 }, "limits.connections_per_ip"),
    "limits.connections_per_ip.max",
    "limits.connections_per_ip.max: expected an integer >= 1, got 0",
  );
  assertConfigError(
    () => limit.check("x", "limits.connections_per_ip"),
    "limits.connections_per_ip",
    'limits.connections_per_ip: expected an integer >= 1 or a mapping, got "x"',
  );
  assertConfigError(
    () => limit.check(undefined, "l"),
    "l",
    "l: missing required key, expected an integer >= 1 or a mapping",
  );
  const withDefault = oneOf(int(), object({ max: int() }, { defaults: { max: 3 } }));
  assert.deepEqual(withDefault.check(undefined, "l"), { max: 3 });
});

Deno.test("taggedUnion() picks the variant by its tag", () => {
  const storage = taggedUnion("type", {
    memory: object({ type: enumOf(["memory"]) }),
    sqlite: object({ type: enumOf(["sqlite"]), path: str() }, {
      defaults: { type: "sqlite", path: "x.db" },
    }),
  }, { defaultTag: "sqlite" });
  assert.deepEqual(storage.check(undefined, "storage"), { type: "sqlite", path: "x.db" });
  assert.deepEqual(storage.check({ path: "y.db" }, "storage"), { type: "sqlite", path: "y.db" });
  assert.deepEqual(storage.check({ type: "memory" }, "storage"), { type: "memory" });
  assertConfigError(
    () => storage.check({ type: "memory", path: "x" }, "storage"),
    "storage.path",
    'storage.path: unknown key, expected one of "type"',
  );
  assertConfigError(
    () => storage.check({ type: "postgres" }, "storage"),
    "storage.type",
    'storage.type: expected one of "memory", "sqlite", got "postgres"',
  );
  assertConfigError(
    () => storage.check({ type: "toString" }, "storage"),
    "storage.type",
    'storage.type: expected one of "memory", "sqlite", got "toString"',
  );
  assertConfigError(
    () => storage.check("memory", "storage"),
    "storage",
    'storage: expected a mapping, got "memory"',
  );
  const noDefault = taggedUnion("kind", { a: object({ kind: enumOf(["a"]) }) });
  assertConfigError(
    () => noDefault.check({}, "x"),
    "x.kind",
    'x.kind: missing required key, expected one of "a"',
  );
  assertType<
    Equals<Infer<typeof storage>, { type: "memory" } | { type: "sqlite"; path: string }>
  >(true);
});

Deno.test("cidr() accepts networks and single addresses in canonical form", () => {
  const cases: [string, string][] = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["192.168.1.7", "192.168.1.7/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["::1", "::1/128"],
    ["::/0", "::/0"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"],
    ["2001:db8:1:1:1:1:1:0", "2001:db8:1:1:1:1:1:0/128"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1/128"],
    ["fe80::/10", "fe80::/10"],
  ];
  for (const [input, expected] of cases) assert.equal(cidr().check(input, "ip"), expected, input);
});

Deno.test("cidr() rejects malformed addresses, prefixes and set host bits", () => {
  const expected = 'an IP address or CIDR like "10.0.0.0/8" or "2001:db8::/32"';
  for (
    const bad of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0/8",
      "256.0.0.1",
      "010.0.0.1",
      "1.2.3.4/08",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "fe80::1%eth0",
      "12345::",
      "localhost",
      "10.0.0.0/",
      "",
    ]
  ) {
    assertConfigError(
      () => cidr().check(bad, "limits.exempt.ips[0]"),
      "limits.exempt.ips[0]",
      `limits.exempt.ips[0]: expected ${expected}, got ${JSON.stringify(bad)}`,
    );
  }
  assertConfigError(
    () => cidr().check("192.168.1.7/24", "ips[0]"),
    "ips[0]",
    'ips[0]: host bits set after the /24 prefix in "192.168.1.7/24", did you mean "192.168.1.0/24"?',
  );
  assertConfigError(
    () => cidr().check("2001:db8::1/32", "ips[0]"),
    "ips[0]",
    'ips[0]: host bits set after the /32 prefix in "2001:db8::1/32", did you mean "2001:db8::/32"?',
  );
  assertConfigError(
    () => cidr().check(10, "ips[0]"),
    "ips[0]",
    `ips[0]: expected ${expected}, got 10`,
  );
});

Deno.test("canonicalIp() and isHost() recognise addresses and host names", () => {
  assert.equal(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalIp("2001:db8:0:0:1::1"), "2001:db8::1:0:0:1");
  assert.equal(canonicalIp("1.2.3.4"), "1.2.3.4");
  assert.equal(canonicalIp("1.2.3.4/8"), undefined);
  assert.equal(canonicalIp("example.org"), undefined);
  for (
    const host of ["localhost", "xmpp.example.org", "127.0.0.1", "::", "bücher.example", "a-b.c"]
  ) {
    assert.ok(isHost(host), host);
  }
  for (
    const host of ["", "-a.org", "a..org", "exa mple", "a_b.org", `${"a".repeat(64)}.org`, "[::1]"]
  ) {
    assert.ok(!isHost(host), host);
  }
});

Deno.test("hostPort() splits host and port, with IPv6 in brackets", () => {
  assert.deepEqual(hostPort().check("127.0.0.1:5222", "a"), { host: "127.0.0.1", port: 5222 });
  assert.deepEqual(hostPort().check("[2001:DB8::1]:0", "a"), { host: "2001:db8::1", port: 0 });
  assert.deepEqual(hostPort().check("example.org:65535", "a"), {
    host: "example.org",
    port: 65535,
  });
  const expected = 'a "host:port" pair like "127.0.0.1:5222" or "[::1]:5222"';
  for (
    const bad of [
      "example.org",
      "::1:5222",
      "[::1]",
      "h:65536",
      "h:05",
      "[1.2.3.4]:1",
      "a b:1",
      ":1",
    ]
  ) {
    assertConfigError(
      () => hostPort().check(bad, "to"),
      "to",
      `to: expected ${expected}, got ${JSON.stringify(bad)}`,
    );
  }
});

Deno.test('limitOrUnlimited() maps "unlimited" and null to null and says so when refusing', () => {
  const size = limitOrUnlimited(bytes({ min: 1 }));
  assert.equal(size.check("unlimited", "s"), null);
  assert.equal(size.check(null, "s"), null);
  assert.equal(size.check("1KiB", "s"), 1024);
  assertConfigError(
    () => size.check("lots", "limits.stanza_size"),
    "limits.stanza_size",
    'limits.stanza_size: expected a size like "256KiB" or "unlimited", got "lots"',
  );
  assertConfigError(
    () => size.check(0, "limits.stanza_size"),
    "limits.stanza_size",
    'limits.stanza_size: expected a size >= 1B or "unlimited", got 0',
  );
  assertConfigError(
    () => size.check("Unlimited", "s"),
    "s",
    's: expected a size like "256KiB" or "unlimited", got "Unlimited"',
  );
  assertConfigError(
    () => size.check(undefined, "s"),
    "s",
    's: missing required key, expected a size like "256KiB" >= 1B or "unlimited"',
  );
  const limit = limitOrUnlimited(object({ max: int() }));
  assertConfigError(
    () => limit.check({ max: "x" }, "l"),
    "l.max",
    'l.max: expected an integer, got "x"',
  );
  assertType<Equals<Infer<typeof size>, number | null>>(true);
  assertType<Equals<InferInput<typeof size>, string | number | null>>(true);
});

Deno.test("refine() adds a check at the same path or a nested one", () => {
  const pair = refine(
    object({ a: optional(str()), b: optional(str()) }),
    (value, path) => {
      if (value.a !== undefined && value.b === undefined) {
        throw new ConfigError(childPath(path, "b"), "required when a is set");
      }
      return Object.keys(value).length === 0 ? "expected a or b" : undefined;
    },
  );
  assert.deepEqual(pair.check({ a: "x", b: "y" }, "p"), { a: "x", b: "y" });
  assertConfigError(() => pair.check({}, "p"), "p", "p: expected a or b");
  assertConfigError(() => pair.check({ a: "x" }, "p"), "p.b", "p.b: required when a is set");
  assertConfigError(
    () => pair.check({ c: 1 }, "p"),
    "p.c",
    'p.c: unknown key, expected one of "a", "b"',
  );
});

Deno.test("transform() converts the validated value and keeps the input type", () => {
  const lower = transform(str({ minLength: 1 }), (s) => s.toLowerCase());
  assert.equal(lower.check("ABC", "x"), "abc");
  assertConfigError(() => lower.check("", "x"), "x", 'x: expected a non-empty string, got ""');
  const withPath = transform(int(), (n, path) => `${path}=${n}`);
  assert.equal(withPath.check(3, "k"), "k=3");
  assertType<Equals<Infer<typeof withPath>, string>>(true);
  assertType<Equals<InferInput<typeof withPath>, number>>(true);
});

Deno.test("a validator written by hand composes with the combinators", () => {
  const even: Validator<number> = {
    expected: "an even integer",
    omittable: false,
    check(value: unknown, path: string): number {
      if (typeof value !== "number" || value % 2 !== 0) {
        throw new ConfigError(path, `expected an even integer, got ${value}`);
      }
      return value;
    },
  };
  const o = object({ items: listOf(even) });
  assert.deepEqual(o.check({ items: [2, 4] }, "cfg"), { items: [2, 4] });
  assertConfigError(
    () => o.check({ items: [2, 3] }, "cfg"),
    "cfg.items[1]",
    "cfg.items[1]: expected an even integer, got 3",
  );
});
