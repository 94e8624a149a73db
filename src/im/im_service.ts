/**
 * RFC 6121 instant messaging for one domain, assembled: rosters with
 * versioning, the subscription state machine, presence, and offline
 * messages, over one {@linkcode ImStore} and one queue per account. The
 * server builds one at start and hands it presence stanzas, messages for
 * offline accounts and ended streams.
 *
 * @module
 */

import type { Logger } from "../core/log.ts";
import type { StanzaError } from "../errors/stanza_error.ts";
import type { IqRegistry } from "../routing/iq_registry.ts";
import type { RoutableSession } from "../routing/router.ts";
import type { SessionRegistry } from "../routing/session_registry.ts";
import type { ImStore } from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { AccountQueue } from "./account_queue.ts";
import { OfflineMessages } from "./offline.ts";
import { PresenceService } from "./presence.ts";
import type { RosterOptions } from "./roster.ts";
import { RosterService } from "./roster_service.ts";

/** RFC 6121 §2.6.1 / XEP-0237: the stream feature for roster versioning. */
export const NS_ROSTER_VER = "urn:xmpp:features:rosterver";
/** RFC 6121 §3.4: the stream feature for subscription pre-approval. */
export const NS_PRE_APPROVAL = "urn:xmpp:features:pre-approval";

/** Options of an {@linkcode ImService}. */
export interface ImServiceOptions<S extends RoutableSession> {
  /** The served domain. */
  domain: string;
  /** Rosters, pending requests and offline messages. */
  store: ImStore;
  /** Bound sessions. */
  sessions: SessionRegistry<S>;
  /** Where the roster handlers are registered. */
  iq: IqRegistry;
  /** Whether an account exists. */
  accountExists(username: string): Promise<boolean>;
  /** Runs `then` once the reply to `request` is sent (see {@linkcode RosterService}). @default {undefined} */
  afterReply?(request: Element, then: () => void): void;
  /** Where failures are logged. @default {undefined} */
  log?: Logger;
  /** Wall-clock milliseconds since the epoch, for offline delay stamps. @default {Date.now} */
  wallClock?: () => number;
  /** Limits of each roster. @default {the Roster defaults} */
  roster?: Omit<RosterOptions, "owner">;
  /** Whether either of two accounts blocks the other (XEP-0191). @default never */
  blocked?(ownerBare: string, contactBare: string): Promise<boolean>;
}

/**
 * The IM services of one domain, wired together.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { ImService } from "./im_service.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { SessionRegistry } from "../routing/session_registry.ts";
 * import type { RoutableSession } from "../routing/router.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { serialize } from "../xml/serialize.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = new IqRegistry();
 * using im = new ImService({ domain: "example.com", store: new MemoryImStore(), iq,
 *   sessions: new SessionRegistry<RoutableSession>(), accountExists: () => Promise.resolve(true) });
 * assert.equal(iq.has("account", "set", "jabber:iq:roster", "query"), true);
 * assert.deepEqual(im.streamFeatures().map((feature) => serialize(feature)), [
 *   `<ver xmlns="urn:xmpp:features:rosterver"/>`,
 *   `<sub xmlns="urn:xmpp:features:pre-approval"/>`,
 * ]);
 * ```
 */
export class ImService<S extends RoutableSession> implements Disposable {
  /** The per-account queue every IM task runs in. */
  readonly queue: AccountQueue = new AccountQueue();
  /** Rosters: IQs, pushes, subscription persistence. */
  readonly rosters: RosterService<S>;
  /** Presence and subscriptions. */
  readonly presence: PresenceService<S>;
  /** Offline message storage. */
  readonly offline: OfflineMessages;
  #handlers: Disposable;

  /** @param options The domain, the store and the collaborators. */
  constructor(options: ImServiceOptions<S>) {
    const { domain, store, sessions } = options;
    this.offline = new OfflineMessages({
      domain,
      store,
      ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    });
    this.rosters = new RosterService({
      domain,
      store,
      sessions,
      queue: this.queue,
      ...(options.roster === undefined ? {} : { roster: options.roster }),
      ...(options.afterReply === undefined ? {} : { afterReply: options.afterReply }),
      removed: (username, contact, before) =>
        this.presence.rosterRemoved(username, contact, before),
    });
    this.presence = new PresenceService({
      domain,
      sessions,
      rosters: this.rosters,
      offline: this.offline,
      queue: this.queue,
      accountExists: options.accountExists,
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(options.blocked === undefined ? {} : { blocked: (a, b) => options.blocked!(a, b) }),
    });
    this.#handlers = this.rosters.register(options.iq);
  }

  /**
   * The stream features to offer after authentication: roster versioning
   * and subscription pre-approval.
   *
   * @returns New feature elements.
   */
  streamFeatures(): Element[] {
    return [el("ver", { xmlns: NS_ROSTER_VER }), el("sub", { xmlns: NS_PRE_APPROVAL })];
  }

  /**
   * Hands over a presence stanza from a bound session.
   *
   * @param sender The session.
   * @param stanza The presence, `from` stamped.
   * @returns A promise of the end of its processing, when it is not handled at once.
   */
  handlePresence(sender: S, stanza: Element): Promise<void> | void {
    return this.presence.handle(sender, stanza);
  }

  /**
   * Stores a message for an offline account (see {@linkcode PresenceService.message}).
   *
   * @param stanza The message.
   * @param username The recipient's localpart.
   * @param retry Delivers it if the account came online since.
   * @param maxMessages The account's quota.
   * @returns The error to bounce with, if any.
   */
  storeOffline(
    stanza: Element,
    username: string,
    retry: () => boolean,
    maxMessages?: number,
  ): Promise<StanzaError | undefined> {
    return this.presence.message(stanza, username, retry, maxMessages);
  }

  /**
   * A bound stream ended (after it left the session registry).
   *
   * @param session The session.
   */
  closed(session: S): void {
    this.presence.closed(session);
  }

  /**
   * Forgets what is cached of an account whose IM data was deleted from the
   * store directly (XEP-0077 cancellation), once its queued tasks ran.
   *
   * @param username The account's localpart.
   * @returns A promise that resolves once the cache entry is gone.
   */
  forgetAccount(username: string): Promise<void> {
    return this.queue.run(username, () => this.rosters.forget(username));
  }

  /**
   * Waits for every queued IM task, e.g. before the store closes.
   *
   * @returns A promise that resolves when no task is left.
   */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /** Removes the roster handlers. */
  [Symbol.dispose](): void {
    this.#handlers[Symbol.dispose]();
  }
}
