/**
 * Test helpers for code that embeds the server: a manual clock and an
 * in-memory transport pair.
 *
 * ```ts
 * import { ManualClock } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * clock.advance(5);
 * assert.equal(clock.now(), 5);
 * ```
 *
 * @module
 */

export { ManualClock } from "./manual_clock.ts";
