import assert from "node:assert/strict";
import { serialize } from "../../src/xml/serialize.ts";
import { imFixture } from "./_im_fixture.ts";

Deno.test("ImService offers roster versioning and pre-approval as stream features", () => {
  const f = imFixture();
  assert.deepEqual(f.im.streamFeatures().map((feature) => serialize(feature, "jabber:client")), [
    `<ver xmlns="urn:xmpp:features:rosterver"/>`,
    `<sub xmlns="urn:xmpp:features:pre-approval"/>`,
  ]);
});

Deno.test("ImService registers the roster handlers until disposed", () => {
  const f = imFixture();
  assert.ok(f.iq.has("account", "get", "jabber:iq:roster", "query"));
  assert.ok(f.iq.has("account", "set", "jabber:iq:roster", "query"));
  f.im[Symbol.dispose]();
  assert.ok(!f.iq.has("account", "get", "jabber:iq:roster", "query"));
  assert.ok(!f.iq.has("account", "set", "jabber:iq:roster", "query"));
});

Deno.test("ImService.drain() waits for the presence work of ended streams", async () => {
  const f = imFixture();
  const bob = f.bind("bob", "orchard");
  const phone = f.bind("bob", "phone");
  await f.presence(bob, "<presence/>");
  await f.presence(phone, "<presence/>");
  phone.take();
  f.sessions.remove(bob);
  f.im.closed(bob);
  assert.deepEqual(phone.sent, []); // queued, not yet run
  await f.im.drain();
  assert.deepEqual(phone.take(), [
    `<presence from="bob@example.com/orchard" to="bob@example.com/phone" type="unavailable"/>`,
  ]);
});

Deno.test("ImService.forgetAccount() makes the next roster request read the store again", async () => {
  const f = imFixture();
  const balcony = f.bind("alice", "balcony");
  await f.iqFrom(
    balcony,
    "<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='bob@example.com'/></query></iq>",
  );
  await f.store.removeAccount("alice"); // as XEP-0077 cancellation does
  await f.im.forgetAccount("alice");
  assert.equal(
    await f.iqFrom(balcony, "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>"),
    `<iq type="result" id="g" from="alice@example.com" to="alice@example.com/balcony"><query xmlns="jabber:iq:roster" ver="0"/></iq>`,
  );
});
