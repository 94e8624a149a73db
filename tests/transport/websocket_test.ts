// The RFC 7395 binding: exact frames from a raw WebSocket client, refusals
// before the upgrade, XEP-0205 limits and classes over WebSocket, @xmpp/client
// talking to a TCP client, and the transport's queue and close rules on a
// scripted socket.

import assert from "node:assert/strict";
import { client, xml } from "@xmpp/client";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { WebSocketTransport } from "../../src/transport/websocket.ts";
import type { ServerConfigInput } from "../../src/config/schema.ts";
import type { XmppServerOptions } from "../../src/server.ts";
import { RawClient } from "../_util/raw_client.ts";
import { startTestServer, type TestServer } from "../_util/test_server.ts";

const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const OPEN = `<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`;
const CLOSE = `<close xmlns="${FRAMING}"/>`;
const STREAMS = 'xmlns:stream="http://etherx.jabber.org/streams"';
const PLAIN_OK = { tls: { required: false }, auth: { allow_plain_without_tls: true } } as const;
const HTTP_AND_TCP = [
  { type: "c2s", host: "127.0.0.1", port: 0 },
  { type: "http", host: "127.0.0.1", port: 0 },
] as const;

async function startServer(
  config: ServerConfigInput = {},
  options: XmppServerOptions = {},
): Promise<TestServer & { ws: string }> {
  const t = await startTestServer({ ...PLAIN_OK, listen: [...HTTP_AND_TCP], ...config }, options);
  const http = t.server.addresses.find((a) => a.type === "http")!;
  return Object.assign(t, { ws: `ws://127.0.0.1:${http.port}/xmpp-websocket` });
}

/** A raw WebSocket client that keeps every message in order. */
class WsPeer implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly closed: Promise<CloseEvent>;
  #messages: string[] = [];
  #wake: (() => void) | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        resolve(event);
        this.#wake?.();
      });
    });
    socket.addEventListener("message", (event) => {
      this.#messages.push(String(event.data));
      this.#wake?.();
    });
  }

  static async open(url: string, protocols: string[] = ["xmpp"]): Promise<WsPeer> {
    const socket = new WebSocket(url, protocols);
    const peer = new WsPeer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("WebSocket failed")), {
        once: true,
      });
    });
    return peer;
  }

  send(text: string): void {
    this.socket.send(text);
  }

  /** The next message; rejects after 5 s or when the socket closes first. */
  async next(): Promise<string> {
    const deadline = performance.now() + 5000;
    while (this.#messages.length === 0) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error("WebSocket closed");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error("No WebSocket message within 5 s");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    return this.#messages.shift()!;
  }

  /** Opens the stream, authenticates with PLAIN and binds `resource`. */
  async login(user: string, password: string, resource: string): Promise<void> {
    this.send(OPEN);
    await this.next();
    await this.next();
    this.send(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
        btoa(`\0${user}\0${password}`)
      }</auth>`,
    );
    assert.equal(await this.next(), `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
    this.send(OPEN);
    await this.next();
    await this.next();
    this.send(
      `<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    assert.match(await this.next(), /<jid>/);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}

/** Sends a WebSocket handshake by hand and returns the HTTP status line. */
async function handshakeStatus(url: string, protocol: string): Promise<string> {
  const { hostname, port, pathname } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    ));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

Deno.test("WebSocket binding sends RFC 7395 frames: one element per message, open to close", async () => {
  await using t = await startServer();
  await using peer = await WsPeer.open(t.ws);
  assert.equal(peer.socket.protocol, "xmpp");
  peer.send(OPEN);
  const open = await peer.next();
  const id = new RegExp(
    `^<open xmlns="${FRAMING}" from="localhost" id="([0-9a-f-]{36})" version="1.0"/>$`,
  ).exec(open)?.[1];
  assert.ok(id !== undefined, open);
  assert.equal(
    await peer.next(),
    `<stream:features ${STREAMS}><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">` +
      `<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>` +
      `<mechanism>PLAIN</mechanism></mechanisms><limits xmlns="urn:xmpp:stream-limits:0">` +
      `<max-bytes>8192</max-bytes><idle-seconds>600</idle-seconds></limits></stream:features>`,
  );
  peer.send(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${
      btoa("\0alice\0alice-secret")
    }</auth>`,
  );
  assert.equal(await peer.next(), `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
  // RFC 7395 §3.5: the stream restarts with a new <open/>.
  peer.send(OPEN);
  assert.match(
    await peer.next(),
    new RegExp(`^<open xmlns="${FRAMING}" from="localhost" id="${id}"`),
  );
  // Other features (roster versioning …) may follow bind; the framing is the point here.
  assert.match(
    await peer.next(),
    new RegExp(
      `^<stream:features ${STREAMS}><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>` +
        `<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>` +
        `<limits xmlns="urn:xmpp:stream-limits:0"><max-bytes>262144</max-bytes>` +
        `<idle-seconds>600</idle-seconds></limits>(<[a-z]+ xmlns="[^"]+"/>)*</stream:features>$`,
    ),
  );
  peer.send(
    "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>" +
      "<resource>ws</resource></bind></iq>",
  );
  assert.equal(
    await peer.next(),
    `<iq xmlns="jabber:client" type="result" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">` +
      `<jid>alice@localhost/ws</jid></bind></iq>`,
  );
  peer.send(
    "<message xmlns='jabber:client' to='alice@localhost/ws' type='chat' id='m1'><body>hi</body></message>",
  );
  assert.equal(
    await peer.next(),
    `<message xmlns="jabber:client" to="alice@localhost/ws" type="chat" id="m1" ` +
      `from="alice@localhost/ws"><body>hi</body></message>`,
  );
  // RFC 7395 §3.6: <close/> is answered with <close/>, then the server closes the socket.
  peer.send(CLOSE);
  assert.equal(await peer.next(), CLOSE);
  assert.equal((await peer.closed).code, 1000);
});

Deno.test("WebSocket binding sends a stream error as its own message before <close/>", async () => {
  await using t = await startServer();
  await using peer = await WsPeer.open(t.ws);
  peer.send(`<open xmlns="${FRAMING}" to="elsewhere.example" version="1.0"/>`);
  assert.match(await peer.next(), /^<open [^>]*from="localhost"[^>]*\/>$/);
  assert.equal(
    await peer.next(),
    `<stream:error ${STREAMS}><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
  );
  assert.equal(await peer.next(), CLOSE);
  assert.equal((await peer.closed).code, 1000);
});

Deno.test("WebSocket binding never offers STARTTLS and closes a stanza before auth with not-authorized", async () => {
  await using t = await startServer({ tls: { required: false } });
  await using peer = await WsPeer.open(t.ws);
  peer.send(OPEN);
  await peer.next();
  assert.doesNotMatch(await peer.next(), /starttls/);
  peer.send("<message xmlns='jabber:client' to='bob@localhost'><body>x</body></message>");
  assert.equal(
    await peer.next(),
    `<stream:error ${STREAMS}><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
  );
  assert.equal(await peer.next(), CLOSE);
});

Deno.test("WebSocket binding refuses other subprotocols and plain GETs before upgrading", async () => {
  await using t = await startServer();
  assert.equal(await handshakeStatus(t.ws, "chat"), "HTTP/1.1 400 Bad Request");
  assert.equal(await handshakeStatus(t.ws, "chat, xmpp"), "HTTP/1.1 101 Switching Protocols");
  const plain = await fetch(t.ws.replace("ws:", "http:"));
  assert.equal(plain.status, 426);
  await plain.body?.cancel();
  assert.equal(t.server.connectionCount, 0);
});

Deno.test("WebSocket binding answers connection limits with HTTP 429 before the upgrade", async () => {
  await using t = await startServer({ limits: { connections_per_ip: 1 } });
  const events: string[] = [];
  t.server.events.on("limit", (event) => void events.push(`${event.limit} ${event.ip}`));
  await using first = await WsPeer.open(t.ws);
  first.send(OPEN);
  await first.next();
  assert.equal(await handshakeStatus(t.ws, "xmpp"), "HTTP/1.1 429 Too Many Requests");
  assert.deepEqual(events, ["connections_per_ip 127.0.0.1"]);
  assert.equal(t.server.connectionCount, 1);
});

Deno.test("WebSocket streams that have not authenticated close when their address floods connection attempts", async () => {
  await using t = await startServer({
    limits: { connections_per_ip: 20, connection_attempts_per_ip: { max: 4, window: "1m" } },
  });
  const closedStreams: (number | undefined)[] = [];
  t.server.events.on("limit", (event) => void closedStreams.push(event.closedStreams));
  await using user = await WsPeer.open(t.ws);
  await user.login("alice", "alice-secret", "web");
  await using opened = await WsPeer.open(t.ws);
  opened.send(OPEN);
  await opened.next();
  await opened.next();
  await using silent = await WsPeer.open(t.ws);
  await using tcp = await RawClient.connect(t.port);
  await tcp.open();
  // The fifth attempt (a WebSocket upgrade) is refused with 429 and closes
  // the address's unauthenticated streams over both transports.
  assert.equal(await handshakeStatus(t.ws, "xmpp"), "HTTP/1.1 429 Too Many Requests");
  assert.deepEqual(closedStreams, [3]);
  assert.equal(
    await opened.next(),
    `<stream:error ${STREAMS}><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Connection attempts from your address ` +
      `exceeded the limit</text></stream:error>`,
  );
  assert.equal(await opened.next(), CLOSE);
  assert.equal((await opened.closed).code, 1000);
  // No <open/> was answered: cut without a message.
  assert.equal((await silent.closed).code, 1001);
  await assert.rejects(() => silent.next(), /WebSocket closed/);
  assert.match(await tcp.readToEnd(), /<policy-violation /);
  user.send(
    "<iq xmlns='jabber:client' type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  assert.match(await user.next(), /type="result" id="p"/);
  assert.equal(t.server.connectionCount, 1);
});

Deno.test("a limit class with connection: [websocket] applies to WebSocket and not to TCP", async () => {
  await using t = await startServer({
    limits: {
      classes: { web: { match: { connection: ["websocket"] }, limits: { connections_per_ip: 1 } } },
    },
  });
  await using first = await WsPeer.open(t.ws);
  first.send(OPEN);
  await first.next();
  assert.equal(await handshakeStatus(t.ws, "xmpp"), "HTTP/1.1 429 Too Many Requests");
  // TCP from the same address is under the base limit (10).
  await using tcp1 = await RawClient.connect(t.port);
  await using tcp2 = await RawClient.connect(t.port);
  assert.match(await tcp1.open(), /<stream:features>/);
  assert.match(await tcp2.open(), /<stream:features>/);
});

Deno.test("WebSocket binding answers an oversized stanza with stanza-too-big, as TCP does", async () => {
  await using t = await startServer({
    limits: { stanza_size: "1KiB", stanza_size_stream_error: "64KiB" },
  });
  await using peer = await WsPeer.open(t.ws);
  await peer.login("alice", "alice-secret", "big");
  peer.send(
    `<message xmlns='jabber:client' to='bob@localhost' id='big1'><body>${
      "x".repeat(2000)
    }</body></message>`,
  );
  assert.equal(
    await peer.next(),
    `<message xmlns="jabber:client" type="error" id="big1" from="localhost" ` +
      `to="alice@localhost/big"><error type="modify"><not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<stanza-too-big xmlns="urn:xmpp:errors"/></error></message>`,
  );
});

Deno.test("WebSocket binding: the bandwidth budget holds messages back until it refills", async () => {
  const clock = new ManualClock();
  await using t = await startServer({
    limits: { bandwidth: { rate: "1KiB/s", burst: "4KiB" } },
    timeouts: { negotiation: "5m" },
  }, { timers: clock });
  const throttled = Promise.withResolvers<string>();
  t.server.events.on("limit", (event) => throttled.resolve(`${event.limit} ${event.ip}`));
  await using peer = await WsPeer.open(t.ws);
  await peer.login("alice", "alice-secret", "flood");
  const ping = (n: number) =>
    `<iq xmlns='jabber:client' type='get' to='localhost' id='${n}-${"p".repeat(1000)}'>` +
    `<ping xmlns='urn:xmpp:ping'/></iq>`;
  for (let n = 1; n <= 6; n++) peer.send(ping(n));
  assert.equal(await throttled.promise, "bandwidth 127.0.0.1");
  const answered: string[] = [];
  const collect = async (count: number) => {
    while (answered.length < count) {
      answered.push(/ id="(\d)-/.exec(await peer.next())?.[1] ?? "?");
    }
  };
  await collect(2);
  // The clock has not moved: the rest waits in the paused queue, unparsed. A TCP
  // client's round trip shows the server is otherwise busy serving.
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "desk");
  const processed = t.server.stats.stanzasIn;
  assert.ok(processed < 6, `only part of the flood was processed, got ${processed}`);
  clock.advance(10_000);
  await collect(6);
  assert.deepEqual(answered, ["1", "2", "3", "4", "5", "6"]);
});

Deno.test("@xmpp/client over WebSocket logs in with SCRAM and chats with a TCP client", async () => {
  await using t = await startServer();
  // deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
  const xmpp: any = client({
    service: t.ws,
    domain: "localhost",
    username: "alice",
    password: "alice-secret",
    resource: "browser",
  });
  xmpp.on("error", () => {});
  const mechanism = Promise.withResolvers<string>();
  t.server.events.on("authenticated", (e) => {
    if (e.session.transport.type === "websocket") mechanism.resolve(e.mechanism);
  });
  assert.equal(String(await xmpp.start()), "alice@localhost/browser");
  assert.equal(await mechanism.promise, "SCRAM-SHA-1");
  await using bob = await RawClient.connect(t.port);
  await bob.loginPlain("bob", "bob-secret", "desk");
  await bob.send("<presence/>");

  // deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
  const received = new Promise<any>((resolve) => {
    // deno-lint-ignore no-explicit-any -- @xmpp/client ships no types
    xmpp.on("stanza", (stanza: any) => {
      if (stanza.is("message")) resolve(stanza);
    });
  });
  await bob.send(
    "<message to='alice@localhost/browser' type='chat' id='t1'><body>from tcp</body></message>",
  );
  const message = await received;
  assert.equal(message.attrs.from, "bob@localhost/desk");
  assert.equal(message.getChildText("body"), "from tcp");

  await xmpp.send(
    xml("message", { to: "bob@localhost", type: "chat" }, xml("body", {}, "from ws")),
  );
  assert.match(
    await bob.readUntil("</message>"),
    /<message to="bob@localhost" type="chat" [^>]*from="alice@localhost\/browser"><body>from ws<\/body><\/message>/,
  );
  await xmpp.stop();
});

Deno.test("server stop() ends WebSocket streams with system-shutdown, then <close/>", async () => {
  const t = await startServer();
  await using peer = await WsPeer.open(t.ws);
  await peer.login("alice", "alice-secret", "stop");
  const stopping = t.server.stop();
  assert.equal(
    await peer.next(),
    `<stream:error ${STREAMS}><system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
  );
  assert.equal(await peer.next(), CLOSE);
  assert.equal((await peer.closed).code, 1000);
  await stopping;
});

// --- The transport on a scripted socket ---------------------------------------

/** Enough of a WebSocket for the transport, driven by the test. */
class ScriptedSocket extends EventTarget {
  readyState: number = WebSocket.CONNECTING;
  binaryType = "blob";
  bufferedAmount = 0;
  sent: string[] = [];
  closedWith: [number, string] | undefined;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  onclose: (() => void) | null = null;

  send(text: string): void {
    assert.equal(this.readyState, WebSocket.OPEN, "send() before open");
    this.sent.push(text);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
    this.readyState = WebSocket.CLOSING;
  }
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.onopen?.();
  }
  message(data: unknown): void {
    this.onmessage?.({ data });
  }
  peerClosed(): void {
    this.readyState = WebSocket.CLOSED;
    this.onclose?.();
  }
}

function scripted(options: { maxQueuedBytes?: number; timers?: ManualClock } = {}) {
  const transport = new WebSocketTransport({
    remoteAddress: "192.0.2.1",
    encrypted: false,
    ...options,
  });
  const socket = new ScriptedSocket();
  const received: string[] = [];
  const closed = Promise.withResolvers<Error | undefined>();
  transport.attach({
    data: (bytes) => received.push(new TextDecoder().decode(bytes)),
    closed: (error) => closed.resolve(error),
  });
  transport.bind(socket as unknown as WebSocket);
  return { transport, socket, received, closed: closed.promise };
}

Deno.test("WebSocketTransport sends writes made before the socket opened, in order", () => {
  const { transport, socket } = scripted();
  transport.write("<open/>");
  transport.write(new TextEncoder().encode("<features/>"));
  assert.deepEqual(socket.sent, []);
  socket.open();
  transport.write("<x/>");
  assert.deepEqual(socket.sent, ["<open/>", "<features/>", "<x/>"]);
  assert.equal(socket.binaryType, "arraybuffer");
});

Deno.test("WebSocketTransport.pause() queues messages until resume(), in order", () => {
  const { transport, socket, received } = scripted();
  socket.open();
  socket.message("<a/>");
  transport.pause();
  assert.equal(transport.holdsInput, false);
  socket.message("<b/>");
  socket.message("<c/>");
  assert.deepEqual(received, ["<a/>"]);
  assert.equal(transport.holdsInput, true);
  transport.resume();
  assert.deepEqual(received, ["<a/>", "<b/>", "<c/>"]);
  assert.equal(transport.holdsInput, false);
});

Deno.test("WebSocketTransport closes with 1008 when a paused peer sends past maxQueuedBytes", async () => {
  const { transport, socket, received, closed } = scripted({ maxQueuedBytes: 10 });
  socket.open();
  transport.pause();
  socket.message("<a>1</a>"); // 8 bytes
  assert.equal(socket.closedWith, undefined);
  socket.message("<b/>"); // 12 bytes queued
  assert.deepEqual(socket.closedWith, [1008, "Input queue overflow"]);
  assert.match(String(await closed), /input queue overflow/);
  transport.resume();
  assert.deepEqual(received, []);
});

Deno.test("WebSocketTransport refuses a message longer than maxQueuedBytes with 1009", async () => {
  const { socket, received, closed } = scripted({ maxQueuedBytes: 16 });
  socket.open();
  socket.message("<a>0123456789</a>"); // 17 characters
  assert.deepEqual(socket.closedWith, [1009, "Message too big"]);
  assert.match(String(await closed), /too big/);
  assert.deepEqual(received, []);
});

Deno.test("WebSocketTransport refuses binary messages with 1003", async () => {
  const { socket, received, closed } = scripted();
  socket.open();
  socket.message(new ArrayBuffer(4));
  assert.deepEqual(socket.closedWith, [1003, "Text messages only"]);
  assert.match(String(await closed), /binary/);
  assert.deepEqual(received, []);
});

Deno.test("WebSocketTransport.close() reports closed when the peer answers, or at the timeout", async () => {
  const timers = new ManualClock();
  const answered = scripted({ timers });
  answered.socket.open();
  answered.transport.close();
  assert.deepEqual(answered.socket.closedWith, [1000, ""]);
  answered.transport.write("<late/>");
  assert.deepEqual(answered.socket.sent, []);
  answered.socket.peerClosed();
  assert.equal(await answered.closed, undefined);

  const silent = scripted({ timers });
  silent.socket.open();
  silent.transport.close();
  let reported = false;
  void silent.closed.then(() => reported = true);
  timers.advance(4999);
  await Promise.resolve();
  assert.equal(reported, false);
  timers.advance(1);
  assert.equal(await silent.closed, undefined);
});

Deno.test("WebSocketTransport offers no STARTTLS and rejects startTls()", async () => {
  const { transport } = scripted();
  assert.equal(transport.canStartTls, false);
  await assert.rejects(transport.startTls(), /not available over WebSocket/);
  assert.throws(
    () => new WebSocketTransport({ remoteAddress: "::1", encrypted: true, closeTimeoutMs: -1 }),
    RangeError,
  );
});
