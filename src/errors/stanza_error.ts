/**
 * Stanza errors (RFC 6120 §8.3): recoverable, returned to the sender as a
 * stanza of type `error`.
 *
 * @module
 */

import { el, type Element, type XmlNode } from "../xml/element.ts";
import { NS_STANZAS, NS_XMPP_ERRORS } from "../xml/ns.ts";

/** RFC 6120 §8.3.2 error types. */
export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** RFC 6120 §8.3.3 defined conditions. */
export type StanzaErrorCondition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "gone"
  | "internal-server-error"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "not-authorized"
  | "policy-violation"
  | "recipient-unavailable"
  | "redirect"
  | "registration-required"
  | "remote-server-not-found"
  | "remote-server-timeout"
  | "resource-constraint"
  | "service-unavailable"
  | "subscription-required"
  | "undefined-condition"
  | "unexpected-request";

/** Options of a {@linkcode StanzaError}. */
export interface StanzaErrorOptions {
  /** Human-readable `<text/>`. */
  text?: string;
  /** An application condition, e.g. `too-many-stanzas`. */
  appCondition?: string;
  /** The application condition's namespace. @default {"urn:xmpp:errors"} */
  appNs?: string;
  /** Whether the reply echoes the original payload (RFC 6120 §8.3.1 allows it). @default {false} */
  echoPayload?: boolean;
  /** Milliseconds after which a retry may succeed, when known (logged and exposed, not sent). */
  retryAfterMs?: number;
}

/**
 * A stanza-level error, turned into a reply with {@linkcode errorReply}.
 *
 * @example Usage
 * ```ts
 * import { StanzaError } from "./stanza_error.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StanzaError("wait", "unexpected-request", { appCondition: "too-many-stanzas" });
 * assert.equal(error.toElement().attr("type"), "wait");
 * ```
 */
export class StanzaError extends Error {
  /** The error type. */
  readonly type: StanzaErrorType;
  /** The defined condition. */
  readonly condition: StanzaErrorCondition;
  /** Optional `<text/>`. */
  readonly text: string | undefined;
  /** Optional application condition. */
  readonly appCondition: string | undefined;
  /** The application condition's namespace. */
  readonly appNs: string;
  /** Whether the reply keeps the original payload. */
  readonly echoPayload: boolean;
  /** Retry hint in milliseconds, when known. */
  readonly retryAfterMs: number | undefined;

  /**
   * Creates a stanza error.
   *
   * @param type The error type.
   * @param condition The defined condition.
   * @param options Text, application condition, echo and retry hint.
   */
  constructor(
    type: StanzaErrorType,
    condition: StanzaErrorCondition,
    options: StanzaErrorOptions = {},
  ) {
    super(options.text ?? condition);
    this.name = "StanzaError";
    this.type = type;
    this.condition = condition;
    this.text = options.text;
    this.appCondition = options.appCondition;
    this.appNs = options.appNs ?? NS_XMPP_ERRORS;
    this.echoPayload = options.echoPayload ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The `<error/>` child element. */
  toElement(): Element {
    return el(
      "error",
      { type: this.type },
      el(this.condition, { xmlns: NS_STANZAS }),
      this.text !== undefined && el("text", { xmlns: NS_STANZAS }, this.text),
      this.appCondition !== undefined && el(this.appCondition, { xmlns: this.appNs }),
    );
  }
}

/**
 * Builds the error reply to `stanza` (RFC 6120 §8.3.1): `to` and `from`
 * swapped, `id` kept, type `error`, the payload echoed only when asked.
 * `from` defaults to `serverJid` when the original had no `to`.
 *
 * @param stanza The stanza that failed.
 * @param error The error to return.
 * @param serverJid The address to answer from when the stanza had no `to`.
 * @returns The reply stanza.
 *
 * @example Usage
 * ```ts
 * import { el } from "../xml/element.ts";
 * import { errorReply, StanzaError } from "./stanza_error.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const request = el("iq", { xmlns: "jabber:client", type: "get", id: "1", from: "a@x/r" },
 *   el("query", { xmlns: "urn:example" }));
 * const reply = errorReply(request, new StanzaError("cancel", "service-unavailable"), "x");
 * assert.equal(serialize(reply, "jabber:client"),
 *   `<iq type="error" id="1" from="x" to="a@x/r"><error type="cancel">` +
 *   `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`);
 * ```
 */
export function errorReply(stanza: Element, error: StanzaError, serverJid?: string): Element {
  const attrs: Record<string, string | undefined> = {
    xmlns: stanza.ns,
    type: "error",
    id: stanza.attrs.id,
    from: stanza.attrs.to ?? serverJid,
    to: stanza.attrs.from,
  };
  const children: XmlNode[] = error.echoPayload ? [...stanza.children] : [];
  return el(stanza.name, attrs, ...children, error.toElement());
}
