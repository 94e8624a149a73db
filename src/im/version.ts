/**
 * XEP-0092 software version, answered only when configured (it tells an
 * attacker which release runs).
 *
 * @module
 */

import type { IqRegistry } from "../routing/iq_registry.ts";
import { el } from "../xml/element.ts";
import { NS_VERSION } from "../xml/ns.ts";
import type { DiscoInfo } from "./disco.ts";

/** What to announce. */
export interface SoftwareVersion {
  name: string;
  version: string;
  os?: string | undefined;
}

/**
 * Answers `jabber:iq:version` queries to the server.
 *
 * @param iq The registry to add the handler to.
 * @param disco Where to announce the feature.
 * @param software The name, version and optional OS to report.
 * @returns A disposable that removes the handler and withdraws the feature.
 *
 * @example Usage
 * ```ts
 * import { registerVersion } from "./version.ts";
 * import { DiscoInfo } from "./disco.ts";
 * import { IqRegistry } from "../routing/iq_registry.ts";
 * import { el } from "../xml/element.ts";
 * import assert from "node:assert/strict";
 *
 * const iq = new IqRegistry();
 * using _version = registerVersion(iq, new DiscoInfo(), { name: "xmppd", version: "1.0" });
 * const request = el("iq", { xmlns: "jabber:client", type: "get", id: "v", from: "a@x/r" },
 *   el("query", { xmlns: "jabber:iq:version" }));
 * const reply = await iq.handle("host", request, "x");
 * assert.equal(reply?.getChild("query")?.getChildText("name"), "xmppd");
 * ```
 */
export function registerVersion(
  iq: IqRegistry,
  disco: DiscoInfo,
  software: SoftwareVersion,
): Disposable {
  const stack = new DisposableStack();
  // Handler first: if it cannot be registered, the feature must not be announced.
  stack.use(iq.set("host", "get", NS_VERSION, "query", () =>
    el(
      "query",
      { xmlns: NS_VERSION },
      el("name", {}, software.name),
      el("version", {}, software.version),
      software.os !== undefined && el("os", {}, software.os),
    )));
  stack.use(disco.addFeature(NS_VERSION));
  return stack;
}
