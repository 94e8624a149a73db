/**
 * The browser chat demo: an XMPP server with an HTTP listener (WebSocket and
 * BOSH) plus a tiny static server for this directory's page. Run it with
 *
 * ```sh
 * deno run -A examples/web/serve.ts
 * ```
 *
 * then open the printed address, log in as alice@localhost (password
 * `alice-secret`) and chat with bob@localhost from any XMPP client on
 * 127.0.0.1:5222 or a second browser tab. Loopback only; plain `ws:` is
 * allowed here because nothing leaves the machine.
 *
 * @module
 */

import type { ServerConfigInput } from "../../src/config/schema.ts";
import { XmppServer, type XmppServerOptions } from "../../src/server.ts";

/** Options for {@linkcode startWebDemo}. */
export interface WebDemoOptions {
  /**
   * Port of the page server (0 picks a free one).
   *
   * @default {8080}
   */
  pagePort?: number;
  /**
   * Server configuration; it needs an `http` (or `https`) listener.
   *
   * @default {a loopback demo with alice and bob}
   */
  config?: ServerConfigInput;
  /** Server options (logger, timers). */
  serverOptions?: XmppServerOptions;
}

/** A running demo. */
export interface WebDemo extends AsyncDisposable {
  /** The XMPP server. */
  server: XmppServer;
  /** The chat page, with the WebSocket URL in its query string. */
  pageUrl: string;
  /** The server's RFC 7395 endpoint. */
  websocketUrl: string;
}

const ROOT = new URL("./", import.meta.url);
const FILES: Record<string, [string, string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/chat.js": ["chat.js", "text/javascript; charset=utf-8"],
  "/xmpp_client.js": ["xmpp_client.js", "text/javascript; charset=utf-8"],
};

const DEMO_CONFIG: ServerConfigInput = {
  domain: "localhost",
  listen: [
    { type: "c2s", host: "127.0.0.1", port: 5222 },
    { type: "http", host: "127.0.0.1", port: 5280 },
  ],
  tls: { required: false },
  storage: { type: "memory" },
  accounts: [
    { jid: "alice@localhost", password: "alice-secret" },
    { jid: "bob@localhost", password: "bob-secret" },
  ],
};

/**
 * Starts the XMPP server and the page server.
 *
 * @param options Ports and configuration.
 * @returns The running demo; dispose it to stop both.
 *
 * @example Usage
 * ```ts
 * import { startWebDemo } from "./serve.ts";
 * import assert from "node:assert/strict";
 *
 * await using demo = await startWebDemo({
 *   pagePort: 0,
 *   config: {
 *     listen: [{ type: "http", host: "127.0.0.1", port: 0 }],
 *     tls: { required: false },
 *     storage: { type: "memory" },
 *   },
 * });
 * const page = await fetch(demo.pageUrl);
 * assert.match(await page.text(), /<title>xmppd web chat<\/title>/);
 * ```
 */
export async function startWebDemo(options: WebDemoOptions = {}): Promise<WebDemo> {
  const server = new XmppServer(options.config ?? DEMO_CONFIG, options.serverOptions);
  await server.start();
  const http = server.addresses.find((a) => a.type === "http" || a.type === "https");
  if (http === undefined) {
    await server.stop();
    throw new TypeError("Cannot start the web demo: the configuration has no http listener");
  }
  const scheme = http.type === "https" ? "wss" : "ws";
  const websocketUrl =
    `${scheme}://${http.hostname}:${http.port}${server.config.http.websocket_path}`;
  const page = Deno.serve(
    { hostname: "127.0.0.1", port: options.pagePort ?? 8080, onListen() {} },
    async (request) => {
      const file = FILES[new URL(request.url).pathname];
      if (request.method !== "GET" || file === undefined) {
        return new Response("Not found\n", { status: 404 });
      }
      const body = await Deno.readFile(new URL(file[0], ROOT));
      return new Response(body, {
        headers: { "content-type": file[1], "cache-control": "no-store" },
      });
    },
  );
  const pageUrl = `http://127.0.0.1:${page.addr.port}/?ws=${encodeURIComponent(websocketUrl)}`;
  return {
    server,
    pageUrl,
    websocketUrl,
    async [Symbol.asyncDispose]() {
      await page.shutdown();
      await server.stop();
    },
  };
}

if (import.meta.main) {
  const demo = await startWebDemo();
  await Deno.stdout.write(new TextEncoder().encode(
    `Chat page: ${demo.pageUrl}\nWebSocket: ${demo.websocketUrl}\n` +
      `Accounts: alice@localhost / alice-secret, bob@localhost / bob-secret\n`,
  ));
  Deno.addSignalListener("SIGINT", async () => {
    await demo[Symbol.asyncDispose]();
    Deno.exit(0);
  });
}
