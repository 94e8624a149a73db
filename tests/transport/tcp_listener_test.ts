import assert from "node:assert/strict";
import { listenTcp } from "../../src/transport/tcp_listener.ts";
import type { Transport } from "../../src/transport/transport.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const material = await createSelfSignedCertificate("localhost");

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

/** Attaches an echo handler and resolves `closed` when the transport closes. */
function echo(transport: Transport): Promise<void> {
  const closed = Promise.withResolvers<void>();
  transport.attach({
    data: (bytes) => transport.write(`echo:${decoder.decode(bytes)}`),
    closed: () => closed.resolve(),
  });
  return closed.promise;
}

Deno.test("listenTcp() binds port 0 to a real port and hands out plain transports", async () => {
  const closed: Promise<void>[] = [];
  const transports: Transport[] = [];
  await using listener = await listenTcp({ host: "127.0.0.1", port: 0 }, (transport) => {
    transports.push(transport);
    closed.push(echo(transport));
  });
  assert.equal(listener.addr.hostname, "127.0.0.1");
  assert.ok(listener.addr.port > 0);
  assert.equal(listener.connections, 0);

  const a = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await a.write(encoder.encode("a"));
  await b.write(encoder.encode("b"));
  assert.equal(await readUntil(a, "echo:a"), "echo:a");
  assert.equal(await readUntil(b, "echo:b"), "echo:b");
  assert.equal(listener.connections, 2);
  assert.deepEqual(transports.map((t) => [t.type, t.encrypted, t.canStartTls]), [
    ["tcp", false, false],
    ["tcp", false, false],
  ]);
  a.close();
  await closed[0];
  assert.equal(listener.connections, 1);
  b.close();
  await closed[1];
  assert.equal(listener.connections, 0);
});

Deno.test("listenTcp() refuses a connection at the gate before reading or writing", async () => {
  const gated: string[] = [];
  let handedOut = 0;
  await using listener = await listenTcp({
    host: "127.0.0.1",
    port: 0,
    accept: (remoteAddress) => {
      gated.push(remoteAddress);
      return gated.length > 1;
    },
  }, (transport) => {
    handedOut++;
    transport.attach({ data() {}, closed() {} });
    transport.write("welcome");
    transport.close();
  });

  const refused = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(await refused.read(new Uint8Array(16)), null, "expected EOF with no bytes");
  refused.close();
  assert.deepEqual(gated, ["127.0.0.1"]);
  assert.equal(handedOut, 0);
  assert.equal(listener.connections, 0);

  const admitted = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(await readUntil(admitted, "welcome"), "welcome");
  admitted.close();
  assert.equal(handedOut, 1);
});

Deno.test("listenTcp() with directTls completes a handshake with Deno.connectTls", async () => {
  let transport: Transport | undefined;
  let closed: Promise<void> | undefined;
  await using listener = await listenTcp(
    { host: "127.0.0.1", port: 0, directTls: material },
    (accepted) => {
      transport = accepted;
      closed = echo(accepted);
    },
  );
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [material.cert],
  });
  await conn.handshake();
  await conn.write(encoder.encode("<presence/>"));
  assert.equal(await readUntil(conn, "echo:<presence/>"), "echo:<presence/>");
  assert.equal(transport?.type, "tls");
  assert.equal(transport?.encrypted, true);
  assert.equal(transport?.canStartTls, false);
  conn.close();
  await closed;
});

Deno.test("listenTcp() with startTls offers STARTTLS on plain transports", async () => {
  let transport: Transport | undefined;
  await using listener = await listenTcp(
    { host: "127.0.0.1", port: 0, startTls: material },
    (accepted) => {
      transport = accepted;
      accepted.attach({ data() {}, closed() {} });
      accepted.write("ready");
    },
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await readUntil(conn, "ready");
  assert.equal(transport?.type, "tcp");
  assert.equal(transport?.canStartTls, true);
  conn.close();
});

Deno.test("listenTcp() unwraps IPv4-mapped addresses on a dual-stack socket", async () => {
  const seen = Promise.withResolvers<string>();
  await using listener = await listenTcp({ host: "::", port: 0 }, (transport) => {
    seen.resolve(transport.remoteAddress);
    transport.destroy();
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(await seen.promise, "127.0.0.1");
  conn.close();
});

Deno.test("TcpListener.close() stops accepting and keeps open connections", async () => {
  let closed: Promise<void> | undefined;
  const listener = await listenTcp({ host: "127.0.0.1", port: 0 }, (transport) => {
    closed = echo(transport);
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await conn.write(encoder.encode("1"));
  await readUntil(conn, "echo:1");
  await listener.close();
  await listener.close(); // idempotent
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    Deno.errors.ConnectionRefused,
  );
  await conn.write(encoder.encode("2"));
  assert.equal(await readUntil(conn, "echo:2"), "echo:2");
  conn.close();
  await closed;
});

Deno.test("listenTcp() reports a throwing gate to onError and drops the connection", async () => {
  const errors: unknown[] = [];
  await using listener = await listenTcp({
    host: "127.0.0.1",
    port: 0,
    accept: () => {
      throw new Error("gate broke");
    },
    onError: (error) => errors.push(error),
  }, () => assert.fail("no connection expected"));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
  assert.equal((errors[0] as Error).message, "gate broke");
});

Deno.test("listenTcp() rejects invalid options and busy ports", async () => {
  await assert.rejects(
    listenTcp({ host: "127.0.0.1", port: 0, directTls: material, startTls: material }, () => {}),
    TypeError,
  );
  await assert.rejects(listenTcp({ host: "127.0.0.1", port: 70000 }, () => {}), RangeError);
  await assert.rejects(
    listenTcp({ host: "127.0.0.1", port: 0, closeTimeoutMs: -5 }, () => {}),
    RangeError,
  );
  await using first = await listenTcp({ host: "127.0.0.1", port: 0 }, () => {});
  await assert.rejects(listenTcp({ host: "127.0.0.1", port: first.addr.port }, () => {}));
});
