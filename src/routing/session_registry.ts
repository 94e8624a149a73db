/**
 * Bound sessions by account: bare JID to resource to session. Lookups are
 * O(1); nothing here scans all sessions.
 *
 * @module
 */

/** What the registry needs to know of a session. */
export interface Bindable {
  /** The bound full JID's bare part, as a string. */
  readonly bareKey: string;
  /** The bound resource. */
  readonly resourceKey: string;
}

/**
 * Holds bound sessions per account.
 *
 * @typeParam S The session type.
 *
 * @example Usage
 * ```ts
 * import { SessionRegistry } from "./session_registry.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = new SessionRegistry<{ bareKey: string; resourceKey: string }>();
 * const phone = { bareKey: "a@x", resourceKey: "phone" };
 * assert.equal(registry.add(phone), undefined);
 * assert.equal(registry.get("a@x", "phone"), phone);
 * assert.equal(registry.countResources("a@x"), 1);
 * registry.remove(phone);
 * assert.equal(registry.size, 0);
 * ```
 */
export class SessionRegistry<S extends Bindable> {
  #accounts = new Map<string, Map<string, S>>();
  #size = 0;

  /** Total bound sessions. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds a bound session.
   *
   * @returns The session it replaced on the same full JID, if any.
   */
  add(session: S): S | undefined {
    let resources = this.#accounts.get(session.bareKey);
    if (resources === undefined) {
      resources = new Map();
      this.#accounts.set(session.bareKey, resources);
    }
    const replaced = resources.get(session.resourceKey);
    resources.set(session.resourceKey, session);
    if (replaced === undefined) this.#size++;
    return replaced;
  }

  /** Removes a session if it is the one bound on its full JID. */
  remove(session: S): void {
    const resources = this.#accounts.get(session.bareKey);
    if (resources?.get(session.resourceKey) !== session) return;
    resources.delete(session.resourceKey);
    this.#size--;
    if (resources.size === 0) this.#accounts.delete(session.bareKey);
  }

  /** The session bound on `bare`/`resource`. */
  get(bare: string, resource: string): S | undefined {
    return this.#accounts.get(bare)?.get(resource);
  }

  /** The sessions of one account (empty when none). */
  resources(bare: string): Iterable<S> {
    return this.#accounts.get(bare)?.values() ?? [];
  }

  /** How many resources an account has bound. */
  countResources(bare: string): number {
    return this.#accounts.get(bare)?.size ?? 0;
  }

  /** Every bound session. */
  *all(): Iterable<S> {
    for (const resources of this.#accounts.values()) yield* resources.values();
  }
}
