import assert from "node:assert/strict";
import {
  formatBytes,
  formatDuration,
  formatRate,
  parseBytes,
  parseDuration,
  parseRate,
} from "../../src/config/units.ts";

Deno.test("parseBytes() reads every unit with the right base", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["1000", 1000],
    ["1000B", 1000],
    ["1 B", 1],
    ["1kB", 1000],
    ["1KB", 1000],
    ["2MB", 2_000_000],
    ["3GB", 3_000_000_000],
    ["1TB", 1e12],
    ["1KiB", 1024],
    ["256KiB", 262144],
    ["8 KiB", 8192],
    ["1MiB", 1048576],
    ["2GiB", 2147483648],
    ["1TiB", 1024 ** 4],
    ["  64KiB  ", 65536],
    ["1.5KiB", 1536],
    ["0.5MiB", 524288],
    ["1.25KB", 1250],
    ["+4KiB", 4096],
  ];
  for (const [text, expected] of cases) assert.equal(parseBytes(text), expected, text);
});

Deno.test("parseBytes() takes a number as bytes", () => {
  assert.equal(parseBytes(1000), 1000);
  assert.equal(parseBytes(0), 0);
  assert.ok(Object.is(parseBytes(-0), 0));
});

Deno.test("parseBytes() quotes unparsable text in a SyntaxError", () => {
  const hint =
    'expected a number with an optional unit (B, kB, KB, MB, GB, TB, KiB, MiB, GiB, TiB) like "256KiB"';
  for (const text of ["fast", "", "10 kib", "1.5.5KiB", "KiB", "1e3", "10 KiB/s", "0x10"]) {
    assert.throws(() => parseBytes(text), {
      name: "SyntaxError",
      message: `Cannot parse byte size ${JSON.stringify(text)}: ${hint}`,
    });
  }
});

Deno.test("parseBytes() rejects negative, fractional and unsafe sizes with a RangeError", () => {
  assert.throws(() => parseBytes("-1KiB"), {
    name: "RangeError",
    message: 'Cannot use byte size "-1KiB": must not be negative',
  });
  assert.throws(() => parseBytes("0.5B"), {
    name: "RangeError",
    message: 'Cannot use byte size "0.5B": must be a whole number of bytes',
  });
  assert.throws(() => parseBytes("9999999TiB"), {
    name: "RangeError",
    message: 'Cannot use byte size "9999999TiB": exceeds 9007199254740991',
  });
  assert.throws(() => parseBytes(1.5), {
    name: "RangeError",
    message: "Cannot use byte size 1.5: must be a whole number of bytes",
  });
  for (const n of [-1, NaN, Infinity]) {
    assert.throws(() => parseBytes(n), {
      name: "RangeError",
      message: `Cannot use byte size ${n}: must be a finite number that is not negative`,
    });
  }
  assert.equal(parseBytes("-0KiB"), 0);
});

Deno.test("parseBytes() rejects a value that is neither text nor number with a TypeError", () => {
  assert.throws(() => parseBytes(true as unknown as string), {
    name: "TypeError",
    message: "Cannot parse byte size: expected a string or a number, got boolean",
  });
});

Deno.test("parseDuration() reads every unit", () => {
  const cases: [string | number, number][] = [
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1.5s", 1500],
    [" 10 m ", 600_000],
    ["0s", 0],
    [1500, 1500],
    [0, 0],
  ];
  for (const [input, expected] of cases) {
    assert.equal(parseDuration(input), expected, String(input));
  }
});

Deno.test("parseDuration() needs a unit in text and quotes what it cannot parse", () => {
  const hint = 'expected a number with a unit (ms, s, m, h, d) like "30s"';
  for (const text of ["30", "5 minutes", "1h30m", "soon", "", "5M", "1w"]) {
    assert.throws(() => parseDuration(text), {
      name: "SyntaxError",
      message: `Cannot parse duration ${JSON.stringify(text)}: ${hint}`,
    });
  }
});

Deno.test("parseDuration() rejects negative and sub-millisecond durations", () => {
  assert.throws(() => parseDuration("-5s"), {
    name: "RangeError",
    message: 'Cannot use duration "-5s": must not be negative',
  });
  assert.throws(() => parseDuration("0.5ms"), {
    name: "RangeError",
    message: 'Cannot use duration "0.5ms": must be a whole number of milliseconds',
  });
  assert.throws(() => parseDuration(-1), {
    name: "RangeError",
    message: "Cannot use duration -1: must be a finite number that is not negative",
  });
});

Deno.test("parseRate() reads a byte size per second", () => {
  assert.equal(parseRate("10KiB/s"), 10240);
  assert.equal(parseRate("1 MB/s"), 1_000_000);
  assert.equal(parseRate("3000/s"), 3000);
  assert.equal(parseRate("10KiB / s"), 10240);
  assert.equal(parseRate(3000), 3000);
});

Deno.test("parseRate() quotes the whole text when it cannot be parsed", () => {
  for (const text of ["10KiB", "fast", "fast/s", "10KiB/m", "/s", "10 kib/s"]) {
    assert.throws(() => parseRate(text), {
      name: "SyntaxError",
      message: `Cannot parse rate ${
        JSON.stringify(text)
      }: expected a byte size per second like "10KiB/s"`,
    });
  }
});

Deno.test("parseRate() rejects negative and fractional rates", () => {
  assert.throws(() => parseRate("-1KiB/s"), {
    name: "RangeError",
    message: 'Cannot use rate "-1KiB/s": must not be negative',
  });
  assert.throws(() => parseRate("0.5B/s"), {
    name: "RangeError",
    message: 'Cannot use rate "0.5B/s": must be a whole number of bytes',
  });
  assert.throws(() => parseRate(-5), {
    name: "RangeError",
    message: "Cannot use rate -5: must be a finite number that is not negative",
  });
});

Deno.test("formatBytes(), formatDuration() and formatRate() use the largest exact unit", () => {
  assert.equal(formatBytes(0), "0B");
  assert.equal(formatBytes(1000), "1000B");
  assert.equal(formatBytes(1536), "1536B");
  assert.equal(formatBytes(8192), "8KiB");
  assert.equal(formatBytes(1048576), "1MiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3GiB");
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(1500), "1500ms");
  assert.equal(formatDuration(30_000), "30s");
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(300_000), "5m");
  assert.equal(formatDuration(7_200_000), "2h");
  assert.equal(formatDuration(86_400_000), "1d");
  assert.equal(formatRate(10240), "10KiB/s");
  assert.equal(formatRate(3000), "3000B/s");
});

Deno.test("format functions round-trip through the parsers", () => {
  for (const n of [0, 1, 999, 1024, 1536, 262144, 1048576, 5 * 1024 ** 3]) {
    assert.equal(parseBytes(formatBytes(n)), n);
    assert.equal(parseRate(formatRate(n)), n);
  }
  for (const ms of [0, 1, 999, 1000, 90_000, 300_000, 3_600_000, 86_400_000, 90_061_001]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});
