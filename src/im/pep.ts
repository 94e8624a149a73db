/**
 * XEP-0163 personal eventing: every account is a small pubsub service
 * (XEP-0060 subset) whose nodes are created on first publish. Used for
 * avatars (XEP-0084), nicknames (XEP-0172) and anything else a client
 * publishes, within the IM store's limits (nodes per account, items per
 * node, bytes per item).
 *
 * Each item carries the access model it was published with (`presence` by
 * default, `open` or `whitelist` through publish-options), stored with it,
 * so access survives restarts without a node configuration table.
 *
 * @module
 */

import { StanzaError } from "../errors/stanza_error.ts";
import { Jid } from "../jid/jid.ts";
import type { IqRegistry, IqRequest } from "../routing/iq_registry.ts";
import { fitsUtf8, type ImStore, type PepItem, type RosterData } from "../storage/im_store.ts";
import { el, type Element } from "../xml/element.ts";
import { NS_CLIENT } from "../xml/ns.ts";
import { serialize } from "../xml/serialize.ts";
import type { AccountDiscoProvider, AccountQuery } from "./account_disco.ts";
import type { DiscoInfo, DiscoItem } from "./disco.ts";
import {
  type ImContext,
  type ImSession,
  isPresenceSubscriber,
  localUsername,
  presenceSubscribers,
} from "./im_context.ts";
import { parseStored } from "./vcard.ts";

/** The XEP-0060 namespace. */
export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
/** Notifications. */
export const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
/** Pubsub application errors. */
export const NS_PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors";
/** The FORM_TYPE of publish-options. */
export const NS_PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options";
/** XEP-0084 avatar metadata node. */
export const NODE_AVATAR_METADATA = "urn:xmpp:avatar:metadata";
/** XEP-0084 avatar data node. */
export const NODE_AVATAR_DATA = "urn:xmpp:avatar:data";
/** XEP-0172 nickname node. */
export const NODE_NICK = "http://jabber.org/protocol/nick";

const NS_DATA = "jabber:x:data";

/** Who may read an item: contacts that see the account's presence, anyone, or only the account. */
export type AccessModel = "presence" | "open" | "whitelist";

/** The features an account announces while PEP is on (XEP-0163 §6, XEP-0060 §10). */
export const PEP_FEATURES: readonly string[] = Object.freeze(
  [
    "access-open",
    "access-presence",
    "access-whitelist",
    "auto-create",
    "config-node-max",
    "item-ids",
    "last-published",
    "multi-items",
    "persistent-items",
    "presence-notifications",
    "publish",
    "publish-options",
    "retract-items",
    "retrieve-items",
  ].map((feature) => NS_PUBSUB + "#" + feature).concat(NS_PUBSUB),
);

/**
 * Nodes a contact is told about when its client's interests are unknown
 * (no XEP-0115 caps): the avatar metadata and the nickname, whose items are
 * small. Avatar data is fetched on demand.
 */
export const DEFAULT_NOTIFY_NODES: ReadonlySet<string> = Object.freeze(
  new Set([NODE_AVATAR_METADATA, NODE_NICK]),
);

const MAX_NAME_LENGTH = 1024;
const ACCESS_PREFIX = /^(open|whitelist)\n/;

/**
 * The stored form of an item payload: the serialized element, prefixed by
 * its access model unless it is the default (`presence`).
 *
 * @param payload The serialized payload element.
 * @param access Its access model.
 * @returns The text to store.
 *
 * @example Usage
 * ```ts
 * import { decodeItem, encodeItem } from "./pep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeItem("<nick/>", "presence"), "<nick/>");
 * assert.deepEqual(decodeItem(encodeItem("<nick/>", "open")), { access: "open", payload: "<nick/>" });
 * ```
 */
export function encodeItem(payload: string, access: AccessModel): string {
  return access === "presence" ? payload : access + "\n" + payload;
}

/**
 * Reads an item stored by {@linkcode encodeItem}.
 *
 * @param stored The stored text.
 * @returns The access model and the serialized payload.
 *
 * @example Usage
 * ```ts
 * import { decodeItem } from "./pep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeItem("whitelist\n<x/>"), { access: "whitelist", payload: "<x/>" });
 * assert.deepEqual(decodeItem("<x/>"), { access: "presence", payload: "<x/>" });
 * ```
 */
export function decodeItem(stored: string): { access: AccessModel; payload: string } {
  const match = ACCESS_PREFIX.exec(stored);
  if (match === null) return { access: "presence", payload: stored };
  return { access: match[1] as AccessModel, payload: stored.slice(match[0].length) };
}

/** What a publish-options form asks for. */
export interface PublishOptions {
  /** `pubsub#access_model`. */
  access?: AccessModel;
  /** `pubsub#max_items`: a count, or `"max"` for as many as the server keeps. */
  maxItems?: number | "max";
}

/**
 * Reads a `<publish-options/>` form (XEP-0060 §7.1.5). Fields the server
 * cannot honour are a precondition that is not met; a form of another type
 * is a bad request.
 *
 * @param element The `<publish-options/>` element, if any.
 * @returns The options, or the error to answer.
 *
 * @example Usage
 * ```ts
 * import { parsePublishOptions } from "./pep.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const field = (name: string, value: string) => el("field", { var: name }, el("value", {}, value));
 * const form = el("publish-options", {}, el("x", { xmlns: "jabber:x:data", type: "submit" },
 *   field("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"),
 *   field("pubsub#access_model", "open"), field("pubsub#max_items", "max")));
 * assert.deepEqual(parsePublishOptions(form), { access: "open", maxItems: "max" });
 * ```
 */
export function parsePublishOptions(element: Element | undefined): PublishOptions | StanzaError {
  const options: PublishOptions = {};
  const form = element?.getChild("x", NS_DATA);
  if (form === undefined) return options;
  let formType: string | undefined;
  for (const field of form.getChildren("field", NS_DATA)) {
    const name = field.attrs.var;
    const value = field.getChildText("value", NS_DATA) ?? "";
    switch (name) {
      case "FORM_TYPE":
        formType = value;
        break;
      case "pubsub#access_model":
        if (value !== "presence" && value !== "open" && value !== "whitelist") {
          return preconditionNotMet(`Access model '${value}' is not supported`);
        }
        options.access = value;
        break;
      case "pubsub#max_items": {
        if (value === "max") {
          options.maxItems = "max";
          break;
        }
        const count = /^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : Number.NaN;
        if (Number.isNaN(count)) return invalidOptions(`'pubsub#max_items' must be a count`);
        options.maxItems = count;
        break;
      }
      case "pubsub#persist_items":
      case "pubsub#deliver_notifications":
      case "pubsub#deliver_payloads":
      case "pubsub#notify_retract":
        if (value !== "1" && value !== "true") {
          return preconditionNotMet(`'${name}' can only be true`);
        }
        break;
      case "pubsub#send_last_published_item":
        break;
      default:
        return preconditionNotMet(`Option '${name}' is not supported`);
    }
  }
  if (formType !== NS_PUBLISH_OPTIONS) return invalidOptions("The form is not publish-options");
  return options;
}

/** Options of {@linkcode Pep}. */
export interface PepOptions<S extends ImSession> {
  /** Makes item ids (when the publisher gives none) and notification ids. @default {crypto.randomUUID} */
  id?: () => string;
  /**
   * The nodes a session asked to be told about (its XEP-0115 `+notify`
   * features), or `undefined` when unknown: then the account's own
   * resources get every node and contacts get {@linkcode DEFAULT_NOTIFY_NODES}.
   *
   * @default {() => undefined}
   */
  interests?: (session: S) => ReadonlySet<string> | undefined;
  /**
   * Whether either of two bare JIDs blocked the other (XEP-0191): blocked
   * contacts get no notifications and no items.
   *
   * @default {() => false}
   */
  blocked?: (a: string, b: string) => Promise<boolean> | boolean;
  /**
   * XEP-0205 amplification limit: asked before a publish that notifies
   * contacts; an error refuses the publish.
   *
   * @default {() => undefined}
   */
  limit?: (owner: string) => StanzaError | undefined;
  /**
   * The account's roster when a session becomes available, where the server
   * keeps it loaded (the roster service reads it for the same presence):
   * one store read per login instead of two.
   *
   * @default {the store's getRoster}
   */
  roster?: (username: string) => Promise<RosterData>;
}

/**
 * The PEP service of a domain.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { Pep } from "./pep.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { MemoryImStore } from "../storage/memory_im_store.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * using store = new MemoryImStore();
 * const pep = new Pep({ domain: "x", sessions: { resources: () => [], get: () => undefined },
 *   store: () => store, clock: { now: () => 0 } });
 * const iq = new IqRegistry();
 * pep.registerAccount(iq);
 * const publish = el("iq", { xmlns: "jabber:client", type: "set", id: "p1", from: "juliet@x/r" },
 *   el("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" },
 *     el("publish", { node: "http://jabber.org/protocol/nick" },
 *       el("item", { id: "current" }, el("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Jule")))));
 * const reply = await iq.handle("account", publish, "juliet@x");
 * assert.equal(reply?.getChild("pubsub")?.getChild("publish")?.getChild("item")?.attrs.id, "current");
 * assert.equal((await store.getPepItems("juliet", "http://jabber.org/protocol/nick")).length, 1);
 * ```
 */
export class Pep<S extends ImSession> {
  #context: ImContext<S>;
  #id: () => string;
  #interests: (session: S) => ReadonlySet<string> | undefined;
  #blocked: (a: string, b: string) => Promise<boolean> | boolean;
  #limit: (owner: string) => StanzaError | undefined;
  #roster: ((username: string) => Promise<RosterData>) | undefined;

  /**
   * @param context The server side.
   * @param options Ids, interests, blocking and the amplification limit.
   */
  constructor(context: ImContext<S>, options: PepOptions<S> = {}) {
    this.#context = context;
    this.#id = options.id ?? (() => crypto.randomUUID());
    this.#interests = options.interests ?? (() => undefined);
    this.#blocked = options.blocked ?? (() => false);
    this.#limit = options.limit ?? (() => undefined);
    this.#roster = options.roster;
  }

  /**
   * Registers publish, retract and retrieval on the account itself, and
   * adds the PEP identity's features to the accounts' disco info.
   *
   * @param iq The server's registry.
   * @param accountInfo When given, gets {@linkcode PEP_FEATURES}.
   * @returns A disposable that removes them.
   */
  registerAccount(iq: IqRegistry, accountInfo?: DiscoInfo): Disposable {
    const stack = new DisposableStack();
    stack.use(iq.set("account", "set", NS_PUBSUB, "pubsub", (request) => this.#set(request)));
    stack.use(this.registerPeer(iq));
    if (accountInfo !== undefined) {
      for (const feature of PEP_FEATURES) stack.use(accountInfo.addFeature(feature));
    }
    return stack;
  }

  /**
   * Registers item retrieval from another account (the registry of IQs to
   * other local accounts).
   *
   * @param peer That registry.
   * @returns A disposable that removes the handler.
   */
  registerPeer(peer: IqRegistry): Disposable {
    return peer.set("account", "get", NS_PUBSUB, "pubsub", (request) => this.#get(request));
  }

  /**
   * The account disco answers PEP adds: the nodes the asker may read, and
   * their disco#info.
   *
   * @returns The provider to give {@linkcode AccountDisco.provide}.
   */
  discoProvider(): AccountDiscoProvider {
    return {
      items: async (query) => {
        const items: DiscoItem[] = [];
        for (const node of await this.#store().listPepNodes(query.username)) {
          if (await this.#visibleNode(query, node)) items.push({ jid: query.owner, node });
        }
        return items;
      },
      nodeInfo: async (query) => {
        if (query.node === undefined || !(await this.#visibleNode(query, query.node))) {
          return undefined;
        }
        return el(
          "query",
          { xmlns: "http://jabber.org/protocol/disco#info", node: query.node },
          el("identity", { category: "pubsub", type: "leaf" }),
          el("feature", { var: NS_PUBSUB }),
        );
      },
    };
  }

  /**
   * XEP-0163 §4.3.2: sends a session that just became available the last
   * item of each node it is interested in, of its own account and of every
   * local contact whose presence it may see.
   *
   * @param session The session.
   * @returns When every item was sent.
   */
  async sendLastItems(session: S): Promise<void> {
    const store = this.#store();
    const bare = session.bareKey;
    const username = localUsername(bare, this.#context.domain);
    if (username === undefined) return;
    const interests = this.#interests(session);
    const to = bare + "/" + session.resourceKey;
    for (const node of await store.listPepNodes(username)) {
      if (interests !== undefined && !interests.has(node)) continue;
      const [item] = await store.getPepItems(username, node, 1);
      if (item !== undefined) session.send(this.#notification(bare, to, itemsEvent(node, item)));
    }
    const roster = await (this.#roster?.(username) ?? store.getRoster(username));
    const nodes = interests ?? DEFAULT_NOTIFY_NODES;
    for (const contact of roster.items) {
      if (contact.subscription !== "to" && contact.subscription !== "both") continue;
      const contactUser = localUsername(contact.jid, this.#context.domain);
      if (contactUser === undefined || await this.#blocked(bare, contact.jid)) continue;
      for (const node of nodes) {
        const [item] = await store.getPepItems(contactUser, node, 1);
        if (item === undefined || decodeItem(item.payload).access === "whitelist") continue;
        session.send(this.#notification(contact.jid, to, itemsEvent(node, item)));
      }
    }
  }

  #store(): ImStore {
    return this.#context.store();
  }

  async #visibleNode(query: AccountQuery, node: string): Promise<boolean> {
    const [newest] = await this.#store().getPepItems(query.username, node, 1);
    if (newest === undefined) return false;
    return this.#mayRead(decodeItem(newest.payload).access, query.owner === query.requester, true);
  }

  #mayRead(access: AccessModel, owner: boolean, subscribed: boolean): boolean {
    if (owner) return true;
    if (access === "open") return true;
    return access === "presence" && subscribed;
  }

  async #set(request: IqRequest): Promise<Element | undefined | StanzaError> {
    const actions = request.payload.elements();
    const action = actions[0];
    if (action?.name === "publish" && action.ns === NS_PUBSUB) {
      const rest = actions.slice(1);
      const options = rest[0];
      if (rest.length > 1 || (options !== undefined && !options.is("publish-options", NS_PUBSUB))) {
        return new StanzaError("modify", "bad-request");
      }
      return await this.#publish(request, action, options);
    }
    if (action?.name === "retract" && action.ns === NS_PUBSUB && actions.length === 1) {
      return await this.#retract(request, action);
    }
    return unsupported(action?.name ?? "publish");
  }

  async #publish(
    request: IqRequest,
    publish: Element,
    optionsElement: Element | undefined,
  ): Promise<Element | StanzaError> {
    const node = publish.attrs.node;
    if (node === undefined || node === "") {
      return pubsubError("modify", "bad-request", "nodeid-required");
    }
    if (node.length > MAX_NAME_LENGTH) {
      return pubsubError("modify", "not-acceptable", "invalid-options");
    }
    const items = publish.getChildren("item", NS_PUBSUB);
    if (items.length === 0) return pubsubError("modify", "bad-request", "item-required");
    if (items.length > 1) return pubsubError("modify", "bad-request", "invalid-payload");
    const item = items[0]!;
    const payloads = item.elements();
    if (payloads.length === 0) return pubsubError("modify", "bad-request", "payload-required");
    if (payloads.length > 1) return pubsubError("modify", "bad-request", "invalid-payload");
    const id = item.attrs.id ?? this.#id();
    if (id.length > MAX_NAME_LENGTH) {
      return pubsubError("modify", "not-acceptable", "invalid-options");
    }
    const options = parsePublishOptions(optionsElement);
    if (options instanceof StanzaError) return options;

    const owner = Jid.parse(request.to).bare().toString();
    const username = localUsername(owner, this.#context.domain)!;
    const store = this.#store();
    const [current] = await store.getPepItems(username, node, 1);
    // Without options an item keeps the node's access model (the newest item's).
    const access = options.access ??
      (current === undefined ? "presence" : decodeItem(current.payload).access);
    if (access !== "whitelist") {
      const refused = this.#limit(owner);
      if (refused !== undefined) return refused;
    }
    const stored = encodeItem(serialize(payloads[0]!), access);
    const limits = store.limits;
    if (!fitsUtf8(stored, limits.maxPepPayloadBytes)) {
      return pubsubError("modify", "not-acceptable", "payload-too-big", {
        text: `A PEP item may take at most ${limits.maxPepPayloadBytes} bytes`,
      });
    }
    // XEP-0163 §5: a PEP node keeps one item unless publish-options ask for more.
    const maxItems = options.maxItems === "max"
      ? limits.maxPepItemsPerNode
      : Math.min(options.maxItems ?? 1, limits.maxPepItemsPerNode);
    const published = await store.putPepItem(username, { node, id, payload: stored }, {
      maxItems: Math.max(1, maxItems),
    });
    if (!published) {
      return pubsubError("cancel", "not-allowed", "max-nodes-exceeded", {
        text: `An account may have at most ${limits.maxPepNodes} PEP nodes`,
      });
    }
    await this.#notify(
      owner,
      username,
      access,
      node,
      itemsEvent(node, { node, id, payload: stored }),
    );
    return el(
      "pubsub",
      { xmlns: NS_PUBSUB },
      el("publish", { node }, el("item", { id })),
    );
  }

  async #retract(request: IqRequest, retract: Element): Promise<undefined | StanzaError> {
    const node = retract.attrs.node;
    if (node === undefined || node === "") {
      return pubsubError("modify", "bad-request", "nodeid-required");
    }
    const item = retract.getChildren("item", NS_PUBSUB);
    const id = item[0]?.attrs.id;
    if (item.length !== 1 || id === undefined) {
      return pubsubError("modify", "bad-request", "item-required");
    }
    const owner = Jid.parse(request.to).bare().toString();
    const username = localUsername(owner, this.#context.domain)!;
    const store = this.#store();
    const existing = await store.getPepItem(username, node, id);
    if (existing === undefined || !(await store.removePepItem(username, node, id))) {
      return new StanzaError("cancel", "item-not-found");
    }
    const notify = retract.attrs.notify;
    if (notify === "true" || notify === "1") {
      const access = decodeItem(existing.payload).access;
      const event = el("items", { node }, el("retract", { id }));
      await this.#notify(owner, username, access, node, event);
    }
    return undefined;
  }

  async #get(request: IqRequest): Promise<Element | StanzaError> {
    const children = request.payload.elements();
    const items = children[0];
    if (children.length !== 1 || items === undefined || !items.is("items", NS_PUBSUB)) {
      return unsupported(items?.name ?? "retrieve-items");
    }
    const node = items.attrs.node;
    if (node === undefined || node === "") {
      return pubsubError("modify", "bad-request", "nodeid-required");
    }
    const owner = Jid.parse(request.to).bare().toString();
    const username = localUsername(owner, this.#context.domain);
    if (username === undefined) return new StanzaError("cancel", "item-not-found");
    const requester = Jid.tryParse(request.from)?.bare().toString() ?? "";
    const isOwner = requester === owner;
    const store = this.#store();
    const [newest] = await store.getPepItems(username, node, 1);
    if (newest === undefined) return new StanzaError("cancel", "item-not-found");
    let subscribed = isOwner;
    if (!isOwner) {
      if (await this.#blocked(owner, requester)) return new StanzaError("cancel", "item-not-found");
      subscribed = isPresenceSubscriber(await store.getRoster(username), requester);
    }
    const wanted = items.getChildren("item", NS_PUBSUB).map((item) => item.attrs.id);
    let found: PepItem[];
    if (wanted.length > 0) {
      found = [];
      for (const id of wanted) {
        const item = id === undefined ? undefined : await store.getPepItem(username, node, id);
        if (item !== undefined) found.push(item);
      }
    } else {
      const max = items.attrs.max_items;
      const count = max !== undefined && /^[1-9][0-9]{0,8}$/.test(max) ? Number(max) : undefined;
      found = await store.getPepItems(username, node, count);
    }
    const visible = found.filter((item) =>
      this.#mayRead(decodeItem(item.payload).access, isOwner, subscribed)
    );
    if (visible.length === 0 && found.length > 0) {
      // XEP-0060 §6.5.9: say why the items are out of reach.
      return decodeItem(newest.payload).access === "whitelist"
        ? pubsubError("cancel", "not-allowed", "closed-node")
        : pubsubError("auth", "not-authorized", "presence-subscription-required");
    }
    return el(
      "pubsub",
      { xmlns: NS_PUBSUB },
      el("items", { node }, ...visible.map(itemElement)),
    );
  }

  /** Sends a notification to the owner's resources and, unless whitelisted, to subscribers. */
  async #notify(
    owner: string,
    username: string,
    access: AccessModel,
    node: string,
    event: Element,
  ): Promise<void> {
    const sessions = this.#context.sessions;
    for (const session of sessions.resources(owner)) {
      if (!session.available) continue;
      const interests = this.#interests(session);
      if (interests !== undefined && !interests.has(node)) continue;
      session.send(this.#notification(owner, owner + "/" + session.resourceKey, event));
    }
    if (access === "whitelist") return;
    const roster = await this.#store().getRoster(username);
    for (const contact of presenceSubscribers(roster)) {
      if (localUsername(contact, this.#context.domain) === undefined) continue;
      let blocked: boolean | undefined;
      for (const session of sessions.resources(contact)) {
        if (!session.available) continue;
        const interests = this.#interests(session) ?? DEFAULT_NOTIFY_NODES;
        if (!interests.has(node)) continue;
        blocked ??= await this.#blocked(owner, contact);
        if (blocked) break;
        session.send(this.#notification(owner, contact + "/" + session.resourceKey, event));
      }
    }
  }

  #notification(from: string, to: string, event: Element): Element {
    return el(
      "message",
      { xmlns: NS_CLIENT, from, to, type: "headline", id: this.#id() },
      el("event", { xmlns: NS_PUBSUB_EVENT }, event),
    );
  }
}

function itemElement(item: PepItem): Element {
  return el("item", { id: item.id }, parseStored(decodeItem(item.payload).payload));
}

function itemsEvent(node: string, item: PepItem): Element {
  return el("items", { node }, itemElement(item));
}

function pubsubError(
  type: "auth" | "cancel" | "modify",
  condition:
    | "bad-request"
    | "not-acceptable"
    | "not-allowed"
    | "not-authorized"
    | "conflict"
    | "feature-not-implemented",
  app: string,
  options: { text?: string } = {},
): StanzaError {
  return new StanzaError(type, condition, {
    ...options,
    appCondition: app,
    appNs: NS_PUBSUB_ERRORS,
  });
}

function preconditionNotMet(text: string): StanzaError {
  return pubsubError("cancel", "conflict", "precondition-not-met", { text });
}

function invalidOptions(text: string): StanzaError {
  return pubsubError("modify", "bad-request", "invalid-options", { text });
}

/** XEP-0060 §7.1.3.1-style refusal of a pubsub feature PEP does not offer here. */
function unsupported(feature: string): StanzaError {
  return new StanzaError("cancel", "feature-not-implemented", {
    appCondition: "unsupported",
    appNs: NS_PUBSUB_ERRORS,
    text: `Pubsub '${feature}' is not supported on accounts`,
  });
}
