import assert from "node:assert/strict";
import { decodeBase64Into } from "../../src/core/base64.ts";
import { pseudoRandom } from "../_util/pseudo_random.ts";

Deno.test("decodeBase64Into() decodes what toBase64() encodes, at every length up to 100", () => {
  const out = new Uint8Array(100);
  for (let length = 0; length <= 100; length++) {
    const bytes = pseudoRandom(length, length);
    const written = decodeBase64Into(bytes.toBase64(), out);
    assert.equal(written, length);
    assert.deepEqual(out.subarray(0, written), bytes);
  }
});

Deno.test("decodeBase64Into() decodes the window between start and end", () => {
  const out = new Uint8Array(8);
  const text = "c=biws,p=" + new TextEncoder().encode("proof").toBase64();
  const written = decodeBase64Into(text, out, text.indexOf("p=") + 2);
  assert.equal(new TextDecoder().decode(out.subarray(0, written)), "proof");
  assert.equal(decodeBase64Into(text, out, 2, 6), 3); // "biws" is "n,,"
  assert.equal(new TextDecoder().decode(out.subarray(0, 3)), "n,,");
});

Deno.test("decodeBase64Into() refuses all but strict padded base64", () => {
  const out = new Uint8Array(16);
  for (
    const text of [
      "A",
      "AB=",
      "ABC",
      "A===",
      "====",
      "AB=C",
      "A=BC",
      "AB==AB==",
      "dXN lcg==",
      "dXNl\ncg==",
      "dXNlcg-_",
      "dXNlcé==",
      "dXNlcg=\u0100",
    ]
  ) {
    assert.equal(decodeBase64Into(text, out), -1, JSON.stringify(text));
  }
  assert.equal(decodeBase64Into("", out), 0);
});

Deno.test("decodeBase64Into() throws when the array is too small", () => {
  assert.throws(
    () => decodeBase64Into("dXNlcg==", new Uint8Array(3)),
    new RangeError("Cannot decode base64: 'out' holds 3 bytes, the text decodes to 4"),
  );
});
