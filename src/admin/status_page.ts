/**
 * The admin status page: one self-contained HTML document (inline CSS and
 * JS, no external asset, no framework) that polls `/status` every two
 * seconds and shows live connections, the addresses and accounts being
 * limited now, bans, and an SVG chart of limit events over the last hour.
 *
 * The page itself holds no data, so it is served without a token; its
 * requests to `/status` carry the token, which the page takes from the URL
 * fragment (`/#token=…`, never sent to the server or kept in the address
 * bar) or from a form, and keeps in `sessionStorage`. Everything from the
 * server is inserted as text (`textContent`), never as markup: JIDs and
 * addresses are attacker-chosen.
 *
 * @module
 */

import { createHash } from "node:crypto";

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5d6678; --line: #dde2ea; --bg: #f5f7fa;
  --card: #fff; --ok: #1b7f4c; --bad: #b3261e; --accent: #2757c9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px;
  background: var(--fg); color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
#state { font-weight: 600; }
#state.ok { color: #7ee2a8; }
#state.bad { color: #ffb4ab; }
#updated { color: #b8c0cf; margin-left: auto; font-size: 12px; }
main { padding: 16px 24px 32px; display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 16px; min-width: 0; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
h2 { margin: 0 0 8px; font-size: 14px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); }
.tiles { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(125px, 1fr)); }
.tile { border-left: 3px solid var(--accent); padding: 2px 10px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .sub { color: var(--muted); font-size: 12px; min-height: 1.4em; }
.tile.alert { border-left-color: var(--bad); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 320px; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num, th.num { text-align: right; }
.empty { color: var(--muted); margin: 6px 0; }
.mode-report { color: var(--muted); }
.mode-enforce { color: var(--bad); font-weight: 600; }
#chart svg { width: 100%; height: auto; display: block; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; font-size: 12px; }
#legend svg { vertical-align: middle; margin-right: 4px; }
#auth { grid-column: 1 / -1; }
#auth[hidden] { display: none; }
input { font: inherit; padding: 4px 6px; }
button { font: inherit; padding: 4px 12px; }
`;

const SCRIPT = `
"use strict";
var POLL_MS = 2000;
var TOKEN_KEY = "xmppd-admin-token";
var COLORS = ["#2757c9", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#e07a5f",
  "#3d405b", "#81b29a", "#f2cc8f"];
var token = "";
var timer = 0;

(function readToken() {
  var fragment = new URLSearchParams(location.hash.slice(1));
  try { token = sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { token = ""; }
  if (fragment.has("token")) {
    token = fragment.get("token") || "";
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode */ }
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

function $(id) { return document.getElementById(id); }
function setText(id, value) { $(id).textContent = String(value); }
function el(name, text, className) {
  var node = document.createElement(name);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
function svg(name, attrs) {
  var node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (var key in attrs) node.setAttribute(key, String(attrs[key]));
  return node;
}
function duration(ms) {
  var s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  var m = Math.floor(s / 60);
  if (m < 60) return m + " min " + (s % 60) + " s";
  var h = Math.floor(m / 60);
  if (h < 48) return h + " h " + (m % 60) + " min";
  return Math.floor(h / 24) + " d " + (h % 24) + " h";
}
function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
function byKey(record) {
  return Object.keys(record).filter(function (k) { return record[k] > 0; })
    .map(function (k) { return k + " " + record[k]; }).join(" \\u00b7 ");
}
function sum(list) { return list.reduce(function (a, b) { return a + b; }, 0); }

function fillTable(id, rows, columns) {
  var table = $(id);
  var body = table.tBodies[0];
  body.replaceChildren();
  rows.forEach(function (row) {
    var tr = document.createElement("tr");
    columns.forEach(function (column) {
      var td = el("td", column.value(row), column.className ? column.className(row) : "");
      td.title = td.textContent;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  table.hidden = rows.length === 0;
  $(id + "-empty").hidden = rows.length !== 0;
}

function num(value) { return { value: value, className: function () { return "num"; } }; }

function renderChart(history) {
  var names = Object.keys(history.byLimit).sort();
  var n = history.buckets;
  var width = 1000, height = 190, left = 40, right = 8, top = 10, bottom = 24;
  var plotW = width - left - right, plotH = height - top - bottom;
  // A round scale: four equal steps, whole numbers.
  var step = Math.max(1, Math.ceil(Math.max.apply(null, history.totals) / 4));
  var max = step * 4;
  var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
    "aria-label": "Limit events per minute over the last hour" });
  [0, 0.5, 1].forEach(function (f) {
    var y = top + plotH - f * plotH;
    chart.appendChild(svg("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#dde2ea" }));
    var label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11,
      fill: "#5d6678" });
    label.textContent = String(Math.round(f * max));
    chart.appendChild(label);
  });
  var slot = plotW / n;
  for (var i = 0; i < n; i++) {
    var y = top + plotH;
    names.forEach(function (name, k) {
      var count = history.byLimit[name][i];
      if (!count) return;
      var h = count / max * plotH;
      y -= h;
      var rect = svg("rect", { x: left + i * slot + 1, y: y, width: Math.max(1, slot - 2),
        height: h, fill: COLORS[k % COLORS.length], "data-limit": name, "data-count": count });
      var tip = svg("title", {});
      tip.textContent = name + ": " + count + " (" + (n - 1 - i) + " min ago)";
      rect.appendChild(tip);
      chart.appendChild(rect);
    });
  }
  [60, 45, 30, 15, 0].forEach(function (ago) {
    if (ago >= n) return;
    var x = left + (n - 1 - ago) * slot + slot / 2;
    var label = svg("text", { x: x, y: height - 8, "text-anchor": "middle", "font-size": 11,
      fill: "#5d6678" });
    label.textContent = ago === 0 ? "now" : "-" + ago + " min";
    chart.appendChild(label);
  });
  $("chart").replaceChildren(chart);
  var legend = $("legend");
  legend.replaceChildren();
  names.forEach(function (name, k) {
    var item = el("span");
    item.className = "legend-item";
    var swatch = svg("svg", { width: 10, height: 10 });
    swatch.appendChild(svg("rect", { width: 10, height: 10, fill: COLORS[k % COLORS.length] }));
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(name + " " + sum(history.byLimit[name])));
    legend.appendChild(item);
  });
  if (names.length === 0) legend.appendChild(el("span", "No limit events in the last hour.", "empty"));
}

function render(s) {
  setText("connections", s.connections.open);
  setText("connections-sub", byKey(s.connections.byTransport) || "none open");
  setText("authenticated", s.sessions.authenticated);
  setText("unauthenticated", s.limits.unauthenticated);
  var hour = sum(s.history.totals);
  setText("events-hour", hour);
  $("events-hour-tile").classList.toggle("alert", s.limited.length > 0);
  setText("events-hour-sub", s.limited.length + " limited now");
  setText("pressure", s.limits.pressure);
  $("pressure-tile").classList.toggle("alert", s.limits.pressure > 0);
  setText("bans-count", s.limits.bans.length);
  setText("refused", s.connections.refused);
  setText("logins-sub", s.counters.logins + " logins, " + s.counters.loginFailures + " failed");
  setText("uptime", duration(s.uptimeMs));
  renderChart(s.history);
  fillTable("limited", s.limited, [
    { value: function (r) { return r.subject; } },
    { value: function (r) { return r.kind; } },
    { value: function (r) { return r.limits.join(", "); } },
    { value: function (r) { return r.mode; }, className: function (r) { return "mode-" + r.mode; } },
    num(function (r) { return r.count; }),
    { value: function (r) { return duration(r.lastAgoMs) + " ago"; } },
  ]);
  fillTable("bans", s.limits.bans, [
    { value: function (r) { return r.target; } },
    { value: function (r) { return r.reason; } },
    { value: function (r) { return r.source; } },
    { value: function (r) { return r.expiresInMs === null ? "never" : "in " + duration(r.expiresInMs); } },
  ]);
  fillTable("addresses", s.limits.topAddresses, [
    { value: function (r) { return r.key; } },
    num(function (r) { return r.open; }),
  ]);
  fillTable("near", s.limits.nearLimit, [
    { value: function (r) { return r.key; } },
    num(function (r) { return r.attempts + " / " + r.max; }),
    { value: function (r) { return "per " + duration(r.windowMs); } },
  ]);
  setText("sessions-note", s.sessions.shown.length < s.sessions.total
    ? "newest " + s.sessions.shown.length + " of " + s.sessions.total : "");
  fillTable("sessions", s.sessions.shown, [
    { value: function (r) { return r.jid === null ? "(not bound)" : r.jid; } },
    { value: function (r) { return r.address; } },
    { value: function (r) { return r.transport + (r.encrypted ? " \\u{1f512}" : ""); } },
    { value: function (r) { return r.phase; } },
    num(function (r) { return duration(r.ageMs); }),
    num(function (r) { return bytes(r.queuedBytes); }),
  ]);
  setText("updated", "updated " + new Date().toLocaleTimeString());
}

function setState(text, kind) {
  var state = $("state");
  state.textContent = text;
  state.className = kind;
}

function poll() {
  clearTimeout(timer);
  var headers = token ? { Authorization: "Bearer " + token } : {};
  fetch("status", { headers: headers, cache: "no-store" }).then(function (response) {
    if (response.status === 401) {
      $("auth").hidden = false;
      setState(token ? "Token refused" : "Token required", "bad");
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json().then(function (status) {
      $("auth").hidden = true;
      render(status);
      setState("Live", "ok");
      timer = setTimeout(poll, POLL_MS);
    });
  }).catch(function (error) {
    setState("Disconnected (" + error.message + ")", "bad");
    timer = setTimeout(poll, POLL_MS);
  });
}

$("token-form").addEventListener("submit", function (event) {
  event.preventDefault();
  token = $("token-input").value;
  $("token-input").value = "";
  try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode */ }
  poll();
});
poll();
`;

function table(id: string, headings: string[], empty: string, numeric: number[] = []): string {
  const cells = headings
    .map((h, i) => `<th${numeric.includes(i) ? ' class="num"' : ""}>${h}</th>`)
    .join("");
  return `<table id="${id}" hidden><thead><tr>${cells}</tr></thead><tbody></tbody></table>` +
    `<p class="empty" id="${id}-empty">${empty}</p>`;
}

function tile(id: string, label: string, sub = ""): string {
  return `<div class="tile" id="${id}-tile"><div class="label">${label}</div>` +
    `<div class="value" id="${id}">–</div><div class="sub" id="${id}-sub">${sub}</div></div>`;
}

const BODY = `<header><h1>xmppd status</h1><span id="state">Loading…</span>` +
  `<span id="updated"></span></header>
<main>
<section id="auth" hidden><form id="token-form"><label>Admin token
<input id="token-input" type="password" autocomplete="off" required></label>
<button type="submit">Show status</button></form></section>
<section class="wide"><div class="tiles">
${tile("connections", "Live connections")}
${tile("authenticated", "Authenticated")}
${tile("unauthenticated", "Unauthenticated")}
${tile("events-hour", "Limit events, last hour")}
${tile("refused", "Refused at accept")}
${tile("pressure", "Overload level (0–3)")}
${tile("bans-count", "Bans")}
${tile("uptime", "Uptime", '<span id="logins-sub"></span>')}
</div></section>
<section class="wide"><h2>Limit events per minute, last hour</h2><div id="chart"></div>` +
  `<div id="legend"></div></section>
<section><h2>Limited now (last 5 minutes)</h2>
${
    table(
      "limited",
      ["Address or account", "Kind", "Limits", "Mode", "Events", "Last"],
      "No address or account limited recently.",
      [4],
    )
  }</section>
<section><h2>Live connections <span id="sessions-note"></span></h2>
${
    table(
      "sessions",
      ["JID", "Address", "Transport", "Phase", "Age", "Queued"],
      "No live connections.",
      [4, 5],
    )
  }</section>
<section><h2>Bans</h2>
${table("bans", ["Target", "Reason", "Source", "Expires"], "No bans.")}</section>
<section><h2>Most connections per address</h2>
${table("addresses", ["Address", "Open"], "No open connections.", [1])}
<h2>Near the connection-attempt limit</h2>
${table("near", ["Address", "Attempts", "Window"], "No address near its limit.", [1])}</section>
</main>`;

function sha256Base64(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("base64");
}

/**
 * The status page: a complete HTML document with its CSS and JS inline.
 *
 * @example Usage
 * ```ts
 * import { STATUS_PAGE_HTML } from "./status_page.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(STATUS_PAGE_HTML.startsWith("<!doctype html>"));
 * assert.doesNotMatch(STATUS_PAGE_HTML, /\bsrc=|\bhref="http/);
 * ```
 */
export const STATUS_PAGE_HTML: string = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>xmppd status</title><link rel="icon" href="data:,">
<style>${STYLE}</style></head>
<body>${BODY}
<script>${SCRIPT}</script>
</body></html>
`;

/**
 * The Content-Security-Policy the page is served with: only its own inline
 * script and style (pinned by hash), requests to its own origin, nothing
 * else; no framing.
 *
 * @example Usage
 * ```ts
 * import { STATUS_PAGE_CSP } from "./status_page.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(STATUS_PAGE_CSP, /default-src 'none'/);
 * assert.match(STATUS_PAGE_CSP, /script-src 'sha256-[A-Za-z0-9+\/]+=*'/);
 * ```
 */
export const STATUS_PAGE_CSP: string = [
  "default-src 'none'",
  `script-src 'sha256-${sha256Base64(SCRIPT)}'`,
  `style-src 'sha256-${sha256Base64(STYLE)}'`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
