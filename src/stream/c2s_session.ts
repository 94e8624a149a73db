/**
 * One client-to-server stream (RFC 6120): header checks, STARTTLS, SASL,
 * resource binding, then stanzas handed to the host for routing. Nothing but
 * negotiation is processed before authentication and binding (XEP-0205).
 *
 * @module
 */

import type { SaslMechanism } from "../auth/sasl_mechanism.ts";
import type { Logger } from "../core/log.ts";
import type { ServerStats } from "../core/stats.ts";
import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { StreamError } from "../errors/stream_error.ts";
import type { Jid } from "../jid/jid.ts";
import type { SessionLimitState } from "../limits/limit_engine.ts";
import { type HeldInputObserver, PauseGate, type PauseHandle } from "../transport/pause_gate.ts";
import type { Transport, TransportHandler } from "../transport/transport.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_BIND, NS_CLIENT, NS_SASL, NS_SESSION, NS_TLS } from "../xml/ns.ts";
import type {
  ParseError,
  ParserLimits,
  StreamParserHandler,
  XmlStreamParser,
} from "../xml/stream_parser.ts";
import { createStreamParser } from "../xml/xml_stream_parser.ts";
import { bindResult, requestedResource } from "./bind.ts";
import { serializedFeatures } from "./features.ts";
import { type Framing, framingFor } from "./framing.ts";
import { SaslNegotiation, type SaslResult } from "./sasl_negotiation.ts";

/** Stream-level policy a session follows, resolved from configuration. */
export interface StreamPolicy {
  /** TLS before SASL (RFC 6120 §5.3.1 mandatory-to-negotiate). */
  tlsRequired: boolean;
  /** SASL failures allowed on one stream before it is closed. */
  maxAuthFailures: number;
  /** Parser caps before authentication (XEP-0205: much smaller). */
  preAuthLimits: ParserLimits;
  /** Parser caps after authentication. */
  authLimits: ParserLimits;
  /** Outgoing bytes queued for a slow reader before the stream is closed; `null` for no cap. */
  sendBufferBytes: number | null;
  /** Idle time announced in XEP-0478 stream limits, in seconds. */
  idleSeconds: number;
}

/** Elements the session may still accept while an asynchronous step runs. */
const MAX_BACKLOG = 8;

/** What a session needs from the server that runs it. */
export interface SessionHost {
  /** The served domain. */
  readonly domain: string;
  /** Monotonic time, for activity stamps. */
  now(): number;
  /** Where session events are logged. */
  readonly log: Logger;
  /** Server-wide counters the session bumps. */
  readonly stats: ServerStats;
  /** The policy for this session's streams. */
  readonly policy: StreamPolicy;
  /**
   * The size of a stanza: `delivered` (within the parser caps), `refused`
   * (over the stanza size, answered with `<stanza-too-big/>`) or `closed`
   * (grew past the stream-error size). Lets the limits report and count.
   */
  stanzaSize(session: C2sSession, bytes: number, outcome: "delivered" | "refused" | "closed"): void;
  /** Runs `callback` after `delayMs` on the host's timers. */
  after(delayMs: number, callback: () => void): void;
  /**
   * Bytes arrived for `session`. The host may meter or queue them; it hands
   * them to {@linkcode C2sSession.receive} when they may be parsed.
   */
  input(session: C2sSession, bytes: Uint8Array): void;
  /** The SASL mechanisms to offer on a stream that is or is not encrypted. */
  mechanisms(encrypted: boolean): ReadonlyMap<string, SaslMechanism>;
  /**
   * Whether a new SASL attempt may start: `false` refuses it with
   * `<temporary-auth-failure/>`, a number is how long to hold it first (XEP-0205 tarpit).
   */
  authAttempt(session: C2sSession): number | false;
  /** Authentication succeeded. */
  authenticated(session: C2sSession, username: string, mechanism: string): void;
  /** One SASL attempt failed; returns how long to wait before answering (tarpit). */
  authFailed(session: C2sSession, condition: string, mechanism: string | undefined): number;
  /** Binds a resource; a conflicting session is replaced. */
  bind(session: C2sSession, resource: string | undefined): Jid | StanzaError;
  /** Routes a stanza from a bound session; `from` is already stamped. */
  route(session: C2sSession, stanza: Element): void;
  /** Stream features to add to the built-in ones (e.g. roster versioning once authenticated). */
  streamFeatures?(session: C2sSession): readonly Element[];
  /**
   * Answers an IQ sent before authentication: XEP-0077 in-band
   * registration, the one request the server takes then. `undefined`
   * means the host does not take it, and the stream closes with
   * `<not-authorized/>` as for any other stanza before authentication.
   */
  preAuthIq?(session: C2sSession, iq: Element): Promise<Element> | undefined;
  /** The stream is gone; forget it. */
  closed(session: C2sSession, error: StreamError | undefined): void;
}

/** Where a stream is in its life. */
export type SessionPhase =
  /** Waiting for a stream header. */
  | "opening"
  /** Header exchanged; negotiating TLS, SASL and binding. */
  | "negotiating"
  /** TLS handshake in progress. */
  | "tls"
  /** Bound: stanzas are routed. */
  | "established"
  /** Closing or closed. */
  | "closed";

/**
 * A client stream over one transport.
 *
 * @example Usage
 * ```ts ignore
 * const session = new C2sSession(host, transport);
 * // The transport now feeds the session; it negotiates and routes on its own.
 * ```
 */
export class C2sSession {
  /** The transport carrying the stream. */
  readonly transport: Transport;
  /** A short id for logs and the stream header. */
  readonly id: string;
  /** When the connection was accepted (host clock). */
  readonly openedAt: number;
  /** Last time bytes arrived (host clock). */
  lastActivity: number;
  /** The authenticated username, once SASL succeeded. */
  username: string | undefined;
  /** The mechanism that authenticated the stream. */
  authMechanism: string | undefined;
  /** The bound full JID. */
  jid: Jid | undefined;
  /** The bound bare JID as a string (registry key). */
  bareKey = "";
  /** The bound resource (registry key). */
  resourceKey = "";
  /** Whether the client sent initial presence and has not gone unavailable. */
  available = false;
  /** Presence priority (RFC 6121 §4.7.2.3). */
  priority = 0;
  /** The last broadcast presence, for probes and new resources. */
  presence: Element | undefined;
  /** Outgoing bytes queued before the stream is closed; `null` for no cap. */
  sendBufferBytes: number | null;
  /** The XEP-0205 limiter state the server keeps for this stream. */
  limits: SessionLimitState | undefined;

  #host: SessionHost;
  #framing: Framing;
  #parser: XmlStreamParser;
  #phase: SessionPhase = "opening";
  #headerSent = false;
  #sasl: SaslNegotiation | undefined;
  #busy = false;
  #backlog: Element[] = [];
  #parserLimits: ParserLimits;
  #gate: PauseGate;
  #pause: PauseHandle;

  /**
   * Starts a stream over `transport`.
   *
   * @param host The server side the stream reports to.
   * @param transport The connection.
   * @param limits The limiter state admitted for this connection.
   */
  constructor(host: SessionHost, transport: Transport, limits?: SessionLimitState) {
    this.#host = host;
    this.transport = transport;
    this.id = crypto.randomUUID();
    this.openedAt = host.now();
    this.lastActivity = this.openedAt;
    this.sendBufferBytes = host.policy.sendBufferBytes;
    this.limits = limits;
    this.#gate = new PauseGate(transport);
    this.#pause = this.#gate.handle();
    this.#parserLimits = host.policy.preAuthLimits;
    this.#framing = framingFor(transport);
    const events = new C2sSession.#Events(this);
    this.#parser = createStreamParser(this.#framing.events(events), {
      limits: this.#parserLimits,
      framing: this.#framing.parser,
    });
    transport.attach(events);
  }

  // The parser's and the transport's callbacks as one object per session
  // whose methods live on a shared prototype: about 600 bytes less per idle
  // connection than two literals of closures (measured in a heap snapshot).
  // Nested in the class body so that it may call the private methods.
  static readonly #Events = class implements StreamParserHandler, TransportHandler {
    readonly session: C2sSession;

    constructor(session: C2sSession) {
      this.session = session;
    }

    data(bytes: Uint8Array): void {
      const session = this.session;
      session.lastActivity = session.#host.now();
      session.#host.input(session, bytes);
    }

    closed(): void {
      this.session.#finish(undefined);
    }

    streamStart(header: Element): void {
      this.session.#onStreamStart(header);
    }

    stanza(element: Element, bytes: number): void {
      const session = this.session;
      session.#host.stanzaSize(session, bytes, "delivered");
      session.#onElement(element);
    }

    oversizedStanza(head: Element, bytes: number): void {
      const session = this.session;
      session.#host.stanzaSize(session, bytes, "refused");
      session.#onOversized(head);
    }

    streamEnd(): void {
      this.session.#onStreamEnd();
    }

    error(error: ParseError): void {
      this.session.#onParseError(error);
    }
  };

  /**
   * A switch that pauses reading for one more party (a limiter); reading
   * resumes only when no party holds it paused.
   */
  pauseHandle(): PauseHandle {
    return this.#gate.handle();
  }

  /**
   * Tells `observer` each time reading resumes with input the transport read
   * before the pause, whichever party paused it (the fair-input queue: that
   * chunk comes from the transport's buffer, not from a socket read).
   */
  observeHeldInput(observer: HeldInputObserver): void {
    this.#gate.observe(observer);
  }

  /** Parses bytes the host has let through. */
  receive(bytes: Uint8Array): void {
    if (this.#phase === "closed") return;
    // While a SASL step or a pre-authentication IQ is answered, what the client
    // sends meanwhile waits parsed in the backlog, and reading stops at the
    // first such chunk, not when the step starts: clients seldom send during a
    // step, and pausing and resuming the socket for every step cost a login
    // about 3 µs (readStop, readStart).
    if (this.#busy) this.#pause.pause();
    this.#parser.write(bytes);
  }

  /** The parser caps in force. */
  get parserLimits(): ParserLimits {
    return this.#parserLimits;
  }

  /** Replaces the parser caps (e.g. a user class's stanza size after authentication). */
  setParserLimits(limits: ParserLimits): void {
    this.#parserLimits = limits;
    this.#parser.setLimits(limits);
  }

  /** Where the stream is. */
  get phase(): SessionPhase {
    return this.#phase;
  }

  /**
   * Whether the server has answered the current stream header (reset when
   * the stream restarts after STARTTLS or SASL).
   */
  get headerSent(): boolean {
    return this.#headerSent;
  }

  /** Whether SASL succeeded. */
  get authenticated(): boolean {
    return this.username !== undefined;
  }

  /** Bytes the parser holds for an unfinished stanza. */
  get outstandingBytes(): number {
    return this.#parser.outstandingBytes;
  }

  /** Sends a stanza or nonza in the client namespace. */
  send(element: Element): void {
    if (this.#phase === "closed") return;
    this.#write(this.#framing.serialize(element));
  }

  /**
   * Closes the stream: an optional stream error, the closing tag, then the
   * transport (RFC 6120 §4.4). Safe to call more than once.
   */
  close(error?: StreamError): void {
    if (this.#phase === "closed") return;
    // RFC 6120 §4.9.1.2: an error before our header still needs the header.
    if (!this.#headerSent) this.#open(undefined);
    this.#framing.close(this.transport, error?.toElement());
    this.#parser.halt();
    this.transport.close();
    this.#finish(error);
  }

  /**
   * Cuts the connection at once, writing nothing (no header, no stream
   * error), as a connection refused at accept is cut, and reports the stream
   * closed. Safe to call more than once.
   */
  abort(): void {
    if (this.#phase === "closed") return;
    this.#parser.halt();
    this.transport.destroy();
    this.#finish(undefined);
  }

  #finish(error: StreamError | undefined): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#sasl = undefined;
    this.#backlog = [];
    if (error !== undefined) {
      this.#host.log.info("stream-error", {
        session: this.id,
        ip: this.transport.remoteAddress,
        condition: error.condition,
        app: error.appCondition,
      });
    }
    this.#host.closed(this, error);
  }

  #write(text: string): void {
    this.transport.write(text);
    const stats = this.#host.stats;
    stats.stanzasOut++;
    stats.bytesOut += text.length;
    const cap = this.sendBufferBytes;
    // A peer that does not read cannot make us buffer without bound.
    if (cap !== null && this.transport.bufferedBytes > cap) {
      this.#host.log.warn("send-buffer-overflow", {
        session: this.id,
        ip: this.transport.remoteAddress,
        bytes: this.transport.bufferedBytes,
      });
      this.transport.destroy();
      this.#finish(new StreamError("policy-violation", { text: "Send queue overflow" }));
    }
  }

  #open(to: string | undefined): void {
    this.#headerSent = true;
    this.#framing.open(this.transport, { from: this.#host.domain, to, id: this.id });
  }

  #onStreamStart(header: Element): void {
    if (this.#phase !== "opening") {
      return this.close(new StreamError("not-well-formed", { text: "Unexpected stream header" }));
    }
    const to = header.attrs.to;
    const version = header.attrs.version;
    const from = header.attrs.from;
    this.#open(from);
    // RFC 6120 §4.9.3.6: a domain we do not serve.
    if (to !== undefined && to.toLowerCase() !== this.#host.domain) {
      return this.close(new StreamError("host-unknown"));
    }
    // RFC 6120 §4.7.5: no version (pre-1.0) or a lower major version is unsupported.
    const major = version === undefined ? 0 : Number.parseInt(version.split(".")[0] ?? "", 10);
    if (!(major >= 1)) return this.close(new StreamError("unsupported-version"));
    this.#phase = "negotiating";
    const state = {
      encrypted: this.transport.encrypted,
      canStartTls: this.transport.canStartTls,
      tlsRequired: this.#host.policy.tlsRequired,
      authenticated: this.authenticated,
      mechanisms: this.authenticated
        ? []
        : [...this.#host.mechanisms(this.transport.encrypted).keys()],
      limits: {
        maxBytes: this.#parserLimits.maxStanzaBytes >= Number.MAX_SAFE_INTEGER
          ? null
          : this.#parserLimits.maxStanzaBytes,
        idleSeconds: this.#host.policy.idleSeconds,
      },
    };
    const extra = this.#host.streamFeatures?.(this) ?? [];
    this.#write(serializedFeatures(state, extra, this.#framing.serialize));
  }

  #onStreamEnd(): void {
    if (this.#phase === "closed") return;
    this.close();
  }

  #onParseError(error: ParseError): void {
    if (error.appCondition === "stanza-too-big") {
      this.#host.stanzaSize(this, this.#parser.outstandingBytes, "closed");
    }
    const options = error.appCondition === undefined ? {} : { appCondition: error.appCondition };
    this.close(new StreamError(error.condition, options));
  }

  #onOversized(head: Element): void {
    if (this.#phase !== "established") {
      return this.close(new StreamError("policy-violation", { appCondition: "stanza-too-big" }));
    }
    // XEP-0205: not processed; the error does not echo the payload and comes from the server.
    if (head.attrs.type === "error") return;
    const reply = errorReply(
      el(head.name, { xmlns: head.ns, id: head.attrs.id, from: this.jid!.toString() }),
      this.#stanzaTooBig(),
      this.#host.domain,
    );
    this.send(reply);
  }

  #stanzaTooBig(): StanzaError {
    return new StanzaError("modify", "not-allowed", { appCondition: "stanza-too-big" });
  }

  #onElement(element: Element): void {
    if (this.#phase === "closed") return;
    if (this.#busy) {
      if (this.#backlog.length >= MAX_BACKLOG) {
        return this.close(
          new StreamError("policy-violation", { text: "Too many pipelined elements" }),
        );
      }
      this.#backlog.push(element);
      return;
    }
    if (this.#phase === "established") return this.#onStanza(element);
    this.#negotiate(element);
  }

  #negotiate(element: Element): void {
    if (element.is("starttls", NS_TLS)) return this.#startTls();
    if (element.ns === NS_SASL) return this.#saslStep(element);
    if (
      element.ns === NS_CLIENT &&
      (element.name === "iq" || element.name === "message" || element.name === "presence")
    ) {
      if (this.authenticated && element.name === "iq") return this.#preBindIq(element);
      if (element.name === "iq" && !this.authenticated) {
        const reply = this.#host.preAuthIq?.(this, element);
        if (reply !== undefined) return this.#preAuthIq(reply);
      }
      // RFC 6120 §4.9.3.12, XEP-0205: nothing is processed before authentication.
      return this.close(new StreamError("not-authorized"));
    }
    this.close(new StreamError("unsupported-stanza-type"));
  }

  #startTls(): void {
    if (this.transport.encrypted || !this.transport.canStartTls || this.authenticated) {
      // RFC 6120 §5.4.2.2: <failure/>, then close.
      this.transport.write(this.#framing.serialize(el("failure", { xmlns: NS_TLS })));
      return this.close();
    }
    // Stop reading before <proceed/> so no plaintext byte crosses the upgrade.
    this.#pause.pause();
    this.#parser.halt();
    this.#phase = "tls";
    this.send(el("proceed", { xmlns: NS_TLS }));
    this.transport.startTls().then(
      () => {
        if (this.#phase !== "tls") return;
        this.#phase = "opening";
        this.#headerSent = false;
        this.#parser.reset();
        this.#pause.resume();
      },
      (error: unknown) => {
        this.#host.log.info("tls-failed", {
          session: this.id,
          ip: this.transport.remoteAddress,
          reason: error instanceof Error ? error.message : String(error),
        });
        this.transport.destroy();
        this.#finish(undefined);
      },
    );
  }

  #saslStep(element: Element): void {
    if (this.authenticated) {
      return this.close(new StreamError("policy-violation", { text: "Already authenticated" }));
    }
    if (this.#host.policy.tlsRequired && !this.transport.encrypted) {
      this.send(el("failure", { xmlns: NS_SASL }, el("encryption-required")));
      return;
    }
    const hold = element.name === "auth" ? this.#host.authAttempt(this) : 0;
    if (hold === false) {
      // XEP-0205: an address that keeps failing is refused for a while; the account is never locked.
      this.send(el("failure", { xmlns: NS_SASL }, el("temporary-auth-failure")));
      return;
    }
    this.#sasl ??= new SaslNegotiation({ maxFailures: this.#host.policy.maxAuthFailures });
    this.#busy = true;
    if (hold > 0) this.#host.after(hold, () => this.#runSasl(element));
    else this.#runSasl(element);
  }

  #runSasl(element: Element): void {
    const sasl = this.#sasl;
    if (this.#phase === "closed" || sasl === undefined) return;
    const offered = this.#host.mechanisms(this.transport.encrypted);
    sasl.handle(element, offered, { encrypted: this.transport.encrypted }).then(
      (result) => {
        if (this.#phase === "closed") return;
        if (result.kind === "failure") return this.#answerFailure(result);
        this.send(result.reply);
        if (result.kind === "success") {
          this.username = result.username;
          this.authMechanism = result.mechanism;
          this.#sasl = undefined;
          this.#backlog = [];
          this.#busy = false;
          // RFC 6120 §6.4.6: the stream restarts after success.
          this.#phase = "opening";
          this.#headerSent = false;
          this.setParserLimits(this.#host.policy.authLimits);
          this.#parser.reset();
          this.#host.authenticated(this, result.username, result.mechanism);
          this.#pause.resume();
          return;
        }
        this.#resumeAfterStep();
      },
      (error: unknown) => {
        this.#host.log.error("sasl-error", {
          session: this.id,
          reason: error instanceof Error ? error.message : String(error),
        });
        // RFC 6120 §6.5.13: a failure on our side (e.g. the account store) is
        // temporary; the client may try again on the same stream.
        this.#sasl = undefined;
        this.send(el("failure", { xmlns: NS_SASL }, el("temporary-auth-failure")));
        this.#resumeAfterStep();
      },
    );
  }

  #answerFailure(result: SaslResult & { kind: "failure" }): void {
    const delayMs = this.#host.authFailed(this, result.condition, result.mechanism);
    const answer = () => {
      if (this.#phase === "closed") return;
      this.send(result.reply);
      if (result.exhausted) {
        return this.close(
          new StreamError("policy-violation", { text: "Too many failed authentication attempts" }),
        );
      }
      this.#resumeAfterStep();
    };
    // The tarpit: the stream stays paused while the failure waits.
    if (delayMs > 0) this.#host.after(delayMs, answer);
    else answer();
  }

  #resumeAfterStep(): void {
    this.#busy = false;
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const element of backlog) this.#onElement(element);
    if (this.#phase !== "closed" && !this.#busy) this.#pause.resume();
  }

  /** Sends the host's answer to a pre-authentication IQ; later elements wait for it. */
  #preAuthIq(reply: Promise<Element>): void {
    this.#busy = true;
    reply.then(
      (answer) => {
        if (this.#phase === "closed") return;
        this.send(answer);
        this.#resumeAfterStep();
      },
      (error: unknown) => {
        this.#host.log.error("pre-auth-iq-error", {
          session: this.id,
          reason: error instanceof Error ? error.message : String(error),
        });
        this.close(new StreamError("internal-server-error"));
      },
    );
  }

  #preBindIq(iq: Element): void {
    const resource = requestedResource(iq);
    if (resource !== null && this.jid === undefined) {
      const bound = this.#host.bind(this, resource);
      if (bound instanceof StanzaError) {
        return this.send(
          errorReply(el("iq", { xmlns: NS_CLIENT, id: iq.attrs.id }, ...iq.children), bound),
        );
      }
      this.#phase = "established";
      this.send(bindResult(iq.attrs.id, bound.toString()));
      return;
    }
    if (this.jid === undefined) {
      // Nothing but binding before a resource is bound.
      return this.close(new StreamError("not-authorized"));
    }
  }

  #onStanza(stanza: Element): void {
    this.#host.stats.stanzasIn++;
    if (
      stanza.ns !== NS_CLIENT ||
      !(stanza.name === "iq" || stanza.name === "message" || stanza.name === "presence")
    ) {
      return this.close(new StreamError("unsupported-stanza-type"));
    }
    // RFC 6121 Appendix E: the legacy session request is answered with an empty result.
    if (
      stanza.name === "iq" && stanza.attrs.type === "set" &&
      stanza.getChild("session", NS_SESSION) !== undefined
    ) {
      return this.send(el("iq", { xmlns: NS_CLIENT, type: "result", id: stanza.attrs.id }));
    }
    if (stanza.name === "iq" && stanza.getChild("bind", NS_BIND) !== undefined) {
      // RFC 6120 §7.7.2: a second bind on one stream is not allowed.
      return this.send(
        errorReply(stanza, new StanzaError("cancel", "not-allowed"), this.#host.domain),
      );
    }
    // RFC 6120 §8.1.2.1: the server stamps `from`; a spoofed one is a stream error.
    const from = stanza.attrs.from;
    const full = this.jid!.toString();
    if (from !== undefined && from !== full && from !== this.bareKey) {
      return this.close(new StreamError("invalid-from"));
    }
    stanza.attrs.from = full;
    this.#host.route(this, stanza);
  }
}
