/**
 * One plain-TCP c2s connection of the load generator: connects (optionally
 * from a chosen loopback source address), frames what the server sends into
 * top-level elements, and batches writes so that everything sent in one turn
 * of the event loop leaves in one `write`.
 *
 * @module
 */

import { connect as netConnect, type Socket } from "node:net";
import { StanzaFramer } from "./framer.ts";

/** Where the server under test listens. */
export interface Target {
  /** Host to connect to; only loopback addresses are accepted. */
  host: string;
  /** TCP port of the plain c2s listener. */
  port: number;
  /** The XMPP domain the server serves. */
  domain: string;
}

/** Options for {@linkcode XmppConnection.connect}. */
export interface ConnectOptions {
  /** Local (source) address, any of 127.0.0.0/8 on Linux. @default the kernel's choice */
  localAddress?: string;
  /** Give up connecting after this long. @default {10000} */
  timeoutMs?: number;
}

/** Thrown when a connection closes or times out while a reply is awaited. */
export class ConnectionClosedError extends Error {
  /** @param message What was awaited. */
  constructor(message: string) {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

/** How often the deadlines of awaited replies are checked (see `XmppConnection.next`). */
const SWEEP_MS = 100;

const LOOPBACK_REGEXP = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/**
 * Checks that a host is a loopback address: load is never sent anywhere else.
 *
 * @param host The host.
 * @throws {RangeError} If it is not loopback.
 *
 * @example Usage
 * ```ts
 * import { assertLoopback } from "./connection.ts";
 * import assert from "node:assert/strict";
 *
 * assertLoopback("127.0.0.1");
 * assert.throws(() => assertLoopback("192.0.2.1"), RangeError);
 * ```
 */
export function assertLoopback(host: string): void {
  if (!LOOPBACK_REGEXP.test(host)) {
    throw new RangeError(`Cannot send load to '${host}': only loopback addresses are allowed`);
  }
}

/**
 * The stream header a client sends.
 *
 * @param domain The server's domain.
 * @returns The header text.
 */
export function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xml:lang='en' ` +
    `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

/**
 * A c2s connection. Elements go to {@linkcode XmppConnection.onElement} when
 * set, else they queue for {@linkcode XmppConnection.next} (negotiation).
 *
 * @example Usage
 * ```ts ignore
 * import { XmppConnection } from "./connection.ts";
 *
 * const conn = await XmppConnection.connect({ host: "127.0.0.1", port: 5222, domain: "localhost" });
 * conn.openStream();
 * const features = await conn.next();
 * conn.destroy();
 * ```
 */
export class XmppConnection {
  readonly target: Target;
  /** Called for each element once set (after negotiation). */
  onElement: ((xml: string) => void) | undefined;
  /** Called once when the socket closes. */
  onClose: (() => void) | undefined;
  #socket: Socket;
  #framer: StanzaFramer;
  #queue: string[] = [];
  #waiter: ((reply: string | ConnectionClosedError) => void) | undefined;
  /** When the awaited reply is overdue (`performance.now()` time), while `#waiter` is set. */
  #deadline = 0;
  #timeoutMs = 0;
  #out = "";
  #flushScheduled = false;
  #closed = false;
  #streamEnded = false;
  #bytesIn = 0;
  #discard = false;
  #flush = () => this.flush();

  private constructor(target: Target, socket: Socket) {
    this.target = target;
    this.#socket = socket;
    this.#framer = new StanzaFramer({
      streamStart: () => {},
      element: (xml) => this.#deliver(xml),
      streamEnd: () => {
        this.#streamEnded = true;
      },
    });
    socket.setNoDelay(true);
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.#bytesIn += text.length;
      if (!this.#discard) this.#framer.push(text);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      if (this.#waiter !== undefined) {
        this.#settle(new ConnectionClosedError("Connection closed by the server"));
      }
      this.onClose?.();
    });
  }

  /**
   * Opens a TCP connection.
   *
   * @param target The server.
   * @param options Source address and timeout.
   * @returns The connection.
   * @throws {RangeError} If the target is not loopback.
   */
  static connect(target: Target, options: ConnectOptions = {}): Promise<XmppConnection> {
    assertLoopback(target.host);
    return new Promise((resolve, reject) => {
      const socket = netConnect({
        host: target.host,
        port: target.port,
        ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionClosedError("Cannot connect: timed out"));
      }, options.timeoutMs ?? 10_000);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        resolve(new XmppConnection(target, socket));
      });
      function fail(error: Error) {
        clearTimeout(timer);
        reject(error);
      }
      socket.once("error", fail);
    });
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the server sent `</stream:stream>`. */
  get streamEnded(): boolean {
    return this.#streamEnded;
  }

  /** Characters received so far. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Bytes accepted by `send` but not yet taken by the kernel. */
  get backlog(): number {
    return this.#out.length + this.#socket.writableLength;
  }

  /** The local address the connection uses. */
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  #deliver(xml: string): void {
    if (this.onElement !== undefined) return this.onElement(xml);
    if (this.#waiter !== undefined) this.#settle(xml);
    else this.#queue.push(xml);
  }

  /** Hands the awaited reply, or the error that ends the wait, to the waiter if there is one. */
  #settle(reply: string | ConnectionClosedError): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    const awaiting = XmppConnection.#awaiting;
    awaiting.delete(this);
    if (awaiting.size === 0) {
      clearInterval(XmppConnection.#sweepTimer);
      XmppConnection.#sweepTimer = undefined;
    }
    waiter(reply);
  }

  // Connections awaiting a reply in next(): one timer checks their deadlines
  // every SWEEP_MS while any waits, so a timeout fires up to that much late. (A
  // timer per awaited reply, five per login, cost the load generator a
  // twentieth of its CPU in a login storm.)
  static #awaiting = new Set<XmppConnection>();
  static #sweepTimer: ReturnType<typeof setInterval> | undefined;

  static #sweep(): void {
    const now = performance.now();
    for (const conn of XmppConnection.#awaiting) {
      if (conn.#deadline <= now) {
        conn.#settle(new ConnectionClosedError(`No reply within ${conn.#timeoutMs} ms`));
      }
    }
  }

  /**
   * Stops framing input: what arrives is counted and dropped (flooders that
   * must not spend the load generator's CPU on parsing).
   */
  discardInput(): void {
    this.#discard = true;
  }

  /** Sends a (new or restarted) stream header. */
  openStream(): void {
    this.send(streamHeader(this.target.domain));
  }

  /**
   * Queues text; everything queued in one turn of the event loop is written at once.
   *
   * @param text XML to send.
   */
  send(text: string): void {
    if (this.#closed) return;
    this.#out += text;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Writes whatever is queued now. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.#closed) return;
    const out = this.#out;
    this.#out = "";
    this.#socket.write(out);
  }

  /**
   * Writes raw text at once, returning whether the socket accepted it without
   * buffering (for floods that must respect back-pressure).
   *
   * @param text The text.
   * @returns `false` when the socket's buffer is full.
   */
  writeNow(text: string): boolean {
    if (this.#closed) return false;
    return this.#socket.write(text);
  }

  /**
   * Resolves when the socket can take more data, or after `timeoutMs`.
   *
   * @param timeoutMs Longest wait. @default {60000}
   * @returns A promise settled on `drain` or close.
   */
  drained(timeoutMs = 60_000): Promise<void> {
    if (this.#closed || this.#socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#socket.off("drain", done);
        this.#socket.off("close", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.#socket.once("drain", done);
      this.#socket.once("close", done);
    });
  }

  /**
   * The next element while negotiating.
   *
   * @param timeoutMs How long to wait (deadlines are checked every 100 ms). @default {10000}
   * @returns The element text.
   * @throws {ConnectionClosedError} On close or timeout.
   */
  next(timeoutMs = 10_000): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) {
      return Promise.reject(new ConnectionClosedError("Connection closed by the server"));
    }
    return new Promise((resolve, reject) => {
      this.#waiter = (reply) => typeof reply === "string" ? resolve(reply) : reject(reply);
      this.#timeoutMs = timeoutMs;
      this.#deadline = performance.now() + timeoutMs;
      XmppConnection.#awaiting.add(this);
      XmppConnection.#sweepTimer ??= setInterval(XmppConnection.#sweep, SWEEP_MS);
    });
  }

  /** Sends `</stream:stream>` and ends the socket. */
  end(): void {
    if (this.#closed) return;
    this.send("</stream:stream>");
    this.flush();
    this.#socket.end();
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once("close", () => resolve()));
  }
}
