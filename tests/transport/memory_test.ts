import assert from "node:assert/strict";
import { createMemoryTransport } from "../../src/transport/memory.ts";
import type { Transport } from "../../src/transport/transport.ts";

const decoder = new TextDecoder();

function record(transport: Transport): { seen: string[]; closed: (Error | undefined)[] } {
  const seen: string[] = [];
  const closed: (Error | undefined)[] = [];
  transport.attach({
    data: (bytes) => seen.push(decoder.decode(bytes)),
    closed: (error) => closed.push(error),
  });
  return { seen, closed };
}

Deno.test("createMemoryTransport() reports the configured peer and encryption", () => {
  const plain = createMemoryTransport().transport;
  assert.equal(plain.type, "memory");
  assert.equal(plain.remoteAddress, "127.0.0.1");
  assert.equal(plain.encrypted, false);
  assert.equal(plain.canStartTls, true);

  const { transport } = createMemoryTransport({
    remoteAddress: "203.0.113.9",
    encrypted: true,
    type: "tls",
  });
  assert.equal(transport.type, "tls");
  assert.equal(transport.remoteAddress, "203.0.113.9");
  assert.equal(transport.encrypted, true);
  assert.equal(transport.canStartTls, false);
  assert.equal(createMemoryTransport({ canStartTls: false }).transport.canStartTls, false);
});

Deno.test("MemoryPeer.send() queues until attach and while paused", () => {
  const { transport, peer } = createMemoryTransport();
  peer.send("a");
  const { seen } = record(transport);
  assert.deepEqual(seen, ["a"]);
  transport.pause();
  assert.equal(peer.paused, true);
  peer.send("b");
  peer.send(new TextEncoder().encode("c"));
  assert.deepEqual(seen, ["a"]);
  assert.equal(transport.holdsInput, true);
  transport.resume();
  assert.equal(peer.paused, false);
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.equal(transport.holdsInput, false);
});

Deno.test("MemoryTransport stops delivering when the handler pauses mid-queue", () => {
  const { transport, peer } = createMemoryTransport();
  transport.pause();
  peer.send("1");
  peer.send("2");
  const seen: string[] = [];
  transport.attach({
    data(bytes) {
      seen.push(decoder.decode(bytes));
      transport.pause();
    },
    closed() {},
  });
  transport.resume();
  assert.deepEqual(seen, ["1"]);
  transport.resume();
  assert.deepEqual(seen, ["1", "2"]);
});

Deno.test("MemoryPeer.read() and nextWrite() drain what the server wrote", async () => {
  const { transport, peer } = createMemoryTransport();
  record(transport);
  assert.equal(peer.read(), "");
  const next = peer.nextWrite();
  transport.write("<a/>");
  transport.write(Uint8Array.of(0xc3));
  assert.equal(transport.bufferedBytes, 5);
  transport.write(Uint8Array.of(0xa9)); // "é" split across two writes
  assert.equal(await next, "<a/>é");
  assert.equal(transport.bufferedBytes, 0);
  transport.write("<b/>");
  assert.equal(await peer.nextWrite(), "<b/>");
  transport.write("<c/>");
  assert.equal(peer.read(), "<c/>");
  assert.equal(peer.read(), "");
});

Deno.test("MemoryTransport.close() keeps written data readable and reports closed() once", async () => {
  const { transport, peer } = createMemoryTransport();
  const { closed } = record(transport);
  transport.write("</stream:stream>");
  transport.close();
  transport.close();
  transport.write("late");
  assert.equal(peer.closed, true);
  assert.deepEqual(closed, [], "closed() runs asynchronously, as on a socket");
  assert.equal(await peer.whenClosed(), undefined);
  assert.deepEqual(closed, [undefined]);
  assert.equal(await peer.nextWrite(), "</stream:stream>");
  await assert.rejects(peer.nextWrite(), /closed with nothing written/);
  assert.throws(() => peer.send("x"), /transport is closed/);
});

Deno.test("MemoryTransport.destroy() drops pending writes", async () => {
  const { transport, peer } = createMemoryTransport();
  const { closed } = record(transport);
  transport.write("lost");
  transport.destroy();
  transport.destroy();
  await peer.whenClosed();
  assert.equal(peer.read(), "");
  assert.deepEqual(closed, [undefined]);
});

Deno.test("MemoryPeer.close() reports the error to closed() at once", async () => {
  const { transport, peer } = createMemoryTransport();
  const { closed } = record(transport);
  const pending = peer.nextWrite();
  const reset = new Error("reset by peer");
  peer.close(reset);
  peer.close();
  assert.deepEqual(closed, [reset]);
  await assert.rejects(pending, /closed with nothing written/);
  assert.equal(await peer.whenClosed(), reset);
  transport.close();
  await Promise.resolve();
  assert.equal(closed.length, 1);
});

Deno.test("MemoryTransport.attach() after close reports closed() and refuses a second handler", async () => {
  const { transport, peer } = createMemoryTransport();
  peer.close();
  const { closed } = record(transport);
  await Promise.resolve();
  assert.deepEqual(closed, [undefined]);
  assert.throws(() => record(transport), /already has one/);
});

Deno.test("MemoryTransport.startTls() requires a pause, flips encrypted and stays paused", async () => {
  const { transport, peer } = createMemoryTransport();
  const { seen } = record(transport);
  await assert.rejects(transport.startTls(), /reading must be paused first/);
  peer.send("<starttls/>");
  transport.pause();
  transport.write("<proceed/>");
  peer.send("<stream:stream>");
  await transport.startTls();
  assert.equal(transport.encrypted, true);
  assert.equal(peer.tlsUpgrades, 1);
  assert.equal(transport.canStartTls, false);
  assert.equal(peer.paused, true, "the caller resumes after resetting its parser");
  assert.deepEqual(seen, ["<starttls/>"]);
  transport.resume();
  assert.deepEqual(seen, ["<starttls/>", "<stream:stream>"]);
  assert.equal(peer.read(), "<proceed/>");
  transport.pause();
  await assert.rejects(transport.startTls(), /does not offer STARTTLS/);
  await assert.rejects(
    createMemoryTransport({ canStartTls: false }).transport.startTls(),
    /does not offer STARTTLS/,
  );
});
