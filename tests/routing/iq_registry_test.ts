import assert from "node:assert/strict";
import { StanzaError } from "../../src/errors/stanza_error.ts";
import { IqRegistry, type IqRequest } from "../../src/routing/iq_registry.ts";
import { el, type Element, type XmlNode } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_STANZAS } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

const NS_TEST = "urn:example:test";

function iq(type: string, ...children: XmlNode[]): Element {
  return el("iq", { xmlns: NS_CLIENT, type, id: "q1", from: "a@x/r", to: "x" }, ...children);
}

function query(attrs: Record<string, string> = {}): Element {
  return el("query", { xmlns: NS_TEST, ...attrs });
}

function wire(reply: Element | undefined): string | undefined {
  return reply === undefined ? undefined : serialize(reply, NS_CLIENT);
}

function errorWire(type: string, condition: string): string {
  return `<iq type="error" id="q1" from="x" to="a@x/r"><error type="${type}">` +
    `<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`;
}

Deno.test("IqRegistry.handle() answers a get with the handler's payload as a result", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => el("query", { xmlns: NS_TEST }, el("item")));
  const reply = await registry.handle("host", iq("get", query()), "x");
  assert.equal(
    wire(reply),
    `<iq type="result" id="q1" from="x" to="a@x/r"><query xmlns="urn:example:test"><item/></query></iq>`,
  );
  assert.equal(reply?.ns, NS_CLIENT);
});

Deno.test("IqRegistry.handle() sends an empty result when the handler returns undefined", async () => {
  const registry = new IqRegistry();
  registry.set("host", "set", NS_TEST, "query", () => undefined);
  assert.equal(
    wire(await registry.handle("host", iq("set", query()), "x")),
    `<iq type="result" id="q1" from="x" to="a@x/r"/>`,
  );
});

Deno.test("IqRegistry.handle() answers from the given addressee", async () => {
  const registry = new IqRegistry();
  registry.set("account", "get", NS_TEST, "query", () => undefined);
  const request = el("iq", { xmlns: NS_CLIENT, type: "get", id: "q1", from: "a@x/r" }, query());
  const reply = await registry.handle("account", request, "a@x");
  assert.deepEqual(reply?.attrs, { type: "result", id: "q1", from: "a@x", to: "a@x/r" });
});

Deno.test("IqRegistry.handle() turns a returned StanzaError into an error reply", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => new StanzaError("cancel", "item-not-found"));
  assert.equal(
    wire(await registry.handle("host", iq("get", query()), "x")),
    errorWire("cancel", "item-not-found"),
  );
});

Deno.test("IqRegistry.handle() waits for asynchronous handlers", async () => {
  const registry = new IqRegistry();
  const gate = Promise.withResolvers<void>();
  registry.set("host", "get", NS_TEST, "query", async () => {
    await gate.promise;
    return el("query", { xmlns: NS_TEST, done: "yes" });
  });
  registry.set(
    "host",
    "set",
    NS_TEST,
    "query",
    () => Promise.resolve(new StanzaError("modify", "not-acceptable")),
  );
  let settled = false;
  const pending = registry.handle("host", iq("get", query()), "x").then((reply) => {
    settled = true;
    return reply;
  });
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(settled, false);
  gate.resolve();
  assert.equal((await pending)?.getChild("query", NS_TEST)?.attr("done"), "yes");
  assert.equal(
    wire(await registry.handle("host", iq("set", query()), "x")),
    errorWire("modify", "not-acceptable"),
  );
});

Deno.test("IqRegistry.handle() answers service-unavailable when no handler matches", async () => {
  const registry = new IqRegistry();
  assert.equal(
    wire(await registry.handle("host", iq("get", query()), "x")),
    errorWire("cancel", "service-unavailable"),
  );
});

Deno.test("IqRegistry.handle() matches scope, type, namespace and name exactly", async () => {
  const registry = new IqRegistry();
  let calls = 0;
  registry.set("host", "get", NS_TEST, "query", () => {
    calls++;
    return undefined;
  });
  const misses: [Parameters<IqRegistry["handle"]>[0], Element][] = [
    ["account", iq("get", query())],
    ["host", iq("set", query())],
    ["host", iq("get", el("query", { xmlns: "urn:other" }))],
    ["host", iq("get", el("other", { xmlns: NS_TEST }))],
    ["host", iq("get", el("query"))],
  ];
  for (const [scope, stanza] of misses) {
    const reply = await registry.handle(scope, stanza, "x");
    assert.equal(
      reply?.getChild("error")?.getChild("service-unavailable", NS_STANZAS)?.name,
      "service-unavailable",
    );
  }
  assert.equal(calls, 0);
  assert.equal((await registry.handle("host", iq("get", query()), "x"))?.attrs.type, "result");
  assert.equal(calls, 1);
});

Deno.test("IqRegistry.handle() answers bad-request to a get or set without a child element", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => assert.fail("handler must not run"));
  assert.equal(
    wire(await registry.handle("host", iq("get"), "x")),
    errorWire("modify", "bad-request"),
  );
  assert.equal(
    wire(await registry.handle("host", iq("set", "  text only  "), "x")),
    errorWire("modify", "bad-request"),
  );
});

Deno.test("IqRegistry.handle() answers bad-request to a get or set with two child elements", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => assert.fail("handler must not run"));
  assert.equal(
    wire(await registry.handle("host", iq("get", query(), query()), "x")),
    errorWire("modify", "bad-request"),
  );
  assert.equal(
    wire(await registry.handle("host", iq("set", query(), el("extra", { xmlns: "urn:e" })), "x")),
    errorWire("modify", "bad-request"),
  );
});

Deno.test("IqRegistry.handle() ignores whitespace around the single child", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => undefined);
  const reply = await registry.handle("host", iq("get", "\n  ", query(), "\n"), "x");
  assert.equal(reply?.attrs.type, "result");
});

Deno.test("IqRegistry.handle() returns nothing for result and error IQs", async () => {
  let calls = 0;
  const registry = new IqRegistry();
  for (const type of ["get", "set"] as const) {
    registry.set("host", type, NS_TEST, "query", () => {
      calls++;
      return undefined;
    });
  }
  assert.equal(await registry.handle("host", iq("result", query()), "x"), undefined);
  assert.equal(await registry.handle("host", iq("result"), "x"), undefined);
  assert.equal(await registry.handle("host", iq("error", query(), el("error")), "x"), undefined);
  assert.equal(calls, 0);
});

Deno.test("IqRegistry.handle() answers internal-server-error and calls onError when a handler throws", async () => {
  const seen: [unknown, IqRequest][] = [];
  const registry = new IqRegistry((error, request) => seen.push([error, request]));
  const boom = new Error("boom");
  registry.set("host", "get", NS_TEST, "query", () => {
    throw boom;
  });
  const stanza = iq("get", query());
  assert.equal(
    wire(await registry.handle("host", stanza, "x")),
    errorWire("cancel", "internal-server-error"),
  );
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.[0], boom);
  assert.equal(seen[0]?.[1].stanza, stanza);
  assert.equal(seen[0]?.[1].payload.name, "query");
});

Deno.test("IqRegistry.handle() answers internal-server-error when an async handler rejects", async () => {
  const seen: unknown[] = [];
  const registry = new IqRegistry((error) => seen.push(error));
  registry.set("host", "set", NS_TEST, "query", async () => {
    await Promise.resolve();
    throw new TypeError("late");
  });
  assert.equal(
    wire(await registry.handle("host", iq("set", query()), "x")),
    errorWire("cancel", "internal-server-error"),
  );
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof TypeError);
});

Deno.test("IqRegistry.handle() treats a thrown StanzaError like any other exception", async () => {
  const seen: unknown[] = [];
  const registry = new IqRegistry((error) => seen.push(error));
  registry.set("host", "get", NS_TEST, "query", () => {
    throw new StanzaError("cancel", "forbidden");
  });
  assert.equal(
    wire(await registry.handle("host", iq("get", query()), "x")),
    errorWire("cancel", "internal-server-error"),
  );
  assert.equal(seen.length, 1);
});

Deno.test("IqRegistry.handle() survives a throwing handler without the default onError", async () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => {
    throw new Error("quiet");
  });
  const reply = await registry.handle("host", iq("get", query()), "x");
  assert.equal(reply?.attrs.type, "error");
});

Deno.test("IqRegistry.handle() gives the handler the stanza, payload, sender and addressee", async () => {
  const requests: IqRequest[] = [];
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", (request) => {
    requests.push(request);
    return undefined;
  });
  const payload = query({ node: "n" });
  const stanza = iq("get", " ", payload);
  await registry.handle("host", stanza, "x");
  const anonymous = el("iq", { xmlns: NS_CLIENT, type: "get", id: "z" }, query());
  await registry.handle("host", anonymous, "x");
  assert.equal(requests.length, 2);
  assert.equal(requests[0]?.stanza, stanza);
  assert.equal(requests[0]?.payload, payload);
  assert.equal(requests[0]?.from, "a@x/r");
  assert.equal(requests[0]?.to, "x");
  assert.equal(requests[1]?.from, "");
});

Deno.test("IqRegistry.set() throws on a duplicate registration", () => {
  const registry = new IqRegistry();
  registry.set("host", "get", NS_TEST, "query", () => undefined);
  assert.throws(
    () => registry.set("host", "get", NS_TEST, "query", () => undefined),
    new TypeError(`Cannot register IQ handler: 'host get ${NS_TEST} query' already has one`),
  );
  // Other scopes and types are separate keys.
  registry.set("account", "get", NS_TEST, "query", () => undefined);
  registry.set("host", "set", NS_TEST, "query", () => undefined);
});

Deno.test("IqRegistry.set() disposable removes the handler and frees the key", async () => {
  const registry = new IqRegistry();
  const registration = registry.set("host", "get", NS_TEST, "query", () => undefined);
  assert.equal(registry.has("host", "get", NS_TEST, "query"), true);
  registration[Symbol.dispose]();
  assert.equal(registry.has("host", "get", NS_TEST, "query"), false);
  assert.equal(
    wire(await registry.handle("host", iq("get", query()), "x")),
    errorWire("cancel", "service-unavailable"),
  );
  using _again = registry.set("host", "get", NS_TEST, "query", () => undefined);
  assert.equal(registry.has("host", "get", NS_TEST, "query"), true);
});

Deno.test("IqRegistry.set() disposable does not remove a later registration of the same key", async () => {
  const registry = new IqRegistry();
  function handler(): undefined {
    return undefined;
  }
  const first = registry.set("host", "get", NS_TEST, "query", handler);
  first[Symbol.dispose]();
  registry.set("host", "get", NS_TEST, "query", handler);
  first[Symbol.dispose]();
  assert.equal(registry.has("host", "get", NS_TEST, "query"), true);
  assert.equal((await registry.handle("host", iq("get", query()), "x"))?.attrs.type, "result");
});

Deno.test("IqRegistry.has() reports registrations by full key", () => {
  const registry = new IqRegistry();
  assert.equal(registry.has("host", "get", NS_TEST, "query"), false);
  registry.set("host", "get", NS_TEST, "query", () => undefined);
  assert.equal(registry.has("host", "get", NS_TEST, "query"), true);
  assert.equal(registry.has("host", "set", NS_TEST, "query"), false);
  assert.equal(registry.has("account", "get", NS_TEST, "query"), false);
  assert.equal(registry.has("host", "get", "urn:other", "query"), false);
  assert.equal(registry.has("host", "get", NS_TEST, "other"), false);
});
