// The page's glue: the login and message forms drive an XmppWebSocketClient;
// incoming and outgoing messages are listed (as text, never as markup).

import { XmppWebSocketClient } from "./xmpp_client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$("url").value = params.get("ws") ??
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.hostname}:5280/xmpp-websocket`;
if (params.has("jid")) $("jid").value = params.get("jid");

let client;

function status(text) {
  $("status").textContent = text;
  $("status").className = text;
  const online = text === "online";
  $("send").disabled = !online;
  $("disconnect").disabled = !client || text === "offline";
  $("connect").disabled = !!client && text !== "offline";
}

function log(from, body) {
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from;
  const text = document.createElement("span");
  text.className = "body";
  text.textContent = body;
  item.append(who, text);
  $("log").append(item);
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  client = new XmppWebSocketClient({
    url: $("url").value,
    jid: $("jid").value.trim(),
    password: $("password").value,
    resource: "web",
  });
  client.addEventListener("status", (e) => status(e.detail));
  client.addEventListener("message", (e) => log(e.detail.from, e.detail.body));
  client.addEventListener("closed", (e) => log("*", e.detail));
  try {
    await client.connect();
  } catch (error) {
    log("*", error.message);
    status("offline");
  }
});

$("disconnect").addEventListener("click", () => client?.disconnect());

$("compose").addEventListener("submit", (event) => {
  event.preventDefault();
  const to = $("to").value.trim();
  const body = $("text").value;
  client.sendMessage(to, body);
  log(`me → ${to}`, body);
  $("text").value = "";
});
