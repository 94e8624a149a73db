/**
 * The RFC 7395 WebSocket binding as a {@linkcode Transport}: every text
 * message is handed to the stream as bytes, and every write becomes one
 * message (the session writes one element at a time). The session's
 * RFC 7395 framing (`<open/>`, `<close/>`) lives in `stream/framing.ts`; this
 * file only carries messages.
 *
 * @module
 */

import { systemTimers, type TimerId, type Timers } from "../core/clock.ts";
import type { Transport, TransportHandler } from "./transport.ts";

/** Options for {@linkcode WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /** The client's address (after trusted-proxy resolution). */
  remoteAddress: string;
  /** Whether the connection is TLS (`wss:`, or a trusted proxy's `https`). */
  encrypted: boolean;
  /**
   * Bytes of messages kept while reading is paused (bandwidth limiter,
   * SASL). A WebSocket in Deno cannot push back on its peer, so a peer that
   * keeps sending past this is cut off with close code 1008. A single
   * message longer than this is refused with 1009 before it is parsed.
   *
   * @default {1048576}
   */
  maxQueuedBytes?: number;
  /**
   * How long `close()` waits for the peer's close frame before the transport
   * reports itself closed anyway.
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
}

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/** RFC 6455 §7.4.1 status codes the transport closes with. */
const CODE_NORMAL = 1000;
const CODE_GOING_AWAY = 1001;
const CODE_UNSUPPORTED_DATA = 1003;
const CODE_POLICY_VIOLATION = 1008;
const CODE_TOO_BIG = 1009;

const encoder = new TextEncoder();

/**
 * One client connection over the RFC 7395 WebSocket binding. It is created
 * before the HTTP upgrade so that the connection limits decide first (a
 * refused client gets an HTTP status, not a WebSocket), then bound to the
 * socket with {@linkcode WebSocketTransport.bind}. Writes made before the
 * socket opens are sent once it does.
 *
 * STARTTLS is never offered: TLS belongs to the `https` listener (RFC 7395 §3.1).
 *
 * @example Usage
 * ```ts
 * import { WebSocketTransport } from "./websocket.ts";
 * import assert from "node:assert/strict";
 *
 * const transport = new WebSocketTransport({ remoteAddress: "192.0.2.1", encrypted: true });
 * assert.equal(transport.type, "websocket");
 * assert.equal(transport.canStartTls, false);
 * const closed = Promise.withResolvers<void>();
 * transport.attach({ data() {}, closed: () => closed.resolve() });
 * transport.destroy(); // refused before any socket existed
 * await closed.promise;
 * ```
 */
export class WebSocketTransport implements Transport {
  /** Always `"websocket"`, for limit classes. */
  readonly type = "websocket" as const;
  /** The client's address. */
  readonly remoteAddress: string;
  /** Whether the connection is TLS. */
  readonly encrypted: boolean;
  /** Always `false`: no STARTTLS over WebSocket. */
  readonly canStartTls = false;

  #socket: WebSocket | undefined;
  #handler: TransportHandler | undefined;
  #state = OPEN;
  #error: Error | undefined;
  #paused = false;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #outbox: string[] = [];
  #maxQueuedBytes: number;
  #closeTimeoutMs: number;
  #timers: Timers;
  #closeTimer: TimerId | undefined;
  #reported = false;
  #finished = Promise.withResolvers<void>();

  /**
   * Creates an unbound transport.
   *
   * @param options Address, encryption, queue cap and close timeout.
   * @throws {RangeError} If `maxQueuedBytes` or `closeTimeoutMs` is negative or not finite.
   */
  constructor(options: WebSocketTransportOptions) {
    const maxQueuedBytes = options.maxQueuedBytes ?? 1 << 20;
    const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    for (
      const [name, value] of [["maxQueuedBytes", maxQueuedBytes], [
        "closeTimeoutMs",
        closeTimeoutMs,
      ]] as const
    ) {
      if (!(value >= 0 && Number.isFinite(value))) {
        throw new RangeError(
          `Cannot create transport: '${name}' must be a non-negative number, got ${value}`,
        );
      }
    }
    this.remoteAddress = options.remoteAddress;
    this.encrypted = options.encrypted;
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#timers = options.timers ?? systemTimers;
  }

  /**
   * Resolves once the transport is closed: the peer answered the close
   * frame, the close timed out, or it was destroyed.
   */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** Bytes written and not yet sent by the socket. */
  get bufferedBytes(): number {
    let bytes = this.#socket?.bufferedAmount ?? 0;
    for (const text of this.#outbox) bytes += text.length;
    return bytes;
  }

  /**
   * Binds the upgraded socket. Messages flow to the handler once it is
   * attached and reading is not paused.
   *
   * @param socket The server side of the upgrade (`Deno.upgradeWebSocket`).
   * @throws {Error} If a socket is already bound.
   */
  bind(socket: WebSocket): void {
    if (this.#socket !== undefined) {
      throw new Error("Cannot bind socket: the transport already has one");
    }
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#opened();
    socket.onmessage = (event) => this.#message(event.data);
    socket.onerror = (event) => {
      this.#error ??= new Error(
        `WebSocket error: ${event instanceof ErrorEvent ? event.message : "connection failed"}`,
      );
    };
    socket.onclose = () => this.#finish();
    if (this.#state !== OPEN) this.#closeSocket(CODE_GOING_AWAY, "");
  }

  /**
   * Attaches the receiver.
   *
   * @throws {Error} If a handler is already attached.
   */
  attach(handler: TransportHandler): void {
    if (this.#handler !== undefined) {
      throw new Error("Cannot attach handler: the transport already has one");
    }
    this.#handler = handler;
    if (this.#state === CLOSED) this.#report();
    else this.#drain();
  }

  /**
   * Sends `data` as one text message; ignored once closing.
   *
   * @param data XML text (bytes are decoded as UTF-8).
   */
  write(data: string | Uint8Array): void {
    if (this.#state !== OPEN) return;
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    const socket = this.#socket;
    if (socket === undefined || socket.readyState === WebSocket.CONNECTING) {
      this.#outbox.push(text);
      return;
    }
    if (socket.readyState === WebSocket.OPEN) socket.send(text);
  }

  /** Whether messages wait in the queue for reading to resume. */
  get holdsInput(): boolean {
    return this.#queue.length > 0;
  }

  /** Stops handing messages over; they wait in a bounded queue. Idempotent. */
  pause(): void {
    this.#paused = true;
  }

  /** Hands queued messages over, then new ones as they come. Idempotent. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#drain();
  }

  /** Always rejects: TLS is the `https` listener's. */
  startTls(): Promise<void> {
    return Promise.reject(new Error("Cannot start TLS: not available over WebSocket"));
  }

  /**
   * Sends pending messages, then a close frame (1000); reports `closed` when
   * the peer answers it or after the close timeout.
   */
  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#closeSocket(CODE_NORMAL, "");
    this.#closeTimer = this.#timers.set(() => this.#finish(), this.#closeTimeoutMs);
  }

  /** Closes (1001) and reports `closed` without waiting for the peer. */
  destroy(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSING;
    this.#closeSocket(CODE_GOING_AWAY, "");
    this.#finish();
  }

  #opened(): void {
    const socket = this.#socket!;
    const outbox = this.#outbox;
    this.#outbox = [];
    for (const text of outbox) socket.send(text);
  }

  #message(data: unknown): void {
    if (this.#state === CLOSED) return;
    if (typeof data !== "string") {
      // RFC 7395 §3.2: XMPP over WebSocket uses text messages only.
      this.#error ??= new Error("WebSocket binary message refused");
      this.#fail(CODE_UNSUPPORTED_DATA, "Text messages only");
      return;
    }
    if (data.length > this.#maxQueuedBytes) {
      // Deno has already buffered it (up to its own 64 MiB cap); do not copy it again.
      this.#error ??= new Error("WebSocket message too big");
      this.#fail(CODE_TOO_BIG, "Message too big");
      return;
    }
    const bytes = encoder.encode(data);
    if (this.#paused || this.#handler === undefined || this.#queue.length > 0) {
      this.#queuedBytes += bytes.byteLength;
      if (this.#queuedBytes > this.#maxQueuedBytes) {
        this.#error ??= new Error("WebSocket input queue overflow");
        this.#fail(CODE_POLICY_VIOLATION, "Input queue overflow");
        return;
      }
      this.#queue.push(bytes);
      return;
    }
    this.#handler.data(bytes);
  }

  #drain(): void {
    while (!this.#paused && this.#queue.length > 0 && this.#state !== CLOSED) {
      const bytes = this.#queue.shift()!;
      this.#queuedBytes -= bytes.byteLength;
      this.#handler?.data(bytes);
    }
  }

  #fail(code: number, reason: string): void {
    this.#state = CLOSING;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#closeSocket(code, reason);
    this.#finish();
  }

  #closeSocket(code: number, reason: string): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
    if (socket.readyState === WebSocket.OPEN) {
      const outbox = this.#outbox;
      this.#outbox = [];
      for (const text of outbox) socket.send(text);
    }
    try {
      socket.close(code, reason);
    } catch {
      // A socket still connecting may refuse to close; its onclose still runs.
    }
  }

  #finish(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#outbox = [];
    if (this.#closeTimer !== undefined) this.#timers.clear(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#finished.resolve();
    if (this.#handler !== undefined) this.#report();
  }

  #report(): void {
    if (this.#reported) return;
    this.#reported = true;
    const handler = this.#handler!;
    const error = this.#error;
    queueMicrotask(() => handler.closed(error));
  }
}
