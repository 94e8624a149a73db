/**
 * Immutable XMPP addresses (RFC 7622), normalised once when parsed.
 *
 * @module
 */

import { prepDomainpart, prepLocalpart, prepResourcepart } from "./prep.ts";

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
   * the first `/`, the localpart ends at the first `@` before it.
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

/** Quotes a value for an error message, shortened so hostile input cannot bloat logs. */
function quote(text: string): string {
  return text.length > 64 ? `'${text.slice(0, 64)}…'` : `'${text}'`;
}
