/**
 * XEP-0012 last activity: the server's uptime, and for an account the
 * seconds since its last resource went offline (kept in memory, so known
 * only for logouts since the server started).
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import { BoundedMap } from "../limits/bounded_map.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import { el, type Element } from "../xml/element.ts";
import type { DiscoInfo } from "./disco.ts";
import {
  type ImContext,
  type ImSession,
  isPresenceSubscriber,
  localUsername,
} from "./im_context.ts";

/** The XEP-0012 namespace. */
export const NS_LAST = "jabber:iq:last";

/** Options of {@linkcode LastActivity}. */
export interface LastActivityOptions {
  /**
   * Accounts whose last logout is remembered; the oldest is forgotten first.
   *
   * @default {100000}
   */
  maxTracked?: number;
}

interface Logout {
  at: number;
  status: string | undefined;
}

/**
 * The last-activity service.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { LastActivity } from "./last_activity.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * const clock = new ManualClock();
 * const last = new LastActivity({ domain: "x", sessions: { resources: () => [], get: () => undefined },
 *   store: () => store, clock });
 * const iq = new IqRegistry();
 * last.registerHost(iq);
 * clock.advance(90_500);
 * const query = el("iq", { xmlns: "jabber:client", type: "get", id: "l1", from: "a@x/r", to: "x" },
 *   el("query", { xmlns: "jabber:iq:last" }));
 * const reply = await iq.handle("host", query, "x");
 * assert.equal(reply?.getChild("query")?.attrs.seconds, "90");
 * ```
 */
export class LastActivity<S extends ImSession> {
  #context: ImContext<S>;
  #startedAt: number;
  #logouts: BoundedMap<string, Logout>;

  /**
   * Starts counting uptime now.
   *
   * @param context The server side.
   * @param options How many logouts to remember.
   * @throws {RangeError} If `maxTracked` is not a positive integer.
   */
  constructor(context: ImContext<S>, options: LastActivityOptions = {}) {
    this.#context = context;
    this.#startedAt = context.clock.now();
    this.#logouts = new BoundedMap(options.maxTracked ?? 100_000);
  }

  /**
   * Records that a resource of an account went unavailable; the account's
   * last activity is this moment once no resource is available.
   *
   * @param bare The account's bare JID.
   * @param status The `<status/>` of the unavailable presence, if any.
   */
  wentUnavailable(bare: string, status?: string): void {
    this.#logouts.set(bare, { at: this.#context.clock.now(), status });
  }

  /**
   * Answers `jabber:iq:last` to the server with its uptime, and announces
   * the feature.
   *
   * @param iq The server's registry.
   * @param disco When given, `jabber:iq:last` is announced there.
   * @returns A disposable that removes them.
   */
  registerHost(iq: IqRegistry, disco?: DiscoInfo): Disposable {
    const stack = new DisposableStack();
    // XEP-0012 §5: to a server, the seconds since it started.
    stack.use(iq.set("host", "get", NS_LAST, "query", () => this.#answer(this.#startedAt)));
    if (disco !== undefined) stack.use(disco.addFeature(NS_LAST));
    return stack;
  }

  /**
   * Answers `jabber:iq:last` to the account itself (`scope` account of the
   * server's registry) or to another account (the registry of IQs to other
   * local accounts), in both cases on behalf of the account.
   *
   * @param iq Either registry.
   * @returns A disposable that removes the handler.
   */
  registerAccount(iq: IqRegistry): Disposable {
    return iq.set("account", "get", NS_LAST, "query", (request) => this.#account(request));
  }

  async #account(request: IqRequest): Promise<Element | StanzaError> {
    const owner = Jid.parse(request.to);
    const bare = owner.toString();
    const asker = Jid.tryParse(request.from)?.bare().toString();
    if (asker !== bare) {
      // XEP-0012 §4: only those who may see the account's presence may ask.
      const username = localUsername(bare, this.#context.domain)!;
      const roster = await this.#context.store().getRoster(username);
      if (asker === undefined || !isPresenceSubscriber(roster, asker)) {
        return new StanzaError("auth", "forbidden");
      }
    }
    for (const session of this.#context.sessions.resources(bare)) {
      if (session.available) return el("query", { xmlns: NS_LAST, seconds: "0" });
    }
    const logout = this.#logouts.peek(bare);
    if (logout === undefined) return new StanzaError("cancel", "item-not-found");
    return this.#answer(logout.at, logout.status);
  }

  #answer(since: number, status?: string): Element {
    const seconds = Math.max(0, Math.floor((this.#context.clock.now() - since) / 1000));
    return el("query", { xmlns: NS_LAST, seconds: String(seconds) }, status);
  }
}
