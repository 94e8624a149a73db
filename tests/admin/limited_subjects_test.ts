import assert from "node:assert/strict";
import { LimitedSubjects } from "../../src/admin/limited_subjects.ts";
import type { LimitEvent } from "../../src/limits/limit_engine.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function event(limit: string, ip: string, jid?: string, mode: "enforce" | "report" = "enforce") {
  const e: LimitEvent = { limit, mode, ip, classes: [], figure: 2, max: 1 };
  if (jid !== undefined) e.jid = jid;
  return e;
}

Deno.test("LimitedSubjects.list() shows addresses and accounts, most recently limited first", () => {
  const clock = new ManualClock();
  const subjects = new LimitedSubjects(clock);
  subjects.record(event("connections_per_ip", "192.0.2.1"));
  clock.advance(1000);
  subjects.record(event("distinct_recipients", "198.51.100.7", "spam@example.org"));
  clock.advance(1000);
  subjects.record(event("stanza_rules", "192.0.2.1", undefined, "report"));
  subjects.record(event("connections_per_ip", "192.0.2.1"));
  clock.advance(500);
  const list = subjects.list();
  assert.deepEqual(list, [
    {
      kind: "address",
      subject: "192.0.2.1",
      limits: ["connections_per_ip", "stanza_rules"],
      mode: "enforce",
      count: 3,
      lastAgoMs: 500,
      firstAgoMs: 2500,
    },
    {
      kind: "account",
      subject: "spam@example.org",
      limits: ["distinct_recipients"],
      mode: "enforce",
      count: 1,
      lastAgoMs: 1500,
      firstAgoMs: 1500,
    },
    {
      kind: "address",
      subject: "198.51.100.7",
      limits: ["distinct_recipients"],
      mode: "enforce",
      count: 1,
      lastAgoMs: 1500,
      firstAgoMs: 1500,
    },
  ]);
  assert.equal(subjects.list({ top: 1 }).length, 1);
});

Deno.test("LimitedSubjects drops subjects after the recent window and records no empty address", () => {
  const clock = new ManualClock();
  const subjects = new LimitedSubjects(clock, { recentMs: 10_000 });
  subjects.record(event("muc_messages", "", "romeo@example.org"));
  assert.deepEqual(subjects.list().map((s) => s.subject), ["romeo@example.org"]);
  clock.advance(10_000);
  assert.equal(subjects.list().length, 1);
  clock.advance(1);
  assert.deepEqual(subjects.list(), []);
});

Deno.test("LimitedSubjects is bounded: the subject limited longest ago goes first", () => {
  const clock = new ManualClock();
  const subjects = new LimitedSubjects(clock, { capacity: 2 });
  subjects.record(event("x", "192.0.2.1"));
  subjects.record(event("x", "192.0.2.2"));
  subjects.record(event("x", "192.0.2.1"));
  subjects.record(event("x", "192.0.2.3"));
  assert.equal(subjects.size, 2);
  assert.deepEqual(subjects.list().map((s) => s.subject), ["192.0.2.3", "192.0.2.1"]);
  for (let i = 0; i < 20; i++) subjects.record(event(`limit_${i}`, "192.0.2.3"));
  assert.equal(subjects.list()[0]!.limits.length, 8);
  assert.throws(() => new LimitedSubjects(clock, { recentMs: 0 }), RangeError);
  assert.throws(() => new LimitedSubjects(clock, { capacity: 0 }), RangeError);
});
