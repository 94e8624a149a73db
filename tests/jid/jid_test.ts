import assert from "node:assert/strict";
import { Jid, JidError } from "../../src/jid/jid.ts";

Deno.test("Jid.parse() splits full, bare and domain JIDs", () => {
  const full = Jid.parse("juliet@capulet.example/balcony");
  assert.deepEqual([full.local, full.domain, full.resource], [
    "juliet",
    "capulet.example",
    "balcony",
  ]);
  const bare = Jid.parse("juliet@capulet.example");
  assert.deepEqual([bare.local, bare.domain, bare.resource], [
    "juliet",
    "capulet.example",
    undefined,
  ]);
  const domain = Jid.parse("capulet.example");
  assert.deepEqual([domain.local, domain.domain, domain.resource], [
    undefined,
    "capulet.example",
    undefined,
  ]);
  const domainResource = Jid.parse("capulet.example/ops");
  assert.deepEqual([domainResource.local, domainResource.resource], [undefined, "ops"]);
});

Deno.test("Jid.parse() starts the resource at the first slash, so it may hold @ and /", () => {
  const jid = Jid.parse("juliet@capulet.example/a@b/c");
  assert.equal(jid.local, "juliet");
  assert.equal(jid.resource, "a@b/c");
  const noLocal = Jid.parse("capulet.example/x@y");
  assert.equal(noLocal.local, undefined);
  assert.equal(noLocal.resource, "x@y");
});

Deno.test("Jid.parse() normalises every part once", () => {
  const jid = Jid.parse("ＪＵＬＩＥＴ@Capulet.Example./Balcony\u00a0Phone");
  assert.equal(jid.toString(), "juliet@capulet.example/Balcony Phone");
  assert.ok(jid.equals(Jid.parse("juliet@capulet.example/Balcony Phone")));
  assert.ok(!jid.equals(Jid.parse("juliet@capulet.example/balcony phone")));
});

Deno.test("Jid.parse() reuses canonical input as the string form", () => {
  const text = "romeo@montague.example/orchard";
  assert.equal(Jid.parse(text).toString(), text);
  assert.equal(Jid.parse("[::1]").toString(), "[::1]");
  assert.equal(Jid.parse("user@[2001:DB8::1]/r").toString(), "user@[2001:db8::1]/r");
});

Deno.test("Jid.parse() throws JidError with the normalisation error as cause", () => {
  const cases: [string, string, ErrorConstructor | RangeErrorConstructor][] = [
    ["", "domainpart", RangeError],
    ["@capulet.example", "localpart", RangeError],
    ["juliet@", "domainpart", RangeError],
    ["juliet@capulet.example/", "resourcepart", RangeError],
    ["/balcony", "domainpart", RangeError],
    ["a b@capulet.example", "localpart", SyntaxError],
    ["a@b@capulet.example", "domainpart", SyntaxError],
    ["juliet@capulet..example", "domainpart", SyntaxError],
    ["juliet@capulet.example/\x00", "resourcepart", SyntaxError],
    [`${"a".repeat(1024)}@capulet.example`, "localpart", RangeError],
    ["juliet@[::1::2]", "domainpart", SyntaxError],
  ];
  for (const [text, part, cause] of cases) {
    assert.throws(() => Jid.parse(text), (error: unknown) => {
      assert.ok(error instanceof JidError, text);
      assert.ok(error instanceof SyntaxError);
      assert.equal(error.name, "JidError");
      assert.match(error.message, new RegExp(`^Cannot parse JID '.*': invalid ${part}$`, "s"));
      assert.ok(error.cause instanceof cause, `${text}: ${error.cause}`);
      return true;
    });
  }
});

Deno.test("Jid.parse() shortens very long input in the message", () => {
  assert.throws(() => Jid.parse(`${"x".repeat(2000)}@`), (error: unknown) => {
    assert.ok(error instanceof JidError);
    assert.ok(error.message.length < 120, error.message);
    return true;
  });
});

Deno.test("Jid.tryParse() returns undefined instead of throwing", () => {
  assert.equal(Jid.tryParse("a b@c"), undefined);
  assert.equal(Jid.tryParse(""), undefined);
  assert.equal(Jid.tryParse("nurse@capulet.example")?.toString(), "nurse@capulet.example");
});

Deno.test("Jid.bare() drops the resource and returns bare JIDs as they are", () => {
  const full = Jid.parse("juliet@capulet.example/balcony");
  const bare = full.bare();
  assert.equal(bare.toString(), "juliet@capulet.example");
  assert.ok(bare.isBare);
  assert.ok(!full.isBare);
  assert.equal(full.bare(), bare);
  assert.equal(bare.bare(), bare);
});

Deno.test("Jid.withResource() normalises and validates the resource", () => {
  const bare = Jid.parse("juliet@capulet.example");
  const full = bare.withResource("cafe\u0301");
  assert.equal(full.resource, "caf\u00e9");
  assert.equal(full.toString(), "juliet@capulet.example/caf\u00e9");
  assert.ok(bare.isBare, "the original is unchanged");
  assert.throws(() => bare.withResource(""), JidError);
  assert.throws(() => bare.withResource("a\nb"), JidError);
});

Deno.test("Jid.equals() compares every part", () => {
  const a = Jid.parse("juliet@capulet.example/balcony");
  assert.ok(a.equals(a));
  assert.ok(a.equals(Jid.parse("JULIET@capulet.example/balcony")));
  assert.ok(!a.equals(Jid.parse("juliet@capulet.example/Balcony")));
  assert.ok(!a.equals(a.bare()));
  assert.ok(!Jid.parse("capulet.example").equals(Jid.parse("x@capulet.example")));
});

Deno.test("Jid parts are read-only", () => {
  const jid = Jid.parse("juliet@capulet.example");
  assert.throws(() => {
    // @ts-expect-error: local is readonly at compile time; this checks run time
    jid.local = "romeo";
  }, TypeError);
});

Deno.test("Jid.parse() hands back the JID it parsed recently for the same text", () => {
  const first = Jid.parse("Nurse@Capulet.Example/Garden");
  const again = Jid.parse("Nurse@Capulet.Example/Garden");
  assert.equal(again, first);
  // The bare string is computed once and shared, too.
  assert.equal(again.bare().toString(), "nurse@capulet.example");
  assert.equal(again.bare(), first.bare());
  // Same address, different text: its own entry, equal but not the same object.
  const canonical = Jid.parse("nurse@capulet.example/Garden");
  assert.ok(canonical.equals(first));
  assert.notEqual(canonical, first);
});

Deno.test("Jid.parse() stays correct while thousands of distinct JIDs rotate the cache", () => {
  const texts = Array.from({ length: 10_000 }, (_, i) => `User${i}@Example.COM/r${i % 7}`);
  const parsed = texts.map((text) => Jid.parse(text));
  // The last ones parsed are still cached; the first ones were dropped and are parsed anew.
  assert.equal(Jid.parse(texts[9_999]!), parsed[9_999]);
  assert.notEqual(Jid.parse(texts[0]!), parsed[0]);
  for (let i = 0; i < texts.length; i++) {
    const again = Jid.parse(texts[i]!);
    assert.equal(again.toString(), `user${i}@example.com/r${i % 7}`);
    assert.ok(again.equals(parsed[i]!));
  }
});

Deno.test("Jid.parse() parses long texts every time and rejects invalid ones every time", () => {
  const long = "a".repeat(200) + "@example.com/" + "r".repeat(100);
  const first = Jid.parse(long);
  assert.ok(first.equals(Jid.parse(long)));
  assert.notEqual(Jid.parse(long), first);
  for (let i = 0; i < 3; i++) {
    assert.throws(() => Jid.parse("juliet@exa mple.com"), JidError);
    assert.equal(Jid.tryParse("@example.com"), undefined);
  }
});
