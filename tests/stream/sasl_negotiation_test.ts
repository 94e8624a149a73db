import assert from "node:assert/strict";
import type {
  SaslContext,
  SaslExchange,
  SaslMechanism,
  SaslStep,
} from "../../src/auth/sasl_mechanism.ts";
import { SaslNegotiation, type SaslResult } from "../../src/stream/sasl_negotiation.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_SASL } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A scripted mechanism. Each client message is a command:
 * `ok:<user>` succeeds, `ok+data:<user>` succeeds with additional data,
 * `more`, `more-text` and `more-empty` challenge (with data as bytes / as
 * text / empty), anything else fails
 * with not-authorized and a text.
 */
class FakeMechanism implements SaslMechanism {
  readonly name: string;
  readonly contexts: SaslContext[] = [];
  readonly received: string[][] = [];

  constructor(name = "X-FAKE") {
    this.name = name;
  }

  start(context: SaslContext): SaslExchange {
    this.contexts.push(context);
    const messages: string[] = [];
    this.received.push(messages);
    return {
      step(response: Uint8Array): Promise<SaslStep> {
        const text = decoder.decode(response);
        messages.push(text);
        let step: SaslStep;
        if (text.startsWith("ok:")) {
          step = { kind: "success", username: text.slice(3) };
        } else if (text.startsWith("ok+data:")) {
          step = { kind: "success", username: text.slice(8), data: encoder.encode("v=proof") };
        } else if (text === "more") {
          step = { kind: "challenge", data: encoder.encode("next?") };
        } else if (text === "more-text") {
          step = { kind: "challenge", data: "r=abc,s=c2FsdA==,i=4096" };
        } else if (text === "more-empty") {
          step = { kind: "challenge", data: new Uint8Array(0) };
        } else {
          step = { kind: "failure", condition: "not-authorized", text: "Wrong guess" };
        }
        // Asynchronous like a real mechanism that reads a store.
        return Promise.resolve(step);
      },
    };
  }
}

function setup(maxFailures = 3) {
  const mechanism = new FakeMechanism();
  const offered = new Map<string, SaslMechanism>([[mechanism.name, mechanism]]);
  const sasl = new SaslNegotiation({ maxFailures });
  function send(element: Element): Promise<SaslResult> {
    return sasl.handle(element, offered, { encrypted: true });
  }
  return { mechanism, offered, sasl, send };
}

function b64(text: string): string {
  return btoa(text);
}

function auth(content?: string, mechanism = "X-FAKE"): Element {
  return el("auth", { xmlns: NS_SASL, mechanism }, content);
}

function response(content?: string): Element {
  return el("response", { xmlns: NS_SASL }, content);
}

function wire(result: SaslResult): string {
  return serialize(result.reply, NS_CLIENT);
}

function failureWire(condition: string, text?: string): string {
  const textPart = text === undefined ? "" : `<text>${text}</text>`;
  return `<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><${condition}/>${textPart}</failure>`;
}

Deno.test("SaslNegotiation.handle() succeeds on an initial response the mechanism accepts", async () => {
  const { mechanism, sasl, send } = setup();
  const result = await send(auth(b64("ok:alice")));
  assert.equal(result.kind, "success");
  assert.ok(result.kind === "success");
  assert.equal(result.username, "alice");
  assert.equal(result.mechanism, "X-FAKE");
  assert.equal(wire(result), `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
  assert.deepEqual(mechanism.received, [["ok:alice"]]);
  assert.deepEqual(mechanism.contexts, [{ encrypted: true }]);
  assert.equal(sasl.failures, 0);
});

Deno.test("SaslNegotiation.handle() sends additional data with success in base64", async () => {
  const { send } = setup();
  const result = await send(auth(b64("ok+data:bob")));
  assert.ok(result.kind === "success");
  assert.equal(result.username, "bob");
  assert.equal(
    wire(result),
    `<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${b64("v=proof")}</success>`,
  );
});

Deno.test("SaslNegotiation.handle() relays challenges and takes the next response", async () => {
  const { mechanism, send } = setup();
  const first = await send(auth(b64("more")));
  assert.equal(first.kind, "continue");
  assert.equal(
    wire(first),
    `<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${b64("next?")}</challenge>`,
  );
  const second = await send(response(b64("more-empty")));
  assert.equal(second.kind, "continue");
  assert.equal(wire(second), `<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
  const text = await send(response(b64("more-text")));
  assert.equal(
    wire(text),
    `<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${
      b64("r=abc,s=c2FsdA==,i=4096")
    }</challenge>`,
  );
  const third = await send(response(b64("ok:carol")));
  assert.ok(third.kind === "success");
  assert.equal(third.username, "carol");
  assert.deepEqual(mechanism.received, [["more", "more-empty", "more-text", "ok:carol"]]);
});

Deno.test("SaslNegotiation.handle() reports a mechanism failure with its condition and text", async () => {
  const { sasl, send } = setup(3);
  const result = await send(auth(b64("wrong")));
  assert.ok(result.kind === "failure");
  assert.equal(result.condition, "not-authorized");
  assert.equal(result.mechanism, "X-FAKE");
  assert.equal(result.exhausted, false);
  assert.equal(wire(result), failureWire("not-authorized", "Wrong guess"));
  assert.equal(sasl.failures, 1);
});

Deno.test("SaslNegotiation.handle() is exhausted at the maxFailures-th failure", async () => {
  const { sasl, send } = setup(3);
  const outcomes: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const result = await send(auth(b64("wrong")));
    assert.ok(result.kind === "failure");
    outcomes.push(result.exhausted);
  }
  assert.deepEqual(outcomes, [false, false, true, true]);
  assert.equal(sasl.failures, 4);
});

Deno.test("SaslNegotiation.handle() counts every kind of failure towards exhaustion", async () => {
  const { sasl, send } = setup(4);
  const results = [
    await send(auth(b64("wrong"))),
    await send(auth("!!!!")),
    await send(auth(b64("ok:x"), "X-UNKNOWN")),
    await send(response(b64("ok:x"))),
  ];
  assert.deepEqual(
    results.map((r) => r.kind === "failure" && [r.condition, r.exhausted]),
    [
      ["not-authorized", false],
      ["incorrect-encoding", false],
      ["invalid-mechanism", false],
      ["malformed-request", true],
    ],
  );
  assert.equal(sasl.failures, 4);
});

Deno.test("SaslNegotiation.handle() does not count an abort as a failure", async () => {
  const { sasl, send } = setup(1);
  assert.equal((await send(auth(b64("more")))).kind, "continue");
  const aborted = await send(el("abort", { xmlns: NS_SASL }));
  assert.ok(aborted.kind === "failure");
  assert.equal(aborted.condition, "aborted");
  assert.equal(aborted.mechanism, "X-FAKE");
  assert.equal(aborted.exhausted, false);
  assert.equal(wire(aborted), failureWire("aborted"));
  assert.equal(sasl.failures, 0);
  // Aborting twice, or with nothing in progress, is still not a failure.
  const again = await send(el("abort", { xmlns: NS_SASL }));
  assert.ok(again.kind === "failure");
  assert.equal(again.mechanism, undefined);
  assert.equal(sasl.failures, 0);
  // And a fresh attempt can still succeed.
  assert.equal((await send(auth(b64("ok:dave")))).kind, "success");
});

Deno.test("SaslNegotiation.handle() ends the exchange on abort, so a late response is malformed", async () => {
  const { mechanism, send } = setup();
  await send(auth(b64("more")));
  await send(el("abort", { xmlns: NS_SASL }));
  const late = await send(response(b64("ok:eve")));
  assert.ok(late.kind === "failure");
  assert.equal(late.condition, "malformed-request");
  assert.equal(late.mechanism, undefined);
  assert.deepEqual(mechanism.received, [["more"]]);
});

Deno.test("SaslNegotiation.handle() answers bad base64 with incorrect-encoding without a step", async () => {
  for (const bad of ["abc", "a$cd", "A===", "====", "=AAA", "AA=A", "Zm9v\nYmFy", "Zm9v YmFy"]) {
    const { mechanism, sasl, send } = setup();
    const result = await send(auth(bad));
    assert.ok(result.kind === "failure", bad);
    assert.equal(result.condition, "incorrect-encoding", JSON.stringify(bad));
    assert.equal(wire(result), failureWire("incorrect-encoding"));
    assert.equal(sasl.failures, 1);
    assert.deepEqual(mechanism.received, [[]], JSON.stringify(bad));
  }
});

Deno.test("SaslNegotiation.handle() answers a bad base64 response with incorrect-encoding", async () => {
  const { mechanism, send } = setup();
  await send(auth(b64("more")));
  const result = await send(response("not base64!"));
  assert.ok(result.kind === "failure");
  assert.equal(result.condition, "incorrect-encoding");
  assert.deepEqual(mechanism.received, [["more"]]);
});

Deno.test("SaslNegotiation.handle() accepts padded base64 and surrounding whitespace", async () => {
  const { mechanism, send } = setup();
  const result = await send(auth(`\n  ${b64("ok:ab")}  \n`));
  assert.equal(b64("ok:ab").endsWith("="), true);
  assert.equal(result.kind, "success");
  assert.deepEqual(mechanism.received, [["ok:ab"]]);
});

Deno.test("SaslNegotiation.handle() passes raw bytes through unchanged", async () => {
  const seen: Uint8Array[] = [];
  const mechanism: SaslMechanism = {
    name: "X-BYTES",
    start() {
      return {
        step(data) {
          seen.push(data);
          return Promise.resolve({ kind: "challenge", data: new Uint8Array([0, 255, 128]) });
        },
      };
    },
  };
  const sasl = new SaslNegotiation({ maxFailures: 2 });
  const bytes = new Uint8Array([0, 1, 127, 128, 254, 255]);
  const initial = btoa(String.fromCharCode(...bytes));
  const result = await sasl.handle(
    el("auth", { xmlns: NS_SASL, mechanism: "X-BYTES" }, initial),
    new Map([["X-BYTES", mechanism]]),
    { encrypted: false },
  );
  assert.deepEqual(seen, [bytes]);
  assert.equal(result.reply.text(), btoa(String.fromCharCode(0, 255, 128)));
});

Deno.test("SaslNegotiation.handle() treats '=' as an empty initial response", async () => {
  const { mechanism, send } = setup();
  const result = await send(auth("="));
  assert.ok(result.kind === "failure");
  assert.equal(result.condition, "not-authorized");
  assert.deepEqual(mechanism.received, [[""]]);
});

Deno.test("SaslNegotiation.handle() answers <auth/> without initial response with an empty challenge", async () => {
  for (const content of [undefined, "", "  \n "]) {
    const { mechanism, sasl, send } = setup();
    const first = await send(auth(content));
    assert.equal(first.kind, "continue");
    assert.equal(wire(first), `<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>`);
    // The mechanism has started but not been stepped: the client's response is its first message.
    assert.deepEqual(mechanism.received, [[]]);
    const second = await send(response(b64("ok:frank")));
    assert.ok(second.kind === "success");
    assert.equal(second.username, "frank");
    assert.deepEqual(mechanism.received, [["ok:frank"]]);
    assert.equal(sasl.failures, 0);
  }
});

Deno.test("SaslNegotiation.handle() passes an empty <response/> as empty data", async () => {
  const { mechanism, send } = setup();
  await send(auth());
  await send(response());
  assert.deepEqual(mechanism.received, [[""]]);
});

Deno.test("SaslNegotiation.handle() refuses a mechanism that is not offered", async () => {
  const { mechanism, sasl, send } = setup();
  const unknown = await send(auth(b64("ok:x"), "PLAIN"));
  assert.ok(unknown.kind === "failure");
  assert.equal(unknown.condition, "invalid-mechanism");
  assert.equal(unknown.mechanism, undefined);
  assert.equal(wire(unknown), failureWire("invalid-mechanism"));
  const missing = await send(el("auth", { xmlns: NS_SASL }, b64("ok:x")));
  assert.ok(missing.kind === "failure");
  assert.equal(missing.condition, "invalid-mechanism");
  assert.equal(sasl.failures, 2);
  assert.deepEqual(mechanism.contexts, []);
});

Deno.test("SaslNegotiation.handle() answers a response outside an exchange with malformed-request", async () => {
  const { sasl, send } = setup();
  const result = await send(response(b64("ok:x")));
  assert.ok(result.kind === "failure");
  assert.equal(result.condition, "malformed-request");
  assert.equal(wire(result), failureWire("malformed-request"));
  assert.equal(sasl.failures, 1);
});

Deno.test("SaslNegotiation.handle() answers an unexpected element with malformed-request", async () => {
  const { send } = setup();
  const result = await send(el("success", { xmlns: NS_SASL }));
  assert.ok(result.kind === "failure");
  assert.equal(result.condition, "malformed-request");
});

Deno.test("SaslNegotiation.handle() closes the exchange after a failure", async () => {
  const { mechanism, send } = setup();
  await send(auth(b64("wrong")));
  const late = await send(response(b64("ok:x")));
  assert.ok(late.kind === "failure");
  assert.equal(late.condition, "malformed-request");
  assert.deepEqual(mechanism.received, [["wrong"]]);
});

Deno.test("SaslNegotiation.handle() starts a new exchange on a second <auth/>", async () => {
  const { mechanism, send } = setup();
  await send(auth(b64("more")));
  const result = await send(auth(b64("ok:gina")));
  assert.ok(result.kind === "success");
  assert.equal(mechanism.received.length, 2);
  assert.deepEqual(mechanism.received, [["more"], ["ok:gina"]]);
});

Deno.test("SaslNegotiation.handle() passes the stream context to the mechanism", async () => {
  const mechanism = new FakeMechanism();
  const sasl = new SaslNegotiation({ maxFailures: 2 });
  await sasl.handle(auth(b64("ok:h")), new Map([["X-FAKE", mechanism]]), { encrypted: false });
  assert.deepEqual(mechanism.contexts, [{ encrypted: false }]);
});

Deno.test("SaslNegotiation.handle() lets a mechanism error reach the caller", async () => {
  const mechanism: SaslMechanism = {
    name: "X-BROKEN",
    start() {
      return { step: () => Promise.reject(new Error("store down")) };
    },
  };
  const sasl = new SaslNegotiation({ maxFailures: 2 });
  await assert.rejects(
    sasl.handle(auth(b64("x"), "X-BROKEN"), new Map([["X-BROKEN", mechanism]]), {
      encrypted: true,
    }),
    { message: "store down" },
  );
  assert.equal(sasl.failures, 0);
});

Deno.test("SaslNegotiation constructor rejects a maxFailures that is not a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => new SaslNegotiation({ maxFailures: bad }),
      new RangeError(
        `Cannot create SASL negotiation: 'maxFailures' must be a positive integer, got ${bad}`,
      ),
    );
  }
  assert.equal(new SaslNegotiation({ maxFailures: 1 }).failures, 0);
});
