/**
 * The `<stream:features/>` a client sees at each stage of negotiation
 * (RFC 6120 §4.3.2): STARTTLS, then SASL, then binding.
 *
 * @module
 */

import { el, type Element } from "../xml/element.ts";
import { NS_BIND, NS_SASL, NS_SESSION, NS_STREAM_LIMITS, NS_STREAMS, NS_TLS } from "../xml/ns.ts";

/** What decides which features are offered. */
export interface FeatureState {
  /** The stream is already encrypted. */
  encrypted: boolean;
  /** STARTTLS can be offered on this transport. */
  canStartTls: boolean;
  /** TLS is mandatory before anything else. */
  tlsRequired: boolean;
  /** SASL has succeeded. */
  authenticated: boolean;
  /** SASL mechanism names offered now. */
  mechanisms: readonly string[];
  /** XEP-0478 figures to announce, or `undefined` to announce none. */
  limits: { maxBytes: number | null; idleSeconds: number } | undefined;
}

/**
 * Builds the features element for the current stage. When TLS is required
 * and not yet on, only STARTTLS is offered (RFC 6120 §5.3.1).
 *
 * @param state The stream's negotiation state.
 * @returns The `<stream:features/>` element.
 *
 * @example Usage
 * ```ts
 * import { buildFeatures } from "./features.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const features = buildFeatures({ encrypted: false, canStartTls: true, tlsRequired: true,
 *   authenticated: false, mechanisms: ["PLAIN"], limits: undefined });
 * assert.equal(serialize(features, "jabber:client"),
 *   `<stream:features><starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/>` +
 *   `</starttls></stream:features>`);
 * ```
 */
export function buildFeatures(state: FeatureState): Element {
  const features = el("features", { xmlns: NS_STREAMS });
  if (state.authenticated) {
    features.append(
      el("bind", { xmlns: NS_BIND }),
      el("session", { xmlns: NS_SESSION }, el("optional")),
    );
  } else {
    const offerTls = !state.encrypted && state.canStartTls;
    if (offerTls) {
      features.append(el("starttls", { xmlns: NS_TLS }, state.tlsRequired && el("required")));
    }
    const tlsPending = state.tlsRequired && !state.encrypted;
    if (!tlsPending && state.mechanisms.length > 0) {
      features.append(
        el(
          "mechanisms",
          { xmlns: NS_SASL },
          ...state.mechanisms.map((name) => el("mechanism", {}, name)),
        ),
      );
    }
  }
  if (state.limits !== undefined) features.append(limitsElement(state.limits));
  return features;
}

// XEP-0478: announce what the server enforces so clients can stay under it.
function limitsElement(limits: { maxBytes: number | null; idleSeconds: number }): Element {
  return el(
    "limits",
    { xmlns: NS_STREAM_LIMITS },
    limits.maxBytes !== null && el("max-bytes", {}, String(limits.maxBytes)),
    el("idle-seconds", {}, String(limits.idleSeconds)),
  );
}

/** Distinct feature texts kept per serializer; more means a reload churned the limits. */
const MAX_CACHED_FEATURES = 64;
const serializedCache = new WeakMap<(element: Element) => string, Map<string, string>>();

/**
 * The serialized {@linkcode buildFeatures} element with `extra` features
 * appended, from a cache. A stream's features follow from a handful of
 * facts, not from the stream, so a server sends the same few texts to every
 * client: each is built once per serializer (framing) instead of twice per
 * login.
 *
 * @param state The stream's negotiation state.
 * @param extra Features the host adds (roster versioning, registration...), appended in order.
 * @param serialize How the stream writes an element (its framing).
 * @returns The text to send.
 *
 * @example Usage
 * ```ts
 * import { serializedFeatures } from "./features.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import { el, type Element } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const write = (element: Element) => serialize(element, "jabber:client");
 * const state = { encrypted: true, canStartTls: false, tlsRequired: false,
 *   authenticated: true, mechanisms: [], limits: undefined };
 * const text = serializedFeatures(state, [el("ver", { xmlns: "urn:xmpp:features:rosterver" })], write);
 * assert.equal(text, '<stream:features><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>' +
 *   '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>' +
 *   '<ver xmlns="urn:xmpp:features:rosterver"/></stream:features>');
 * assert.equal(serializedFeatures(state, [el("ver", { xmlns: "urn:xmpp:features:rosterver" })], write), text);
 * ```
 */
export function serializedFeatures(
  state: FeatureState,
  extra: readonly Element[],
  serialize: (element: Element) => string,
): string {
  let key = (state.encrypted ? "E" : "-") + (state.canStartTls ? "S" : "-") +
    (state.tlsRequired ? "R" : "-") + (state.authenticated ? "A" : "-");
  const limits = state.limits;
  key += limits === undefined ? "|" : `|${limits.maxBytes},${limits.idleSeconds}`;
  // NUL separates names: it cannot occur in a mechanism name nor in XML.
  for (const name of state.mechanisms) key += "\0" + name;
  key += "|";
  for (const element of extra) key += serialize(element);
  let cache = serializedCache.get(serialize);
  if (cache === undefined) {
    cache = new Map();
    serializedCache.set(serialize, cache);
  }
  let text = cache.get(key);
  if (text === undefined) {
    const features = buildFeatures(state);
    features.append(...extra);
    text = serialize(features);
    if (cache.size >= MAX_CACHED_FEATURES) cache.clear();
    cache.set(key, text);
  }
  return text;
}
