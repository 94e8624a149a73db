import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { createScramMechanism, type ScramMechanismOptions } from "../../src/auth/scram.ts";
import { deriveScramCredentials } from "../../src/auth/credentials.ts";
import type { SaslExchange, SaslStep } from "../../src/auth/sasl_mechanism.ts";
import type { AccountRecord, ScramHash } from "../../src/storage/account_store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function text(step: SaslStep): string {
  assert.ok(step.kind !== "failure", `unexpected failure: ${JSON.stringify(step)}`);
  assert.ok(step.data !== undefined);
  return typeof step.data === "string" ? step.data : decoder.decode(step.data);
}

/** An account whose credentials use one salt for both hashes (as the RFC examples do). */
async function account(
  username: string,
  password: string,
  salt: Uint8Array,
): Promise<AccountRecord> {
  const options = { salt, iterations: 4096 };
  return {
    username,
    scram: {
      "SHA-1": await deriveScramCredentials(password, "SHA-1", options),
      "SHA-256": await deriveScramCredentials(password, "SHA-256", options),
    },
  };
}

function lookupOf(...records: AccountRecord[]): ScramMechanismOptions["lookup"] {
  return (username) => Promise.resolve(records.find((r) => r.username === username));
}

/** A SCRAM client computed independently of the server code (node:crypto pbkdf2Sync). */
function clientFinal(
  hash: ScramHash,
  password: string,
  clientFirstBare: string,
  serverFirst: string,
  withoutProof: string,
): string {
  const algorithm = hash === "SHA-1" ? "sha1" : "sha256";
  const length = hash === "SHA-1" ? 20 : 32;
  const salt = Uint8Array.fromBase64(/,s=([^,]+)/.exec(serverFirst)![1]!);
  const iterations = Number(/,i=(\d+)/.exec(serverFirst)![1]);
  const salted = pbkdf2Sync(password, salt, iterations, length, algorithm);
  const clientKey = createHmac(algorithm, salted).update("Client Key").digest();
  const storedKey = createHash(algorithm).update(clientKey).digest();
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(algorithm, storedKey).update(authMessage).digest();
  const proof = clientKey.map((b, i) => b ^ signature[i]!);
  return `${withoutProof},p=${proof.toBase64()}`;
}

interface Login {
  hash?: ScramHash;
  username?: string;
  password?: string;
  gs2?: string;
  binding?: string;
  tamperNonce?: boolean;
}

/** Runs a whole exchange and returns the final step. */
async function login(exchange: SaslExchange, login: Login = {}): Promise<SaslStep> {
  const { hash = "SHA-1", username = "user", password = "pencil", gs2 = "n,," } = login;
  const clientFirstBare = `n=${username},r=clientnonce`;
  const first = await exchange.step(bytes(gs2 + clientFirstBare));
  const serverFirst = text(first);
  assert.equal(first.kind, "challenge");
  let nonce = /^r=([^,]+)/.exec(serverFirst)![1]!;
  if (login.tamperNonce) nonce = `${nonce}x`;
  const binding = login.binding ?? encoder.encode(gs2).toBase64();
  const withoutProof = `c=${binding},r=${nonce}`;
  return await exchange.step(
    bytes(clientFinal(hash, password, clientFirstBare, serverFirst, withoutProof)),
  );
}

Deno.test("createScramMechanism() reproduces the RFC 5802 §5 SCRAM-SHA-1 example", async () => {
  const record = await account("user", "pencil", Uint8Array.fromBase64("QSXCR+Q6sek8bf92"));
  const mechanism = createScramMechanism("SHA-1", {
    lookup: lookupOf(record),
    nonce: () => "3rfcNHYJY1ZVvWVs7j",
  });
  assert.equal(mechanism.name, "SCRAM-SHA-1");
  const exchange = mechanism.start({ encrypted: true });
  const first = await exchange.step(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
  assert.deepEqual(first, {
    kind: "challenge",
    data: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  });
  const final = await exchange.step(
    bytes(
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    ),
  );
  assert.deepEqual(final, {
    kind: "success",
    username: "user",
    data: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
  });
});

Deno.test("createScramMechanism() reproduces the RFC 7677 §3 SCRAM-SHA-256 example", async () => {
  const record = await account("user", "pencil", Uint8Array.fromBase64("W22ZaJ0SNY7soEsUEjb6gQ=="));
  const mechanism = createScramMechanism("SHA-256", {
    lookup: lookupOf(record),
    nonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  });
  assert.equal(mechanism.name, "SCRAM-SHA-256");
  const exchange = mechanism.start({ encrypted: true });
  const first = await exchange.step(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  assert.deepEqual(first, {
    kind: "challenge",
    data: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  });
  const final = await exchange.step(
    bytes(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ),
  );
  assert.deepEqual(final, {
    kind: "success",
    username: "user",
    data: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  });
});

Deno.test("SCRAM exchange succeeds for both hashes with random nonces", async () => {
  const record = await account("user", "pencil", crypto.getRandomValues(new Uint8Array(16)));
  for (const hash of ["SHA-1", "SHA-256"] as const) {
    const mechanism = createScramMechanism(hash, { lookup: lookupOf(record) });
    const step = await login(mechanism.start({ encrypted: true }), { hash });
    assert.equal(step.kind, "success", hash);
  }
});

Deno.test("SCRAM exchange sends an empty challenge when there is no initial response", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const exchange = createScramMechanism("SHA-1", { lookup: lookupOf(record) })
    .start({ encrypted: true });
  assert.deepEqual(await exchange.step(new Uint8Array(0)), {
    kind: "challenge",
    data: new Uint8Array(0),
  });
  assert.equal((await login(exchange)).kind, "success");
});

Deno.test("SCRAM exchange fails not-authorized for a wrong password", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-256", { lookup: lookupOf(record) });
  const step = await login(mechanism.start({ encrypted: true }), {
    hash: "SHA-256",
    password: "pen",
  });
  assert.deepEqual(step, { kind: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM exchange runs normally for an unknown user, then fails not-authorized", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const secret = new Uint8Array(32).fill(1);
  const mechanism = createScramMechanism("SHA-1", { lookup: lookupOf(record), secret });
  const serverFirst = async (username: string): Promise<string> =>
    text(
      await mechanism.start({ encrypted: true }).step(bytes(`n,,n=${username},r=abc`)),
    );
  const known = await serverFirst("user");
  const unknown = await serverFirst("nobody");
  const shape = /^r=abc[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]{22}==,i=4096$/;
  assert.match(known, shape);
  assert.match(unknown, shape);
  // The fake salt is stable per username (a real salt would be too) and per secret.
  const salt = (message: string) => /,s=([^,]+)/.exec(message)![1];
  assert.equal(salt(await serverFirst("nobody")), salt(unknown));
  assert.equal(salt(await serverFirst("NoBody")), salt(unknown));
  assert.notEqual(salt(await serverFirst("someone")), salt(unknown));
  const other = createScramMechanism("SHA-1", { lookup: lookupOf(record), secret });
  assert.equal(
    salt(text(await other.start({ encrypted: true }).step(bytes("n,,n=nobody,r=abc")))),
    salt(unknown),
  );

  const step = await login(mechanism.start({ encrypted: true }), { username: "nobody" });
  assert.deepEqual(step, { kind: "failure", condition: "not-authorized" });
  // A username that is no valid localpart is an unknown user too.
  const invalid = await login(mechanism.start({ encrypted: true }), { username: "a b" });
  assert.deepEqual(invalid, { kind: "failure", condition: "not-authorized" });
});

Deno.test("SCRAM exchange shows unknown users the configured iteration count", async () => {
  const mechanism = createScramMechanism("SHA-1", {
    lookup: () => Promise.resolve(undefined),
    iterations: 10000,
  });
  const first = text(await mechanism.start({ encrypted: true }).step(bytes("n,,n=nobody,r=abc")));
  assert.match(first, /,i=10000$/);
  assert.throws(
    () =>
      createScramMechanism("SHA-1", { lookup: () => Promise.resolve(undefined), iterations: 0 }),
    RangeError,
  );
});

Deno.test("SCRAM exchange fails not-authorized when the nonce is tampered with", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-1", { lookup: lookupOf(record) });
  const step = await login(mechanism.start({ encrypted: true }), { tamperNonce: true });
  assert.deepEqual(step, { kind: "failure", condition: "not-authorized", text: "Nonce mismatch" });
});

Deno.test("SCRAM exchange fails not-authorized when c= does not repeat the GS2 header", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-1", { lookup: lookupOf(record) });
  for (const binding of ["eSws", /* "y,," */ "biwsAA==" /* "n,,\0" */]) {
    const step = await login(mechanism.start({ encrypted: true }), { binding });
    assert.deepEqual(step, {
      kind: "failure",
      condition: "not-authorized",
      text: "Channel binding does not match the GS2 header",
    });
  }
});

Deno.test("SCRAM exchange accepts the y GS2 flag, as no -PLUS variant is offered", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-1", { lookup: lookupOf(record) });
  const step = await login(mechanism.start({ encrypted: true }), { gs2: "y,," });
  assert.equal(step.kind, "success");
});

Deno.test("SCRAM exchange refuses the p= GS2 flag with malformed-request", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const exchange = createScramMechanism("SHA-1", { lookup: lookupOf(record) })
    .start({ encrypted: true });
  assert.deepEqual(await exchange.step(bytes("p=tls-unique,,n=user,r=abc")), {
    kind: "failure",
    condition: "malformed-request",
    text: "Channel binding is not supported",
  });
});

Deno.test("SCRAM exchange accepts an authzid naming the user and refuses others", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-256", {
    lookup: lookupOf(record),
    domain: "example.com",
  });
  for (const authzid of ["user", "User", "user@example.com", "USER@Example.com"]) {
    const step = await login(mechanism.start({ encrypted: true }), {
      hash: "SHA-256",
      gs2: `n,a=${authzid},`,
    });
    assert.equal(step.kind, "success", authzid);
  }
  for (
    const authzid of ["admin", "admin@example.com", "user@other.example", "user@example.com/r"]
  ) {
    const exchange = mechanism.start({ encrypted: true });
    assert.deepEqual(await exchange.step(bytes(`n,a=${authzid},n=user,r=abc`)), {
      kind: "failure",
      condition: "invalid-authzid",
      text: "The authzid is not the authenticated user",
    }, authzid);
  }
});

Deno.test("SCRAM exchange decodes =2C and =3D in the username", async () => {
  const record = await account("a,b=c", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-1", { lookup: lookupOf(record) });
  const step = await login(mechanism.start({ encrypted: true }), { username: "a=2Cb=3Dc" });
  assert.equal(step.kind, "success");
  assert.equal(step.kind === "success" && step.username, "a,b=c");
});

Deno.test("SCRAM exchange fails malformed-request for malformed client-first messages", async () => {
  const mechanism = createScramMechanism("SHA-1", { lookup: () => Promise.resolve(undefined) });
  const cases: (string | Uint8Array)[] = [
    "garbage",
    "n,",
    "x,,n=user,r=abc",
    "n,b=user,n=user,r=abc",
    "n,,r=abc,n=user",
    "n,,m=ext,n=user,r=abc",
    "n,,n=user",
    "n,,n=,r=abc",
    "n,,n=us=41er,r=abc",
    "n,,n=user=2,r=abc",
    "n,,n=user,r=",
    "n,,n=user,r=abc,",
    "n,,n=user,r=a\u00e9",
    "n,a=a=ZZ,,n=user,r=abc",
    new Uint8Array([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]),
  ];
  for (const message of cases) {
    const exchange = mechanism.start({ encrypted: true });
    const step = await exchange.step(typeof message === "string" ? bytes(message) : message);
    assert.equal(step.kind === "failure" && step.condition, "malformed-request", `${message}`);
  }
});

Deno.test("SCRAM exchange fails malformed-request for malformed client-final messages", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const mechanism = createScramMechanism("SHA-1", {
    lookup: lookupOf(record),
    nonce: () => "srv",
  });
  const proof = new Uint8Array(20).toBase64();
  const cases = [
    "",
    "c=biws,r=abcsrv",
    `r=abcsrv,c=biws,p=${proof}`,
    `c=biws,p=${proof}`,
    `c=biws,r=abcsrv,p=not*base64`,
    `c=bi ws,r=abcsrv,p=${proof}`,
    `c=biws,r=abcsrv,p=${new Uint8Array(19).toBase64()}`,
    `c=biws,r=abcsrv,1bad,p=${proof}`,
  ];
  for (const message of cases) {
    const exchange = mechanism.start({ encrypted: true });
    assert.equal((await exchange.step(bytes("n,,n=user,r=abc"))).kind, "challenge");
    const step = await exchange.step(bytes(message));
    assert.equal(step.kind === "failure" && step.condition, "malformed-request", message);
  }
});

Deno.test("SCRAM exchange ignores extensions it does not know", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const exchange = createScramMechanism("SHA-1", { lookup: lookupOf(record) })
    .start({ encrypted: true });
  const clientFirstBare = "n=user,r=abc,x=ext";
  const serverFirst = text(await exchange.step(bytes(`n,,${clientFirstBare}`)));
  const nonce = /^r=([^,]+)/.exec(serverFirst)![1];
  const final = clientFinal(
    "SHA-1",
    "pencil",
    clientFirstBare,
    serverFirst,
    `c=biws,r=${nonce},y=1`,
  );
  assert.equal((await exchange.step(bytes(final))).kind, "success");
});

Deno.test("SCRAM exchange answers failure to steps after it finished", async () => {
  const record = await account("user", "pencil", new Uint8Array(16));
  const exchange = createScramMechanism("SHA-1", { lookup: lookupOf(record) })
    .start({ encrypted: true });
  assert.equal((await login(exchange)).kind, "success");
  assert.deepEqual(await exchange.step(bytes("c=biws")), {
    kind: "failure",
    condition: "malformed-request",
    text: "The exchange is over",
  });
});

Deno.test("SCRAM exchange reads one hash's credentials when the store offers it", async () => {
  const record = await account("user", "pencil", crypto.getRandomValues(new Uint8Array(16)));
  for (const hash of ["SHA-1", "SHA-256"] as const) {
    const asked: string[] = [];
    const mechanism = createScramMechanism(hash, {
      lookup: () => Promise.reject(new Error("lookup must not be used")),
      credentials: (username, wanted) => {
        asked.push(`${username}/${wanted}`);
        return Promise.resolve(username === "user" ? record.scram[wanted] : undefined);
      },
    });
    assert.equal((await login(mechanism.start({ encrypted: true }), { hash })).kind, "success");
    assert.deepEqual(
      await login(mechanism.start({ encrypted: true }), { hash, password: "pen" }),
      { kind: "failure", condition: "not-authorized" },
    );
    assert.deepEqual(
      await login(mechanism.start({ encrypted: true }), { hash, username: "nobody" }),
      { kind: "failure", condition: "not-authorized" },
    );
    assert.deepEqual(asked, [`user/${hash}`, `user/${hash}`, `nobody/${hash}`]);
  }
  const failing = createScramMechanism("SHA-1", {
    lookup: () => Promise.resolve(undefined),
    credentials: () => Promise.reject(new Error("Database is down")),
  }).start({ encrypted: true });
  await assert.rejects(failing.step(bytes("n,,n=user,r=abc")), { message: "Database is down" });
});

Deno.test("SCRAM exchange passes on lookup errors", async () => {
  const exchange = createScramMechanism("SHA-1", {
    lookup: () => Promise.reject(new Error("Database is down")),
  }).start({ encrypted: true });
  await assert.rejects(exchange.step(bytes("n,,n=user,r=abc")), { message: "Database is down" });
});

Deno.test("createScramMechanism() rejects unknown hashes and bad server nonces", async () => {
  assert.throws(
    () => createScramMechanism("MD5" as ScramHash, { lookup: () => Promise.resolve(undefined) }),
    TypeError,
  );
  const exchange = createScramMechanism("SHA-1", {
    lookup: () => Promise.resolve(undefined),
    nonce: () => "a,b",
  }).start({ encrypted: true });
  await assert.rejects(exchange.step(bytes("n,,n=user,r=abc")), TypeError);
});
