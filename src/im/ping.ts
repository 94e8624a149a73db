/**
 * XEP-0199: the server answers pings addressed to it.
 *
 * @module
 */

import type { IqRegistry } from "../routing/iq_registry.ts";
import { NS_PING } from "../xml/ns.ts";
import type { DiscoInfo } from "./disco.ts";

/**
 * Answers `<ping xmlns='urn:xmpp:ping'/>` to the server with an empty result.
 *
 * @param iq The registry to add the handler to.
 * @param disco Where to announce the feature.
 * @returns A disposable that removes the handler and withdraws the feature.
 *
 * @example Usage
 * ```ts
 * import { registerPing } from "./ping.ts";
 * import { DiscoInfo } from "./disco.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = new IqRegistry();
 * const disco = new DiscoInfo();
 * using _ping = registerPing(iq, disco);
 * assert.ok(disco.toElement().getChildren("feature").some((f) => f.attrs.var === "urn:xmpp:ping"));
 * const ping = el("iq", { xmlns: "jabber:client", type: "get", id: "p", from: "a@x/r", to: "x" },
 *   el("ping", { xmlns: "urn:xmpp:ping" }));
 * assert.equal((await iq.handle("host", ping, "x"))?.attrs.type, "result");
 * ```
 */
export function registerPing(iq: IqRegistry, disco: DiscoInfo): Disposable {
  const stack = new DisposableStack();
  // Handler first: if it cannot be registered, the feature must not be announced.
  stack.use(iq.set("host", "get", NS_PING, "ping", () => undefined));
  stack.use(disco.addFeature(NS_PING));
  return stack;
}
