import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { FairInput, type FairInputOptions } from "../../src/limits/fair_input.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

const KIB = 1024;

class FakeTransport {
  calls: string[] = [];
  paused = false;
  pause(): void {
    this.calls.push("pause");
    this.paused = true;
  }
  resume(): void {
    this.calls.push("resume");
    this.paused = false;
  }
}

/** A scheduler that runs rounds only when the test says so. */
class ManualSchedule {
  tasks: (() => void)[] = [];
  schedule = (task: () => void): void => {
    this.tasks.push(task);
  };
  /** Runs the task scheduled first (one round). */
  runOne(): void {
    const task = this.tasks.shift();
    assert.ok(task !== undefined, "a round is scheduled");
    task();
  }
  runAll(): number {
    let rounds = 0;
    while (this.tasks.length > 0) {
      this.runOne();
      rounds++;
    }
    return rounds;
  }
}

function fairInput(schedule: ManualSchedule, options: FairInputOptions = {}): FairInput {
  return new FairInput({ ...options, schedule: schedule.schedule });
}

/** A fair input on a manual clock and schedule whose I/O polls wait in `polls` until resumed. */
function polledFairInput(options: FairInputOptions) {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const polls: (() => void)[] = [];
  const fair = fairInput(schedule, { clock, ioPoll: (resume) => polls.push(resume), ...options });
  return { clock, schedule, polls, fair };
}

/** Bytes `from`, `from + 1`, … modulo 251, so any loss or reordering shows. */
function pattern(from: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (from + i) % 251;
  return bytes;
}

/** A `process` that checks the pattern and counts bytes. */
class PatternSink {
  received = 0;
  calls = 0;
  largest = 0;
  process = (chunk: Uint8Array): void => {
    for (let i = 0; i < chunk.length; i++) {
      assert.equal(chunk[i], (this.received + i) % 251, `byte ${this.received + i}`);
    }
    this.received += chunk.length;
    this.calls++;
    if (chunk.length > this.largest) this.largest = chunk.length;
  };
}

Deno.test("FairInput() rejects a bad quantum, cap, schedule, onError or onLightServed", () => {
  assert.throws(
    () => new FairInput({ quantumBytes: 0 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create fair input: 'quantumBytes' must be a positive integer, got 0",
  );
  assert.throws(() => new FairInput({ quantumBytes: 1.5 }), RangeError);
  assert.throws(
    () => new FairInput({ maxQueuedQuanta: 0 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create fair input: 'maxQueuedQuanta' must be an integer >= 1, got 0",
  );
  assert.throws(
    () => new FairInput({ schedule: 5 as unknown as () => void }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === "Cannot create fair input: 'schedule' must be a function",
  );
  assert.throws(() => new FairInput({ onError: "log" as unknown as () => void }), TypeError);
  assert.throws(
    () => new FairInput({ onLightServed: "flush" as unknown as () => void }),
    TypeError,
  );
  assert.equal(new FairInput().quantumBytes, 4 * KIB);
});

Deno.test("FairInputQueue.push() processes at once when idle and the chunk fits the quantum", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule);
  const sink = new PatternSink();
  const queue = fair.register(sink.process);
  queue.push(pattern(0, 4 * KIB));
  assert.equal(sink.received, 4 * KIB);
  queue.push(pattern(4 * KIB, 100));
  assert.equal(sink.received, 4 * KIB + 100);
  queue.push(new Uint8Array(0));
  assert.equal(sink.calls, 2);
  assert.equal(schedule.tasks.length, 0);
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInputQueue.push() slices a chunk above the quantum: one slice now, the rest in rounds", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 1000, maxQueuedQuanta: 10 });
  const sink = new PatternSink();
  const queue = fair.register(sink.process);
  queue.push(pattern(0, 3500));
  assert.equal(sink.received, 1000);
  assert.equal(queue.queuedBytes, 2500);
  assert.equal(fair.waitingQueues, 1);
  // Idle no longer: a further small chunk waits behind the backlog, in order.
  queue.push(pattern(3500, 10));
  assert.equal(sink.received, 1000);
  schedule.runOne();
  assert.equal(sink.received, 2000);
  schedule.runOne();
  assert.equal(sink.received, 3000);
  schedule.runOne();
  assert.equal(sink.received, 3510);
  assert.equal(sink.largest, 1000);
  assert.equal(schedule.tasks.length, 0);
  assert.equal(fair.waitingQueues, 0);
  queue.push(pattern(3510, 5)); // idle again: at once
  assert.equal(sink.received, 3515);
});

Deno.test("FairInput serves a chatty connection within one round while another floods 10 MB", () => {
  const FLOOD = 10 * 1024 * KIB;
  const READ = 64 * KIB; // what one socket read delivers
  const STANZA = 200;
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule); // 4 KiB quantum, 64 KiB cap
  const log: { who: string; bytes: number }[] = [];
  const floodSink = new PatternSink();
  const chatSink = new PatternSink();
  const floodTransport = new FakeTransport();
  const flood = fair.register((chunk) => {
    log.push({ who: "flood", bytes: chunk.length });
    floodSink.process(chunk);
  }, floodTransport);
  const chat = fair.register((chunk) => {
    log.push({ who: "chat", bytes: chunk.length });
    chatSink.process(chunk);
  });

  let floodSent = 0;
  let chatSent = 0;
  let maxQueued = 0;
  let rounds = 0;
  let stanzas = 0;
  // Each turn of the simulated event loop: the reads that are ready, then one round.
  for (let turn = 0; floodSent < FLOOD || schedule.tasks.length > 0; turn++) {
    if (!floodTransport.paused && floodSent < FLOOD) {
      flood.push(pattern(floodSent, READ));
      floodSent += READ;
    }
    maxQueued = Math.max(maxQueued, fair.queuedBytes);
    let logAtPush = -1;
    if (turn % 3 === 1) {
      logAtPush = log.length;
      chat.push(pattern(chatSent, STANZA));
      chatSent += STANZA;
      stanzas++;
    }
    if (schedule.tasks.length > 0) {
      schedule.runOne();
      rounds++;
    }
    if (logAtPush >= 0) {
      // The stanza was processed in this turn, after at most one quantum of the flood.
      assert.equal(chatSink.received, chatSent, `turn ${turn}`);
      const before = log.slice(
        logAtPush,
        log.findIndex((e, i) => i >= logAtPush && e.who === "chat"),
      );
      const floodBytes = before.reduce((sum, e) => sum + e.bytes, 0);
      assert.ok(floodBytes <= 4 * KIB, `turn ${turn}: ${floodBytes} B of flood first`);
    }
  }
  assert.equal(floodSink.received, FLOOD);
  assert.equal(chatSink.received, chatSent);
  assert.ok(stanzas > 100, `${stanzas} stanzas`);
  assert.ok(rounds >= FLOOD / (4 * KIB) - 1, `${rounds} rounds`);
  assert.equal(floodSink.largest, 4 * KIB);
  // Bounded: the cap (16 quanta) plus the read that crossed it.
  assert.ok(maxQueued <= 16 * 4 * KIB + READ, `${maxQueued} B queued`);
  assert.ok(floodTransport.calls.length > 10);
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInputQueue pauses its transport above the cap and resumes it at one quantum", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4, maxQueuedQuanta: 2 }); // cap 8 B
  const transport = new FakeTransport();
  const sink = new PatternSink();
  const queue = fair.register(sink.process, transport);
  queue.push(pattern(0, 4)); // idle: at once
  const other = fair.register(() => {});
  other.push(new Uint8Array(8)); // 4 B at once, 4 B queued: no longer idle
  queue.push(pattern(4, 8));
  assert.equal(queue.queuedBytes, 8);
  assert.deepEqual(transport.calls, []); // at the cap, not over it
  queue.push(pattern(12, 1));
  assert.equal(queue.paused, true);
  assert.deepEqual(transport.calls, ["pause"]);
  queue.push(pattern(13, 3)); // a read already under way: queued, no second pause
  assert.equal(queue.queuedBytes, 12);
  assert.deepEqual(transport.calls, ["pause"]);
  schedule.runOne(); // 8 B left
  assert.deepEqual(transport.calls, ["pause"]);
  schedule.runOne(); // 4 B left: one quantum
  assert.deepEqual(transport.calls, ["pause", "resume"]);
  assert.equal(queue.paused, false);
  schedule.runAll();
  assert.equal(sink.received, 16);
  assert.deepEqual(transport.calls, ["pause", "resume"]);
});

Deno.test("FairInput keeps each connection's bytes in order across random chunk sizes", () => {
  let seed = 42;
  function random(max: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return 1 + (seed % max);
  }
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 1000, maxQueuedQuanta: 3 });
  const connections = [0, 1, 2].map(() => {
    const transport = new FakeTransport();
    const sink = new PatternSink();
    return { transport, sink, queue: fair.register(sink.process, transport), sent: 0 };
  });
  for (let turn = 0; turn < 2000; turn++) {
    for (const c of connections) {
      if (c.transport.paused || random(3) === 1) continue;
      const size = random(2500);
      c.queue.push(pattern(c.sent, size));
      c.sent += size;
    }
    if (schedule.tasks.length > 0) schedule.runOne();
    assert.ok(fair.queuedBytes <= 3 * (3000 + 2500));
  }
  schedule.runAll();
  for (const c of connections) {
    assert.equal(c.sink.received, c.sent);
    assert.ok(c.sink.largest <= 1000);
  }
});

Deno.test("FairInput keeps order when process pushes into its own or another queue", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4 });
  const seen: string[] = [];
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const b = fair.register((chunk) => seen.push(`b:${decoder.decode(chunk)}`));
  let echoed = false;
  const a = fair.register((chunk) => {
    seen.push(`a:${decoder.decode(chunk)}`);
    if (!echoed) {
      echoed = true;
      a.push(encoder.encode("a2"));
      b.push(encoder.encode("b1"));
    }
  });
  a.push(encoder.encode("a1"));
  assert.deepEqual(seen, ["a:a1"]); // nothing runs inside process
  assert.equal(schedule.tasks.length, 1);
  schedule.runAll();
  assert.deepEqual(seen, ["a:a1", "a:a2", "b:b1"]);
});

Deno.test("FairInputQueue.close() drops the backlog and leaves the schedule", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4, maxQueuedQuanta: 4 }); // cap 16 B
  const transport = new FakeTransport();
  const sink = new PatternSink();
  const queue = fair.register(sink.process, transport);
  queue.push(pattern(0, 40));
  assert.equal(fair.queuedBytes, 36);
  assert.equal(queue.paused, true);
  queue.close();
  assert.equal(queue.closed, true);
  assert.equal(fair.queuedBytes, 0);
  assert.equal(fair.waitingQueues, 0);
  queue.push(pattern(4, 4)); // ignored
  schedule.runAll();
  assert.equal(sink.received, 4);
  assert.deepEqual(transport.calls, ["pause"]);
  // Idle again: another connection is processed at once.
  const other = new PatternSink();
  using second = fair.register(other.process);
  second.push(pattern(0, 4));
  assert.equal(other.received, 4);
});

Deno.test("FairInput hands an error from process to onError, closes that queue, serves the rest", () => {
  const schedule = new ManualSchedule();
  const errors: unknown[] = [];
  const fair = fairInput(schedule, { quantumBytes: 4, onError: (error) => errors.push(error) });
  const good = new PatternSink();
  const bad = fair.register((chunk) => {
    if (chunk[0] === 9) throw new Error("parser exploded");
  });
  const ok = fair.register(good.process);
  bad.push(new Uint8Array([1, 1, 1, 1, 9, 9, 9, 9, 1, 1]));
  ok.push(pattern(0, 8));
  schedule.runAll();
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "parser exploded");
  assert.equal(bad.closed, true);
  assert.equal(bad.queuedBytes, 0);
  assert.equal(good.received, 8);
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInput without onError rethrows from push() or after the round, and stays usable", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4 });
  const failing = fair.register(() => {
    throw new Error("sync failure");
  });
  assert.throws(() => failing.push(new Uint8Array(2)), { message: "sync failure" });
  assert.equal(failing.closed, true);

  let calls = 0;
  const later = fair.register((chunk) => {
    calls++;
    if (chunk[0] === 9) throw new Error("round failure");
  });
  const good = new PatternSink();
  const ok = fair.register(good.process);
  later.push(new Uint8Array([1, 1, 1, 1, 9]));
  ok.push(pattern(0, 8));
  assert.throws(() => schedule.runOne(), { message: "round failure" });
  // The round finished (the other queue had its quantum) and the next one is
  // scheduled before the error surfaced.
  assert.equal(good.received, 4);
  assert.equal(calls, 2);
  assert.equal(later.closed, true);
  assert.equal(schedule.tasks.length, 1);
  schedule.runAll();
  assert.equal(good.received, 8);
  ok.push(pattern(8, 2)); // idle again
  assert.equal(good.received, 10);
});

Deno.test("FairInput yields with setImmediate by default and drains", async () => {
  const fair = new FairInput({ quantumBytes: 16 * KIB });
  const big = new PatternSink();
  const small = new PatternSink();
  const done = Promise.withResolvers<void>();
  let bigAtSmall = -1;
  const flood = fair.register((chunk) => {
    big.process(chunk);
    if (big.received === 1024 * KIB) done.resolve();
  });
  const chat = fair.register((chunk) => {
    small.process(chunk);
    bigAtSmall = big.received;
  });
  flood.push(pattern(0, 1024 * KIB));
  chat.push(pattern(0, 100));
  assert.equal(big.received, 16 * KIB); // the first quantum, synchronously
  assert.equal(small.received, 0);
  await done.promise;
  assert.equal(small.received, 100);
  assert.equal(bigAtSmall, 16 * KIB); // light: first in the first round
  assert.equal(fair.queuedBytes, 0);
  assert.equal(fair.waitingQueues, 0);
});

Deno.test("FairInput keeps every other queue scheduled when onError or resume() throws", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, {
    quantumBytes: 4,
    maxQueuedQuanta: 1,
    onError: (error) => {
      throw new Error(`wrapped: ${(error as Error).message}`);
    },
  });
  const brokenTransport = {
    pause() {},
    resume() {
      throw new Error("socket gone");
    },
  };
  const broken = fair.register(() => {}, brokenTransport);
  const good = new PatternSink();
  const ok = fair.register(good.process);
  broken.push(new Uint8Array(12)); // 4 B now, 8 B queued: over the cap, paused
  assert.equal(broken.paused, true);
  ok.push(pattern(0, 12));
  // broken drains to 4 B, resume() throws, onError throws: rethrown after the round.
  assert.throws(() => schedule.runOne(), { message: "wrapped: socket gone" });
  assert.equal(broken.closed, true);
  assert.equal(good.received, 4); // served in the same round
  assert.equal(schedule.tasks.length, 1);
  schedule.runAll();
  assert.equal(good.received, 12);
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInput() rejects a bad I/O poll interval, poll or round budget", () => {
  for (const ioPollEveryMs of [-1, Infinity, NaN]) {
    assert.throws(() => new FairInput({ ioPollEveryMs }), RangeError);
  }
  assert.throws(
    () => new FairInput({ ioPoll: 64 as unknown as () => void }),
    (error: Error) =>
      error instanceof TypeError &&
      error.message === "Cannot create fair input: 'ioPoll' must be a function or null",
  );
  for (const roundBudgetMs of [0, -2, NaN]) {
    assert.throws(() => new FairInput({ roundBudgetMs }), RangeError);
  }
});

Deno.test("FairInput polls for I/O before a round once rounds ran ioPollEveryMs", () => {
  const { clock, schedule, polls, fair } = polledFairInput({
    ioPollEveryMs: 1,
    quantumBytes: 4,
  });
  const log: string[] = [];
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const flood = fair.register((chunk) => {
    log.push(decoder.decode(chunk));
    clock.advance(1); // each quantum costs 1 ms
  });
  const chat = fair.register((chunk) => log.push(decoder.decode(chunk)));
  flood.push(encoder.encode("aaaabbbbccccdddd")); // "aaaa" at once, 1 ms
  assert.deepEqual(log, ["aaaa"]);
  // Rounds started from idle (the event loop had just polled): no poll first.
  assert.equal(polls.length, 0);
  schedule.runOne();
  assert.deepEqual(log, ["aaaa", "bbbb"]);
  // 1 ms of rounds: the next one waits for a poll, not for the schedule.
  assert.equal(schedule.tasks.length, 0);
  assert.equal(polls.length, 1);
  // A chunk read from any socket proves that sockets were polled, even one for
  // the backlogged connection: the poll ends and a round is scheduled.
  flood.push(encoder.encode("eeee"));
  assert.equal(schedule.tasks.length, 1);
  schedule.runOne();
  assert.deepEqual(log, ["aaaa", "bbbb", "cccc"]);
  // The round took 1 ms: the next one waits for a poll again. The first poll's
  // timer is still outstanding, so no second one starts; a chat line ends this poll.
  assert.equal(schedule.tasks.length, 0);
  assert.equal(polls.length, 1);
  chat.push(encoder.encode("<b/>"));
  assert.equal(schedule.tasks.length, 1);
  schedule.runOne();
  assert.deepEqual(log, ["aaaa", "bbbb", "cccc", "<b/>", "dddd"]);
  // Polling again: when the outstanding timer fires, it ends the poll running then.
  assert.equal(schedule.tasks.length, 0);
  assert.equal(polls.length, 1);
  polls.shift()!();
  assert.equal(schedule.tasks.length, 1);
  schedule.runOne();
  assert.deepEqual(log, ["aaaa", "bbbb", "cccc", "<b/>", "dddd", "eeee"]);
  assert.equal(polls.length, 0);
  assert.equal(schedule.tasks.length, 0);
});

Deno.test("FairInput lets the round after a poll that ran to its timer take ten budgets while only light queues wait", () => {
  const { clock, schedule, polls, fair } = polledFairInput({ roundBudgetMs: 1 });
  const log: number[] = [];
  const queues = Array.from({ length: 30 }, (_, name) =>
    fair.register(() => {
      log.push(name);
      clock.advance(0.5);
    }));
  const line = new Uint8Array(100);
  const other = fair.register(() => clock.advance(1));
  other.push(line); // idle: at once, and this turn's budget is spent
  for (const queue of queues) queue.push(line); // they wait as light queues
  schedule.runOne(); // the turn ends
  schedule.runOne(); // a round of one budget: two queues
  assert.deepEqual(log, [0, 1]);
  assert.equal(polls.length, 1);
  polls.shift()!(); // the poll runs to its timer: nobody sent anything
  schedule.runOne(); // ten budgets: twenty queues
  assert.equal(log.length, 22);
  assert.equal(polls.length, 1, "the next round waits for a poll again");
  const reader = fair.register(() => {});
  reader.push(line); // a read ends it: the next round has one budget again
  schedule.runOne();
  assert.equal(log.length, 24);
});

Deno.test("FairInput keeps one budget after a poll that ran to its timer while a backlog waits", () => {
  const { clock, schedule, polls, fair } = polledFairInput({ roundBudgetMs: 1, quantumBytes: 4 });
  const served: string[] = [];
  const flood = fair.register(() => {
    served.push("flood");
    clock.advance(1);
  });
  const light = Array.from({ length: 5 }, () =>
    fair.register(() => {
      served.push("light");
      clock.advance(0.5);
    }));
  flood.push(new Uint8Array(64)); // a quantum at once, the rest a backlog
  for (const queue of light) queue.push(new Uint8Array(2)); // light, behind the turn's budget
  schedule.runOne(); // the turn ends
  schedule.runOne(); // two light queues, then the round is over its budget: one backlog quantum
  assert.equal(polls.length, 1);
  served.length = 0;
  polls.shift()!(); // ran to its timer
  schedule.runOne();
  assert.deepEqual(served, ["light", "light", "flood"], "one budget, as a backlog waits");
});

Deno.test("FairInput ends a poll at the first chunk after it resumes its transport with nothing held", () => {
  const { clock, schedule, polls, fair } = polledFairInput({
    ioPollEveryMs: 0,
    quantumBytes: 4,
    maxQueuedQuanta: 1,
  });
  const transport = new FakeTransport();
  const encoder = new TextEncoder();
  let served = 0;
  const other = fair.register(() => clock.advance(1));
  const flood = fair.register(() => served++, transport);
  other.push(encoder.encode("oooooooo")); // a backlog elsewhere keeps rounds going
  flood.push(encoder.encode("aaaabbbb")); // over the cap: paused
  assert.equal(transport.paused, true);
  schedule.runOne(); // serves both; the flood's backlog is down to one quantum: resumed
  assert.equal(transport.paused, false);
  assert.equal(polls.length, 1);
  // No held input was reported (the gate does that, see pause_gate.ts): a socket read.
  flood.push(encoder.encode("dddd"));
  assert.equal(schedule.tasks.length, 1, "the poll ended: a round is scheduled");
  assert.ok(served > 0);
});

Deno.test("FairInput does not end a poll at the first chunk after a resume with held input", () => {
  const { clock, schedule, polls, fair } = polledFairInput({
    ioPollEveryMs: 0,
    quantumBytes: 4,
  });
  const encoder = new TextEncoder();
  const other = fair.register(() => clock.advance(1));
  const throttled = fair.register(() => {});
  other.push(encoder.encode("oooooooooooo")); // a backlog keeps rounds going
  schedule.runOne();
  assert.equal(polls.length, 1);
  // Karma resumed the transport with a chunk it had read before the pause.
  throttled.heldInputResumed();
  throttled.push(encoder.encode("buf"));
  assert.equal(schedule.tasks.length, 0, "still polling");
  throttled.push(encoder.encode("read")); // the one after it came from a socket read
  assert.equal(schedule.tasks.length, 1);
});

Deno.test("FairInput calls onLightServed after the light queues, before the backlogs", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const log: string[] = [];
  const fair = fairInput(schedule, {
    clock,
    quantumBytes: 4,
    onLightServed: () => log.push("flush"),
  });
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const flood = fair.register((chunk) => log.push(`flood:${decoder.decode(chunk)}`));
  const chat = fair.register((chunk) => log.push(`chat:${decoder.decode(chunk)}`));
  flood.push(encoder.encode("aaaabbbbcccc")); // idle: "aaaa" at once, no round
  assert.deepEqual(log.splice(0), ["flood:aaaa"]);
  schedule.runOne(); // the flood's backlog is new: served, then the replies go out
  assert.deepEqual(log.splice(0), ["flood:bbbb", "flush"]);
  chat.push(encoder.encode("<m/>"));
  schedule.runOne(); // the chat line, its reply, then the older backlog
  assert.deepEqual(log.splice(0), ["chat:<m/>", "flush", "flood:cccc"]);
  assert.equal(schedule.tasks.length, 0);
  flood.push(encoder.encode("ddddeeee")); // idle again: "dddd" at once
  flood.push(encoder.encode("ffff"));
  schedule.runOne();
  schedule.runAll(); // only older backlog left: no flush of its own
  assert.deepEqual(log.splice(0), ["flood:dddd", "flood:eeee", "flush", "flood:ffff"]);
});

Deno.test("FairInput cuts a round at roundBudgetMs, and the backlogs it did not reach go first in the next", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { clock, roundBudgetMs: 2, quantumBytes: 4096 });
  const log: string[] = [];
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const floods = ["a", "b", "c", "d"].map((name) =>
    fair.register((chunk) => {
      log.push(name + chunk.length);
      clock.advance(1);
    })
  );
  const chat = fair.register((chunk) => log.push(`chat:${decoder.decode(chunk)}`));
  const read = new Uint8Array(3 * 4096); // a flood's read: not light
  floods[0]!.push(new Uint8Array(2)); // idle: processed at once
  for (const queue of floods) queue.push(read);
  log.length = 0;
  schedule.runOne(); // 2 ms budget: two quanta
  assert.deepEqual(log, ["a4096", "b4096"]);
  chat.push(encoder.encode("hi")); // light: a few stanzas at most
  schedule.runOne(); // the light newcomer, then the rest of the first backlogs
  assert.deepEqual(log.slice(2), ["chat:hi", "c4096", "d4096"]);
  schedule.runOne(); // then the ring, in order
  assert.deepEqual(log.slice(5), ["a4096", "b4096"]);
  floods[3]!.close();
  schedule.runAll();
  assert.equal(log.filter((entry) => entry.startsWith("d")).length, 1);
  assert.equal(log.length, 10); // a: two more quanta (one ran at once), b and c: three, d: one, and the chat
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInput keeps light queues a cut round left ahead of light newcomers", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { clock, roundBudgetMs: 1, ioPoll: (resume) => resume() });
  const log: string[] = [];
  const queues = ["a", "b", "c", "d"].map((name) =>
    fair.register(() => {
      log.push(name);
      clock.advance(1); // each read costs a round's budget
    })
  );
  const line = new Uint8Array(100); // light: a chat line
  queues[0]!.push(line); // idle: at once, and this turn's budget is spent
  queues[1]!.push(line); // the same turn: both wait for a round
  queues[2]!.push(line);
  schedule.runOne(); // the turn ends
  schedule.runOne(); // b, then the round's budget is spent: c waits
  queues[3]!.push(line); // a light newcomer, as in a login storm
  schedule.runAll();
  // c came first and keeps its place: newcomers cannot starve it.
  assert.deepEqual(log, ["a", "b", "c", "d"]);
});

Deno.test("FairInput keeps the order of a hundred light queues across cut rounds and newcomers", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { clock, roundBudgetMs: 1, ioPoll: (resume) => resume() });
  const log: number[] = [];
  const queues = Array.from({ length: 150 }, (_, name) =>
    fair.register(() => {
      log.push(name);
      clock.advance(1); // each read costs a round's budget
    }));
  const line = new Uint8Array(100);
  queues[0]!.push(line); // idle: at once, and this turn's budget is spent
  for (let name = 1; name < 100; name++) queues[name]!.push(line); // they wait for rounds
  schedule.runOne(); // the turn ends
  // One newcomer per round, while the first hundred are served one per round
  // (the list is compacted past its 64th served entry on the way).
  for (let name = 100; name < 150; name++) {
    schedule.runOne();
    queues[name]!.push(line);
  }
  schedule.runAll();
  assert.deepEqual(log, Array.from({ length: 150 }, (_, name) => name));
});

Deno.test("FairInput serves a light newcomer before heavier ones that arrived first", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4096 });
  const log: string[] = [];
  const heavy = fair.register((chunk) => log.push(`heavy:${chunk.length}`));
  const other = fair.register((chunk) => log.push(`other:${chunk.length}`));
  const light = fair.register((chunk) => log.push(`light:${chunk.length}`));
  heavy.push(new Uint8Array(8192)); // a quantum now, a backlog after
  other.push(new Uint8Array(4000)); // fresh, heavy
  light.push(new Uint8Array(150)); // fresh, light
  schedule.runOne();
  // Then the others in arrival order: the rest of heavy's read came first.
  assert.deepEqual(log, ["heavy:4096", "light:150", "heavy:4096", "other:4000"]);
});

Deno.test("FairInput puts a heavy read of a connection without a backlog behind the backlogs", () => {
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { quantumBytes: 4096 });
  const log: string[] = [];
  const names = ["a", "b", "c"];
  const [a, b, c] = names.map((name) => fair.register((chunk) => log.push(name + chunk.length)));
  a!.push(new Uint8Array(8192)); // idle: a quantum at once, the rest a backlog
  b!.push(new Uint8Array(3000)); // a backlog too
  c!.push(new Uint8Array(3000)); // no backlog, but a flood's read, not a chat line
  schedule.runAll();
  assert.deepEqual(log, ["a4096", "a4096", "b3000", "c3000"]);
});

Deno.test("FairInput serves a backlog in every round, even one that light queues took whole", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { clock, roundBudgetMs: 1, quantumBytes: 4096 });
  const log: string[] = [];
  const backlog = fair.register((chunk) => log.push(`backlog:${chunk.length}`));
  const lines = [0, 1, 2].map((n) =>
    fair.register(() => {
      log.push(`line${n}`);
      clock.advance(1); // each line costs a round's budget
    })
  );
  backlog.push(new Uint8Array(12_288)); // idle: a quantum at once
  for (const line of lines) line.push(new Uint8Array(100));
  schedule.runOne();
  assert.deepEqual(log.splice(0), ["backlog:4096", "line0", "backlog:4096"]);
  schedule.runOne();
  assert.deepEqual(log.splice(0), ["line1", "backlog:4096"]);
});

Deno.test("FairInput serves costly input in slices that end at the round's deadline, cheap input whole", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, { clock, roundBudgetMs: 0.25, quantumBytes: 4096 });
  const log: string[] = [];
  // A quantum of costly input takes 0.5 ms, more than a round; of cheap input 0.004 ms.
  const costly = fair.register((chunk) => {
    log.push(`costly:${chunk.length}`);
    clock.advance(chunk.length / 8192);
  });
  const cheap = fair.register((chunk) => {
    log.push(`cheap:${chunk.length}`);
    clock.advance(chunk.length / 1_048_576);
  });
  const line = fair.register(() => {
    log.push("line");
    clock.advance(0.25); // takes the whole round
  });
  costly.push(new Uint8Array(20_480)); // idle: a quantum at once
  cheap.push(new Uint8Array(12_288));
  schedule.runOne(); // its cost not known yet: a whole quantum, past the deadline
  schedule.runOne(); // cheap whole; costly what fits the rest: 0.246 ms is 2,016 bytes
  line.push(new Uint8Array(100));
  schedule.runOne(); // the light line takes the budget; one backlog still gets 1 KiB
  assert.deepEqual(log, [
    "costly:4096",
    "costly:4096",
    "cheap:4096",
    "costly:2016",
    "line",
    "cheap:4096",
  ]);
  line.push(new Uint8Array(100));
  schedule.runOne(); // the line again, then costly's turn with no budget left
  assert.deepEqual(log.slice(6), ["line", "costly:1024"]); // never less than 1 KiB
  schedule.runAll();
  assert.equal(fair.queuedBytes, 0);
});

Deno.test("FairInputQueue.push() processes at once only the part of costly input that fits a round's budget", () => {
  const { clock, schedule, fair } = polledFairInput({ roundBudgetMs: 0.25, quantumBytes: 4096 });
  const sizes: number[] = [];
  const costly = fair.register((chunk) => {
    sizes.push(chunk.length);
    clock.advance(chunk.length / 8192); // 0.5 ms a quantum
  });
  costly.push(new Uint8Array(4096)); // idle, its cost not known yet: the whole quantum
  schedule.runAll(); // the turn ends
  costly.push(new Uint8Array(4096)); // idle again: 0.25 ms of it now, the rest in a round
  assert.deepEqual(sizes, [4096, 2048]);
  assert.equal(fair.queuedBytes, 2048);
});

Deno.test("FairInput lets socket reads in while a backlog takes many rounds (real sockets)", async () => {
  // Deno polls sockets only every 61 setImmediate hops while JS stays busy;
  // without the I/O polls a read waited for 61 quanta of the backlog below.
  const fair = new FairInput({ quantumBytes: 1024 });
  let served = 0;
  const backlog = fair.register(() => {
    served++;
    const until = performance.now() + 2; // parse work: 2 ms per quantum
    while (performance.now() < until) { /* busy */ }
  });
  const accepted = Promise.withResolvers<Socket>();
  const server = createServer({ pauseOnConnect: true }, accepted.resolve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, "127.0.0.1");
  const connected = new Promise((resolve) => client.once("connect", resolve));
  const socket = await accepted.promise;
  const read = Promise.withResolvers<number>();
  const chat = fair.register(() => read.resolve(served));
  socket.on("data", (chunk: Uint8Array) => chat.push(chunk));
  socket.resume();
  await connected;
  try {
    backlog.push(new Uint8Array(150 * 1024)); // 150 rounds, about 300 ms
    client.write("<message/>");
    const servedBefore = await read.promise;
    // A poll after every round (each takes 2 ms): the read waits for a few quanta at most.
    assert.ok(servedBefore < 6, `the read waited for ${servedBefore} quanta of 150`);
  } finally {
    backlog.close();
    chat.close();
    client.destroy();
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("FairInput processes at most a round's budget of reads at once per event-loop turn", () => {
  const clock = new ManualClock();
  const schedule = new ManualSchedule();
  const fair = fairInput(schedule, {
    clock,
    roundBudgetMs: 1,
    ioPoll: (resume) => resume(),
  });
  const log: string[] = [];
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const queues = ["a", "b", "c"].map((name) =>
    fair.register((chunk) => {
      log.push(name + decoder.decode(chunk));
      clock.advance(1); // each read costs 1 ms
    })
  );
  queues[0]!.push(encoder.encode("1")); // idle: at once; the turn's budget is spent
  queues[1]!.push(encoder.encode("1")); // same turn: waits for a round
  queues[2]!.push(encoder.encode("1"));
  assert.deepEqual(log, ["a1"]);
  schedule.runAll(); // the turn ends, then the rounds serve the rest in arrival order
  assert.deepEqual(log, ["a1", "b1", "c1"]);
  queues[0]!.push(encoder.encode("2")); // a new turn: at once again
  assert.deepEqual(log, ["a1", "b1", "c1", "a2"]);
});
