/**
 * Normalisation of the three parts of a JID (RFC 7622 §3), done once when a
 * JID is parsed so that comparisons afterwards are plain string equality.
 *
 * - localpart: PRECIS UsernameCaseMapped in practice (RFC 8265 §3.3): width
 *   mapping (approximated by NFKC), lower case, NFC; letters, marks and
 *   digits plus printable ASCII except the RFC 7622 §3.3.1 characters
 *   `"&'/:<>@`.
 * - domainpart: NFKC, lower case, NFC, ideographic full stops mapped to `.`, one
 *   trailing dot removed (RFC 7622 §3.2), labels of 1..63 bytes, or an IPv6
 *   literal in brackets.
 * - resourcepart: PRECIS OpaqueString in practice (RFC 8265 §4.2): non-ASCII
 *   spaces mapped to U+0020, NFC, no control characters.
 *
 * Each part is 1..1023 bytes of UTF-8. Plain ASCII input takes a fast path
 * that allocates nothing when the text is already canonical.
 *
 * Not implemented: the bidi rule (RFC 5893) and the PRECIS contextual rules;
 * the resourcepart accepts default-ignorable code points (emoji variation
 * selectors and joiners are common in resources).
 *
 * @module
 */

/** RFC 7622 §3.3.1, §3.2, §3.4.1: every part is at most 1023 bytes of UTF-8. */
const MAX_PART_BYTES = 1023;
/** RFC 1035 §2.3.4 label length, in bytes. */
const MAX_LABEL_BYTES = 63;

/** Characters a localpart may contain after normalisation (non-ASCII: letters, marks, digits). */
const LOCALPART_INVALID_REGEXP =
  /[^\x21\x23-\x25\x28-\x2e\x30-\x39\x3b\x3d\x3f\x41-\x7e\p{L}\p{Mn}\p{Mc}\p{Nd}]/u;
/** Characters a domainpart may contain after normalisation. */
const DOMAINPART_INVALID_REGEXP = /[^a-z0-9\-_.\p{L}\p{Mn}\p{Mc}\p{Nd}]/u;
/** Control characters and lone surrogates (which UTF-8 cannot carry). */
const RESOURCEPART_INVALID_REGEXP = /[\p{Cc}\p{Cs}]/u;
/** Non-ASCII space separators; OpaqueString maps them to U+0020. */
const NON_ASCII_SPACE_REGEXP = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/gu;
/** Label separators IDNA treats as dots (UTS #46 §2.3). */
const IDEOGRAPHIC_DOT_REGEXP = /[\u3002\uff0e\uff61]/g;

/**
 * Normalises a JID localpart.
 *
 * @param text The localpart as received (without `@`).
 * @returns The canonical localpart; the same string when it already was.
 * @throws {SyntaxError} If the localpart contains a character that is not allowed.
 * @throws {RangeError} If the localpart is empty or longer than 1023 bytes.
 *
 * @example Usage
 * ```ts
 * import { prepLocalpart } from "./prep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(prepLocalpart("Juliet"), "juliet");
 * assert.equal(prepLocalpart("ＪＵＬＩＥＴ"), "juliet");
 * assert.throws(() => prepLocalpart("juliet@home"), SyntaxError);
 * ```
 */
export function prepLocalpart(text: string): string {
  let upper = false;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return prepLocalpartSlow(text);
    if (!isLocalpartAscii(c)) throw forbidden("localpart", text, c);
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  checkLength("localpart", text, length);
  return upper ? text.toLowerCase() : text;
}

/**
 * Normalises a JID domainpart.
 *
 * @param text The domainpart as received.
 * @returns The canonical domainpart; the same string when it already was.
 * @throws {SyntaxError} If the domainpart contains a character that is not
 * allowed, an empty label, or a malformed IPv6 literal.
 * @throws {RangeError} If the domainpart or one of its labels is too long or empty.
 *
 * @example Usage
 * ```ts
 * import { prepDomainpart } from "./prep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(prepDomainpart("Example.COM."), "example.com");
 * assert.equal(prepDomainpart("[2001:DB8::1]"), "[2001:db8::1]");
 * assert.throws(() => prepDomainpart("exa mple.com"), SyntaxError);
 * ```
 */
export function prepDomainpart(text: string): string {
  const length = text.length;
  if (length === 0) checkLength("domainpart", text, 0);
  if (text.charCodeAt(0) === 0x5b) return prepIpv6Literal(text);
  let upper = false;
  let labelStart = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      checkLabel(text, i - labelStart);
      labelStart = i + 1;
    } else if (c >= 0x80) return prepDomainpartSlow(text);
    else if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (!isDomainAscii(c)) throw forbidden("domainpart", text, c);
  }
  // RFC 7622 §3.2: a trailing label separator is stripped before anything else.
  const trailingDot = labelStart === length;
  if (!trailingDot) checkLabel(text, length - labelStart);
  const domain = trailingDot ? text.slice(0, -1) : text;
  checkLength("domainpart", text, domain.length);
  return upper ? domain.toLowerCase() : domain;
}

/**
 * Normalises a JID resourcepart.
 *
 * @param text The resourcepart as received (without the leading `/`).
 * @returns The canonical resourcepart; the same string when it already was.
 * @throws {SyntaxError} If the resourcepart contains a control character or a
 * lone surrogate.
 * @throws {RangeError} If the resourcepart is empty or longer than 1023 bytes.
 *
 * @example Usage
 * ```ts
 * import { prepResourcepart } from "./prep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(prepResourcepart("Balcony Phone"), "Balcony Phone");
 * assert.equal(prepResourcepart("a\u00a0b"), "a b");
 * assert.throws(() => prepResourcepart("tab\there"), SyntaxError);
 * ```
 */
export function prepResourcepart(text: string): string {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return prepResourcepartSlow(text);
    if (c < 0x20 || c === 0x7f) throw forbidden("resourcepart", text, c);
  }
  checkLength("resourcepart", text, length);
  return text;
}

function prepLocalpartSlow(text: string): string {
  // RFC 8265 §3.3.2: width mapping, case mapping, then NFC. NFKC stands in for
  // the width mapping, as Prosody and ejabberd (stringprep) effectively do.
  const local = text.normalize("NFKC").toLowerCase().normalize("NFC");
  const bad = LOCALPART_INVALID_REGEXP.exec(local);
  if (bad !== null) throw forbidden("localpart", text, bad[0].codePointAt(0) ?? 0);
  checkLength("localpart", text, utf8Length(local));
  return local;
}

function prepDomainpartSlow(text: string): string {
  // UTS #46 §4 in practice: width and compatibility mapping, lower case, NFC.
  let domain = text.replace(IDEOGRAPHIC_DOT_REGEXP, ".").normalize("NFKC");
  if (domain.length > 1 && domain.endsWith(".")) domain = domain.slice(0, -1);
  domain = domain.toLowerCase().normalize("NFC");
  const bad = DOMAINPART_INVALID_REGEXP.exec(domain);
  if (bad !== null) throw forbidden("domainpart", text, bad[0].codePointAt(0) ?? 0);
  checkLabels(domain, text);
  return domain;
}

function prepResourcepartSlow(text: string): string {
  // RFC 8265 §4.2.2: non-ASCII spaces become U+0020, then NFC.
  const resource = text.replace(NON_ASCII_SPACE_REGEXP, " ").normalize("NFC");
  const bad = RESOURCEPART_INVALID_REGEXP.exec(resource);
  if (bad !== null) throw forbidden("resourcepart", text, bad[0].codePointAt(0) ?? 0);
  checkLength("resourcepart", text, utf8Length(resource));
  return resource;
}

/** RFC 7622 §3.2.1: an IP-literal domainpart; only IPv6 (RFC 3986 IPvFuture is not an address). */
function prepIpv6Literal(text: string): string {
  const end = text.length - 1;
  if (end < 2 || text.charCodeAt(end) !== 0x5d || !isIpv6(text, 1, end)) {
    throw new SyntaxError(`Cannot prepare domainpart ${quote(text)}: malformed IPv6 literal`);
  }
  return text.toLowerCase();
}

/** Whether `text[start..end)` is an IPv6 address (RFC 4291 §2.2), without a zone. */
function isIpv6(text: string, start: number, end: number): boolean {
  let groups = 0;
  let compressed = false;
  let i = start;
  if (text.startsWith("::", i)) {
    compressed = true;
    i += 2;
    if (i === end) return true;
  }
  while (i < end) {
    let j = i;
    while (j < end && isHex(text.charCodeAt(j))) j++;
    const digits = j - i;
    if (j < end && text.charCodeAt(j) === 0x2e) {
      // Embedded IPv4 in the last two groups.
      if (!isIpv4(text, i, end)) return false;
      groups += 2;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    groups++;
    if (j === end) break;
    if (text.charCodeAt(j) !== 0x3a) return false;
    // "::" marks the single compressed run.
    if (text.charCodeAt(j + 1) === 0x3a) {
      if (compressed) return false;
      compressed = true;
      i = j + 2;
      if (i === end) break;
    } else {
      i = j + 1;
      if (i === end) return false;
    }
  }
  return compressed ? groups <= 7 : groups === 8;
}

function isIpv4(text: string, start: number, end: number): boolean {
  const parts = text.slice(start, end).split(".");
  if (parts.length !== 4) return false;
  for (const part of parts) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return false;
  }
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** RFC 7622 §3.3.1 forbids `"&'/:<>@`; PRECIS forbids spaces and controls. */
function isLocalpartAscii(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x26 && c !== 0x27 && c !== 0x2f &&
    c !== 0x3a && c !== 0x3c && c !== 0x3e && c !== 0x40;
}

/** Lower-case letters, digits, `-`, `_` and `.` (upper case is handled by the caller). */
function isDomainAscii(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f ||
    c === 0x2e;
}

function checkLabels(domain: string, original: string): void {
  let start = 0;
  for (;;) {
    let dot = domain.indexOf(".", start);
    if (dot === -1) dot = domain.length;
    checkLabel(original, utf8Length(domain, start, dot));
    if (dot === domain.length) break;
    start = dot + 1;
  }
  checkLength("domainpart", original, utf8Length(domain));
}

function checkLabel(original: string, bytes: number): void {
  if (bytes === 0) {
    throw new SyntaxError(`Cannot prepare domainpart ${quote(original)}: it has an empty label`);
  }
  if (bytes > MAX_LABEL_BYTES) {
    throw new RangeError(
      `Cannot prepare domainpart ${
        quote(original)
      }: a label must be at most ${MAX_LABEL_BYTES} bytes, got ${bytes}`,
    );
  }
}

function checkLength(part: string, original: string, bytes: number): void {
  if (bytes === 0 || bytes > MAX_PART_BYTES) {
    throw new RangeError(
      `Cannot prepare ${part} ${
        quote(original)
      }: it must be 1 to ${MAX_PART_BYTES} bytes of UTF-8, got ${bytes}`,
    );
  }
}

/** UTF-8 length of `text[start..end)` without encoding it. */
function utf8Length(text: string, start = 0, end = text.length): number {
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function forbidden(part: string, original: string, codePoint: number): SyntaxError {
  const hex = codePoint.toString(16).toUpperCase().padStart(4, "0");
  return new SyntaxError(
    `Cannot prepare ${part} ${quote(original)}: character 'U+${hex}' is not allowed`,
  );
}

/** Quotes a value for an error message, shortened so hostile input cannot bloat logs. */
function quote(text: string): string {
  return text.length > 64 ? `'${text.slice(0, 64)}…'` : `'${text}'`;
}
