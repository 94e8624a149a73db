/**
 * IP addresses for per-address limits: parsing every textual form of IPv4 and
 * IPv6, a canonical key that groups IPv6 addresses by prefix, and a CIDR set
 * compiled once for allow and block lists.
 *
 * IPv4 is dotted-quad decimal only (`192.0.2.1`; no leading zeros, no shorthand
 * like `127.1`). IPv6 accepts 1 to 4 hex digits per group in any case, one
 * `::`, a trailing embedded IPv4 (`::ffff:192.0.2.1`, `64:ff9b::192.0.2.1`)
 * and a zone id (`fe80::1%eth0`), which is ignored. Brackets and ports are not
 * part of an address.
 *
 * @module
 */

/** A parsed IP address. */
export interface IpAddress {
  /** 4 for IPv4, 6 for IPv6 (including IPv4-mapped IPv6). */
  readonly family: 4 | 6;
  /** The address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

/** Options for {@linkcode ipKey}. */
export interface IpKeyOptions {
  /**
   * How many leading bits of an IPv6 address identify the client; one host
   * usually owns a whole /64, so keying by /64 stops address rotation.
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /**
   * How many leading bits of an IPv4 address (or IPv4-mapped IPv6 address)
   * identify the client.
   *
   * @default {32}
   */
  ipv4Prefix?: number;
}

const COLON = 58;
const DOT = 46;

/** Scratch for the allocation-free parser: eight 16-bit groups. */
const GROUPS = new Uint16Array(8);
/** Scratch for a masked copy of {@linkcode GROUPS}. */
const MASKED = new Uint16Array(8);

/** Parses `text[start, end)` as dotted-quad IPv4; returns the 32-bit value or -1. */
function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === DOT) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses `text[start, end)` as IPv6 into {@linkcode GROUPS}; returns success. */
function parseIpv6(text: string, start: number, end: number): boolean {
  let count = 0;
  let gap = -1;
  let i = start;
  if (end - start < 2) return false;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return false;
    let value = 0;
    let j = i;
    for (; j < end; j++) {
      const digit = hexValue(text.charCodeAt(j));
      if (digit < 0) break;
      value = value * 16 + digit;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // An embedded IPv4 address ends the text and fills the last two groups.
      if (count > 6) return false;
      const v4 = parseIpv4(text, i, end);
      if (v4 < 0) return false;
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      break;
    }
    const digits = j - i;
    if (digits === 0 || digits > 4) return false;
    GROUPS[count++] = value;
    if (j === end) break;
    if (text.charCodeAt(j) !== COLON) return false;
    j++;
    if (j === end) return false; // a single trailing colon
    if (text.charCodeAt(j) === COLON) {
      if (gap >= 0) return false; // a second "::"
      gap = count;
      j++;
    }
    i = j;
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false; // "::" stands for at least one group
  const tail = count - gap;
  for (let k = 0; k < tail; k++) GROUPS[7 - k] = GROUPS[count - 1 - k] as number;
  for (let k = gap; k < 8 - tail; k++) GROUPS[k] = 0;
  return true;
}

/**
 * Parses `text` into {@linkcode GROUPS} (IPv4 goes to the last two groups,
 * the rest zero) without allocating.
 *
 * @returns 4, 6, or 0 when `text` is not an address.
 */
function parseInto(text: string): 0 | 4 | 6 {
  let end = text.length;
  if (text.indexOf(":") >= 0) {
    const zone = text.indexOf("%");
    if (zone >= 0) {
      if (zone === end - 1) return 0; // an empty zone id
      end = zone;
    }
    return parseIpv6(text, 0, end) ? 6 : 0;
  }
  const v4 = parseIpv4(text, 0, end);
  if (v4 < 0) return 0;
  GROUPS.fill(0, 0, 6);
  GROUPS[6] = v4 >>> 16;
  GROUPS[7] = v4 & 0xffff;
  return 4;
}

/** Whether {@linkcode GROUPS} holds an IPv4-mapped address (`::ffff:0:0/96`). */
function groupsAreMapped(): boolean {
  return GROUPS[0] === 0 && GROUPS[1] === 0 && GROUPS[2] === 0 && GROUPS[3] === 0 &&
    GROUPS[4] === 0 && GROUPS[5] === 0xffff;
}

function groupsIpv4(): number {
  return (GROUPS[6] as number) * 0x10000 + (GROUPS[7] as number);
}

function maskIpv4(value: number, prefix: number): number {
  return prefix === 0 ? 0 : (value & (0xffffffff << (32 - prefix))) >>> 0;
}

function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest run of two or more zero groups as "::". */
function formatIpv6(groups: Uint16Array): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text.length > 0 && text.charCodeAt(text.length - 1) !== COLON) text += ":";
    text += (groups[i] as number).toString(16);
  }
  return text;
}

function maskGroups(prefix: number): void {
  for (let i = 0; i < 8; i++) {
    const bits = prefix - i * 16;
    const group = GROUPS[i] as number;
    MASKED[i] = bits >= 16 ? group : bits <= 0 ? 0 : group & (0xffff << (16 - bits));
  }
}

function checkPrefix(name: string, prefix: number, max: number): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new RangeError(
      `Cannot compute IP key: '${name}' must be an integer from 0 to ${max}, got ${prefix}`,
    );
  }
}

/**
 * Parses an IPv4 or IPv6 address. The zone id of a scoped IPv6 address is
 * dropped; an IPv4-mapped IPv6 address stays IPv6 (see {@linkcode ipKey} for
 * the grouping that treats it as IPv4).
 *
 * @param text The address, e.g. `192.0.2.1`, `2001:db8::1`, `fe80::1%eth0`.
 * @returns The family and the bytes in network order.
 * @throws {SyntaxError} If `text` is not an IPv4 or IPv6 address.
 *
 * @example Usage
 * ```ts
 * import { parseIp } from "./ip.ts";
 * import assert from "node:assert/strict";
 *
 * const ip = parseIp("2001:db8::1");
 * assert.equal(ip.family, 6);
 * assert.deepEqual([...ip.bytes.subarray(0, 4)], [0x20, 0x01, 0x0d, 0xb8]);
 * assert.deepEqual([...parseIp("192.0.2.1").bytes], [192, 0, 2, 1]);
 * assert.throws(() => parseIp("192.0.2.256"), SyntaxError);
 * ```
 */
export function parseIp(text: string): IpAddress {
  const family = parseInto(text);
  if (family === 0) throw new SyntaxError(`Cannot parse IP address: "${text}"`);
  if (family === 4) {
    const value = groupsIpv4();
    return {
      family,
      bytes: Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255),
    };
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = GROUPS[i] as number;
    bytes[2 * i] = group >>> 8;
    bytes[2 * i + 1] = group & 255;
  }
  return { family, bytes };
}

/**
 * Formats an address canonically: dotted quad for IPv4, RFC 5952 for IPv6
 * (lowercase, shortest form, `::ffff:a.b.c.d` for IPv4-mapped addresses).
 *
 * @param address A parsed address.
 * @returns The canonical text.
 * @throws {TypeError} If `bytes` does not hold 4 bytes for family 4 or 16 for family 6.
 *
 * @example Usage
 * ```ts
 * import { formatIp, parseIp } from "./ip.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatIp(parseIp("2001:0DB8:0:0:0:0:0:0001")), "2001:db8::1");
 * assert.equal(formatIp(parseIp("::FFFF:10.0.0.1")), "::ffff:10.0.0.1");
 * ```
 */
export function formatIp(address: IpAddress): string {
  const { family, bytes } = address;
  if (family === 4 && bytes.length === 4) {
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (family !== 6 || bytes.length !== 16) {
    throw new TypeError(
      `Cannot format IP address: family ${family} needs ${
        family === 4 ? 4 : 16
      } bytes, got ${bytes.length}`,
    );
  }
  const groups = new Uint16Array(8);
  for (let i = 0; i < 8; i++) {
    groups[i] = ((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number);
  }
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 &&
    groups[4] === 0 && groups[5] === 0xffff
  ) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  return formatIpv6(groups);
}

/**
 * Computes the key under which per-address limits count an address: IPv4
 * (and IPv4-mapped IPv6, `::ffff:a.b.c.d`) as a dotted quad masked to
 * `ipv4Prefix` bits, IPv6 as RFC 5952 text masked to `ipv6Prefix` bits. A
 * shorter prefix than the full address adds `/<bits>`, so keys of different
 * families or prefixes never collide, and every textual form of one address
 * gives the same key.
 *
 * @param address The remote address, in any form {@linkcode parseIp} accepts.
 * @param options The prefix lengths.
 * @returns The canonical key, e.g. `2001:db8:1:2::/64` or `192.0.2.1`.
 * @throws {SyntaxError} If `address` is not an IP address.
 * @throws {RangeError} If a prefix is not an integer in its family's range.
 *
 * @example Usage
 * ```ts
 * import { ipKey } from "./ip.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ipKey("2001:db8:0:1:aaaa::1"), "2001:db8:0:1::/64");
 * assert.equal(ipKey("2001:db8:0:1:bbbb::2"), "2001:db8:0:1::/64");
 * assert.equal(ipKey("::ffff:192.0.2.1"), "192.0.2.1");
 * assert.equal(ipKey("192.0.2.1", { ipv4Prefix: 24 }), "192.0.2.0/24");
 * assert.equal(ipKey("fe80::1%eth0", { ipv6Prefix: 128 }), "fe80::1");
 * ```
 */
export function ipKey(address: string, options?: IpKeyOptions): string {
  const ipv6Prefix = options?.ipv6Prefix ?? 64;
  const ipv4Prefix = options?.ipv4Prefix ?? 32;
  checkPrefix("ipv6Prefix", ipv6Prefix, 128);
  checkPrefix("ipv4Prefix", ipv4Prefix, 32);
  const family = parseInto(address);
  if (family === 0) throw new SyntaxError(`Cannot parse IP address: "${address}"`);
  if (family === 4 || groupsAreMapped()) {
    const text = formatIpv4(maskIpv4(groupsIpv4(), ipv4Prefix));
    return ipv4Prefix === 32 ? text : `${text}/${ipv4Prefix}`;
  }
  maskGroups(ipv6Prefix);
  const text = formatIpv6(MASKED);
  return ipv6Prefix === 128 ? text : `${text}/${ipv6Prefix}`;
}

/**
 * A binary trie of address prefixes in typed arrays: node `n` has children
 * `child[2n]` (bit 0) and `child[2n + 1]` (bit 1), 0 meaning none (the root
 * is node 0, so no node has it as a child).
 */
class PrefixTrie {
  #child = new Int32Array(64);
  #terminal = new Uint8Array(32);
  #nodes = 1;

  /** Adds the first `prefix` bits given by `bitAt`. */
  insert(prefix: number, bitAt: (index: number) => number): void {
    let node = 0;
    for (let i = 0; i < prefix; i++) {
      if (this.#terminal[node] === 1) return; // already covered by a shorter prefix
      const edge = 2 * node + bitAt(i);
      let next = this.#child[edge] as number;
      if (next === 0) {
        next = this.#allocate();
        this.#child[edge] = next;
      }
      node = next;
    }
    this.#terminal[node] = 1;
  }

  /** Whether some stored prefix covers the IPv4 value. */
  hasIpv4(value: number): boolean {
    let node = 0;
    for (let i = 31; i >= 0; i--) {
      if (this.#terminal[node] === 1) return true;
      node = this.#child[2 * node + ((value >>> i) & 1)] as number;
      if (node === 0) return false;
    }
    return this.#terminal[node] === 1;
  }

  /** Whether some stored prefix covers the IPv6 address in {@linkcode GROUPS}. */
  hasIpv6(): boolean {
    let node = 0;
    for (let g = 0; g < 8; g++) {
      const group = GROUPS[g] as number;
      for (let i = 15; i >= 0; i--) {
        if (this.#terminal[node] === 1) return true;
        node = this.#child[2 * node + ((group >>> i) & 1)] as number;
        if (node === 0) return false;
      }
    }
    return this.#terminal[node] === 1;
  }

  #allocate(): number {
    const node = this.#nodes++;
    if (node >= this.#terminal.length) {
      const terminal = new Uint8Array(this.#terminal.length * 2);
      terminal.set(this.#terminal);
      this.#terminal = terminal;
      const child = new Int32Array(this.#child.length * 2);
      child.set(this.#child);
      this.#child = child;
    }
    return node;
  }
}

function parsePrefixLength(text: string, start: number, max: number): number {
  const digits = text.length - start;
  if (digits < 1 || digits > 3) return -1;
  let value = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  if (digits > 1 && text.charCodeAt(start) === 48) return -1; // leading zero
  return value <= max ? value : -1;
}

/**
 * A set of address ranges, compiled once from CIDR blocks (`10.0.0.0/8`,
 * `2001:db8::/32`) and single addresses, answering membership with one parse
 * and a walk of at most 32 (IPv4) or 128 (IPv6) trie nodes, without
 * allocating. IPv4-mapped IPv6 addresses and blocks (`::ffff:10.0.0.0/104`)
 * count as IPv4, so `::ffff:127.0.0.1` is in `127.0.0.0/8`, and an IPv6 block
 * that covers `::ffff:0:0/96` (such as `::/0`) covers every IPv4 address.
 * Host bits set in a block (`192.0.2.1/24`) are ignored.
 *
 * @example Usage
 * ```ts
 * import { CidrSet } from "./ip.ts";
 * import assert from "node:assert/strict";
 *
 * const trusted = new CidrSet(["127.0.0.0/8", "::1", "2001:db8::/32"]);
 * assert.equal(trusted.has("127.0.0.1"), true);
 * assert.equal(trusted.has("::ffff:127.0.0.1"), true);
 * assert.equal(trusted.has("2001:db8:ffff::1"), true);
 * assert.equal(trusted.has("192.0.2.1"), false);
 * assert.throws(() => new CidrSet(["10.0.0.0/33"]), TypeError);
 * ```
 */
export class CidrSet {
  #ipv4 = new PrefixTrie();
  #ipv6 = new PrefixTrie();

  /**
   * Compiles the blocks.
   *
   * @param cidrs Blocks as `address/prefix-length`, or single addresses.
   * @throws {TypeError} If an entry is not a string holding an address (without
   * a zone id) and an optional decimal prefix length within its family's range
   * (`Invalid CIDR: "…"`).
   */
  constructor(cidrs: Iterable<string>) {
    for (const cidr of cidrs) this.#add(cidr);
  }

  /**
   * Tells whether `address` falls in one of the blocks.
   *
   * @param address An address in any form {@linkcode parseIp} accepts.
   * @returns `true` when a block covers the address; `false` otherwise,
   * including when `address` is not an IP address.
   */
  has(address: string): boolean {
    const family = parseInto(address);
    if (family === 0) return false;
    if (family === 4 || groupsAreMapped()) return this.#ipv4.hasIpv4(groupsIpv4());
    return this.#ipv6.hasIpv6();
  }

  #add(cidr: string): void {
    if (typeof cidr !== "string") throw new TypeError(`Invalid CIDR: "${String(cidr)}"`);
    const slash = cidr.indexOf("/");
    const address = slash < 0 ? cidr : cidr.slice(0, slash);
    const family = address.indexOf("%") >= 0 ? 0 : parseInto(address);
    if (family === 0) throw new TypeError(`Invalid CIDR: "${cidr}"`);
    const max = family === 4 ? 32 : 128;
    const prefix = slash < 0 ? max : parsePrefixLength(cidr, slash + 1, max);
    if (prefix < 0) {
      throw new TypeError(`Invalid CIDR: "${cidr}"`);
    }
    if (family === 4) {
      const value = groupsIpv4();
      this.#ipv4.insert(prefix, (i) => (value >>> (31 - i)) & 1);
      return;
    }
    if (prefix >= 96 && groupsAreMapped()) {
      const value = groupsIpv4();
      this.#ipv4.insert(prefix - 96, (i) => (value >>> (31 - i)) & 1);
      return;
    }
    const groups = GROUPS.slice();
    this.#ipv6.insert(prefix, (i) => ((groups[i >>> 4] as number) >>> (15 - (i & 15))) & 1);
    if (coversMapped(groups, prefix)) this.#ipv4.insert(0, () => 0);
  }
}

/** Whether the IPv6 block `groups/prefix` contains all of `::ffff:0:0/96`. */
function coversMapped(groups: Uint16Array, prefix: number): boolean {
  for (let i = 0; i < prefix; i++) {
    const bit = ((groups[i >>> 4] as number) >>> (15 - (i & 15))) & 1;
    const mappedBit = i >= 80 && i < 96 ? 1 : 0;
    if (bit !== mappedBit) return false;
  }
  return true;
}
