/**
 * Whether a listening host stays on this machine. The admin listener may run
 * without a token only there: anything else is reachable from the network.
 *
 * @module
 */

import { canonicalIp } from "../config/validate.ts";

/**
 * Returns true when `host` names a loopback interface: `localhost`, an
 * address in `127.0.0.0/8`, `::1`, or an IPv4-mapped `::ffff:127.x.y.z`.
 * Anything else, including `0.0.0.0` and `::` (every interface), is false.
 *
 * @param host A host name or IP address (IPv6 without brackets).
 * @returns Whether binding to it keeps a listener off the network.
 *
 * @example Usage
 * ```ts
 * import { isLoopbackHost } from "./loopback.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isLoopbackHost("127.0.0.1"));
 * assert.ok(isLoopbackHost("::1"));
 * assert.ok(isLoopbackHost("localhost"));
 * assert.ok(!isLoopbackHost("0.0.0.0"));
 * assert.ok(!isLoopbackHost("192.0.2.1"));
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const ip = canonicalIp(host);
  if (ip === undefined) return false;
  return ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127.");
}
