/**
 * Immutable XMPP addresses (RFC 7622), normalised once when parsed.
 *
 * @module
 */

import { prepDomainpart, prepLocalpart, prepResourcepart } from "./prep.ts";

/**
 * Entries in each generation of the cache of parsed JIDs (at most twice as
 * many are held). Measured: about 310 bytes of heap per entry for 30-character
 * full JIDs (text key, `Jid`, parts, bare JID), so about 1.3 MB when both
 * generations are full; under 4 MB even if every text were 128 characters.
 */
const CACHE_GENERATION = 2048;
/** Longer texts are parsed every time, so hostile JIDs cannot make the cache large. */
const CACHE_MAX_TEXT = 128;

/**
 * Thrown when text is not a valid JID or a part cannot be normalised. The
 * underlying {@linkcode SyntaxError} or {@linkcode RangeError} from
 * normalisation is the `cause`.
 *
 * @example Usage
 * ```ts
 * import { Jid, JidError } from "./jid.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => Jid.parse("@example.com"), JidError);
 * ```
 */
export class JidError extends SyntaxError {
  /**
   * Creates the error.
   *
   * @param message What could not be parsed and why.
   * @param options The normalisation error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JidError";
  }
}

/**
 * A normalised, immutable JID: `[localpart@]domainpart[/resourcepart]`.
 *
 * Two JIDs denote the same address exactly when their parts are equal, so
 * {@linkcode Jid.equals} and string comparison of {@linkcode Jid.toString}
 * agree.
 *
 * @example Usage
 * ```ts
 * import { Jid } from "./jid.ts";
 * import assert from "node:assert/strict";
 *
 * const jid = Jid.parse("Juliet@Capulet.example/balcony");
 * assert.equal(jid.local, "juliet");
 * assert.equal(jid.domain, "capulet.example");
 * assert.equal(jid.resource, "balcony");
 * assert.equal(jid.bare().toString(), "juliet@capulet.example");
 * ```
 */
export class Jid {
  // Recently parsed JIDs by their text, in two generations: a lookup that hits
  // the old one moves the entry to the young one; when the young one is full
  // it becomes the old one and the oldest entries go. Routing parses the same
  // few addresses over and over (a stanza's `to` and `from` are read by the
  // limits, the router and the IM services), and a hit also hands back the
  // same bare and canonical strings, whose hashes V8 has already computed.
  static #young = new Map<string, Jid>();
  static #old = new Map<string, Jid>();
  #local: string | undefined;
  #domain: string;
  #resource: string | undefined;
  #text: string | undefined;
  #bare: Jid | undefined;

  private constructor(
    local: string | undefined,
    domain: string,
    resource: string | undefined,
    text: string | undefined,
  ) {
    this.#local = local;
    this.#domain = domain;
    this.#resource = resource;
    this.#text = text;
  }

  /**
   * The normalised localpart, if any.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.parse("Nurse@example.com").local, "nurse");
   * assert.equal(Jid.parse("example.com").local, undefined);
   * ```
   */
  get local(): string | undefined {
    return this.#local;
  }

  /**
   * The normalised domainpart.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.parse("nurse@Example.COM.").domain, "example.com");
   * ```
   */
  get domain(): string {
    return this.#domain;
  }

  /**
   * The normalised resourcepart, if any.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.parse("nurse@example.com/Garden").resource, "Garden");
   * ```
   */
  get resource(): string | undefined {
    return this.#resource;
  }

  /**
   * Parses and normalises a JID (RFC 7622 §3.1): the resourcepart starts at
   * the first `/`, the localpart ends at the first `@` before it. The same
   * text parsed again soon after gives back the same `Jid` (a bounded cache
   * of recently parsed texts up to 128 characters).
   *
   * @param text The JID as received.
   * @returns The normalised JID.
   * @throws {JidError} If a part is empty, too long or has a character that
   * is not allowed.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.parse("ROMEO@Montague.example.").toString(), "romeo@montague.example");
   * assert.equal(Jid.parse("example.com/a/b@c").resource, "a/b@c");
   * ```
   */
  static parse(text: string): Jid {
    const recent = Jid.#young.get(text) ?? Jid.#promote(text);
    if (recent !== undefined) return recent;
    if (text.length > CACHE_MAX_TEXT) return Jid.#parse(text);
    const copy = detached(text);
    const jid = Jid.#parse(copy);
    Jid.#remember(copy, jid);
    return jid;
  }

  static #promote(text: string): Jid | undefined {
    const jid = Jid.#old.get(text);
    if (jid !== undefined) Jid.#remember(detached(text), jid);
    return jid;
  }

  static #remember(text: string, jid: Jid): void {
    if (Jid.#young.size >= CACHE_GENERATION) {
      Jid.#old = Jid.#young;
      Jid.#young = new Map();
    }
    Jid.#young.set(text, jid);
  }

  static #parse(text: string): Jid {
    const slash = text.indexOf("/");
    const head = slash === -1 ? text : text.slice(0, slash);
    const at = head.indexOf("@");
    const rawLocal = at === -1 ? undefined : head.slice(0, at);
    const rawDomain = at === -1 ? head : head.slice(at + 1);
    const rawResource = slash === -1 ? undefined : text.slice(slash + 1);
    let part = "domainpart";
    try {
      const domain = prepDomainpart(rawDomain);
      part = "localpart";
      const local = rawLocal === undefined ? undefined : prepLocalpart(rawLocal);
      part = "resourcepart";
      const resource = rawResource === undefined ? undefined : prepResourcepart(rawResource);
      // Already canonical (the common case): reuse the input as the string form.
      const canonical = domain === rawDomain && local === rawLocal && resource === rawResource;
      return new Jid(local, domain, resource, canonical ? text : undefined);
    } catch (error) {
      throw new JidError(`Cannot parse JID ${quote(text)}: invalid ${part}`, { cause: error });
    }
  }

  /**
   * Parses a JID like {@linkcode Jid.parse}, returning `undefined` instead of
   * throwing.
   *
   * @param text The JID as received.
   * @returns The normalised JID, or `undefined` if `text` is not a valid JID.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.tryParse("nurse@example.com")?.local, "nurse");
   * assert.equal(Jid.tryParse("nurse@"), undefined);
   * ```
   */
  static tryParse(text: string): Jid | undefined {
    try {
      return Jid.parse(text);
    } catch (error) {
      if (error instanceof JidError) return undefined;
      throw error;
    }
  }

  /**
   * Whether this JID has no resourcepart.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.ok(Jid.parse("juliet@example.com").isBare);
   * assert.ok(!Jid.parse("juliet@example.com/balcony").isBare);
   * ```
   */
  get isBare(): boolean {
    return this.#resource === undefined;
  }

  /**
   * The JID without its resourcepart.
   *
   * @returns This JID when it is already bare, otherwise the bare JID.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Jid.parse("juliet@example.com/balcony").bare().toString(), "juliet@example.com");
   * ```
   */
  bare(): Jid {
    if (this.#resource === undefined) return this;
    this.#bare ??= new Jid(this.#local, this.#domain, undefined, undefined);
    return this.#bare;
  }

  /**
   * The same localpart and domainpart with another resourcepart.
   *
   * @param resource The resourcepart, normalised like a parsed one.
   * @returns The full JID.
   * @throws {JidError} If `resource` is not a valid resourcepart.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * const full = Jid.parse("juliet@example.com").withResource("chamber");
   * assert.equal(full.toString(), "juliet@example.com/chamber");
   * ```
   */
  withResource(resource: string): Jid {
    let prepared: string;
    try {
      prepared = prepResourcepart(resource);
    } catch (error) {
      throw new JidError(`Cannot use resourcepart ${quote(resource)}: it is invalid`, {
        cause: error,
      });
    }
    return new Jid(this.#local, this.#domain, prepared, undefined);
  }

  /**
   * Whether `other` denotes the same address.
   *
   * @param other The JID to compare with.
   * @returns `true` when every part is equal.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.ok(Jid.parse("Juliet@Example.com").equals(Jid.parse("juliet@example.com")));
   * ```
   */
  equals(other: Jid): boolean {
    return this === other ||
      (this.#domain === other.#domain && this.#local === other.#local &&
        this.#resource === other.#resource);
  }

  /**
   * The canonical string form, computed once.
   *
   * @returns `[localpart@]domainpart[/resourcepart]`.
   *
   * @example Usage
   * ```ts
   * import { Jid } from "./jid.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(`${Jid.parse("EXAMPLE.com/Res")}`, "example.com/Res");
   * ```
   */
  toString(): string {
    if (this.#text === undefined) {
      let text = this.#local === undefined ? this.#domain : `${this.#local}@${this.#domain}`;
      if (this.#resource !== undefined) text += `/${this.#resource}`;
      this.#text = text;
    }
    return this.#text;
  }
}

/**
 * A copy of `text` that shares no memory with a longer string. A JID in a
 * stanza is a slice of the whole stanza's text, and a slice keeps all of it
 * alive; the cache keeps copies instead.
 */
function detached(text: string): string {
  return (" " + text).slice(1);
}

/** Quotes a value for an error message, shortened so hostile input cannot bloat logs. */
function quote(text: string): string {
  return text.length > 64 ? `'${text.slice(0, 64)}…'` : `'${text}'`;
}
