/**
 * One XEP-0124/0206 BOSH session as a {@linkcode Transport}: requests are
 * taken in `rid` order (early ones wait for the gap, recent ones are answered
 * again from a replay buffer), held for up to `wait`, answered with whatever
 * the stream wrote, and the session ends with a `type='terminate'` body.
 *
 * @module
 */

import type { TimerId, Timers } from "../core/clock.ts";
import {
  FRAGMENT_FRAMING,
  type FramedTransport,
  type Framing,
  NS_FRAMING,
  serializeFragment,
} from "../stream/framing.ts";
import { NS_STREAMS } from "../xml/ns.ts";
import { escapeAttr } from "../xml/serialize.ts";
import { boshBody, type BoshRequestBody, NS_XBOSH } from "./bosh_body.ts";
import type { TransportHandler } from "./transport.ts";

/** XEP-0124 §17.2 terminal binding conditions the server sends. */
export type BoshCondition =
  | "bad-request"
  | "host-unknown"
  | "item-not-found"
  | "policy-violation"
  | "remote-stream-error"
  | "system-shutdown"
  | "undefined-condition";

/** What a session was created with, after the server's caps. */
export interface BoshSessionParameters {
  /** The session id (unguessable). */
  sid: string;
  /** The served domain, the stream's `to`. */
  domain: string;
  /** `xml:lang` of the session creation request. */
  lang: string | undefined;
  /** `xmpp:version` of the session creation request (the stream open's `version`). */
  version: string | undefined;
  /** Longest time a request is held, in milliseconds. */
  waitMs: number;
  /** Requests held at most at once. */
  hold: number;
  /** Simultaneous requests allowed; also the replay window. */
  requests: number;
  /** A session with no request for this long ends, in milliseconds. */
  inactivityMs: number;
  /** Shortest interval between empty polls, in milliseconds. */
  pollingMs: number;
}

/** Options for {@linkcode BoshSession}. */
export interface BoshSessionOptions extends BoshSessionParameters {
  /** The client's address at session creation. */
  remoteAddress: string;
  /** Whether the creation request came over TLS. */
  encrypted: boolean;
  /** Timers for wait, inactivity and polling. */
  timers: Timers;
  /** Called once when the session can be forgotten (nothing left to deliver). */
  onGone(session: BoshSession): void;
}

interface Exchange {
  rid: number;
  resolve(text: string): void;
  timer: TimerId | undefined;
  creation: boolean;
}

interface Early {
  exchange: Exchange;
  body: BoshRequestBody;
}

const OPEN = 0;
const ENDED = 1; // the stream is over; the terminal body waits for a request
const GONE = 2;

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * A BOSH session. The HTTP side calls {@linkcode BoshSession.start} with the
 * session creation request, then {@linkcode BoshSession.request} for every
 * later one; each returns the text of the response `<body/>`.
 *
 * @example Usage
 * ```ts
 * import { BoshSession } from "./bosh_session.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const session = new BoshSession({
 *   sid: "s1", domain: "example.org", lang: "en", version: "1.0", waitMs: 60_000, hold: 1,
 *   requests: 2, inactivityMs: 60_000, pollingMs: 2_000, remoteAddress: "192.0.2.1",
 *   encrypted: true, timers: new ManualClock(), onGone() {},
 * });
 * const received: string[] = [];
 * session.attach({ data: (b) => received.push(new TextDecoder().decode(b)), closed() {} });
 * const response = session.start(100);
 * assert.match(received[0]!, /^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org"/);
 * session.framing.open(session, { from: "example.org", to: undefined, id: "stream-1" });
 * session.write(`<stream:features xmlns:stream="http://etherx.jabber.org/streams"/>`);
 * assert.match(await response, /sid="s1"[^>]*authid="stream-1"[^>]*><stream:features/);
 * ```
 */
export class BoshSession implements FramedTransport {
  /** Always `"bosh"`, for limit classes. */
  readonly type = "bosh" as const;
  /** The client's address at session creation. */
  readonly remoteAddress: string;
  /** Whether the creation request came over TLS. */
  readonly encrypted: boolean;
  /** Always `false`: TLS is the `https` listener's. */
  readonly canStartTls = false;
  /** The session's parameters after the server's caps. */
  readonly parameters: Readonly<BoshSessionParameters>;
  /**
   * Fragments framing whose open and close become `<body/>` attributes: the
   * open is not sent (the session creation response carries `authid`), a
   * stream error ends the session with `remote-stream-error` (XEP-0206 §7).
   */
  readonly framing: Framing;

  #timers: Timers;
  #onGone: (session: BoshSession) => void;
  #handler: TransportHandler | undefined;
  #state = OPEN;
  #paused = false;
  #inbox: Uint8Array[] = [];
  #lastRid = -1;
  #held: Exchange[] = [];
  #early = new Map<number, Early>();
  #answers = new Map<number, string>();
  #output: string[] = [];
  #outputBytes = 0;
  #flushQueued = false;
  #streamId = "";
  #condition: BoshCondition | undefined;
  #inactivity: TimerId | undefined;
  #lastEmptyPollAt = -Infinity;
  #closedError: Error | undefined;
  #reported = false;

  /**
   * Creates a session; nothing happens until {@linkcode BoshSession.start}.
   *
   * @param options Parameters, address, timers and the removal callback.
   */
  constructor(options: BoshSessionOptions) {
    const { remoteAddress, encrypted, timers, onGone, ...parameters } = options;
    this.remoteAddress = remoteAddress;
    this.encrypted = encrypted;
    this.parameters = Object.freeze(parameters);
    this.#timers = timers;
    this.#onGone = onGone;
    this.framing = {
      parser: "fragments",
      serialize: serializeFragment,
      open: (_transport, attributes) => {
        this.#streamId = attributes.id;
      },
      close: (_transport, error) => {
        if (error === undefined || this.#state !== OPEN) return;
        this.#condition = "remote-stream-error";
        this.write(serializeFragment(error));
      },
      events: FRAGMENT_FRAMING.events,
    };
  }

  /** The session id. */
  get sid(): string {
    return this.parameters.sid;
  }

  /** Whether the session still runs a stream (not ended or gone). */
  get open(): boolean {
    return this.#state === OPEN;
  }

  /** Requests open on this session now: held, and early ones waiting for a gap. */
  get openRequests(): number {
    return this.#held.length + this.#early.size;
  }

  /** Bytes the stream wrote that no response has carried yet. */
  get bufferedBytes(): number {
    return this.#outputBytes;
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
    if (this.#state !== OPEN) this.#report();
    else this.#deliver();
  }

  /**
   * Starts the stream for the session creation request (XEP-0206 §4): the
   * stream open goes to the session, and the request is held for its features.
   *
   * @param rid The creation request's `rid`.
   * @returns The text of the creation response.
   */
  start(rid: number): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    this.#lastRid = rid;
    this.#push(this.#openBytes());
    this.#hold({ rid, resolve, timer: undefined, creation: true });
    return promise;
  }

  /**
   * Takes one later request (XEP-0124 §9-§14).
   *
   * @param rid The request's `rid`.
   * @param body Its attributes and payload.
   * @returns The text of the response.
   */
  request(rid: number, body: BoshRequestBody): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    const exchange: Exchange = { rid, resolve, timer: undefined, creation: false };
    if (this.#state !== OPEN) {
      this.#answerEnded(exchange);
      return promise;
    }
    this.#stopInactivity();
    const p = this.parameters;
    if (rid <= this.#lastRid) {
      // XEP-0124 §14.3: a repeated rid gets its buffered response again.
      const answer = this.#answers.get(rid);
      if (answer !== undefined) {
        resolve(answer);
        this.#idleCheck();
        return promise;
      }
      const index = this.#held.findIndex((held) => held.rid === rid);
      if (index >= 0) {
        // The client gave up on the held copy: the new request takes its place.
        const old = this.#held[index]!;
        this.#clearTimer(old);
        old.resolve(this.#text(old, ""));
        exchange.creation = old.creation;
        this.#held[index] = exchange;
        this.#armWait(exchange);
        return promise;
      }
      // Answered long ago: the response is no longer buffered.
      this.#refuse(exchange, "item-not-found");
      return promise;
    }
    if (rid > this.#lastRid + p.requests) {
      // XEP-0124 §14.1: a rid beyond the window.
      this.#refuse(exchange, "item-not-found");
      return promise;
    }
    const previous = this.#early.get(rid);
    if (previous !== undefined) {
      // A repeated early request: the newer copy replaces the older.
      this.#early.delete(rid);
      this.#clearTimer(previous.exchange);
      previous.exchange.resolve(this.#text(previous.exchange, ""));
    }
    if (this.openRequests + 1 > p.requests) {
      // XEP-0124 §11: more simultaneous requests than allowed.
      this.#refuse(exchange, "policy-violation");
      return promise;
    }
    if (rid > this.#lastRid + 1) {
      // XEP-0124 §14.2: forward in rid order; an early request waits for the gap.
      exchange.timer = this.#timers.set(() => {
        exchange.timer = undefined;
        this.#early.delete(rid);
        this.#refuse(exchange, "item-not-found");
      }, p.waitMs);
    }
    // While reading is paused (bandwidth limit), requests wait here too: the
    // client cannot have more than `requests` open, which is the back-pressure.
    this.#early.set(rid, { exchange, body });
    this.#takeReady();
    return promise;
  }

  /**
   * Ends the session from the HTTP side with a terminal condition (e.g.
   * `policy-violation` for an oversized body); the stream is closed.
   *
   * @param condition The XEP-0124 condition.
   * @returns The text of the terminal response for the current request.
   */
  terminate(condition: BoshCondition): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    const exchange: Exchange = { rid: -1, resolve, timer: undefined, creation: false };
    if (this.#state !== OPEN) this.#answerEnded(exchange);
    else this.#refuse(exchange, condition);
    return promise;
  }

  /**
   * Queues stream output; the oldest held request carries it (in the same
   * response as everything else written in this event-loop turn).
   *
   * @param data One serialised element.
   */
  write(data: string | Uint8Array): void {
    if (this.#state !== OPEN) return;
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    this.#output.push(text);
    this.#outputBytes += text.length;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
  }

  /** Whether payloads wait for reading to resume (those of requests that came early included). */
  get holdsInput(): boolean {
    return this.#inbox.length > 0 || this.#early.has(this.#lastRid + 1);
  }

  /** Holds payloads back (they wait in order). Idempotent. */
  pause(): void {
    this.#paused = true;
  }

  /** Delivers held-back payloads. Idempotent. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#deliver();
    this.#takeReady();
  }

  /** Always rejects: TLS is the `https` listener's. */
  startTls(): Promise<void> {
    return Promise.reject(new Error("Cannot start TLS: not available over BOSH"));
  }

  /** Ends the session; the output so far goes out in the terminal response. */
  close(): void {
    this.#end(this.#condition, true);
  }

  /** Ends the session at once, dropping output. */
  destroy(): void {
    this.#end("undefined-condition", false);
  }

  /**
   * Ends the session for a listener shutdown: open requests get
   * `system-shutdown` (if the stream had not ended already) and nothing waits
   * for a later request.
   */
  shutdown(): void {
    this.#end("system-shutdown", false);
    this.#flushEnded();
    this.#gone();
  }

  // --- Requests -----------------------------------------------------------

  /** Takes early requests whose turn has come, in rid order, while reading is not paused. */
  #takeReady(): void {
    for (
      let next = this.#early.get(this.#lastRid + 1);
      next !== undefined && !this.#paused && this.#state === OPEN;
      next = this.#early.get(this.#lastRid + 1)
    ) {
      this.#early.delete(next.exchange.rid);
      this.#clearTimer(next.exchange);
      this.#take(next.exchange, next.body);
    }
  }

  #refuse(exchange: Exchange, condition: BoshCondition): void {
    this.#held.push(exchange);
    this.#end(condition, false);
  }

  #take(exchange: Exchange, body: BoshRequestBody): void {
    const attrs = body.attrs;
    this.#lastRid = exchange.rid;
    const restart = attrs["xmpp:restart"] === "true";
    const terminate = attrs.type === "terminate";
    const empty = body.payload.byteLength === 0 && !restart && !terminate;
    if (empty) {
      // XEP-0124 §11: empty polls while the server already holds enough are overactive.
      const now = this.#timers.now();
      if (this.#held.length >= this.parameters.hold) {
        if (now - this.#lastEmptyPollAt < this.parameters.pollingMs) {
          return this.#refuse(exchange, "policy-violation");
        }
        this.#lastEmptyPollAt = now;
      }
    }
    // XEP-0206 §5: a restart request opens a new stream on the same session.
    if (restart) this.#push(this.#openBytes());
    // An empty request still counts as activity for the stream's idle timeout.
    this.#push(body.payload.byteLength === 0 ? EMPTY : body.payload);
    if (terminate) this.#push(encoder.encode(`<close xmlns="${NS_FRAMING}"/>`));
    // A terminate request answers nothing yet: the stream may close a little later
    // (its input can wait for a fair-input round), and every held request then
    // gets the terminate body, none an empty one.
    this.#hold(exchange, !terminate);
  }

  #hold(exchange: Exchange, answer = true): void {
    this.#held.push(exchange);
    if (this.#state !== OPEN) return this.#flushEnded();
    this.#armWait(exchange);
    if (answer) this.#flush();
  }

  #armWait(exchange: Exchange): void {
    exchange.timer = this.#timers.set(() => {
      exchange.timer = undefined;
      const index = this.#held.indexOf(exchange);
      if (index < 0) return;
      this.#held.splice(index, 1);
      this.#answer(exchange, "");
    }, this.parameters.waitMs);
  }

  /** Sends output on the oldest held request, and keeps at most `hold` held. */
  #flush(): void {
    if (this.#state !== OPEN) return;
    if (this.#output.length > 0 && this.#held.length > 0) {
      this.#answer(this.#held.shift()!, this.#takeOutput());
    }
    // The creation request waits for the features even in a polling session (hold 0).
    while (this.#held.length > this.parameters.hold && !this.#held[0]!.creation) {
      this.#answer(this.#held.shift()!, "");
    }
  }

  #takeOutput(): string {
    const text = this.#output.join("");
    this.#output = [];
    this.#outputBytes = 0;
    return text;
  }

  #answer(exchange: Exchange, payload: string): void {
    this.#clearTimer(exchange);
    const text = this.#text(exchange, payload);
    // XEP-0124 §14.3: keep the last `requests` responses for repeated rids.
    this.#answers.set(exchange.rid, text);
    if (this.#answers.size > this.parameters.requests) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
    exchange.resolve(text);
    this.#idleCheck();
  }

  #text(exchange: Exchange, payload: string): string {
    if (!exchange.creation) return boshBody({}, payload);
    const p = this.parameters;
    // XEP-0124 §7.1 and XEP-0206 §4: the session creation response.
    return boshBody({
      "xmlns:xmpp": NS_XBOSH,
      "xmlns:stream": NS_STREAMS,
      sid: p.sid,
      wait: String(p.waitMs / 1000),
      requests: String(p.requests),
      hold: String(p.hold),
      inactivity: String(p.inactivityMs / 1000),
      polling: String(p.pollingMs / 1000),
      ver: "1.11",
      from: p.domain,
      authid: this.#streamId,
      "xmpp:version": "1.0",
      "xmpp:restartlogic": "true",
    }, payload);
  }

  #clearTimer(exchange: Exchange): void {
    if (exchange.timer !== undefined) this.#timers.clear(exchange.timer);
    exchange.timer = undefined;
  }

  // --- Inactivity ---------------------------------------------------------

  #idleCheck(): void {
    if (this.#state === GONE || this.#held.length > 0 || this.#early.size > 0) return;
    if (this.#inactivity !== undefined) return;
    this.#inactivity = this.#timers.set(() => {
      this.#inactivity = undefined;
      // XEP-0124 §7.1: no request within `inactivity`: the session is over.
      this.#closedError ??= new Error("BOSH session inactive");
      if (this.#state === OPEN) this.#end(undefined, false);
      this.#gone();
    }, this.parameters.inactivityMs);
  }

  #stopInactivity(): void {
    if (this.#inactivity !== undefined) this.#timers.clear(this.#inactivity);
    this.#inactivity = undefined;
  }

  // --- Payload ------------------------------------------------------------

  #openBytes(): Uint8Array {
    const p = this.parameters;
    let open = `<open xmlns="${NS_FRAMING}" to="${escapeAttr(p.domain)}"`;
    if (p.version !== undefined) open += ` version="${escapeAttr(p.version)}"`;
    if (p.lang !== undefined) open += ` xml:lang="${escapeAttr(p.lang)}"`;
    return encoder.encode(open + "/>");
  }

  #push(bytes: Uint8Array): void {
    this.#inbox.push(bytes);
    this.#deliver();
  }

  #deliver(): void {
    while (
      !this.#paused && this.#handler !== undefined && this.#state === OPEN &&
      this.#inbox.length > 0
    ) {
      this.#handler.data(this.#inbox.shift()!);
    }
  }

  // --- The end ------------------------------------------------------------

  #end(condition: BoshCondition | undefined, keepOutput: boolean): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#condition = condition;
    this.#inbox = [];
    if (!keepOutput) this.#takeOutput();
    for (const { exchange } of this.#early.values()) {
      this.#clearTimer(exchange);
      this.#held.push(exchange);
    }
    this.#early.clear();
    this.#report();
    this.#flushEnded();
  }

  /** Answers every open request with the terminal body, or waits for one. */
  #flushEnded(): void {
    if (this.#held.length === 0) {
      this.#idleCheck();
      return;
    }
    const held = this.#held;
    this.#held = [];
    let payload = this.#takeOutput();
    for (const exchange of held) {
      this.#clearTimer(exchange);
      exchange.resolve(this.#terminalText(payload, exchange));
      payload = "";
    }
    this.#gone();
  }

  #answerEnded(exchange: Exchange): void {
    if (this.#state === GONE) {
      exchange.resolve(boshBody({ type: "terminate", condition: "item-not-found" }, ""));
      return;
    }
    this.#held.push(exchange);
    this.#flushEnded();
  }

  #terminalText(payload: string, exchange?: Exchange): string {
    const attrs: Record<string, string | undefined> = {
      type: "terminate",
      condition: this.#condition,
    };
    if (this.#condition === "remote-stream-error") attrs["xmlns:stream"] = NS_STREAMS;
    if (exchange?.creation) {
      // A stream that fails at once still tells the client which session it was.
      attrs.sid = this.parameters.sid;
      attrs.from = this.parameters.domain;
    }
    return boshBody(attrs, payload);
  }

  #gone(): void {
    if (this.#state === GONE) return;
    this.#state = GONE;
    this.#stopInactivity();
    this.#onGone(this);
  }

  #report(): void {
    if (this.#reported || this.#handler === undefined) return;
    this.#reported = true;
    const handler = this.#handler;
    const error = this.#closedError ??
      (this.#condition === undefined || this.#condition === "remote-stream-error"
        ? undefined
        : new Error(`BOSH session terminated: ${this.#condition}`));
    queueMicrotask(() => handler.closed(error));
  }
}
