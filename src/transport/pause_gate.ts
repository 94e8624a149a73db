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
 * const gate = new PauseGate({ pause: () => calls.push("pause"), resume: () => calls.push("resume") });
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
  #target: Pausable;
  #held = 0;
  #next = 0;

  /** @param target The transport to pause and resume. */
  constructor(target: Pausable) {
    this.#target = target;
  }

  /** Whether any party holds the transport paused. */
  get paused(): boolean {
    return this.#held !== 0;
  }

  /**
   * A new party's switch.
   *
   * @throws {RangeError} After 30 handles.
   */
  handle(): PauseHandle {
    if (this.#next >= 30) throw new RangeError("Cannot add a pause handle: a gate has at most 30");
    const bit = 1 << this.#next++;
    const holds = () => (this.#held & bit) !== 0;
    const pause = () => {
      if (this.#held === 0) this.#target.pause();
      this.#held |= bit;
    };
    const resume = () => {
      if (!holds()) return;
      this.#held &= ~bit;
      if (this.#held === 0) this.#target.resume();
    };
    return {
      get paused() {
        return holds();
      },
      pause,
      resume,
    };
  }
}
