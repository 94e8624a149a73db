/**
 * XEP-0077 in-band registration, off unless `registration.enabled`: account
 * creation on a stream before authentication (the one IQ the server takes
 * before SASL, limited per IP by `limits.registrations_per_ip`), then
 * password change and account removal once authenticated.
 *
 * @module
 */

import { createAccountRecord } from "../auth/credentials.ts";
import type { Timers } from "../core/clock.ts";
import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { StreamError } from "../errors/stream_error.ts";
import { Jid } from "../jid/jid.ts";
import { prepLocalpart } from "../jid/prep.ts";
import { CidrSet, ipKey } from "../limits/ip.ts";
import { WindowCounterTable } from "../limits/window_counter.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import type { AccountStore } from "../storage/account_store.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_CLIENT } from "../xml/ns.ts";
import type { DiscoInfo } from "./disco.ts";

/** The XEP-0077 namespace. */
export const NS_REGISTER = "jabber:iq:register";
/** The stream feature announcing in-band registration. */
export const NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register";

const MAX_PASSWORD_LENGTH = 1024;
/** Addresses tracked by the per-IP registration counter before the oldest is forgotten. */
const MAX_TRACKED_ADDRESSES = 100_000;

/** What registration needs of a stream. */
export interface RegistrationSession {
  /** The connection. */
  readonly transport: { readonly remoteAddress: string; readonly encrypted: boolean };
  /** Closes the stream. */
  close(error?: StreamError): void;
}

/** The `limits.registrations_per_ip` limit, resolved. */
export interface RegistrationLimit {
  /** Registrations per window; `null` for no limit. */
  max: number | null;
  /** The window in milliseconds. */
  window: number;
  /** `enforce` refuses over the limit, `report` only tells. */
  mode: "enforce" | "report";
}

/** The settings registration reads on every request (so reloads apply at once). */
export interface RegistrationSettings {
  /** Whether in-band registration is on (`registration.enabled`). */
  enabled: boolean;
  /** The per-IP limit. */
  limit: RegistrationLimit;
  /** IPv6 prefix length that counts as one address (`limits.ipv6_prefix`). */
  ipv6Prefix: number;
  /** Addresses no limit applies to (`limits.exempt.ips`). */
  exemptIps: readonly string[];
  /** Whether TLS is required before anything else (`tls.required`). */
  tlsRequired: boolean;
  /** Whether a password may cross an unencrypted stream (`auth.allow_plain_without_tls`). */
  allowPlainWithoutTls: boolean;
  /** PBKDF2 iterations for new credentials (`auth.scram_iterations`). */
  iterations: number;
}

/** A registration over the limit (or in report mode, one that would have been refused). */
export interface RegistrationLimitHit {
  /** The client's address. */
  ip: string;
  /** Whether the registration was refused (`enforce`) or only reported. */
  mode: "enforce" | "report";
  /** Registrations counted in the window, this one included. */
  figure: number;
  /** The limit. */
  max: number;
  /** Milliseconds until a registration from the address would be accepted. */
  retryAfterMs: number;
}

/** Collaborators of {@linkcode Registration}. */
export interface RegistrationOptions<S extends RegistrationSession> {
  /** The served domain. */
  domain: string;
  /** The account store (a function: it opens at start). */
  accounts: () => AccountStore;
  /** The settings in force. */
  settings: () => RegistrationSettings;
  /** Clock and timers for the per-IP windows and for closing removed accounts' streams. */
  timers: Timers;
  /** Finds the stream an authenticated IQ came from, by its full JID. */
  sessionOf: (from: string) => S | undefined;
  /** The streams of an account, to close after it is removed. */
  streamsOf: (bare: string) => Iterable<S>;
  /** Deletes what else is stored for a removed account (IM data, caches). @default {nothing} */
  removed?: (username: string) => Promise<void>;
  /** Told about registrations over the per-IP limit. @default {nothing} */
  onLimit?: (hit: RegistrationLimitHit) => void;
  /** Told about accounts created, changed and removed. @default {nothing} */
  onChange?: (
    event: "registered" | "password-changed" | "removed",
    username: string,
    ip: string,
  ) => void;
}

/**
 * In-band registration for one domain.
 *
 * @typeParam S The stream type.
 *
 * @example Usage
 * ```ts
 * import { Registration } from "./register.ts";
 * import { MemoryAccountStore } from "../storage/memory_account_store.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const accounts = new MemoryAccountStore();
 * const stream = { transport: { remoteAddress: "192.0.2.1", encrypted: true }, close() {} };
 * const registration = new Registration<typeof stream>({
 *   domain: "x", accounts: () => accounts, timers: new ManualClock(),
 *   settings: () => ({ enabled: true, limit: { max: 5, window: 3_600_000, mode: "enforce" },
 *     ipv6Prefix: 64, exemptIps: [], tlsRequired: true, allowPlainWithoutTls: false, iterations: 4096 }),
 *   sessionOf: () => undefined, streamsOf: () => [],
 * });
 * const iq = el("iq", { xmlns: "jabber:client", type: "set", id: "r1" },
 *   el("query", { xmlns: "jabber:iq:register" }, el("username", {}, "bill"), el("password", {}, "Calliope")));
 * const reply = await registration.preAuth(stream, iq);
 * assert.equal(reply?.attrs.type, "result");
 * assert.ok(await accounts.get("bill"));
 * ```
 */
export class Registration<S extends RegistrationSession> {
  #options: RegistrationOptions<S>;
  #registeredOn = new WeakSet<S>();
  #table: WindowCounterTable<string> | undefined;
  #tableLimit: RegistrationLimit | undefined;
  #exempt: CidrSet | undefined;
  #exemptList: readonly string[] | undefined;
  // Account creation is check-then-write: one at a time.
  #creating: Promise<unknown> = Promise.resolve();

  /** @param options The domain, stores, settings and hooks. */
  constructor(options: RegistrationOptions<S>) {
    this.#options = options;
  }

  /** Whether registration is on now. */
  get enabled(): boolean {
    return this.#options.settings().enabled;
  }

  /**
   * The features to offer on a stream before authentication:
   * `<register xmlns='http://jabber.org/features/iq-register'/>` when
   * registration is on and a password may cross this stream.
   *
   * @param session The stream.
   * @returns The features (none or one).
   */
  features(session: S): Element[] {
    return this.#allowed(session) ? [el("register", { xmlns: NS_REGISTER_FEATURE })] : [];
  }

  /**
   * The host hook for an IQ before authentication: answers
   * `jabber:iq:register` get and set when registration is on and allowed on
   * the stream; anything else is not taken (`undefined`).
   *
   * @param session The stream.
   * @param iq The IQ as received.
   * @returns The reply to send, or `undefined` when the IQ is not for registration.
   */
  preAuth(session: S, iq: Element): Promise<Element> | undefined {
    const type = iq.attrs.type;
    const payloads = iq.elements();
    const query = payloads[0];
    if (
      (type !== "get" && type !== "set") || payloads.length !== 1 ||
      query === undefined || !query.is("query", NS_REGISTER) || !this.#allowed(session)
    ) {
      return undefined;
    }
    const request = el("iq", { xmlns: NS_CLIENT, type, id: iq.attrs.id }, query);
    if (type === "get") return Promise.resolve(this.#result(request, this.#form()));
    return this.#create(session, query).then((outcome) =>
      outcome instanceof StanzaError
        ? errorReply(request, outcome)
        : this.#result(request, undefined)
    );
  }

  /**
   * Registers the authenticated side (to the server or to the account):
   * get answers `<registered/>`, set changes the password or, with
   * `<remove/>`, deletes the account and closes its streams with
   * `<not-authorized/>` (XEP-0077 §3.2). Announces `jabber:iq:register`.
   *
   * @param iq The server's registry.
   * @param disco The server's features.
   * @returns A disposable that removes them.
   */
  register(iq: IqRegistry, disco: DiscoInfo): Disposable {
    const stack = new DisposableStack();
    for (const scope of ["host", "account"] as const) {
      stack.use(iq.set(scope, "get", NS_REGISTER, "query", (request) => this.#info(request)));
      stack.use(iq.set(scope, "set", NS_REGISTER, "query", (request) => this.#change(request)));
    }
    stack.use(disco.addFeature(NS_REGISTER));
    return stack;
  }

  #allowed(session: S): boolean {
    const settings = this.#options.settings();
    if (!settings.enabled) return false;
    if (session.transport.encrypted) return true;
    return !settings.tlsRequired && settings.allowPlainWithoutTls;
  }

  #result(request: Element, payload: Element | undefined): Element {
    return el("iq", { xmlns: NS_CLIENT, type: "result", id: request.attrs.id }, payload);
  }

  #form(): Element {
    return el(
      "query",
      { xmlns: NS_REGISTER },
      el("instructions", {}, "Choose a username and password for use with this service."),
      el("username"),
      el("password"),
    );
  }

  async #create(session: S, query: Element): Promise<undefined | StanzaError> {
    if (query.getChild("remove", NS_REGISTER) !== undefined) {
      // XEP-0077 §3.2: nothing to cancel before authentication.
      return new StanzaError("cancel", "unexpected-request");
    }
    if (this.#registeredOn.has(session)) {
      // XEP-0077 §3.1.1: one registration per stream, then authentication.
      return new StanzaError("cancel", "not-allowed", {
        text: "An account was already registered on this stream; authenticate with it",
      });
    }
    const fields = credentialsOf(query);
    if (fields instanceof StanzaError) return fields;
    const ip = session.transport.remoteAddress;
    const refused = this.#checkRate(ip);
    if (refused !== undefined) return refused;
    const { username, password } = fields;
    const settings = this.#options.settings();
    const accounts = this.#options.accounts();
    const created = this.#creating.then(async () => {
      if ((await accounts.get(username)) !== undefined) {
        return new StanzaError("cancel", "conflict", { text: "The username is taken" });
      }
      await accounts.put(
        await createAccountRecord(username, password, { iterations: settings.iterations }),
      );
      return undefined;
    });
    this.#creating = created.catch(() => {});
    const outcome = await created;
    if (outcome === undefined) {
      this.#registeredOn.add(session);
      this.#options.onChange?.("registered", username, ip);
    }
    return outcome;
  }

  /** XEP-0205 / XEP-0077 §3.1.1: registrations per address and window. */
  #checkRate(ip: string): StanzaError | undefined {
    const settings = this.#options.settings();
    const limit = settings.limit;
    if (limit.max === null) return undefined;
    if (this.#exemptList !== settings.exemptIps) {
      this.#exemptList = settings.exemptIps;
      this.#exempt = new CidrSet(settings.exemptIps);
    }
    if (this.#exempt?.has(ip)) return undefined;
    const current = this.#tableLimit;
    if (
      this.#table === undefined || current === undefined || current.max !== limit.max ||
      current.window !== limit.window
    ) {
      this.#table = new WindowCounterTable<string>(
        { max: limit.max, windowMs: limit.window },
        MAX_TRACKED_ADDRESSES,
        { clock: this.#options.timers },
      );
    }
    this.#tableLimit = limit;
    let key: string;
    try {
      key = ipKey(ip, { ipv6Prefix: settings.ipv6Prefix });
    } catch {
      key = ip;
    }
    if (this.#table.hit(key)) return undefined;
    const retryAfterMs = this.#table.retryAfterMs(key);
    this.#options.onLimit?.({
      ip,
      mode: limit.mode,
      figure: limit.max + 1,
      max: limit.max,
      retryAfterMs,
    });
    if (limit.mode === "report") return undefined;
    return new StanzaError("wait", "resource-constraint", {
      text: `Too many registrations from this address; retry in ${
        Math.ceil(retryAfterMs / 1000)
      } s`,
      retryAfterMs,
    });
  }

  #info(request: IqRequest): Element {
    const username = Jid.parse(request.from).local!;
    return el(
      "query",
      { xmlns: NS_REGISTER },
      el("registered"),
      el("username", {}, username),
    );
  }

  async #change(request: IqRequest): Promise<undefined | StanzaError> {
    const from = Jid.parse(request.from);
    const username = from.local!;
    const query = request.payload;
    const accounts = this.#options.accounts();
    const session = this.#options.sessionOf(request.from);
    const ip = session?.transport.remoteAddress ?? "";
    if (query.getChild("remove", NS_REGISTER) !== undefined) {
      // XEP-0077 §3.2: <remove/> must be the only child.
      if (query.elements().length !== 1) return new StanzaError("modify", "bad-request");
      await accounts.delete(username);
      await this.#options.removed?.(username);
      this.#options.onChange?.("removed", username, ip);
      const bare = username + "@" + this.#options.domain;
      // The result goes out first; then every stream of the account ends.
      this.#options.timers.set(() => {
        for (const stream of [...this.#options.streamsOf(bare)]) {
          stream.close(new StreamError("not-authorized", { text: "Account removed" }));
        }
      }, 0);
      return undefined;
    }
    const settings = this.#options.settings();
    if (
      session !== undefined && !session.transport.encrypted &&
      (settings.tlsRequired || !settings.allowPlainWithoutTls)
    ) {
      // XEP-0077 §3.3: the channel is not safe enough for a password.
      return new StanzaError("modify", "not-authorized");
    }
    const fields = credentialsOf(query, username);
    if (fields instanceof StanzaError) return fields;
    if (fields.username !== username) {
      return new StanzaError("modify", "bad-request", {
        text: "The username is not the authenticated account's",
      });
    }
    await accounts.put(
      await createAccountRecord(username, fields.password, { iterations: settings.iterations }),
    );
    this.#options.onChange?.("password-changed", username, ip);
    return undefined;
  }
}

/** The username (prepared) and password of a register query. */
function credentialsOf(
  query: Element,
  defaultUsername?: string,
): { username: string; password: string } | StanzaError {
  const rawUsername = query.getChildText("username", NS_REGISTER) ?? defaultUsername;
  const password = query.getChildText("password", NS_REGISTER);
  if (
    rawUsername === undefined || rawUsername === "" || password === undefined || password === ""
  ) {
    // XEP-0077 §3.1, §3.3: both are required; an empty password never replaces one.
    return defaultUsername === undefined
      ? new StanzaError("modify", "not-acceptable", {
        text: "A username and a password are required",
      })
      : new StanzaError("modify", "bad-request", { text: "A password is required" });
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return new StanzaError("modify", "not-acceptable", {
      text: `A password may have at most ${MAX_PASSWORD_LENGTH} characters`,
    });
  }
  let username: string;
  try {
    username = prepLocalpart(rawUsername);
  } catch {
    return new StanzaError("modify", "not-acceptable", {
      text: "The username contains characters a JID cannot",
    });
  }
  return { username, password };
}
