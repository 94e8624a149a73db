/**
 * A typed, synchronous event bus with priorities, after Prosody's
 * `util/events`: handlers run highest priority first, and the first one that
 * returns `true` marks the event handled and stops the chain.
 *
 * @module
 */

/** A handler; returning `true` stops later handlers. */
export type EventHandler<P> = (payload: P) => boolean | void;

interface Registration<P> {
  handler: EventHandler<P>;
  priority: number;
}

/**
 * An event bus over an event map `M` (event name to payload type).
 *
 * @typeParam M The event map.
 *
 * @example Usage
 * ```ts
 * import { EventBus } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new EventBus<{ greet: { name: string } }>();
 * const seen: string[] = [];
 * bus.on("greet", (e) => { seen.push("low " + e.name); }, 0);
 * using _high = bus.on("greet", (e) => { seen.push("high " + e.name); return true; }, 10);
 * assert.equal(bus.emit("greet", { name: "ann" }), true);
 * assert.deepEqual(seen, ["high ann"]);
 * ```
 */
export class EventBus<M extends object> {
  #handlers = new Map<keyof M, Registration<never>[]>();

  /**
   * Adds a handler. Disposing the result removes it.
   *
   * @param name The event name.
   * @param handler The handler.
   * @param priority Higher runs first; equal priorities run in order added. @default {0}
   * @returns A disposable that removes the handler.
   * @throws {RangeError} If `priority` is `NaN` (it would compare false with every other
   * priority and break the ordering of handlers added after it).
   */
  on<K extends keyof M>(name: K, handler: EventHandler<M[K]>, priority = 0): Disposable {
    if (Number.isNaN(priority)) {
      throw new RangeError(`Cannot add handler for '${String(name)}': 'priority' is NaN`);
    }
    const list = (this.#handlers.get(name) ?? []) as Registration<M[K]>[];
    const registration = { handler, priority };
    let index = list.length;
    while (index > 0 && list[index - 1]!.priority < priority) index--;
    const next = [...list.slice(0, index), registration, ...list.slice(index)];
    this.#handlers.set(name, next as Registration<never>[]);
    return {
      [Symbol.dispose]: () => {
        const current = (this.#handlers.get(name) ?? []) as Registration<M[K]>[];
        const rest = current.filter((entry) => entry !== registration);
        if (rest.length === 0) this.#handlers.delete(name);
        else this.#handlers.set(name, rest as Registration<never>[]);
      },
    };
  }

  /** Whether any handler listens to `name` (lets hot paths skip building payloads). */
  has(name: keyof M): boolean {
    return this.#handlers.has(name);
  }

  /**
   * Runs the handlers of `name` in priority order.
   *
   * @returns `true` when a handler returned `true`.
   */
  emit<K extends keyof M>(name: K, payload: M[K]): boolean {
    const list = this.#handlers.get(name) as Registration<M[K]>[] | undefined;
    if (list === undefined) return false;
    for (const { handler } of list) {
      if (handler(payload) === true) return true;
    }
    return false;
  }
}
