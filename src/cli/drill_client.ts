/**
 * The raw XMPP client the drill attacks and exercises its server with: text
 * in, text out over a real TCP socket, optionally from a chosen loopback
 * source address so that each simulated device or attacker has its own IP.
 *
 * @module
 */

import { connect as netConnect, type Socket } from "node:net";
import { systemTimers, type TimerId, type Timers } from "../core/clock.ts";

const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
const STREAM_ERROR_REGEXP =
  /<stream:error>\s*<([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>([\s\S]*?)<\/stream:error>/;
const APP_CONDITION_REGEXP = /<([a-z-]+) xmlns="urn:xmpp:errors"\/>/;
const JID_REGEXP = /<jid>([^<]*)<\/jid>/;

/** Where a {@linkcode DrillClient} connects, and from where. */
export interface DrillConnectOptions {
  /** The server's port on 127.0.0.1. */
  port: number;
  /** Source address (any of 127.0.0.0/8 on Linux). @default the system's choice */
  localAddress?: string;
  /** Timers for read deadlines (real time, not the drill server's clock). @default systemTimers */
  timers?: Timers;
}

/** A stream error the server sent before closing. */
export interface StreamErrorSeen {
  /** The defined condition, e.g. `policy-violation`. */
  condition: string;
  /** The `urn:xmpp:errors` application condition, e.g. `stanza-too-big`. */
  appCondition: string | undefined;
}

/**
 * One client connection. Reads are collected into a text buffer; a test
 * waits for a pattern to appear with {@linkcode DrillClient.poll} (which gives
 * up quietly) or {@linkcode DrillClient.expect} (which throws).
 *
 * @example Usage
 * ```ts
 * import { DrillClient } from "./drill_client.ts";
 * import { XmppServer } from "../server.ts";
 * import { Logger } from "../core/log.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new XmppServer({
 *   listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
 *   tls: { required: false },
 *   auth: { allow_plain_without_tls: true },
 *   storage: { type: "memory" },
 *   accounts: [{ jid: "alice@localhost", password: "secret" }],
 * }, { logger: new Logger({ sink: () => {} }) });
 * await server.start();
 * await using client = await DrillClient.connect({ port: server.addresses[0]!.port });
 * assert.equal(await client.login("alice", "secret", "phone"), "alice@localhost/phone");
 * ```
 */
export class DrillClient implements AsyncDisposable {
  #socket: Socket;
  #timers: Timers;
  #buffer = "";
  #received = 0;
  #closed = false;
  #closedPromise: Promise<void>;
  #wake: (() => void) | undefined;
  #domain = "localhost";

  private constructor(socket: Socket, timers: Timers) {
    this.#socket = socket;
    this.#timers = timers;
    const decoder = new TextDecoder();
    socket.on("data", (chunk: Uint8Array) => {
      this.#received += chunk.byteLength;
      this.#buffer += decoder.decode(chunk, { stream: true });
      this.#wake?.();
    });
    socket.on("error", () => {});
    this.#closedPromise = new Promise((resolve) => {
      socket.on("close", () => {
        this.#closed = true;
        this.#wake?.();
        resolve();
      });
    });
  }

  /**
   * Opens a TCP connection to the server on 127.0.0.1.
   *
   * @param options The port, source address and timers.
   * @returns The connected client.
   * @throws {Error} If the connection cannot be made (e.g. the source address cannot be bound).
   */
  static connect(options: DrillConnectOptions): Promise<DrillClient> {
    const timers = options.timers ?? systemTimers;
    return new Promise((resolve, reject) => {
      const socket = netConnect({
        host: "127.0.0.1",
        port: options.port,
        ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      }, () => {
        socket.off("error", reject);
        resolve(new DrillClient(socket, timers));
      });
      socket.once("error", reject);
    });
  }

  /** Whether the server closed the connection (or it was destroyed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** The unread text. */
  get unread(): string {
    return this.#buffer;
  }

  /**
   * Writes text or bytes; resolves once the socket accepted them (a server
   * that stopped reading makes this wait: do not await a flood).
   */
  send(data: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.write(data, () => resolve());
    });
  }

  /**
   * Waits up to `timeoutMs` for `pattern` to appear in the unread text; takes
   * the text through the match out of the buffer and returns it.
   *
   * @returns The text through the match, or `undefined` on timeout or close.
   */
  async poll(pattern: RegExp | string, timeoutMs: number): Promise<string | undefined> {
    let timer: TimerId | undefined;
    let expired = false;
    const deadline = new Promise<void>((resolve) => {
      timer = this.#timers.set(() => {
        expired = true;
        resolve();
      }, timeoutMs);
    });
    try {
      for (;;) {
        const found = this.#take(pattern);
        if (found !== undefined) return found;
        if (this.#closed || expired) return undefined;
        await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), deadline]);
      }
    } finally {
      this.#wake = undefined;
      this.#timers.clear(timer);
    }
  }

  /**
   * Like {@linkcode DrillClient.poll}, but a timeout or close is an error.
   *
   * @throws {Error} Naming what was awaited and what arrived instead.
   */
  async expect(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    const found = await this.poll(pattern, timeoutMs);
    if (found !== undefined) return found;
    const what = this.#closed ? "the connection closed" : `nothing in ${timeoutMs} ms`;
    throw new Error(`Expected ${pattern}, but ${what}; unread: ${this.#buffer.slice(0, 300)}`);
  }

  /**
   * Waits for the server to close the connection.
   *
   * @returns Whether it closed within `timeoutMs`.
   */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    let timer: TimerId | undefined;
    const deadline = new Promise<void>((resolve) => (timer = this.#timers.set(resolve, timeoutMs)));
    await Promise.race([this.#closedPromise, deadline]);
    this.#timers.clear(timer);
    return this.#closed;
  }

  /** The stream error in the unread text, if one arrived. */
  streamError(): StreamErrorSeen | undefined {
    const match = STREAM_ERROR_REGEXP.exec(this.#buffer);
    if (match === null) return undefined;
    return { condition: match[1]!, appCondition: APP_CONDITION_REGEXP.exec(match[2]!)?.[1] };
  }

  /**
   * Opens a stream and reads the server's header and features.
   *
   * @returns The features text.
   */
  async open(domain = this.#domain, timeoutMs = 5000): Promise<string> {
    this.#domain = domain;
    await this.send(
      `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xml:lang='en' ` +
        `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
    );
    return await this.expect("</stream:features>", timeoutMs);
  }

  /**
   * Sends a SASL PLAIN `<auth/>` (the stream must be open).
   *
   * @param username The localpart.
   * @param password The password (wrong on purpose in failure drills).
   */
  async sendPlainAuth(username: string, password: string): Promise<void> {
    const bytes = new TextEncoder().encode(`\0${username}\0${password}`);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    await this.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${btoa(binary)}</auth>`);
  }

  /**
   * SASL PLAIN, then the stream restart.
   *
   * @throws {Error} If authentication fails.
   */
  async authenticate(username: string, password: string, domain = this.#domain): Promise<void> {
    await this.open(domain);
    await this.sendPlainAuth(username, password);
    const answer = await this.expect(/<success[^>]*\/>|<\/success>|<\/failure>/);
    if (!answer.includes("<success")) throw new Error(`Authentication failed: ${answer}`);
    await this.open(domain);
  }

  /**
   * Asks to bind `resource`.
   *
   * @returns The bound JID, or the error reply's text.
   */
  async bind(resource: string): Promise<{ jid: string } | { error: string }> {
    await this.send(
      `<iq type='set' id='bind'><bind xmlns='${NS_BIND}'><resource>${resource}</resource></bind></iq>`,
    );
    const reply = await this.expect(/<iq[^>]*id="bind"[^>]*>[\s\S]*?<\/iq>/);
    const jid = JID_REGEXP.exec(reply);
    return jid === null ? { error: reply } : { jid: jid[1]! };
  }

  /**
   * Authenticates and binds.
   *
   * @returns The bound JID.
   * @throws {Error} If authentication or binding fails.
   */
  async login(
    username: string,
    password: string,
    resource: string,
    domain = this.#domain,
  ): Promise<string> {
    await this.authenticate(username, password, domain);
    const bound = await this.bind(resource);
    if ("error" in bound) throw new Error(`Binding failed: ${bound.error}`);
    return bound.jid;
  }

  /**
   * Pings the server and waits for the answer: everything sent before has
   * been processed once it arrives.
   *
   * @returns The text received up to and including the answer, or `undefined` on timeout or close.
   */
  async sync(id: string, timeoutMs = 5000): Promise<string | undefined> {
    await this.send(
      `<iq type='get' id='${id}' to='${this.#domain}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    );
    return await this.poll(
      new RegExp(`<iq[^>]*id="${id}"[^>]*?(?:/>|>[\\s\\S]*?</iq>)`),
      timeoutMs,
    );
  }

  /** Closes the connection at once. */
  close(): void {
    this.#socket.destroy();
  }

  /** Closes the connection and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.destroy();
    await this.#closedPromise;
  }

  #take(pattern: RegExp | string): string | undefined {
    let end: number;
    if (typeof pattern === "string") {
      const index = this.#buffer.indexOf(pattern);
      if (index === -1) return undefined;
      end = index + pattern.length;
    } else {
      const match = pattern.exec(this.#buffer);
      if (match === null) return undefined;
      end = match.index + match[0].length;
    }
    const out = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end);
    return out;
  }
}
