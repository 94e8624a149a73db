/**
 * Counters of what the server has done since it started, for metrics and
 * the admin API. Plain numbers bumped on the hot path: no allocation, no
 * locking, read whenever metrics are scraped.
 *
 * @module
 */

/** Server-wide counters. */
export interface ServerStats {
  /** Connections accepted, by transport type. */
  connectionsAccepted: Record<string, number>;
  /** Connections refused at accept (limits, bans, overload). */
  connectionsRefused: number;
  /** Successful authentications. */
  logins: number;
  /** Failed SASL attempts. */
  loginFailures: number;
  /** Stanzas received from bound clients. */
  stanzasIn: number;
  /** Stanzas and nonzas written to clients. */
  stanzasOut: number;
  /** Bytes read from clients. */
  bytesIn: number;
  /** Characters written to clients (bytes for ASCII traffic). */
  bytesOut: number;
  /** Streams closed with a stream error, by condition. */
  streamErrors: Record<string, number>;
}

/**
 * Fresh, zeroed counters.
 *
 * @example Usage
 * ```ts
 * import { createStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 *
 * const stats = createStats();
 * stats.stanzasIn++;
 * assert.equal(stats.stanzasIn, 1);
 * ```
 */
export function createStats(): ServerStats {
  return {
    connectionsAccepted: {},
    connectionsRefused: 0,
    logins: 0,
    loginFailures: 0,
    stanzasIn: 0,
    stanzasOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    streamErrors: {},
  };
}
