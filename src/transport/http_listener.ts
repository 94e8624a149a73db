/**
 * The HTTP listener for browsers and edge runtimes: one `Deno.serve` (plain
 * or TLS) that serves the RFC 7395 WebSocket endpoint and the XEP-0124/0206
 * BOSH endpoint, and resolves each client's real address behind trusted
 * reverse proxies so that per-address limits count clients, not the proxy.
 *
 * @module
 */

import type { ListenerConfig, ServerConfig } from "../config/schema.ts";
import { systemTimers, type Timers } from "../core/clock.ts";
import { CidrSet, parseIp } from "../limits/ip.ts";
import type { TlsMaterial } from "../tls/tls_material.ts";
import { type AcceptResult, BoshEndpoint, type BoshLimits, REFUSAL_STATUS } from "./bosh.ts";
import { unwrapMappedIpv4 } from "./tcp_transport.ts";
import type { Transport } from "./transport.ts";
import { WebSocketTransport } from "./websocket.ts";

export type { AcceptResult } from "./bosh.ts";

/** Options for {@linkcode listenHttp}. */
export interface HttpListenOptions {
  /** Address to bind, e.g. `"127.0.0.1"` or `"::"`. */
  host: string;
  /** Port to bind; `0` picks a free one (see {@linkcode HttpListener.addr}). */
  port: number;
  /** Certificate and key: serve HTTPS (`wss:`), and count connections as encrypted. */
  tls?: TlsMaterial;
  /** The served domain (BOSH session creations must name it). */
  domain: string;
  /**
   * The RFC 7395 endpoint.
   *
   * @default {"/xmpp-websocket"}
   */
  websocketPath?: string;
  /**
   * The BOSH endpoint.
   *
   * @default {"/http-bind"}
   */
  boshPath?: string;
  /**
   * Proxies (addresses or CIDRs) whose `X-Forwarded-For` and
   * `X-Forwarded-Proto` are believed.
   *
   * @default {[]}
   */
  trustedProxies?: readonly string[];
  /** BOSH caps (the resolved `http.bosh` section). */
  bosh: BoshLimits;
  /**
   * Prefix length under which IPv6 addresses count as one address.
   *
   * @default {64}
   */
  ipv6Prefix?: number;
  /**
   * Bytes of WebSocket messages kept while a stream's reading is paused.
   *
   * @default {1048576}
   */
  maxQueuedBytes?: number;
  /**
   * Timers for BOSH and WebSocket time windows.
   *
   * @default {systemTimers}
   */
  timers?: Timers;
  /**
   * Starts a stream over a new WebSocket or BOSH transport; this is where the
   * server's connection gate (XEP-0205) runs, before the upgrade or the
   * session exists.
   */
  accept(transport: Transport): AcceptResult;
  /**
   * Receives errors thrown while serving a request (answered with HTTP 500).
   *
   * @default {reportError}
   */
  onError?: (error: unknown) => void;
}

/** A listening HTTP server for the WebSocket and BOSH bindings. */
export interface HttpListener extends AsyncDisposable {
  /** The bound address; `port` is the real one when `0` was asked for. */
  readonly addr: { readonly hostname: string; readonly port: number };
  /** Open WebSocket connections and BOSH sessions. */
  readonly connections: number;
  /**
   * Stops accepting new XMPP connections (HTTP 503); open WebSockets and
   * BOSH sessions carry on so their streams can close cleanly.
   */
  close(): Promise<void>;
  /**
   * Closes the HTTP server: open WebSockets are closed (1000) and their close
   * handshakes awaited, remaining BOSH sessions end with `system-shutdown`,
   * then it waits for responses in flight.
   */
  shutdown(): Promise<void>;
}

/** What {@linkcode httpListenerOptions} derives from the configuration. */
export type HttpConfigOptions = Pick<
  HttpListenOptions,
  | "host"
  | "port"
  | "domain"
  | "websocketPath"
  | "boshPath"
  | "trustedProxies"
  | "bosh"
  | "ipv6Prefix"
  | "maxQueuedBytes"
>;

const XMPP_SUBPROTOCOL = "xmpp";
const MIN_QUEUED_BYTES = 1 << 20;

/**
 * The listener options one `http`/`https` entry of `listen` gets from the
 * configuration: paths, proxies and BOSH caps from `http`, the IPv6 prefix
 * from `limits`, and a WebSocket queue that holds at least two of the
 * largest stanzas the stream would still parse.
 *
 * @param config The resolved configuration.
 * @param listen The listener entry.
 * @returns Options for {@linkcode listenHttp}, without `accept`, `tls` and `timers`.
 *
 * @example Usage
 * ```ts
 * import { httpListenerOptions } from "./http_listener.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const config = resolveConfig({ http: { trusted_proxies: ["10.0.0.0/8"] } });
 * const options = httpListenerOptions(config, { type: "http", host: "127.0.0.1", port: 5280 });
 * assert.equal(options.boshPath, "/http-bind");
 * assert.deepEqual(options.trustedProxies, ["10.0.0.0/8"]);
 * ```
 */
export function httpListenerOptions(
  config: ServerConfig,
  listen: ListenerConfig,
): HttpConfigOptions {
  const http = config.http;
  const hard = config.limits.stanza_size_stream_error ?? 0;
  return {
    host: listen.host,
    port: listen.port,
    domain: config.domain,
    websocketPath: http.websocket_path,
    boshPath: http.bosh_path,
    trustedProxies: http.trusted_proxies,
    bosh: http.bosh,
    ipv6Prefix: config.limits.ipv6_prefix,
    maxQueuedBytes: Math.max(MIN_QUEUED_BYTES, 2 * hard),
  };
}

/**
 * The client's address: the connecting peer, unless the peer is a trusted
 * proxy, in which case `X-Forwarded-For` is read from the right (the hop
 * nearest to us) and the first address that is not itself a trusted proxy
 * is the client. A hop that is not an IP address stops the walk at the last
 * trusted one, so a forged or garbled header can never name an arbitrary
 * address.
 *
 * @param peer The connecting address.
 * @param forwardedFor The `X-Forwarded-For` header, or `null`.
 * @param trusted The trusted proxies.
 * @returns The address per-address limits should count.
 *
 * @example Usage
 * ```ts
 * import { clientAddress } from "./http_listener.ts";
 * import { CidrSet } from "../limits/ip.ts";
 * import assert from "node:assert/strict";
 *
 * const proxies = new CidrSet(["10.0.0.0/8"]);
 * assert.equal(clientAddress("10.0.0.5", "198.51.100.7, 10.0.0.9", proxies), "198.51.100.7");
 * assert.equal(clientAddress("192.0.2.1", "198.51.100.7", proxies), "192.0.2.1");
 * assert.equal(clientAddress("10.0.0.5", "forged, 10.0.0.9", proxies), "10.0.0.9");
 * ```
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | null,
  trusted: CidrSet,
): string {
  let address = unwrapMappedIpv4(peer);
  if (forwardedFor === null || !trusted.has(address)) return address;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = bareAddress(hops[i]!.trim());
    if (hop === undefined) return address;
    address = hop;
    if (!trusted.has(address)) return address;
  }
  return address;
}

/** An address from a forwarded hop (`[v6]:port` and `v4:port` lose the port), or `undefined`. */
function bareAddress(hop: string): string | undefined {
  let text = hop;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return undefined;
    text = text.slice(1, end);
  } else if (text.indexOf(":") === text.lastIndexOf(":") && text.includes(".")) {
    const colon = text.indexOf(":");
    if (colon >= 0) text = text.slice(0, colon);
  }
  try {
    parseIp(text);
  } catch {
    return undefined;
  }
  return unwrapMappedIpv4(text);
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

class Listener implements HttpListener {
  #server: Deno.HttpServer<Deno.NetAddr>;
  #options: HttpListenOptions;
  #bosh: BoshEndpoint;
  #trusted: CidrSet;
  #websocketPath: string;
  #boshPath: string;
  #sockets = new Set<WebSocketTransport>();
  #closing = false;
  #shutdown: Promise<void> | undefined;

  constructor(options: HttpListenOptions) {
    this.#options = options;
    this.#trusted = new CidrSet(options.trustedProxies ?? []);
    this.#websocketPath = options.websocketPath ?? "/xmpp-websocket";
    this.#boshPath = options.boshPath ?? "/http-bind";
    this.#bosh = new BoshEndpoint({
      domain: options.domain,
      limits: options.bosh,
      ...(options.ipv6Prefix !== undefined && { ipv6Prefix: options.ipv6Prefix }),
      timers: options.timers ?? systemTimers,
      accept: (transport) => this.#closing ? "unavailable" : options.accept(transport),
    });
    const serve = {
      hostname: options.host,
      port: options.port,
      onListen() {},
      onError: (error: unknown) => {
        (options.onError ?? reportError)(error);
        return plain(500, "Internal server error");
      },
    };
    const handler = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
      this.#route(request, info);
    this.#server = options.tls === undefined
      ? Deno.serve(serve, handler)
      : Deno.serve({ ...serve, cert: options.tls.cert, key: options.tls.key }, handler);
  }

  get addr(): { hostname: string; port: number } {
    const { hostname, port } = this.#server.addr;
    return { hostname: unwrapMappedIpv4(hostname), port };
  }

  get connections(): number {
    return this.#sockets.size + this.#bosh.sessions;
  }

  close(): Promise<void> {
    this.#closing = true;
    this.#bosh.close();
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#closing = true;
      // Closing the HTTP server cuts WebSockets (1001): let close handshakes
      // already under way finish (each is bounded by its close timeout) first.
      const sockets = [...this.#sockets];
      for (const transport of sockets) transport.close();
      await Promise.all(sockets.map((transport) => transport.finished));
      this.#bosh.shutdown();
      await this.#server.shutdown();
    })();
    return this.#shutdown;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
    await this.shutdown();
  }

  #route(
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    const peer = unwrapMappedIpv4(info.remoteAddr.hostname);
    const trustedPeer = this.#trusted.has(peer);
    const address = trustedPeer
      ? clientAddress(peer, request.headers.get("x-forwarded-for"), this.#trusted)
      : peer;
    const encrypted = this.#options.tls !== undefined ||
      (trustedPeer &&
        request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() ===
          "https");
    if (path === this.#websocketPath) return this.#websocket(request, address, encrypted);
    if (path === this.#boshPath) return this.#bosh.handle(request, { address, encrypted });
    return plain(404, "Not found");
  }

  #websocket(request: Request, address: string, encrypted: boolean): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return plain(426, "This is the XMPP WebSocket endpoint (RFC 7395)", {
        upgrade: "websocket",
      });
    }
    // RFC 7395 §3.1: the client offers "xmpp"; anything else is not ours.
    const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
      .map((protocol) => protocol.trim());
    if (!offered.includes(XMPP_SUBPROTOCOL)) {
      return plain(400, 'Cannot upgrade: the WebSocket subprotocol must be "xmpp"');
    }
    const transport = new WebSocketTransport({
      remoteAddress: address,
      encrypted,
      ...(this.#options.maxQueuedBytes !== undefined &&
        { maxQueuedBytes: this.#options.maxQueuedBytes }),
      ...(this.#options.timers !== undefined && { timers: this.#options.timers }),
    });
    // XEP-0205: the connection gate decides before the upgrade, so a refused
    // client gets an HTTP status and never a WebSocket.
    const result = this.#closing ? "unavailable" : this.#options.accept(transport);
    if (result !== "accepted") {
      transport.destroy();
      return plain(REFUSAL_STATUS[result], "Connection refused");
    }
    const { socket, response } = Deno.upgradeWebSocket(request, {
      protocol: XMPP_SUBPROTOCOL,
    });
    this.#sockets.add(transport);
    void transport.finished.then(() => this.#sockets.delete(transport));
    transport.bind(socket);
    return response;
  }
}

/**
 * Starts an HTTP (or, with `tls`, HTTPS) listener serving the WebSocket and
 * BOSH endpoints. Other paths get 404.
 *
 * @param options Address, TLS material, paths, proxies, caps and the connection gate.
 * @returns The listener, bound.
 * @throws {RangeError} If `port` is not an integer in 0..65535.
 * @throws {TypeError} If a trusted proxy is not an address or CIDR.
 * @throws {Error} If the address cannot be bound.
 *
 * @example Usage
 * ```ts
 * import { listenHttp } from "./http_listener.ts";
 * import { DEFAULT_CONFIG } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * await using listener = await listenHttp({
 *   host: "127.0.0.1", port: 0, domain: "example.org", bosh: DEFAULT_CONFIG.http.bosh,
 *   accept: () => "limited",
 * });
 * const response = await fetch(`http://127.0.0.1:${listener.addr.port}/xmpp-websocket`);
 * assert.equal(response.status, 426);
 * await response.body?.cancel();
 * ```
 */
// deno-lint-ignore require-await -- async so that bind errors reject like listenTcp's
export async function listenHttp(options: HttpListenOptions): Promise<HttpListener> {
  const { port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot listen: 'port' must be an integer in 0..65535, got ${port}`);
  }
  return new Listener(options);
}
