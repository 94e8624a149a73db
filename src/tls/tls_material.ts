/**
 * TLS certificate and key for the listeners: loaded from PEM files, or a
 * self-signed certificate for the domain when no files are configured. One
 * `tls.SecureContext` is built per material and shared by every connection.
 *
 * @module
 */

import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import { createSelfSignedCertificate } from "./self_signed.ts";

/** A PEM certificate chain and its PEM private key. */
export interface TlsMaterial {
  /** PEM certificate chain, leaf first. */
  readonly cert: string;
  /** PEM private key (PKCS #8, SEC 1 or PKCS #1), unencrypted. */
  readonly key: string;
}

/** Options for {@linkcode loadTlsMaterial}. */
export interface LoadTlsMaterialOptions {
  /** Path of the PEM certificate chain file; give it together with `key`. */
  cert?: string;
  /** Path of the PEM private key file; give it together with `cert`. */
  key?: string;
  /** The XMPP domain; names the self-signed certificate when no files are given. */
  domain: string;
}

/** {@linkcode TlsMaterial} as loaded, with where it came from. */
export interface LoadedTlsMaterial extends TlsMaterial {
  /** True when the certificate was generated because no files were configured. */
  readonly selfSigned: boolean;
}

const CERT_REGEXP = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const KEY_REGEXP =
  /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA )?PRIVATE KEY-----/;
const ENCRYPTED_KEY_REGEXP = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

const contexts = new WeakMap<TlsMaterial, SecureContext>();

/**
 * Loads the certificate and key from PEM files, or, when neither path is
 * given, creates a self-signed certificate for `domain`. The pair is checked
 * by building its `tls.SecureContext` (cached for {@linkcode secureContextFor}),
 * so a key that does not match the certificate fails here, not at the first
 * connection.
 *
 * @param options File paths and the domain.
 * @returns The material, with `selfSigned` telling whether it was generated.
 * @throws {TypeError} If only one of `cert` and `key` is given.
 * @throws {Error} If a file cannot be read; the message names the path.
 * @throws {SyntaxError} If a file holds no PEM certificate or unencrypted
 *   PEM private key, or the key does not match the certificate.
 *
 * @example Usage
 * ```ts
 * import { loadTlsMaterial } from "./tls_material.ts";
 * import assert from "node:assert/strict";
 *
 * const material = await loadTlsMaterial({ domain: "example.org" });
 * assert.equal(material.selfSigned, true);
 * assert.match(material.cert, /^-----BEGIN CERTIFICATE-----/);
 * ```
 */
export async function loadTlsMaterial(options: LoadTlsMaterialOptions): Promise<LoadedTlsMaterial> {
  const { cert: certPath, key: keyPath, domain } = options;
  if (certPath === undefined && keyPath === undefined) {
    const generated = await createSelfSignedCertificate(domain);
    const material = { cert: generated.cert, key: generated.key, selfSigned: true };
    contexts.set(material, createSecureContext({ cert: material.cert, key: material.key }));
    return material;
  }
  if (certPath === undefined || keyPath === undefined) {
    throw new TypeError(
      `Cannot load TLS material: 'cert' and 'key' must be given together, got only '${
        certPath ?? keyPath
      }'`,
    );
  }
  const [cert, key] = await Promise.all([
    readPem(certPath, "certificate"),
    readPem(keyPath, "private key"),
  ]);
  if (!CERT_REGEXP.test(cert)) {
    throw new SyntaxError(`Cannot load TLS certificate: '${certPath}' holds no PEM certificate`);
  }
  let certKey: KeyObject;
  try {
    certKey = new X509Certificate(cert).publicKey;
  } catch (error) {
    throw new SyntaxError(`Cannot load TLS certificate: '${certPath}' is not a valid certificate`, {
      cause: error,
    });
  }
  if (ENCRYPTED_KEY_REGEXP.test(key)) {
    throw new SyntaxError(
      `Cannot load TLS private key: '${keyPath}' is encrypted, which is not supported`,
    );
  }
  if (!KEY_REGEXP.test(key)) {
    throw new SyntaxError(`Cannot load TLS private key: '${keyPath}' holds no PEM private key`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(key);
  } catch (error) {
    throw new SyntaxError(`Cannot load TLS private key: '${keyPath}' is not a valid key`, {
      cause: error,
    });
  }
  // createSecureContext does not compare them on Deno 2.9.6: check here.
  if (!publicKey.equals(certKey)) {
    throw new SyntaxError(
      `Cannot load TLS material: key '${keyPath}' does not match certificate '${certPath}'`,
    );
  }
  const material = { cert, key, selfSigned: false };
  contexts.set(material, createSecureContext({ cert, key }));
  return material;
}

/**
 * The `tls.SecureContext` for `material`, built on first use and then reused
 * for every connection (a context parses the key and certificate once).
 *
 * @param material The certificate and key.
 * @returns The shared secure context.
 * @throws {Error} If `node:tls` rejects the certificate or key.
 *
 * @example Usage
 * ```ts
 * import { loadTlsMaterial, secureContextFor } from "./tls_material.ts";
 * import assert from "node:assert/strict";
 *
 * const material = await loadTlsMaterial({ domain: "example.org" });
 * assert.equal(secureContextFor(material), secureContextFor(material));
 * ```
 */
export function secureContextFor(material: TlsMaterial): SecureContext {
  let context = contexts.get(material);
  if (context === undefined) {
    context = createSecureContext({ cert: material.cert, key: material.key });
    contexts.set(material, context);
  }
  return context;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read TLS ${what} file '${path}': ${reason}`, { cause: error });
  }
}
