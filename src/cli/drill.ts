/**
 * `xmppd drill`: a bounded attack drill for a configuration. For each
 * configured XEP-0205 limit it attacks a throwaway in-process server built
 * from that configuration and checks that the limit triggers as configured
 * (value and mode), then checks that ordinary traffic (a login burst, a chat,
 * an avatar-sized stanza) meets no limit at all.
 *
 * The drill never touches the configured server or its data: every check
 * starts its own server on 127.0.0.1 port 0 with memory storage and its own
 * accounts (`drill-N@domain`), from the configured limits with classes and
 * exemptions left out. Each check gets a fresh server, so one check's
 * refusals cannot spill into the next. Time windows are not waited for: the
 * drill server runs on a {@linkcode DrillClock}, which the drill advances by
 * the retry hint of the limit event (or through a tarpit) instead.
 *
 * @module
 */

import { type LimitsConfig, resolveConfig, type ServerConfig } from "../config/schema.ts";
import { systemTimers } from "../core/clock.ts";
import { Logger } from "../core/log.ts";
import type { LimitEvent } from "../limits/limit_engine.ts";
import type { StanzaRule } from "../config/schema.ts";
import { XmppServer } from "../server.ts";
import { escapeText } from "../xml/serialize.ts";
import { DrillClient } from "./drill_client.ts";
import { DrillClock } from "./drill_clock.ts";
import {
  describeBandwidth,
  describeCount,
  describeRule,
  describeSize,
  describeWindow,
} from "./limits_table.ts";
import { formatTable } from "./text_table.ts";

/** The outcome of one check. */
export type DrillVerdict = "ok" | "FAIL" | "skipped-unlimited" | "skipped";

/** One row of the drill's table. */
export interface DrillResult {
  /** The limit (configuration key) or the kind of ordinary traffic. */
  limit: string;
  /** The configured value in words, with `(report)` for report mode. */
  configured: string;
  /** What the drill saw. */
  observed: string;
  /** The verdict. */
  result: DrillVerdict;
}

/** Everything a drill found. */
export interface DrillReport {
  /** One row per check, in the order run. */
  results: DrillResult[];
  /** How the drill ran (lifted limits, address mode, clock). */
  notes: string[];
  /** Whether no check failed. */
  ok: boolean;
  /** Real time the drill took. */
  elapsedMs: number;
}

/** Options for {@linkcode runDrill}. */
export interface DrillOptions {
  /**
   * Clients in the ordinary login burst.
   *
   * @default {20}
   */
  burst?: number;
  /**
   * Whether clients may connect from distinct loopback addresses
   * (127.1.x.y), as distinct users and attackers would. `undefined` probes
   * whether the system allows it (Linux does, macOS does not by default).
   *
   * @default {undefined}
   */
  multiAddress?: boolean;
  /**
   * Called with each row as soon as its check ends (progress output).
   *
   * @default {undefined}
   */
  onResult?: (result: DrillResult) => void;
}

/** The most connections, attempts or stanzas one check makes. */
const MAX_COUNT = 2000;
/** The largest stanza or flood one check sends. */
const MAX_BYTES = 16 * 1024 * 1024;
/** Windows up to this long are aligned to their start on the drill clock. */
const MAX_ALIGNED_WINDOW_MS = 10 * 60_000;
/** Real time one answer may take. */
const ANSWER_MS = 5000;
/** Real time a tarpit or pause may take to cross by advancing the clock. */
const SKIP_BUDGET_MS = 15_000;
/** Real time with no answer that counts as "paused". */
const PAUSED_MS = 300;
const AVATAR_BYTES = 40 * 1024;
const CHAT_MESSAGES = 10;
const DRILL_NS = "urn:xmppd:drill";

type LimitOverrides = Record<string, unknown>;

/**
 * Lifted in every check of one limit: bandwidth only delays (drilled on its
 * own) and stanza rules are drilled one by one.
 */
const ISOLATED: LimitOverrides = { bandwidth: "unlimited", stanza_rules: [] };

interface DrillEnv {
  config: ServerConfig;
  password: string;
  multiAddress: boolean;
}

function address(env: DrillEnv, index: number): string | undefined {
  if (!env.multiAddress) return undefined;
  return `127.1.${Math.floor(index / 250)}.${1 + (index % 250)}`;
}

function withMode(text: string, mode: string): string {
  return mode === "report" ? `${text} (report)` : text;
}

function result(
  limit: string,
  configured: string,
  verdict: DrillVerdict,
  observed: string,
): DrillResult {
  return { limit, configured, observed, result: verdict };
}

function pad(open: string, close: string, size: number): string {
  return open + "a".repeat(Math.max(0, size - open.length - close.length)) + close;
}

function errorCondition(text: string): string | undefined {
  return /<([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/.exec(text)?.[1];
}

function sumEvents(events: readonly LimitEvent[]): string {
  const counts = new Map<string, number>();
  for (const event of events) counts.set(event.limit, (counts.get(event.limit) ?? 0) + 1);
  return [...counts].map(([limit, n]) => `${limit} ×${n}`).join(", ");
}

/** A drill server on 127.0.0.1 port 0 with its clock, clients and limit events. */
class Rig implements AsyncDisposable {
  readonly server: XmppServer;
  readonly clock: DrillClock;
  readonly events: LimitEvent[] = [];
  readonly env: DrillEnv;
  #clients = new Set<DrillClient>();

  private constructor(env: DrillEnv, server: XmppServer, clock: DrillClock) {
    this.env = env;
    this.server = server;
    this.clock = clock;
    server.events.on("limit", (event) => {
      this.events.push(event);
    });
  }

  static async start(env: DrillEnv, overrides: LimitOverrides, accounts: number): Promise<Rig> {
    const base = env.config;
    const domain = base.domain;
    const input = {
      domain,
      listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
      tls: { required: false },
      auth: {
        ...base.auth,
        mechanisms: ["PLAIN"],
        allow_plain_without_tls: true,
        scram_iterations: 4096,
      },
      storage: { type: "memory" },
      accounts: Array.from(
        { length: accounts },
        (_, i) => ({ jid: `drill-${i}@${domain}`, password: env.password }),
      ),
      timeouts: { ...base.timeouts, shutdown: 500 },
      log: { level: "error", format: "json" },
      limits: { ...base.limits, classes: {}, exempt: { ips: [], jids: [] }, ...overrides },
    };
    const clock = new DrillClock();
    const server = new XmppServer(resolveConfig(input), {
      timers: clock,
      logger: new Logger({ level: "error", sink: () => {} }),
    });
    try {
      await server.start();
    } catch (error) {
      clock[Symbol.dispose]();
      throw error;
    }
    return new Rig(env, server, clock);
  }

  get port(): number {
    return this.server.addresses[0]!.port;
  }

  get domain(): string {
    return this.server.config.domain;
  }

  async connect(from?: string): Promise<DrillClient> {
    const client = await DrillClient.connect({
      port: this.port,
      ...(from !== undefined ? { localAddress: from } : {}),
    });
    this.#clients.add(client);
    return client;
  }

  /** Opens a stream: `true` when the server answered, `false` when it closed without a byte. */
  async admitted(client: DrillClient): Promise<boolean> {
    try {
      await client.open(this.domain, ANSWER_MS);
      return true;
    } catch (error) {
      if (client.closed && client.received === 0) return false;
      throw error;
    }
  }

  async login(account: number, resource: string, from?: string): Promise<DrillClient> {
    const client = await this.connect(from);
    await client.login(`drill-${account}`, this.env.password, resource, this.domain);
    return client;
  }

  lastEvent(limit: string): LimitEvent | undefined {
    return this.events.findLast((event) => event.limit === limit);
  }

  eventsSince(index: number): LimitEvent[] {
    return this.events.slice(index);
  }

  /** Starts windows of `windowMs` afresh so a check's hits fall in one fixed window. */
  align(windowMs: number): void {
    if (windowMs > MAX_ALIGNED_WINDOW_MS) return;
    const into = this.clock.now() % windowMs;
    if (into > 0) this.clock.advance(windowMs - into);
  }

  /**
   * Waits for `pattern`, advancing the drill clock to the next server timer
   * whenever nothing arrives for a moment (tarpits, paused reads).
   */
  async pollSkipping(
    client: DrillClient,
    pattern: RegExp | string,
    minStepMs = 0,
  ): Promise<string | undefined> {
    const deadline = systemTimers.now() + SKIP_BUDGET_MS;
    // Each fruitless wait doubles the skip (up to 32 s), so a 30 s tarpit
    // takes a handful of steps whatever periodic timers the server runs.
    let least = minStepMs;
    for (;;) {
      const found = await client.poll(pattern, 20);
      if (found !== undefined || client.closed) return found;
      if (systemTimers.now() > deadline) return undefined;
      const next = this.clock.nextTimerAt();
      const step = next === undefined ? least : Math.max(next - this.clock.now(), least);
      this.clock.advance(Math.max(0, step));
      least = Math.min(Math.max(least, 500) * 2, 32_000);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.#clients].map((client) => client[Symbol.asyncDispose]()));
    await this.server.stop();
    this.clock[Symbol.dispose]();
  }
}

// --- Connection-level limits ------------------------------------------------

/** The result of a limit in report mode: it must let the traffic through and report it. */
function reported(
  name: string,
  configured: string,
  passed: boolean,
  observed: string,
  event: LimitEvent | undefined,
): DrillResult {
  const ok = passed && event?.mode === "report";
  const seen = event === undefined ? "no limit event" : `${event.mode} event`;
  return result(name, configured, ok ? "ok" : "FAIL", `${observed}; ${seen}`);
}

async function drillConnectionsPerIp(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.connections_per_ip;
  const configured = withMode(describeCount(limit.max), limit.mode);
  const name = "connections_per_ip";
  if (limit.max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (limit.max > MAX_COUNT) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`)];
  }
  await using rig = await Rig.start(env, {
    ...ISOLATED,
    connection_attempts_per_ip: "unlimited",
    unauthenticated_connections: "unlimited",
  }, 0);
  const from = address(env, 0);
  const open: DrillClient[] = [];
  for (let i = 0; i < limit.max; i++) {
    const client = await rig.connect(from);
    if (!(await rig.admitted(client))) {
      return [result(name, configured, "FAIL", `connection ${i + 1} refused, before the limit`)];
    }
    open.push(client);
  }
  const extra = await rig.connect(from);
  const admitted = await rig.admitted(extra);
  const event = rig.lastEvent(name);
  const nth = limit.max + 1;
  if (limit.mode === "report") {
    return [
      reported(
        name,
        configured,
        admitted,
        `connection ${nth} ${admitted ? "admitted" : "refused"}`,
        event,
      ),
    ];
  }
  if (admitted) {
    return [result(name, configured, "FAIL", `${limit.max} open, connection ${nth} admitted`)];
  }
  if (event === undefined || event.max !== limit.max) {
    return [result(name, configured, "FAIL", `connection ${nth} refused without its limit event`)];
  }
  open.shift()!.close();
  let again = false;
  for (let attempt = 0; attempt < 40 && !again; attempt++) {
    const retry = await rig.connect(from);
    again = await rig.admitted(retry);
    if (!again) await new Promise<void>((resolve) => systemTimers.set(resolve, 25));
  }
  return [result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `${limit.max} open, connection ${nth} closed before any byte; ${
      again ? "admitted again once one closed" : "still refused after one closed"
    }`,
  )];
}

async function drillConnectionAttempts(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.connection_attempts_per_ip;
  const configured = withMode(describeWindow(limit), limit.mode);
  const name = "connection_attempts_per_ip";
  if (limit.max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (limit.max > MAX_COUNT) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`)];
  }
  await using rig = await Rig.start(env, {
    ...ISOLATED,
    connections_per_ip: "unlimited",
    unauthenticated_connections: "unlimited",
  }, 0);
  rig.align(limit.window);
  const from = address(env, 0);
  for (let i = 0; i < limit.max; i++) {
    const client = await rig.connect(from);
    if (!(await rig.admitted(client))) {
      return [result(name, configured, "FAIL", `attempt ${i + 1} refused, before the limit`)];
    }
    client.close();
  }
  const nth = limit.max + 1;
  const admitted = await rig.admitted(await rig.connect(from));
  const event = rig.lastEvent(name);
  if (limit.mode === "report") {
    return [
      reported(
        name,
        configured,
        admitted,
        `attempt ${nth} ${admitted ? "admitted" : "refused"}`,
        event,
      ),
    ];
  }
  if (admitted) {
    return [result(name, configured, "FAIL", `${limit.max} attempts, attempt ${nth} admitted`)];
  }
  if (event === undefined || event.max !== limit.max) {
    return [result(name, configured, "FAIL", `attempt ${nth} refused without its limit event`)];
  }
  const waitMs = event.retryAfterMs ?? limit.window;
  rig.clock.advance(waitMs);
  const again = await rig.admitted(await rig.connect(from));
  return [result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `${limit.max} admitted, attempt ${nth} refused; ${
      again ? "admitted again" : "still refused"
    } after the retry hint (${Math.ceil(waitMs / 1000)} s on the drill clock)`,
  )];
}

async function drillUnauthenticated(env: DrillEnv): Promise<DrillResult[]> {
  const limits = env.config.limits;
  const max = limits.unauthenticated_connections;
  const name = "unauthenticated_connections";
  const configured = withMode(describeCount(max), limits.mode);
  if (max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (max > MAX_COUNT) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`)];
  }
  // One address per connection when possible: a flood from many addresses,
  // which per-IP limits do not stop.
  const lift = env.multiAddress
    ? {}
    : { connections_per_ip: "unlimited", connection_attempts_per_ip: "unlimited" };
  await using rig = await Rig.start(env, { ...ISOLATED, ...lift }, 1);
  const clients: DrillClient[] = [];
  for (let start = 0; start < max; start += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, max - start) }, async (_, i) => {
        const client = await rig.connect(address(env, start + i));
        return { client, admitted: await rig.admitted(client) };
      }),
    );
    const refused = batch.findIndex((entry) => !entry.admitted);
    if (refused !== -1) {
      const event = rig.events.at(-1);
      return [result(
        name,
        configured,
        "FAIL",
        `connection ${start + refused + 1} refused before the limit${
          event === undefined ? "" : ` (${event.limit})`
        }`,
      )];
    }
    clients.push(...batch.map((entry) => entry.client));
  }
  const nth = max + 1;
  const admitted = await rig.admitted(await rig.connect(address(env, max)));
  const event = rig.lastEvent(name);
  if (limits.mode === "report") {
    return [
      reported(
        name,
        configured,
        admitted,
        `connection ${nth} ${admitted ? "admitted" : "refused"}`,
        event,
      ),
    ];
  }
  if (admitted || event === undefined || event.max !== max) {
    const other = rig.events.at(-1);
    return [result(
      name,
      configured,
      "FAIL",
      admitted
        ? `${max} unauthenticated open, connection ${nth} admitted`
        : `connection ${nth} refused by ${other?.limit ?? "no limit event"}`,
    )];
  }
  // Authenticating one frees its place in the budget.
  const first = clients[0]!;
  await first.sendPlainAuth("drill-0", env.password);
  await first.expect(/<success[^>]*\/>|<\/success>/);
  const again = await rig.admitted(await rig.connect(address(env, max + 1)));
  return [result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `${max} open, connection ${nth} closed before any byte; ${
      again ? "admitted again" : "still refused"
    } once one authenticated${env.multiAddress ? " (one address per connection)" : ""}`,
  )];
}

// --- Sizes --------------------------------------------------------------------

async function drillPreAuthSize(env: DrillEnv): Promise<DrillResult[]> {
  const limits = env.config.limits;
  const size = limits.pre_auth_stanza_size;
  const name = "pre_auth_stanza_size";
  // Like the parser caps, the pre-auth size protects the parser before anyone is
  // authenticated: it is enforced even when limits.mode is report.
  const configured = describeSize(size);
  if (size === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (size > MAX_BYTES) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_BYTES} B`)];
  }
  const open = "<drill>";
  const close = "</drill>";
  if (size <= open.length + close.length) {
    return [result(name, configured, "skipped", "too small to build an element of that size")];
  }
  await using rig = await Rig.start(env, ISOLATED, 0);
  const outcome = async (bytes: number) => {
    const client = await rig.connect(address(env, 0));
    await client.open(rig.domain);
    await client.send(pad(open, close, bytes));
    await client.waitClosed(ANSWER_MS);
    return client.streamError();
  };
  const atLimit = await outcome(size);
  const over = await outcome(size + 1);
  const parsed = atLimit?.condition === "unsupported-stanza-type";
  const refused = over?.condition === "policy-violation" && over.appCondition === "stanza-too-big";
  const describe = (seen: typeof over) =>
    seen === undefined
      ? "no stream error"
      : `<${seen.condition}/>${seen.appCondition === undefined ? "" : ` + ${seen.appCondition}`}`;
  const observed = `${size} B parsed (${describe(atLimit)}); ${size + 1} B: ${describe(over)}`;
  return [result(name, configured, parsed && refused ? "ok" : "FAIL", observed)];
}

function paddedIq(id: string, domain: string, bytes: number): string {
  return pad(
    `<iq type='get' id='${id}' to='${domain}'><query xmlns='${DRILL_NS}'>`,
    "</query></iq>",
    bytes,
  );
}

async function drillStanzaSizes(env: DrillEnv): Promise<DrillResult[]> {
  const limits = env.config.limits;
  const size = limits.stanza_size;
  const hard = limits.stanza_size_stream_error;
  const mode = limits.mode;
  const out: DrillResult[] = [];
  const sizeConfigured = withMode(describeSize(size), mode);
  const hardConfigured = withMode(describeSize(hard), mode);
  const tooBig = (text: string | undefined) =>
    text !== undefined && text.includes("stanza-too-big");
  await using rig = await Rig.start(env, ISOLATED, 1);
  let client = await rig.login(0, "size", address(env, 0));
  let serial = 0;
  const ask = async (bytes: number) => {
    const id = `size-${serial++}`;
    await client.send(paddedIq(id, rig.domain, bytes));
    return await client.poll(new RegExp(`<iq[^>]*id="${id}"[^>]*>[\\s\\S]*?</iq>`), ANSWER_MS);
  };
  const minimum = paddedIq("size-00", rig.domain, 0).length;

  if (size === null) {
    out.push(result("stanza_size", sizeConfigured, "skipped-unlimited", "-"));
  } else if (size > MAX_BYTES) {
    out.push(
      result("stanza_size", sizeConfigured, "skipped", `above the drill's cap of ${MAX_BYTES} B`),
    );
  } else if (size < minimum) {
    out.push(
      result("stanza_size", sizeConfigured, "skipped", "too small to build a stanza of that size"),
    );
  } else {
    const atLimit = await ask(size);
    const accepted = atLimit !== undefined && !tooBig(atLimit);
    if (hard !== null && hard <= size) {
      out.push(result(
        "stanza_size",
        sizeConfigured,
        accepted ? "ok" : "FAIL",
        `${size} B ${
          accepted ? "answered normally" : "refused"
        }; above it the stream error applies`,
      ));
    } else {
      const over = await ask(size + 1);
      const kept = (await client.sync("size-sync")) !== undefined;
      const refused = tooBig(over) && errorCondition(over!) === "not-allowed";
      const ok = accepted && kept && (mode === "report" ? !refused : refused);
      out.push(result(
        "stanza_size",
        sizeConfigured,
        ok ? "ok" : "FAIL",
        `${size} B ${accepted ? "answered normally" : "refused"}; ${size + 1} B ${
          refused
            ? "got <not-allowed/> + stanza-too-big"
            : over === undefined
            ? "got no answer"
            : "answered normally"
        }; stream ${kept ? "kept" : "lost"}`,
      ));
    }
  }

  if (hard === null) {
    out.push(result("stanza_size_stream_error", hardConfigured, "skipped-unlimited", "-"));
  } else if (hard > MAX_BYTES) {
    out.push(
      result(
        "stanza_size_stream_error",
        hardConfigured,
        "skipped",
        `above the drill's cap of ${MAX_BYTES} B`,
      ),
    );
  } else if (hard < minimum) {
    out.push(
      result(
        "stanza_size_stream_error",
        hardConfigured,
        "skipped",
        "too small to build a stanza of that size",
      ),
    );
  } else {
    if (client.closed) client = await rig.login(0, "size-2", address(env, 1));
    const atLimit = await ask(hard);
    const survived = atLimit !== undefined;
    await client.send(paddedIq("size-hard", rig.domain, hard + 1));
    const closed = await client.waitClosed(ANSWER_MS);
    const seen = client.streamError();
    const refused = closed && seen?.condition === "policy-violation" &&
      seen.appCondition === "stanza-too-big";
    const ok = survived && (mode === "report" ? !closed : refused);
    out.push(result(
      "stanza_size_stream_error",
      hardConfigured,
      ok ? "ok" : "FAIL",
      `${hard} B ${survived ? "answered, stream kept" : "lost the stream"}; ${hard + 1} B ${
        refused
          ? "closed the stream with <policy-violation/> + stanza-too-big"
          : closed
          ? `closed the stream (${seen?.condition ?? "no stream error"})`
          : "kept the stream"
      }`,
    ));
  }
  return out;
}

// --- Authentication -------------------------------------------------------------

async function drillAuthFailures(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.auth_failures_per_ip;
  const name = "auth_failures_per_ip";
  const configured = withMode(describeWindow(limit), limit.mode);
  if (limit.max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (limit.max > 200) {
    return [result(name, configured, "skipped", "above the drill's cap of 200 failures")];
  }
  await using rig = await Rig.start(env, {
    ...ISOLATED,
    connection_attempts_per_ip: "unlimited",
  }, 1);
  rig.align(limit.window);
  const from = address(env, 0);
  const startedAt = rig.clock.now();
  let client: DrillClient | undefined;
  let refusedAfter: number | undefined;
  const attempts = limit.max + 3;
  for (let i = 0; i < attempts * 2 && rig.server.stats.loginFailures < attempts; i++) {
    if (client === undefined || client.closed) {
      client = await rig.connect(from);
      if (!(await rig.admitted(client))) {
        return [result(name, configured, "FAIL", "the drill's reconnection was refused")];
      }
    }
    await client.sendPlainAuth("drill-0", `not-${env.password}`);
    const answer = await rig.pollSkipping(client, /<\/failure>|<failure[^>]*\/>/, 1000);
    if (answer?.includes("temporary-auth-failure")) {
      refusedAfter = rig.server.stats.loginFailures;
      break;
    }
  }
  const event = rig.lastEvent(name);
  const spanMs = rig.clock.now() - startedAt;
  const failures = rig.server.stats.loginFailures;
  if (limit.mode === "report") {
    return [
      reported(
        name,
        configured,
        refusedAfter === undefined,
        `${failures} failures, ${refusedAfter === undefined ? "none refused" : "then refused"}`,
        event,
      ),
    ];
  }
  if (refusedAfter === undefined) {
    return [result(name, configured, "FAIL", `${failures} failures, none refused`)];
  }
  // All failures in one fixed window: refused after exactly max. When the tarpit
  // spread them over two, the sliding estimate may allow up to twice max.
  const crossed = Math.floor(startedAt / limit.window) !==
    Math.floor((startedAt + spanMs) / limit.window);
  const exact = refusedAfter === limit.max;
  if (!exact && !(crossed && refusedAfter > limit.max && refusedAfter <= 2 * limit.max)) {
    return [result(name, configured, "FAIL", `refused after ${refusedAfter} failures`)];
  }
  if (event === undefined || event.max !== limit.max) {
    return [result(name, configured, "FAIL", "refused without its limit event")];
  }
  const parts = [
    `refused (<temporary-auth-failure/>) after ${refusedAfter} failures` +
    (exact ? "" : " (the tarpit spread them over two windows)"),
    `tarpit ${Math.round(spanMs / 1000)} s crossed on the drill clock`,
  ];
  let ok = true;
  if (env.multiAddress) {
    const elsewhere = await rig.connect(address(env, 1));
    try {
      await elsewhere.authenticate("drill-0", env.password, rig.domain);
      parts.push("the account still logs in from another address");
    } catch {
      parts.push("the account is locked out from another address too");
      ok = false;
    }
  }
  rig.clock.advance(event.retryAfterMs ?? limit.window);
  const later = await rig.connect(from);
  try {
    await later.authenticate("drill-0", env.password, rig.domain);
    parts.push("the address logs in again after the retry hint");
  } catch {
    parts.push("the address is still refused after the retry hint");
    ok = false;
  }
  return [result(name, configured, ok ? "ok" : "FAIL", parts.join("; "))];
}

async function drillResources(env: DrillEnv): Promise<DrillResult[]> {
  const limits = env.config.limits;
  const max = limits.resources_per_account;
  const name = "resources_per_account";
  const configured = withMode(describeCount(max), limits.mode);
  if (max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (max > 500) return [result(name, configured, "skipped", "above the drill's cap of 500")];
  // Devices of one account connect from their own addresses when possible.
  const lift = env.multiAddress
    ? {}
    : { connections_per_ip: "unlimited", connection_attempts_per_ip: "unlimited" };
  await using rig = await Rig.start(env, { ...ISOLATED, ...lift }, 1);
  const devices: DrillClient[] = [];
  for (let i = 0; i < max; i++) devices.push(await rig.login(0, `device-${i}`, address(env, i)));
  const extra = await rig.connect(address(env, max));
  await extra.authenticate("drill-0", env.password, rig.domain);
  const bound = await extra.bind(`device-${max}`);
  const event = rig.lastEvent(name);
  const nth = max + 1;
  if (limits.mode === "report") {
    return [
      reported(
        name,
        configured,
        "jid" in bound,
        `resource ${nth} ${"jid" in bound ? "bound" : "refused"}`,
        event,
      ),
    ];
  }
  if ("jid" in bound) {
    return [result(name, configured, "FAIL", `${max} bound, resource ${nth} bound too`)];
  }
  const refused = bound.error.includes("<resource-constraint") &&
    bound.error.includes("resource-limit-exceeded");
  if (!refused || event === undefined || event.max !== max) {
    return [result(
      name,
      configured,
      "FAIL",
      `resource ${nth} refused with ${errorCondition(bound.error) ?? "an unexpected reply"}${
        event === undefined ? ", no limit event" : ""
      }`,
    )];
  }
  devices[0]!.close();
  let again = false;
  for (let attempt = 0; attempt < 40 && !again; attempt++) {
    again = "jid" in (await extra.bind(`device-${max}`));
    if (!again) await new Promise<void>((resolve) => systemTimers.set(resolve, 25));
  }
  return [result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `${max} bound, resource ${nth} got <resource-constraint/> + resource-limit-exceeded; ${
      again ? "bound once a device left" : "still refused after a device left"
    }`,
  )];
}

// --- Per-session windows ---------------------------------------------------------

const MESSAGE_ERROR_REGEXP = /<message[^>]*type="error"[^>]*>[\s\S]*?<\/message>/;
const ID_REGEXP = / id="([^"]*)"/;

/** Reads `count` error replies; returns them by id. */
async function collectErrors(
  client: DrillClient,
  pattern: RegExp,
  count: number,
): Promise<Map<string, string>> {
  const replies = new Map<string, string>();
  while (replies.size < count) {
    const reply = await client.poll(pattern, ANSWER_MS);
    if (reply === undefined) break;
    const stanza = pattern.exec(reply)?.[0] ?? reply;
    const id = ID_REGEXP.exec(stanza)?.[1];
    if (id !== undefined) replies.set(id, stanza);
  }
  return replies;
}

async function drillDistinctRecipients(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.distinct_recipients;
  const name = "distinct_recipients";
  const configured = withMode(describeWindow(limit), limit.mode);
  if (limit.max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (limit.max > MAX_COUNT) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`)];
  }
  await using rig = await Rig.start(env, ISOLATED, 1);
  rig.align(limit.window);
  const client = await rig.login(0, "spam", address(env, 0));
  const message = (id: string, n: number) =>
    `<message type='chat' id='${id}' to='drill-rcpt-${n}@${rig.domain}'><body>drill</body></message>`;
  const tooMany = (text: string | undefined) => text?.includes("too-many-stanzas") === true;
  let batch = "";
  for (let i = 0; i < limit.max; i++) batch += message(`r${i}`, i);
  await client.send(batch);
  const first = await collectErrors(client, MESSAGE_ERROR_REGEXP, limit.max);
  for (let i = 0; i < limit.max; i++) {
    const reply = first.get(`r${i}`);
    if (
      tooMany(reply) || (reply !== undefined && errorCondition(reply) !== "service-unavailable")
    ) {
      return [result(
        name,
        configured,
        "FAIL",
        `recipient ${i + 1} refused with ${errorCondition(reply!)} before the limit${
          rig.events.length > 0 ? ` (${rig.events.at(-1)!.limit})` : ""
        }`,
      )];
    }
  }
  // A full tracker still lets a known recipient through (the newest, so the
  // oldest, whose expiry the retry hint names, stays as it was).
  await client.send(message("known", limit.max - 1));
  const [known] = (await collectErrors(client, MESSAGE_ERROR_REGEXP, 1)).values();
  await client.send(message("over", limit.max));
  const [over] = (await collectErrors(client, MESSAGE_ERROR_REGEXP, 1)).values();
  const event = rig.lastEvent(name);
  const nth = limit.max + 1;
  if (limit.mode === "report") {
    return [
      reported(
        name,
        configured,
        !tooMany(over),
        `recipient ${nth} ${tooMany(over) ? "refused" : "allowed"}`,
        event,
      ),
    ];
  }
  if (!tooMany(over) || event === undefined || event.max !== limit.max) {
    return [result(
      name,
      configured,
      "FAIL",
      tooMany(over)
        ? `recipient ${nth} refused without its limit event`
        : `recipient ${nth} allowed`,
    )];
  }
  const waitMs = event.retryAfterMs ?? limit.window;
  rig.clock.advance(waitMs);
  await client.send(message("later", limit.max + 1));
  const [later] = (await collectErrors(client, MESSAGE_ERROR_REGEXP, 1)).values();
  const ok = !tooMany(known) && later !== undefined && !tooMany(later);
  return [result(
    name,
    configured,
    ok ? "ok" : "FAIL",
    `recipient ${nth} got <unexpected-request/> + too-many-stanzas; a known recipient ${
      tooMany(known) ? "was refused too" : "still allowed"
    }; new recipients ${tooMany(later) ? "still refused" : "allowed again"} after the retry hint (${
      Math.ceil(waitMs / 1000)
    } s on the drill clock)`,
  )];
}

const PRESENCE_ERROR_REGEXP = /<presence[^>]*type="error"[^>]*>[\s\S]*?<\/presence>/;

async function drillPresence(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.presence_broadcasts;
  const name = "presence_broadcasts";
  const configured = withMode(describeWindow(limit), limit.mode);
  if (limit.max === null) return [result(name, configured, "skipped-unlimited", "-")];
  if (limit.max > MAX_COUNT) {
    return [result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`)];
  }
  await using rig = await Rig.start(env, ISOLATED, 1);
  rig.align(limit.window);
  const client = await rig.login(0, "presence", address(env, 0));
  let batch = "";
  for (let i = 0; i < limit.max; i++) {
    batch += `<presence id='p${i}'><status>${i}</status></presence>`;
  }
  await client.send(batch);
  await client.send(`<presence id='over'/>`);
  // A refusal is answered while the presence is routed, before the ping.
  const synced = (await client.sync("presence-check")) ?? client.unread;
  const first = PRESENCE_ERROR_REGEXP.exec(synced)?.[0];
  const id = first === undefined ? undefined : ID_REGEXP.exec(first)?.[1];
  const error = first;
  const event = rig.lastEvent(name);
  const nth = limit.max + 1;
  if (limit.mode === "report") {
    return [
      reported(
        name,
        configured,
        error === undefined,
        `broadcast ${nth} ${error === undefined ? "allowed" : "refused"}`,
        event,
      ),
    ];
  }
  if (id !== "over" || error === undefined || errorCondition(error) !== "resource-constraint") {
    return [result(
      name,
      configured,
      "FAIL",
      id === undefined
        ? `broadcast ${nth} allowed`
        : `broadcast ${id === "over" ? nth : Number(id.slice(1)) + 1} refused with ${
          errorCondition(error ?? "")
        }`,
    )];
  }
  if (event === undefined || event.max !== limit.max) {
    return [result(name, configured, "FAIL", `broadcast ${nth} refused without its limit event`)];
  }
  const waitMs = event.retryAfterMs ?? limit.window;
  rig.clock.advance(waitMs);
  await client.send(`<presence id='later'/>`);
  const later = await client.sync("presence-sync");
  // The allowed broadcast comes back to the sender (RFC 6121 §4.4.2); only an error is a refusal.
  const again = later !== undefined && !/<presence type="error" id="later"/.test(later);
  return [result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `broadcast ${nth} got <resource-constraint/> (wait); ${
      again ? "allowed again" : "still refused"
    } after the retry hint (${Math.ceil(waitMs / 1000)} s on the drill clock)`,
  )];
}

// --- Bandwidth ----------------------------------------------------------------------

async function drillBandwidth(env: DrillEnv): Promise<DrillResult[]> {
  const limit = env.config.limits.bandwidth;
  const name = "bandwidth";
  const configured = withMode(describeBandwidth(limit), limit.mode);
  if (limit.rate === null) return [result(name, configured, "skipped-unlimited", "-")];
  // Four seconds' worth over the burst: a pause far longer than PAUSED_MS.
  const flood = limit.burst + 4 * limit.rate;
  if (flood > MAX_BYTES) {
    return [result(name, configured, "skipped", `burst + 4 s of rate is above ${MAX_BYTES} B`)];
  }
  await using rig = await Rig.start(env, { stanza_rules: [] }, 1);
  const client = await rig.login(0, "flood", address(env, 0));
  const before = rig.events.length;
  const chunk = " ".repeat(64 * 1024);
  for (let sent = 0; sent < flood; sent += chunk.length) {
    void client.send(sent + chunk.length <= flood ? chunk : chunk.slice(0, flood - sent));
  }
  // The bytes read in the chunk that overdraws the budget are still parsed;
  // what comes after the throttle must wait. So the ping goes once it happened.
  const throttled = () => rig.eventsSince(before).find((e) => e.limit === name);
  const deadline = systemTimers.now() + ANSWER_MS;
  while (throttled() === undefined && systemTimers.now() < deadline) {
    await new Promise<void>((resolve) => systemTimers.set(resolve, 10));
  }
  const event = throttled();
  void client.send(`<iq type='get' id='bw' to='${rig.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const pong = /<iq[^>]*id="bw"[^>]*?(?:\/>|>[\s\S]*?<\/iq>)/;
  const prompt = await client.poll(pong, PAUSED_MS);
  if (limit.mode === "report") {
    const answered = prompt ?? (await client.poll(pong, ANSWER_MS));
    return [
      reported(
        name,
        configured,
        answered !== undefined,
        `${Math.round(flood / 1024)} KiB sent at once ${
          prompt === undefined ? "paused reading" : "read without pause"
        }`,
        event,
      ),
    ];
  }
  if (prompt !== undefined) {
    return [result(name, configured, "FAIL", `${Math.round(flood / 1024)} KiB read without pause`)];
  }
  const resumed = await rig.pollSkipping(client, pong, 1000);
  const ok = event !== undefined && resumed !== undefined && !client.closed;
  return [result(
    name,
    configured,
    ok ? "ok" : "FAIL",
    `${Math.round(flood / 1024)} KiB sent at once: reading paused${
      event === undefined
        ? " without a limit event"
        : ` (event: wait ${Math.ceil((event.retryAfterMs ?? 0) / 1000)} s)`
    }; ${resumed === undefined ? "never resumed" : "resumed as the drill clock advanced"}; stream ${
      client.closed ? "closed" : "kept"
    }${limit.per_account ? " (one connection of the account's shared budget)" : ""}`,
  )];
}

// --- Stanza rules -------------------------------------------------------------------

const KIND_TYPES = {
  message: ["chat", "normal", "groupchat", "headline"],
  presence: [
    "available",
    "unavailable",
    "subscribe",
    "subscribed",
    "unsubscribe",
    "unsubscribed",
    "probe",
  ],
  iq: ["get", "set", "result"],
} as const;

type Kind = keyof typeof KIND_TYPES;

interface Candidate {
  kind: Kind;
  type: string;
  payload: string;
  to: "local" | "remote" | "unknown";
}

/** A stanza the rule matches, or why none can be built. */
function candidateFor(rule: StanzaRule): Candidate | string {
  const kinds: Kind[] = rule.kind === "any" ? ["message", "iq", "presence"] : [rule.kind];
  for (const kind of kinds) {
    const allowed: readonly string[] = KIND_TYPES[kind];
    const type = rule.type === undefined ? allowed[0] : rule.type.find((t) => allowed.includes(t));
    if (type === undefined) continue;
    return {
      kind,
      type,
      payload: rule.payload?.[0] ?? DRILL_NS,
      to: rule.to === "any" ? "local" : rule.to,
    };
  }
  return "it matches only stanzas of type error, which are never limited (RFC 6120 §8.3)";
}

function ruleMatches(rule: StanzaRule, candidate: Candidate): boolean {
  return (rule.kind === "any" || rule.kind === candidate.kind) &&
    (rule.type === undefined || rule.type.includes(candidate.type)) &&
    (rule.payload === undefined || rule.payload.includes(candidate.payload)) &&
    (rule.to === "any" || rule.to === candidate.to) &&
    rule.direction !== "inbound";
}

function candidateStanza(candidate: Candidate, id: string, domain: string): string {
  const to = candidate.to === "remote"
    ? "drill@drill.invalid"
    : candidate.to === "unknown"
    ? `drill-nobody@${domain}`
    : `drill-1@${domain}`;
  const type = candidate.type === "normal" || candidate.type === "available"
    ? ""
    : ` type='${candidate.type}'`;
  const child = candidate.kind === "iq"
    ? `<query xmlns='${candidate.payload}'/>`
    : `<x xmlns='${candidate.payload}'/>`;
  return `<${candidate.kind} id='${id}' to='${to}'${type}>${child}</${candidate.kind}>`;
}

async function drillRule(env: DrillEnv, index: number): Promise<DrillResult> {
  const rules = env.config.limits.stanza_rules;
  const rule = rules[index]!;
  const name = `stanza_rules[${index}]`;
  const configured = withMode(describeRule(rule), rule.mode);
  if (rule.action === "limit" && rule.rate?.max === null) {
    return result(name, configured, "skipped-unlimited", "-");
  }
  if (rule.direction === "inbound") {
    return result(
      name,
      configured,
      "skipped",
      "inbound rules are not drilled (no remote sender on loopback)",
    );
  }
  const candidate = candidateFor(rule);
  if (typeof candidate === "string") {
    return result(name, configured, "FAIL", `cannot trigger: ${candidate}`);
  }
  const max = rule.action === "limit" ? rule.rate!.max! : 0;
  if (max > MAX_COUNT) {
    return result(name, configured, "skipped", `above the drill's cap of ${MAX_COUNT}`);
  }
  const shadow = rules.findIndex((earlier, i) => i < index && ruleMatches(earlier, candidate));
  const shadowNote = shadow === -1
    ? ""
    : `: stanza_rules[${shadow}] (${rules[shadow]!.action}) matches it first`;
  await using rig = await Rig.start(env, { bandwidth: "unlimited" }, 2);
  // The local recipient is online, so stanzas to it are delivered unless a rule says no.
  await rig.login(1, "recipient", address(env, 1));
  const client = await rig.login(0, "rules", address(env, 0));
  const replyTo = (text: string, id: string) =>
    new RegExp(
      `<${candidate.kind}[^>]*id="${id}"[^>]*type="error"[^>]*>[\\s\\S]*?</${candidate.kind}>|<${candidate.kind}[^>]*type="error"[^>]*id="${id}"[^>]*>[\\s\\S]*?</${candidate.kind}>`,
    ).exec(text)?.[0];
  const refusedBy = (text: string, id: string) => {
    const reply = replyTo(text, id);
    if (reply === undefined) return undefined;
    const condition = errorCondition(reply);
    return condition === rule.error ||
        (rule.action === "limit" && reply.includes("too-many-stanzas"))
      ? condition
      : undefined;
  };
  let batch = "";
  for (let i = 0; i < max; i++) batch += candidateStanza(candidate, `c${i}`, rig.domain);
  await client.send(batch + candidateStanza(candidate, "over", rig.domain));
  const text = (await client.sync("rules-sync")) ?? client.unread;
  const early = Array.from({ length: max }, (_, i) => i).find((i) =>
    refusedBy(text, `c${i}`) !== undefined
  );
  const condition = refusedBy(text, "over");
  const event = rig.lastEvent("stanza_rules");
  const stanza = `${candidate.kind}${
    candidate.type === "normal" || candidate.type === "available" ? "" : ` ${candidate.type}`
  } ${candidate.payload} to ${candidate.to}`;
  const nth = rule.action === "limit" ? `stanza ${max + 1} (${stanza})` : `one ${stanza}`;
  if (early !== undefined) {
    return result(
      name,
      configured,
      "FAIL",
      `stanza ${early + 1} refused before the rate was used up`,
    );
  }
  if (rule.mode === "report") {
    return reported(
      name,
      configured,
      condition === undefined,
      `${nth} ${condition === undefined ? "passed" : "refused"}`,
      event,
    );
  }
  if (condition === undefined) {
    return result(name, configured, "FAIL", `${nth} was not refused${shadowNote}`);
  }
  if (event === undefined) {
    return result(name, configured, "FAIL", `${nth} refused without a limit event`);
  }
  if (rule.action === "deny") {
    const shown = rule.text === undefined ||
      replyTo(text, "over")!.includes(`>${escapeText(rule.text)}</text>`);
    return result(
      name,
      configured,
      shown ? "ok" : "FAIL",
      `${nth} got <${condition}/>${shown ? "" : ", without the configured text"}`,
    );
  }
  const waitMs = event.retryAfterMs ?? rule.rate!.window;
  rig.clock.advance(waitMs);
  await client.send(candidateStanza(candidate, "later", rig.domain));
  const after = (await client.sync("rules-later")) ?? client.unread;
  const again = refusedBy(after, "later") === undefined;
  return result(
    name,
    configured,
    again ? "ok" : "FAIL",
    `${nth} got <${condition}/>; ${
      again ? "allowed again" : "still refused"
    } after the retry hint (${Math.ceil(waitMs / 1000)} s on the drill clock)`,
  );
}

async function drillRules(env: DrillEnv): Promise<DrillResult[]> {
  const out: DrillResult[] = [];
  const rules = env.config.limits.stanza_rules;
  for (let i = 0; i < rules.length; i++) {
    if (rules[i]!.action === "allow") continue;
    out.push(await drillRule(env, i));
  }
  if (out.length === 0) {
    out.push(
      result(
        "stanza_rules",
        rules.length === 0 ? "none" : "allow rules only",
        "skipped",
        "no deny or limit rule",
      ),
    );
  }
  return out;
}

// --- Ordinary traffic ---------------------------------------------------------------

async function drillOrdinary(env: DrillEnv, burst: number): Promise<DrillResult[]> {
  const limits = env.config.limits;
  let clients = burst;
  if (!env.multiAddress) {
    // From one address, the per-IP limits bound a burst by design.
    for (const max of [limits.connections_per_ip.max, limits.connection_attempts_per_ip.max]) {
      if (max !== null) clients = Math.min(clients, max);
    }
  }
  clients = Math.max(2, clients);
  await using rig = await Rig.start(env, {}, clients);
  const out: DrillResult[] = [];
  const noEvents = (since: number) => {
    const events = rig.eventsSince(since);
    return events.length === 0 ? "" : `; limits hit: ${sumEvents(events)}`;
  };

  const burstStart = systemTimers.now();
  const logins = await Promise.allSettled(
    Array.from({ length: clients }, async (_, i) => {
      const client = await rig.login(i, "burst", address(env, i));
      await client.send("<presence/>");
      return client;
    }),
  );
  const sessions = logins.flatMap((entry) => entry.status === "fulfilled" ? [entry.value] : []);
  const burstMs = Math.round(systemTimers.now() - burstStart);
  const failed = logins.find((entry): entry is PromiseRejectedResult =>
    entry.status === "rejected"
  );
  const burstEvents = noEvents(0);
  out.push(result(
    "ordinary: login burst",
    `${clients} clients at once${env.multiAddress ? `, one address each` : " from one address"}`,
    sessions.length === clients && burstEvents === "" ? "ok" : "FAIL",
    `${sessions.length}/${clients} logged in and bound in ${burstMs} ms${burstEvents}${
      failed === undefined
        ? ""
        : `; ${
          String(failed.reason instanceof Error ? failed.reason.message : failed.reason).slice(
            0,
            120,
          )
        }`
    }`,
  ));
  const alice = sessions[0];
  const bob = sessions[1];
  if (alice === undefined || bob === undefined) {
    out.push(
      result("ordinary: chat", `${2 * CHAT_MESSAGES} messages`, "FAIL", "no two clients logged in"),
    );
    out.push(
      result(
        "ordinary: avatar-sized stanza",
        `${AVATAR_BYTES / 1024} KiB`,
        "FAIL",
        "no two clients logged in",
      ),
    );
    return out;
  }

  const chatSince = rig.events.length;
  let delivered = 0;
  for (let i = 0; i < CHAT_MESSAGES; i++) {
    for (const [from, to, n] of [[alice, bob, 1], [bob, alice, 0]] as const) {
      const body = `hello ${i} from ${1 - n}`;
      await from.send(
        `<message type='chat' id='chat-${i}-${n}' to='drill-${n}@${rig.domain}'><body>${body}</body></message>`,
      );
      const got = await to.poll(
        new RegExp(`<message[^>]*>[\\s\\S]*?<body>${body}</body>[\\s\\S]*?</message>`),
        ANSWER_MS,
      );
      if (got !== undefined) delivered++;
    }
  }
  const chatEvents = noEvents(chatSince);
  out.push(result(
    "ordinary: chat",
    `${2 * CHAT_MESSAGES} messages between two accounts`,
    delivered === 2 * CHAT_MESSAGES && chatEvents === "" ? "ok" : "FAIL",
    `${delivered}/${2 * CHAT_MESSAGES} delivered${chatEvents}`,
  ));

  const avatarSince = rig.events.length;
  const data = "QUJD".repeat(AVATAR_BYTES / 4);
  const avatarStart = systemTimers.now();
  await alice.send(
    `<message id='avatar' to='drill-1@${rig.domain}'><data xmlns='urn:xmppd:drill:avatar'>${data}</data></message>`,
  );
  // Delivered to bob, or refused to alice (an error, or her stream closed).
  const errorReply = /<message[^>]*type="error"[^>]*>[\s\S]*?<\/message>/;
  let got: string | undefined;
  let refusal: string | undefined;
  const avatarDeadline = avatarStart + ANSWER_MS;
  while (got === undefined && refusal === undefined && systemTimers.now() < avatarDeadline) {
    got = await bob.poll(/<message[^>]*id="avatar"[^>]*>[\s\S]*?<\/message>/, 20);
    const error = await alice.poll(errorReply, 0);
    if (error !== undefined) refusal = `refused with <${errorCondition(error)}/>`;
    else if (alice.closed) {
      const seen = alice.streamError();
      refusal = `the sender's stream was closed (${
        seen === undefined ? "no stream error" : `<${seen.condition}/>`
      }${seen?.appCondition === undefined ? "" : ` + ${seen.appCondition}`})`;
    }
  }
  const avatarMs = Math.round(systemTimers.now() - avatarStart);
  const intact = got !== undefined && got.includes(data);
  const avatarEvents = noEvents(avatarSince);
  out.push(result(
    "ordinary: avatar-sized stanza",
    `${AVATAR_BYTES / 1024} KiB message`,
    intact && avatarEvents === "" ? "ok" : "FAIL",
    intact
      ? `delivered intact in ${avatarMs} ms${avatarEvents}`
      : `${refusal ?? (got === undefined ? "not delivered" : "delivered damaged")}${avatarEvents}`,
  ));
  return out;
}

// --- The drill --------------------------------------------------------------------------

async function probeMultiAddress(env: DrillEnv): Promise<boolean> {
  await using rig = await Rig.start({ ...env, multiAddress: false }, {}, 0);
  try {
    const client = await rig.connect("127.1.0.1");
    client.close();
    return true;
  } catch {
    return false;
  }
}

async function guarded(
  name: string,
  configured: string,
  check: () => Promise<DrillResult[]>,
): Promise<DrillResult[]> {
  try {
    return await check();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return [result(name, configured, "FAIL", `drill error: ${reason.slice(0, 200)}`)];
  }
}

/**
 * Runs the drill against throwaway servers built from `config`.
 *
 * @param config The resolved configuration to drill (its listeners, storage and accounts are ignored).
 * @param options Burst size, address mode and a progress callback.
 * @returns Every result, notes on how the drill ran, and whether all passed.
 *
 * @example Usage
 * ```ts
 * import { runDrill } from "./drill.ts";
 * import { resolveConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 *
 * const report = await runDrill(resolveConfig({
 *   limits: { connections_per_ip: 2, resources_per_account: 2 },
 * }), { burst: 4 });
 * const row = report.results.find((r) => r.limit === "connections_per_ip");
 * assert.equal(row?.result, "ok");
 * assert.equal(row?.configured, "2");
 * ```
 */
export async function runDrill(
  config: ServerConfig,
  options: DrillOptions = {},
): Promise<DrillReport> {
  const started = systemTimers.now();
  const base: DrillEnv = { config, password: crypto.randomUUID(), multiAddress: false };
  const multiAddress = options.multiAddress ?? await probeMultiAddress(base);
  const env: DrillEnv = { ...base, multiAddress };
  const burst = options.burst ?? 20;
  const limits: LimitsConfig = config.limits;
  const results: DrillResult[] = [];
  const checks: [string, () => Promise<DrillResult[]>][] = [
    ["connections_per_ip", () => drillConnectionsPerIp(env)],
    ["connection_attempts_per_ip", () => drillConnectionAttempts(env)],
    ["unauthenticated_connections", () => drillUnauthenticated(env)],
    ["pre_auth_stanza_size", () => drillPreAuthSize(env)],
    ["auth_failures_per_ip", () => drillAuthFailures(env)],
    ["resources_per_account", () => drillResources(env)],
    ["stanza_size", () => drillStanzaSizes(env)],
    ["distinct_recipients", () => drillDistinctRecipients(env)],
    ["presence_broadcasts", () => drillPresence(env)],
    ["bandwidth", () => drillBandwidth(env)],
    ["stanza_rules", () => drillRules(env)],
    ["ordinary traffic", () => drillOrdinary(env, burst)],
  ];
  for (const [name, check] of checks) {
    for (const row of await guarded(name, "", check)) {
      results.push(row);
      options.onResult?.(row);
    }
  }
  const notes = [
    "Each check ran on its own in-process server (127.0.0.1, port 0, memory storage, " +
    `throwaway accounts drill-N@${config.domain}); the configured listeners, storage and accounts were not touched.`,
    "Time windows and tarpits were crossed by advancing the drill server's clock (by the limit " +
    "event's retry hint), not waited for.",
    multiAddress
      ? "Distinct users and attackers connected from distinct loopback addresses (127.1.x.y)."
      : "Every connection came from 127.0.0.1 (this system refuses other loopback source addresses): " +
        "checks needing many connections lifted the per-IP limits, and the login burst is capped by them.",
    "Each limit was drilled on its own: the other checks lifted bandwidth (it only delays) and the " +
    "stanza rules (drilled one by one); the connection checks lifted the other connection limits, " +
    "auth_failures_per_ip lifted connection_attempts_per_ip. Ordinary traffic ran with every limit as configured.",
  ];
  const classes = Object.keys(limits.classes);
  if (classes.length > 0 || limits.exempt.ips.length > 0 || limits.exempt.jids.length > 0) {
    notes.push(
      `Not drilled: ${classes.length > 0 ? `classes ${classes.join(", ")}` : ""}${
        classes.length > 0 && (limits.exempt.ips.length > 0 || limits.exempt.jids.length > 0)
          ? " and "
          : ""
      }${
        limits.exempt.ips.length > 0 || limits.exempt.jids.length > 0 ? "exemptions" : ""
      }; the base limits were.`,
    );
  }
  return {
    results,
    notes,
    ok: results.every((row) => row.result !== "FAIL"),
    elapsedMs: systemTimers.now() - started,
  };
}

/**
 * The drill's report as text: the table (limit, configured, observed,
 * result), the notes and a summary line.
 *
 * @param report What {@linkcode runDrill} returned.
 * @returns The lines to print.
 *
 * @example Usage
 * ```ts
 * import { formatDrillReport } from "./drill.ts";
 * import assert from "node:assert/strict";
 *
 * const lines = formatDrillReport({
 *   results: [{ limit: "stanza_size", configured: "256KiB", observed: "refused 256KiB + 1 B", result: "ok" }],
 *   notes: ["A note"],
 *   ok: true,
 *   elapsedMs: 1234,
 * });
 * assert.equal(lines[0], "limit        configured  observed              result");
 * assert.equal(lines.at(-1), "Result: 1 ok, 0 FAIL, 0 skipped (1.2 s)");
 * ```
 */
export function formatDrillReport(report: DrillReport): string[] {
  const lines = formatTable(
    ["limit", "configured", "observed", "result"],
    report.results.map((row) => [row.limit, row.configured, row.observed, row.result]),
  );
  lines.push("");
  for (const note of report.notes) lines.push(`- ${note}`);
  const count = (verdict: (v: DrillVerdict) => boolean) =>
    report.results.filter((row) => verdict(row.result)).length;
  lines.push(
    `Result: ${count((v) => v === "ok")} ok, ${count((v) => v === "FAIL")} FAIL, ${
      count((v) => v.startsWith("skipped"))
    } skipped (${(report.elapsedMs / 1000).toFixed(1)} s)`,
  );
  return lines;
}
