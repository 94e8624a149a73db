import assert from "node:assert/strict";
import { createPlainMechanism, type PlainMechanismOptions } from "../../src/auth/plain.ts";
import { createAccountRecord } from "../../src/auth/credentials.ts";
import type { AccountRecord } from "../../src/storage/account_store.ts";

const record: AccountRecord = await createAccountRecord("juliet", "r0m30 & more", {
  iterations: 64,
});

function options(overrides: Partial<PlainMechanismOptions> = {}): PlainMechanismOptions {
  return {
    lookup: (username) => Promise.resolve(username === record.username ? record : undefined),
    allowWithoutTls: false,
    ...overrides,
  };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

Deno.test("PLAIN succeeds with the right password on an encrypted stream", async () => {
  const mechanism = createPlainMechanism(options());
  assert.equal(mechanism.name, "PLAIN");
  const step = await mechanism.start({ encrypted: true }).step(bytes("\0juliet\0r0m30 & more"));
  assert.deepEqual(step, { kind: "success", username: "juliet" });
});

Deno.test("PLAIN normalises the authcid like a localpart", async () => {
  const mechanism = createPlainMechanism(options());
  const step = await mechanism.start({ encrypted: true }).step(bytes("\0JULIET\0r0m30 & more"));
  assert.deepEqual(step, { kind: "success", username: "juliet" });
});

Deno.test("PLAIN fails encryption-required on an unencrypted stream without the allowance", async () => {
  const mechanism = createPlainMechanism(options());
  const exchange = mechanism.start({ encrypted: false });
  assert.deepEqual(await exchange.step(bytes("\0juliet\0r0m30 & more")), {
    kind: "failure",
    condition: "encryption-required",
  });
  // Also when the client sends no initial response: no challenge invites the password.
  const empty = mechanism.start({ encrypted: false });
  assert.deepEqual(await empty.step(new Uint8Array(0)), {
    kind: "failure",
    condition: "encryption-required",
  });
});

Deno.test("PLAIN runs on an unencrypted stream when allowed", async () => {
  const mechanism = createPlainMechanism(options({ allowWithoutTls: true }));
  const step = await mechanism.start({ encrypted: false }).step(bytes("\0juliet\0r0m30 & more"));
  assert.deepEqual(step, { kind: "success", username: "juliet" });
});

Deno.test("PLAIN fails not-authorized for a wrong password or an unknown user", async () => {
  const mechanism = createPlainMechanism(options());
  for (const message of ["\0juliet\0r0m30", "\0juliet\0R0M30 & MORE", "\0romeo\0r0m30 & more"]) {
    const step = await mechanism.start({ encrypted: true }).step(bytes(message));
    assert.deepEqual(step, { kind: "failure", condition: "not-authorized" }, message);
  }
  // An authcid that is no valid localpart is an unknown user.
  const invalid = await mechanism.start({ encrypted: true }).step(bytes("\0a b\0x"));
  assert.deepEqual(invalid, { kind: "failure", condition: "not-authorized" });
});

Deno.test("PLAIN spends one PBKDF2 run on known and unknown users alike", async () => {
  const mechanism = createPlainMechanism(options());
  const original = crypto.subtle.deriveBits;
  const runs: number[] = [];
  crypto.subtle.deriveBits = function (algorithm, key, length) {
    runs.push((algorithm as Pbkdf2Params).iterations);
    return original.call(crypto.subtle, algorithm, key, length);
  };
  try {
    for (const message of ["\0juliet\0wrong", "\0romeo\0wrong", "\0a b\0wrong"]) {
      const step = await mechanism.start({ encrypted: true }).step(bytes(message));
      assert.deepEqual(step, { kind: "failure", condition: "not-authorized" });
    }
  } finally {
    crypto.subtle.deriveBits = original;
  }
  // The known user was created with 64 iterations; the decoy uses the 4096 default.
  assert.deepEqual(runs, [64, 4096, 4096]);
});

Deno.test("PLAIN decoy runs use the configured iteration count", async () => {
  const mechanism = createPlainMechanism(options({ iterations: 64 }));
  const original = crypto.subtle.deriveBits;
  const runs: number[] = [];
  crypto.subtle.deriveBits = function (algorithm, key, length) {
    runs.push((algorithm as Pbkdf2Params).iterations);
    return original.call(crypto.subtle, algorithm, key, length);
  };
  try {
    await mechanism.start({ encrypted: true }).step(bytes("\0romeo\0wrong"));
  } finally {
    crypto.subtle.deriveBits = original;
  }
  assert.deepEqual(runs, [64]);
  assert.throws(() => createPlainMechanism(options({ iterations: 0 })), RangeError);
});

Deno.test("PLAIN fails malformed-request for a bad message shape", async () => {
  const mechanism = createPlainMechanism(options());
  const cases: Uint8Array[] = [
    bytes("juliet"),
    bytes("juliet\0r0m30"),
    bytes("\0juliet\0r0m30\0"),
    bytes("\0\0r0m30"),
    bytes("\0juliet\0"),
    new Uint8Array([0, 0x6a, 0xff, 0, 0x70]),
  ];
  for (const message of cases) {
    const step = await mechanism.start({ encrypted: true }).step(message);
    assert.equal(step.kind === "failure" && step.condition, "malformed-request", `${message}`);
  }
});

Deno.test("PLAIN sends an empty challenge when there is no initial response", async () => {
  const exchange = createPlainMechanism(options()).start({ encrypted: true });
  assert.deepEqual(await exchange.step(new Uint8Array(0)), {
    kind: "challenge",
    data: new Uint8Array(0),
  });
  assert.deepEqual(await exchange.step(bytes("\0juliet\0r0m30 & more")), {
    kind: "success",
    username: "juliet",
  });
  assert.deepEqual(await exchange.step(bytes("\0juliet\0r0m30 & more")), {
    kind: "failure",
    condition: "malformed-request",
    text: "The exchange is over",
  });
});

Deno.test("PLAIN accepts an authzid naming the user and refuses others", async () => {
  const mechanism = createPlainMechanism(options({ domain: "capulet.example" }));
  for (const authzid of ["juliet", "Juliet", "juliet@capulet.example"]) {
    const step = await mechanism.start({ encrypted: true }).step(
      bytes(`${authzid}\0juliet\0r0m30 & more`),
    );
    assert.deepEqual(step, { kind: "success", username: "juliet" }, authzid);
  }
  for (const authzid of ["romeo", "romeo@capulet.example", "juliet@montague.example", "a b"]) {
    const step = await mechanism.start({ encrypted: true }).step(
      bytes(`${authzid}\0juliet\0r0m30 & more`),
    );
    assert.equal(step.kind === "failure" && step.condition, "invalid-authzid", authzid);
  }
});

Deno.test("PLAIN passes on lookup errors", async () => {
  const mechanism = createPlainMechanism(options({
    lookup: () => Promise.reject(new Error("Database is down")),
  }));
  await assert.rejects(
    mechanism.start({ encrypted: true }).step(bytes("\0juliet\0x")),
    { message: "Database is down" },
  );
});
