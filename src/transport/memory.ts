/**
 * An in-memory {@linkcode Transport} and the peer that drives it, for
 * protocol tests and embedding without sockets.
 *
 * @module
 */

import type { Transport, TransportHandler, TransportType } from "./transport.ts";

/** Options for {@linkcode createMemoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * The address the transport reports for the peer.
   *
   * @default {"127.0.0.1"}
   */
  remoteAddress?: string;
  /**
   * Whether the transport starts encrypted (as direct TLS would).
   *
   * @default {false}
   */
  encrypted?: boolean;
  /**
   * Whether {@linkcode Transport.startTls} is offered while not encrypted.
   *
   * @default {true}
   */
  canStartTls?: boolean;
  /**
   * The type the transport reports.
   *
   * @default {"memory"}
   */
  type?: TransportType;
}

/** The client end of a memory transport, driven by the test. */
export interface MemoryPeer {
  /** Whether the server side has paused reading; `send` queues meanwhile. */
  readonly paused: boolean;
  /** Whether the transport is closed (by either side). */
  readonly closed: boolean;
  /** How many times the server upgraded the transport with `startTls`. */
  readonly tlsUpgrades: number;
  /**
   * Sends bytes to the server: delivered to the handler at once when attached
   * and not paused, else queued in order until then.
   *
   * @throws {Error} If the transport is closed.
   */
  send(data: string | Uint8Array): void;
  /** Returns and drains everything the server wrote so far, as text. */
  read(): string;
  /**
   * Waits until the server has written something, then returns and drains
   * it like {@linkcode MemoryPeer.read}.
   *
   * @throws {Error} If the transport closes with nothing left to read.
   */
  nextWrite(): Promise<string>;
  /**
   * Closes from the peer's side, as a FIN (no error) or a reset (`error`); the
   * handler's `closed` runs before this returns.
   */
  close(error?: Error): void;
  /** Resolves when the transport has closed; yields the close error, if any. */
  whenClosed(): Promise<Error | undefined>;
}

/** A memory transport and its peer. */
export interface MemoryTransportPair {
  /** The server end, to hand to the stream code. */
  transport: Transport;
  /** The client end, driven by the test. */
  peer: MemoryPeer;
}

/**
 * Creates an in-memory transport pair. The server end behaves like a socket
 * transport: nothing is delivered before `attach` or while paused, `close()`
 * and `destroy()` report `closed` asynchronously and exactly once, and
 * `startTls()` requires reading to be paused, then flips `encrypted` and
 * leaves reading paused until the caller's `resume()`.
 *
 * @param options Address, encryption and STARTTLS availability.
 * @returns The transport and its peer.
 *
 * @example Usage
 * ```ts
 * import { createMemoryTransport } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const { transport, peer } = createMemoryTransport();
 * const seen: string[] = [];
 * transport.attach({
 *   data: (bytes) => seen.push(new TextDecoder().decode(bytes)),
 *   closed() {},
 * });
 * peer.send("<starttls/>");
 * transport.pause();
 * transport.write("<proceed/>");
 * assert.equal(await peer.nextWrite(), "<proceed/>");
 * await transport.startTls();
 * transport.resume();
 * assert.equal(transport.encrypted, true);
 * assert.deepEqual(seen, ["<starttls/>"]);
 * ```
 */
export function createMemoryTransport(
  options: MemoryTransportOptions = {},
): MemoryTransportPair {
  const transport = new MemoryTransport(options);
  return { transport, peer: transport.peer };
}

const encoder = new TextEncoder();

class MemoryTransport implements Transport {
  readonly type: TransportType;
  readonly remoteAddress: string;
  readonly peer: MemoryPeer;
  #encrypted: boolean;
  #startTls: boolean;
  #handler: TransportHandler | undefined;
  #paused = false;
  #closed = false;
  #closeError: Error | undefined;
  #inbound: Uint8Array[] = [];
  #outbound = "";
  #outboundBytes = 0;
  #decoder = new TextDecoder();
  #writeWaiter: PromiseWithResolvers<void> | undefined;
  #whenClosed = Promise.withResolvers<Error | undefined>();
  #tlsUpgrades = 0;

  constructor(options: MemoryTransportOptions) {
    this.type = options.type ?? "memory";
    this.remoteAddress = options.remoteAddress ?? "127.0.0.1";
    this.#encrypted = options.encrypted ?? false;
    this.#startTls = options.canStartTls ?? true;
    this.peer = MemoryTransport.#createPeer(this);
  }

  get encrypted(): boolean {
    return this.#encrypted;
  }

  get canStartTls(): boolean {
    return this.#startTls && !this.#encrypted && !this.#closed;
  }

  get bufferedBytes(): number {
    return this.#outboundBytes;
  }

  attach(handler: TransportHandler): void {
    if (this.#handler !== undefined) {
      throw new Error("Cannot attach handler: the transport already has one");
    }
    this.#handler = handler;
    if (this.#closed) {
      const error = this.#closeError;
      queueMicrotask(() => handler.closed(error));
      return;
    }
    this.#deliver();
  }

  write(data: string | Uint8Array): void {
    if (this.#closed) return;
    if (typeof data === "string") {
      this.#outbound += data;
      this.#outboundBytes += encoder.encode(data).length;
    } else {
      this.#outbound += this.#decoder.decode(data, { stream: true });
      this.#outboundBytes += data.length;
    }
    const waiter = this.#writeWaiter;
    this.#writeWaiter = undefined;
    waiter?.resolve();
  }

  get holdsInput(): boolean {
    return this.#inbound.length > 0;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#deliver();
  }

  startTls(): Promise<void> {
    if (!this.canStartTls) {
      return Promise.reject(new Error("Cannot start TLS: the transport does not offer STARTTLS"));
    }
    if (!this.#paused) {
      return Promise.reject(new Error("Cannot start TLS: reading must be paused first"));
    }
    this.#encrypted = true;
    this.#tlsUpgrades++;
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#finish(undefined, true);
  }

  destroy(): void {
    if (this.#closed) return;
    this.#outbound = "";
    this.#outboundBytes = 0;
    this.#finish(undefined, true);
  }

  #deliver(): void {
    while (
      this.#handler !== undefined && !this.#paused && !this.#closed && this.#inbound.length > 0
    ) {
      this.#handler.data(this.#inbound.shift()!);
    }
  }

  #finish(error: Error | undefined, deferred: boolean): void {
    this.#closed = true;
    this.#closeError = error;
    this.#inbound = [];
    const waiter = this.#writeWaiter;
    this.#writeWaiter = undefined;
    waiter?.resolve();
    const notify = (): void => {
      this.#whenClosed.resolve(error);
      this.#handler?.closed(error);
    };
    if (deferred) queueMicrotask(notify);
    else notify();
  }

  #drain(): string {
    const text = this.#outbound;
    this.#outbound = "";
    this.#outboundBytes = 0;
    return text;
  }

  static #createPeer(transport: MemoryTransport): MemoryPeer {
    return {
      get paused() {
        return transport.#paused;
      },
      get closed() {
        return transport.#closed;
      },
      get tlsUpgrades() {
        return transport.#tlsUpgrades;
      },
      send(data: string | Uint8Array): void {
        if (transport.#closed) throw new Error("Cannot send: the transport is closed");
        transport.#inbound.push(typeof data === "string" ? encoder.encode(data) : data.slice());
        transport.#deliver();
      },
      read(): string {
        return transport.#drain();
      },
      async nextWrite(): Promise<string> {
        while (transport.#outbound === "") {
          if (transport.#closed) {
            throw new Error("Cannot read: the transport closed with nothing written");
          }
          transport.#writeWaiter ??= Promise.withResolvers<void>();
          await transport.#writeWaiter.promise;
        }
        return transport.#drain();
      },
      close(error?: Error): void {
        if (transport.#closed) return;
        transport.#finish(error, false);
      },
      whenClosed(): Promise<Error | undefined> {
        return transport.#whenClosed.promise;
      },
    };
  }
}
