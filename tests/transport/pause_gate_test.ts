import assert from "node:assert/strict";
import { PauseGate } from "../../src/transport/pause_gate.ts";

function recorder() {
  const calls: string[] = [];
  return {
    calls,
    target: { pause: () => calls.push("pause"), resume: () => calls.push("resume") },
  };
}

Deno.test("PauseGate resumes only when every holder has resumed", () => {
  const { calls, target } = recorder();
  const gate = new PauseGate(target);
  const tls = gate.handle();
  const karma = gate.handle();
  tls.pause();
  karma.pause();
  karma.resume();
  assert.equal(gate.paused, true);
  assert.deepEqual(calls, ["pause"]);
  tls.resume();
  assert.equal(gate.paused, false);
  assert.deepEqual(calls, ["pause", "resume"]);
});

Deno.test("PauseGate ignores repeated pauses and resumes of one holder", () => {
  const { calls, target } = recorder();
  const gate = new PauseGate(target);
  const one = gate.handle();
  one.pause();
  one.pause();
  assert.equal(one.paused, true);
  one.resume();
  one.resume();
  assert.equal(one.paused, false);
  assert.deepEqual(calls, ["pause", "resume"]);
});

Deno.test("PauseGate refuses a 31st handle", () => {
  const gate = new PauseGate(recorder().target);
  for (let i = 0; i < 30; i++) gate.handle();
  assert.throws(() => gate.handle(), RangeError);
});
