/**
 * The account services of a domain, built and wired in one place: XEP-0191
 * blocking, XEP-0280 carbons, XEP-0054 vCards, XEP-0163 PEP, XEP-0012 last
 * activity, XEP-0077 registration and XEP-0030 account disco. The server
 * hands it stanzas from bound clients before routing
 * ({@linkcode AccountServices.stanza}) and tells it about bound and closed streams.
 *
 * IQs to another local account's bare JID (a contact's vCard, PEP items,
 * disco, last activity) are answered here on the account's behalf; anything
 * else goes on to the router.
 *
 * @module
 */

import type { Timers } from "../core/clock.ts";
import { errorReply, StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import { IqRegistry } from "../routing/iq_registry.ts";
import type { AccountStore } from "../storage/account_store.ts";
import type { ImStore, RosterData } from "../storage/im_store.ts";
import type { Element } from "../xml/element.ts";
import { AccountDisco } from "./account_disco.ts";
import { Blocking } from "./blocking.ts";
import { Carbons } from "./carbons.ts";
import { DiscoInfo } from "./disco.ts";
import type { ImContext, ImSession } from "./im_context.ts";
import { LastActivity } from "./last_activity.ts";
import { Pep } from "./pep.ts";
import {
  Registration,
  type RegistrationLimitHit,
  type RegistrationSession,
  type RegistrationSettings,
} from "./register.ts";
import { VcardService } from "./vcard.ts";

/** What the account services need of a stream. */
export interface AccountServiceSession extends ImSession, RegistrationSession {}

/** Collaborators of {@linkcode AccountServices}. */
export interface AccountServicesOptions<S extends AccountServiceSession> {
  /** The served domain. */
  domain: string;
  /** The server's IQ handlers; the services add theirs. */
  iq: IqRegistry;
  /** The server's disco#info; the services announce their features there. */
  disco: DiscoInfo;
  /** Bound sessions. */
  sessions: ImContext<S>["sessions"];
  /** The IM store (a function: it opens at start). */
  store: () => ImStore;
  /** The account store (a function: it opens at start). */
  accounts: () => AccountStore;
  /** Clock and timers. */
  timers: Timers;
  /** Routes a stanza that was held for a blocklist read and may now pass. */
  route: (session: S, stanza: Element) => void;
  /** Registration settings in force (read on every request). */
  registration: () => RegistrationSettings;
  /** XEP-0205 amplification check before a PEP publish notifies contacts. @default {none} */
  pepLimit?: (owner: string) => StanzaError | undefined;
  /**
   * An account's roster where the server keeps it loaded, for the PEP last
   * items at initial presence. @default {the store's}
   */
  roster?: (username: string) => Promise<RosterData>;
  /** Told about registrations over `limits.registrations_per_ip`. @default {nothing} */
  onRegistrationLimit?: (hit: RegistrationLimitHit) => void;
  /** Told about accounts registered, changed or removed in-band. @default {nothing} */
  onAccountChange?: (
    event: "registered" | "password-changed" | "removed",
    username: string,
    ip: string,
  ) => void;
}

/**
 * Every account service of one domain.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { AccountServices, type AccountServiceSession } from "./account_services.ts";
 * import { DiscoInfo } from "./disco.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { SessionRegistry } from "../routing/session_registry.ts";
 * import { MemoryAccountStore } from "../storage/memory_account_store.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = new IqRegistry();
 * const disco = new DiscoInfo({ category: "server", type: "im" });
 * const store = new MemoryImStore();
 * const accounts = new MemoryAccountStore();
 * using services = new AccountServices({
 *   domain: "x", iq, disco, sessions: new SessionRegistry<AccountServiceSession>(), store: () => store,
 *   accounts: () => accounts, timers: new ManualClock(), route: () => {},
 *   registration: () => ({ enabled: false, limit: { max: 5, window: 3_600_000, mode: "enforce" },
 *     ipv6Prefix: 64, exemptIps: [], tlsRequired: true, allowPlainWithoutTls: false, iterations: 4096 }),
 * });
 * assert.ok(serialize(disco.toElement()).includes(`<feature var="urn:xmpp:blocking"/>`));
 * assert.equal(iq.has("account", "get", "vcard-temp", "vCard"), true);
 * ```
 */
export class AccountServices<S extends AccountServiceSession> implements Disposable {
  /** XEP-0191. */
  readonly blocking: Blocking<S>;
  /** XEP-0280. */
  readonly carbons: Carbons<S>;
  /** XEP-0054. */
  readonly vcard: VcardService;
  /** XEP-0163. */
  readonly pep: Pep<S>;
  /** XEP-0012. */
  readonly lastActivity: LastActivity<S>;
  /** XEP-0077. */
  readonly registration: Registration<S>;
  /** XEP-0030 on accounts. */
  readonly accountDisco: AccountDisco<S>;
  #options: AccountServicesOptions<S>;
  #context: ImContext<S>;
  // IQs to another local account's bare JID, answered on its behalf.
  #peer: IqRegistry;
  #stack = new DisposableStack();
  // Sessions whose unavailable presence already recorded their last activity.
  #wentUnavailable = new WeakSet<S>();
  // Sessions that were sent the PEP last items since their initial presence.
  #announced = new WeakSet<S>();

  /**
   * Builds the services and registers their IQ handlers and features.
   * Registration handlers are added only when registration is on now.
   *
   * @param options The server side.
   */
  constructor(options: AccountServicesOptions<S>) {
    this.#options = options;
    const context: ImContext<S> = {
      domain: options.domain,
      sessions: options.sessions,
      store: options.store,
      clock: options.timers,
    };
    this.#context = context;
    this.#peer = new IqRegistry();
    const { iq, disco } = options;
    const stack = this.#stack;

    this.accountDisco = new AccountDisco(
      context,
      new DiscoInfo({ category: "account", type: "registered" }, {
        category: "pubsub",
        type: "pep",
      }),
    );
    stack.use(this.accountDisco.register(iq));
    stack.use(this.accountDisco.register(this.#peer));

    this.blocking = new Blocking(context);
    stack.use(this.blocking.register(iq, disco));

    this.carbons = new Carbons(options.sessions);
    stack.use(this.carbons.register(iq, disco, (from) => this.#sessionOf(from)));

    this.vcard = new VcardService(options.store);
    stack.use(this.vcard.registerAccount(iq, disco));
    stack.use(this.vcard.registerPeer(this.#peer));

    this.pep = new Pep(context, {
      blocked: (a, b) => this.blocking.eitherBlocks(a, b),
      ...(options.pepLimit === undefined ? {} : { limit: options.pepLimit }),
      ...(options.roster === undefined ? {} : { roster: options.roster }),
    });
    stack.use(this.pep.registerAccount(iq, this.accountDisco.info));
    stack.use(this.pep.registerPeer(this.#peer));
    stack.use(this.accountDisco.provide(this.pep.discoProvider()));

    this.lastActivity = new LastActivity(context);
    stack.use(this.lastActivity.registerHost(iq, disco));
    stack.use(this.lastActivity.registerAccount(iq));
    stack.use(this.lastActivity.registerAccount(this.#peer));

    this.registration = new Registration<S>({
      domain: options.domain,
      accounts: options.accounts,
      settings: options.registration,
      timers: options.timers,
      sessionOf: (from) => this.#sessionOf(from),
      streamsOf: (bare) => options.sessions.resources(bare),
      removed: async (username) => {
        await options.store().removeAccount(username);
        this.blocking.lists.forget(username);
      },
      ...(options.onRegistrationLimit === undefined
        ? {}
        : { onLimit: options.onRegistrationLimit }),
      ...(options.onAccountChange === undefined ? {} : { onChange: options.onAccountChange }),
    });
    if (this.registration.enabled) stack.use(this.registration.register(iq, disco));
  }

  /**
   * Sees a stanza from a bound client before routing: applies blocklists,
   * answers IQs to other local accounts, sends `sent` carbons and notes
   * presence changes (last activity, PEP last items).
   *
   * @param session The sender.
   * @param stanza The stanza, `from` stamped.
   * @returns `true` when the stanza was consumed and must not be routed.
   */
  stanza(session: S, stanza: Element): boolean {
    if (stanza.name === "message") this.carbons.strip(stanza);
    const consumed = this.blocking.filter(session, stanza, (held, passed) => {
      if (!this.#afterBlocking(held, passed)) this.#options.route(held, passed);
    });
    if (consumed) return true;
    return this.#afterBlocking(session, stanza);
  }

  /**
   * A stream bound a resource: its blocklist is read ahead of its traffic.
   *
   * @param session The session.
   */
  bound(session: S): void {
    this.blocking.preload(session.bareKey);
  }

  /**
   * A stream ended: a bound one counts as the account's last activity.
   *
   * @param session The session.
   */
  closed(session: S): void {
    if (session.jid === undefined || this.#wentUnavailable.has(session)) return;
    this.lastActivity.wentUnavailable(session.bareKey);
  }

  /** Removes every handler and feature the services registered. */
  [Symbol.dispose](): void {
    this.#stack.dispose();
  }

  #afterBlocking(session: S, stanza: Element): boolean {
    switch (stanza.name) {
      case "presence":
        this.#presence(session, stanza);
        return false;
      case "message":
        this.carbons.sent(session, stanza);
        return false;
      case "iq":
        return this.#peerIq(session, stanza);
      default:
        return false;
    }
  }

  #presence(session: S, stanza: Element): void {
    if (stanza.attrs.to !== undefined) return;
    const type = stanza.attrs.type;
    if (type === undefined) {
      this.#wentUnavailable.delete(session);
      // Initial presence (RFC 6121 §4.2): XEP-0163 §4.3.2 last published items.
      if (!this.#announced.has(session)) {
        this.#announced.add(session);
        this.pep.sendLastItems(session).catch(() => {});
      }
    } else if (type === "unavailable") {
      this.#wentUnavailable.add(session);
      this.#announced.delete(session);
      this.lastActivity.wentUnavailable(session.bareKey, stanza.getChildText("status"));
    }
  }

  /** IQ get/set to another local account's bare JID that a service answers for it. */
  #peerIq(session: S, stanza: Element): boolean {
    const type = stanza.attrs.type;
    if (type !== "get" && type !== "set") return false;
    const to = Jid.tryParse(stanza.attrs.to ?? "");
    if (to === undefined || to.local === undefined || to.resource !== undefined) return false;
    if (to.domain !== this.#options.domain) return false;
    const bare = to.local + "@" + to.domain;
    if (bare === session.bareKey) return false;
    const payload = stanza.elements();
    const first = payload[0];
    if (payload.length !== 1 || first === undefined) return false;
    if (!this.#peer.has("account", type, first.ns ?? "", first.name)) return false;
    this.#answerPeer(session, stanza, bare, to.local).catch(() => {
      session.send(errorReply(stanza, new StanzaError("wait", "internal-server-error")));
    });
    return true;
  }

  async #answerPeer(session: S, stanza: Element, bare: string, username: string): Promise<void> {
    // An account that does not exist answers like one that does not exist (RFC 6121 §8.5.1).
    if ((await this.#options.accounts().get(username)) === undefined) {
      session.send(errorReply(stanza, new StanzaError("cancel", "service-unavailable")));
      return;
    }
    const reply = await this.#peer.handle("account", stanza, bare);
    if (reply !== undefined) session.send(reply);
  }

  #sessionOf(from: string): S | undefined {
    const jid = Jid.tryParse(from);
    if (jid?.local === undefined || jid.resource === undefined) return undefined;
    return this.#context.sessions.get(jid.local + "@" + jid.domain, jid.resource);
  }
}
