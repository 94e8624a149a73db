// One BOSH session without HTTP: rid ordering, the replay buffer, hold and
// wait, inactivity, polling, restarts and the end of a session, on a
// ManualClock.

import assert from "node:assert/strict";
import { StreamError } from "../../src/errors/stream_error.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { BoshSession, type BoshSessionOptions } from "../../src/transport/bosh_session.ts";
import type { BoshRequestBody } from "../../src/transport/bosh_body.ts";

const NS = `xmlns="http://jabber.org/protocol/httpbind"`;
const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const PENDING = Symbol("pending");

function setup(overrides: Partial<BoshSessionOptions> = {}) {
  const timers = new ManualClock();
  const events: string[] = [];
  const received: string[] = [];
  let closedWith: string | undefined;
  const session = new BoshSession({
    sid: "s1",
    domain: "example.org",
    lang: "en",
    version: "1.0",
    waitMs: 60_000,
    hold: 1,
    requests: 2,
    inactivityMs: 30_000,
    pollingMs: 2_000,
    remoteAddress: "192.0.2.1",
    encrypted: true,
    timers,
    onGone: () => void events.push("gone"),
    ...overrides,
  });
  session.attach({
    data: (bytes) => void received.push(new TextDecoder().decode(bytes)),
    closed: (error) => {
      closedWith = error === undefined ? "clean" : error.message;
      events.push("closed");
    },
  });
  return {
    session,
    timers,
    events,
    received,
    get closedWith() {
      return closedWith;
    },
  };
}

function body(payload = "", attrs: Record<string, string> = {}): BoshRequestBody {
  return { attrs, payload: new TextEncoder().encode(payload) };
}

/** Lets queued microtasks and the session's output flush run. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function state<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  await tick();
  return await Promise.race([promise, Promise.resolve(PENDING)]);
}

/** Starts the session and answers the creation request with features. */
async function started(overrides: Partial<BoshSessionOptions> = {}) {
  const t = setup(overrides);
  const creation = t.session.start(100);
  t.session.framing.open(t.session, { from: "example.org", to: undefined, id: "stream-1" });
  t.session.write("<f/>");
  await creation;
  t.received.length = 0;
  return t;
}

Deno.test("BoshSession.start() opens the stream and answers with the creation attributes", async () => {
  const t = setup();
  const creation = t.session.start(100);
  assert.deepEqual(t.received, [
    `<open xmlns="${FRAMING}" to="example.org" version="1.0" xml:lang="en"/>`,
  ]);
  assert.equal(await state(creation), PENDING);
  t.session.framing.open(t.session, { from: "example.org", to: undefined, id: "stream-1" });
  t.session.write(`<stream:features xmlns:stream="http://etherx.jabber.org/streams"/>`);
  assert.equal(
    await creation,
    `<body ${NS} xmlns:xmpp="urn:xmpp:xbosh" xmlns:stream="http://etherx.jabber.org/streams" ` +
      `sid="s1" wait="60" requests="2" hold="1" inactivity="30" polling="2" ver="1.11" ` +
      `from="example.org" authid="stream-1" xmpp:version="1.0" xmpp:restartlogic="true">` +
      `<stream:features xmlns:stream="http://etherx.jabber.org/streams"/></body>`,
  );
});

Deno.test("BoshSession.request() forwards payloads in rid order: an early request waits for the gap", async () => {
  const t = await started();
  const second = t.session.request(102, body("<b/>"));
  assert.deepEqual(t.received, []);
  assert.equal(t.session.openRequests, 1);
  const first = t.session.request(101, body("<a/>"));
  assert.deepEqual(t.received, ["<a/>", "<b/>"]);
  // Two held with hold 1: the older is answered at once, the newer waits for output.
  assert.equal(await first, `<body ${NS}/>`);
  assert.equal(await state(second), PENDING);
  t.session.write("<reply/>");
  assert.equal(await second, `<body ${NS}><reply/></body>`);
});

Deno.test("BoshSession answers a repeated rid with its buffered response", async () => {
  const t = await started();
  const first = t.session.request(101, body("<a/>"));
  t.session.write("<answer/>");
  const text = await first;
  assert.equal(text, `<body ${NS}><answer/></body>`);
  assert.equal(await t.session.request(101, body("<a/>")), text);
  assert.deepEqual(t.received, ["<a/>"], "a replay is not forwarded again");
  assert.equal(t.session.open, true);
});

Deno.test("BoshSession ends with item-not-found for a rid past the replay buffer or the window", async () => {
  const old = await started();
  for (const rid of [101, 102, 103]) {
    const pending = old.session.request(rid, body(`<m${rid}/>`));
    old.session.write("<x/>");
    await pending;
  }
  assert.equal(
    await old.session.request(100, body()),
    `<body ${NS} type="terminate" condition="item-not-found"/>`,
  );
  assert.equal(old.session.open, false);
  await tick();
  assert.equal(old.closedWith, "BOSH session terminated: item-not-found");
  assert.deepEqual(old.events.toSorted(), ["closed", "gone"]);

  const ahead = await started();
  assert.equal(
    await ahead.session.request(103, body()),
    `<body ${NS} type="terminate" condition="item-not-found"/>`,
  );
});

Deno.test("BoshSession ends with policy-violation past `requests` simultaneous requests", async () => {
  const t = await started({ hold: 1, requests: 2 });
  const held = t.session.request(101, body());
  const early = t.session.request(103, body("<c/>"));
  assert.equal(t.session.openRequests, 2);
  const third = t.session.request(102, body("<b/>"));
  const terminal = `<body ${NS} type="terminate" condition="policy-violation"/>`;
  assert.equal(await third, terminal);
  assert.equal(await held, terminal);
  assert.equal(await early, terminal);
  assert.deepEqual(t.received, [""], "only the empty first request was forwarded");
});

Deno.test("BoshSession answers a held request empty after `wait`", async () => {
  const t = await started({ waitMs: 10_000 });
  const held = t.session.request(101, body());
  t.timers.advance(9_999);
  assert.equal(await state(held), PENDING);
  t.timers.advance(1);
  assert.equal(await held, `<body ${NS}/>`);
  // Output with no request held waits for the next one.
  t.session.write("<later/>");
  await tick();
  assert.equal(await t.session.request(102, body()), `<body ${NS}><later/></body>`);
});

Deno.test("BoshSession ends after `inactivity` with no request, and forgets the session", async () => {
  const t = await started({ inactivityMs: 30_000 });
  t.timers.advance(29_999);
  assert.equal(t.session.open, true);
  // A request resets the inactivity clock; it starts again once nothing is held.
  const held = t.session.request(101, body());
  t.timers.advance(30_000);
  assert.equal(t.session.open, true);
  t.session.write("<x/>");
  await held;
  t.timers.advance(30_000);
  assert.equal(t.session.open, false);
  await tick();
  assert.equal(t.closedWith, "BOSH session inactive");
  assert.deepEqual(t.events.toSorted(), ["closed", "gone"]);
  assert.equal(
    await t.session.request(102, body()),
    `<body ${NS} type="terminate" condition="item-not-found"/>`,
  );
  assert.equal(t.timers.pendingTimers, 0);
});

Deno.test("BoshSession ends an overactive polling session with policy-violation", async () => {
  const t = await started({ hold: 0, requests: 1, pollingMs: 2_000 });
  assert.equal(await t.session.request(101, body()), `<body ${NS}/>`);
  t.timers.advance(2_000);
  assert.equal(await t.session.request(102, body()), `<body ${NS}/>`);
  t.timers.advance(1_999);
  assert.equal(
    await t.session.request(103, body()),
    `<body ${NS} type="terminate" condition="policy-violation"/>`,
  );
  // Requests that carry stanzas are never overactive.
  const busy = await started({ hold: 0, requests: 1, pollingMs: 2_000 });
  for (const rid of [101, 102, 103]) {
    assert.equal(await busy.session.request(rid, body("<presence/>")), `<body ${NS}/>`);
  }
});

Deno.test("BoshSession feeds a new stream open on xmpp:restart and <close/> on type=terminate", async () => {
  const t = await started();
  const restart = t.session.request(101, body("", { "xmpp:restart": "true" }));
  assert.deepEqual(t.received, [
    `<open xmlns="${FRAMING}" to="example.org" version="1.0" xml:lang="en"/>`,
    "",
  ]);
  t.session.write("<features/>");
  assert.equal(await restart, `<body ${NS}><features/></body>`);
  t.received.length = 0;
  const terminate = t.session.request(
    102,
    body("<presence type='unavailable'/>", {
      type: "terminate",
    }),
  );
  assert.deepEqual(t.received, ["<presence type='unavailable'/>", `<close xmlns="${FRAMING}"/>`]);
  // The stream answers the close: the session ends and the request carries the output.
  t.session.write("<last/>");
  t.session.framing.close(t.session, undefined);
  t.session.close();
  assert.equal(await terminate, `<body ${NS} type="terminate"><last/></body>`);
  await tick();
  assert.equal(t.closedWith, "clean");
  assert.deepEqual(t.events.toSorted(), ["closed", "gone"]);
});

Deno.test("BoshSession answers a held request with the terminate body, also when the stream closes later", async () => {
  const t = await started();
  const held = t.session.request(101, body());
  assert.equal(await state(held), PENDING);
  const terminate = t.session.request(102, body("", { type: "terminate" }));
  // The stream has not closed yet (its input may wait for a round): the held
  // request is not answered empty, as it would be past `hold` otherwise.
  assert.equal(await state(held), PENDING);
  t.session.framing.close(t.session, undefined);
  t.session.close();
  assert.equal(await held, `<body ${NS} type="terminate"/>`);
  assert.equal(await terminate, `<body ${NS} type="terminate"/>`);
});

Deno.test("BoshSession sends a stream error as a remote-stream-error terminate", async () => {
  const t = await started();
  t.session.framing.close(t.session, new StreamError("conflict").toElement());
  t.session.close();
  assert.equal(t.session.open, false);
  // No request was held: the terminal body waits for the next one.
  assert.deepEqual(t.events, []);
  assert.equal(
    await t.session.request(101, body()),
    `<body ${NS} type="terminate" condition="remote-stream-error" ` +
      `xmlns:stream="http://etherx.jabber.org/streams"><stream:error ` +
      `xmlns:stream="http://etherx.jabber.org/streams"><conflict ` +
      `xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></body>`,
  );
  await tick();
  assert.deepEqual(t.events.toSorted(), ["closed", "gone"]);
  assert.equal(t.closedWith, "clean");
});

Deno.test("BoshSession.pause() parks requests in order until resume()", async () => {
  const t = await started({ hold: 1, requests: 2 });
  t.session.pause();
  const a = t.session.request(101, body("<a/>"));
  const b = t.session.request(102, body("<b/>"));
  assert.deepEqual(t.received, []);
  assert.equal(t.session.openRequests, 2);
  assert.equal(t.session.holdsInput, true);
  // A third request while two are parked is one too many.
  t.session.resume();
  assert.deepEqual(t.received, ["<a/>", "<b/>"]);
  assert.equal(t.session.holdsInput, false);
  assert.equal(await a, `<body ${NS}/>`);
  assert.equal(await state(b), PENDING);
});

Deno.test("BoshSession ends with item-not-found when a gap is not filled within `wait`", async () => {
  const t = await started({ waitMs: 5_000 });
  const early = t.session.request(102, body("<b/>"));
  t.timers.advance(5_000);
  assert.equal(await early, `<body ${NS} type="terminate" condition="item-not-found"/>`);
  assert.deepEqual(t.received, []);
});

Deno.test("BoshSession.terminate(), destroy() and shutdown() end with their condition", async () => {
  const terminated = await started();
  const held = terminated.session.request(101, body());
  assert.equal(
    await terminated.session.terminate("policy-violation"),
    `<body ${NS} type="terminate" condition="policy-violation"/>`,
  );
  assert.equal(await held, `<body ${NS} type="terminate" condition="policy-violation"/>`);

  const destroyed = await started();
  const pending = destroyed.session.request(101, body());
  destroyed.session.write("<dropped/>");
  destroyed.session.destroy();
  assert.equal(await pending, `<body ${NS} type="terminate" condition="undefined-condition"/>`);

  const shut = await started();
  shut.session.shutdown();
  assert.deepEqual(shut.events, ["gone"]);
  assert.equal(shut.timers.pendingTimers, 0);
  assert.equal(
    await shut.session.startTls().catch((e) => String(e)),
    "Error: Cannot start TLS: not available over BOSH",
  );
});
