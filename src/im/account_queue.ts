/**
 * One queue of tasks per account: the tasks of an account run one after
 * the other, in the order they were queued, while different accounts run
 * side by side. Roster changes, subscription state, presence and offline
 * storage of an account all pass through its queue, so a task that reads
 * the roster, awaits the store and then acts never interleaves with
 * another one of the same account.
 *
 * @module
 */

/**
 * Serialises asynchronous tasks per key. Only keys with queued or running
 * tasks take memory: a key's entry goes when its last task settles.
 *
 * A task must not wait for a later task of its own key (that would never
 * run); queueing one without awaiting it is fine.
 *
 * @example Usage
 * ```ts
 * import { AccountQueue } from "./account_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const queue = new AccountQueue();
 * const order: string[] = [];
 * const slow = queue.run("alice", async () => {
 *   await new Promise((resolve) => setTimeout(resolve, 5));
 *   order.push("first");
 * });
 * const fast = queue.run("alice", () => order.push("second"));
 * await Promise.all([slow, fast]);
 * assert.deepEqual(order, ["first", "second"]);
 * assert.equal(queue.size, 0);
 * ```
 */
export class AccountQueue {
  #tails = new Map<string, Promise<void>>();

  /**
   * The number of keys with tasks queued or running.
   *
   * @example Usage
   * ```ts
   * import { AccountQueue } from "./account_queue.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const done = queue.run("bob", () => 1);
   * assert.equal(queue.size, 1);
   * await done;
   * await queue.drain();
   * assert.equal(queue.size, 0);
   * ```
   */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Queues a task behind the key's earlier tasks. A task that throws or
   * rejects does not stop the ones after it.
   *
   * @typeParam T The task's result.
   * @param key The account.
   * @param task The work; it starts once every earlier task of `key` settled.
   * @returns The task's result.
   *
   * @example Usage
   * ```ts
   * import { AccountQueue } from "./account_queue.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * const failed = queue.run("alice", () => { throw new Error("boom"); });
   * const next = queue.run("alice", () => "still runs");
   * await assert.rejects(failed, /boom/);
   * assert.equal(await next, "still runs");
   * ```
   */
  run<T>(key: string, task: () => T | Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const result = previous === undefined ? Promise.resolve().then(task) : previous.then(task);
    const tail = result.then(ignore, ignore);
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /**
   * Waits until every task queued so far, and every task those queue in
   * turn, has settled.
   *
   * @returns A promise that resolves when no key has a task left.
   *
   * @example Usage
   * ```ts
   * import { AccountQueue } from "./account_queue.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = new AccountQueue();
   * let ran = false;
   * queue.run("alice", () => { queue.run("bob", () => { ran = true; }); });
   * await queue.drain();
   * assert.equal(ran, true);
   * ```
   */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}

function ignore(): void {}
