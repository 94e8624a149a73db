/**
 * Fair scheduling of parse work across connections: a flood on one
 * connection must not take parse time from the others, so input is processed
 * round-robin, at most `quantumBytes` per connection per round, never first
 * come first served.
 *
 * Each connection registers a queue. When nothing is waiting anywhere, a
 * chunk that fits the quantum is processed at once, synchronously (the common
 * case costs no latency). Otherwise chunks wait in their connection's queue
 * and rounds run from an injected `schedule` (by default `setImmediate`), so
 * every other connection's reads are delivered and queued between two
 * rounds; in a round each waiting connection gets one quantum, in turn. A
 * chunk larger than the quantum is processed in quantum-sized slices (views,
 * not copies), in order.
 *
 * Deno's runtime does not poll sockets between two `setImmediate` callbacks:
 * its event loop runs on a single-threaded tokio scheduler that checks for
 * I/O only when it idles or every 61 scheduler ticks, and each immediate that
 * does work is one tick. Rounds that chain immediates therefore starve every
 * socket (measured: with 1 ms rounds, reads got in every 61 ms; empty
 * immediates do not help, thousands of them run before sockets are polled,
 * and neither does an operation on the thread pool once its threads are
 * warm). So once rounds have run for `ioPollEveryMs` since they started from
 * idle or since the last poll (by default at once: before every round), the
 * next round waits for `ioPoll`, by default a zero-delay timer, which makes
 * the event loop park and poll the sockets. The poll ends early, at the first
 * chunk read from a socket, which proves that sockets were polled: only a
 * chunk the transport read before it was paused and delivers on resuming does
 * not count (see {@linkcode FairInputQueue.heldInputResumed}).
 * The round after the poll serves the connections whose reads arrived first.
 * A poll ended early leaves its timer running, and no other starts until it
 * fires: when it does, it ends the poll running then (the event loop polled
 * sockets on its way to the timer).
 * A zero-delay timer fires after 1-2 ms in Deno, so a backlog that no socket
 * read interrupts is worked through at a fraction of the CPU: backlogs are
 * what floods leave, and the host's other work goes first. (A datagram to
 * the process's own loopback UDP socket is a poll without the timer: about
 * 14 µs, every socket read delivered. As the poll here it left a login storm's
 * throughput unchanged, the two cores being the limit, and would work through
 * a flood's backlog at full CPU.) Light input is different: when a poll ran
 * to its timer (nobody sent anything meanwhile) and only light queues wait,
 * they are answers clients are waiting for, and the next round may take ten
 * budgets (1 ms by default, less than the poll it follows). In a login storm a
 * third of the polls ran to the timer, each followed by one 0.1 ms round: S1
 * went from about 4,400 to 5,000 logins/s on this machine with longer rounds
 * there, S2 and S4 unchanged.
 *
 * Within one event-loop turn, reads are processed at once only until they
 * took `roundBudgetMs`; later reads of the same turn wait for the next round,
 * so one read never waits behind every other read of a busy turn. A
 * connection without a backlog whose new chunk is light (at most 2 KiB: a few
 * stanzas, as a person types them) goes before every backlog, in arrival
 * order, and once a round has served those it calls `onLightServed`, so that
 * their replies can be sent before the backlogs are parsed; a heavy chunk
 * joins the back of the backlogs. Every round serves at least one backlog, so
 * light newcomers cannot starve them.
 *
 * A quantum is served whole when it costs less than a round's budget at the
 * connection's recent cost per byte (a moving average); costlier input, such
 * as a flood of tiny stanzas (measured: about 0.3 ms per 4 KiB), is served in
 * slices of at least 1 KiB sized to end by the round's deadline, so that one
 * connection's input does not hold the event loop much past the budget. (Cut
 * every quantum into 1 KiB slices instead and S2 lost a fifth of its
 * throughput: more parse calls, and stanzas split between slices.)
 *
 * Memory stays bounded: a queue holding more than `quantumBytes ×
 * maxQueuedQuanta` bytes pauses its transport, and resumes it once its
 * backlog is down to one quantum.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { type Clock, systemTimers } from "../core/clock.ts";
import type { Transport } from "../transport/transport.ts";

/** Options for {@linkcode FairInput}. */
export interface FairInputOptions {
  /**
   * The most bytes processed for one connection per round; a positive integer.
   *
   * @default {4096}
   */
  quantumBytes?: number;
  /**
   * A queue holding more than `quantumBytes × maxQueuedQuanta` bytes pauses its
   * transport until it is down to `quantumBytes`; an integer ≥ 1.
   *
   * @default {16}
   */
  maxQueuedQuanta?: number;
  /**
   * Runs a task later, after pending I/O events: the yield between rounds.
   * Tests pass their own to run rounds one by one.
   *
   * @default {setImmediate}
   */
  schedule?: (task: () => void) => void;
  /**
   * Rounds running back to back for this many milliseconds (since they
   * started from idle, or since the last poll) are followed by an I/O poll
   * (see `ioPoll`); a finite number ≥ 0, where 0 polls before every round.
   *
   * @default {0}
   */
  ioPollEveryMs?: number;
  /**
   * Lets the event loop poll sockets, then calls `resume` (which runs the
   * next round); `null` for no polls.
   *
   * @default {a zero-delay timer, or `null` with a custom `schedule`}
   */
  ioPoll?: ((resume: () => void) => void) | null;
  /**
   * A round that has run this many milliseconds stops after the current
   * slice (having served at least one backlog); the queues it did not serve
   * go first in the next round, after the light ones. Costly input is sliced
   * to end about this deadline (see the module docs). A number > 0
   * (`Infinity`: rounds are never cut).
   *
   * @default {0.1, or Infinity with a custom `schedule`}
   */
  roundBudgetMs?: number;
  /**
   * Called in a round once the light queues (new input of at most 2 KiB on a
   * connection without a backlog) have had their quantum, before the
   * backlogs: the server sends the replies held so far, so that a chat
   * line's delivery does not wait for a flood's quanta.
   *
   * @default {undefined}
   */
  onLightServed?: () => void;
  /**
   * The clock that times `ioPollEveryMs` and `roundBudgetMs`.
   *
   * @default {systemTimers}
   */
  clock?: Clock;
  /**
   * Receives an error thrown by a queue's `process` (that queue is then
   * closed). Without it (or if it throws) the error is rethrown: from
   * {@linkcode FairInputQueue.push} when processing synchronously, else from
   * the scheduled round once it has finished.
   *
   * @default {undefined}
   */
  onError?: (error: unknown) => void;
}

/** One connection's input queue, made by {@linkcode FairInput.register}. */
export interface FairInputQueue extends Disposable {
  /** Bytes waiting to be processed. */
  readonly queuedBytes: number;
  /** Whether the queue holds its transport paused because its backlog is over the cap. */
  readonly paused: boolean;
  /** Whether the queue is closed. */
  readonly closed: boolean;
  /**
   * Hands over a chunk read from the connection: processed now when nothing
   * waits anywhere (up to a quantum, or for costly input what fits a round's
   * budget), the rest queued. Ignored once closed.
   *
   * @param chunk Bytes in connection order; not copied, so not to be reused by the caller.
   * @throws {unknown} What `process` threw, when processing synchronously and no
   * `onError` is set (the queue is then closed).
   */
  push(chunk: Uint8Array): void;
  /**
   * Tells the queue that its transport resumes with input it read before it
   * was paused (by this queue or any other party): the next chunk comes from
   * the transport's own buffer, so it does not prove that sockets were polled.
   * A resume with nothing held must not be reported: the chunk after it is a
   * socket read, and a poll waiting for one would wait for its timer instead
   * (measured: a login storm, whose every SASL step pauses and resumes,
   * fell from 3,200 to 480 logins/s when every resume was reported).
   */
  heldInputResumed(): void;
  /** Drops the backlog and leaves the schedule; the transport is left as it is. */
  close(): void;
}

const DEFAULT_QUANTUM_BYTES = 4 * 1024;
const DEFAULT_MAX_QUEUED_QUANTA = 16;
const DEFAULT_IO_POLL_EVERY_MS = 0;
// A chunk this small is a few stanzas: when it starts a backlog, it goes first.
const LIGHT_BYTES = 2048;
const DEFAULT_ROUND_BUDGET_MS = 0.1;
/** How many budgets a round may take after a quiet poll, when only light queues wait. */
const QUIET_ROUND_BUDGETS = 10;
/**
 * The smallest slice a round cuts a quantum into: below it the per-call cost
 * of parsing (and stanzas split between slices) outweighs the latency saved.
 */
const MIN_SLICE_BYTES = 1024;

function scheduleImmediate(task: () => void): void {
  setImmediate(task);
}

/**
 * Resumes from a zero-delay timer: the event loop has nothing to run
 * meanwhile, so it polls sockets. Not an injected `Timers` timer: this one
 * measures no time, and it must keep the process alive while work waits.
 */
function pollThroughTimer(resume: () => void): void {
  setTimeout(resume, 0);
}

/** The shared state of a {@linkcode FairInput} and its queues. */
class Scheduler {
  readonly quantum: number;
  readonly highWater: number;
  readonly schedule: (task: () => void) => void;
  readonly onError: ((error: unknown) => void) | undefined;
  readonly onLightServed: (() => void) | undefined;
  readonly runRound: () => void;
  readonly clock: Clock;
  readonly pollEveryMs: number;
  readonly ioPoll: ((resume: () => void) => void) | null;
  /** Whether the latest chunk arrived with nothing waiting anywhere (the event loop was idle). */
  fromIdle = false;
  /** When rounds started from idle or last finished an I/O poll. */
  ioAt: number;
  /** Whether the next round waits for an I/O poll. */
  polling = false;
  /**
   * Whether an `ioPoll` has not resumed yet. One at a time: a poll ended early
   * leaves its own outstanding, and when it resumes it ends the poll running
   * then, as the event loop went through a socket poll on its way.
   */
  pollOutstanding = false;
  /**
   * Whether the last poll ran to its timer without a socket read: the next
   * round may take `QUIET_ROUND_BUDGETS` budgets if only light queues wait.
   */
  quiet = false;
  readonly pollResumed: () => void;
  /**
   * Queues that had no backlog before their latest chunk and whose chunk was
   * at most `LIGHT_BYTES` (a chat line, not a flood's read), from
   * `lightHead` on: served first, in arrival order.
   */
  light: Queue[] = [];
  lightHead = 0;
  /** Whether `push` times its synchronous processing (rounds have a budget and a real event loop). */
  readonly timesTurns: boolean;
  /** Milliseconds of synchronous processing in this event-loop turn (see `push`). */
  turnSpentMs = 0;
  /** Whether an immediate that ends the turn's synchronous budget is scheduled. */
  turnEndScheduled = false;
  readonly endTurn: () => void;
  /**
   * Backlogs (heavy newcomers, and queues left with input after a quantum),
   * from `ringHead` on, in serving order.
   */
  ring: Queue[] = [];
  ringHead = 0;
  readonly roundBudgetMs: number;
  /** Whether `process` is running (a round, or the synchronous path). */
  running = false;
  scheduled = false;
  queuedBytes = 0;
  failed = false;
  failure: unknown = undefined;

  constructor(
    quantum: number,
    highWater: number,
    schedule: (task: () => void) => void,
    onError: ((error: unknown) => void) | undefined,
    clock: Clock,
    pollEveryMs: number,
    ioPoll: ((resume: () => void) => void) | null,
    roundBudgetMs: number,
    onLightServed: (() => void) | undefined,
  ) {
    this.roundBudgetMs = roundBudgetMs;
    this.onLightServed = onLightServed;
    this.timesTurns = roundBudgetMs !== Infinity && ioPoll !== null;
    this.quantum = quantum;
    this.highWater = highWater;
    this.schedule = schedule;
    this.onError = onError;
    this.clock = clock;
    this.pollEveryMs = pollEveryMs;
    this.ioPoll = ioPoll;
    this.ioAt = ioPoll !== null ? clock.now() : 0;
    this.runRound = () => this.round();
    this.pollResumed = () => {
      this.pollOutstanding = false;
      if (this.polling) {
        this.quiet = true;
        this.endPoll();
      }
    };
    this.endTurn = () => {
      this.turnSpentMs = 0;
      this.turnEndScheduled = false;
    };
  }

  ensureScheduled(): void {
    if (!this.scheduled && !this.running && this.waiting() > 0) {
      this.scheduled = true;
      if (this.ioPoll !== null) {
        const now = this.clock.now();
        if (this.fromIdle) {
          this.fromIdle = false;
          this.ioAt = now;
        } else if (now - this.ioAt >= this.pollEveryMs) {
          this.polling = true;
          if (!this.pollOutstanding) {
            this.pollOutstanding = true;
            this.ioPoll(this.pollResumed);
          }
          return;
        }
      }
      this.schedule(this.runRound);
    }
  }

  /** Ends the I/O poll: the next round runs after the reads at hand are queued. */
  endPoll(): void {
    this.polling = false;
    this.ioAt = this.clock.now();
    this.schedule(this.runRound);
  }

  /** Queues with a backlog. */
  waiting(): number {
    return this.light.length - this.lightHead + this.ring.length - this.ringHead;
  }

  /**
   * One round: every light queue, then every queue left from earlier rounds,
   * up to one quantum each; a round past `roundBudgetMs` stops after the
   * current slice, serving at least one backlog, and the light queues not yet
   * served go first in the next one.
   */
  round(): void {
    this.scheduled = false;
    this.running = true;
    const budget = this.quiet && this.ring.length === this.ringHead
      ? this.roundBudgetMs * QUIET_ROUND_BUDGETS
      : this.roundBudgetMs;
    this.quiet = false;
    // One clock reading per served queue: each serve starts from the reading
    // the last one ended with (a login storm read the clock ~50 times a login).
    let now = budget === Infinity ? 0 : this.clock.now();
    const deadline = now + budget;
    let over = false;
    // Queues that join the ring during this round wait for the next one.
    let left = this.ring.length - this.ringHead;
    try {
      // Light queues: those that arrive during the round join the list past
      // `end` and wait for the next one. Cut short, the round leaves the rest
      // ahead of them, so that a stream of light newcomers cannot starve them.
      // (A head index, not a copy of the rest: with a hundred logins in
      // flight, most rounds end early, and copying cost each ~2 KB.)
      const light = this.light;
      const start = this.lightHead;
      const end = light.length;
      while (this.lightHead < end && !over) {
        now = this.#serve(light[this.lightHead++] as Queue, deadline, now);
        over = now >= deadline;
      }
      const served = this.lightHead - start;
      this.lightHead = compacted(light, this.lightHead);
      if (served > 0) this.onLightServed?.();
      // Backlogs: each up to one quantum, those served go to the back; at
      // least one per round, so that light newcomers cannot starve them.
      if (over) left = Math.min(left, 1);
      while (left-- > 0) {
        const queue = this.ring[this.ringHead++] as Queue;
        now = this.#serve(queue, deadline, now);
        if (now >= deadline) break;
      }
      this.ringHead = compacted(this.ring, this.ringHead);
    } finally {
      this.running = false;
    }
    this.ensureScheduled();
    this.rethrow();
  }

  /**
   * Serves one queue up to one quantum, stopping early at `deadline`; one
   * still holding a backlog joins the ring's back. `now` is the clock's
   * reading before; returns its reading after (0 when `deadline` is `Infinity`).
   */
  #serve(queue: Queue, deadline: number, now: number): number {
    if (queue.closed) {
      queue.inRing = false;
      return now;
    }
    try {
      now = queue.serve(this.quantum, deadline, now);
    } catch (error) {
      this.fail(queue, error); // the transport's resume() threw
      now = deadline === Infinity ? 0 : this.clock.now();
    }
    if (queue.queuedBytes > 0 && !queue.closed) {
      queue.inRing = true;
      this.ring.push(queue);
    } else {
      queue.inRing = false;
    }
    return now;
  }

  fail(queue: Queue, error: unknown): void {
    queue.close();
    if (this.onError !== undefined) {
      try {
        this.onError(error);
        return;
      } catch (thrown) {
        error = thrown;
      }
    }
    // Kept for rethrow(), once the scheduler's state is consistent again.
    if (!this.failed) {
      this.failed = true;
      this.failure = error;
    }
  }

  rethrow(): void {
    if (!this.failed) return;
    const error = this.failure;
    this.failed = false;
    this.failure = undefined;
    throw error;
  }
}

/**
 * Drops the entries of `list` before `head` (served) once they are all of it,
 * or past 64 and half of it; returns the head index after that.
 */
function compacted<T>(list: T[], head: number): number {
  if (head === list.length) {
    list.length = 0;
    return 0;
  }
  if (head >= 64 && head * 2 >= list.length) {
    list.splice(0, head);
    return 0;
  }
  return head;
}

/** A connection's queue: chunks from `head` on are waiting, the first possibly sliced. */
class Queue implements FairInputQueue {
  readonly #scheduler: Scheduler;
  readonly #process: (chunk: Uint8Array) => void;
  readonly #target: Pick<Transport, "pause" | "resume"> | undefined;
  #chunks: Uint8Array[] = [];
  #head = 0;
  #queuedBytes = 0;
  #paused = false;
  #closed = false;
  /** Whether the transport resumed with held input and has not handed over a chunk since. */
  #resumed = false;
  /** Whether the queue is in the scheduler's `light` list or `ring` (or the batch being served). */
  inRing = false;
  /** What processing one byte of this connection's input took lately, in ms (a moving average). */
  #msPerByte = 0;

  constructor(
    scheduler: Scheduler,
    process: (chunk: Uint8Array) => void,
    target: Pick<Transport, "pause" | "resume"> | undefined,
  ) {
    this.#scheduler = scheduler;
    this.#process = process;
    this.#target = target;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(chunk: Uint8Array): void {
    const size = chunk.byteLength;
    if (this.#closed || size === 0) return;
    const scheduler = this.#scheduler;
    const resumed = this.#resumed;
    this.#resumed = false;
    if (scheduler.running || scheduler.waiting() > 0) {
      if (scheduler.polling && !resumed) scheduler.endPoll();
      return this.#enqueue(chunk);
    }
    scheduler.fromIdle = true;
    if (scheduler.turnSpentMs >= scheduler.roundBudgetMs) {
      // This turn's reads already took a round's budget: the rest wait for a
      // round, so that one read does not wait behind every other read of the turn.
      return this.#enqueue(chunk);
    }
    // Idle: nothing waits anywhere, so this connection's first slice runs now.
    const timed = scheduler.timesTurns;
    const start = timed ? scheduler.clock.now() : 0;
    const first = timed
      ? this.#sliceBytes(
        Math.min(size, scheduler.quantum),
        scheduler.roundBudgetMs - scheduler.turnSpentMs,
      )
      : Math.min(size, scheduler.quantum);
    scheduler.running = true;
    try {
      this.#processOne(size <= first ? chunk : chunk.subarray(0, first));
      if (size > first && !this.#closed) this.#enqueue(chunk.subarray(first));
    } finally {
      scheduler.running = false;
    }
    if (timed) {
      const spent = scheduler.clock.now() - start;
      this.#learnCost(spent, first);
      scheduler.turnSpentMs += spent;
      if (!scheduler.turnEndScheduled) {
        scheduler.turnEndScheduled = true;
        scheduler.schedule(scheduler.endTurn);
      }
    }
    // `process` may have pushed (to any queue) meanwhile.
    scheduler.ensureScheduled();
    scheduler.rethrow();
  }

  heldInputResumed(): void {
    this.#resumed = true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const scheduler = this.#scheduler;
    scheduler.queuedBytes -= this.#queuedBytes;
    this.#queuedBytes = 0;
    this.#chunks = [];
    this.#head = 0;
    if (this.inRing && !scheduler.running) {
      const light = scheduler.light.indexOf(this, scheduler.lightHead);
      if (light >= 0) scheduler.light.splice(light, 1);
      const at = scheduler.ring.indexOf(this, scheduler.ringHead);
      if (at >= 0) scheduler.ring.splice(at, 1);
      this.inRing = false;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Processes up to `allowance` bytes of the backlog, in slices sized to end
   * by `deadline` at this connection's recent cost per byte, stopping at the
   * first slice that ends past it; then resumes the transport if drained
   * enough. `now` is the clock's reading before; returns its reading after
   * (0 when `deadline` is `Infinity`: nothing is timed).
   */
  serve(allowance: number, deadline: number, now: number): number {
    const chunks = this.#chunks;
    const clock = this.#scheduler.clock;
    while (allowance > 0 && this.#head < chunks.length) {
      let piece = chunks[this.#head] as Uint8Array;
      const size = deadline === Infinity ? allowance : this.#sliceBytes(allowance, deadline - now);
      if (piece.byteLength <= size) {
        this.#head++;
      } else {
        chunks[this.#head] = piece.subarray(size);
        piece = piece.subarray(0, size);
      }
      allowance -= piece.byteLength;
      this.#queuedBytes -= piece.byteLength;
      this.#scheduler.queuedBytes -= piece.byteLength;
      this.#processOne(piece);
      if (this.#closed) return deadline === Infinity ? 0 : clock.now();
      if (deadline !== Infinity) {
        const started = now;
        now = clock.now();
        this.#learnCost(now - started, piece.byteLength);
        if (now >= deadline) break;
      }
    }
    this.#head = compacted(chunks, this.#head);
    if (this.#paused && this.#queuedBytes <= this.#scheduler.quantum) {
      this.#paused = false;
      this.#target?.resume();
    }
    return now;
  }

  /**
   * How many of `allowance` bytes to process next with `remainingMs` of the
   * budget left: all of them when that costs less than a round's budget,
   * else as many as fit `remainingMs`, at least `MIN_SLICE_BYTES`.
   */
  #sliceBytes(allowance: number, remainingMs: number): number {
    const msPerByte = this.#msPerByte;
    if (allowance * msPerByte <= this.#scheduler.roundBudgetMs) return allowance;
    return Math.min(allowance, Math.max(MIN_SLICE_BYTES, Math.floor(remainingMs / msPerByte)));
  }

  /** Folds one measurement into the moving average of the cost per byte. */
  #learnCost(ms: number, bytes: number): void {
    const cost = ms / bytes;
    this.#msPerByte = this.#msPerByte === 0 ? cost : this.#msPerByte * 0.75 + cost * 0.25;
  }

  #processOne(chunk: Uint8Array): void {
    try {
      this.#process(chunk);
    } catch (error) {
      this.#scheduler.fail(this, error);
    }
  }

  #enqueue(chunk: Uint8Array): void {
    const scheduler = this.#scheduler;
    this.#chunks.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    scheduler.queuedBytes += chunk.byteLength;
    if (!this.inRing) {
      this.inRing = true;
      (chunk.byteLength <= LIGHT_BYTES ? scheduler.light : scheduler.ring).push(this);
      scheduler.ensureScheduled();
    }
    if (!this.#paused && this.#queuedBytes > scheduler.highWater && this.#target !== undefined) {
      this.#paused = true;
      this.#target.pause();
    }
  }
}

/**
 * Shares parse time fairly between connections: one per server (or per
 * listener), one {@linkcode FairInputQueue} per connection. Feed every chunk
 * read from a connection (after `Karma.consume()` from `karma.ts`, if
 * bandwidth is limited) to its queue; the queue calls `process` with the bytes in order,
 * in slices of at most `quantumBytes`, one connection after the other.
 *
 * @example Usage
 * ```ts
 * import { FairInput } from "./fair_input.ts";
 * import assert from "node:assert/strict";
 *
 * const tasks: (() => void)[] = [];
 * const fair = new FairInput({ quantumBytes: 4, schedule: (task) => tasks.push(task) });
 * const log: string[] = [];
 * const decoder = new TextDecoder();
 * const flood = fair.register((chunk) => log.push(`a:${decoder.decode(chunk)}`));
 * const chat = fair.register((chunk) => log.push(`b:${decoder.decode(chunk)}`));
 * const encoder = new TextEncoder();
 *
 * flood.push(encoder.encode("aaaaAAAAaaaa")); // idle: the first quantum runs at once
 * chat.push(encoder.encode("<b/>")); // queued behind the flood's backlog
 * assert.deepEqual(log, ["a:aaaa"]);
 * tasks.shift()!(); // one round: one quantum each
 * assert.deepEqual(log, ["a:aaaa", "a:AAAA", "b:<b/>"]);
 * tasks.shift()!();
 * assert.deepEqual(log, ["a:aaaa", "a:AAAA", "b:<b/>", "a:aaaa"]);
 * assert.equal(tasks.length, 0); // drained: idle again
 * ```
 */
export class FairInput {
  readonly #scheduler: Scheduler;

  /**
   * Creates a scheduler with no connections.
   *
   * @param options Quantum, backlog cap, the yield between rounds and the error sink.
   * @throws {RangeError} If `quantumBytes` is not a positive integer,
   * `maxQueuedQuanta` is not an integer ≥ 1, `ioPollEveryMs` is negative or not
   * finite, or `roundBudgetMs` is not > 0.
   * @throws {TypeError} If `schedule`, `ioPoll`, `onError` or `onLightServed` is given but
   * not a function.
   */
  constructor(options: FairInputOptions = {}) {
    const quantum = options.quantumBytes ?? DEFAULT_QUANTUM_BYTES;
    const quanta = options.maxQueuedQuanta ?? DEFAULT_MAX_QUEUED_QUANTA;
    if (!Number.isSafeInteger(quantum) || quantum < 1) {
      throw new RangeError(
        `Cannot create fair input: 'quantumBytes' must be a positive integer, got ${quantum}`,
      );
    }
    if (!Number.isSafeInteger(quanta) || quanta < 1) {
      throw new RangeError(
        `Cannot create fair input: 'maxQueuedQuanta' must be an integer >= 1, got ${quanta}`,
      );
    }
    const schedule = options.schedule ?? scheduleImmediate;
    if (typeof schedule !== "function") {
      throw new TypeError("Cannot create fair input: 'schedule' must be a function");
    }
    if (options.onError !== undefined && typeof options.onError !== "function") {
      throw new TypeError("Cannot create fair input: 'onError' must be a function");
    }
    if (options.onLightServed !== undefined && typeof options.onLightServed !== "function") {
      throw new TypeError("Cannot create fair input: 'onLightServed' must be a function");
    }
    const pollEveryMs = options.ioPollEveryMs ?? DEFAULT_IO_POLL_EVERY_MS;
    if (!(pollEveryMs >= 0) || pollEveryMs === Infinity) {
      throw new RangeError(
        `Cannot create fair input: 'ioPollEveryMs' must be a finite number >= 0, got ${pollEveryMs}`,
      );
    }
    const ioPoll = options.ioPoll === undefined
      ? (options.schedule === undefined ? pollThroughTimer : null)
      : options.ioPoll;
    if (ioPoll !== null && typeof ioPoll !== "function") {
      throw new TypeError("Cannot create fair input: 'ioPoll' must be a function or null");
    }
    const roundBudgetMs = options.roundBudgetMs ??
      (options.schedule === undefined ? DEFAULT_ROUND_BUDGET_MS : Infinity);
    if (!(roundBudgetMs > 0)) {
      throw new RangeError(
        `Cannot create fair input: 'roundBudgetMs' must be a number > 0, got ${roundBudgetMs}`,
      );
    }
    this.#scheduler = new Scheduler(
      quantum,
      quantum * quanta,
      schedule,
      options.onError,
      options.clock ?? systemTimers,
      pollEveryMs,
      ioPoll,
      roundBudgetMs,
      options.onLightServed,
    );
  }

  /**
   * The most bytes processed for one connection per round.
   *
   * @returns The `quantumBytes` option.
   */
  get quantumBytes(): number {
    return this.#scheduler.quantum;
  }

  /**
   * Bytes waiting in all queues.
   *
   * @returns The sum of every open queue's {@linkcode FairInputQueue.queuedBytes}.
   */
  get queuedBytes(): number {
    return this.#scheduler.queuedBytes;
  }

  /**
   * Connections with a backlog, waiting for the next round.
   *
   * @returns How many queues the next round serves.
   */
  get waitingQueues(): number {
    return this.#scheduler.waiting();
  }

  /**
   * Adds a connection.
   *
   * @param process Receives the connection's bytes in order (e.g. the stream
   * parser's feed). It should not throw; if it does, the queue is closed.
   * @param target The transport to pause while the backlog is over the cap;
   * without it the backlog is not bounded here.
   * @returns The connection's queue; close it when the connection closes.
   */
  register(
    process: (chunk: Uint8Array) => void,
    target?: Pick<Transport, "pause" | "resume">,
  ): FairInputQueue {
    return new Queue(this.#scheduler, process, target);
  }
}
