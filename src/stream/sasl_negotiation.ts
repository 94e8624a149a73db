/**
 * The SASL part of stream negotiation (RFC 6120 §6.4): `<auth/>`,
 * `<challenge/>`/`<response/>`, `<abort/>`, `<success/>` and `<failure/>`,
 * with a bounded number of failures per stream.
 *
 * @module
 */

import type { SaslExchange, SaslFailureCondition, SaslMechanism } from "../auth/sasl_mechanism.ts";
import { decodeBase64 } from "../core/base64.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_SASL } from "../xml/ns.ts";

/** What the session does after one SASL element. */
export type SaslResult =
  /** Send `reply` and wait for the client's next element. */
  | { kind: "continue"; reply: Element }
  /** Send `reply`; the stream is authenticated as `username`; restart it. */
  | { kind: "success"; reply: Element; username: string; mechanism: string }
  /** Send `reply`; `exhausted` when the stream has used up its attempts and must close. */
  | {
    kind: "failure";
    reply: Element;
    condition: SaslFailureCondition;
    mechanism: string | undefined;
    exhausted: boolean;
  };

function decodeResponse(text: string): Uint8Array | undefined {
  const trimmed = text.trim();
  // RFC 6120 §6.4.2: "=" stands for an empty response.
  if (trimmed === "=") return new Uint8Array(0);
  // One allocation; the built-in decoder takes twice as long for a SASL message.
  return decodeBase64(trimmed);
}

function dataElement(name: string, data: Uint8Array | string | undefined): Element {
  if (data === undefined || data.length === 0) return el(name, { xmlns: NS_SASL });
  return el(name, { xmlns: NS_SASL }, typeof data === "string" ? btoa(data) : data.toBase64());
}

/**
 * Runs SASL on one stream. One instance per stream; it lives only while the
 * stream authenticates.
 *
 * @example Usage
 * ```ts
 * import { SaslNegotiation } from "./sasl_negotiation.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const sasl = new SaslNegotiation({ maxFailures: 2 });
 * const auth = el("auth", { xmlns: "urn:ietf:params:xml:ns:xmpp-sasl", mechanism: "X-NONE" });
 * const result = await sasl.handle(auth, new Map(), { encrypted: true });
 * assert.equal(result.kind, "failure");
 * assert.ok(result.kind === "failure" && result.condition === "invalid-mechanism");
 * ```
 */
export class SaslNegotiation {
  #maxFailures: number;
  #failures = 0;
  #exchange: SaslExchange | undefined;
  #mechanism: string | undefined;

  /**
   * @param options `maxFailures`: failures allowed before the stream must close (RFC 6120 §6.4.5: 2 to 5).
   * @throws {RangeError} If `maxFailures` is not a positive integer (`NaN` would never exhaust,
   * allowing unlimited password guesses on one stream).
   */
  constructor(options: { maxFailures: number }) {
    const { maxFailures } = options;
    if (!Number.isInteger(maxFailures) || maxFailures < 1) {
      throw new RangeError(
        `Cannot create SASL negotiation: 'maxFailures' must be a positive integer, got ${maxFailures}`,
      );
    }
    this.#maxFailures = maxFailures;
  }

  /** Failures so far on this stream. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Handles one element in the SASL namespace.
   *
   * @param element `<auth/>`, `<response/>` or `<abort/>`.
   * @param offered The mechanisms offered on this stream, by name.
   * @param context Facts about the stream.
   * @returns What to send and what happens next.
   */
  async handle(
    element: Element,
    offered: ReadonlyMap<string, SaslMechanism>,
    context: { encrypted: boolean },
  ): Promise<SaslResult> {
    if (element.name === "abort") return this.#fail("aborted");
    if (element.name === "auth") {
      const name = element.attrs.mechanism ?? "";
      const mechanism = offered.get(name);
      if (mechanism === undefined) return this.#fail("invalid-mechanism");
      this.#mechanism = name;
      this.#exchange = mechanism.start(context);
      const text = element.text();
      // No initial response: send an empty challenge and wait (RFC 6120 §6.4.2).
      if (text.trim() === "") {
        return { kind: "continue", reply: dataElement("challenge", undefined) };
      }
      return await this.#step(text);
    }
    if (element.name === "response" && this.#exchange !== undefined) {
      return await this.#step(element.text());
    }
    return this.#fail("malformed-request");
  }

  async #step(text: string): Promise<SaslResult> {
    const exchange = this.#exchange!;
    const data = decodeResponse(text);
    if (data === undefined) return this.#fail("incorrect-encoding");
    const step = await exchange.step(data);
    if (step.kind === "challenge") {
      return { kind: "continue", reply: dataElement("challenge", step.data) };
    }
    if (step.kind === "success") {
      this.#exchange = undefined;
      return {
        kind: "success",
        reply: dataElement("success", step.data),
        username: step.username,
        mechanism: this.#mechanism!,
      };
    }
    return this.#fail(step.condition, step.text);
  }

  #fail(condition: SaslFailureCondition, text?: string): SaslResult {
    const mechanism = this.#mechanism;
    this.#exchange = undefined;
    this.#mechanism = undefined;
    // An abort is the client's choice, not a failed guess; it does not count.
    if (condition !== "aborted") this.#failures++;
    const reply = el(
      "failure",
      { xmlns: NS_SASL },
      el(condition),
      text !== undefined && el("text", {}, text),
    );
    return {
      kind: "failure",
      reply,
      condition,
      mechanism,
      exhausted: this.#failures >= this.#maxFailures,
    };
  }
}
