import assert from "node:assert/strict";
import { resolveConfig, type StanzaRule } from "../../src/config/schema.ts";
import { errorReply } from "../../src/errors/stanza_error.ts";
import {
  compileStanzaRules,
  type RuleContext,
  type RuleDirection,
  type RuleTarget,
  type RuleVerdict,
  StanzaRuleSet,
} from "../../src/limits/stanza_rules.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_ROSTER } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

const NS_IBB = "http://jabber.org/protocol/ibb";
const NS_AVATAR = "jabber:iq:avatar";
const NS_REGISTER = "jabber:iq:register";
const STANZAS = `xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"`;
const JULIET = "juliet@capulet.example/balcony";
const ROMEO = "romeo@montague.example/orchard";

/** Rules as the configuration resolves them (defaults filled, durations in ms). */
function rulesOf(input: unknown[]): StanzaRule[] {
  return resolveConfig({ limits: { stanza_rules: input } }).limits.stanza_rules;
}

function compile(input: unknown[]): StanzaRuleSet {
  return compileStanzaRules(rulesOf(input));
}

function contextFor(
  set: StanzaRuleSet,
  clock = new ManualClock(),
  to: RuleTarget = "remote",
  direction: RuleDirection = "outbound",
): RuleContext {
  return { direction, to, counters: set.createCounters(), clock };
}

function iq(type: string, ns: string, child = "query", id = "q1"): Element {
  return el(
    "iq",
    { xmlns: NS_CLIENT, type, id, from: JULIET, to: ROMEO },
    el(child, { xmlns: ns }),
  );
}

function errorXml(verdict: RuleVerdict): string {
  assert.ok(verdict.error !== undefined, "expected a refusal");
  return serialize(verdict.error.toElement(), NS_CLIENT);
}

Deno.test("StanzaRuleSet.check() allows everything with no rules, with one shared verdict", () => {
  const set = compileStanzaRules([]);
  const context = contextFor(set);
  const first = set.check(el("message", { xmlns: NS_CLIENT, to: ROMEO }), context);
  assert.deepEqual({ ...first }, {
    allowed: true,
    rule: -1,
    action: undefined,
    mode: undefined,
  });
  assert.ok(Object.isFrozen(first));
  assert.equal(set.check(iq("get", NS_ROSTER), context), first);
  assert.equal(set.check(el("presence", {}), context), first);
  assert.equal(context.counters.active, 0);
});

Deno.test("StanzaRuleSet.check() forbids XEP-0047 IBB in messages and IQs with not-allowed", () => {
  const set = compile([{ action: "deny", payload: NS_IBB }]);
  const context = contextFor(set);
  const open = iq("set", NS_IBB, "open", "ibb1");
  const verdict = set.check(open, context);
  assert.equal(verdict.allowed, false);
  assert.equal(verdict.rule, 0);
  assert.equal(verdict.action, "deny");
  assert.equal(verdict.mode, "enforce");
  assert.equal(verdict.retryAfterMs, undefined);
  assert.ok(verdict.error !== undefined);
  assert.equal(
    serialize(errorReply(open, verdict.error), NS_CLIENT),
    `<iq type="error" id="ibb1" from="${ROMEO}" to="${JULIET}"><error type="cancel">` +
      `<not-allowed ${STANZAS}/>` +
      `<text ${STANZAS}>Sending stanzas with payload http://jabber.org/protocol/ibb is not allowed</text>` +
      `</error></iq>`,
  );
  // IBB data may travel in a message (XEP-0047 §3): the same rule catches it.
  const data = el(
    "message",
    { xmlns: NS_CLIENT, to: ROMEO },
    el("data", { xmlns: NS_IBB, seq: "0", sid: "s1" }, "AAAA"),
  );
  assert.equal(set.check(data, context), verdict); // deny verdicts are shared
  // Other payloads, and IBB received rather than sent (direction defaults to outbound), pass.
  assert.equal(set.check(iq("get", "urn:xmpp:ping", "ping"), context).allowed, true);
  assert.equal(set.check(open, { ...context, direction: "inbound" }).allowed, true);
});

Deno.test("StanzaRuleSet.check() forbids XEP-0008 IQ avatars with policy-violation and the rule's text", () => {
  const set = compile([{
    action: "deny",
    kind: "iq",
    payload: NS_AVATAR,
    error: "policy-violation",
    text: "IQ-based avatars are disabled here; publish a PEP avatar instead",
  }]);
  const verdict = set.check(iq("get", NS_AVATAR), contextFor(set));
  assert.equal(
    errorXml(verdict),
    `<error type="modify"><policy-violation ${STANZAS}/>` +
      `<text ${STANZAS}>IQ-based avatars are disabled here; publish a PEP avatar instead</text>` +
      `</error>`,
  );
  // The same namespace in a message is not an IQ: the rule's kind does not fit.
  const message = el("message", { to: ROMEO }, el("query", { xmlns: NS_AVATAR }));
  assert.equal(set.check(message, contextFor(set)).allowed, true);
});

Deno.test("StanzaRuleSet.check() disables XEP-0077 in-band registration", () => {
  const set = compile([{ action: "deny", kind: "iq", payload: NS_REGISTER }]);
  const context = contextFor(set, new ManualClock(), "self");
  for (const type of ["get", "set"]) {
    const request = el(
      "iq",
      { xmlns: NS_CLIENT, type, id: "reg1" },
      el("query", { xmlns: NS_REGISTER }),
    );
    const verdict = set.check(request, context);
    assert.equal(verdict.allowed, false);
    assert.equal(
      serialize(errorReply(request, verdict.error!, "capulet.example"), NS_CLIENT),
      `<iq type="error" id="reg1" from="capulet.example"><error type="cancel">` +
        `<not-allowed ${STANZAS}/>` +
        `<text ${STANZAS}>Sending IQ stanzas with payload jabber:iq:register is not allowed</text>` +
        `</error></iq>`,
    );
  }
});

Deno.test("StanzaRuleSet.check() rate-limits roster requests (iq get jabber:iq:roster)", () => {
  const clock = new ManualClock();
  const set = compile([{
    action: "limit",
    kind: "iq",
    type: "get",
    payload: NS_ROSTER,
    rate: { max: 3, window: "1m" },
  }]);
  const context = contextFor(set, clock, "self");
  const get = el(
    "iq",
    { xmlns: NS_CLIENT, type: "get", id: "roster1" },
    el("query", { xmlns: NS_ROSTER }),
  );
  assert.equal(context.counters.active, 0);
  for (let i = 0; i < 3; i++) {
    const verdict = set.check(get, context);
    assert.deepEqual({ ...verdict }, { allowed: true, rule: 0, action: "limit", mode: "enforce" });
  }
  assert.equal(context.counters.active, 1);
  // Roster pushes from the client (set) are not requests: not counted, not refused.
  assert.equal(set.check(iq("set", NS_ROSTER), context).allowed, true);
  clock.advance(20_000);
  const refused = set.check(get, context);
  assert.equal(refused.allowed, false);
  assert.equal(refused.action, "limit");
  assert.equal(refused.retryAfterMs, 40_001); // the next window starts in 40 s
  assert.equal(refused.error?.retryAfterMs, 40_001);
  assert.equal(
    serialize(errorReply(get, refused.error!, "capulet.example"), NS_CLIENT),
    `<iq type="error" id="roster1" from="capulet.example"><error type="wait">` +
      `<resource-constraint ${STANZAS}/>` +
      `<text ${STANZAS}>Rate limit exceeded for sending IQ stanzas of type get with payload ` +
      `jabber:iq:roster: at most 3 per 1m</text>` +
      `<too-many-stanzas xmlns="urn:xmpp:errors"/>` +
      `</error></iq>`,
  );
  clock.advance(40_000);
  assert.equal(set.check(get, context).allowed, false); // prev window still counts 3 × 1.0
  clock.advance(1);
  assert.equal(set.check(get, context).allowed, true);
});

Deno.test("StanzaRuleSet.check() rate-limits presence subscription requests", () => {
  const clock = new ManualClock();
  const set = compile([{
    action: "limit",
    kind: "presence",
    type: "subscribe",
    rate: { max: 2, window: "1h" },
    text: "Too many contact requests, try again later",
  }]);
  const context = contextFor(set, clock);
  const subscribe = (to: string) => el("presence", { xmlns: NS_CLIENT, to, type: "subscribe" });
  assert.equal(set.check(subscribe("a@montague.example"), context).allowed, true);
  assert.equal(set.check(subscribe("b@montague.example"), context).allowed, true);
  // Available presence (no type) and other subscription states are not requests.
  assert.equal(set.check(el("presence", { xmlns: NS_CLIENT }), context).allowed, true);
  const unsubscribe = el("presence", { to: "a@montague.example", type: "unsubscribe" });
  assert.equal(set.check(unsubscribe, context).allowed, true);
  const refused = set.check(subscribe("c@montague.example"), context);
  assert.equal(
    errorXml(refused),
    `<error type="wait"><resource-constraint ${STANZAS}/>` +
      `<text ${STANZAS}>Too many contact requests, try again later</text>` +
      `<too-many-stanzas xmlns="urn:xmpp:errors"/></error>`,
  );
  assert.equal(refused.retryAfterMs, 3_600_001);
  // Another session has its own counters.
  assert.equal(set.check(subscribe("c@montague.example"), contextFor(set, clock)).allowed, true);
});

Deno.test("StanzaRuleSet.check() limits stanzas to unknown JIDs and to remote domains", () => {
  const clock = new ManualClock();
  const set = compile([
    { action: "limit", to: "unknown", rate: { max: 1, window: "1m" } },
    { action: "limit", kind: "message", to: "remote", rate: { max: 2, window: "1m" } },
  ]);
  const counters = set.createCounters();
  const check = (stanza: Element, to: RuleTarget) =>
    set.check(stanza, { direction: "outbound", to, counters, clock });
  const message = el("message", { xmlns: NS_CLIENT, to: "x@elsewhere.example", type: "chat" });

  // To unknown addresses: any kind counts, one per minute.
  assert.equal(check(message, "unknown").allowed, true);
  const unknown = check(iq("get", "urn:xmpp:ping", "ping"), "unknown");
  assert.equal(unknown.rule, 0);
  assert.equal(
    errorXml(unknown),
    `<error type="wait"><resource-constraint ${STANZAS}/>` +
      `<text ${STANZAS}>Rate limit exceeded for sending stanzas to unknown addresses: ` +
      `at most 1 per 1m</text><too-many-stanzas xmlns="urn:xmpp:errors"/></error>`,
  );
  // To remote domains: messages only, two per minute, counted apart.
  assert.equal(check(message, "remote").allowed, true);
  assert.equal(check(message, "remote").allowed, true);
  const remote = check(message, "remote");
  assert.equal(remote.rule, 1);
  assert.equal(
    remote.error?.text,
    "Rate limit exceeded for sending messages to remote domains: at most 2 per 1m",
  );
  assert.equal(check(el("presence", { to: "x@elsewhere.example" }), "remote").allowed, true);
  // Local and own-account traffic is untouched.
  assert.equal(check(message, "local").rule, -1);
  assert.equal(check(message, "self").rule, -1);
  assert.equal(counters.active, 2);
});

Deno.test("StanzaRuleSet.check() reads a missing type as normal (message) and available (presence)", () => {
  const set = compile([
    { action: "deny", kind: "message", type: "normal" },
    { action: "deny", kind: "presence", type: "available" },
    { action: "deny", kind: "any", type: "error", direction: "inbound" },
  ]);
  const context = contextFor(set);
  assert.equal(set.check(el("message", { to: ROMEO }), context).rule, 0);
  assert.equal(set.check(el("message", { to: ROMEO, type: "normal" }), context).rule, 0);
  assert.equal(set.check(el("message", { to: ROMEO, type: "chat" }), context).rule, -1);
  assert.equal(set.check(el("presence", {}), context).rule, 1);
  assert.equal(set.check(el("presence", { type: "unavailable" }), context).rule, -1);
  // An iq without a type fits no type list.
  const inbound = { ...context, direction: "inbound" as const };
  assert.equal(
    set.check(el("iq", { id: "1" }, el("ping", { xmlns: "urn:xmpp:ping" })), inbound).rule,
    -1,
  );
  assert.equal(set.check(el("iq", { type: "error", id: "1" }), inbound).rule, 2);
  assert.equal(set.check(el("message", { type: "error" }), inbound).rule, 2);
  assert.equal(
    set.check(el("message", { type: "error" }), inbound).error?.text,
    "Receiving stanzas of type error is not allowed",
  );
});

Deno.test("StanzaRuleSet.check() lets the first matching rule decide", () => {
  const set = compile([
    { action: "allow", kind: "iq", payload: ["urn:xmpp:ping", "jabber:iq:version"] },
    { action: "deny", kind: "iq", type: ["get", "set"], error: "policy-violation" },
    { action: "deny", kind: "any" },
  ]);
  const context = contextFor(set);
  const ping = set.check(iq("get", "urn:xmpp:ping", "ping"), context);
  assert.deepEqual({ ...ping }, { allowed: true, rule: 0, action: "allow", mode: "enforce" });
  assert.equal(set.check(iq("get", "urn:xmpp:ping", "ping"), context), ping); // shared
  assert.equal(set.check(iq("set", "urn:example"), context).rule, 1);
  assert.equal(set.check(iq("result", "urn:example"), context).rule, 2);
  assert.equal(
    errorXml(set.check(iq("set", "urn:example"), context)),
    `<error type="modify"><policy-violation ${STANZAS}/>` +
      `<text ${STANZAS}>Sending IQ stanzas of type get or set is not allowed</text></error>`,
  );
  // Only message, presence and iq are stanzas: anything else matches no rule.
  assert.equal(set.check(el("r", { xmlns: "urn:xmpp:sm:3" }), context).rule, -1);
});

Deno.test("StanzaRuleSet.check() matches payloads by the namespaces of direct children", () => {
  const set = compile([{ action: "deny", kind: "message", payload: [NS_IBB, "urn:example:b"] }]);
  const context = contextFor(set);
  const second = el(
    "message",
    { xmlns: NS_CLIENT, to: ROMEO },
    "text node",
    el("body", {}, "hi"),
    el("data", { xmlns: NS_IBB }),
  );
  assert.equal(set.check(second, context).rule, 0);
  assert.equal(
    set.check(second, context).error?.text,
    "Sending messages with payload http://jabber.org/protocol/ibb or urn:example:b is not allowed",
  );
  const nested = el(
    "message",
    { xmlns: NS_CLIENT, to: ROMEO },
    el("x", { xmlns: "urn:example:a" }, el("data", { xmlns: NS_IBB })),
  );
  assert.equal(set.check(nested, context).rule, -1);
  // <body/> inherits jabber:client, which is not listed.
  assert.equal(
    set.check(el("message", { xmlns: NS_CLIENT }, el("body", {}, "x")), context).rule,
    -1,
  );
});

Deno.test("StanzaRuleSet.check() applies direction and to as configured", () => {
  const set = compile([
    { action: "deny", kind: "message", direction: "inbound", to: "remote" },
    { action: "deny", kind: "presence", direction: "any", to: "local" },
    { action: "deny", kind: "iq", to: "any" },
  ]);
  const clock = new ManualClock();
  const at = (to: RuleTarget, direction: RuleDirection) => contextFor(set, clock, to, direction);
  const message = el("message", { to: ROMEO });
  assert.equal(set.check(message, at("remote", "inbound")).rule, 0);
  assert.equal(
    set.check(message, at("remote", "inbound")).error?.text,
    "Receiving messages from remote domains is not allowed",
  );
  assert.equal(set.check(message, at("remote", "outbound")).rule, -1);
  assert.equal(set.check(message, at("local", "inbound")).rule, -1);
  const presence = el("presence", {});
  assert.equal(set.check(presence, at("local", "outbound")).rule, 1);
  assert.equal(set.check(presence, at("local", "inbound")).rule, 1);
  assert.equal(
    set.check(presence, at("local", "inbound")).error?.text,
    "Sending or receiving presence stanzas to or from local addresses is not allowed",
  );
  // to: local does not cover the account itself; to: any covers all four.
  assert.equal(set.check(presence, at("self", "outbound")).rule, -1);
  for (const to of ["local", "remote", "unknown", "self"] as const) {
    assert.equal(set.check(iq("get", "urn:x"), at(to, "outbound")).rule, 2);
  }
  assert.equal(set.check(iq("get", "urn:x"), at("self", "inbound")).rule, -1);
  const bad = { ...at("self", "outbound"), to: "constructor" as RuleTarget };
  assert.throws(
    () => set.check(iq("get", "urn:x"), bad),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        `Cannot check stanza rules: 'to' must be "local", "remote", "unknown" or "self", got "constructor"`,
  );
});

Deno.test("StanzaRuleSet.check() carries report mode on its verdicts", () => {
  const clock = new ManualClock();
  const set = compileStanzaRules(
    resolveConfig({
      limits: {
        mode: "report",
        stanza_rules: [
          { action: "deny", kind: "iq", payload: "jabber:iq:version", mode: "enforce" },
          { action: "limit", kind: "message", rate: { max: 1, window: "1s" } },
        ],
      },
    }).limits.stanza_rules,
  );
  const context = contextFor(set, clock);
  assert.equal(set.check(iq("get", "jabber:iq:version"), context).mode, "enforce");
  const message = el("message", { to: ROMEO });
  assert.equal(set.check(message, context).mode, "report");
  const over = set.check(message, context);
  assert.equal(over.allowed, false);
  assert.equal(over.mode, "report");
  assert.equal(over.retryAfterMs, 1001);
});

Deno.test("StanzaRuleSet counters are lazy, per session and per set", () => {
  const clock = new ManualClock();
  const set = compile([
    { action: "allow", kind: "iq" },
    { action: "limit", kind: "message", rate: { max: 1, window: "1m" } },
    { action: "limit", kind: "presence", rate: { max: "unlimited", window: "1m" } },
  ]);
  const context = contextFor(set, clock);
  assert.equal(set.check(iq("get", "urn:x"), context).rule, 0);
  assert.equal(context.counters.active, 0);
  // An unlimited rate decides (allowed) without a counter.
  assert.deepEqual({ ...set.check(el("presence", {}), context) }, {
    allowed: true,
    rule: 2,
    action: "limit",
    mode: "enforce",
  });
  assert.equal(context.counters.active, 0);
  const message = el("message", { to: ROMEO });
  assert.equal(set.check(message, context).allowed, true);
  assert.equal(set.check(message, context).allowed, false);
  assert.equal(context.counters.active, 1);
  context.counters.reset();
  assert.equal(context.counters.active, 0);
  assert.equal(set.check(message, context).allowed, true);

  const other = compile([{ action: "limit", kind: "message", rate: { max: 1, window: "1m" } }]);
  assert.throws(
    () => other.check(message, context),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        "Cannot check stanza rules: 'counters' must come from createCounters() of the same rule set",
  );
});

Deno.test("compileStanzaRules() rejects malformed rules with TypeError", () => {
  const [valid] = rulesOf([{ action: "deny", kind: "iq" }]);
  assert.ok(valid !== undefined);
  const cases: [unknown, string][] = [
    [
      { ...valid, action: "drop" },
      `Cannot compile stanza rule 0: 'action' must be "allow", "deny" or "limit", got "drop"`,
    ],
    [
      { ...valid, kind: "stanza" },
      `Cannot compile stanza rule 0: 'kind' must be "message", "presence", "iq" or "any", got "stanza"`,
    ],
    [
      { ...valid, to: "self" },
      `Cannot compile stanza rule 0: 'to' must be "local", "remote", "unknown" or "any", got "self"`,
    ],
    [
      { ...valid, payload: [] },
      `Cannot compile stanza rule 0: 'payload' must be a non-empty list of non-empty strings, got []`,
    ],
    [
      { ...valid, rate: { max: 1, window: 1000 } },
      `Cannot compile stanza rule 0: 'rate' is only allowed when 'action' is "limit"`,
    ],
    [
      { ...valid, action: "limit" },
      `Cannot compile stanza rule 0: 'rate' must be { max, window } when 'action' is "limit", got undefined`,
    ],
    [
      { ...valid, action: "limit", rate: { max: 0, window: 1000 } },
      `Cannot compile stanza rule 0: 'rate.max' must be a positive integer or null, got 0`,
    ],
    [
      { ...valid, action: "limit", rate: { max: 1, window: "1m" } },
      `Cannot compile stanza rule 0: 'rate.window' must be a positive integer of milliseconds, got "1m"`,
    ],
    [
      { ...valid, mode: undefined },
      `Cannot compile stanza rule 0: 'mode' must be "enforce" or "report", got undefined`,
    ],
  ];
  for (const [rule, message] of cases) {
    assert.throws(
      () => compileStanzaRules([valid, rule] as StanzaRule[]),
      (error: unknown) =>
        error instanceof TypeError && error.message === message.replace("rule 0", "rule 1"),
      message,
    );
  }
  assert.throws(() => compileStanzaRules("x" as unknown as StanzaRule[]), TypeError);
});

Deno.test("StanzaRuleSet.rules are frozen copies in order", () => {
  const input = rulesOf([
    { action: "allow", kind: "iq", payload: "urn:xmpp:ping" },
    { action: "limit", kind: "message", rate: { max: 5, window: "10s" } },
  ]);
  const set = new StanzaRuleSet(input);
  assert.deepEqual(set.rules, input);
  assert.notEqual(set.rules[0], input[0]);
  assert.ok(Object.isFrozen(set.rules));
  assert.ok(Object.isFrozen(set.rules[0]));
  assert.ok(Object.isFrozen(set.rules[0]?.payload));
  assert.ok(Object.isFrozen(set.rules[1]?.rate));
  // Mutating the input afterwards changes nothing.
  (input[0] as { action: string }).action = "deny";
  assert.equal(set.check(iq("get", "urn:xmpp:ping", "ping"), contextFor(set)).allowed, true);
});
