/**
 * The optional admin listener (`admin:` in the configuration): an HTTP server
 * on its own address serving
 *
 * | route | what |
 * |---|---|
 * | `GET /` | the status page (static HTML; its data comes from `/status`) |
 * | `GET /metrics` | Prometheus text |
 * | `GET /status` | JSON: uptime, connections, sessions, limits, limited subjects, history |
 * | `GET /api/limits` | `{ limits }`: the `limits:` section in force |
 * | `PUT /api/limits` | body = a new `limits:` section; 400 with the `ConfigError` message |
 * | `GET /api/bans` | `{ bans }` |
 * | `POST /api/bans` | body `{ address, durationMs?, reason? }`; 201 `{ ban }` |
 * | `DELETE /api/bans/:address` | lifts a runtime ban (CIDR slash URL-encoded as `%2F`); 404 if none |
 *
 * With a token, every route but `GET /` needs `Authorization: Bearer <token>`
 * (compared in constant time). Without one, the listener must be on a
 * loopback address, and requests must name a loopback or IP host (DNS
 * rebinding cannot reach it). Bodies must be `application/json`, which
 * browsers cannot send cross-site without a preflight this server never
 * grants.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { LimitsConfig } from "../config/schema.ts";
import { ConfigError } from "../config/validate.ts";
import { Logger } from "../core/log.ts";
import type { BanEntry, BanOptions } from "../limits/ban_list.ts";
import type { LimitsSnapshot } from "../limits/limit_engine.ts";
import { isLoopbackHost } from "./loopback.ts";
import type { MetricsSource, ServerMetrics } from "./metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./status_page.ts";
import { banView, buildStatusReport } from "./status_report.ts";

/** The limit controls the admin API uses (an `XmppServer`'s `limits`). */
export interface AdminLimits {
  /** Live limiter state. */
  snapshot(): LimitsSnapshot;
  /** Refuses an address or CIDR from now on. */
  ban(addressOrCidr: string, options?: BanOptions): BanEntry;
  /** Lifts a runtime ban. */
  unban(addressOrCidr: string): boolean;
  /** Replaces the `limits:` section; throws `ConfigError`. */
  update(limits: unknown): LimitsConfig;
}

/** What the admin listener serves: an `XmppServer` fits. */
export interface AdminTarget extends MetricsSource {
  /** Limit controls and state. */
  readonly limits: AdminLimits;
  /** The configuration in force (its `limits:` until the first `PUT /api/limits`). */
  readonly config: { readonly limits: LimitsConfig };
}

/** Options for {@linkcode AdminServer.start} and {@linkcode createAdminHandler}. */
export interface AdminServerOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  host?: string;
  /**
   * The port; 0 picks a free one.
   *
   * @default {5290}
   */
  port?: number;
  /**
   * The bearer token every API request must carry; required unless `host` is loopback.
   *
   * @default {undefined}
   */
  token?: string | undefined;
  /**
   * Where admin actions and refused requests are logged.
   *
   * @default {a logger that writes nothing}
   */
  log?: Logger;
  /**
   * The largest request body accepted, in bytes.
   *
   * @default {1048576}
   */
  maxBodyBytes?: number;
}

/** A request handler, as `Deno.serve` takes it. */
export type AdminHandler = (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};
const MAX_REASON_LENGTH = 200;
const MAX_ADDRESS_LENGTH = 100;

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Hostname of a `Host` header value (IPv6 without brackets), lower-cased. */
function hostOf(header: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (bracketed !== null) return bracketed[1]!.toLowerCase();
  return header.replace(/:\d+$/, "").toLowerCase();
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, "Cannot read body: expected content-type application/json");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    throw new HttpError(413, `Cannot read body: larger than ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        throw new HttpError(413, `Cannot read body: larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new HttpError(400, `Cannot parse body as JSON: ${(error as Error).message}`);
  }
}

function banOptions(body: unknown): { address: string; options: BanOptions } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      "Cannot ban: expected a JSON object { address, durationMs?, reason? }",
    );
  }
  const { address, durationMs, reason, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new HttpError(400, `Cannot ban: unknown key '${unknown[0]}'`);
  }
  if (typeof address !== "string" || address === "" || address.length > MAX_ADDRESS_LENGTH) {
    throw new HttpError(400, "Cannot ban: 'address' must be an IP address or CIDR string");
  }
  const options: BanOptions = {};
  if (durationMs !== undefined && durationMs !== null) {
    if (typeof durationMs !== "number" || !(durationMs > 0)) {
      throw new HttpError(
        400,
        `Cannot ban: 'durationMs' must be a positive number, got ${JSON.stringify(durationMs)}`,
      );
    }
    options.durationMs = durationMs;
  }
  if (reason !== undefined && reason !== null) {
    if (typeof reason !== "string" || reason.length > MAX_REASON_LENGTH) {
      throw new HttpError(
        400,
        `Cannot ban: 'reason' must be a string of at most ${MAX_REASON_LENGTH} characters`,
      );
    }
    options.reason = reason;
  }
  return { address, options };
}

function checkOptions(options: AdminServerOptions): void {
  const { host = "127.0.0.1", token } = options;
  if (token !== undefined && (typeof token !== "string" || token === "")) {
    throw new TypeError("Cannot start admin listener: 'token' must be a non-empty string");
  }
  if (token === undefined && !isLoopbackHost(host)) {
    throw new TypeError(
      `Cannot start admin listener: a 'token' is required unless 'host' is a loopback address, got '${host}'`,
    );
  }
}

/**
 * Builds the admin request handler without listening (tests, or mounting in
 * an app's own `Deno.serve`).
 *
 * @param target The server to administer.
 * @param metrics The server's metrics.
 * @param options The token, logger and body cap (`host` is the allowed
 * `Host` when there is no token).
 * @returns A handler for `Deno.serve`.
 * @throws {TypeError} If there is no token and `host` is not loopback.
 *
 * @example Usage
 * ```ts
 * import { createAdminHandler } from "./admin_server.ts";
 * import { ServerMetrics } from "./metrics.ts";
 * import { XmppServer } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new XmppServer({ listen: [], storage: { type: "memory" } });
 * using metrics = new ServerMetrics(server);
 * const handle = createAdminHandler(server, metrics, { token: "correct-horse-battery" });
 * const refused = await handle(new Request("http://127.0.0.1/metrics"));
 * assert.equal(refused.status, 401);
 * await refused.body?.cancel();
 * const ok = await handle(new Request("http://127.0.0.1/metrics", {
 *   headers: { authorization: "Bearer correct-horse-battery" },
 * }));
 * assert.match(await ok.text(), /^# TYPE xmppd_logins_total counter$/m);
 * ```
 */
export function createAdminHandler(
  target: AdminTarget,
  metrics: ServerMetrics,
  options: AdminServerOptions = {},
): AdminHandler {
  checkOptions(options);
  const { host = "127.0.0.1", token, maxBodyBytes = 1_048_576 } = options;
  const log = options.log ?? new Logger({ sink: () => {} });
  const tokenDigest = token === undefined ? undefined : digest(token);
  const allowedHost = host.toLowerCase();
  let applied: { base: LimitsConfig; limits: LimitsConfig } | undefined;

  function currentLimits(): LimitsConfig {
    const base = target.config.limits;
    // A reload replaces the configuration: what was PUT before no longer holds.
    return applied !== undefined && applied.base === base ? applied.limits : base;
  }

  function authorize(request: Request, ip: string): void {
    if (tokenDigest === undefined) {
      // Without a token only loopback can connect, but a web page could still
      // reach it through DNS rebinding: accept only loopback or IP hosts.
      const hostHeader = hostOf(request.headers.get("host") ?? "");
      if (hostHeader !== allowedHost && hostHeader !== "localhost" && !isIpLiteral(hostHeader)) {
        throw new HttpError(403, "Cannot serve this host name");
      }
      return;
    }
    const header = request.headers.get("authorization") ?? "";
    const match = /^Bearer +(\S+) *$/i.exec(header);
    const given = digest(match?.[1] ?? "");
    // Equal-length digests: the comparison time says nothing about the token.
    if (match === null || !timingSafeEqual(given, tokenDigest)) {
      log.info("admin-unauthorized", { ip, path: new URL(request.url).pathname });
      throw new HttpError(401, "Cannot authorize: a valid bearer token is required", {
        "www-authenticate": 'Bearer realm="xmppd-admin"',
      });
    }
  }

  function allow(request: Request, methods: string[]): void {
    if (!methods.includes(request.method)) {
      throw new HttpError(405, `Cannot ${request.method} this path`, { allow: methods.join(", ") });
    }
  }

  async function route(request: Request, ip: string): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/") {
      allow(request, ["GET"]);
      if (tokenDigest === undefined) authorize(request, ip);
      return new Response(STATUS_PAGE_HTML, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": STATUS_PAGE_CSP,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
        },
      });
    }
    authorize(request, ip);
    if (path === "/metrics") {
      allow(request, ["GET"]);
      return new Response(metrics.text(), {
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
      });
    }
    if (path === "/status") {
      allow(request, ["GET"]);
      return json(200, buildStatusReport(target, metrics));
    }
    if (path === "/api/limits") {
      allow(request, ["GET", "PUT"]);
      if (request.method === "GET") return json(200, { limits: currentLimits() });
      const body = await readJson(request, maxBodyBytes);
      const base = target.config.limits;
      let limits: LimitsConfig;
      try {
        limits = target.limits.update(body);
      } catch (error) {
        if (error instanceof ConfigError) {
          throw new HttpError(400, error.message);
        }
        throw error;
      }
      applied = { base, limits };
      log.warn("admin-limits-updated", { ip });
      return json(200, { limits });
    }
    if (path === "/api/bans") {
      allow(request, ["GET", "POST"]);
      if (request.method === "GET") {
        const now = metrics.clock.now();
        return json(200, { bans: target.limits.snapshot().bans.map((ban) => banView(ban, now)) });
      }
      const { address, options } = banOptions(await readJson(request, maxBodyBytes));
      let entry: BanEntry;
      try {
        entry = target.limits.ban(address, options);
      } catch (error) {
        if (
          error instanceof SyntaxError || error instanceof RangeError || error instanceof TypeError
        ) throw new HttpError(400, error.message);
        throw error;
      }
      log.warn("admin-ban", { ip, target: entry.target, reason: entry.reason });
      return json(201, { ban: banView(entry, metrics.clock.now()) });
    }
    if (path.startsWith("/api/bans/")) {
      allow(request, ["DELETE"]);
      let address: string;
      try {
        address = decodeURIComponent(path.slice("/api/bans/".length));
      } catch {
        throw new HttpError(400, "Cannot unban: the address is not valid URL encoding");
      }
      let lifted: boolean;
      try {
        lifted = target.limits.unban(address);
      } catch (error) {
        if (
          error instanceof SyntaxError || error instanceof RangeError || error instanceof TypeError
        ) throw new HttpError(400, error.message);
        throw error;
      }
      if (!lifted) throw new HttpError(404, `Cannot unban '${address}': no runtime ban on it`);
      log.warn("admin-unban", { ip, target: address });
      return json(200, { unbanned: address });
    }
    throw new HttpError(404, "Cannot find this path");
  }

  return async function handle(request, info) {
    const ip = info?.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : "";
    try {
      return await route(request, ip);
    } catch (error) {
      await request.body?.cancel().catch(() => {});
      if (error instanceof HttpError) {
        return json(error.status, { error: error.message }, error.headers);
      }
      log.error("admin-error", {
        ip,
        reason: error instanceof Error ? error.message : String(error),
      });
      return json(500, { error: "Internal error" });
    }
  };
}

/**
 * The admin HTTP listener.
 *
 * @example Usage
 * ```ts
 * import { AdminServer } from "./admin_server.ts";
 * import { ServerMetrics } from "./metrics.ts";
 * import { XmppServer } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new XmppServer({ listen: [], storage: { type: "memory" } });
 * using metrics = new ServerMetrics(server);
 * await using admin = AdminServer.start(server, metrics, { host: "127.0.0.1", port: 0 });
 * const response = await fetch(`http://127.0.0.1:${admin.addr.port}/status`);
 * assert.equal((await response.json()).connections.open, 0);
 * ```
 */
export class AdminServer implements AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #log: Logger | undefined;
  #closing: Promise<void> | undefined;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, log: Logger | undefined) {
    this.#server = server;
    this.#log = log;
  }

  /**
   * Starts listening.
   *
   * @param target The server to administer.
   * @param metrics The server's metrics.
   * @param options Address, token and logger.
   * @returns The listening admin server (bound when this returns).
   * @throws {TypeError} If there is no token and `host` is not loopback.
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   */
  static start(
    target: AdminTarget,
    metrics: ServerMetrics,
    options: AdminServerOptions = {},
  ): AdminServer {
    const handler = createAdminHandler(target, metrics, options);
    const { host = "127.0.0.1", port = 5290 } = options;
    const server = Deno.serve({
      hostname: host,
      port,
      onListen: () => {},
      onError: () => json(500, { error: "Internal error" }),
    }, handler);
    options.log?.info("listening", {
      type: "admin",
      host: server.addr.hostname,
      port: server.addr.port,
      auth: options.token === undefined ? "none (loopback)" : "bearer",
    });
    return new AdminServer(server, options.log);
  }

  /** The bound address (port 0 resolves to the real port). */
  get addr(): { hostname: string; port: number } {
    return { hostname: this.#server.addr.hostname, port: this.#server.addr.port };
  }

  /**
   * Stops accepting and lets requests in progress finish.
   *
   * @returns Resolves when the listener is closed.
   */
  shutdown(): Promise<void> {
    this.#closing ??= this.#server.shutdown().then(() => {
      this.#log?.info("admin-closed", {});
    });
    return this.#closing;
  }

  /** Same as {@linkcode AdminServer.shutdown}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
