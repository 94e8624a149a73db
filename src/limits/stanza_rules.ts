/**
 * Stanza-type rules (XEP-0205 §3: "limit the types of stanzas (based on
 * payload etc.) it will allow a connected client send"): an ordered list of
 * `allow` / `deny` / `limit` rules on the stanza kind, its `type`, the
 * namespaces of its payload, its direction and where it goes. The first rule
 * that matches decides.
 *
 * {@linkcode compileStanzaRules} turns the configured rules into a
 * {@linkcode StanzaRuleSet} once; {@linkcode StanzaRuleSet.check} then runs per
 * stanza. A stanza that no rule can match (no rule for its kind and
 * direction) costs one array lookup; an allowed stanza allocates nothing.
 *
 * Replies (shared/xep-0205-wire.md names no wire error for these, so the
 * RFC 6120 conditions that fit):
 * - `deny`: `<not-allowed/>` (type `cancel`) or `<policy-violation/>` (type
 *   `modify`), as the rule's `error` says, with a human-readable `<text/>`:
 *   the rule's `text`, or a default naming what is forbidden.
 * - `limit` over its rate: `<resource-constraint/>` (type `wait`) with
 *   `<too-many-stanzas xmlns='urn:xmpp:errors'/>` and a `<text/>`; the verdict
 *   and the error carry `retryAfterMs`.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { LimitMode, StanzaRule } from "../config/schema.ts";
import { formatDuration } from "../config/units.ts";
import { StanzaError } from "../errors/stanza_error.ts";
import type { Element } from "../xml/element.ts";
import { WindowCounter } from "./window_counter.ts";

/** The direction of a stanza relative to the session that the rules belong to. */
export type RuleDirection = "outbound" | "inbound";

/**
 * Where the other party of a stanza is: for an outbound stanza its
 * recipient, for an inbound one its sender. The caller classifies:
 * - `self`: no `to` (the server answers on the account's behalf: roster,
 *   registration, bind) or the session's own bare JID or one of its resources;
 * - `local`: an existing entity of this server (another account, the server
 *   domain, a local service);
 * - `remote`: another domain (server-to-server);
 * - `unknown`: an address the server cannot vouch for, such as a JID of this
 *   domain that has no account.
 *
 * A rule's `to: local | remote | unknown` matches only that value; `to: any`
 * matches all four, `self` included.
 */
export type RuleTarget = "local" | "remote" | "unknown" | "self";

/**
 * The per-stanza input of {@linkcode StanzaRuleSet.check}. It is not kept
 * after the call, so one object per session can be reused and updated.
 */
export interface RuleContext {
  /** `outbound`: the session sends the stanza; `inbound`: it is delivered to the session. */
  direction: RuleDirection;
  /** Where the other party is. */
  to: RuleTarget;
  /** The session's counters, from {@linkcode StanzaRuleSet.createCounters} of the same set. */
  counters: RuleCounters;
  /** The clock that moves the rate windows of `limit` rules. */
  clock: Clock;
}

/**
 * Per-session state of a {@linkcode StanzaRuleSet}: one sliding-window counter
 * per `limit` rule, created the first time that rule matches. Unused, it is
 * one small object.
 */
export interface RuleCounters {
  /** How many `limit` rules have a counter so far. */
  readonly active: number;
  /** Forgets every count (the counters are created again on demand). */
  reset(): void;
}

/** The answer of {@linkcode StanzaRuleSet.check} when the stanza may pass. */
export interface RuleAllowed {
  /** The stanza may pass. */
  readonly allowed: true;
  /** Index of the rule that decided, in the list given to {@linkcode compileStanzaRules}; -1 when none matched. */
  readonly rule: number;
  /** `allow`, `limit` (within its rate or with no `max`), or `undefined` when no rule matched. */
  readonly action: "allow" | "limit" | undefined;
  /** The deciding rule's mode; `undefined` when no rule matched. */
  readonly mode: LimitMode | undefined;
  /** No error: the stanza passes. */
  readonly error?: undefined;
  /** No wait: the stanza passes. */
  readonly retryAfterMs?: undefined;
}

/**
 * The answer of {@linkcode StanzaRuleSet.check} when a rule refuses the
 * stanza. In `report` mode the caller only logs it and lets the stanza pass;
 * in `enforce` mode it answers with `error` (never to a stanza of type
 * `error`, RFC 6120 §8.3.1: drop those) and does not route the stanza.
 */
export interface RuleRefused {
  /** A rule refuses the stanza. */
  readonly allowed: false;
  /** Index of the refusing rule, in the list given to {@linkcode compileStanzaRules}. */
  readonly rule: number;
  /** `deny`, or `limit` over its rate. */
  readonly action: "deny" | "limit";
  /** The refusing rule's mode. */
  readonly mode: LimitMode;
  /** The stanza error to answer with (see the module documentation). */
  readonly error: StanzaError;
  /** For `limit`: whole milliseconds until the rule would accept a stanza; `undefined` for `deny`. */
  readonly retryAfterMs: number | undefined;
}

/** The answer of {@linkcode StanzaRuleSet.check}. */
export type RuleVerdict = RuleAllowed | RuleRefused;

const ACTIONS = ["allow", "deny", "limit"] as const;
const KINDS = ["message", "presence", "iq", "any"] as const;
/** The stanza kinds in the order of the per-kind lists (see `listIndex`). */
const STANZA_KINDS = ["message", "presence", "iq"] as const;
const DIRECTIONS = ["outbound", "inbound", "any"] as const;
const TARGETS = ["local", "remote", "unknown", "any"] as const;
const ERRORS = ["not-allowed", "policy-violation"] as const;
const MODES = ["enforce", "report"] as const;

const ANY_TARGET = 15;

/** One bit per {@linkcode RuleTarget}; 0 for anything else. */
function targetBit(to: string): number {
  switch (to) {
    case "local":
      return 1;
    case "remote":
      return 2;
    case "unknown":
      return 4;
    case "self":
      return 8;
    default:
      return 0;
  }
}

/** The verdict when no rule matches: shared, so the common case allocates nothing. */
const ALLOWED: RuleAllowed = Object.freeze({
  allowed: true,
  rule: -1,
  action: undefined,
  mode: undefined,
});

interface CompiledRule {
  readonly index: number;
  readonly action: "allow" | "deny" | "limit";
  readonly mode: LimitMode;
  /** Bits of {@linkcode targetBit} the rule matches. */
  readonly targets: number;
  readonly types: ReadonlySet<string> | null;
  readonly payload: ReadonlySet<string> | null;
  /** The verdict when the rule matches and lets the stanza pass (allow, limit within rate). */
  readonly pass: RuleAllowed;
  /** deny: the shared refusal. */
  readonly refusal: RuleRefused | null;
  /** limit: the counter slot, its max (null = no limit), window and error text. */
  readonly slot: number;
  readonly max: number | null;
  readonly windowMs: number;
  readonly text: string;
}

const KIND_NOUN = {
  message: "messages",
  presence: "presence stanzas",
  iq: "IQ stanzas",
  any: "stanzas",
} as const;
const VERB = { outbound: "sending", inbound: "receiving", any: "sending or receiving" } as const;
const PREPOSITION = { outbound: "to", inbound: "from", any: "to or from" } as const;
const TARGET_NOUN = {
  local: "local addresses",
  remote: "remote domains",
  unknown: "unknown addresses",
} as const;

function orList(values: readonly string[]): string {
  if (values.length === 1) return values[0] as string;
  return `${values.slice(0, -1).join(", ")} or ${values[values.length - 1]}`;
}

/** What a rule covers in words, e.g. "IQ stanzas of type get with payload jabber:iq:roster". */
function describe(rule: StanzaRule): string {
  let text = KIND_NOUN[rule.kind];
  if (rule.type !== undefined) text += ` of type ${orList(rule.type)}`;
  if (rule.payload !== undefined) text += ` with payload ${orList(rule.payload)}`;
  if (rule.to !== "any") text += ` ${PREPOSITION[rule.direction]} ${TARGET_NOUN[rule.to]}`;
  return text;
}

function defaultDenyText(rule: StanzaRule): string {
  const verb = VERB[rule.direction];
  return `${verb[0]?.toUpperCase()}${verb.slice(1)} ${describe(rule)} is not allowed`;
}

function defaultLimitText(rule: StanzaRule, max: number, windowMs: number): string {
  return `Rate limit exceeded for ${VERB[rule.direction]} ${describe(rule)}: at most ${max} per ${
    formatDuration(windowMs)
  }`;
}

function checkEnum(
  index: number,
  key: string,
  value: unknown,
  allowed: readonly string[],
): void {
  if (typeof value === "string" && allowed.includes(value)) return;
  throw new TypeError(
    `Cannot compile stanza rule ${index}: '${key}' must be ${
      orList(allowed.map((v) => JSON.stringify(v)))
    }, got ${JSON.stringify(value)}`,
  );
}

function checkStrings(index: number, key: string, value: unknown): void {
  if (value === undefined) return;
  if (
    Array.isArray(value) && value.length > 0 &&
    value.every((item) => typeof item === "string" && item.length > 0)
  ) return;
  throw new TypeError(
    `Cannot compile stanza rule ${index}: '${key}' must be a non-empty list of non-empty strings, got ${
      JSON.stringify(value)
    }`,
  );
}

function checkRate(index: number, rule: StanzaRule): { max: number | null; windowMs: number } {
  const { rate } = rule;
  if (rule.action !== "limit") {
    if (rate !== undefined) {
      throw new TypeError(
        `Cannot compile stanza rule ${index}: 'rate' is only allowed when 'action' is "limit"`,
      );
    }
    return { max: null, windowMs: 0 };
  }
  if (typeof rate !== "object" || rate === null) {
    throw new TypeError(
      `Cannot compile stanza rule ${index}: 'rate' must be { max, window } when 'action' is "limit", got ${
        JSON.stringify(rate)
      }`,
    );
  }
  const { max, window } = rate;
  if (max !== null && (!Number.isSafeInteger(max) || max < 1)) {
    throw new TypeError(
      `Cannot compile stanza rule ${index}: 'rate.max' must be a positive integer or null, got ${
        JSON.stringify(max)
      }`,
    );
  }
  if (!Number.isSafeInteger(window) || window < 1) {
    throw new TypeError(
      `Cannot compile stanza rule ${index}: 'rate.window' must be a positive integer of milliseconds, got ${
        JSON.stringify(window)
      }`,
    );
  }
  return { max, windowMs: window };
}

function compileRule(rule: StanzaRule, index: number, slot: number): CompiledRule {
  if (typeof rule !== "object" || rule === null) {
    throw new TypeError(
      `Cannot compile stanza rule ${index}: expected an object, got ${JSON.stringify(rule)}`,
    );
  }
  checkEnum(index, "action", rule.action, ACTIONS);
  checkEnum(index, "kind", rule.kind, KINDS);
  checkEnum(index, "direction", rule.direction, DIRECTIONS);
  checkEnum(index, "to", rule.to, TARGETS);
  checkEnum(index, "error", rule.error, ERRORS);
  checkEnum(index, "mode", rule.mode, MODES);
  checkStrings(index, "type", rule.type);
  checkStrings(index, "payload", rule.payload);
  if (rule.text !== undefined && (typeof rule.text !== "string" || rule.text.length === 0)) {
    throw new TypeError(
      `Cannot compile stanza rule ${index}: 'text' must be a non-empty string, got ${
        JSON.stringify(rule.text)
      }`,
    );
  }
  const { max, windowMs } = checkRate(index, rule);
  const { action, mode } = rule;
  const pass: RuleAllowed = Object.freeze({
    allowed: true,
    rule: index,
    action: action === "deny" ? "allow" : action,
    mode,
  });
  let refusal: RuleRefused | null = null;
  let text = "";
  if (action === "deny") {
    text = rule.text ?? defaultDenyText(rule);
    // RFC 6120 §8.3.3: not-allowed is a "cancel" condition, policy-violation a "modify" one.
    const error = rule.error === "not-allowed"
      ? new StanzaError("cancel", "not-allowed", { text })
      : new StanzaError("modify", "policy-violation", { text });
    refusal = Object.freeze({
      allowed: false,
      rule: index,
      action: "deny",
      mode,
      error,
      retryAfterMs: undefined,
    });
  } else if (action === "limit" && max !== null) {
    text = rule.text ?? defaultLimitText(rule, max, windowMs);
  }
  return {
    index,
    action,
    mode,
    targets: rule.to === "any" ? ANY_TARGET : targetBit(rule.to),
    types: rule.type === undefined ? null : new Set(rule.type),
    payload: rule.payload === undefined ? null : new Set(rule.payload),
    pass,
    refusal,
    slot,
    max,
    windowMs,
    text,
  };
}

/** Per-kind, per-direction lists: message/presence/iq × outbound/inbound. */
function listIndex(name: string, direction: RuleDirection): number {
  const d = direction === "inbound" ? 1 : 0;
  switch (name) {
    case "message":
      return d;
    case "presence":
      return 2 + d;
    case "iq":
      return 4 + d;
    default:
      return -1;
  }
}

/** The stanza's `type`, with the RFC 6121 defaults for a missing attribute. */
function stanzaType(stanza: Element): string {
  const type = stanza.attr("type");
  if (type !== undefined) return type;
  // RFC 6121 §5.2.2: no type means "normal"; §4.7.1: no type means available.
  return stanza.name === "message" ? "normal" : stanza.name === "presence" ? "available" : "";
}

function hasPayload(stanza: Element, namespaces: ReadonlySet<string>): boolean {
  const children = stanza.children;
  for (let i = 0; i < children.length; i++) {
    const child = children[i];
    if (typeof child !== "string" && child !== undefined && child.ns !== undefined) {
      if (namespaces.has(child.ns)) return true;
    }
  }
  return false;
}

/** The only {@linkcode RuleCounters} implementation, tied to the set that created it. */
class SessionCounters implements RuleCounters {
  readonly #owner: StanzaRuleSet;
  readonly #slots: number;
  #windows: (WindowCounter | undefined)[] | undefined = undefined;
  #active = 0;

  constructor(owner: StanzaRuleSet, slots: number) {
    this.#owner = owner;
    this.#slots = slots;
  }

  get active(): number {
    return this.#active;
  }

  reset(): void {
    this.#windows = undefined;
    this.#active = 0;
  }

  belongsTo(set: StanzaRuleSet): boolean {
    return this.#owner === set;
  }

  window(rule: CompiledRule, clock: Clock): WindowCounter {
    const windows = this.#windows ??= new Array<WindowCounter | undefined>(this.#slots);
    let counter = windows[rule.slot];
    if (counter === undefined) {
      counter = new WindowCounter(rule.max as number, rule.windowMs, { clock });
      windows[rule.slot] = counter;
      this.#active++;
    }
    return counter;
  }
}

/**
 * Compiled stanza rules: created by {@linkcode compileStanzaRules}, shared by
 * every session they apply to; per-session rate state lives in the
 * {@linkcode RuleCounters} each session creates with
 * {@linkcode StanzaRuleSet.createCounters}.
 *
 * @example Usage
 * ```ts
 * import { compileStanzaRules } from "./stanza_rules.ts";
 * import { el } from "../xml/element.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const rules = compileStanzaRules([{
 *   action: "deny", kind: "iq", payload: ["jabber:iq:register"],
 *   direction: "outbound", to: "any", error: "not-allowed", mode: "enforce",
 * }]);
 * const context = {
 *   direction: "outbound", to: "self", counters: rules.createCounters(), clock: new ManualClock(),
 * } as const;
 * const register = el("iq", { type: "set", id: "r1" }, el("query", { xmlns: "jabber:iq:register" }));
 * const verdict = rules.check(register, context);
 * assert.equal(verdict.allowed, false);
 * assert.equal(verdict.error?.condition, "not-allowed");
 * assert.equal(verdict.error?.text, "Sending IQ stanzas with payload jabber:iq:register is not allowed");
 * assert.equal(rules.check(el("message", { to: "juliet@example.org" }), context).allowed, true);
 * ```
 */
export class StanzaRuleSet {
  readonly #rules: readonly StanzaRule[];
  readonly #lists: readonly (readonly CompiledRule[])[];
  readonly #slots: number;

  /**
   * Compiles `rules`; the same as {@linkcode compileStanzaRules}.
   *
   * @param rules The rules, first match wins (see {@linkcode compileStanzaRules}).
   * @throws {TypeError} If a rule is malformed (see {@linkcode compileStanzaRules}).
   */
  constructor(rules: readonly StanzaRule[]) {
    if (!Array.isArray(rules)) {
      throw new TypeError(
        `Cannot compile stanza rules: expected a list, got ${JSON.stringify(rules)}`,
      );
    }
    let slots = 0;
    const lists: CompiledRule[][] = [[], [], [], [], [], []];
    rules.forEach((rule: StanzaRule, index: number) => {
      const limited = rule?.action === "limit" && rule.rate?.max !== null;
      const compiled = compileRule(rule, index, limited ? slots : -1);
      if (limited) slots++;
      STANZA_KINDS.forEach((kind, k) => {
        if (rule.kind !== "any" && rule.kind !== kind) return;
        if (rule.direction !== "inbound") lists[2 * k]?.push(compiled);
        if (rule.direction !== "outbound") lists[2 * k + 1]?.push(compiled);
      });
    });
    this.#rules = Object.freeze(rules.map(freezeRule));
    this.#lists = lists;
    this.#slots = slots;
  }

  /**
   * The rules, in order (frozen copies of those compiled).
   *
   * @returns The rule list; index `i` is the `rule` of a verdict.
   */
  get rules(): readonly StanzaRule[] {
    return this.#rules;
  }

  /**
   * Creates the per-session counters for this set's `limit` rules.
   *
   * @returns Counters that hold nothing until a `limit` rule matches.
   */
  createCounters(): RuleCounters {
    return new SessionCounters(this, this.#slots);
  }

  /**
   * Finds the first rule that matches `stanza` and applies it. A rule
   * matches when the stanza's name fits `kind` (`message`, `presence`, `iq`;
   * other elements match no rule), its `type` is listed (a missing type is
   * `normal` for messages and `available` for presence), one of its child
   * elements has a listed namespace, and `direction` and `to` fit the
   * context. A `limit` rule counts the stanza in `context.counters` when it
   * fits the rate; refused stanzas are not counted.
   *
   * @param stanza The stanza (a top-level `message`, `presence` or `iq`).
   * @param context Direction, target, the session's counters and the clock.
   * @returns A shared verdict when the stanza passes or a `deny` rule refuses
   * it; a new one (with `retryAfterMs`) when a `limit` rule refuses it.
   * @throws {TypeError} If `context.to` is not a {@linkcode RuleTarget}, or
   * a `limit` rule matches and `context.counters` was not created by this set.
   */
  check(stanza: Element, context: RuleContext): RuleVerdict {
    const index = listIndex(stanza.name, context.direction);
    if (index < 0) return ALLOWED;
    const list = this.#lists[index] as readonly CompiledRule[];
    const n = list.length;
    if (n === 0) return ALLOWED;
    const target = targetBit(context.to);
    if (target === 0) {
      throw new TypeError(
        `Cannot check stanza rules: 'to' must be "local", "remote", "unknown" or "self", got ${
          JSON.stringify(context.to)
        }`,
      );
    }
    let type: string | undefined;
    for (let i = 0; i < n; i++) {
      const rule = list[i] as CompiledRule;
      if ((rule.targets & target) === 0) continue;
      if (rule.types !== null && !rule.types.has(type ??= stanzaType(stanza))) continue;
      if (rule.payload !== null && !hasPayload(stanza, rule.payload)) continue;
      return this.#apply(rule, context);
    }
    return ALLOWED;
  }

  #apply(rule: CompiledRule, context: RuleContext): RuleVerdict {
    if (rule.refusal !== null) return rule.refusal;
    if (rule.action === "allow" || rule.max === null) return rule.pass;
    const counters = context.counters;
    if (!(counters instanceof SessionCounters) || !counters.belongsTo(this)) {
      throw new TypeError(
        "Cannot check stanza rules: 'counters' must come from createCounters() of the same rule set",
      );
    }
    const window = counters.window(rule, context.clock);
    if (window.hit()) return rule.pass;
    const retryAfterMs = window.retryAfterMs();
    // XEP-0205 (wire.md): a rate over its limit answers resource-constraint, type wait.
    const error = new StanzaError("wait", "resource-constraint", {
      text: rule.text,
      appCondition: "too-many-stanzas",
      retryAfterMs,
    });
    return {
      allowed: false,
      rule: rule.index,
      action: "limit",
      mode: rule.mode,
      error,
      retryAfterMs,
    };
  }
}

function freezeRule(rule: StanzaRule): StanzaRule {
  const copy: StanzaRule = { ...rule };
  if (rule.type !== undefined) copy.type = Object.freeze([...rule.type]) as string[];
  if (rule.payload !== undefined) copy.payload = Object.freeze([...rule.payload]) as string[];
  if (rule.rate !== undefined) copy.rate = Object.freeze({ ...rule.rate });
  return Object.freeze(copy);
}

/**
 * Compiles an ordered list of stanza rules (`limits.stanza_rules`, or a
 * class's list, as the configuration resolves them) into a
 * {@linkcode StanzaRuleSet}. Compile once per list, not per session.
 *
 * @param rules The rules, first match wins; every field resolved (`kind`,
 * `direction`, `to`, `error`, `mode` set; `rate` on `limit` rules only).
 * @returns The compiled set.
 * @throws {TypeError} If a rule has an unknown `action`, `kind`,
 * `direction`, `to`, `error` or `mode`, an empty `type` or `payload` list, a
 * `limit` rule has no valid `rate`, or another rule has one.
 *
 * @example Usage
 * ```ts
 * import { compileStanzaRules } from "./stanza_rules.ts";
 * import { el } from "../xml/element.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const rules = compileStanzaRules([{
 *   action: "limit", kind: "presence", type: ["subscribe"], direction: "outbound", to: "any",
 *   rate: { max: 1, window: 60_000 }, error: "not-allowed", mode: "enforce",
 * }]);
 * const context = {
 *   direction: "outbound", to: "remote", counters: rules.createCounters(), clock,
 * } as const;
 * const subscribe = el("presence", { to: "romeo@montague.example", type: "subscribe" });
 * assert.equal(rules.check(subscribe, context).allowed, true);
 * const refused = rules.check(subscribe, context);
 * assert.equal(refused.allowed, false);
 * assert.equal(refused.error?.condition, "resource-constraint");
 * assert.equal(refused.retryAfterMs, 60_001);
 * const { rate: _, ...withoutRate } = rules.rules[0]!;
 * assert.throws(() => compileStanzaRules([withoutRate]), TypeError); // a limit needs a rate
 * ```
 */
export function compileStanzaRules(rules: readonly StanzaRule[]): StanzaRuleSet {
  return new StanzaRuleSet(rules);
}
