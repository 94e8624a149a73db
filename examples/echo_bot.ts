/**
 * A bot that answers messages through the embedding hooks: every stanza a
 * client sends passes the `stanza` event before routing, so the app can
 * answer messages to a bot address itself; `handleIq` answers an IQ
 * namespace of its own on the server's address.
 *
 * Run: deno run -A examples/echo_bot.ts (XMPP_PORT and XMPP_TLS_REQUIRED=false override)
 * Then log in as alice@localhost (password alice-secret) on port 5222 and
 * write to echo@localhost.
 *
 * @module
 */

import { el, ns, XmppServer } from "../mod.ts";

const BOT = "echo@localhost";

const server = new XmppServer({
  domain: "localhost",
  listen: [{ type: "c2s", host: "127.0.0.1", port: Number(Deno.env.get("XMPP_PORT") ?? 5222) }],
  tls: { required: Deno.env.get("XMPP_TLS_REQUIRED") !== "false" },
  storage: { type: "memory" },
  accounts: [{ jid: "alice@localhost", password: "alice-secret" }],
  limits: { stanza_size: "64KiB", resources_per_account: 3 },
});

// Messages to the bot are answered here and consumed (returning true stops routing).
server.events.on("stanza", ({ stanza }) => {
  if (stanza.name !== "message" || stanza.attrs.to !== BOT) return;
  const body = stanza.getChildText("body");
  if (body === undefined) return true;
  server.deliver(el(
    "message",
    { xmlns: ns.NS_CLIENT, from: BOT, to: stanza.attrs.from, type: "chat" },
    el("body", {}, `echo: ${body}`),
  ));
  return true;
});

// An IQ namespace of the app's own, answered on the server's address.
server.handleIq(
  "host",
  "get",
  "urn:example:time",
  "time",
  () => el("time", { xmlns: "urn:example:time" }, new Date().toISOString()),
);

await server.start();
const stop = () => server.stop().then(() => Deno.exit(0));
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
