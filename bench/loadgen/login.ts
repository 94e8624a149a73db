/**
 * Client-side stream negotiation for the load generator: SASL PLAIN or
 * SCRAM, stream restart, resource binding and initial presence; plus
 * in-band registration (XEP-0077) to create accounts on servers that allow
 * it, and a salt-discovery half-login used to warm the SCRAM key cache.
 *
 * @module
 */

import { attribute, childText } from "./framer.ts";
import {
  deriveScramKeys,
  parseServerFirst,
  ScramExchange,
  type ScramKeyCache,
} from "./scram_client.ts";
import type { XmppConnection } from "./connection.ts";

/** SASL mechanisms the load generator speaks. */
export type Mechanism = "PLAIN" | "SCRAM-SHA-1" | "SCRAM-SHA-256";

/** Options for {@linkcode login}. */
export interface LoginOptions {
  /** The account's localpart. */
  username: string;
  /** Its password. */
  password: string;
  /** SASL mechanism; the server must offer it. */
  mechanism: Mechanism;
  /** Resource to bind. @default the server's choice */
  resource?: string;
  /** SCRAM key cache (RFC 5802 §5.1 lets clients cache the salted password). */
  cache?: ScramKeyCache;
  /** Send initial presence after binding. @default {true} */
  presence?: boolean;
  /** Per-reply timeout. @default {10000} */
  timeoutMs?: number;
}

/** A SASL, bind or registration failure, with the server's reply. */
export class LoginError extends Error {
  /** @param message What failed, with the server's reply. */
  constructor(message: string) {
    super(message);
    this.name = "LoginError";
  }
}

const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";

async function features(conn: XmppConnection, timeoutMs: number): Promise<string> {
  for (;;) {
    const xml = await conn.next(timeoutMs);
    if (xml.startsWith("<stream:features")) return xml;
    if (xml.startsWith("<stream:error")) throw new LoginError(`Stream error: ${xml}`);
  }
}

async function saslReply(conn: XmppConnection, timeoutMs: number): Promise<string> {
  for (;;) {
    const xml = await conn.next(timeoutMs);
    if (xml.startsWith("<stream:error")) throw new LoginError(`Stream error: ${xml}`);
    if (
      xml.startsWith("<challenge") || xml.startsWith("<success") ||
      xml.startsWith("<failure")
    ) return xml;
  }
}

function saslText(xml: string): string {
  const gt = xml.indexOf(">");
  if (xml.charCodeAt(gt - 1) === 47) return "";
  return atob(xml.slice(gt + 1, xml.lastIndexOf("</")).trim());
}

/**
 * Logs in on a fresh connection: stream, SASL, restart, bind, presence.
 *
 * @param conn A connected, not yet negotiated connection.
 * @param options Account, mechanism and resource.
 * @returns The bound full JID.
 * @throws {LoginError} On a SASL failure, a bind error or a stream error.
 * @throws {ConnectionClosedError} If the server closes or stays silent.
 *
 * @example Usage
 * ```ts ignore
 * import { XmppConnection } from "./connection.ts";
 * import { login } from "./login.ts";
 *
 * const conn = await XmppConnection.connect({ host: "127.0.0.1", port: 5222, domain: "localhost" });
 * const jid = await login(conn, { username: "bench1", password: "pw", mechanism: "SCRAM-SHA-1" });
 * ```
 */
export async function login(conn: XmppConnection, options: LoginOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  conn.openStream();
  const offered = await features(conn, timeoutMs);
  if (!offered.includes(`>${options.mechanism}<`)) {
    throw new LoginError(`Cannot log in: ${options.mechanism} is not offered: ${offered}`);
  }
  if (options.mechanism === "PLAIN") {
    const auth = btoa(`\0${options.username}\0${options.password}`);
    conn.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${auth}</auth>`);
    const reply = await saslReply(conn, timeoutMs);
    if (!reply.startsWith("<success")) throw new LoginError(`SASL PLAIN failed: ${reply}`);
  } else {
    const exchange = new ScramExchange(
      options.mechanism === "SCRAM-SHA-1" ? "SHA-1" : "SHA-256",
      options.username,
    );
    conn.send(
      `<auth xmlns='${NS_SASL}' mechanism='${exchange.mechanism}'>${
        btoa(exchange.clientFirst())
      }</auth>`,
    );
    const challenge = await saslReply(conn, timeoutMs);
    if (!challenge.startsWith("<challenge")) {
      throw new LoginError(`SASL ${exchange.mechanism} failed: ${challenge}`);
    }
    const serverFirst = saslText(challenge);
    const keys = await deriveScramKeys(
      exchange.hash,
      options.password,
      parseServerFirst(serverFirst),
      options.cache,
    );
    conn.send(
      `<response xmlns='${NS_SASL}'>${btoa(exchange.clientFinal(serverFirst, keys))}</response>`,
    );
    let reply = await saslReply(conn, timeoutMs);
    if (reply.startsWith("<challenge")) {
      // Some servers send the server-final message as a challenge (RFC 6120 §6.3.10 allows it).
      if (!exchange.verifyServerFinal(saslText(reply))) {
        throw new LoginError(`Bad SCRAM server signature: ${reply}`);
      }
      conn.send(`<response xmlns='${NS_SASL}'/>`);
      reply = await saslReply(conn, timeoutMs);
    } else if (reply.startsWith("<success") && !exchange.verifyServerFinal(saslText(reply))) {
      throw new LoginError(`Bad SCRAM server signature: ${reply}`);
    }
    if (!reply.startsWith("<success")) {
      throw new LoginError(`SASL ${exchange.mechanism} failed: ${reply}`);
    }
  }
  conn.openStream();
  await features(conn, timeoutMs);
  const inner = options.resource === undefined ? "" : `<resource>${options.resource}</resource>`;
  conn.send(
    `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${inner}</bind></iq>`,
  );
  for (;;) {
    const xml = await conn.next(timeoutMs);
    if (xml.startsWith("<stream:error")) throw new LoginError(`Stream error: ${xml}`);
    if (!xml.startsWith("<iq") || attribute(xml, "id") !== "bind1") continue;
    const jid = childText(xml, "jid");
    if (attribute(xml, "type") !== "result" || jid === undefined) {
      throw new LoginError(`Bind failed: ${xml}`);
    }
    if (options.presence ?? true) conn.send("<presence/>");
    return jid;
  }
}

/**
 * Starts a SCRAM exchange only to learn the account's salt and iteration
 * count, derives the keys into `cache`, and closes the connection.
 *
 * @param conn A fresh connection.
 * @param options Account and SCRAM mechanism; `cache` is required.
 * @returns When the keys are cached.
 * @throws {LoginError} If the mechanism is not offered or no challenge comes.
 */
export async function warmScramCache(
  conn: XmppConnection,
  options: LoginOptions & { cache: ScramKeyCache },
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    conn.openStream();
    const offered = await features(conn, timeoutMs);
    if (!offered.includes(`>${options.mechanism}<`)) {
      throw new LoginError(`Cannot log in: ${options.mechanism} is not offered`);
    }
    const exchange = new ScramExchange(
      options.mechanism === "SCRAM-SHA-256" ? "SHA-256" : "SHA-1",
      options.username,
    );
    conn.send(
      `<auth xmlns='${NS_SASL}' mechanism='${exchange.mechanism}'>${
        btoa(exchange.clientFirst())
      }</auth>`,
    );
    const challenge = await saslReply(conn, timeoutMs);
    if (!challenge.startsWith("<challenge")) throw new LoginError(`No challenge: ${challenge}`);
    await deriveScramKeys(
      exchange.hash,
      options.password,
      parseServerFirst(saslText(challenge)),
      options.cache,
    );
  } finally {
    conn.destroy();
  }
}

/**
 * Creates an account by in-band registration (XEP-0077).
 *
 * @param conn A fresh connection.
 * @param username The localpart.
 * @param password The password.
 * @param timeoutMs Per-reply timeout.
 * @returns `"created"` or `"exists"`.
 * @throws {LoginError} If the server refuses for another reason.
 */
export async function register(
  conn: XmppConnection,
  username: string,
  password: string,
  timeoutMs = 10_000,
): Promise<"created" | "exists"> {
  try {
    conn.openStream();
    await features(conn, timeoutMs);
    conn.send(
      `<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>${username}` +
        `</username><password>${password}</password></query></iq>`,
    );
    for (;;) {
      const xml = await conn.next(timeoutMs);
      if (xml.startsWith("<stream:error")) throw new LoginError(`Stream error: ${xml}`);
      if (!xml.startsWith("<iq") || attribute(xml, "id") !== "reg1") continue;
      if (attribute(xml, "type") === "result") return "created";
      if (xml.includes("<conflict")) return "exists";
      throw new LoginError(`Registration of '${username}' failed: ${xml}`);
    }
  } finally {
    conn.end();
  }
}
