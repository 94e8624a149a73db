/**
 * IQ handlers by type and payload (RFC 6120 §8.2.3): a request nobody
 * handles gets `<service-unavailable/>`, a handler that throws gets
 * `<internal-server-error/>`, and the stream lives on either way.
 *
 * @module
 */

import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { el, type Element } from "../xml/element.ts";

/** Who an IQ is addressed to. */
export type IqScope =
  /** The server itself (`to` is the domain). */
  | "host"
  /** The sender's own account (`to` absent or the sender's bare JID). */
  | "account";

/** One IQ request as a handler sees it. */
export interface IqRequest {
  /** The whole stanza. */
  stanza: Element;
  /** Its single child element. */
  payload: Element;
  /** The sender's full JID, as stamped. */
  from: string;
  /** The addressee the request was routed to. */
  to: string;
}

/**
 * Answers a request: the result payload (or `undefined` for an empty
 * result), or a {@linkcode StanzaError}. May be asynchronous.
 */
export type IqHandler = (
  request: IqRequest,
) => Element | undefined | StanzaError | Promise<Element | undefined | StanzaError>;

function key(scope: IqScope, type: "get" | "set", ns: string, name: string): string {
  return scope + " " + type + " " + ns + " " + name;
}

/**
 * Handlers for IQ requests, keyed by scope, type, payload namespace and name.
 *
 * @example Usage
 * ```ts
 * import { IqRegistry } from "./iq_registry.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = new IqRegistry();
 * registry.set("host", "get", "urn:xmpp:ping", "ping", () => undefined);
 * const ping = el("iq", { xmlns: "jabber:client", type: "get", id: "p1", from: "a@x/r", to: "x" },
 *   el("ping", { xmlns: "urn:xmpp:ping" }));
 * const reply = await registry.handle("host", ping, "x");
 * assert.equal(reply?.attrs.type, "result");
 * ```
 */
export class IqRegistry {
  #handlers = new Map<string, { handler: IqHandler }>();
  #onError: (error: unknown, request: IqRequest) => void;

  /**
   * @param onError Told about handlers that throw (for logs).
   */
  constructor(onError: (error: unknown, request: IqRequest) => void = () => {}) {
    this.#onError = onError;
  }

  /**
   * Registers a handler; disposing the result removes it.
   *
   * @throws {TypeError} If a handler is already registered for the same key.
   */
  set(
    scope: IqScope,
    type: "get" | "set",
    ns: string,
    name: string,
    handler: IqHandler,
  ): Disposable {
    const k = key(scope, type, ns, name);
    if (this.#handlers.has(k)) {
      throw new TypeError(`Cannot register IQ handler: '${k}' already has one`);
    }
    // Each registration is its own entry, so a late or repeated dispose cannot remove a
    // handler registered under the same key afterwards (even the same function).
    const entry = { handler };
    this.#handlers.set(k, entry);
    return {
      [Symbol.dispose]: () => {
        if (this.#handlers.get(k) === entry) this.#handlers.delete(k);
      },
    };
  }

  /** Whether a handler exists for this key. */
  has(scope: IqScope, type: "get" | "set", ns: string, name: string): boolean {
    return this.#handlers.has(key(scope, type, ns, name));
  }

  /**
   * Answers an IQ of type `get` or `set`. Results and errors are returned,
   * never thrown. Returns `undefined` for `result`/`error` IQs, which get no answer.
   *
   * @param scope Who the IQ is addressed to.
   * @param stanza The request with a stamped `from`.
   * @param to The addressee to answer from.
   * @returns The reply stanza, or `undefined` when none is due.
   */
  async handle(scope: IqScope, stanza: Element, to: string): Promise<Element | undefined> {
    const type = stanza.attrs.type;
    if (type !== "get" && type !== "set") return undefined;
    const payloads = stanza.elements();
    const payload = payloads[0];
    // RFC 6120 §8.2.3: a get or set has exactly one child.
    if (payload === undefined || payloads.length !== 1) {
      return errorReply(stanza, new StanzaError("modify", "bad-request"), to);
    }
    const handler = this.#handlers.get(key(scope, type, payload.ns ?? "", payload.name))?.handler;
    if (handler === undefined) {
      return errorReply(stanza, new StanzaError("cancel", "service-unavailable"), to);
    }
    const request: IqRequest = { stanza, payload, from: stanza.attrs.from ?? "", to };
    let outcome: Element | undefined | StanzaError;
    try {
      outcome = await handler(request);
    } catch (error) {
      this.#onError(error, request);
      return errorReply(stanza, new StanzaError("cancel", "internal-server-error"), to);
    }
    if (outcome instanceof StanzaError) return errorReply(stanza, outcome, to);
    return el(
      "iq",
      { xmlns: stanza.ns, type: "result", id: stanza.attrs.id, from: to, to: stanza.attrs.from },
      outcome,
    );
  }
}
