import assert from "node:assert/strict";
import { carbonCopy, carbonEligible, Carbons } from "../../src/im/carbons.ts";
import { DiscoInfo } from "../../src/im/disco.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";
import { FakeSessions } from "./_fake_sessions.ts";

const NS = "urn:xmpp:carbons:2";

function message(attrs: Record<string, string>, ...children: Element[]): Element {
  return el("message", { xmlns: "jabber:client", ...attrs }, ...children);
}

Deno.test("carbonEligible() follows the XEP-0280 §6 rules", () => {
  const body = () => el("body", { xmlns: "jabber:client" }, "hi");
  assert.equal(carbonEligible(message({ type: "chat" }), "sent"), true);
  assert.equal(carbonEligible(message({}, body()), "sent"), true);
  assert.equal(carbonEligible(message({ type: "normal" }, body()), "received"), true);
  assert.equal(carbonEligible(message({}), "sent"), false);
  assert.equal(
    carbonEligible(
      message({}, el("active", { xmlns: "http://jabber.org/protocol/chatstates" })),
      "sent",
    ),
    true,
  );
  assert.equal(
    carbonEligible(
      message({}, el("received", { xmlns: "urn:xmpp:receipts", id: "x" })),
      "received",
    ),
    true,
  );
  assert.equal(carbonEligible(message({ type: "groupchat" }, body()), "sent"), false);
  assert.equal(carbonEligible(message({ type: "headline" }, body()), "received"), false);
  assert.equal(carbonEligible(message({ type: "error" }, body()), "received"), false);
  assert.equal(
    carbonEligible(message({ type: "chat" }, el("private", { xmlns: NS })), "sent"),
    false,
  );
  assert.equal(
    carbonEligible(message({ type: "chat" }, el("no-copy", { xmlns: "urn:xmpp:hints" })), "sent"),
    false,
  );
  // A carbon is never copied again.
  assert.equal(
    carbonEligible(message({ type: "chat" }, el("sent", { xmlns: NS })), "received"),
    false,
  );
  // Private messages from a MUC are not copied to other resources; sent ones are.
  const pm = () =>
    message({ type: "chat" }, el("x", { xmlns: "http://jabber.org/protocol/muc#user" }));
  assert.equal(carbonEligible(pm(), "received"), false);
  assert.equal(carbonEligible(pm(), "sent"), true);
  assert.equal(carbonEligible(el("presence"), "sent"), false);
});

Deno.test("carbonCopy() wraps per XEP-0297 from the bare JID, keeping the type", () => {
  const original = message(
    { from: "juliet@x/balcony", to: "romeo@x/garden", type: "chat" },
    el("body", {}, "Wherefore art thou?"),
  );
  assert.equal(
    serialize(carbonCopy(original, "received", "romeo@x/home"), "jabber:client"),
    `<message from="romeo@x" to="romeo@x/home" type="chat"><received xmlns="urn:xmpp:carbons:2">` +
      `<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="juliet@x/balcony" ` +
      `to="romeo@x/garden" type="chat"><body>Wherefore art thou?</body></message></forwarded>` +
      `</received></message>`,
  );
});

function setup() {
  const sessions = new FakeSessions();
  const carbons = new Carbons(sessions);
  const iq = new IqRegistry();
  const disco = new DiscoInfo();
  carbons.register(iq, disco, (from) => {
    const [bare, resource] = from.split("/");
    return sessions.get(bare!, resource!);
  });
  const request = (from: string, name: "enable" | "disable") =>
    iq.handle(
      "account",
      el("iq", { xmlns: "jabber:client", type: "set", id: "c1", from }, el(name, { xmlns: NS })),
      from.split("/")[0]!,
    );
  return { sessions, carbons, disco, request };
}

Deno.test("Carbons are enabled and disabled per session, repeatedly, and announced", async () => {
  const { sessions, carbons, disco, request } = setup();
  const home = sessions.add("romeo@x/home");
  assert.ok(serialize(disco.toElement()).includes(`<feature var="urn:xmpp:carbons:2"/>`));
  assert.equal(carbons.enabled(home), false);
  const reply = await request("romeo@x/home", "enable");
  assert.equal(
    serialize(reply!, "jabber:client"),
    `<iq type="result" id="c1" from="romeo@x" to="romeo@x/home"/>`,
  );
  await request("romeo@x/home", "enable");
  assert.equal(carbons.enabled(home), true);
  await request("romeo@x/home", "disable");
  await request("romeo@x/home", "disable");
  assert.equal(carbons.enabled(home), false);
});

Deno.test("Carbons.sent() copies to the other enabled resources only", () => {
  const { sessions, carbons } = setup();
  const garden = sessions.add("romeo@x/garden");
  const home = sessions.add("romeo@x/home");
  const phone = sessions.add("romeo@x/phone");
  sessions.add("juliet@x/balcony");
  carbons.enable(garden);
  carbons.enable(home);
  const sent = message(
    { from: "romeo@x/garden", to: "juliet@x/balcony", type: "chat" },
    el("body", {}, "Neither, fair saint"),
  );
  assert.equal(carbons.sent(garden, sent), 1);
  assert.deepEqual(home.take(), [
    `<message from="romeo@x" to="romeo@x/home" type="chat"><sent xmlns="urn:xmpp:carbons:2">` +
    `<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="romeo@x/garden" ` +
    `to="juliet@x/balcony" type="chat"><body>Neither, fair saint</body></message></forwarded>` +
    `</sent></message>`,
  ]);
  assert.deepEqual(garden.take(), []);
  assert.deepEqual(phone.take(), []);
});

Deno.test("Carbons.received() skips the resources that got the original, and offline deliveries", () => {
  const { sessions, carbons } = setup();
  const garden = sessions.add("romeo@x/garden");
  const home = sessions.add("romeo@x/home");
  carbons.enable(garden);
  carbons.enable(home);
  const got = message(
    { from: "juliet@x/balcony", to: "romeo@x/garden", type: "chat" },
    el("body", {}, "What man art thou"),
  );
  assert.equal(carbons.received(got, "romeo@x", [garden]), 1);
  assert.equal(home.take()[0]?.includes(`<received xmlns="urn:xmpp:carbons:2">`), true);
  assert.deepEqual(garden.take(), []);
  assert.equal(carbons.received(got, "romeo@x", []), 0);
  assert.equal(carbons.received(got, "romeo@x", [garden, home]), 0);
});

Deno.test("Carbons copy nothing without an enabled resource, and no ineligible message", () => {
  const { sessions, carbons } = setup();
  const garden = sessions.add("romeo@x/garden");
  const home = sessions.add("romeo@x/home");
  const chat = message(
    { from: "juliet@x/balcony", to: "romeo@x/garden", type: "chat" },
    el("body", {}, "Wherefore art thou"),
  );
  assert.equal(carbons.received(chat, "romeo@x", [garden]), 0);
  assert.equal(carbons.sent(garden, chat), 0);
  carbons.enable(home);
  const groupchat = message({ from: "juliet@x/balcony", to: "romeo@x/garden", type: "groupchat" });
  assert.equal(carbons.received(groupchat, "romeo@x", [garden]), 0);
  assert.equal(carbons.sent(garden, groupchat), 0);
  assert.deepEqual(home.take(), []);
  assert.equal(carbons.received(chat, "romeo@x", [garden]), 1);
  assert.equal(carbons.sent(garden, chat), 1);
  assert.equal(home.take().length, 2);
  assert.deepEqual(garden.take(), []);
});

Deno.test("Carbons.strip() removes <private/> so that neither side copies the message", () => {
  const { sessions, carbons } = setup();
  const garden = sessions.add("romeo@x/garden");
  const home = sessions.add("romeo@x/home");
  carbons.enable(home);
  const secret = message(
    { from: "romeo@x/garden", to: "juliet@x", type: "chat" },
    el("body", {}, "psst"),
    el("private", { xmlns: NS }),
  );
  carbons.strip(secret);
  assert.equal(
    serialize(secret, "jabber:client"),
    `<message from="romeo@x/garden" to="juliet@x" type="chat"><body>psst</body></message>`,
  );
  assert.equal(carbons.sent(garden, secret), 0);
  assert.equal(carbons.received(secret, "romeo@x", [garden]), 0);
  assert.deepEqual(home.take(), []);
});
