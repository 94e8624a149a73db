// In-memory sessions and an assembled ImService for the unit tests of the IM
// wiring: no sockets, every stanza a session gets recorded as serialized XML.

import { ImService } from "../../src/im/im_service.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { SessionRegistry } from "../../src/routing/session_registry.ts";
import type { ImStore } from "../../src/storage/im_store.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { EMPTY_NAMESPACE_CONTEXT, StanzaParser } from "../../src/xml/stanza_parser.ts";
import type { Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

export const DOMAIN = "example.com";
export const STAMP = Date.UTC(2002, 8, 10, 23, 8, 25);
const PUSH_ID_REGEXP = /id="push[0-9a-z]+"/g;
const parser = new StanzaParser();
const encoder = new TextEncoder();

/** Parses one stanza written in the tests (default namespace jabber:client). */
export function xml(text: string): Element {
  const element = parser.parse(encoder.encode(text), EMPTY_NAMESPACE_CONTEXT);
  element.ns ??= "jabber:client";
  return element;
}

export class FakeSession {
  available = false;
  priority = 0;
  presence: Element | undefined;
  readonly sent: string[] = [];

  constructor(readonly bareKey: string, readonly resourceKey: string) {}

  send(stanza: Element): void {
    this.sent.push(serialize(stanza, "jabber:client").replace(PUSH_ID_REGEXP, 'id="{push}"'));
  }

  /** Everything received since the last call. */
  take(): string[] {
    return this.sent.splice(0);
  }

  get jid(): string {
    return this.bareKey + "/" + this.resourceKey;
  }
}

export interface ImFixture {
  store: ImStore;
  sessions: SessionRegistry<FakeSession>;
  iq: IqRegistry;
  im: ImService<FakeSession>;
  /** Accounts that exist. */
  accounts: Set<string>;
  /** Binds a session for `user@example.com/resource`. */
  bind(user: string, resource: string): FakeSession;
  /** Sends a stanza as `session` would: `from` stamped, then handed to the IM service. */
  presence(session: FakeSession, text: string): Promise<void>;
  /** An IQ from `session` to its own account, answered by the registry. */
  iqFrom(session: FakeSession, text: string): Promise<string | undefined>;
  /** Waits until every queued IM task has run. */
  settle(): Promise<void>;
}

export function imFixture(
  options: { store?: ImStore; accounts?: string[]; afterReply?: boolean } = {},
): ImFixture {
  const store = options.store ?? new MemoryImStore();
  const sessions = new SessionRegistry<FakeSession>();
  const iq = new IqRegistry();
  const accounts = new Set(options.accounts ?? ["alice", "bob", "carol"]);
  const after = new Map<Element, () => void>();
  const im = new ImService<FakeSession>({
    domain: DOMAIN,
    store,
    sessions,
    iq,
    accountExists: (username) => Promise.resolve(accounts.has(username)),
    wallClock: () => STAMP,
    ...(options.afterReply === false ? {} : {
      afterReply: (request: Element, then: () => void) => after.set(request, then),
    }),
  });
  return {
    store,
    sessions,
    iq,
    im,
    accounts,
    bind(user, resource) {
      const session = new FakeSession(`${user}@${DOMAIN}`, resource);
      sessions.add(session);
      return session;
    },
    async presence(session, text) {
      const stanza = xml(text);
      stanza.attrs.from = session.jid;
      await im.handlePresence(session, stanza);
    },
    async iqFrom(session, text) {
      const stanza = xml(text);
      stanza.attrs.from = session.jid;
      const reply = await iq.handle("account", stanza, session.bareKey);
      if (reply !== undefined) session.send(reply);
      const then = after.get(stanza);
      after.delete(stanza);
      then?.();
      return reply === undefined ? undefined : serialize(reply, "jabber:client");
    },
    settle: () => im.drain(),
  };
}
