import assert from "node:assert/strict";
import { PauseGate } from "../../src/transport/pause_gate.ts";

function recorder() {
  const calls: string[] = [];
  return {
    calls,
    target: {
      holdsInput: false,
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume"),
    },
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

Deno.test("PauseGate tells its observer before each time it resumes a transport holding input, for any party", () => {
  const { calls, target } = recorder();
  target.holdsInput = true;
  const gate = new PauseGate(target);
  gate.observe({ heldInputResumed: () => calls.push("observed") });
  const session = gate.handle();
  const karma = gate.handle();
  karma.pause();
  karma.resume();
  session.pause();
  karma.pause();
  session.resume(); // karma still holds it: no resume, nothing observed
  karma.resume();
  karma.resume(); // already resumed
  assert.deepEqual(calls, ["pause", "observed", "resume", "pause", "observed", "resume"]);
});

Deno.test("PauseGate does not tell its observer of a resume with nothing held", () => {
  const { calls, target } = recorder();
  const gate = new PauseGate(target);
  gate.observe({ heldInputResumed: () => calls.push("observed") });
  const sasl = gate.handle();
  sasl.pause();
  sasl.resume(); // the client waited for our answer: its next bytes come from a socket read
  target.holdsInput = true;
  sasl.pause();
  sasl.resume();
  assert.deepEqual(calls, ["pause", "resume", "pause", "observed", "resume"]);
});

Deno.test("PauseGate refuses a 31st handle", () => {
  const gate = new PauseGate(recorder().target);
  for (let i = 0; i < 30; i++) gate.handle();
  assert.throws(() => gate.handle(), RangeError);
});
