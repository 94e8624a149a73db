import assert from "node:assert/strict";
import { isLoopbackHost } from "../../src/admin/loopback.ts";

Deno.test("isLoopbackHost() accepts localhost, 127.0.0.0/8, ::1 and mapped loopback", () => {
  for (
    const host of ["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1"]
  ) {
    assert.ok(isLoopbackHost(host), host);
  }
  assert.ok(isLoopbackHost("::ffff:127.0.0.1"));
});

Deno.test("isLoopbackHost() refuses every-interface, private, public and named hosts", () => {
  for (
    const host of [
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "192.0.2.1",
      "128.0.0.1",
      "2001:db8::1",
      "::ffff:10.0.0.1",
      "localhost.example.org",
      "example.org",
      "",
    ]
  ) {
    assert.ok(!isLoopbackHost(host), host);
  }
});
