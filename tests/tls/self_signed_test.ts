import assert from "node:assert/strict";
import { createPublicKey, createSign, createVerify, X509Certificate } from "node:crypto";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { listenTcp } from "../../src/transport/tcp_listener.ts";

Deno.test("createSelfSignedCertificate() yields a certificate that verifies its own signature", async () => {
  const { cert, key } = await createSelfSignedCertificate("example.org");
  const x509 = new X509Certificate(cert);
  assert.equal(x509.subject, "CN=example.org");
  assert.equal(x509.issuer, "CN=example.org");
  assert.equal(x509.subjectAltName, "DNS:example.org");
  assert.equal(x509.ca, false);
  assert.ok(x509.verify(x509.publicKey), "self-signature does not verify");
  assert.ok(x509.checkIssued(x509));
  assert.equal(x509.checkHost("example.org"), "example.org");
  assert.equal(x509.checkHost("other.example.org"), undefined);
  assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);

  // The key belongs to the certificate.
  const signature = createSign("sha256").update("proof").sign(key);
  assert.ok(createVerify("sha256").update("proof").verify(x509.publicKey, signature));
  assert.equal(
    createPublicKey(key).export({ type: "spki", format: "pem" }),
    x509.publicKey.export({ type: "spki", format: "pem" }),
  );
});

Deno.test("createSelfSignedCertificate() is valid for a year from the injected date", async () => {
  const notBefore = new Date("2030-03-04T05:06:07.890Z");
  const x509 = new X509Certificate(
    (await createSelfSignedCertificate("example.org", { notBefore })).cert,
  );
  assert.equal(new Date(x509.validFrom).toISOString(), "2030-03-04T05:06:07.000Z");
  assert.equal(new Date(x509.validTo).toISOString(), "2031-03-04T05:06:07.000Z");

  const short = new X509Certificate(
    (await createSelfSignedCertificate("example.org", { notBefore, validityDays: 2 })).cert,
  );
  assert.equal(new Date(short.validTo).toISOString(), "2030-03-06T05:06:07.000Z");
});

Deno.test("createSelfSignedCertificate() uses GeneralizedTime from 2050", async () => {
  const x509 = new X509Certificate(
    (await createSelfSignedCertificate("example.org", {
      notBefore: new Date("2049-12-31T00:00:00Z"),
      validityDays: 2,
    })).cert,
  );
  assert.equal(new Date(x509.validFrom).toISOString(), "2049-12-31T00:00:00.000Z");
  assert.equal(new Date(x509.validTo).toISOString(), "2050-01-02T00:00:00.000Z");
  assert.ok(x509.verify(x509.publicKey));
});

Deno.test("createSelfSignedCertificate() names an IPv4 literal with an iPAddress SAN", async () => {
  const x509 = new X509Certificate((await createSelfSignedCertificate("192.0.2.7")).cert);
  assert.equal(x509.subjectAltName, "IP Address:192.0.2.7");
  assert.equal(x509.checkIP("192.0.2.7"), "192.0.2.7");
});

Deno.test("createSelfSignedCertificate() draws a fresh positive serial each time", async () => {
  const serials = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const x509 = new X509Certificate((await createSelfSignedCertificate("example.org")).cert);
    assert.match(x509.serialNumber, /^[4-7][0-9A-F]{31}$/);
    serials.add(x509.serialNumber);
  }
  assert.equal(serials.size, 5);
});

Deno.test("createSelfSignedCertificate() rejects bad domains and validity", async () => {
  for (const domain of ["", "exa mple.org", "-bad.org", "bücher.example", "::1", "a..b"]) {
    await assert.rejects(createSelfSignedCertificate(domain), TypeError, domain);
  }
  await assert.rejects(createSelfSignedCertificate("a.org", { validityDays: 0 }), RangeError);
  await assert.rejects(createSelfSignedCertificate("a.org", { validityDays: 1.5 }), RangeError);
  await assert.rejects(
    createSelfSignedCertificate("a.org", { notBefore: new Date("nope") }),
    RangeError,
  );
});

Deno.test("createSelfSignedCertificate() is trusted by Deno.connectTls over a direct-TLS listener", async () => {
  const material = await createSelfSignedCertificate("localhost");
  const received = Promise.withResolvers<string>();
  await using listener = await listenTcp(
    { host: "127.0.0.1", port: 0, directTls: material },
    (transport) => {
      transport.attach({
        data: (bytes) => received.resolve(new TextDecoder().decode(bytes)),
        closed() {},
      });
    },
  );
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [material.cert],
  });
  await conn.handshake();
  await conn.write(new TextEncoder().encode("trusted"));
  assert.equal(await received.promise, "trusted");
  conn.close();

  // A client that does not trust the certificate refuses it.
  const untrusting = await Deno.connectTls({ hostname: "localhost", port: listener.addr.port });
  await assert.rejects(untrusting.handshake(), /certificate|UnknownIssuer/i);
  untrusting.close();
});
