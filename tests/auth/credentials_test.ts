import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import {
  createAccountRecord,
  DEFAULT_SCRAM_ITERATIONS,
  deriveScramCredentials,
  verifyPassword,
} from "../../src/auth/credentials.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** StoredKey and ServerKey from a known SaltedPassword, computed independently. */
function keysFrom(algorithm: string, salted: Uint8Array): { storedKey: string; serverKey: string } {
  const clientKey = createHmac(algorithm, salted).update("Client Key").digest();
  return {
    storedKey: createHash(algorithm).update(clientKey).digest("hex"),
    serverKey: createHmac(algorithm, salted).update("Server Key").digest("hex"),
  };
}

Deno.test("deriveScramCredentials() matches the RFC 6070 PBKDF2-HMAC-SHA1 vector", async () => {
  // RFC 6070: P = "password", S = "salt", c = 4096 → 4b007901b765489abead49d926f721d065a429c1
  const salted = Uint8Array.from(
    "4b007901b765489abead49d926f721d065a429c1".match(/../g)!,
    (h) => parseInt(h, 16),
  );
  const salt = new TextEncoder().encode("salt");
  const credentials = await deriveScramCredentials("password", "SHA-1", { salt, iterations: 4096 });
  const expected = keysFrom("sha1", salted);
  assert.equal(hex(credentials.storedKey), expected.storedKey);
  assert.equal(hex(credentials.serverKey), expected.serverKey);
  assert.deepEqual(credentials.salt, salt);
  assert.equal(credentials.iterations, 4096);
});

Deno.test("deriveScramCredentials() agrees with node:crypto pbkdf2 for SHA-256", async () => {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const credentials = await deriveScramCredentials("pencil", "SHA-256", { salt, iterations: 100 });
  const expected = keysFrom("sha256", pbkdf2Sync("pencil", salt, 100, 32, "sha256"));
  assert.equal(hex(credentials.storedKey), expected.storedKey);
  assert.equal(hex(credentials.serverKey), expected.serverKey);
});

Deno.test("deriveScramCredentials() defaults to 4096 iterations and 16 random salt bytes", async () => {
  const a = await deriveScramCredentials("pencil", "SHA-1");
  const b = await deriveScramCredentials("pencil", "SHA-1");
  assert.equal(DEFAULT_SCRAM_ITERATIONS, 4096);
  assert.equal(a.iterations, 4096);
  assert.equal(a.salt.length, 16);
  assert.notDeepEqual(a.salt, b.salt);
  assert.notDeepEqual(a.storedKey, b.storedKey);
  assert.equal(a.storedKey.length, 20);
  assert.equal(a.serverKey.length, 20);
});

Deno.test("deriveScramCredentials() copies the salt it is given", async () => {
  const salt = new Uint8Array([1, 2, 3]);
  const credentials = await deriveScramCredentials("pencil", "SHA-1", { salt, iterations: 1 });
  salt[0] = 9;
  assert.deepEqual(credentials.salt, new Uint8Array([1, 2, 3]));
});

Deno.test("deriveScramCredentials() rejects bad iteration counts and empty salts", async () => {
  for (const iterations of [0, -1, 1.5, Number.NaN, Infinity]) {
    await assert.rejects(deriveScramCredentials("p", "SHA-1", { iterations }), RangeError);
  }
  await assert.rejects(
    deriveScramCredentials("p", "SHA-1", { salt: new Uint8Array(0) }),
    { name: "RangeError", message: "Cannot derive SCRAM credentials: 'salt' must not be empty" },
  );
});

Deno.test("deriveScramCredentials() applies SASLprep space mapping and NFKC", async () => {
  const salt = new Uint8Array(16);
  const plain = await deriveScramCredentials("pen cil", "SHA-256", { salt, iterations: 10 });
  const mapped = await deriveScramCredentials("ｐｅｎ\u00a0ｃｉｌ", "SHA-256", {
    salt,
    iterations: 10,
  });
  assert.deepEqual(mapped.storedKey, plain.storedKey);
  const other = await deriveScramCredentials("pencil", "SHA-256", { salt, iterations: 10 });
  assert.notDeepEqual(other.storedKey, plain.storedKey);
});

Deno.test("createAccountRecord() normalises the username and salts each hash separately", async () => {
  const record = await createAccountRecord("Juliet", "r0m30", { iterations: 10 });
  assert.equal(record.username, "juliet");
  assert.equal(record.scram["SHA-1"].iterations, 10);
  assert.equal(record.scram["SHA-256"].iterations, 10);
  assert.equal(record.scram["SHA-1"].storedKey.length, 20);
  assert.equal(record.scram["SHA-256"].storedKey.length, 32);
  assert.notDeepEqual(record.scram["SHA-1"].salt, record.scram["SHA-256"].salt);
  assert.ok(!JSON.stringify(record).includes("r0m30"));
});

Deno.test("createAccountRecord() rejects invalid usernames and iteration counts", async () => {
  await assert.rejects(createAccountRecord("ju liet", "x"), SyntaxError);
  await assert.rejects(createAccountRecord("", "x"), RangeError);
  await assert.rejects(createAccountRecord("juliet", "x", { iterations: 0 }), RangeError);
});

Deno.test("verifyPassword() accepts the password and rejects others", async () => {
  const record = await createAccountRecord("romeo", "correct horse");
  assert.equal(await verifyPassword(record, "correct horse"), true);
  assert.equal(await verifyPassword(record, "correct horse "), false);
  assert.equal(await verifyPassword(record, "Correct horse"), false);
  assert.equal(await verifyPassword(record, ""), false);
});

Deno.test("verifyPassword() uses the stored salt and iteration count", async () => {
  const salt = new Uint8Array([7, 7, 7]);
  const sha256 = await deriveScramCredentials("pencil", "SHA-256", { salt, iterations: 3 });
  const sha1 = await deriveScramCredentials("pencil", "SHA-1", { salt, iterations: 3 });
  const record = { username: "user", scram: { "SHA-1": sha1, "SHA-256": sha256 } };
  assert.equal(await verifyPassword(record, "pencil"), true);
  const otherCount = {
    ...record,
    scram: { ...record.scram, "SHA-256": { ...sha256, iterations: 4 } },
  };
  assert.equal(await verifyPassword(otherCount, "pencil"), false);
});
