/**
 * The TCP listener for client (and server) connections: plain TCP with
 * optional STARTTLS, or direct TLS (XEP-0368), with a connection gate that
 * runs before any byte is read (XEP-0205).
 *
 * @module
 */

import { createServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { Timers } from "../core/clock.ts";
import { secureContextFor, type TlsMaterial } from "../tls/tls_material.ts";
import { TcpTransport, unwrapMappedIpv4 } from "./tcp_transport.ts";
import type { Transport } from "./transport.ts";

/** Options for {@linkcode listenTcp}. */
export interface TcpListenOptions {
  /** Address to bind, e.g. `"0.0.0.0"`, `"::"` (dual stack) or `"127.0.0.1"`. */
  host: string;
  /** Port to bind; `0` picks a free one (see {@linkcode TcpListener.addr}). */
  port: number;
  /** Certificate for direct TLS (XEP-0368): every connection starts with a TLS handshake. */
  directTls?: TlsMaterial;
  /** Certificate offered through STARTTLS on plain connections. */
  startTls?: TlsMaterial;
  /**
   * Connection gate (XEP-0205 connection limits), called with the peer's
   * address before anything else; `false` destroys the socket at once, with no
   * byte read or written.
   *
   * @default {() => true}
   */
  accept?: (remoteAddress: string) => boolean;
  /**
   * Receives errors thrown by `accept` or the connection callback (the
   * connection is destroyed) and accept failures of the listening socket.
   *
   * @default {reportError}
   */
  onError?: (error: unknown) => void;
  /**
   * How long a closing connection waits for the peer to close before it is
   * destroyed.
   *
   * @default {5000}
   */
  closeTimeoutMs?: number;
  /**
   * Timers for close timeouts.
   *
   * @default {systemTimers}
   */
  timers?: Timers;
}

/** A listening TCP socket handing each accepted connection over as a {@linkcode Transport}. */
export interface TcpListener extends AsyncDisposable {
  /** The bound address; `port` is the real one when `0` was asked for. */
  readonly addr: { readonly hostname: string; readonly port: number };
  /** Connections handed out and not closed yet. */
  readonly connections: number;
  /** Stops accepting; connections already handed out stay open. */
  close(): Promise<void>;
}

/**
 * Listens for TCP connections and hands each accepted one, wrapped as a
 * {@linkcode Transport}, to `onConnection`. Sockets get `TCP_NODELAY`; writes
 * made in one event-loop turn are coalesced by the transport instead.
 *
 * With `directTls` the transport has type `"tls"` and is encrypted from the
 * start (the handshake runs before any data reaches the handler); otherwise it
 * has type `"tcp"` and `canStartTls` is true when `startTls` is given.
 *
 * @param options Address, TLS material, gate.
 * @param onConnection Called once per accepted connection.
 * @returns The listener, once bound.
 * @throws {TypeError} If both `directTls` and `startTls` are given.
 * @throws {RangeError} If `port` or `closeTimeoutMs` is out of range.
 * @throws {Error} If the address cannot be bound.
 *
 * @example Usage
 * ```ts
 * import { listenTcp } from "./tcp_listener.ts";
 * import assert from "node:assert/strict";
 *
 * const greeted = Promise.withResolvers<void>();
 * await using listener = await listenTcp({ host: "127.0.0.1", port: 0 }, (transport) => {
 *   transport.attach({ data() {}, closed: () => greeted.resolve() });
 *   transport.write("hello");
 *   transport.close();
 * });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const buffer = new Uint8Array(16);
 * const n = await conn.read(buffer);
 * assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "hello");
 * conn.close();
 * await greeted.promise;
 * ```
 */
export async function listenTcp(
  options: TcpListenOptions,
  onConnection: (transport: Transport) => void,
): Promise<TcpListener> {
  if (options.directTls !== undefined && options.startTls !== undefined) {
    throw new TypeError(
      "Cannot listen: 'directTls' and 'startTls' exclude each other on one listener",
    );
  }
  const { port, closeTimeoutMs } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot listen: 'port' must be an integer in 0..65535, got ${port}`);
  }
  if (closeTimeoutMs !== undefined && !(closeTimeoutMs >= 0 && Number.isFinite(closeTimeoutMs))) {
    throw new RangeError(
      `Cannot listen: 'closeTimeoutMs' must be a non-negative number, got ${closeTimeoutMs}`,
    );
  }
  const listener = new Listener(options, onConnection);
  await listener.listen(options.host, options.port);
  return listener;
}

class Listener implements TcpListener {
  #server: Server;
  #addr: { hostname: string; port: number } = { hostname: "", port: 0 };
  #connections = 0;
  #options: TcpListenOptions;
  #onConnection: (transport: Transport) => void;
  #transportOptions: ConstructorParameters<typeof TcpTransport>[2];
  #directTls: ReturnType<typeof secureContextFor> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: TcpListenOptions, onConnection: (transport: Transport) => void) {
    this.#options = options;
    this.#onConnection = onConnection;
    this.#directTls = options.directTls && secureContextFor(options.directTls);
    this.#transportOptions = {
      onClose: () => this.#connections--,
      ...(options.startTls && { startTls: secureContextFor(options.startTls) }),
      ...(options.closeTimeoutMs !== undefined && { closeTimeoutMs: options.closeTimeoutMs }),
      ...(options.timers && { timers: options.timers }),
    };
    this.#server = createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  get addr(): { hostname: string; port: number } {
    return this.#addr;
  }

  get connections(): number {
    return this.#connections;
  }

  listen(host: string, port: number): Promise<void> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        server.on("error", (error) => this.#report(error));
        const address = server.address();
        if (address !== null && typeof address === "object") {
          this.#addr = { hostname: unwrapMappedIpv4(address.address), port: address.port };
        }
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      // The callback would wait for every connection to end: resolve once the
      // listening socket itself is closed instead.
      this.#server.close();
      resolve();
    });
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #accept(socket: Socket): void {
    try {
      const { accept } = this.#options;
      if (accept !== undefined && !accept(unwrapMappedIpv4(socket.remoteAddress ?? ""))) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      let transport: TcpTransport;
      if (this.#directTls !== undefined) {
        const secure = new TLSSocket(socket, { isServer: true, secureContext: this.#directTls });
        socket.on("error", ignore);
        transport = new TcpTransport(secure, "tls", this.#transportOptions);
      } else {
        transport = new TcpTransport(socket, "tcp", this.#transportOptions);
      }
      this.#connections++;
      this.#onConnection(transport);
    } catch (error) {
      socket.destroy();
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    (this.#options.onError ?? reportError)(error);
  }
}

function ignore(): void {}
