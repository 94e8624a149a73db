import assert from "node:assert/strict";
import { prepDomainpart, prepLocalpart, prepResourcepart } from "../../src/jid/prep.ts";

Deno.test("prepLocalpart() returns canonical ASCII unchanged", () => {
  const text = "juliet.capulet_1+tag";
  assert.equal(prepLocalpart(text), text);
});

Deno.test("prepLocalpart() lower-cases ASCII", () => {
  assert.equal(prepLocalpart("JuLiEt"), "juliet");
});

Deno.test("prepLocalpart() maps full-width and case, then composes (NFC)", () => {
  assert.equal(prepLocalpart("ＪＵＬＩＥＴ"), "juliet");
  // U+0065 U+0301 composes to U+00E9; U+00C9 lower-cases to U+00E9.
  assert.equal(prepLocalpart("Ame\u0301lie"), "am\u00e9lie");
  assert.equal(prepLocalpart("\u00c9MILE"), "\u00e9mile");
  assert.equal(prepLocalpart("ΣΩΚΡΆΤΗΣ"), "σωκράτης");
});

Deno.test("prepLocalpart() rejects the RFC 7622 forbidden characters, spaces and controls", () => {
  for (const c of ['"', "&", "'", "/", ":", "<", ">", "@", " ", "\t", "\x00", "\x7f"]) {
    assert.throws(() => prepLocalpart(`a${c}b`), SyntaxError, `character ${JSON.stringify(c)}`);
  }
});

Deno.test("prepLocalpart() rejects non-ASCII spaces, symbols and full-width forbidden characters", () => {
  assert.throws(() => prepLocalpart("a\u3000b"), SyntaxError); // ideographic space → space
  assert.throws(() => prepLocalpart("a\uff20b"), SyntaxError); // full-width @ → @
  assert.throws(() => prepLocalpart("a\u2603b"), SyntaxError); // snowman (symbol)
  assert.throws(() => prepLocalpart("a\u200bb"), SyntaxError); // zero-width space (format)
  assert.throws(() => prepLocalpart("a\ud800b"), SyntaxError); // lone surrogate
});

Deno.test("prepLocalpart() names the offending character in the message", () => {
  assert.throws(() => prepLocalpart("a b"), {
    name: "SyntaxError",
    message: "Cannot prepare localpart 'a b': character 'U+0020' is not allowed",
  });
});

Deno.test("prepLocalpart() enforces 1 to 1023 bytes of UTF-8", () => {
  assert.throws(() => prepLocalpart(""), RangeError);
  assert.equal(prepLocalpart("a".repeat(1023)).length, 1023);
  assert.throws(() => prepLocalpart("a".repeat(1024)), RangeError);
  // "é" is two bytes: 511 of them fit, 512 do not.
  assert.equal(prepLocalpart("\u00e9".repeat(511)).length, 511);
  assert.throws(() => prepLocalpart("\u00e9".repeat(512)), RangeError);
});

Deno.test("prepDomainpart() lower-cases and strips one trailing dot", () => {
  const text = "capulet.example";
  assert.equal(prepDomainpart(text), text);
  assert.equal(prepDomainpart("Capulet.EXAMPLE"), "capulet.example");
  assert.equal(prepDomainpart("capulet.example."), "capulet.example");
  assert.equal(prepDomainpart("localhost"), "localhost");
  assert.equal(prepDomainpart("127.0.0.1"), "127.0.0.1");
});

Deno.test("prepDomainpart() maps full-width text and ideographic dots", () => {
  assert.equal(prepDomainpart("ｅｘａｍｐｌｅ．ｃｏｍ"), "example.com");
  assert.equal(prepDomainpart("example\u3002com"), "example.com");
  assert.equal(prepDomainpart("M\u00dcNCHEN.example"), "m\u00fcnchen.example");
});

Deno.test("prepDomainpart() rejects empty labels, bad characters and long labels", () => {
  for (const text of [".", "..", "a..b", ".a", "a.b..", "a b", "a@b", "a/b", "a:b", "a\u2603b"]) {
    assert.throws(() => prepDomainpart(text), SyntaxError, JSON.stringify(text));
  }
  assert.throws(() => prepDomainpart(""), RangeError);
  assert.equal(prepDomainpart(`${"a".repeat(63)}.b`).length, 65);
  assert.throws(() => prepDomainpart(`${"a".repeat(64)}.b`), RangeError);
});

Deno.test("prepDomainpart() enforces 1023 bytes in total", () => {
  const labels = Array.from({ length: 16 }, () => "a".repeat(63)).join(".");
  assert.equal(labels.length, 1023);
  assert.equal(prepDomainpart(labels), labels);
  assert.equal(prepDomainpart(`${labels}.`), labels);
  assert.throws(() => prepDomainpart(`${labels}a`), RangeError);
});

Deno.test("prepDomainpart() accepts bracketed IPv6 literals and lower-cases them", () => {
  for (
    const text of [
      "[::1]",
      "[::]",
      "[2001:db8::1]",
      "[1:2:3:4:5:6:7:8]",
      "[1::]",
      "[::ffff:192.0.2.1]",
      "[1:2:3:4:5:6:1.2.3.4]",
    ]
  ) {
    assert.equal(prepDomainpart(text), text);
  }
  assert.equal(prepDomainpart("[2001:DB8::A]"), "[2001:db8::a]");
});

Deno.test("prepDomainpart() rejects malformed IPv6 literals", () => {
  for (
    const text of [
      "[]",
      "[:]",
      "[1:2]",
      "[1::2::3]",
      "[1:::2]",
      "[1:2:3:4:5:6:7:8:9]",
      "[1:2:3:4:5:6:7::8]",
      "[12345::]",
      "[fe80::1%eth0]",
      "[::1",
      "[::1]x",
      "[1:]",
      "[::1.2.3]",
      "[::1.2.3.256]",
      "[::01.2.3.4]",
      "[g::1]",
    ]
  ) {
    assert.throws(() => prepDomainpart(text), SyntaxError, text);
  }
});

Deno.test("prepResourcepart() keeps case, spaces and special characters", () => {
  const text = "Balcony Phone/2@home:x";
  assert.equal(prepResourcepart(text), text);
});

Deno.test("prepResourcepart() maps non-ASCII spaces and composes (NFC)", () => {
  assert.equal(prepResourcepart("a\u00a0b\u3000c"), "a b c");
  assert.equal(prepResourcepart("cafe\u0301"), "caf\u00e9");
  // OpaqueString does not map width or case.
  assert.equal(prepResourcepart("ＡＢ"), "ＡＢ");
});

Deno.test("prepResourcepart() rejects controls and lone surrogates, accepts emoji", () => {
  assert.throws(() => prepResourcepart("a\nb"), SyntaxError);
  assert.throws(() => prepResourcepart("a\x7f"), SyntaxError);
  assert.throws(() => prepResourcepart("\u00e9\u0085"), SyntaxError);
  assert.throws(() => prepResourcepart("x\udc00"), SyntaxError);
  assert.equal(prepResourcepart("phone \u2764\ufe0f"), "phone \u2764\ufe0f");
});

Deno.test("prepResourcepart() enforces 1 to 1023 bytes of UTF-8", () => {
  assert.throws(() => prepResourcepart(""), RangeError);
  assert.equal(prepResourcepart("r".repeat(1023)).length, 1023);
  assert.throws(() => prepResourcepart("r".repeat(1024)), RangeError);
  // U+1F600 is four bytes (two UTF-16 units): 255 fit in 1020 bytes, 256 do not.
  assert.equal(prepResourcepart("\u{1f600}".repeat(255)).length, 510);
  assert.throws(() => prepResourcepart("\u{1f600}".repeat(256)), RangeError);
});
