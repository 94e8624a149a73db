import assert from "node:assert/strict";
import {
  deriveScramKeys,
  parseServerFirst,
  ScramExchange,
} from "../../bench/loadgen/scram_client.ts";

// RFC 5802 §5: user "user", password "pencil", SCRAM-SHA-1.
const CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const CLIENT_FINAL =
  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
const SERVER_FINAL = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

Deno.test("ScramExchange reproduces the RFC 5802 SCRAM-SHA-1 example", async () => {
  const exchange = new ScramExchange("SHA-1", "user", CLIENT_NONCE);
  assert.equal(exchange.clientFirst(), `n,,n=user,r=${CLIENT_NONCE}`);
  const keys = await deriveScramKeys("SHA-1", "pencil", parseServerFirst(SERVER_FIRST));
  assert.equal(exchange.clientFinal(SERVER_FIRST, keys), CLIENT_FINAL);
  assert.equal(exchange.verifyServerFinal(SERVER_FINAL), true);
  assert.equal(exchange.verifyServerFinal("v=AAAA"), false);
});

Deno.test("ScramExchange reproduces the RFC 7677 SCRAM-SHA-256 example", async () => {
  const nonce = "rOprNGfwEbeRWgbNEkqO";
  const serverFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  const exchange = new ScramExchange("SHA-256", "user", nonce);
  const keys = await deriveScramKeys("SHA-256", "pencil", parseServerFirst(serverFirst));
  assert.equal(
    exchange.clientFinal(serverFirst, keys),
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
  assert.equal(
    exchange.verifyServerFinal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    true,
  );
});

Deno.test("ScramExchange signs every login with the same keys alike", async () => {
  const keys = await deriveScramKeys("SHA-1", "pencil", parseServerFirst(SERVER_FIRST));
  for (let round = 0; round < 3; round++) {
    const exchange = new ScramExchange("SHA-1", "user", CLIENT_NONCE);
    assert.equal(exchange.clientFinal(SERVER_FIRST, keys), CLIENT_FINAL);
    assert.equal(exchange.verifyServerFinal(SERVER_FINAL), true);
  }
});

Deno.test("ScramExchange refuses a server nonce that does not extend the client's", async () => {
  const exchange = new ScramExchange("SHA-1", "user", "abc");
  const first = "r=xyz,s=QSXCR+Q6sek8bf92,i=4096";
  const keys = await deriveScramKeys("SHA-1", "pencil", parseServerFirst(first));
  assert.throws(() => exchange.clientFinal(first, keys), /nonce/);
});

Deno.test("deriveScramKeys() caches by salt, iterations and password", async () => {
  const cache = new Map();
  const first = parseServerFirst(SERVER_FIRST);
  const a = await deriveScramKeys("SHA-1", "pencil", first, cache);
  assert.equal(await deriveScramKeys("SHA-1", "pencil", first, cache), a);
  const other = await deriveScramKeys("SHA-1", "pencil2", first, cache);
  assert.notDeepEqual(other.clientKey, a.clientKey);
  assert.equal(cache.size, 2);
});

Deno.test("parseServerFirst() rejects a message without salt", () => {
  assert.throws(() => parseServerFirst("r=abc,i=4096"), SyntaxError);
});
