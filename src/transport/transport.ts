/**
 * The contract between a connection's byte carrier (TCP, TLS, WebSocket,
 * BOSH, memory) and the stream that runs over it.
 *
 * @module
 */

/** How a client reached the server; usable in limit classes. */
export type TransportType = "tcp" | "tls" | "websocket" | "bosh" | "memory";

/** Receives what arrives on a transport. */
export interface TransportHandler {
  /** Bytes from the peer, in order. */
  data(bytes: Uint8Array): void;
  /** The transport is closed for good (peer closed, error, or our close finished). */
  closed(error?: Error): void;
}

/** A bidirectional byte carrier for one XMPP stream. */
export interface Transport {
  /** How the client connected. */
  readonly type: TransportType;
  /** The peer's IP address (IPv4-mapped IPv6 already unwrapped). */
  readonly remoteAddress: string;
  /** Whether bytes are encrypted now (direct TLS, or after STARTTLS). */
  readonly encrypted: boolean;
  /** Whether {@linkcode Transport.startTls} can upgrade this transport. */
  readonly canStartTls: boolean;
  /** Bytes written but not yet taken by the operating system. */
  readonly bufferedBytes: number;
  /**
   * Whether input read from the peer waits here while reading is paused, so
   * that `resume()` delivers it without reading again (the fair-input
   * scheduler must not take it for proof that sockets were polled).
   */
  readonly holdsInput: boolean;
  /** Attaches the receiver; data flows only after this. */
  attach(handler: TransportHandler): void;
  /** Queues bytes for the peer. */
  write(data: string | Uint8Array): void;
  /** Stops reading (back-pressure); idempotent. */
  pause(): void;
  /** Resumes reading; idempotent. */
  resume(): void;
  /**
   * Upgrades to TLS in place (server side), after pending writes are flushed.
   * Reading must already be paused and stays paused after the handshake: the
   * caller resets its parser for the new stream, then calls `resume()`. Bytes
   * the peer sent in plaintext after the pause are discarded, never delivered.
   */
  startTls(): Promise<void>;
  /** Flushes pending writes, then closes. */
  close(): void;
  /** Closes at once, dropping pending writes. */
  destroy(): void;
}
