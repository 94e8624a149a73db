import assert from "node:assert/strict";
import { CidrSet, formatIp, ipKey, parseIp } from "../../src/limits/ip.ts";

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("parseIp() reads dotted-quad IPv4", () => {
  assert.deepEqual(parseIp("192.0.2.1"), { family: 4, bytes: Uint8Array.of(192, 0, 2, 1) });
  assert.deepEqual([...parseIp("0.0.0.0").bytes], [0, 0, 0, 0]);
  assert.deepEqual([...parseIp("255.255.255.255").bytes], [255, 255, 255, 255]);
  assert.deepEqual([...parseIp("10.0.100.9").bytes], [10, 0, 100, 9]);
});

Deno.test("parseIp() reads every textual form of IPv6", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:DB8:0:0:0:0:0:1", "20010db8000000000000000000000001"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["1:2::7:8", "00010002000000000000000000070008"],
    ["::ffff:10.0.0.1", "00000000000000000000ffff0a000001"],
    ["::FFFF:10.0.0.1", "00000000000000000000ffff0a000001"],
    ["::10.0.0.1", "0000000000000000000000000a000001"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["1::5:6:1.2.3.4", "00010000000000000005000601020304"],
    ["fe80::1%eth0", "fe800000000000000000000000000001"],
    ["fe80::1%25", "fe800000000000000000000000000001"],
  ];
  for (const [text, expected] of cases) {
    const ip = parseIp(text);
    assert.equal(ip.family, 6, text);
    assert.equal(hex(ip.bytes), expected, text);
  }
});

Deno.test("parseIp() refuses text that is not an address with a SyntaxError", () => {
  const invalid = [
    "",
    " ",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.256",
    "01.2.3.4",
    "1.02.3.4",
    "1..2.3",
    ".1.2.3",
    "1.2.3.",
    "1.2.3.-4",
    "a.b.c.d",
    " 1.2.3.4",
    "1.2.3.4 ",
    "127.1",
    "1.2.3.4%eth0",
    "1.2.3.4/32",
    ":",
    ":::",
    ":1::",
    "1::2:",
    "1:",
    "1::2::3",
    "12345::",
    "g::1",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7",
    "::1.2.3",
    "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::ffff:256.1.1.1",
    "::ffff:01.1.1.1",
    "1.2.3.4::",
    "fe80::1%",
    "[::1]",
    "::1 ",
    "2001:db8::/32",
  ];
  for (const text of invalid) {
    assert.throws(
      () => parseIp(text),
      (error: unknown) =>
        error instanceof SyntaxError && error.message === `Cannot parse IP address: "${text}"`,
      JSON.stringify(text),
    );
  }
});

Deno.test("formatIp() writes RFC 5952 canonical text", () => {
  const cases: [string, string][] = [
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // equal runs: the first is compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run is compressed
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:0:0:0:0:0:0:8", "1::8"],
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1"],
    ["::FFFF:a00:1", "::ffff:10.0.0.1"],
    ["::10.0.0.1", "::a00:1"],
    ["fe80::1%eth0", "fe80::1"],
    ["192.0.2.1", "192.0.2.1"],
  ];
  for (const [text, expected] of cases) assert.equal(formatIp(parseIp(text)), expected, text);
});

Deno.test("formatIp() rejects bytes that do not match the family", () => {
  assert.throws(
    () => formatIp({ family: 4, bytes: new Uint8Array(16) }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === "Cannot format IP address: family 4 needs 4 bytes, got 16",
  );
  assert.throws(() => formatIp({ family: 6, bytes: new Uint8Array(4) }), TypeError);
});

Deno.test("ipKey() groups IPv6 by /64 and keeps IPv4 whole by default", () => {
  assert.equal(ipKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(ipKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(ipKey("2001:db8::1"), "2001:db8::/64");
  assert.equal(ipKey("::1"), "::/64");
  assert.equal(ipKey("192.0.2.1"), "192.0.2.1");
  assert.equal(ipKey("fe80::1%eth0"), "fe80::/64");
});

Deno.test("ipKey() gives every textual form of an address the same key", () => {
  const forms = [
    "2001:db8:0:0:0:0:0:1",
    "2001:DB8::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "2001:db8::0:1",
    "2001:db8::1%eth0",
  ];
  for (const form of forms) assert.equal(ipKey(form, { ipv6Prefix: 128 }), "2001:db8::1", form);
});

Deno.test("ipKey() treats IPv4-mapped IPv6 as IPv4", () => {
  assert.equal(ipKey("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(ipKey("::ffff:a00:1"), "10.0.0.1");
  assert.equal(ipKey("::FFFF:10.0.0.1", { ipv4Prefix: 24 }), "10.0.0.0/24");
  // Only ::ffff:0:0/96 is mapped; NAT64 and the deprecated compatible form stay IPv6.
  assert.equal(ipKey("64:ff9b::10.0.0.1", { ipv6Prefix: 128 }), "64:ff9b::a00:1");
  assert.equal(ipKey("::10.0.0.1", { ipv6Prefix: 128 }), "::a00:1");
});

Deno.test("ipKey() masks to any prefix length", () => {
  assert.equal(ipKey("2001:db8:1:2345::1", { ipv6Prefix: 60 }), "2001:db8:1:2340::/60");
  assert.equal(ipKey("2001:db8:abcd:2345::1", { ipv6Prefix: 48 }), "2001:db8:abcd::/48");
  assert.equal(ipKey("2001:db8:abcd:2345::1", { ipv6Prefix: 1 }), "::/1");
  assert.equal(ipKey("ffff:db8:abcd:2345::1", { ipv6Prefix: 1 }), "8000::/1");
  assert.equal(ipKey("2001:db8::1", { ipv6Prefix: 0 }), "::/0");
  assert.equal(ipKey("2001:db8::1", { ipv6Prefix: 127 }), "2001:db8::/127");
  assert.equal(ipKey("192.0.2.255", { ipv4Prefix: 24 }), "192.0.2.0/24");
  assert.equal(ipKey("192.0.2.255", { ipv4Prefix: 31 }), "192.0.2.254/31");
  assert.equal(ipKey("192.0.2.255", { ipv4Prefix: 1 }), "128.0.0.0/1");
  assert.equal(ipKey("192.0.2.255", { ipv4Prefix: 0 }), "0.0.0.0/0");
  assert.equal(ipKey("255.255.255.255", { ipv4Prefix: 32 }), "255.255.255.255");
});

Deno.test("ipKey() keys of IPv4 and IPv6 never collide", () => {
  const keys = new Set([
    ipKey("0.0.0.0", { ipv4Prefix: 0 }),
    ipKey("::", { ipv6Prefix: 0 }),
    ipKey("10.0.0.1"),
    ipKey("::a00:1", { ipv6Prefix: 128 }),
    ipKey("10.0.0.1", { ipv4Prefix: 24 }),
    ipKey("10.0.0.1", { ipv4Prefix: 16 }),
  ]);
  assert.equal(keys.size, 6);
});

Deno.test("ipKey() rejects invalid addresses and prefixes", () => {
  assert.throws(
    () => ipKey("not-an-ip"),
    (error: unknown) =>
      error instanceof SyntaxError && error.message === 'Cannot parse IP address: "not-an-ip"',
  );
  assert.throws(
    () => ipKey("::1", { ipv6Prefix: 129 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot compute IP key: 'ipv6Prefix' must be an integer from 0 to 128, got 129",
  );
  assert.throws(
    () => ipKey("10.0.0.1", { ipv4Prefix: 33 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot compute IP key: 'ipv4Prefix' must be an integer from 0 to 32, got 33",
  );
  assert.throws(() => ipKey("10.0.0.1", { ipv4Prefix: 8.5 }), RangeError);
  assert.throws(() => ipKey("10.0.0.1", { ipv6Prefix: -1 }), RangeError);
  assert.throws(() => ipKey("10.0.0.1", { ipv6Prefix: NaN }), RangeError);
});

Deno.test("CidrSet.has() matches IPv4 blocks at their edges", () => {
  const set = new CidrSet(["10.0.0.0/8", "192.168.1.0/24", "203.0.113.7"]);
  assert.equal(set.has("10.0.0.0"), true);
  assert.equal(set.has("10.255.255.255"), true);
  assert.equal(set.has("9.255.255.255"), false);
  assert.equal(set.has("11.0.0.0"), false);
  assert.equal(set.has("192.168.1.77"), true);
  assert.equal(set.has("192.168.2.1"), false);
  assert.equal(set.has("203.0.113.7"), true);
  assert.equal(set.has("203.0.113.8"), false);
  assert.equal(set.has("2001:db8::1"), false);
});

Deno.test("CidrSet.has() matches IPv6 blocks, whatever the textual form", () => {
  const set = new CidrSet(["2001:db8::/32", "::1", "fe80::/10", "2001:db8:ffff:fff0::/60"]);
  assert.equal(set.has("2001:db8::1"), true);
  assert.equal(set.has("2001:0DB8:ffff:ffff:ffff:ffff:ffff:ffff"), true);
  assert.equal(set.has("2001:db9::"), false);
  assert.equal(set.has("::1"), true);
  assert.equal(set.has("0:0:0:0:0:0:0:1"), true);
  assert.equal(set.has("::2"), false);
  assert.equal(set.has("fe80::1%eth0"), true);
  assert.equal(set.has("febf:ffff::1"), true);
  assert.equal(set.has("fec0::1"), false);
  assert.equal(set.has("127.0.0.1"), false);
});

Deno.test("CidrSet treats IPv4-mapped addresses and blocks as IPv4", () => {
  const set = new CidrSet(["127.0.0.0/8", "::ffff:10.0.0.0/104"]);
  assert.equal(set.has("::ffff:127.0.0.1"), true);
  assert.equal(set.has("::ffff:7f00:1"), true);
  assert.equal(set.has("10.1.2.3"), true);
  assert.equal(set.has("::ffff:10.1.2.3"), true);
  assert.equal(set.has("11.1.2.3"), false);
  assert.equal(set.has("::127.0.0.1"), false); // not mapped
});

Deno.test("CidrSet: an IPv6 block covering ::ffff:0:0/96 covers all IPv4", () => {
  const all = new CidrSet(["::/0"]);
  assert.equal(all.has("2001:db8::1"), true);
  assert.equal(all.has("192.0.2.1"), true);
  const mappedRange = new CidrSet(["::ffff:0:0/96"]);
  assert.equal(mappedRange.has("192.0.2.1"), true);
  assert.equal(mappedRange.has("::1"), false);
  const notCovering = new CidrSet(["2000::/3"]);
  assert.equal(notCovering.has("192.0.2.1"), false);
  const allIpv4 = new CidrSet(["0.0.0.0/0"]);
  assert.equal(allIpv4.has("255.255.255.255"), true);
  assert.equal(allIpv4.has("::ffff:1.1.1.1"), true);
  assert.equal(allIpv4.has("::1"), false);
});

Deno.test("CidrSet ignores host bits and overlapping blocks in any order", () => {
  const set = new CidrSet(["192.0.2.77/24", "10.1.0.0/16", "10.0.0.0/8", "10.2.3.4"]);
  assert.equal(set.has("192.0.2.1"), true);
  assert.equal(set.has("10.9.9.9"), true);
  assert.equal(set.has("10.1.0.1"), true);
  assert.equal(set.has("10.2.3.5"), true);
});

Deno.test("CidrSet without blocks matches nothing; has() is false for non-addresses", () => {
  const empty = new CidrSet([]);
  assert.equal(empty.has("127.0.0.1"), false);
  assert.equal(empty.has("::"), false);
  const set = new CidrSet(["0.0.0.0/0", "::/0"]);
  for (const text of ["", "localhost", "1.2.3", "::1::", "[::1]", "10.0.0.1/8"]) {
    assert.equal(set.has(text), false, text);
  }
});

Deno.test("CidrSet() throws a TypeError naming an invalid entry", () => {
  const invalid = [
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/08",
    "10.0.0.0/-1",
    "10.0.0.0/8/8",
    "10.0.0.0 /8",
    "10.0.0/8",
    "::/129",
    "::/1000",
    "fe80::%eth0/64",
    "fe80::1%eth0",
    "localhost",
    "",
    "/8",
  ];
  for (const cidr of invalid) {
    assert.throws(
      () => new CidrSet(["127.0.0.1", cidr]),
      (error: unknown) => error instanceof TypeError && error.message === `Invalid CIDR: "${cidr}"`,
      cidr,
    );
  }
  assert.throws(
    () => new CidrSet([8 as unknown as string]),
    (error: unknown) => error instanceof TypeError && error.message === 'Invalid CIDR: "8"',
  );
  assert.equal(new CidrSet(["10.0.0.0/0", "::/128", "1.2.3.4/32"]).has("1.2.3.4"), true);
});

Deno.test("CidrSet.has() agrees with mask arithmetic on random IPv4 blocks", () => {
  let seed = 7;
  function random32(): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const high = seed & 0xffff;
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return ((high << 16) | (seed & 0xffff)) >>> 0;
  }
  function dotted(v: number): string {
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  function mask(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  }
  const blocks: [number, number][] = [];
  for (let i = 0; i < 40; i++) blocks.push([random32(), 8 + (random32() % 25)]);
  const set = new CidrSet(blocks.map(([v, p]) => `${dotted(v)}/${p}`));
  let hits = 0;
  for (let i = 0; i < 20_000; i++) {
    // Half the probes are near a block, so both answers occur often.
    const [base, prefix] = blocks[i % blocks.length] as [number, number];
    const probe = i % 2 === 0 ? random32() : (base ^ (random32() >>> (prefix - 2))) >>> 0;
    const expected = blocks.some(([v, p]) => ((probe & mask(p)) >>> 0) === ((v & mask(p)) >>> 0));
    assert.equal(set.has(dotted(probe)), expected, dotted(probe));
    if (expected) hits++;
  }
  assert.ok(hits > 2000 && hits < 18_000, `hits: ${hits}`);
});

Deno.test("parseIp() and formatIp() agree with the URL parser on random IPv6 forms", () => {
  let seed = 11;
  function random(n: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 8) % n;
  }
  for (let i = 0; i < 3000; i++) {
    // Groups with many zeros, so "::" runs of every length occur.
    const groups = Array.from({ length: 8 }, () => (random(3) === 0 ? random(0x10000) : 0));
    // Write it in a random valid form: leading zeros, case, and one "::" over a zero run.
    const parts = groups.map((g) => {
      const text = g.toString(16).padStart(1 + random(4), "0");
      return random(2) === 0 ? text.toUpperCase() : text;
    });
    let text = parts.join(":");
    const start = random(8);
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end > start) {
      text = `${parts.slice(0, start).join(":")}::${parts.slice(end).join(":")}`;
    }
    const ip = parseIp(text);
    assert.deepEqual(
      [...ip.bytes],
      groups.flatMap((g) => [g >>> 8, g & 255]),
      text,
    );
    const canonical = formatIp(ip);
    const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
    if (!mapped) assert.equal(canonical, new URL(`http://[${text}]/`).hostname.slice(1, -1), text);
    assert.equal(formatIp(parseIp(canonical)), canonical);
  }
});
