import assert from "node:assert/strict";
import { RandomPool } from "../../src/core/random_pool.ts";

Deno.test("RandomPool.take() never hands out the same bytes twice before a refill", () => {
  const pool = new RandomPool(64);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const bytes = pool.take(16);
    assert.equal(bytes.length, 16);
    const hex = bytes.toHex();
    assert.ok(!seen.has(hex), `draw ${i} repeated ${hex}`);
    seen.add(hex);
  }
});

Deno.test("RandomPool.take() refills when the rest is too short for the request", () => {
  const pool = new RandomPool(32);
  const first = pool.take(20).slice();
  const second = pool.take(20); // 12 left: refilled, drawn from the start
  assert.equal(second.byteOffset, 0);
  assert.notDeepEqual(second, first);
  assert.equal(pool.take(12).byteOffset, 20);
  assert.equal(pool.take(0).length, 0);
});

Deno.test("RandomPool refuses sizes and lengths it cannot serve", () => {
  assert.throws(
    () => new RandomPool(0),
    new RangeError("Cannot create random pool: 'size' must be an integer from 1 to 65536, got 0"),
  );
  assert.throws(
    () => new RandomPool(65_537),
    new RangeError(
      "Cannot create random pool: 'size' must be an integer from 1 to 65536, got 65537",
    ),
  );
  assert.throws(
    () => new RandomPool(8).take(9),
    new RangeError("Cannot take random bytes: 'length' must be an integer from 0 to 8, got 9"),
  );
  assert.throws(
    () => new RandomPool(8).take(1.5),
    new RangeError("Cannot take random bytes: 'length' must be an integer from 0 to 8, got 1.5"),
  );
});
