import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { loadTlsMaterial, secureContextFor } from "../../src/tls/tls_material.ts";

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tls_material_test_" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadTlsMaterial() creates a self-signed certificate when no files are given", async () => {
  const material = await loadTlsMaterial({ domain: "chat.example" });
  assert.equal(material.selfSigned, true);
  const x509 = new X509Certificate(material.cert);
  assert.equal(x509.subjectAltName, "DNS:chat.example");
  assert.equal(secureContextFor(material), secureContextFor(material));
});

Deno.test("loadTlsMaterial() reads the PEM files it is given", async () => {
  await withTempDir(async (dir) => {
    const pair = await createSelfSignedCertificate("files.example");
    await Deno.writeTextFile(`${dir}/cert.pem`, pair.cert);
    await Deno.writeTextFile(`${dir}/key.pem`, pair.key);
    const material = await loadTlsMaterial({
      cert: `${dir}/cert.pem`,
      key: `${dir}/key.pem`,
      domain: "ignored.example",
    });
    assert.equal(material.selfSigned, false);
    assert.equal(material.cert, pair.cert);
    assert.equal(material.key, pair.key);
    assert.ok(secureContextFor(material));
  });
});

Deno.test("loadTlsMaterial() names the path of a missing file", async () => {
  await withTempDir(async (dir) => {
    const pair = await createSelfSignedCertificate("files.example");
    await Deno.writeTextFile(`${dir}/key.pem`, pair.key);
    await assert.rejects(
      loadTlsMaterial({ cert: `${dir}/missing.pem`, key: `${dir}/key.pem`, domain: "x.example" }),
      (error: Error) => {
        assert.ok(error.message.includes(`'${dir}/missing.pem'`), error.message);
        assert.match(error.message, /^Cannot read TLS certificate file/);
        return true;
      },
    );
  });
});

Deno.test("loadTlsMaterial() refuses files that hold no PEM, encrypted keys and mismatched keys", async () => {
  await withTempDir(async (dir) => {
    const a = await createSelfSignedCertificate("a.example");
    const b = await createSelfSignedCertificate("b.example");
    await Deno.writeTextFile(`${dir}/a.crt`, a.cert);
    await Deno.writeTextFile(`${dir}/a.key`, a.key);
    await Deno.writeTextFile(`${dir}/b.key`, b.key);
    await Deno.writeTextFile(`${dir}/garbage`, "hello\n");
    await Deno.writeTextFile(
      `${dir}/broken.crt`,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    await Deno.writeTextFile(
      `${dir}/enc.key`,
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    await Deno.writeTextFile(
      `${dir}/broken.key`,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    const cases: [string, string, RegExp][] = [
      ["garbage", "a.key", /'.*\/garbage' holds no PEM certificate/],
      ["broken.crt", "a.key", /'.*\/broken\.crt' is not a valid certificate/],
      ["a.crt", "garbage", /'.*\/garbage' holds no PEM private key/],
      ["a.crt", "enc.key", /'.*\/enc\.key' is encrypted/],
      ["a.crt", "broken.key", /'.*\/broken\.key' is not a valid key/],
      ["a.crt", "b.key", /key '.*\/b\.key' does not match certificate '.*\/a\.crt'/],
    ];
    for (const [cert, key, message] of cases) {
      await assert.rejects(
        loadTlsMaterial({ cert: `${dir}/${cert}`, key: `${dir}/${key}`, domain: "a.example" }),
        (error: Error) => {
          assert.ok(error instanceof SyntaxError, `${cert}+${key}: ${error}`);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});

Deno.test("loadTlsMaterial() requires cert and key together", async () => {
  await assert.rejects(loadTlsMaterial({ cert: "/tmp/c.pem", domain: "a.example" }), TypeError);
  await assert.rejects(loadTlsMaterial({ key: "/tmp/k.pem", domain: "a.example" }), TypeError);
});

Deno.test("secureContextFor() builds one context per material and reuses it", async () => {
  const pair = await createSelfSignedCertificate("ctx.example");
  const material = { cert: pair.cert, key: pair.key };
  const first = secureContextFor(material);
  assert.equal(secureContextFor(material), first);
  assert.notEqual(secureContextFor({ ...material }), first);
});
