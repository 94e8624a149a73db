import assert from "node:assert/strict";
import { verifyPassword } from "../../src/auth/credentials.ts";
import { DiscoInfo } from "../../src/im/disco.ts";
import {
  Registration,
  type RegistrationLimitHit,
  type RegistrationSettings,
} from "../../src/im/register.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryAccountStore } from "../../src/storage/memory_account_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

const NS = "jabber:iq:register";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

class Stream {
  closedWith: string | undefined;
  constructor(
    readonly transport: { remoteAddress: string; encrypted: boolean },
    readonly name = "",
  ) {}
  close(error?: { condition: string }): void {
    this.closedWith = error?.condition;
  }
}

function setup(overrides: Partial<RegistrationSettings> = {}) {
  const accounts = new MemoryAccountStore();
  const clock = new ManualClock();
  const hits: RegistrationLimitHit[] = [];
  const changes: string[] = [];
  const removed: string[] = [];
  const streams = new Map<string, Stream[]>();
  const settings: RegistrationSettings = {
    enabled: true,
    limit: { max: 2, window: 3_600_000, mode: "enforce" },
    ipv6Prefix: 64,
    exemptIps: [],
    tlsRequired: true,
    allowPlainWithoutTls: false,
    iterations: 4096,
    ...overrides,
  };
  const registration = new Registration<Stream>({
    domain: "x",
    accounts: () => accounts,
    settings: () => settings,
    timers: clock,
    sessionOf: (from) => streams.get(from.split("/")[0]!)?.find((s) => from.endsWith("/" + s.name)),
    streamsOf: (bare) => streams.get(bare) ?? [],
    removed: (username) => {
      removed.push(username);
      return Promise.resolve();
    },
    onLimit: (hit) => hits.push(hit),
    onChange: (event, username, ip) => changes.push(`${event} ${username} ${ip}`),
  });
  return { accounts, clock, hits, changes, removed, streams, settings, registration };
}

function query(...children: Element[]): Element {
  return el(
    "iq",
    { xmlns: "jabber:client", type: "set", id: "reg2" },
    el("query", { xmlns: NS }, ...children),
  );
}

function credentials(username: string, password: string): Element {
  return query(el("username", {}, username), el("password", {}, password));
}

async function answer(
  registration: Registration<Stream>,
  stream: Stream,
  iq: Element,
): Promise<string> {
  const reply = registration.preAuth(stream, iq);
  assert.ok(reply !== undefined, "the IQ was not taken");
  return serialize(await reply, "jabber:client");
}

const tls = (ip = "192.0.2.1") => new Stream({ remoteAddress: ip, encrypted: true });

Deno.test("Registration offers the stream feature and the form only when on and over TLS", async () => {
  const { registration, settings } = setup();
  assert.equal(
    serialize(registration.features(tls())[0]!, "jabber:client"),
    `<register xmlns="http://jabber.org/features/iq-register"/>`,
  );
  assert.equal(
    await answer(
      registration,
      tls(),
      el("iq", { xmlns: "jabber:client", type: "get", id: "reg1" }, el("query", { xmlns: NS })),
    ),
    `<iq type="result" id="reg1"><query xmlns="jabber:iq:register"><instructions>` +
      `Choose a username and password for use with this service.</instructions>` +
      `<username/><password/></query></iq>`,
  );
  const plain = new Stream({ remoteAddress: "192.0.2.1", encrypted: false });
  assert.deepEqual(registration.features(plain), []);
  assert.equal(registration.preAuth(plain, credentials("bill", "x")), undefined);
  settings.tlsRequired = false;
  settings.allowPlainWithoutTls = true;
  assert.equal(registration.features(plain).length, 1);
  settings.enabled = false;
  assert.deepEqual(registration.features(tls()), []);
  assert.equal(registration.preAuth(tls(), credentials("bill", "x")), undefined);
});

Deno.test("Registration takes only jabber:iq:register IQs before authentication", () => {
  const { registration } = setup();
  const other = el("iq", { type: "get", id: "1" }, el("query", { xmlns: "jabber:iq:roster" }));
  assert.equal(registration.preAuth(tls(), other), undefined);
  assert.equal(registration.preAuth(tls(), el("iq", { type: "result", id: "1" })), undefined);
  assert.equal(
    registration.preAuth(
      tls(),
      el("iq", { type: "set", id: "1" }, el("query", { xmlns: NS }), el("x")),
    ),
    undefined,
  );
});

Deno.test("Registration creates an account with SCRAM credentials, once per stream", async () => {
  const { registration, accounts, changes } = setup();
  const stream = tls();
  assert.equal(
    await answer(registration, stream, credentials("Bill", "Calliope")),
    `<iq type="result" id="reg2"/>`,
  );
  const record = await accounts.get("bill");
  assert.ok(record !== undefined && await verifyPassword(record, "Calliope"));
  assert.deepEqual(changes, ["registered bill 192.0.2.1"]);
  assert.equal(
    await answer(registration, stream, credentials("ben", "x")),
    `<iq type="error" id="reg2"><error type="cancel"><not-allowed xmlns="${STANZAS}"/>` +
      `<text xmlns="${STANZAS}">An account was already registered on this stream; ` +
      `authenticate with it</text></error></iq>`,
  );
});

Deno.test("Registration answers conflict, not-acceptable and unexpected-request", async () => {
  const { registration } = setup();
  await answer(registration, tls(), credentials("bill", "one"));
  const error = async (iq: Element) =>
    /<error type="(\w+)"><([\w-]+) /.exec(await answer(registration, tls("192.0.2.9"), iq))?.slice(
      1,
    ).join(" ");
  assert.equal(await error(credentials("bill", "two")), "cancel conflict");
  assert.equal(await error(credentials("", "two")), "modify not-acceptable");
  assert.equal(await error(query(el("username", {}, "ann"))), "modify not-acceptable");
  assert.equal(await error(credentials("a b", "two")), "modify not-acceptable");
  assert.equal(await error(credentials("ann", "x".repeat(1025))), "modify not-acceptable");
  assert.equal(await error(query(el("remove"))), "cancel unexpected-request");
});

Deno.test("Registration limits registrations per address, IPv6 by prefix, until the window passes", async () => {
  const { registration, clock, hits } = setup();
  const a = (n: number) => tls(`2001:db8:0:1::${n}`);
  assert.match(await answer(registration, a(1), credentials("u1", "p")), /type="result"/);
  assert.match(await answer(registration, a(2), credentials("u2", "p")), /type="result"/);
  assert.equal(
    await answer(registration, a(3), credentials("u3", "p")),
    `<iq type="error" id="reg2"><error type="wait"><resource-constraint xmlns="${STANZAS}"/>` +
      `<text xmlns="${STANZAS}">Too many registrations from this address; retry in 3601 s</text></error></iq>`,
  );
  assert.deepEqual(hits, [{
    ip: "2001:db8:0:1::3",
    mode: "enforce",
    figure: 3,
    max: 2,
    retryAfterMs: 3_600_001,
  }]);
  // Another /64 is another address.
  assert.match(
    await answer(registration, tls("2001:db8:0:2::1"), credentials("u4", "p")),
    /type="result"/,
  );
  clock.advance(2 * 3_600_000);
  assert.match(await answer(registration, a(4), credentials("u5", "p")), /type="result"/);
});

Deno.test("Registration only reports in report mode, and exempts listed addresses", async () => {
  const { registration, settings, hits } = setup({
    limit: { max: 1, window: 60_000, mode: "report" },
    exemptIps: ["198.51.100.0/24"],
  });
  await answer(registration, tls(), credentials("u1", "p"));
  assert.match(await answer(registration, tls(), credentials("u2", "p")), /type="result"/);
  assert.equal(hits.length, 1);
  settings.limit = { max: 1, window: 60_000, mode: "enforce" };
  for (const name of ["e1", "e2", "e3"]) {
    assert.match(
      await answer(registration, tls("198.51.100.7"), credentials(name, "p")),
      /type="result"/,
    );
  }
});

function authenticated(
  setupResult: ReturnType<typeof setup>,
  bare: string,
  resource: string,
  encrypted = true,
) {
  const stream = new Stream({ remoteAddress: "192.0.2.5", encrypted }, resource);
  const list = setupResult.streams.get(bare) ?? [];
  list.push(stream);
  setupResult.streams.set(bare, list);
  return stream;
}

Deno.test("Registration answers registered, changes the password and removes the account", async () => {
  const t = setup();
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  t.registration.register(iq, disco);
  assert.ok(serialize(disco.toElement()).includes(`<feature var="jabber:iq:register"/>`));
  await answer(t.registration, tls(), credentials("bill", "old"));
  const phone = authenticated(t, "bill@x", "phone");
  const laptop = authenticated(t, "bill@x", "laptop");
  const ask = (type: "get" | "set", scope: "host" | "account", ...children: Element[]) =>
    iq.handle(
      scope,
      el(
        "iq",
        { xmlns: "jabber:client", type, id: "q", from: "bill@x/phone", to: "x" },
        el("query", { xmlns: NS }, ...children),
      ),
      "x",
    ).then((r) => serialize(r!, "jabber:client"));
  assert.equal(
    await ask("get", "host"),
    `<iq type="result" id="q" from="x" to="bill@x/phone"><query xmlns="jabber:iq:register">` +
      `<registered/><username>bill</username></query></iq>`,
  );
  assert.match(
    await ask("set", "account", el("username", {}, "bill"), el("password", {}, "new")),
    /type="result"/,
  );
  assert.ok(await verifyPassword((await t.accounts.get("bill"))!, "new"));
  assert.match(
    await ask("set", "host", el("username", {}, "ben"), el("password", {}, "x")),
    /<bad-request /,
  );
  assert.match(
    await ask("set", "host", el("username", {}, "bill"), el("password")),
    /<bad-request /,
  );
  assert.ok(await verifyPassword((await t.accounts.get("bill"))!, "new"));
  assert.match(await ask("set", "host", el("remove"), el("username", {}, "bill")), /<bad-request /);
  assert.equal(
    await ask("set", "host", el("remove")),
    `<iq type="result" id="q" from="x" to="bill@x/phone"/>`,
  );
  assert.equal(await t.accounts.get("bill"), undefined);
  assert.deepEqual(t.removed, ["bill"]);
  // The streams end after the result has gone out.
  assert.equal(phone.closedWith, undefined);
  t.clock.advance(0);
  assert.equal(phone.closedWith, "not-authorized");
  assert.equal(laptop.closedWith, "not-authorized");
  assert.deepEqual(t.changes, [
    "registered bill 192.0.2.1",
    "password-changed bill 192.0.2.5",
    "removed bill 192.0.2.5",
  ]);
});

Deno.test("Registration refuses a password change over an unencrypted stream", async () => {
  const t = setup();
  const iq = new IqRegistry();
  t.registration.register(iq, new DiscoInfo());
  await answer(t.registration, tls(), credentials("bill", "old"));
  authenticated(t, "bill@x", "plain", false);
  const reply = await iq.handle(
    "account",
    el(
      "iq",
      { type: "set", id: "q", from: "bill@x/plain" },
      el("query", { xmlns: NS }, el("username", {}, "bill"), el("password", {}, "new")),
    ),
    "bill@x",
  );
  assert.match(serialize(reply!), /<error type="modify"><not-authorized /);
});
