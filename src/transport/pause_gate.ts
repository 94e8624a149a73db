/**
 * Several parties pause one transport for their own reasons (the stream
 * during STARTTLS and SASL, the bandwidth limiter, the fair input queue).
 * Reading resumes only when none of them holds it paused, so a karma timer
 * can never restart reading in the middle of a TLS upgrade.
 *
 * @module
 */

/** What a gate pauses. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/** What a {@linkcode PauseGate} pauses: a transport's reading. */
export interface PausableInput extends Pausable {
  /**
   * Whether input read before the pause waits in the transport, so that
   * `resume()` delivers it without reading from the peer again.
   */
  readonly holdsInput: boolean;
}

/** Told each time a {@linkcode PauseGate} resumes a transport that holds input. */
export interface HeldInputObserver {
  /** Reading resumes with held input: the next chunk comes from the transport's buffer, not from a socket read. */
  heldInputResumed(): void;
}

/** One party's switch on a {@linkcode PauseGate}. */
export interface PauseHandle extends Pausable {
  /** Whether this party holds the transport paused. */
  readonly paused: boolean;
}

/**
 * Combines pause requests from up to 30 parties over one transport.
 *
 * @example Usage
 * ```ts
 * import { PauseGate } from "./pause_gate.ts";
 * import assert from "node:assert/strict";
 *
 * const calls: string[] = [];
 * const gate = new PauseGate({
 *   holdsInput: false,
 *   pause: () => calls.push("pause"),
 *   resume: () => calls.push("resume"),
 * });
 * const stream = gate.handle();
 * const karma = gate.handle();
 * stream.pause();
 * karma.pause();
 * karma.resume(); // the stream still holds it
 * stream.resume();
 * assert.deepEqual(calls, ["pause", "resume"]);
 * ```
 */
export class PauseGate {
  #state: GateState;
  #next = 0;

  /** @param target The transport to pause and resume. */
  constructor(target: PausableInput) {
    this.#state = new GateState(target);
  }

  /** Whether any party holds the transport paused. */
  get paused(): boolean {
    return this.#state.held !== 0;
  }

  /**
   * Tells `observer` each time the gate resumes the transport while it holds
   * input, whichever party's resume it was; replaces any earlier observer.
   *
   * @param observer Receives `heldInputResumed()` just before the transport resumes.
   *
   * @example Usage
   * ```ts
   * import { PauseGate } from "./pause_gate.ts";
   * import assert from "node:assert/strict";
   *
   * const transport = { holdsInput: false, pause() {}, resume() {} };
   * const gate = new PauseGate(transport);
   * let heldResumes = 0;
   * gate.observe({ heldInputResumed: () => heldResumes++ });
   * const karma = gate.handle();
   * karma.pause();
   * karma.resume(); // nothing was read meanwhile
   * karma.pause();
   * transport.holdsInput = true; // a read in flight landed in the transport's buffer
   * karma.resume();
   * assert.equal(heldResumes, 1);
   * ```
   */
  observe(observer: HeldInputObserver): void {
    this.#state.observer = observer;
  }

  /**
   * A new party's switch.
   *
   * @throws {RangeError} After 30 handles.
   */
  handle(): PauseHandle {
    if (this.#next >= 30) throw new RangeError("Cannot add a pause handle: a gate has at most 30");
    return new GateHandle(this.#state, 1 << this.#next++);
  }
}

/** The bits of the parties holding the transport paused; shared by a gate and its handles. */
class GateState {
  held = 0;
  readonly target: PausableInput;
  observer: HeldInputObserver | undefined = undefined;

  constructor(target: PausableInput) {
    this.target = target;
  }
}

// A class rather than an object literal of closures: one small object per
// handle instead of three closures, their context and a getter's dictionary
// (about 900 bytes per connection with three handles, measured in a heap snapshot).
class GateHandle implements PauseHandle {
  readonly #state: GateState;
  readonly #bit: number;

  constructor(state: GateState, bit: number) {
    this.#state = state;
    this.#bit = bit;
  }

  get paused(): boolean {
    return (this.#state.held & this.#bit) !== 0;
  }

  pause(): void {
    const state = this.#state;
    if (state.held === 0) state.target.pause();
    state.held |= this.#bit;
  }

  resume(): void {
    const state = this.#state;
    if ((state.held & this.#bit) === 0) return;
    state.held &= ~this.#bit;
    if (state.held === 0) {
      if (state.target.holdsInput) state.observer?.heldInputResumed();
      state.target.resume();
    }
  }
}
