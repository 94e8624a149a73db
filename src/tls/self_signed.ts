/**
 * Self-signed X.509 certificates for a domain, built in-process: an EC P-256
 * key from `node:crypto` and a DER-encoded certificate (RFC 5280) signed with
 * ECDSA over SHA-256. No external tool is run.
 *
 * @module
 */

import { generateKeyPair, type KeyObject, sign } from "node:crypto";

/** Options for {@linkcode createSelfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /**
   * Start of the validity period (wall-clock time). Injected for tests;
   * sub-second precision is dropped.
   *
   * @default {new Date()}
   */
  notBefore?: Date;
  /**
   * Length of the validity period in days.
   *
   * @default {365}
   */
  validityDays?: number;
}

/** A PEM certificate and its PEM (PKCS #8) private key. */
export interface SelfSignedCertificate {
  /** The certificate, `-----BEGIN CERTIFICATE-----` PEM. */
  cert: string;
  /** The private key, `-----BEGIN PRIVATE KEY-----` PEM (PKCS #8). */
  key: string;
}

const HOSTNAME_REGEXP =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4_REGEXP = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DAY_MS = 86_400_000;

// Object identifiers (RFC 5280, RFC 5758).
const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const OID_KP_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * Creates a self-signed certificate for `domain` (subject and issuer
 * `CN=domain`, subjectAltName `domain`) with a fresh EC P-256 key.
 *
 * The certificate is an end-entity certificate (`cA` false) usable for both
 * server and client authentication; a TLS client trusts it by listing the
 * certificate itself as a CA certificate.
 *
 * @param domain A DNS host name (ASCII, A-labels for IDNs) or an IPv4 literal.
 * @param options Validity period.
 * @returns The PEM certificate and PEM PKCS #8 key.
 * @throws {TypeError} If `domain` is not a host name or IPv4 literal.
 * @throws {RangeError} If `validityDays` is not a positive integer or `notBefore` is invalid.
 *
 * @example Usage
 * ```ts
 * import { createSelfSignedCertificate } from "./self_signed.ts";
 * import { X509Certificate } from "node:crypto";
 * import assert from "node:assert/strict";
 *
 * const { cert } = await createSelfSignedCertificate("example.org");
 * const x509 = new X509Certificate(cert);
 * assert.equal(x509.subjectAltName, "DNS:example.org");
 * assert.ok(x509.verify(x509.publicKey));
 * ```
 */
export async function createSelfSignedCertificate(
  domain: string,
  options: SelfSignedCertificateOptions = {},
): Promise<SelfSignedCertificate> {
  const isIp = IPV4_REGEXP.test(domain);
  if (!isIp && !HOSTNAME_REGEXP.test(domain)) {
    throw new TypeError(
      `Cannot create certificate: 'domain' must be an ASCII host name or IPv4 address, got '${domain}'`,
    );
  }
  const validityDays = options.validityDays ?? 365;
  if (!Number.isInteger(validityDays) || validityDays <= 0) {
    throw new RangeError(
      `Cannot create certificate: 'validityDays' must be a positive integer, got ${validityDays}`,
    );
  }
  const notBeforeMs = (options.notBefore ?? new Date()).getTime();
  if (Number.isNaN(notBeforeMs)) {
    throw new RangeError("Cannot create certificate: 'notBefore' is an invalid date");
  }
  const start = Math.floor(notBeforeMs / 1000) * 1000;
  const end = start + validityDays * DAY_MS;

  const { publicKey, privateKey } = await generateEcKeyPair();
  const spki = publicKey.export({ type: "spki", format: "der" });
  const signatureAlgorithm = sequence(oid(OID_ECDSA_WITH_SHA256));
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(domain))));
  const altName = isIp
    ? tlv(0x87, Uint8Array.from(domain.split("."), Number))
    : tlv(0x82, ascii(domain));
  const extensions = sequence(
    // RFC 5280 §4.2.1.9: an end entity; cA defaults to FALSE and is omitted.
    // No keyUsage: digitalSignature alone would stop OpenSSL from treating
    // the certificate as its own issuer, and keyCertSign needs cA TRUE, which
    // WebPKI verifiers (rustls) refuse for a server certificate.
    extension(OID_BASIC_CONSTRAINTS, true, sequence()),
    extension(OID_EXT_KEY_USAGE, false, sequence(oid(OID_KP_SERVER_AUTH), oid(OID_KP_CLIENT_AUTH))),
    extension(OID_SUBJECT_ALT_NAME, false, sequence(altName)),
  );
  const tbs = sequence(
    tlv(0xa0, integer(Uint8Array.of(2))), // version v3
    integer(serialNumber()),
    signatureAlgorithm,
    name,
    sequence(time(start), time(end)),
    name,
    new Uint8Array(spki),
    tlv(0xa3, extensions),
  );
  const signature = sign("sha256", tbs, { key: privateKey, dsaEncoding: "der" });
  const certificate = sequence(tbs, signatureAlgorithm, bitString(new Uint8Array(signature)));
  return {
    cert: pem("CERTIFICATE", certificate),
    key: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  };
}

function generateEcKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    generateKeyPair("ec", { namedCurve: "P-256" }, (error, publicKey, privateKey) => {
      if (error) reject(error);
      else resolve({ publicKey, privateKey });
    });
  });
}

/** RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random octets, top bits 01. */
function serialNumber(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes;
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(oid(id), tlv(0x01, Uint8Array.of(0xff)), tlv(0x04, value))
    : sequence(oid(id), tlv(0x04, value));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(ms: number): Uint8Array {
  const text = new Date(ms).toISOString().replace(/[-:T]|\.\d+/g, "");
  const year = Number(text.slice(0, 4));
  return year < 2050 ? tlv(0x17, ascii(text.slice(2))) : tlv(0x18, ascii(text));
}

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const header: number[] = [tag];
  if (length < 0x80) {
    header.push(length);
  } else {
    const octets: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
    header.push(0x80 | octets.length, ...octets);
  }
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function sequence(...parts: Uint8Array[]): Uint8Array {
  return tlv(0x30, ...parts);
}

function set(...parts: Uint8Array[]): Uint8Array {
  return tlv(0x31, ...parts);
}

/** An unsigned big-endian magnitude as a DER INTEGER (minimal, non-negative). */
function integer(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  return body[0]! & 0x80 ? tlv(0x02, Uint8Array.of(0), body) : tlv(0x02, body);
}

function bitString(bytes: Uint8Array): Uint8Array {
  return tlv(0x03, Uint8Array.of(0), bytes);
}

function utf8String(text: string): Uint8Array {
  return tlv(0x0c, new TextEncoder().encode(text));
}

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const septets = [arc & 0x7f];
    for (let rest = arc >>> 7; rest > 0; rest >>>= 7) septets.unshift((rest & 0x7f) | 0x80);
    out.push(...septets);
  }
  return tlv(0x06, Uint8Array.from(out));
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

function pem(label: string, der: Uint8Array): string {
  let base64 = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    base64 += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  base64 = btoa(base64);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
