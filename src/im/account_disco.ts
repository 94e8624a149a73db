/**
 * XEP-0030 service discovery on accounts: the server answers disco#info and
 * disco#items sent to an account's bare JID on the account's behalf, to the
 * account itself and to contacts that may see its presence (to anyone else
 * it answers as if the account did not exist, so nothing leaks).
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from "../xml/ns.ts";
import type { DiscoInfo, DiscoItem } from "./disco.ts";
import {
  type ImContext,
  type ImSession,
  isPresenceSubscriber,
  localUsername,
} from "./im_context.ts";

/** A question about an account: whose, and who asks. */
export interface AccountQuery {
  /** The account's localpart. */
  username: string;
  /** The account's bare JID. */
  owner: string;
  /** The asker's bare JID. */
  requester: string;
  /** The `node` attribute of the query, if any. */
  node: string | undefined;
}

/** What other services add to an account's disco answers (PEP adds its nodes). */
export interface AccountDiscoProvider {
  /** The items listed for the account (e.g. PEP nodes the asker may see). */
  items?(query: AccountQuery): Promise<DiscoItem[]>;
  /** The disco#info of one node, or `undefined` when this provider does not know it. */
  nodeInfo?(query: AccountQuery): Promise<Element | undefined>;
}

/**
 * Account disco: the `info` (identities and features every account
 * announces, e.g. `account/registered`, `pubsub/pep`) and the providers of
 * items and node answers.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { AccountDisco } from "./account_disco.ts";
 * import { DiscoInfo } from "./disco.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * const disco = new AccountDisco({ domain: "x", sessions: { resources: () => [], get: () => undefined },
 *   store: () => store, clock: { now: () => 0 } }, new DiscoInfo({ category: "account", type: "registered" }));
 * const peers = new IqRegistry();
 * disco.register(peers);
 * const ask = (from: string) => el("iq", { xmlns: "jabber:client", type: "get", id: "d", from, to: "juliet@x" },
 *   el("query", { xmlns: "http://jabber.org/protocol/disco#info" }));
 * assert.equal((await peers.handle("account", ask("juliet@x/r"), "juliet@x"))?.attrs.type, "result");
 * assert.equal((await peers.handle("account", ask("tybalt@x/r"), "juliet@x"))?.attrs.type, "error");
 * ```
 */
export class AccountDisco<S extends ImSession> {
  /** What every account announces. */
  readonly info: DiscoInfo;
  #context: ImContext<S>;
  #providers: AccountDiscoProvider[] = [];

  /**
   * @param context The server side.
   * @param info The identities and features of accounts.
   */
  constructor(context: ImContext<S>, info: DiscoInfo) {
    this.#context = context;
    this.info = info;
  }

  /**
   * Adds a provider of items and node answers until the result is disposed.
   *
   * @param provider The provider.
   * @returns A disposable that removes it.
   */
  provide(provider: AccountDiscoProvider): Disposable {
    this.#providers.push(provider);
    return {
      [Symbol.dispose]: () => {
        const index = this.#providers.indexOf(provider);
        if (index !== -1) this.#providers.splice(index, 1);
      },
    };
  }

  /**
   * Answers disco#info and disco#items for accounts. Registered in the
   * server's registry it answers the account itself; in the registry of
   * IQs to other local accounts, everyone else.
   *
   * @param iq Either registry (scope `account`).
   * @returns A disposable that removes the handlers.
   */
  register(iq: IqRegistry): Disposable {
    const stack = new DisposableStack();
    stack.use(iq.set("account", "get", NS_DISCO_INFO, "query", (r) => this.#info(r)));
    stack.use(iq.set("account", "get", NS_DISCO_ITEMS, "query", (r) => this.#items(r)));
    return stack;
  }

  async #query(request: IqRequest): Promise<AccountQuery | StanzaError> {
    const owner = Jid.parse(request.to).bare().toString();
    const requester = Jid.tryParse(request.from)?.bare().toString() ?? "";
    const username = localUsername(owner, this.#context.domain);
    if (username === undefined) return unavailable();
    if (requester !== owner) {
      // XEP-0030 §8: only those who may see the account's presence learn about it.
      const roster = await this.#context.store().getRoster(username);
      if (!isPresenceSubscriber(roster, requester)) return unavailable();
    }
    return { username, owner, requester, node: request.payload.attrs.node };
  }

  async #info(request: IqRequest): Promise<Element | StanzaError> {
    const query = await this.#query(request);
    if (query instanceof StanzaError) return query;
    if (query.node === undefined) return this.info.toElement();
    for (const provider of this.#providers) {
      const answer = await provider.nodeInfo?.(query);
      if (answer !== undefined) return answer;
    }
    return new StanzaError("cancel", "item-not-found");
  }

  async #items(request: IqRequest): Promise<Element | StanzaError> {
    const query = await this.#query(request);
    if (query instanceof StanzaError) return query;
    if (query.node !== undefined) return new StanzaError("cancel", "item-not-found");
    const items: DiscoItem[] = [];
    for (const provider of this.#providers) {
      if (provider.items !== undefined) items.push(...await provider.items(query));
    }
    return el(
      "query",
      { xmlns: NS_DISCO_ITEMS },
      ...items.map((item) => el("item", { jid: item.jid, node: item.node, name: item.name })),
    );
  }
}

function unavailable(): StanzaError {
  return new StanzaError("cancel", "service-unavailable");
}
