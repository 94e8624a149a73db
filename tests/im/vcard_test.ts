import assert from "node:assert/strict";
import { DiscoInfo } from "../../src/im/disco.ts";
import { parseStored, VcardService } from "../../src/im/vcard.ts";
import { IqRegistry } from "../../src/routing/iq_registry.ts";
import { MemoryImStore } from "../../src/storage/memory_im_store.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { serialize } from "../../src/xml/serialize.ts";

function setup(limits: { maxVcardBytes?: number } = {}) {
  const store = new MemoryImStore(limits);
  const service = new VcardService(() => store);
  const own = new IqRegistry();
  const peers = new IqRegistry();
  const disco = new DiscoInfo();
  service.registerAccount(own, disco);
  service.registerPeer(peers);
  const iq = (from: string, type: "get" | "set", payload: Element) =>
    el("iq", { xmlns: "jabber:client", type, id: "v1", from }, payload);
  return { store, own, peers, disco, iq };
}

function wire(stanza: Element | undefined): string {
  return stanza === undefined ? "" : serialize(stanza, "jabber:client");
}

Deno.test("VcardService answers an empty vCard before one is set, and announces vcard-temp", async () => {
  const { store, own, disco, iq } = setup();
  using _store = store;
  assert.ok(wire(disco.toElement()).includes(`<feature var="vcard-temp"/>`));
  assert.equal(
    wire(
      await own.handle(
        "account",
        iq("juliet@x/r", "get", el("vCard", { xmlns: "vcard-temp" })),
        "juliet@x",
      ),
    ),
    `<iq type="result" id="v1" from="juliet@x" to="juliet@x/r"><vCard xmlns="vcard-temp"/></iq>`,
  );
});

Deno.test("VcardService stores the vCard as sent and serves it to its owner and to others", async () => {
  const { store, own, peers, iq } = setup();
  using _store = store;
  const vcard = el(
    "vCard",
    { xmlns: "vcard-temp" },
    el("FN", {}, "Juliet Capulet"),
    el("PHOTO", {}, el("TYPE", {}, "image/png"), el("BINVAL", {}, "iVBOR")),
    el("x", { xmlns: "urn:example:ext" }, "1 < 2"),
  );
  const set = await own.handle("account", iq("juliet@x/r", "set", vcard), "juliet@x");
  assert.equal(wire(set), `<iq type="result" id="v1" from="juliet@x" to="juliet@x/r"/>`);
  const expected =
    `<vCard xmlns="vcard-temp"><FN>Juliet Capulet</FN><PHOTO><TYPE>image/png</TYPE>` +
    `<BINVAL>iVBOR</BINVAL></PHOTO><x xmlns="urn:example:ext">1 &lt; 2</x></vCard>`;
  assert.equal(await store.getVcard("juliet"), expected);
  const get = iq("romeo@x/garden", "get", el("vCard", { xmlns: "vcard-temp" }));
  get.attrs.to = "juliet@x";
  assert.equal(
    wire(await peers.handle("account", get, "juliet@x")),
    `<iq type="result" id="v1" from="juliet@x" to="romeo@x/garden">${expected}</iq>`,
  );
  // Only get is answered for others: a set to someone else's vCard has no handler.
  assert.equal(peers.has("account", "set", "vcard-temp", "vCard"), false);
});

Deno.test("VcardService refuses a vCard over the store's size limit and keeps the old one", async () => {
  const { store, own, iq } = setup({ maxVcardBytes: 64 });
  using _store = store;
  await own.handle(
    "account",
    iq("juliet@x/r", "set", el("vCard", { xmlns: "vcard-temp" }, el("FN", {}, "J"))),
    "juliet@x",
  );
  const big = el("vCard", { xmlns: "vcard-temp" }, el("DESC", {}, "x".repeat(100)));
  const reply = await own.handle("account", iq("juliet@x/r", "set", big), "juliet@x");
  assert.equal(
    wire(reply?.getChild("error")),
    `<error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
      `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">A vCard may take at most 64 bytes</text></error>`,
  );
  assert.equal(await store.getVcard("juliet"), `<vCard xmlns="vcard-temp"><FN>J</FN></vCard>`);
});

Deno.test("VcardService removes the vCard when an empty one is set", async () => {
  const { store, own, iq } = setup();
  using _store = store;
  await store.putVcard("juliet", `<vCard xmlns="vcard-temp"><FN>J</FN></vCard>`);
  await own.handle(
    "account",
    iq("juliet@x/r", "set", el("vCard", { xmlns: "vcard-temp" })),
    "juliet@x",
  );
  assert.equal(await store.getVcard("juliet"), undefined);
});

Deno.test("parseStored() reads back what serialize() wrote and refuses broken XML", () => {
  const element = el("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Jule & co");
  assert.equal(serialize(parseStored(serialize(element))), serialize(element));
  assert.throws(() => parseStored("<vCard"), SyntaxError);
});
