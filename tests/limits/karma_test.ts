import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import type { BandwidthLimit } from "../../src/config/schema.ts";
import { Karma, KarmaBucket, type KarmaThrottleEvent } from "../../src/limits/karma.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function limit(overrides: Partial<BandwidthLimit> = {}): BandwidthLimit {
  return {
    rate: 1000,
    burst: 2000,
    per_account: false,
    penalty_rate: null,
    recovery: 0,
    mode: "enforce",
    ...overrides,
  };
}

class FakeTransport {
  calls: string[] = [];
  pause(): void {
    this.calls.push("pause");
  }
  resume(): void {
    this.calls.push("resume");
  }
}

function rangeError(message: string): (error: unknown) => boolean {
  return (error: unknown) => error instanceof RangeError && error.message === message;
}

Deno.test("KarmaBucket() rejects a rate, burst, penalty or recovery out of range", () => {
  assert.throws(
    () => new KarmaBucket({ rate: 0, burst: 1 }),
    rangeError("Cannot create karma bucket: 'rate' must be a finite number > 0, got 0"),
  );
  assert.throws(
    () => new KarmaBucket({ rate: 1, burst: NaN }),
    rangeError("Cannot create karma bucket: 'burst' must be a finite number > 0, got NaN"),
  );
  assert.throws(() => new KarmaBucket({ rate: Infinity, burst: 1 }), RangeError);
  assert.throws(
    () => new KarmaBucket({ rate: 1, burst: 1 }, { penalty: 0 }),
    rangeError("Cannot create karma bucket: 'penalty' must be a number in (0, 1], got 0"),
  );
  assert.throws(() => new KarmaBucket({ rate: 1, burst: 1 }, { penalty: 1.5 }), RangeError);
  assert.throws(
    () => new KarmaBucket({ rate: 1, burst: 1 }, { recoveryMs: -1 }),
    rangeError("Cannot create karma bucket: 'recoveryMs' must be a finite number >= 0, got -1"),
  );
});

Deno.test("KarmaBucket with default options is a plain token bucket that goes into debt", () => {
  const clock = new ManualClock(7000);
  const bucket = new KarmaBucket({ rate: 1000, burst: 2000 }, { clock });
  assert.equal(bucket.balance, 2000);
  assert.equal(bucket.debit(1500), 0);
  assert.equal(bucket.debit(500), 0);
  assert.equal(bucket.debit(1), 1);
  assert.equal(bucket.debit(249), 250);
  assert.equal(bucket.balance, -250);
  assert.equal(bucket.penalised, false);
  clock.advance(249);
  assert.equal(bucket.waitMs, 1);
  clock.advance(1);
  assert.equal(bucket.waitMs, 0);
  assert.equal(bucket.balance, 0);
  clock.advance(60_000);
  assert.equal(bucket.balance, 2000); // capped at the burst
  assert.throws(
    () => bucket.debit(-1),
    rangeError("Cannot pay for bytes: 'bytes' must be a finite number >= 0, got -1"),
  );
  assert.throws(() => bucket.debit(Infinity), RangeError);
  assert.equal(bucket.balance, 2000);
});

Deno.test("KarmaBucket applies the penalty rate until recoveryMs after the last overrun", () => {
  // The worked example of the module documentation.
  const clock = new ManualClock();
  const bucket = new KarmaBucket({ rate: 1000, burst: 2000 }, {
    clock,
    penalty: 0.5,
    recoveryMs: 10_000,
  });
  assert.equal(bucket.debit(2000), 0);
  assert.equal(bucket.penalised, false); // spending the burst is no overrun
  assert.equal(bucket.debit(500), 1000);
  clock.advance(1000);
  assert.equal(bucket.balance, 0);
  assert.equal(bucket.debit(1000), 2000);
  assert.equal(bucket.penalised, true);
  clock.advance(2000);
  assert.equal(bucket.balance, 0);
  clock.advance(7999); // 10 999 ms: the second overrun (at 1000 ms) restarted the penalty
  assert.equal(bucket.penalised, true);
  clock.advance(1);
  assert.equal(bucket.penalised, false);
});

Deno.test("KarmaBucket refills at the full rate once the penalty is over", () => {
  const clock = new ManualClock();
  const bucket = new KarmaBucket({ rate: 1000, burst: 100_000 }, {
    clock,
    penalty: 0.25,
    recoveryMs: 4000,
  });
  assert.equal(bucket.debit(100_000), 0);
  assert.equal(bucket.debit(1000), 4000); // 1000 B at 250 B/s
  clock.advance(2000);
  assert.equal(bucket.balance, -500);
  clock.advance(2000);
  assert.equal(bucket.balance, 0);
  assert.equal(bucket.penalised, false);
  clock.advance(1000);
  assert.equal(bucket.balance, 1000); // 1000 B/s again
});

Deno.test("KarmaBucket waits across the end of the penalty when the debt outlasts it", () => {
  const clock = new ManualClock();
  const bucket = new KarmaBucket({ rate: 1000, burst: 1000 }, {
    clock,
    penalty: 0.5,
    recoveryMs: 1000,
  });
  // 3000 B owed: 1000 ms at 500 B/s repays 500 B, the other 2500 B take 2500 ms.
  assert.equal(bucket.debit(4000), 3500);
  clock.advance(1000);
  assert.equal(bucket.balance, -2500);
  assert.equal(bucket.waitMs, 2500);
  clock.advance(2499);
  assert.equal(bucket.balance, -1);
  clock.advance(1);
  assert.equal(bucket.balance, 0);
});

Deno.test("KarmaBucket.setLimit() keeps the balance and the penalty, capped at the new burst", () => {
  const clock = new ManualClock();
  const bucket = new KarmaBucket({ rate: 1000, burst: 2000 }, {
    clock,
    penalty: 0.5,
    recoveryMs: 10_000,
  });
  assert.equal(bucket.debit(2500), 1000);
  bucket.setLimit({ rate: 2000, burst: 4000 });
  assert.equal(bucket.rate, 2000);
  assert.equal(bucket.burst, 4000);
  assert.equal(bucket.balance, -500); // no refill from a change of limit
  assert.equal(bucket.waitMs, 500); // penalised: 1000 B/s of the new 2000 B/s
  clock.advance(20_000);
  assert.equal(bucket.balance, 4000);
  bucket.setLimit({ rate: 2000, burst: 1000 });
  assert.equal(bucket.balance, 1000);
  assert.throws(
    () => bucket.setLimit({ rate: -1, burst: 1 }),
    rangeError("Cannot set karma bucket limit: 'rate' must be a finite number > 0, got -1"),
  );
  assert.equal(bucket.rate, 2000);
});

Deno.test("KarmaBucket.forgive() clears a debt and leaves a positive balance alone", () => {
  const clock = new ManualClock();
  const bucket = new KarmaBucket({ rate: 10, burst: 10 }, { clock });
  bucket.forgive();
  assert.equal(bucket.balance, 10);
  assert.equal(bucket.debit(30), 2000);
  bucket.forgive();
  assert.equal(bucket.balance, 0);
  assert.equal(bucket.waitMs, 0);
});

Deno.test("Karma() rejects a bad mode, rate, penalty or a shared budget without per_account", () => {
  assert.throws(
    () => new Karma({ ...limit(), mode: "off" as "report" }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === `Cannot create karma: 'mode' must be "enforce" or "report", got "off"`,
  );
  assert.throws(
    () => new Karma(limit({ rate: 0 })),
    rangeError("Cannot create karma: 'rate' must be a finite number > 0, got 0"),
  );
  assert.throws(() => new Karma(limit({ burst: -5 })), RangeError);
  assert.throws(
    () => new Karma(limit(), { penalty: 2 }),
    rangeError("Cannot create karma: 'penalty' must be a number in (0, 1], got 2"),
  );
  const shared = new KarmaBucket({ rate: 1000, burst: 2000 }, { clock: new ManualClock() });
  assert.throws(
    () => new Karma(limit(), { shared }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === "Cannot create karma: 'shared' needs a limit whose 'per_account' is true",
  );
});

Deno.test("Karma with rate null is unlimited: no pause, no timer, no event", () => {
  const timers = new ManualClock();
  const events: KarmaThrottleEvent[] = [];
  const karma = new Karma(limit({ rate: null }), {
    timers,
    onThrottle: (event) => events.push(event),
  });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(1e12), 0);
  assert.equal(karma.consume(0), 0);
  assert.equal(karma.balance, Infinity);
  assert.equal(karma.waitMs, 0);
  assert.equal(timers.pendingTimers, 0);
  assert.deepEqual(transport.calls, []);
  assert.deepEqual(events, []);
  assert.throws(
    () => karma.consume(-1),
    rangeError("Cannot pay for bytes: 'bytes' must be a finite number >= 0, got -1"),
  );
  assert.throws(() => karma.consume(NaN), RangeError);
});

Deno.test("Karma pauses the attached transport on an overrun and resumes when the debt is repaid", () => {
  const timers = new ManualClock();
  const events: KarmaThrottleEvent[] = [];
  const karma = new Karma(limit(), { timers, onThrottle: (event) => events.push(event) });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(1200), 0);
  assert.equal(karma.consume(800), 0);
  assert.equal(karma.paused, false);
  assert.equal(karma.consume(300), 300);
  assert.equal(karma.paused, true);
  assert.deepEqual(transport.calls, ["pause"]);
  assert.deepEqual(events, [
    { bytes: 300, waitMs: 300, mode: "enforce", shared: false, penalised: false },
  ]);
  timers.advance(299);
  assert.deepEqual(transport.calls, ["pause"]);
  assert.equal(karma.waitMs, 1);
  timers.advance(1);
  assert.deepEqual(transport.calls, ["pause", "resume"]);
  assert.equal(karma.paused, false);
  assert.equal(timers.pendingTimers, 0);
});

Deno.test("Karma extends the pause when a read already under way arrives while paused", () => {
  const timers = new ManualClock();
  const karma = new Karma(limit({ burst: 1000 }), { timers });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(1500), 500);
  timers.advance(100);
  assert.equal(karma.consume(600), 1000); // 400 + 600 B owed
  assert.deepEqual(transport.calls, ["pause"]);
  assert.equal(timers.pendingTimers, 1);
  timers.advance(999);
  assert.deepEqual(transport.calls, ["pause"]);
  timers.advance(1);
  assert.deepEqual(transport.calls, ["pause", "resume"]);
});

Deno.test("Karma applies its penalty and recovery to the connection's own budget", () => {
  const timers = new ManualClock();
  const events: KarmaThrottleEvent[] = [];
  const karma = new Karma(limit(), {
    timers,
    penalty: 0.5,
    recoveryMs: 10_000,
    onThrottle: (event) => events.push(event),
  });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(2500), 1000);
  assert.equal(events[0]?.penalised, true);
  timers.advance(999);
  assert.deepEqual(transport.calls, ["pause"]);
  timers.advance(1);
  assert.deepEqual(transport.calls, ["pause", "resume"]);
});

Deno.test("Karma without a transport only returns the wait", () => {
  const timers = new ManualClock();
  const karma = new Karma(limit(), { timers });
  assert.equal(karma.consume(2100), 100);
  assert.equal(karma.paused, false);
  assert.equal(timers.pendingTimers, 0);
  assert.equal(karma.waitMs, 100);
});

Deno.test("Karma in report mode never pauses, reports each overrun and forgives the debt", () => {
  const timers = new ManualClock();
  const events: KarmaThrottleEvent[] = [];
  const karma = new Karma(limit({ mode: "report" }), {
    timers,
    onThrottle: (event) => events.push(event),
  });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(2000), 0);
  assert.equal(karma.consume(500), 0);
  assert.equal(karma.consume(100), 0);
  assert.equal(karma.balance, 0);
  timers.advance(50);
  assert.equal(karma.consume(100), 0);
  assert.deepEqual(events, [
    { bytes: 500, waitMs: 500, mode: "report", shared: false, penalised: false },
    { bytes: 100, waitMs: 100, mode: "report", shared: false, penalised: false },
    { bytes: 100, waitMs: 50, mode: "report", shared: false, penalised: false },
  ]);
  assert.deepEqual(transport.calls, []);
  assert.equal(timers.pendingTimers, 0);
  assert.equal(karma.waitMs, 0);
});

Deno.test("Karma.setLimit() re-checks a paused transport at once", () => {
  const timers = new ManualClock();
  const karma = new Karma(limit(), { timers });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(3000), 1000);

  // A lower rate lengthens the pause: 1000 B owed at 250 B/s.
  karma.setLimit(limit({ rate: 250 }));
  assert.equal(karma.limit.rate, 250);
  assert.equal(timers.pendingTimers, 1);
  timers.advance(3999);
  assert.deepEqual(transport.calls, ["pause"]);
  timers.advance(1);
  assert.deepEqual(transport.calls, ["pause", "resume"]);

  // Unlimited resumes at once.
  assert.equal(karma.consume(5000), 20_000);
  karma.setLimit(limit({ rate: null }));
  assert.deepEqual(transport.calls, ["pause", "resume", "pause", "resume"]);
  assert.equal(timers.pendingTimers, 0);
  assert.equal(karma.consume(1e9), 0);

  // Back to a limit: the own budget kept its debt of 5000 B, capped figures apply.
  karma.setLimit(limit({ rate: 1000, burst: 2000 }));
  assert.equal(karma.balance, -5000);
  timers.advance(5000);
  assert.equal(karma.balance, 0);

  // Report mode resumes at once too.
  assert.equal(karma.consume(100), 100);
  karma.setLimit(limit({ mode: "report" }));
  assert.equal(karma.paused, false);
  assert.deepEqual(transport.calls.slice(-2), ["pause", "resume"]);
  assert.equal(timers.pendingTimers, 0);
});

Deno.test("Karma with a shared budget pauses every connection of the account", () => {
  const timers = new ManualClock();
  const account = new KarmaBucket({ rate: 1000, burst: 2000 }, { clock: timers });
  const perAccount = limit({ per_account: true });
  const events: KarmaThrottleEvent[] = [];
  const a = new Karma(perAccount, { timers, shared: account });
  const b = new Karma(perAccount, { timers, shared: account, onThrottle: (e) => events.push(e) });
  const ta = new FakeTransport();
  const tb = new FakeTransport();
  a.attach(ta);
  b.attach(tb);
  assert.equal(a.consume(2400), 400);
  assert.equal(b.consume(100), 500); // the account is in debt: b waits too
  assert.deepEqual(events, [
    { bytes: 100, waitMs: 500, mode: "enforce", shared: true, penalised: false },
  ]);
  // a's timer fires at 400 ms, finds 100 B still owed and waits on.
  timers.advance(400);
  assert.deepEqual(ta.calls, ["pause"]);
  timers.advance(100);
  assert.deepEqual(ta.calls, ["pause", "resume"]);
  assert.deepEqual(tb.calls, ["pause", "resume"]);
  assert.equal(a.balance, 0);

  // Back to its own budget after a reconfiguration without per_account.
  b.setLimit(limit());
  assert.equal(b.balance, 2000);
  assert.equal(a.balance, 0);
});

Deno.test("Karma.attach() refuses a second transport", () => {
  const karma = new Karma(limit(), { timers: new ManualClock() });
  karma.attach(new FakeTransport());
  assert.throws(() => karma.attach(new FakeTransport()), {
    message: "Cannot attach karma: a transport is already attached",
  });
});

Deno.test("Karma disposal cancels the resume timer and leaves the transport alone", () => {
  const timers = new ManualClock();
  const karma = new Karma(limit(), { timers });
  const transport = new FakeTransport();
  karma.attach(transport);
  assert.equal(karma.consume(2500), 500);
  karma[Symbol.dispose]();
  assert.equal(timers.pendingTimers, 0);
  assert.equal(karma.consume(10_000), 0);
  timers.advance(60_000);
  assert.deepEqual(transport.calls, ["pause"]);
});

/** Resolves when `check()` holds, re-checking after each I/O event reported through `poke`. */
function waitFor(check: () => boolean, waiters: (() => void)[]): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    function test(): void {
      if (check()) resolve();
      else waiters.push(test);
    }
    waiters.push(test);
  });
}

function poke(waiters: (() => void)[]): void {
  for (const waiter of waiters.splice(0)) waiter();
}

Deno.test("Karma slows a TCP flooder by back-pressure while another connection is served", async () => {
  const TOTAL = 32 * 1024 * 1024;
  const timers = new ManualClock();
  const waiters: (() => void)[] = [];
  const sockets: Socket[] = [];
  let flood: { karma: Karma; received: number; ordered: boolean } | undefined;
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.push(socket);
    if (flood === undefined) {
      const state = {
        karma: new Karma(limit({ rate: 1024 * 1024, burst: 1024 * 1024 }), { timers }),
        received: 0,
        ordered: true,
      };
      flood = state;
      state.karma.attach({ pause: () => socket.pause(), resume: () => socket.resume() });
      socket.on("data", (chunk: Uint8Array) => {
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i] !== (state.received + i) % 251) state.ordered = false;
        }
        state.received += chunk.length;
        state.karma.consume(chunk.length);
        poke(waiters);
      });
    } else {
      socket.on("data", (chunk: Uint8Array) => socket.write(chunk)); // an echo, unlimited
    }
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  const flooder = connect(port, "127.0.0.1");
  flooder.on("error", () => {});
  const payload = new Uint8Array(TOTAL);
  for (let i = 0; i < TOTAL; i++) payload[i] = i % 251;
  flooder.write(payload);
  await waitFor(() => flood?.karma.paused === true, waiters);
  const atPause = flood!.received;
  assert.ok(atPause >= 1024 * 1024 && atPause < 2 * 1024 * 1024, `read ${atPause} B`);

  // Another connection is served while the flooder is paused.
  const chat = connect(port, "127.0.0.1");
  const echoed = new Promise<string>((resolve) => chat.once("data", (d) => resolve(String(d))));
  chat.write("<presence/>");
  assert.equal(await echoed, "<presence/>");
  assert.ok(flood!.received - atPause <= 64 * 1024, "reading stopped while paused");
  assert.ok(flooder.writableLength > 0, "the flooder's own send buffer holds the rest");

  // Each second of the clock lets about one more burst in; nothing is lost or reordered.
  let seconds = 0;
  while (flood!.received < TOTAL) {
    const before = flood!.received;
    timers.advance(1000);
    seconds++;
    await waitFor(() => flood!.karma.paused || flood!.received === TOTAL, waiters);
    assert.ok(flood!.received - before <= 2 * 1024 * 1024 + 64 * 1024);
  }
  assert.equal(flood!.received, TOTAL);
  assert.equal(flood!.ordered, true);
  // 1 MiB of burst, then 1 MiB/s: 31 s for the other 31 MiB (one read of overshoot at most).
  assert.ok(seconds >= 31 && seconds <= 32, `took ${seconds} clock seconds`);

  for (const socket of [flooder, chat, ...sockets]) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
