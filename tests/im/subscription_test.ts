import assert from "node:assert/strict";
import {
  inboundSubscription,
  isSubscribedTo,
  isSubscriber,
  NO_SUBSCRIPTION,
  outboundSubscription,
  removalNotices,
  type SubscriptionPresenceType,
  type SubscriptionState,
  subscriptionState,
} from "../../src/im/subscription.ts";

/** The nine states of RFC 6121 Appendix A.1, by their names there. */
type StateName =
  | "None"
  | "None + Pending Out"
  | "None + Pending In"
  | "None + Pending Out/In"
  | "To"
  | "To + Pending In"
  | "From"
  | "From + Pending Out"
  | "Both";

const NAMES: readonly StateName[] = [
  "None",
  "None + Pending Out",
  "None + Pending In",
  "None + Pending Out/In",
  "To",
  "To + Pending In",
  "From",
  "From + Pending Out",
  "Both",
];

/** A roster item in the named state. */
function st(name: StateName, extra: Partial<SubscriptionState> = {}): SubscriptionState {
  const [base, pending = ""] = name.split(" + ");
  return {
    subscription: base!.toLowerCase() as SubscriptionState["subscription"],
    ask: pending === "Pending Out" || pending === "Pending Out/In",
    approved: false,
    pendingIn: pending === "Pending In" || pending === "Pending Out/In",
    inRoster: true,
    ...extra,
  };
}

/**
 * One row of an Appendix A table: the existing state, the new state
 * (`null` = "no state change"), whether the stanza is routed (A.2) or
 * delivered (A.3), and the side effects the RFC text adds.
 */
interface Row {
  from: StateName;
  to: StateName | null;
  forward: boolean;
  push?: boolean;
  presence?: "current" | "unavailable";
  reply?: "subscribed";
}

function row(
  from: StateName,
  to: StateName | null,
  forward: boolean,
  effects: Omit<Row, "from" | "to" | "forward"> = {},
): Row {
  return { from, to, forward, ...effects };
}

const PUSH = { push: true };

// A.2.1 outbound "subscribe"; A.2 routes every outbound subscribe.
const A_2_1: Row[] = [
  row("None", "None + Pending Out", true, PUSH),
  row("None + Pending Out", null, true),
  row("None + Pending In", "None + Pending Out/In", true, PUSH),
  row("None + Pending Out/In", null, true),
  row("To", null, true),
  row("To + Pending In", null, true),
  row("From", "From + Pending Out", true, PUSH),
  row("From + Pending Out", null, true),
  row("Both", null, true),
];

// A.2.2 outbound "unsubscribe"; always routed.
const A_2_2: Row[] = [
  row("None", null, true),
  row("None + Pending Out", "None", true, PUSH),
  row("None + Pending In", null, true),
  row("None + Pending Out/In", "None + Pending In", true, PUSH),
  row("To", "None", true, PUSH),
  row("To + Pending In", "None + Pending In", true, PUSH),
  row("From", null, true),
  row("From + Pending Out", "From", true, PUSH),
  row("Both", "From", true, PUSH),
];

// A.2.3 outbound "subscribed", without pre-approval; §3.1.5 sends current presence after approving.
const A_2_3: Row[] = [
  row("None", null, false),
  row("None + Pending Out", null, false),
  row("None + Pending In", "From", true, { push: true, presence: "current" }),
  row("None + Pending Out/In", "From + Pending Out", true, { push: true, presence: "current" }),
  row("To", null, false),
  row("To + Pending In", "Both", true, { push: true, presence: "current" }),
  row("From", null, false),
  row("From + Pending Out", null, false),
  row("Both", null, false),
];

// A.2.4 outbound "unsubscribed"; §3.2.2 sends unavailable when a subscriber is cut off.
const A_2_4: Row[] = [
  row("None", null, false),
  row("None + Pending Out", null, false),
  row("None + Pending In", "None", true),
  row("None + Pending Out/In", "None + Pending Out", true),
  row("To", null, false),
  row("To + Pending In", "To", true),
  row("From", "None", true, { push: true, presence: "unavailable" }),
  row("From + Pending Out", "None + Pending Out", true, { push: true, presence: "unavailable" }),
  row("Both", "To", true, { push: true, presence: "unavailable" }),
];

// A.3.1 inbound "subscribe"; §3.1.3 auto-replies "subscribed" to an existing subscriber.
const AUTO = { reply: "subscribed", presence: "current" } as const;
const A_3_1: Row[] = [
  row("None", "None + Pending In", true),
  row("None + Pending Out", "None + Pending Out/In", true),
  row("None + Pending In", null, false),
  row("None + Pending Out/In", null, false),
  row("To", "To + Pending In", true),
  row("To + Pending In", null, false),
  row("From", null, false, AUTO),
  row("From + Pending Out", null, false, AUTO),
  row("Both", null, false, AUTO),
];

// A.3.2 inbound "unsubscribe"; §3.3.3 sends unavailable to the former subscriber.
const A_3_2: Row[] = [
  row("None", null, false),
  row("None + Pending Out", null, false),
  row("None + Pending In", "None", true),
  row("None + Pending Out/In", "None + Pending Out", true),
  row("To", null, false),
  row("To + Pending In", "To", true),
  row("From", "None", true, { push: true, presence: "unavailable" }),
  row("From + Pending Out", "None + Pending Out", true, { push: true, presence: "unavailable" }),
  row("Both", "To", true, { push: true, presence: "unavailable" }),
];

// A.3.3 inbound "subscribed".
const A_3_3: Row[] = [
  row("None", null, false),
  row("None + Pending Out", "To", true, PUSH),
  row("None + Pending In", null, false),
  row("None + Pending Out/In", "To + Pending In", true, PUSH),
  row("To", null, false),
  row("To + Pending In", null, false),
  row("From", null, false),
  row("From + Pending Out", "Both", true, PUSH),
  row("Both", null, false),
];

// A.3.4 inbound "unsubscribed".
const A_3_4: Row[] = [
  row("None", null, false),
  row("None + Pending Out", "None", true, PUSH),
  row("None + Pending In", null, false),
  row("None + Pending Out/In", "None + Pending In", true, PUSH),
  row("To", "None", true, PUSH),
  row("To + Pending In", "None + Pending In", true, PUSH),
  row("From", null, false),
  row("From + Pending Out", "From", true, PUSH),
  row("Both", "From", true, PUSH),
];

const OUTBOUND_TABLES: [string, SubscriptionPresenceType, Row[]][] = [
  ["A.2.1", "subscribe", A_2_1],
  ["A.2.2", "unsubscribe", A_2_2],
  ["A.2.3", "subscribed", A_2_3],
  ["A.2.4", "unsubscribed", A_2_4],
];

const INBOUND_TABLES: [string, SubscriptionPresenceType, Row[]][] = [
  ["A.3.1", "subscribe", A_3_1],
  ["A.3.2", "unsubscribe", A_3_2],
  ["A.3.3", "subscribed", A_3_3],
  ["A.3.4", "unsubscribed", A_3_4],
];

Deno.test("the test tables list all nine states once each, in the RFC's order", () => {
  for (const [, , rows] of [...OUTBOUND_TABLES, ...INBOUND_TABLES]) {
    assert.deepEqual(rows.map((r) => r.from), NAMES);
  }
});

for (const [section, type, rows] of OUTBOUND_TABLES) {
  Deno.test(`outboundSubscription() follows RFC 6121 ${section} (outbound "${type}")`, () => {
    for (const r of rows) {
      const before = st(r.from);
      const after = r.to === null ? before : st(r.to);
      const outcome = outboundSubscription(before, type, { preApproval: false });
      assert.deepEqual(outcome, {
        state: after,
        changed: r.to !== null,
        push: r.push ?? false,
        route: r.forward,
        presence: r.presence,
      }, `${section} row "${r.from}"`);
      if (r.to === null) assert.equal(outcome.state, before, "no state change keeps the object");
    }
  });
}

for (const [section, type, rows] of INBOUND_TABLES) {
  Deno.test(`inboundSubscription() follows RFC 6121 ${section} (inbound "${type}")`, () => {
    for (const r of rows) {
      const before = st(r.from);
      const after = r.to === null ? before : st(r.to);
      assert.deepEqual(inboundSubscription(before, type), {
        state: after,
        changed: r.to !== null,
        push: r.push ?? false,
        deliver: r.forward,
        reply: r.reply,
        presence: r.presence,
      }, `${section} row "${r.from}"`);
    }
  });
}

Deno.test("outboundSubscription() pre-approves a subscribed that answers no request (§3.4)", () => {
  for (const name of ["None", "None + Pending Out", "To"] as const) {
    assert.deepEqual(outboundSubscription(st(name), "subscribed"), {
      state: st(name, { approved: true }),
      changed: true,
      push: true,
      route: false,
      presence: undefined,
    }, name);
  }
  // §3.4 step 4: a contact not in the roster gets an item with state None, approved.
  assert.deepEqual(outboundSubscription(NO_SUBSCRIPTION, "subscribed"), {
    state: st("None", { approved: true }),
    changed: true,
    push: true,
    route: false,
    presence: undefined,
  });
});

Deno.test("outboundSubscription() changes nothing for a repeated pre-approval or a From state", () => {
  const approved = st("To", { approved: true });
  const again = outboundSubscription(approved, "subscribed");
  assert.equal(again.state, approved);
  assert.deepEqual({ ...again, state: undefined }, {
    state: undefined,
    changed: false,
    push: false,
    route: false,
    presence: undefined,
  });
  // §3.4 step 1: From, From + Pending Out and Both ignore the stanza.
  for (const name of ["From", "From + Pending Out", "Both"] as const) {
    const outcome = outboundSubscription(st(name), "subscribed");
    assert.equal(outcome.changed, false, name);
    assert.equal(outcome.route, false, name);
  }
});

Deno.test("outboundSubscription() treats pending requests as normal approvals, even with pre-approval on", () => {
  assert.deepEqual(outboundSubscription(st("To + Pending In"), "subscribed"), {
    state: st("Both"),
    changed: true,
    push: true,
    route: true,
    presence: "current",
  });
});

Deno.test("outboundSubscription() cancels a pre-approval on unsubscribed without routing it", () => {
  for (const name of ["None", "None + Pending Out", "To"] as const) {
    assert.deepEqual(outboundSubscription(st(name, { approved: true }), "unsubscribed"), {
      state: st(name),
      changed: true,
      push: true,
      route: false,
      presence: undefined,
    }, name);
  }
});

Deno.test("inboundSubscription() answers a pre-approved request and consumes the approval", () => {
  const cases: [StateName, StateName][] = [
    ["None", "From"],
    ["None + Pending Out", "From + Pending Out"],
    ["To", "Both"],
  ];
  for (const [from, to] of cases) {
    assert.deepEqual(inboundSubscription(st(from, { approved: true }), "subscribe"), {
      state: st(to),
      changed: true,
      push: true,
      deliver: false,
      reply: "subscribed",
      presence: "current",
    }, from);
  }
});

Deno.test("inboundSubscription() ignores the approved flag when pre-approval is off", () => {
  assert.deepEqual(
    inboundSubscription(st("None", { approved: true }), "subscribe", { preApproval: false }),
    {
      state: st("None + Pending In", { approved: true }),
      changed: true,
      push: false,
      deliver: true,
      reply: undefined,
      presence: undefined,
    },
  );
});

Deno.test("outboundSubscription() creates a roster item for subscribe and for approving a stranger", () => {
  assert.deepEqual(
    outboundSubscription(NO_SUBSCRIPTION, "subscribe").state,
    st("None + Pending Out"),
  );
  const stranger = { ...NO_SUBSCRIPTION, pendingIn: true };
  assert.deepEqual(outboundSubscription(stranger, "subscribed"), {
    state: st("From"),
    changed: true,
    push: true,
    route: true,
    presence: "current",
  });
  assert.deepEqual(outboundSubscription(stranger, "subscribe"), {
    state: st("None + Pending Out/In"),
    changed: true,
    push: true,
    route: true,
    presence: undefined,
  });
});

Deno.test("outboundSubscription() denies a stranger's request without creating an item (§3.2.2)", () => {
  const stranger = { ...NO_SUBSCRIPTION, pendingIn: true };
  assert.deepEqual(outboundSubscription(stranger, "unsubscribed"), {
    state: NO_SUBSCRIPTION,
    changed: true,
    push: false,
    route: true,
    presence: undefined,
  });
  // An unsubscribe to someone never added is still routed (A.2) but stores nothing.
  assert.deepEqual(outboundSubscription(NO_SUBSCRIPTION, "unsubscribe"), {
    state: NO_SUBSCRIPTION,
    changed: false,
    push: false,
    route: true,
    presence: undefined,
  });
});

Deno.test("inboundSubscription() keeps a stranger's request outside the roster", () => {
  const requested = inboundSubscription(NO_SUBSCRIPTION, "subscribe");
  assert.deepEqual(requested, {
    state: { ...NO_SUBSCRIPTION, pendingIn: true },
    changed: true,
    push: false,
    deliver: true,
    reply: undefined,
    presence: undefined,
  });
  const withdrawn = inboundSubscription(requested.state, "unsubscribe");
  assert.deepEqual(withdrawn.state, NO_SUBSCRIPTION);
  assert.equal(withdrawn.push, false);
  assert.equal(withdrawn.deliver, true);
  for (const type of ["subscribed", "unsubscribed", "unsubscribe"] as const) {
    const outcome = inboundSubscription(NO_SUBSCRIPTION, type);
    assert.equal(outcome.changed, false, type);
    assert.equal(outcome.deliver, false, type);
  }
});

Deno.test("a full handshake between two servers ends in Both on each side", () => {
  let romeo = NO_SUBSCRIPTION; // juliet in romeo's roster
  let juliet = NO_SUBSCRIPTION; // romeo in juliet's roster
  const send = (
    sender: SubscriptionState,
    receiver: SubscriptionState,
    type: SubscriptionPresenceType,
  ) => {
    const out = outboundSubscription(sender, type);
    const received = out.route ? inboundSubscription(receiver, type) : undefined;
    return [out.state, received?.state ?? receiver, received] as const;
  };
  [romeo, juliet] = send(romeo, juliet, "subscribe");
  assert.deepEqual([romeo, juliet], [st("None + Pending Out"), {
    ...NO_SUBSCRIPTION,
    pendingIn: true,
  }]);
  [juliet, romeo] = send(juliet, romeo, "subscribed");
  assert.deepEqual([romeo, juliet], [st("To"), st("From")]);
  [juliet, romeo] = send(juliet, romeo, "subscribe");
  assert.deepEqual([romeo, juliet], [st("To + Pending In"), st("From + Pending Out")]);
  [romeo, juliet] = send(romeo, juliet, "subscribed");
  assert.deepEqual([romeo, juliet], [st("Both"), st("Both")]);
  // Romeo's server lost his state; a new request is answered by Juliet's server alone.
  const [, , answer] = send(NO_SUBSCRIPTION, juliet, "subscribe");
  assert.equal(answer?.reply, "subscribed");
  assert.equal(answer?.deliver, false);
  // Romeo cancels his subscription: Both -> From for him, Both -> To for her.
  [romeo, juliet] = send(romeo, juliet, "unsubscribe");
  assert.deepEqual([romeo, juliet], [st("From"), st("To")]);
});

Deno.test("subscriptionState() combines a roster item and a pending request", () => {
  assert.equal(subscriptionState(undefined), NO_SUBSCRIPTION);
  assert.deepEqual(subscriptionState(undefined, true), { ...NO_SUBSCRIPTION, pendingIn: true });
  assert.deepEqual(
    subscriptionState({ subscription: "from", ask: true, approved: false }),
    st("From + Pending Out"),
  );
});

Deno.test("the functions read flags a state cannot have as clear", () => {
  // "To + Pending Out" and "From + Pending In" are not states: ask and pendingIn are ignored there.
  const toAsk = { ...st("To"), ask: true };
  assert.equal(outboundSubscription(toAsk, "subscribe").changed, false);
  const fromIn = { ...st("From"), pendingIn: true };
  assert.equal(inboundSubscription(fromIn, "subscribe").reply, "subscribed");
});

Deno.test("the functions refuse unknown presence types and subscriptions", () => {
  assert.throws(() => outboundSubscription(NO_SUBSCRIPTION, "probe" as "subscribe"), {
    name: "TypeError",
    message: "Cannot apply subscription: unknown presence type 'probe'",
  });
  assert.throws(() => inboundSubscription(NO_SUBSCRIPTION, "toString" as "subscribe"), TypeError);
  assert.throws(
    () => outboundSubscription({ ...NO_SUBSCRIPTION, subscription: "all" as "none" }, "subscribe"),
    { name: "TypeError", message: "Cannot apply subscription: unknown state 'all'" },
  );
});

Deno.test("removalNotices() cancels both directions, pending ones included (§2.5.2)", () => {
  const expected: Record<StateName, SubscriptionPresenceType[]> = {
    "None": [],
    "None + Pending Out": ["unsubscribe"],
    "None + Pending In": ["unsubscribed"],
    "None + Pending Out/In": ["unsubscribe", "unsubscribed"],
    "To": ["unsubscribe"],
    "To + Pending In": ["unsubscribe", "unsubscribed"],
    "From": ["unsubscribed"],
    "From + Pending Out": ["unsubscribe", "unsubscribed"],
    "Both": ["unsubscribe", "unsubscribed"],
  };
  for (const name of NAMES) assert.deepEqual(removalNotices(st(name)), expected[name], name);
});

Deno.test("isSubscriber() and isSubscribedTo() read the two directions", () => {
  assert.deepEqual(
    (["none", "to", "from", "both"] as const).map((s) => [isSubscriber(s), isSubscribedTo(s)]),
    [[false, false], [false, true], [true, false], [true, true]],
  );
});
