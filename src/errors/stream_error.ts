/**
 * Stream errors (RFC 6120 §4.9): unrecoverable, sent as `<stream:error>`
 * followed by the closing stream tag.
 *
 * @module
 */

import { el, type Element } from "../xml/element.ts";
import { NS_STREAM_ERRORS, NS_STREAMS, NS_XMPP_ERRORS } from "../xml/ns.ts";

/** RFC 6120 §4.9.3 defined conditions. */
export type StreamErrorCondition =
  | "bad-format"
  | "bad-namespace-prefix"
  | "conflict"
  | "connection-timeout"
  | "host-gone"
  | "host-unknown"
  | "improper-addressing"
  | "internal-server-error"
  | "invalid-from"
  | "invalid-namespace"
  | "invalid-xml"
  | "not-authorized"
  | "not-well-formed"
  | "policy-violation"
  | "remote-connection-failed"
  | "reset"
  | "resource-constraint"
  | "restricted-xml"
  | "see-other-host"
  | "system-shutdown"
  | "undefined-condition"
  | "unsupported-encoding"
  | "unsupported-feature"
  | "unsupported-stanza-type"
  | "unsupported-version";

/**
 * A stream error to send before closing a stream.
 *
 * @example Usage
 * ```ts
 * import { StreamError } from "./stream_error.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StreamError("policy-violation", { appCondition: "stanza-too-big" });
 * assert.equal(serialize(error.toElement(), "jabber:client"),
 *   `<stream:error><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
 *   `<stanza-too-big xmlns="urn:xmpp:errors"/></stream:error>`);
 * ```
 */
export class StreamError extends Error {
  /** The defined condition. */
  readonly condition: StreamErrorCondition;
  /** Optional human-readable text sent in `<text/>`. */
  readonly text: string | undefined;
  /** Optional `urn:xmpp:errors` application condition. */
  readonly appCondition: string | undefined;

  /**
   * Creates a stream error.
   *
   * @param condition The defined condition.
   * @param options Text and application condition.
   */
  constructor(
    condition: StreamErrorCondition,
    options: { text?: string; appCondition?: string } = {},
  ) {
    super(options.text ?? condition);
    this.name = "StreamError";
    this.condition = condition;
    this.text = options.text;
    this.appCondition = options.appCondition;
  }

  /** The `<stream:error>` element. */
  toElement(): Element {
    return el(
      "error",
      { xmlns: NS_STREAMS },
      el(this.condition, { xmlns: NS_STREAM_ERRORS }),
      this.text !== undefined && el("text", { xmlns: NS_STREAM_ERRORS }, this.text),
      this.appCondition !== undefined && el(this.appCondition, { xmlns: NS_XMPP_ERRORS }),
    );
  }
}
