/**
 * The XEP-0124/0206 BOSH endpoint: turns HTTP requests into
 * {@linkcode BoshSession} calls, after the HTTP-level limits: requests open
 * at once per address, body size, and (through the server's `accept`, which
 * is the XEP-0205 connection gate) session creations per address.
 *
 * @module
 */

import type { Timers } from "../core/clock.ts";
import { ipKey } from "../limits/ip.ts";
import { boshBody, parseBoshBody, readBoshAttributes } from "./bosh_body.ts";
import { type BoshCondition, BoshSession } from "./bosh_session.ts";
import type { Transport } from "./transport.ts";

/** What the server answered for a new connection. */
export type AcceptResult =
  /** A stream runs over the transport now. */
  | "accepted"
  /** An embedder's `connection` handler refused it (HTTP 403). */
  | "refused"
  /** A XEP-0205 connection limit refused it (HTTP 429). */
  | "limited"
  /** The server is stopping (HTTP 503). */
  | "unavailable";

/** Server-side caps of the session parameters (the `http.bosh` section, resolved). */
export interface BoshLimits {
  /** Longest hold of a request, in milliseconds (whole seconds). */
  max_wait: number;
  /** Requests held at once per session. */
  max_hold: number;
  /** Simultaneous requests per session. */
  max_requests: number;
  /** A session with no open request for this long ends, in milliseconds. */
  inactivity: number;
  /** Shortest interval between overactive empty polls, in milliseconds. */
  polling: number;
  /** Largest request body, in bytes. */
  max_body: number;
  /** HTTP requests open at once per address. */
  max_requests_per_ip: number;
}

/** Options for {@linkcode BoshEndpoint}. */
export interface BoshEndpointOptions {
  /** The served domain; a session creation `to` must name it. */
  domain: string;
  /** The caps. */
  limits: BoshLimits;
  /**
   * Prefix length under which IPv6 addresses count as one for
   * `max_requests_per_ip`.
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /** Timers for wait, inactivity and polling. */
  timers: Timers;
  /** Starts a stream over a new session (the server's connection gate runs here). */
  accept(transport: Transport): AcceptResult;
}

/** Where a request came from, as the HTTP listener resolved it. */
export interface BoshClient {
  /** The client's address (after trusted-proxy resolution). */
  address: string;
  /** Whether the request arrived over TLS. */
  encrypted: boolean;
}

const RID_REGEXP = /^(0|[1-9]\d{0,15})$/;
const CONTENT_TYPE = "text/xml; charset=utf-8";
const CORS_HEADERS = {
  // Authentication happens inside the stream (SASL), never with cookies, so
  // any page may talk to the endpoint.
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "86400",
};
/**
 * The HTTP status of each refusal before a stream exists.
 *
 * @example Usage
 * ```ts
 * import { REFUSAL_STATUS } from "./bosh.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(REFUSAL_STATUS.limited, 429);
 * ```
 */
export const REFUSAL_STATUS: Readonly<Record<Exclude<AcceptResult, "accepted">, number>> = {
  refused: 403,
  limited: 429,
  unavailable: 503,
};

function xmlResponse(text: string, status = 200): Response {
  return new Response(text, {
    status,
    headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store", ...CORS_HEADERS },
  });
}

function terminal(condition: BoshCondition, status = 200): Response {
  return xmlResponse(boshBody({ type: "terminate", condition }, ""), status);
}

function randomSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let sid = "";
  for (const byte of bytes) sid += byte.toString(16).padStart(2, "0");
  return sid;
}

function numberAttr(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  return Number(value);
}

/** Reads at most `max + 1` bytes of a body; `oversized` when there was more. */
async function readBody(
  request: Request,
  max: number,
): Promise<{ bytes: Uint8Array; oversized: boolean }> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  // A declared oversize still reads the start tag, to find the session.
  const enough = declared > max ? 4096 : max + 1;
  const reader = request.body?.getReader();
  if (reader === undefined) return { bytes: new Uint8Array(0), oversized: false };
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < enough) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
  }
  const oversized = total > max || declared > max;
  if (total >= enough) await reader.cancel().catch(() => {});
  if (chunks.length === 1) return { bytes: chunks[0]!, oversized };
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, oversized };
}

/**
 * The BOSH endpoint of an HTTP listener: session creation, requests in `rid`
 * order, and the HTTP-level limits. Over a limit before a session exists the
 * answer is an HTTP refusal (413 body too large, 429 too many requests or
 * connections, 403 refused, 503 stopping); once a session exists it is the
 * XEP-0124 `<body type='terminate' condition='policy-violation'/>`.
 *
 * The session table is keyed by random ids the server makes; it holds live
 * sessions (bounded by the XEP-0205 connection limits) and, briefly, ended
 * ones whose last response is not collected yet. The per-address request
 * counts exist only while a request is open.
 *
 * @example Usage
 * ```ts
 * import { BoshEndpoint } from "./bosh.ts";
 * import { DEFAULT_CONFIG } from "../config/schema.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const endpoint = new BoshEndpoint({
 *   domain: "example.org", limits: DEFAULT_CONFIG.http.bosh, timers: new ManualClock(),
 *   accept: () => "limited",
 * });
 * const response = await endpoint.handle(new Request("http://example.org/http-bind", {
 *   method: "POST",
 *   body: "<body rid='1' to='example.org' wait='60' hold='1' xmpp:version='1.0' " +
 *     "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>",
 * }), { address: "192.0.2.1", encrypted: true });
 * assert.equal(response.status, 429);
 * ```
 */
export class BoshEndpoint {
  #options: BoshEndpointOptions;
  #sessions = new Map<string, BoshSession>();
  #open = new Map<string, number>();
  #closing = false;

  /**
   * Creates the endpoint.
   *
   * @param options Domain, caps, timers and the server's connection gate.
   */
  constructor(options: BoshEndpointOptions) {
    this.#options = options;
  }

  /** Sessions in the table, live or waiting to deliver their end. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Answers one HTTP request to the BOSH path.
   *
   * @param request The request.
   * @param client Its resolved address and whether it came over TLS.
   * @returns The response, once the request is answered (it may be held up to `wait`).
   */
  async handle(request: Request, client: BoshClient): Promise<Response> {
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: CORS_HEADERS });
    }
    if (request.method !== "POST") {
      return new Response("BOSH takes POST requests\n", {
        status: 405,
        headers: { allow: "POST, OPTIONS", ...CORS_HEADERS },
      });
    }
    const key = this.#addressKey(client.address);
    const open = this.#open.get(key) ?? 0;
    if (open >= this.#options.limits.max_requests_per_ip) {
      return terminal("policy-violation", 429);
    }
    this.#open.set(key, open + 1);
    try {
      return await this.#handle(request, client);
    } finally {
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    }
  }

  /** Refuses new sessions from now on (HTTP 503); open ones carry on. */
  close(): void {
    this.#closing = true;
  }

  /**
   * Ends every session at once, answers their open requests and forgets them
   * (the listener is shutting down).
   */
  shutdown(): void {
    this.#closing = true;
    for (const session of [...this.#sessions.values()]) session.shutdown();
    this.#sessions.clear();
  }

  async #handle(request: Request, client: BoshClient): Promise<Response> {
    const limits = this.#options.limits;
    const { bytes, oversized } = await readBody(request, limits.max_body);
    if (oversized) {
      const sid = readBoshAttributes(bytes)?.sid;
      const session = sid === undefined ? undefined : this.#sessions.get(sid);
      if (session === undefined) {
        return new Response(`Body over ${limits.max_body} bytes\n`, {
          status: 413,
          headers: CORS_HEADERS,
        });
      }
      return xmlResponse(await session.terminate("policy-violation"));
    }
    let body;
    try {
      body = parseBoshBody(bytes);
    } catch {
      return terminal("bad-request", 400);
    }
    const { sid, rid: ridText } = body.attrs;
    const session = sid === undefined ? undefined : this.#sessions.get(sid);
    if (ridText === undefined || !RID_REGEXP.test(ridText)) {
      if (session !== undefined) return xmlResponse(await session.terminate("bad-request"));
      return terminal("bad-request", 400);
    }
    const rid = Number(ridText);
    if (sid !== undefined) {
      // XEP-0124 §17.2: an unknown (or expired) session.
      if (session === undefined) return terminal("item-not-found");
      return xmlResponse(await session.request(rid, body));
    }
    return await this.#create(rid, body.attrs, client);
  }

  async #create(
    rid: number,
    attrs: Record<string, string>,
    client: BoshClient,
  ): Promise<Response> {
    const { domain, limits, timers } = this.#options;
    if (this.#closing) return terminal("system-shutdown", 503);
    const to = attrs.to;
    if (to === undefined) return terminal("bad-request", 400);
    // XEP-0124 §17.2: a domain this server does not serve.
    if (to.toLowerCase() !== domain) return terminal("host-unknown");
    // XEP-0124 §7.1: the client proposes wait and hold; the server caps them.
    const waitSeconds = numberAttr(attrs.wait) ?? limits.max_wait / 1000;
    const waitMs = Math.min(waitSeconds * 1000, limits.max_wait);
    const hold = Math.min(numberAttr(attrs.hold) ?? 1, limits.max_hold, limits.max_requests - 1);
    const session = new BoshSession({
      sid: randomSid(),
      domain,
      lang: attrs["xml:lang"],
      version: attrs["xmpp:version"],
      waitMs,
      hold,
      requests: hold + 1,
      inactivityMs: limits.inactivity,
      pollingMs: limits.polling,
      remoteAddress: client.address,
      encrypted: client.encrypted,
      timers,
      onGone: (gone) => {
        if (this.#sessions.get(gone.sid) === gone) this.#sessions.delete(gone.sid);
      },
    });
    // XEP-0205: session creations are connection attempts, gated like TCP ones.
    const result = this.#options.accept(session);
    if (result !== "accepted") return terminal("policy-violation", REFUSAL_STATUS[result]);
    this.#sessions.set(session.sid, session);
    return xmlResponse(await session.start(rid));
  }

  #addressKey(address: string): string {
    try {
      return ipKey(address, { ipv6Prefix: this.#options.ipv6Prefix ?? 64 });
    } catch {
      return address;
    }
  }
}
