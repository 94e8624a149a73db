/**
 * The smallest embedding: an XMPP server for two accounts inside a Deno app,
 * configured in code, stopped cleanly on Ctrl-C (every client gets
 * `<system-shutdown/>`).
 *
 * Run: deno run -A examples/minimal.ts (XMPP_PORT and XMPP_TLS_REQUIRED=false override)
 * Then log in as alice@localhost (password alice-secret) or bob@localhost
 * (bob-secret) on port 5222 and write to each other.
 *
 * @module
 */

import { XmppServer } from "../mod.ts";

const server = new XmppServer({
  domain: "localhost",
  listen: [{ type: "c2s", host: "127.0.0.1", port: Number(Deno.env.get("XMPP_PORT") ?? 5222) }],
  tls: { required: Deno.env.get("XMPP_TLS_REQUIRED") !== "false" },
  storage: { type: "memory" },
  accounts: [
    { jid: "alice@localhost", password: "alice-secret" },
    { jid: "bob@localhost", password: "bob-secret" },
  ],
});
await server.start();

const stop = Promise.withResolvers<void>();
Deno.addSignalListener("SIGINT", () => stop.resolve());
Deno.addSignalListener("SIGTERM", () => stop.resolve());
await stop.promise;
await server.stop();
Deno.exit(0);
