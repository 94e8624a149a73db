// Fake bound sessions for the account-service tests: each records what it is sent.

import { Jid } from "../../src/jid/jid.ts";
import type { ImSession, ImSessions } from "../../src/im/im_context.ts";
import type { Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

export class FakeSession implements ImSession {
  readonly bareKey: string;
  readonly resourceKey: string;
  readonly jid: Jid;
  available = false;
  presence: Element | undefined;
  readonly sent: Element[] = [];
  readonly transport = { remoteAddress: "192.0.2.1", encrypted: true };
  closedWith: string | undefined;

  constructor(full: string) {
    this.jid = Jid.parse(full);
    this.bareKey = this.jid.bare().toString();
    this.resourceKey = this.jid.resource!;
  }

  send(stanza: Element): void {
    this.sent.push(stanza);
  }

  close(error?: { condition: string }): void {
    this.closedWith = error?.condition ?? "none";
  }

  /** Everything sent, serialized as on the wire, then forgotten. */
  take(): string[] {
    const out = this.sent.map((stanza) => serialize(stanza, "jabber:client"));
    this.sent.length = 0;
    return out;
  }
}

export class FakeSessions implements ImSessions<FakeSession> {
  #all: FakeSession[] = [];

  add(full: string, available = true): FakeSession {
    const session = new FakeSession(full);
    session.available = available;
    this.#all.push(session);
    return session;
  }

  resources(bare: string): Iterable<FakeSession> {
    return this.#all.filter((session) => session.bareKey === bare);
  }

  get(bare: string, resource: string): FakeSession | undefined {
    return this.#all.find((s) => s.bareKey === bare && s.resourceKey === resource);
  }
}

export const ROSTER_ITEM = { groups: [], ask: false, approved: false, version: 1 } as const;
