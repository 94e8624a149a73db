import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { hmac, hmacKey, shaDigest } from "../../src/auth/_sha.ts";
import type { ScramHash } from "../../src/storage/account_store.ts";
import { pseudoRandom } from "../_util/pseudo_random.ts";

const NODE: Record<ScramHash, string> = { "SHA-1": "sha1", "SHA-256": "sha256" };
const HASHES: readonly ScramHash[] = ["SHA-1", "SHA-256"];

function hex(bytes: Uint8Array): string {
  return bytes.toHex();
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.fromHex(text);
}

Deno.test("shaDigest() matches the FIPS 180-4 examples", () => {
  const abc = "abc";
  const two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  assert.equal(hex(shaDigest("SHA-1", "")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  assert.equal(hex(shaDigest("SHA-1", abc)), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(hex(shaDigest("SHA-1", two)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  assert.equal(
    hex(shaDigest("SHA-256", "")),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hex(shaDigest("SHA-256", abc)),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(shaDigest("SHA-256", two)),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("shaDigest() matches node:crypto at every length around the block boundaries", () => {
  for (const hash of HASHES) {
    for (let length = 0; length <= 300; length++) {
      const data = pseudoRandom(length, length);
      assert.equal(
        hex(shaDigest(hash, data)),
        createHash(NODE[hash]).update(data).digest("hex"),
        `${hash}, ${length} bytes`,
      );
    }
  }
});

Deno.test("shaDigest() hashes a string as UTF-8", () => {
  const text = "jüliet@例え.テスト\u{1F600}";
  for (const hash of HASHES) {
    assert.equal(hex(shaDigest(hash, text)), createHash(NODE[hash]).update(text).digest("hex"));
  }
});

Deno.test("shaDigest() and hmac() take long strings, then short ones again", () => {
  const key = pseudoRandom(20, 3);
  for (const text of ["ä€".repeat(3000), "short", "x".repeat(70_000), ""]) {
    for (const hash of HASHES) {
      assert.equal(hex(shaDigest(hash, text)), createHash(NODE[hash]).update(text).digest("hex"));
      assert.equal(
        hex(hmac(hash, key, text)),
        createHmac(NODE[hash], key).update(text).digest("hex"),
      );
    }
  }
});

Deno.test("shaDigest() handles a message of several megabytes", () => {
  const data = pseudoRandom(3 * 1024 * 1024 + 5, 7);
  for (const hash of HASHES) {
    assert.equal(hex(shaDigest(hash, data)), createHash(NODE[hash]).update(data).digest("hex"));
  }
});

Deno.test("hmac() matches the RFC 2202 and RFC 4231 test cases", () => {
  // RFC 2202 §3, test cases 1, 2 and 6 (a key longer than a block).
  assert.equal(
    hex(hmac("SHA-1", new Uint8Array(20).fill(0x0b), "Hi There")),
    "b617318655057264e28bc0b6fb378c8ef146be00",
  );
  assert.equal(
    hex(hmac("SHA-1", new TextEncoder().encode("Jefe"), "what do ya want for nothing?")),
    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
  );
  assert.equal(
    hex(
      hmac(
        "SHA-1",
        new Uint8Array(80).fill(0xaa),
        "Test Using Larger Than Block-Size Key - Hash Key First",
      ),
    ),
    "aa4ae5e15272d00e95705637ce8a3b55ed402112",
  );
  // RFC 4231 §4.2 and §4.7 (a 131-byte key).
  assert.equal(
    hex(hmac("SHA-256", new Uint8Array(20).fill(0x0b), fromHex("4869205468657265"))),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  );
  assert.equal(
    hex(
      hmac(
        "SHA-256",
        new Uint8Array(131).fill(0xaa),
        "Test Using Larger Than Block-Size Key - Hash Key First",
      ),
    ),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
});

Deno.test("hmac() matches node:crypto for raw and prepared keys and messages of many lengths", () => {
  for (const hash of HASHES) {
    for (const keyLength of [0, 1, 20, 32, 63, 64, 65, 100, 131, 200]) {
      const raw = pseudoRandom(keyLength, keyLength + 1000);
      // The prepared key signs every message of the loop: preparing is done once.
      const prepared = hmacKey(hash, raw);
      for (let length = 0; length <= 200; length += 7) {
        const message = pseudoRandom(length, length + 2000);
        const expected = createHmac(NODE[hash], raw).update(message).digest("hex");
        const where = `${hash}, key ${keyLength} bytes, message ${length} bytes`;
        assert.equal(hex(hmac(hash, raw, message)), expected, `raw key: ${where}`);
        assert.equal(hex(hmac(hash, prepared, message)), expected, `prepared key: ${where}`);
      }
    }
  }
});

Deno.test("hmac() leaves its key and message untouched", () => {
  const key = pseudoRandom(20, 1);
  const message = pseudoRandom(90, 2);
  const keyCopy = key.slice();
  const messageCopy = message.slice();
  hmac("SHA-1", key, message);
  assert.deepEqual(key, keyCopy);
  assert.deepEqual(message, messageCopy);
});

Deno.test("hmac() refuses a key prepared for the other hash", () => {
  assert.throws(
    () => hmac("SHA-256", hmacKey("SHA-1", pseudoRandom(20, 5)), "x"),
    new TypeError("Cannot compute HMAC-SHA-256: the key is prepared for SHA-1"),
  );
});

Deno.test("shaDigest() and hmac() write into a given array of the digest's size", () => {
  const key = pseudoRandom(20, 6);
  for (const hash of HASHES) {
    const size = hash === "SHA-1" ? 20 : 32;
    const out = new Uint8Array(size);
    assert.equal(shaDigest(hash, "abc", out), out);
    assert.equal(hex(out), createHash(NODE[hash]).update("abc").digest("hex"));
    assert.equal(hmac(hash, key, "abc", out), out);
    assert.equal(hex(out), createHmac(NODE[hash], key).update("abc").digest("hex"));
    assert.throws(
      () => shaDigest(hash, "abc", new Uint8Array(size + 1)),
      new RangeError(
        `Cannot write a ${hash} digest: 'out' must hold ${size} bytes, got ${size + 1}`,
      ),
    );
  }
});
