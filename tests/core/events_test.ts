import assert from "node:assert/strict";
import { EventBus } from "../../src/core/events.ts";

interface TestEvents {
  ping: { trace: string[] };
  other: { value: number };
}

function recorder(trace: string[], label: string, result?: boolean) {
  return function (payload: { trace: string[] }): boolean | void {
    assert.equal(payload.trace, trace);
    trace.push(label);
    return result;
  };
}

Deno.test("EventBus.emit() returns false when nobody listens", () => {
  const bus = new EventBus<TestEvents>();
  assert.equal(bus.emit("ping", { trace: [] }), false);
});

Deno.test("EventBus.emit() runs handlers highest priority first", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", recorder(trace, "zero"));
  bus.on("ping", recorder(trace, "minus ten"), -10);
  bus.on("ping", recorder(trace, "ten"), 10);
  bus.on("ping", recorder(trace, "five"), 5);
  bus.on("ping", recorder(trace, "infinity"), Infinity);
  assert.equal(bus.emit("ping", { trace }), false);
  assert.deepEqual(trace, ["infinity", "ten", "five", "zero", "minus ten"]);
});

Deno.test("EventBus.emit() runs equal priorities in the order they were added", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", recorder(trace, "a"), 1);
  bus.on("ping", recorder(trace, "low"), 0);
  bus.on("ping", recorder(trace, "b"), 1);
  bus.on("ping", recorder(trace, "c"), 1);
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["a", "b", "c", "low"]);
});

Deno.test("EventBus.emit() stops at the first handler that returns true", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", recorder(trace, "high"), 10);
  bus.on("ping", recorder(trace, "veto", true), 5);
  bus.on("ping", recorder(trace, "never"), 0);
  assert.equal(bus.emit("ping", { trace }), true);
  assert.deepEqual(trace, ["high", "veto"]);
});

Deno.test("EventBus.emit() goes on after handlers that return false or nothing", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", recorder(trace, "false", false), 2);
  bus.on("ping", recorder(trace, "void"), 1);
  // Only `true` stops the chain, not other truthy values a careless handler might return.
  bus.on("ping", (payload) => {
    payload.trace.push("truthy");
    return 1 as unknown as boolean;
  }, 0);
  bus.on("ping", recorder(trace, "last"), -1);
  assert.equal(bus.emit("ping", { trace }), false);
  assert.deepEqual(trace, ["false", "void", "truthy", "last"]);
});

Deno.test("EventBus.emit() only runs the handlers of the emitted event", () => {
  const bus = new EventBus<TestEvents>();
  const seen: number[] = [];
  bus.on("other", (payload) => {
    seen.push(payload.value);
  });
  const trace: string[] = [];
  bus.on("ping", recorder(trace, "ping"));
  bus.emit("other", { value: 7 });
  assert.deepEqual(seen, [7]);
  assert.deepEqual(trace, []);
});

Deno.test("EventBus.on() returns a disposable that removes only its own handler", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  const shared = recorder(trace, "shared");
  const first = bus.on("ping", shared);
  bus.on("ping", shared);
  first[Symbol.dispose]();
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["shared"]);
});

Deno.test("EventBus.on() disposable is harmless when disposed twice", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  const a = bus.on("ping", recorder(trace, "a"));
  bus.on("ping", recorder(trace, "b"));
  a[Symbol.dispose]();
  a[Symbol.dispose]();
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["b"]);
});

Deno.test("EventBus.on() handlers leave with the scope of a using declaration", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  {
    using _scoped = bus.on("ping", recorder(trace, "scoped"));
    bus.emit("ping", { trace });
  }
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["scoped"]);
});

Deno.test("EventBus.on() rejects a NaN priority", () => {
  const bus = new EventBus<TestEvents>();
  assert.throws(() => bus.on("ping", () => {}, NaN), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "Cannot add handler for 'ping': 'priority' is NaN");
    return true;
  });
  assert.equal(bus.has("ping"), false);
});

Deno.test("EventBus.has() is true only while a handler is registered", () => {
  const bus = new EventBus<TestEvents>();
  assert.equal(bus.has("ping"), false);
  const a = bus.on("ping", () => {});
  const b = bus.on("ping", () => {});
  assert.equal(bus.has("ping"), true);
  assert.equal(bus.has("other"), false);
  a[Symbol.dispose]();
  assert.equal(bus.has("ping"), true);
  b[Symbol.dispose]();
  assert.equal(bus.has("ping"), false);
});

Deno.test("EventBus.emit() does not run a handler added while it is running", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", (payload) => {
    payload.trace.push("adder");
    bus.on("ping", recorder(trace, "added"), -1);
  });
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["adder"]);
  trace.length = 0;
  // The second run sees the first added handler only; the one it adds waits for the third.
  bus.emit("ping", { trace });
  assert.deepEqual(trace, ["adder", "added"]);
});

Deno.test("EventBus.emit() passes the same payload object to every handler", () => {
  const bus = new EventBus<TestEvents>();
  const payload = { value: 1 };
  bus.on("other", (p) => {
    assert.equal(p, payload);
    p.value++;
  }, 1);
  bus.on("other", (p) => {
    assert.equal(p, payload);
    p.value *= 10;
  }, 0);
  bus.emit("other", payload);
  assert.equal(payload.value, 20);
});

Deno.test("EventBus.emit() lets a handler error reach the emitter and skips later handlers", () => {
  const bus = new EventBus<TestEvents>();
  const trace: string[] = [];
  bus.on("ping", () => {
    throw new Error("boom");
  }, 1);
  bus.on("ping", recorder(trace, "after"), 0);
  assert.throws(() => bus.emit("ping", { trace }), { message: "boom" });
  assert.deepEqual(trace, []);
});
