import assert from "node:assert/strict";
import { decodeBase64, decodeBase64Into } from "../../src/core/base64.ts";
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

Deno.test("decodeBase64() decodes into the scratch space when it fits, else into new bytes", () => {
  const scratch = new Uint8Array(6); // room for 8 characters
  const text = "p=" + new TextEncoder().encode("proof of work").toBase64();
  const inScratch = decodeBase64("dXNlcg==", scratch);
  assert.equal(inScratch?.buffer, scratch.buffer);
  assert.deepEqual(inScratch, new TextEncoder().encode("user"));
  const fresh = decodeBase64(text, scratch, 2); // 20 characters: no room
  assert.notEqual(fresh?.buffer, scratch.buffer);
  assert.equal(new TextDecoder().decode(fresh), "proof of work");
  assert.deepEqual(decodeBase64(""), new Uint8Array(0));
  assert.equal(decodeBase64("dXNlcg=", scratch), undefined);
});
