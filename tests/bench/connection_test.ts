// The load generator's connection against a bare TCP peer on 127.0.0.1 that
// answers only when told to: replies in order, timeouts from the shared
// deadline sweep, and the close of a connection that is waiting.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { ConnectionClosedError, XmppConnection } from "../../bench/loadgen/connection.ts";

async function withPeer(
  run: (conn: XmppConnection, peer: Socket) => Promise<void>,
): Promise<void> {
  const accepted = Promise.withResolvers<Socket>();
  const server = createServer(accepted.resolve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const conn = await XmppConnection.connect({ host: "127.0.0.1", port, domain: "localhost" });
  const peer = await accepted.promise;
  try {
    await run(conn, peer);
  } finally {
    conn.destroy();
    peer.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const HEADER = "<stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='1' version='1.0'>";

Deno.test("next() gives replies in order, queued or awaited", async () => {
  await withPeer(async (conn, peer) => {
    const first = conn.next(1000);
    peer.write(HEADER + "<a/><b/>");
    assert.equal(await first, "<a/>");
    assert.equal(await conn.next(1000), "<b/>");
    const third = conn.next(1000);
    peer.write("<c>text</c>");
    assert.equal(await third, "<c>text</c>");
  });
});

Deno.test("next() fails after its timeout while other waits go on", async () => {
  await withPeer(async (conn, peer) => {
    const started = performance.now();
    await assert.rejects(conn.next(150), (error: unknown) => {
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.message, "No reply within 150 ms");
      return true;
    });
    const waited = performance.now() - started;
    // The sweep runs every 100 ms: the timeout fires between 150 and ~250 ms.
    assert.ok(waited >= 150 && waited < 1000, `waited ${waited} ms`);
    const late = conn.next(1000);
    peer.write(HEADER + "<late/>");
    assert.equal(await late, "<late/>");
  });
});

Deno.test("next() fails at once when the peer closes while it waits", async () => {
  await withPeer(async (conn, peer) => {
    const waiting = conn.next(10_000);
    peer.end();
    await assert.rejects(waiting, /Connection closed by the server/);
    await assert.rejects(conn.next(10_000), /Connection closed by the server/);
  });
});
