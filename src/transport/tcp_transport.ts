/**
 * A {@linkcode Transport} over a `node:net` socket: plain TCP, direct TLS, or
 * plain TCP upgraded in place by STARTTLS (server side, through `node:tls`,
 * since `Deno.startTls` is client-only).
 *
 * @module
 */

import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import { systemTimers, type TimerId, type Timers } from "../core/clock.ts";
import type { Transport, TransportHandler } from "./transport.ts";

/** Options for {@linkcode TcpTransport}. */
export interface TcpTransportOptions {
  /**
   * The context to upgrade with in {@linkcode TcpTransport.startTls}; without
   * it `canStartTls` is false.
   */
  startTls?: SecureContext;
  /**
   * How long {@linkcode TcpTransport.close} waits for the peer to close its
   * side after ours is flushed and ended, before destroying the socket.
   *
   * @default {5000}
   */
  closeTimeoutMs?: number;
  /**
   * Timers for the close timeout.
   *
   * @default {systemTimers}
   */
  timers?: Timers;
  /**
   * Called once when the socket has closed, before the handler's `closed`
   * (for connection counting by the listener).
   */
  onClose?: (transport: TcpTransport) => void;
}

const OPEN = 0;
const UPGRADING = 1;
const CLOSING = 2;
const CLOSED = 3;
type State = typeof OPEN | typeof UPGRADING | typeof CLOSING | typeof CLOSED;

const EMPTY = new Uint8Array(0);
/**
 * Held writes beyond this length (UTF-16 units or bytes) go out at once
 * rather than at the end of the turn, so that the one string they become stays
 * far below the engine's maximum string length.
 */
const MAX_HELD = 256 * 1024;
const MAPPED_IPV4_PREFIX = "::ffff:";

// Writes made in one turn of the event loop go out together: the first write
// queues the transport and one shared microtask flushes every queued one.
let holding: TcpTransport[] = [];
let flushScheduled = false;

function flushAll(): void {
  const batch = holding;
  holding = [];
  flushScheduled = false;
  for (const transport of batch) transport.flush();
}

function ignore(): void {}

/**
 * A {@linkcode Transport} over a connected `node:net` socket (or a
 * `node:tls` server socket for direct TLS).
 *
 * Reading starts at {@linkcode TcpTransport.attach} and stops at
 * {@linkcode TcpTransport.pause}: the socket stops pulling from the kernel
 * (at most one more read, up to 64 KiB, is buffered) so the peer's send
 * buffer fills. Writes made in the same event-loop turn are sent together.
 *
 * @example Usage
 * ```ts
 * import { TcpTransport } from "./tcp_transport.ts";
 * import { createServer, connect, type Socket } from "node:net";
 * import assert from "node:assert/strict";
 *
 * const accepted = Promise.withResolvers<Socket>();
 * const server = createServer({ pauseOnConnect: true }, accepted.resolve);
 * await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
 * const { port } = server.address() as { port: number };
 * const client = connect(port, "127.0.0.1");
 * const transport = new TcpTransport(await accepted.promise, "tcp");
 * server.close();
 *
 * const received = Promise.withResolvers<string>();
 * const closed = Promise.withResolvers<void>();
 * transport.attach({
 *   data: (bytes) => received.resolve(new TextDecoder().decode(bytes)),
 *   closed: () => closed.resolve(),
 * });
 * client.write("ping");
 * assert.equal(await received.promise, "ping");
 * const echoed = new Promise((resolve) => client.once("data", (b) => resolve(String(b))));
 * transport.write("pong");
 * assert.equal(await echoed, "pong");
 * client.end();
 * await closed.promise;
 * ```
 */
export class TcpTransport implements Transport {
  /** How the client connected: `"tcp"` (maybe upgraded later) or `"tls"` (direct TLS). */
  readonly type: "tcp" | "tls";
  /** The peer's IP address, IPv4-mapped IPv6 unwrapped. */
  readonly remoteAddress: string;
  #socket: Socket;
  #handler: TransportHandler | undefined;
  #startTls: SecureContext | undefined;
  #encrypted: boolean;
  #state: State = OPEN;
  #paused = false;
  // Writes held until the end of the turn, their length (UTF-16 units for text,
  // as the socket counts them) and whether they are all text.
  #pending: (string | Uint8Array)[] = [];
  #pendingLength = 0;
  #pendingText = true;
  #error: Error | undefined;
  #upgrade: PromiseWithResolvers<void> | undefined;
  #held: (string | Uint8Array)[] | undefined;
  #timers: Timers;
  #closeTimeoutMs: number;
  #closeTimer: TimerId | undefined;
  #onClosed: ((transport: TcpTransport) => void) | undefined;

  /**
   * Wraps a connected socket. The socket should have been created paused
   * (`pauseOnConnect`); nothing is read before {@linkcode TcpTransport.attach}.
   *
   * @param socket The connected socket; a `TLSSocket` for direct TLS.
   * @param type `"tls"` when `socket` is a direct-TLS server socket, else `"tcp"`.
   * @param options STARTTLS context and close timeout.
   * @throws {RangeError} If `closeTimeoutMs` is negative or not finite.
   */
  constructor(socket: Socket, type: "tcp" | "tls", options: TcpTransportOptions = {}) {
    const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    if (!(closeTimeoutMs >= 0 && Number.isFinite(closeTimeoutMs))) {
      throw new RangeError(
        `Cannot create transport: 'closeTimeoutMs' must be a non-negative number, got ${closeTimeoutMs}`,
      );
    }
    this.type = type;
    this.remoteAddress = unwrapMappedIpv4(socket.remoteAddress ?? "");
    this.#socket = socket;
    this.#encrypted = type === "tls";
    this.#startTls = type === "tcp" ? options.startTls : undefined;
    this.#timers = options.timers ?? systemTimers;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#onClosed = options.onClose;
    this.#listen(socket);
  }

  /** Whether bytes are encrypted now (direct TLS, or after STARTTLS). */
  get encrypted(): boolean {
    return this.#encrypted;
  }

  /** Whether {@linkcode TcpTransport.startTls} can upgrade this transport. */
  get canStartTls(): boolean {
    return this.#startTls !== undefined && !this.#encrypted && this.#state === OPEN;
  }

  /**
   * The negotiated TLS version (`"TLSv1.3"`, …) once encrypted, for logs;
   * `undefined` before.
   */
  get tlsProtocol(): string | undefined {
    if (!this.#encrypted) return undefined;
    return (this.#socket as TLSSocket).getProtocol() ?? undefined;
  }

  /** Bytes written but not yet taken by the operating system (plaintext bytes under TLS). */
  get bufferedBytes(): number {
    return this.#socket.writableLength + this.#pendingLength;
  }

  /**
   * Attaches the receiver and starts reading unless paused.
   *
   * @param handler Receives data and the final close.
   * @throws {Error} If a handler is already attached.
   */
  attach(handler: TransportHandler): void {
    if (this.#handler !== undefined) {
      throw new Error("Cannot attach handler: the transport already has one");
    }
    this.#handler = handler;
    if (this.#state === CLOSED) {
      const error = this.#error;
      queueMicrotask(() => handler.closed(error));
    } else if (!this.#paused && this.#state !== UPGRADING) {
      this.#socket.resume();
    }
  }

  /**
   * Queues bytes for the peer; ignored once closing. Writes made in the same
   * event-loop turn are coalesced into one send.
   *
   * @param data Text (sent as UTF-8) or bytes.
   */
  write(data: string | Uint8Array): void {
    if (this.#state === UPGRADING) {
      (this.#held ??= []).push(data);
      return;
    }
    // A socket destroyed by an error emits 'close' only later; writing to it
    // meanwhile would build an ERR_STREAM_DESTROYED error per write.
    if (this.#state !== OPEN || this.#socket.destroyed) return;
    if (this.#pending.length === 0) {
      holding.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushAll);
      }
    }
    this.#pending.push(data);
    if (typeof data === "string") this.#pendingLength += data.length;
    else {
      this.#pendingLength += data.byteLength;
      this.#pendingText = false;
    }
    if (this.#pendingLength > MAX_HELD) this.flush();
  }

  /** Sends writes coalesced so far now, instead of at the end of this turn. */
  flush(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    const socket = this.#socket;
    if (pending.length === 1) socket.write(pending[0]!);
    else if (this.#pendingText) {
      // One string written once costs far less than a writev of many, each
      // converted on its own. Concatenating (not joining) leaves flattening the
      // stanzas' texts to the write, which does it once.
      let text = pending[0] as string;
      for (let i = 1; i < pending.length; i++) text += pending[i] as string;
      socket.write(text);
    } else {
      socket.cork();
      for (const data of pending) socket.write(data);
      socket.uncork();
    }
    this.#dropPending();
  }

  #dropPending(): void {
    this.#pending.length = 0;
    this.#pendingLength = 0;
    this.#pendingText = true;
  }

  /** Whether a read that was in flight when reading paused left its bytes in the socket's buffer. */
  get holdsInput(): boolean {
    return this.#socket.readableLength > 0;
  }

  /** Stops reading; the peer's sends back up into its own buffers. Idempotent. */
  pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  /** Resumes reading once attached. Idempotent. */
  resume(): void {
    this.#paused = false;
    if (this.#handler !== undefined && this.#state !== UPGRADING && this.#state !== CLOSED) {
      this.#socket.resume();
    }
  }

  /**
   * Upgrades to TLS in place. The caller has paused reading and written the
   * go-ahead (`<proceed/>`); pending writes are flushed, then the socket is
   * handed to `node:tls` as a server. Bytes the peer sent after the pause
   * (normally its ClientHello) go to the TLS layer, never to the handler as
   * plaintext.
   *
   * Reading stays paused after the handshake until the caller's
   * {@linkcode TcpTransport.resume}: the caller resets its parser first, and a
   * `PauseGate` holder (a bandwidth limiter) keeps its own pause. Were the
   * transport to resume by itself, a client's first encrypted bytes could be
   * delivered (on a `nextTick`) before the caller's continuation runs.
   *
   * @returns Resolves when the handshake is complete and `encrypted` is true.
   * @throws {Error} If STARTTLS is not available, reading is not paused, or the
   *   handshake fails (the transport then closes).
   */
  async startTls(): Promise<void> {
    if (this.#startTls === undefined || this.#encrypted) {
      throw new Error("Cannot start TLS: the transport does not offer STARTTLS");
    }
    if (this.#state !== OPEN) {
      throw new Error("Cannot start TLS: the transport is closing or closed");
    }
    if (!this.#paused) {
      throw new Error("Cannot start TLS: reading must be paused first");
    }
    const context = this.#startTls;
    const upgrade = Promise.withResolvers<void>();
    this.#upgrade = upgrade;
    this.#state = UPGRADING;
    const plain = this.#socket;
    this.flush();
    plain.write(EMPTY, (error) => {
      if (error || plain.destroyed || this.#state !== UPGRADING) return;
      this.#unlisten(plain);
      plain.on("error", ignore);
      const secure = new TLSSocket(plain, { isServer: true, secureContext: context });
      this.#socket = secure;
      secure.pause();
      this.#listen(secure);
      secure.once("secure", () => this.#secured());
    });
    return await upgrade.promise;
  }

  /**
   * Flushes pending writes, then ends our side and reads until the peer ends
   * its own (resuming a paused transport); the socket is destroyed if the peer
   * has not closed within `closeTimeoutMs`. Closing during `startTls`
   * destroys at once.
   */
  close(): void {
    if (this.#state === UPGRADING) {
      this.destroy();
      return;
    }
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.flush();
    this.#socket.end();
    // Read again (even if paused) so the peer's FIN, which completes the
    // close, is seen; RFC 6120 §4.4 lets its closing tag arrive meanwhile.
    this.#paused = false;
    if (this.#handler !== undefined) this.#socket.resume();
    this.#closeTimer = this.#timers.set(() => this.destroy(), this.#closeTimeoutMs);
  }

  /** Closes at once, dropping pending writes. */
  destroy(): void {
    if (this.#state === CLOSED) return;
    this.#dropPending();
    this.#socket.destroy();
  }

  #secured(): void {
    if (this.#state !== UPGRADING) return;
    this.#state = OPEN;
    this.#encrypted = true;
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) { for (const data of held) this.write(data); }
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    upgrade?.resolve();
    if (!this.#paused) this.resume(); // resumed during the handshake
  }

  // The listeners are shared by every transport and find theirs through the
  // socket: three closures per connection cost about 170 bytes (measured in a
  // heap snapshot of idle connections).
  #listen(socket: Socket): void {
    (socket as OwnedSocket)[OWNER] = this;
    socket.pause();
    socket.on("data", TcpTransport.#onData);
    socket.on("error", TcpTransport.#onError);
    socket.on("close", TcpTransport.#onClose);
  }

  #unlisten(socket: Socket): void {
    socket.off("data", TcpTransport.#onData);
    socket.off("error", TcpTransport.#onError);
    socket.off("close", TcpTransport.#onClose);
    (socket as OwnedSocket)[OWNER] = undefined;
  }

  /**
   * Sends the writes every TCP transport holds now, instead of at the end of
   * this event-loop turn: for a caller that has more work in the same turn
   * and wants the replies so far to go out first.
   *
   * @example Usage
   * ```ts
   * import { TcpTransport } from "./tcp_transport.ts";
   *
   * TcpTransport.flushHeldWrites(); // nothing held: nothing sent
   * ```
   */
  static flushHeldWrites(): void {
    flushAll();
  }

  static #onData(this: Socket, chunk: Uint8Array): void {
    const transport = (this as OwnedSocket)[OWNER];
    if (transport !== undefined) transport.#handler?.data(chunk);
  }

  static #onError(this: Socket, error: Error): void {
    const transport = (this as OwnedSocket)[OWNER];
    if (transport !== undefined) transport.#error ??= error;
  }

  static #onClose(this: Socket): void {
    const transport = (this as OwnedSocket)[OWNER];
    if (transport !== undefined) transport.#closed();
  }

  #closed(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#dropPending();
    this.#held = undefined;
    if (this.#closeTimer !== undefined) this.#timers.clear(this.#closeTimer);
    this.#closeTimer = undefined;
    const error = this.#error;
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    upgrade?.reject(
      error ?? new Error("Cannot start TLS: the connection closed during the handshake"),
    );
    this.#onClosed?.(this);
    this.#handler?.closed(error);
  }
}

const OWNER = Symbol("TcpTransport");

/** A socket with the transport that listens to it. */
interface OwnedSocket extends Socket {
  [OWNER]?: TcpTransport | undefined;
}

/**
 * Unwraps an IPv4-mapped IPv6 address (`::ffff:192.0.2.1` → `192.0.2.1`).
 *
 * @param address An IP address as `node:net` reports it.
 * @returns The IPv4 form of a mapped address, else `address` unchanged.
 *
 * @example Usage
 * ```ts
 * import { unwrapMappedIpv4 } from "./tcp_transport.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(unwrapMappedIpv4("::ffff:192.0.2.1"), "192.0.2.1");
 * assert.equal(unwrapMappedIpv4("2001:db8::1"), "2001:db8::1");
 * ```
 */
export function unwrapMappedIpv4(address: string): string {
  return address.length > MAPPED_IPV4_PREFIX.length &&
      address.slice(0, MAPPED_IPV4_PREFIX.length).toLowerCase() === MAPPED_IPV4_PREFIX &&
      address.includes(".", MAPPED_IPV4_PREFIX.length)
    ? address.slice(MAPPED_IPV4_PREFIX.length)
    : address;
}
