/**
 * An embeddable XMPP server for Deno, hardened per XEP-0205.
 *
 * Start one in code with the same configuration object the YAML file uses:
 *
 * ```ts
 * import { XmppServer } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = new XmppServer({
 *   domain: "localhost",
 *   listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
 *   storage: { type: "memory" },
 *   accounts: [{ jid: "alice@localhost", password: "alice-secret" }],
 * });
 * await server.start();
 * assert.ok(server.addresses[0]!.port > 0);
 * ```
 *
 * @module
 */

export {
  type LimitsAdmin,
  type ListenerAddress,
  type ServerEvents,
  XmppServer,
  type XmppServerOptions,
} from "./src/server.ts";
export {
  resolveConfig,
  type ResolveConfigOptions,
  type ServerConfig,
  type ServerConfigInput,
} from "./src/config/schema.ts";
export { ConfigError } from "./src/config/validate.ts";
export {
  loadConfigFile,
  parseConfigYaml,
  type ParseConfigYamlOptions,
} from "./src/config/load_yaml.ts";
export { type AttrInput, el, Element, type XmlNode } from "./src/xml/element.ts";
export { serialize } from "./src/xml/serialize.ts";
export * as ns from "./src/xml/ns.ts";
export { Jid, JidError } from "./src/jid/jid.ts";
export {
  errorReply,
  StanzaError,
  type StanzaErrorCondition,
  type StanzaErrorType,
} from "./src/errors/stanza_error.ts";
export { StreamError, type StreamErrorCondition } from "./src/errors/stream_error.ts";
export type { IqHandler, IqRequest, IqScope } from "./src/routing/iq_registry.ts";
export type { C2sSession, SessionPhase } from "./src/stream/c2s_session.ts";
export type { Transport, TransportHandler, TransportType } from "./src/transport/transport.ts";
export type {
  AccountRecord,
  AccountStore,
  ScramCredentials,
  ScramHash,
} from "./src/storage/account_store.ts";
export { MemoryAccountStore } from "./src/storage/memory_account_store.ts";
export { SqliteAccountStore } from "./src/storage/sqlite_account_store.ts";
export type { LimitEvent, LimitsSnapshot } from "./src/limits/limit_engine.ts";
export type { BanEntry, BanOptions } from "./src/limits/ban_list.ts";
export type { ConnectionGuardSnapshot, PressureLevel } from "./src/limits/connection_guard.ts";
export type { LimitMode, LimitsConfig } from "./src/config/schema.ts";
export { type Clock, systemTimers, type TimerId, type Timers } from "./src/core/clock.ts";
export { EventBus, type EventHandler } from "./src/core/events.ts";
export { type LogFields, type LogFormat, Logger, type LogLevel } from "./src/core/log.ts";
export type { ServerStats } from "./src/core/stats.ts";
