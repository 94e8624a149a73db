import assert from "node:assert/strict";
import {
  listenTcp,
  type TcpListener,
  type TcpListenOptions,
} from "../../src/transport/tcp_listener.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";
import type { Transport } from "../../src/transport/transport.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const material = await createSelfSignedCertificate("localhost");

/** A handler that records what arrives and lets a test wait for it. */
class Recorder {
  chunks: Uint8Array[] = [];
  closedCount = 0;
  closedError: Error | undefined;
  readonly closed = Promise.withResolvers<Error | undefined>();
  #waiters: { length: number; resolve: () => void }[] = [];

  constructor(transport: Transport) {
    transport.attach({
      data: (bytes) => {
        this.chunks.push(bytes.slice());
        this.#waiters = this.#waiters.filter((waiter) => {
          if (this.length < waiter.length) return true;
          waiter.resolve();
          return false;
        });
      },
      closed: (error) => {
        this.closedCount++;
        this.closedError = error;
        this.closed.resolve(error);
      },
    });
  }

  get length(): number {
    let total = 0;
    for (const chunk of this.chunks) total += chunk.length;
    return total;
  }

  get text(): string {
    return this.chunks.map((chunk) => decoder.decode(chunk)).join("");
  }

  /** Resolves once at least `length` bytes have arrived. */
  received(length: number): Promise<void> {
    if (this.length >= length) return Promise.resolve();
    const waiter = Promise.withResolvers<void>();
    this.#waiters.push({ length, resolve: waiter.resolve });
    return waiter.promise;
  }
}

/** A listener on 127.0.0.1:0 whose connections can be awaited in order. */
async function serve(
  options: Omit<TcpListenOptions, "host" | "port"> = {},
): Promise<{ listener: TcpListener; next(): Promise<TcpTransport> }> {
  const queue: TcpTransport[] = [];
  const waiting: ((transport: TcpTransport) => void)[] = [];
  const listener = await listenTcp({ host: "127.0.0.1", port: 0, ...options }, (transport) => {
    const waiter = waiting.shift();
    if (waiter) waiter(transport as TcpTransport);
    else queue.push(transport as TcpTransport);
  });
  return {
    listener,
    next() {
      const ready = queue.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** A client connected to a fresh listener, its server-side transport recorded; disposing closes both. */
async function connected(): Promise<
  { conn: Deno.Conn; transport: TcpTransport; recorder: Recorder } & AsyncDisposable
> {
  const { listener, next } = await serve();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  return {
    conn,
    transport,
    recorder,
    async [Symbol.asyncDispose]() {
      conn.close();
      await recorder.closed.promise;
      await listener[Symbol.asyncDispose]();
    },
  };
}

/** Reads from `conn` until the text read so far includes `expected`. */
async function readUntil(conn: Deno.Conn, expected: string): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes(expected)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`EOF before '${expected}', got '${text}'`);
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/** Reads everything until EOF. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    parts.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Fails instead of hanging when `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("TcpTransport carries data both ways and reports the peer", async () => {
  const { listener, next } = await serve();
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  assert.equal(transport.type, "tcp");
  assert.equal(transport.remoteAddress, "127.0.0.1");
  assert.equal(transport.encrypted, false);
  assert.equal(transport.canStartTls, false);
  assert.equal(transport.tlsProtocol, undefined);
  const recorder = new Recorder(transport);

  await conn.write(encoder.encode("<stream:stream>"));
  await recorder.received(15);
  assert.equal(recorder.text, "<stream:stream>");

  transport.write("<features/>");
  transport.write(encoder.encode("<é/>"));
  assert.equal(await readUntil(conn, "<é/>"), "<features/><é/>");

  conn.close();
  assert.equal(await recorder.closed.promise, undefined);
  assert.equal(recorder.closedCount, 1);
});

Deno.test("TcpTransport delivers nothing before attach", async () => {
  const { listener, next } = await serve();
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  await conn.write(encoder.encode("early"));
  await delay(20); // let the bytes reach the server's socket
  const recorder = new Recorder(transport);
  await recorder.received(5);
  assert.equal(recorder.text, "early");
  assert.throws(() => transport.attach({ data() {}, closed() {} }), /already has one/);
  conn.close();
  await recorder.closed.promise;
});

Deno.test("TcpTransport coalesces writes of one turn and counts them in bufferedBytes", async () => {
  await using connection = await connected();
  const { conn, transport } = connection;
  transport.write("<a/>");
  transport.write("<b/>");
  // Corked until the end of this turn: both writes are still ours.
  assert.equal(transport.bufferedBytes, 8);
  assert.equal(await readUntil(conn, "<b/>"), "<a/><b/>");
  assert.equal(transport.bufferedBytes, 0);
  transport.write("<c/>");
  transport.flush();
  assert.equal(await readUntil(conn, "<c/>"), "<c/>");
});

Deno.test("TcpTransport.flushHeldWrites() sends every transport's writes of this turn now", async () => {
  await using first = await connected();
  await using second = await connected();
  // Let both new sockets settle, so that each takes a small write at once.
  await new Promise((resolve) => setTimeout(resolve, 20));
  first.transport.write("<a/>");
  second.transport.write("<b/>");
  assert.equal(first.transport.bufferedBytes + second.transport.bufferedBytes, 8);
  TcpTransport.flushHeldWrites();
  // Handed to the sockets, which took them at once: nothing waits for the end of the turn.
  assert.equal(first.transport.bufferedBytes, 0);
  assert.equal(second.transport.bufferedBytes, 0);
  assert.equal(await readUntil(first.conn, "<a/>"), "<a/>");
  assert.equal(await readUntil(second.conn, "<b/>"), "<b/>");
});

Deno.test("TcpTransport keeps the order of text and bytes written in one turn", async () => {
  await using connection = await connected();
  const { conn, transport } = connection;
  transport.write("<a>");
  transport.write(encoder.encode("é"));
  transport.write("ü</a>");
  // Text counts in UTF-16 units, bytes in bytes, like the socket's own count.
  assert.equal(transport.bufferedBytes, 3 + 2 + 5);
  assert.equal(await readUntil(conn, "</a>"), "<a>éü</a>");
  transport.write("<b/>");
  transport.write("<c>€</c>");
  assert.equal(await readUntil(conn, "</c>"), "<b/><c>€</c>");
});

Deno.test("TcpTransport sends a large turn of writes intact and in order", async () => {
  await using connection = await connected();
  const { conn, transport } = connection;
  const parts = Array.from({ length: 40 }, (_, i) => `<m n="${i}">${"x".repeat(20_000)}</m>`);
  for (const part of parts) transport.write(part);
  transport.write("<end/>");
  assert.equal(await readUntil(conn, "<end/>"), parts.join("") + "<end/>");
});

Deno.test("TcpTransport.destroy() drops the writes of this turn", async () => {
  await using connection = await connected();
  const { conn, transport } = connection;
  transport.write("never sent");
  transport.destroy();
  assert.equal(transport.bufferedBytes, 0);
  assert.equal((await readAll(conn)).length, 0);
});

Deno.test("TcpTransport ignores writes to a destroyed socket before its close event", async () => {
  await using connection = await connected();
  const { conn, transport, recorder } = connection;
  transport.destroy();
  // 'close' comes later: a write meanwhile must neither be held nor fail the socket.
  transport.write("too late");
  assert.equal(transport.bufferedBytes, 0);
  assert.equal((await readAll(conn)).length, 0);
  await recorder.closed.promise;
  assert.equal(recorder.closedError, undefined);
});

Deno.test("TcpTransport.pause() stops reading until resume()", async () => {
  await using connection = await connected();
  const { conn, transport, recorder } = connection;
  await conn.write(encoder.encode("hello"));
  await recorder.received(5);
  transport.pause();
  transport.pause(); // idempotent

  // Write until the kernel stops taking bytes: the server reads nothing, so
  // the client's send buffer and the server's receive buffer fill up.
  const chunk = new Uint8Array(65536).fill(0x61);
  const limit = 256 * 1024 * 1024;
  let written = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop && written < limit) written += await conn.write(chunk);
  })();
  let stable = 0;
  for (let last = -1; stable < 10; last = written) {
    await delay(10);
    stable = written === last ? stable + 1 : 0;
  }
  assert.ok(written < limit, "the client never blocked: the server kept reading");
  assert.equal(recorder.length, 5, "the handler received data while paused");
  assert.ok(written > 0);

  stop = true;
  transport.resume();
  await writer;
  await recorder.received(5 + written);
  assert.equal(recorder.length, 5 + written);
});

Deno.test("TcpTransport.holdsInput tells when a read in flight at pause() left bytes for resume()", async () => {
  await using connection = await connected();
  const { conn, transport, recorder } = connection;
  await conn.write(encoder.encode("hello"));
  await recorder.received(5);
  transport.pause();
  assert.equal(transport.holdsInput, false);
  // The socket's next read was already under way: it completes into the buffer.
  await conn.write(encoder.encode("world"));
  for (let waited = 0; !transport.holdsInput && waited < 2000; waited += 10) await delay(10);
  assert.equal(transport.holdsInput, true);
  assert.equal(recorder.length, 5, "delivered while paused");
  transport.resume();
  await recorder.received(10);
  assert.equal(transport.holdsInput, false);
});

Deno.test("TcpTransport.startTls() upgrades in place and TLS 1.3 carries data both ways", async () => {
  const { listener, next } = await serve({ startTls: material });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  assert.equal(transport.canStartTls, true);
  const upgraded = Promise.withResolvers<void>();
  const seen: string[] = [];
  transport.attach({
    data(bytes) {
      const text = decoder.decode(bytes);
      seen.push(text);
      if (text === "<starttls/>") {
        transport.pause();
        transport.write("<proceed/>");
        transport.startTls().then(() => {
          transport.resume();
          upgraded.resolve();
        }, upgraded.reject);
      } else {
        transport.write(`echo:${text}`);
      }
    },
    closed() {},
  });

  await conn.write(encoder.encode("<starttls/>"));
  assert.equal(await readUntil(conn, "<proceed/>"), "<proceed/>");
  const started = performance.now();
  const secure = await Deno.startTls(conn, { hostname: "localhost", caCerts: [material.cert] });
  await secure.handshake();
  await upgraded.promise;
  const handshakeMs = performance.now() - started;
  assert.ok(handshakeMs < 2000, `handshake took ${handshakeMs} ms`);
  assert.equal(transport.encrypted, true);
  assert.equal(transport.canStartTls, false);
  assert.equal(transport.tlsProtocol, "TLSv1.3");

  await secure.write(encoder.encode("<auth/>"));
  assert.equal(await readUntil(secure, "echo:<auth/>"), "echo:<auth/>");
  assert.deepEqual(seen, ["<starttls/>", "<auth/>"]);
  await assert.rejects(transport.startTls(), /does not offer STARTTLS/);
  secure.close();
});

Deno.test("TcpTransport.startTls() delivers nothing after the handshake until resume()", async () => {
  const { listener, next } = await serve({ startTls: material });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  await conn.write(encoder.encode("<starttls/>"));
  await recorder.received(11);
  transport.pause();
  transport.write("<proceed/>");
  const upgrade = transport.startTls();
  await readUntil(conn, "<proceed/>");
  const secure = await Deno.startTls(conn, { hostname: "localhost", caCerts: [material.cert] });
  await secure.handshake();
  // The client restarts the stream at once, as clients do.
  await secure.write(encoder.encode("<stream:stream>"));
  await upgrade;
  await delay(30);
  assert.equal(recorder.text, "<starttls/>", "encrypted bytes arrived before resume()");
  transport.resume();
  await recorder.received(11 + 15);
  assert.equal(recorder.text, "<starttls/><stream:stream>");
  secure.close();
  await recorder.closed.promise;
});

Deno.test("TcpTransport.startTls() passes a ClientHello read while paused to TLS", async () => {
  const { listener, next } = await serve({ startTls: material });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const paused = Promise.withResolvers<void>();
  const seen: string[] = [];
  transport.attach({
    data(bytes) {
      seen.push(decoder.decode(bytes));
      transport.pause();
      paused.resolve();
    },
    closed() {},
  });
  await conn.write(encoder.encode("<starttls/>"));
  await paused.promise;
  // The client does not wait for <proceed/>: its ClientHello reaches the
  // paused server before the upgrade starts.
  const secure = Deno.startTls(conn, { hostname: "localhost", caCerts: [material.cert] });
  await delay(30);
  const upgrade = transport.startTls();
  await within(
    Promise.all([upgrade, secure.then((tls) => tls.handshake())]),
    5000,
    "TLS handshake with a pipelined ClientHello",
  ).catch(async (error) => {
    transport.destroy();
    await Promise.allSettled([upgrade, secure]);
    throw error;
  });
  transport.write("over tls");
  assert.equal(await readUntil(await secure, "over tls"), "over tls");
  assert.deepEqual(seen, ["<starttls/>"]);
  (await secure).close();
});

Deno.test("TcpTransport.startTls() never hands plaintext sent after the pause to the handler", async () => {
  const { listener, next } = await serve({ startTls: material });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  await conn.write(encoder.encode("<starttls/>"));
  await recorder.received(11);
  transport.pause();
  // An injection attempt: plaintext right behind the request, before TLS.
  await conn.write(encoder.encode("<iq type='set'>injected</iq>"));
  await delay(30);
  transport.write("<proceed/>");
  const upgradeFails = assert.rejects(transport.startTls(), /wrong version number|corrupt/);
  // <proceed/>, maybe followed by the TLS alert the failed handshake sends.
  assert.match(await readUntil(conn, "<proceed/>"), /^<proceed\/>/);
  conn.close();
  await upgradeFails;
  assert.ok((await recorder.closed.promise) instanceof Error);
  assert.equal(recorder.text, "<starttls/>");
  assert.equal(recorder.closedCount, 1);
  assert.equal(transport.encrypted, false);
});

Deno.test("TcpTransport.startTls() requires paused reading and a STARTTLS context", async () => {
  const { listener, next } = await serve({ startTls: material });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  await assert.rejects(transport.startTls(), /reading must be paused first/);
  assert.equal(transport.encrypted, false);
  conn.close();
  await recorder.closed.promise;
  await assert.rejects(transport.startTls(), /closing or closed/);

  const plain = await serve();
  await using __ = plain.listener;
  const conn2 = await Deno.connect({ hostname: "127.0.0.1", port: plain.listener.addr.port });
  const transport2 = await plain.next();
  const recorder2 = new Recorder(transport2);
  transport2.pause();
  await assert.rejects(transport2.startTls(), /does not offer STARTTLS/);
  conn2.close();
  await recorder2.closed.promise;
});

Deno.test("TcpTransport.close() flushes a large write before ending", async () => {
  const { listener, next } = await serve();
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  const payload = new Uint8Array(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
  transport.write(payload);
  transport.write("</stream:stream>");
  transport.close();
  transport.write("dropped after close");
  assert.ok(transport.bufferedBytes > 0);
  const received = await readAll(conn);
  assert.equal(received.length, payload.length + 16);
  assert.deepEqual(received.subarray(0, payload.length), payload);
  assert.equal(decoder.decode(received.subarray(payload.length)), "</stream:stream>");
  conn.close();
  assert.equal(await recorder.closed.promise, undefined);
  assert.equal(recorder.closedCount, 1);
});

Deno.test("TcpTransport.close() on a paused transport still sees the peer's close", async () => {
  const clock = new ManualClock();
  const { listener, next } = await serve({ timers: clock });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  transport.pause();
  transport.close();
  assert.equal(await conn.read(new Uint8Array(1)), null);
  await conn.write(encoder.encode("</stream:stream>"));
  conn.close();
  await within(recorder.closed.promise, 2000, "closed() after the peer's FIN");
  assert.equal(recorder.text, "</stream:stream>");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("TcpTransport.close() destroys the socket when the peer never closes", async () => {
  const clock = new ManualClock();
  const { listener, next } = await serve({ timers: clock, closeTimeoutMs: 1000 });
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  transport.write("bye");
  transport.close();
  assert.equal(await readUntil(conn, "bye"), "bye");
  assert.equal(clock.pendingTimers, 1);
  clock.advance(999);
  assert.equal(recorder.closedCount, 0);
  clock.advance(1);
  await recorder.closed.promise;
  assert.equal(recorder.closedCount, 1);
  assert.equal(clock.pendingTimers, 0);
  conn.close();
});

Deno.test("TcpTransport reports closed() once when the peer resets", async () => {
  const { listener, next } = await serve();
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  transport.write("x".repeat(100_000));
  await conn.read(new Uint8Array(1));
  // Closing with unread bytes in the receive buffer makes the kernel send RST.
  conn.close();
  await recorder.closed.promise;
  transport.close();
  transport.destroy();
  transport.write("ignored");
  await delay(20);
  assert.equal(recorder.closedCount, 1);
  if (recorder.closedError !== undefined) {
    assert.equal((recorder.closedError as { code?: string }).code, "ECONNRESET");
  }
});

Deno.test("TcpTransport.destroy() drops pending writes and reports closed() once", async () => {
  const { listener, next } = await serve();
  await using _ = listener;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const transport = await next();
  const recorder = new Recorder(transport);
  transport.write("never sent");
  transport.destroy();
  transport.destroy();
  await recorder.closed.promise;
  assert.equal(await conn.read(new Uint8Array(16)), null);
  assert.equal(recorder.closedCount, 1);
  assert.equal(listener.connections, 0);
  conn.close();
});

Deno.test("TcpTransport rejects a negative close timeout", () => {
  assert.throws(
    () => new TcpTransport({} as never, "tcp", { closeTimeoutMs: -1 }),
    RangeError,
  );
});
