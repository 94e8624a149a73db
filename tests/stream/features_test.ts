import assert from "node:assert/strict";
import { buildFeatures, type FeatureState, serializedFeatures } from "../../src/stream/features.ts";
import { serializeFragment } from "../../src/stream/framing.ts";
import { el, type Element } from "../../src/xml/element.ts";
import { NS_CLIENT, NS_STREAMS } from "../../src/xml/ns.ts";
import { serialize } from "../../src/xml/serialize.ts";

function state(overrides: Partial<FeatureState>): FeatureState {
  return {
    encrypted: false,
    canStartTls: true,
    tlsRequired: false,
    authenticated: false,
    mechanisms: ["SCRAM-SHA-1", "PLAIN"],
    limits: undefined,
    ...overrides,
  };
}

function wire(overrides: Partial<FeatureState>): string {
  return serialize(buildFeatures(state(overrides)), NS_CLIENT);
}

const TLS = `<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>`;
const TLS_REQUIRED = `<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/></starttls>`;
const MECHANISMS = `<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">` +
  "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>";
const BIND = `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>` +
  `<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>`;

Deno.test("buildFeatures() returns <stream:features> in the stream namespace", () => {
  const features = buildFeatures(state({}));
  assert.equal(features.name, "features");
  assert.equal(features.ns, NS_STREAMS);
});

Deno.test("buildFeatures() offers only STARTTLS, marked required, while TLS is required and off", () => {
  assert.equal(
    wire({ tlsRequired: true }),
    `<stream:features>${TLS_REQUIRED}</stream:features>`,
  );
});

Deno.test("buildFeatures() offers optional STARTTLS next to the mechanisms", () => {
  assert.equal(wire({}), `<stream:features>${TLS}${MECHANISMS}</stream:features>`);
});

Deno.test("buildFeatures() offers only the mechanisms once the stream is encrypted", () => {
  assert.equal(wire({ encrypted: true }), `<stream:features>${MECHANISMS}</stream:features>`);
  assert.equal(
    wire({ encrypted: true, tlsRequired: true }),
    `<stream:features>${MECHANISMS}</stream:features>`,
  );
});

Deno.test("buildFeatures() offers no STARTTLS where the transport cannot upgrade", () => {
  assert.equal(wire({ canStartTls: false }), `<stream:features>${MECHANISMS}</stream:features>`);
});

Deno.test("buildFeatures() offers no mechanisms when TLS is required but cannot start", () => {
  assert.equal(wire({ canStartTls: false, tlsRequired: true }), "<stream:features/>");
});

Deno.test("buildFeatures() leaves out an empty <mechanisms/> element", () => {
  assert.equal(wire({ encrypted: true, mechanisms: [] }), "<stream:features/>");
});

Deno.test("buildFeatures() keeps the mechanism order and escapes names", () => {
  const features = buildFeatures(state({ encrypted: true, mechanisms: ["B", "A&<"] }));
  const mechanisms = features.getChild("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl");
  assert.deepEqual(mechanisms?.getChildren("mechanism").map((m) => m.text()), ["B", "A&<"]);
  assert.ok(serialize(features, NS_CLIENT).includes("<mechanism>A&amp;&lt;</mechanism>"));
});

Deno.test("buildFeatures() offers bind and optional session after authentication, nothing else", () => {
  const expected = `<stream:features>${BIND}</stream:features>`;
  assert.equal(wire({ authenticated: true, encrypted: true }), expected);
  // Even on an unencrypted stream that could upgrade: TLS is only negotiated before SASL.
  assert.equal(wire({ authenticated: true, tlsRequired: true }), expected);
});

Deno.test("buildFeatures() announces XEP-0478 limits last", () => {
  const limits = `<limits xmlns="urn:xmpp:stream-limits:0">` +
    "<max-bytes>262144</max-bytes><idle-seconds>600</idle-seconds></limits>";
  const figures = { maxBytes: 262144, idleSeconds: 600 };
  assert.equal(
    wire({ limits: figures }),
    `<stream:features>${TLS}${MECHANISMS}${limits}</stream:features>`,
  );
  assert.equal(
    wire({ authenticated: true, limits: figures }),
    `<stream:features>${BIND}${limits}</stream:features>`,
  );
});

Deno.test("buildFeatures() leaves out max-bytes when there is no byte limit", () => {
  assert.equal(
    wire({ encrypted: true, mechanisms: [], limits: { maxBytes: null, idleSeconds: 30 } }),
    `<stream:features><limits xmlns="urn:xmpp:stream-limits:0">` +
      "<idle-seconds>30</idle-seconds></limits></stream:features>",
  );
});

function clientText(element: Element): string {
  return serialize(element, NS_CLIENT);
}

Deno.test("serializedFeatures() gives buildFeatures() plus the extra features, for every state", () => {
  const register = el("register", { xmlns: "http://jabber.org/features/iq-register" });
  const ver = el("ver", { xmlns: "urn:xmpp:features:rosterver" });
  const states: Partial<FeatureState>[] = [
    {},
    { tlsRequired: true },
    { canStartTls: false },
    { encrypted: true },
    { encrypted: true, mechanisms: ["PLAIN", "SCRAM-SHA-1"] },
    { encrypted: true, mechanisms: [] },
    { authenticated: true },
    { limits: { maxBytes: 8192, idleSeconds: 600 } },
    { limits: { maxBytes: 262144, idleSeconds: 600 } },
    { limits: { maxBytes: null, idleSeconds: 600 } },
    { limits: { maxBytes: 8192, idleSeconds: 30 } },
  ];
  // Twice round: the second pass is answered from the cache.
  for (let pass = 0; pass < 2; pass++) {
    for (const overrides of states) {
      for (const extra of [[], [register], [ver, register]]) {
        const expected = buildFeatures(state(overrides));
        expected.append(...extra);
        assert.equal(
          serializedFeatures(state(overrides), extra, clientText),
          clientText(expected),
          JSON.stringify({ pass, overrides, extra: extra.length }),
        );
      }
    }
  }
});

Deno.test("serializedFeatures() keeps one cache per serializer", () => {
  const figures = { limits: { maxBytes: 4096, idleSeconds: 90 } };
  const stream = serializedFeatures(state(figures), [], clientText);
  const fragment = serializedFeatures(state(figures), [], serializeFragment);
  assert.ok(stream.startsWith("<stream:features><starttls"), stream);
  assert.ok(
    fragment.startsWith(`<stream:features xmlns:stream="${NS_STREAMS}"><starttls`),
    fragment,
  );
  assert.equal(serializedFeatures(state(figures), [], clientText), stream);
});
