import assert from "node:assert/strict";
import { systemTimers } from "../../src/core/clock.ts";

// systemTimers unrefs its timers, so a test awaiting one needs something that keeps the event
// loop alive meanwhile; this ref'd interval does, and is cleared when the awaited work settles.
async function withEventLoopHeld<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000);
  try {
    return await work;
  } finally {
    clearInterval(hold);
  }
}

Deno.test("systemTimers.now() never goes backwards", () => {
  let previous = systemTimers.now();
  for (let i = 0; i < 1000; i++) {
    const current = systemTimers.now();
    assert.ok(current >= previous, `${current} < ${previous}`);
    previous = current;
  }
});

Deno.test("systemTimers.now() follows performance.now, not the wall clock", () => {
  const before = performance.now();
  const reading = systemTimers.now();
  const after = performance.now();
  assert.ok(reading >= before && reading <= after);
});

Deno.test("systemTimers.set() runs the callback once after the delay", async () => {
  const started = performance.now();
  const fired = Promise.withResolvers<number>();
  let calls = 0;
  systemTimers.set(() => {
    calls++;
    fired.resolve(performance.now());
  }, 20);
  const at = await withEventLoopHeld(fired.promise);
  // Timers may fire a millisecond early because of clock rounding.
  assert.ok(at - started >= 19, `fired after ${at - started} ms`);
  assert.equal(calls, 1);
});

Deno.test("systemTimers.clear() stops a pending timer from firing", async () => {
  let fired = false;
  const id = systemTimers.set(() => {
    fired = true;
  }, 5);
  systemTimers.clear(id);
  const later = Promise.withResolvers<void>();
  systemTimers.set(() => later.resolve(), 30);
  await withEventLoopHeld(later.promise);
  assert.equal(fired, false);
});

Deno.test("systemTimers.clear() ignores unknown and already-fired ids", async () => {
  const done = Promise.withResolvers<void>();
  const id = systemTimers.set(() => done.resolve(), 0);
  await withEventLoopHeld(done.promise);
  systemTimers.clear(id);
  systemTimers.clear(undefined);
  systemTimers.clear("not a timer");
});

Deno.test("systemTimers.set() does not keep the process alive on its own", async () => {
  const clockUrl = new URL("../../src/core/clock.ts", import.meta.url).href;
  const script = `import { systemTimers } from ${JSON.stringify(clockUrl)};
systemTimers.set(() => Deno.exit(3), 60_000);`;
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.ok(performance.now() - started < 30_000);
});
