import assert from "node:assert/strict";
import { BoundedMap, type EvictionReason } from "../../src/limits/bounded_map.ts";

type Event = [string, number, EvictionReason];

function recorder(): {
  events: Event[];
  onEvict: (k: string, v: number, r: EvictionReason) => void;
} {
  const events: Event[] = [];
  return {
    events,
    onEvict(key, value, reason) {
      events.push([key, value, reason]);
    },
  };
}

Deno.test("BoundedMap() rejects a capacity that is not a positive integer", () => {
  for (const capacity of [0, -1, 1.5, NaN, Infinity, 2 ** 31]) {
    assert.throws(
      () => new BoundedMap(capacity),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot create bounded map: 'capacity' must be a positive integer below 2^31, got ${capacity}`,
    );
  }
  assert.equal(new BoundedMap(2 ** 31 - 1).capacity, 2 ** 31 - 1);
});

Deno.test("BoundedMap.set() evicts the least recently inserted key at capacity", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(3, { onEvict });
  map.set("a", 1).set("b", 2).set("c", 3);
  assert.deepEqual(events, []);
  map.set("d", 4);
  assert.deepEqual(events, [["a", 1, "capacity"]]);
  assert.deepEqual([...map], [["b", 2], ["c", 3], ["d", 4]]);
  assert.equal(map.size, 3);
  assert.equal(map.has("a"), false);
});

Deno.test("BoundedMap.get() touches the key so it is evicted last", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(3, { onEvict });
  map.set("a", 1).set("b", 2).set("c", 3);
  assert.equal(map.get("a"), 1);
  assert.equal(map.oldestKey, "b");
  map.set("d", 4);
  map.set("e", 5);
  assert.deepEqual(events, [["b", 2, "capacity"], ["c", 3, "capacity"]]);
  assert.deepEqual([...map.keys()], ["a", "d", "e"]);
});

Deno.test("BoundedMap.peek() and has() do not touch the key", () => {
  const map = new BoundedMap<string, number>(2);
  map.set("a", 1).set("b", 2);
  assert.equal(map.peek("a"), 1);
  assert.equal(map.has("a"), true);
  assert.equal(map.peek("zz"), undefined);
  assert.equal(map.get("zz"), undefined);
  map.set("c", 3);
  assert.deepEqual([...map.keys()], ["b", "c"]);
});

Deno.test("BoundedMap.set() on a present key updates, touches, and reports a replaced value", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(2, { onEvict });
  map.set("a", 1).set("b", 2);
  map.set("a", 10);
  assert.deepEqual(events, [["a", 1, "replace"]]);
  map.set("a", 10); // same value: nothing dropped, nothing reported
  assert.deepEqual(events, [["a", 1, "replace"]]);
  assert.equal(map.size, 2);
  map.set("c", 3);
  assert.deepEqual(events.at(-1), ["b", 2, "capacity"]);
  assert.deepEqual([...map], [["a", 10], ["c", 3]]);
});

Deno.test("BoundedMap.delete() removes, reports and frees the slot for reuse", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(3, { onEvict });
  map.set("a", 1).set("b", 2).set("c", 3);
  assert.equal(map.delete("b"), true);
  assert.equal(map.delete("b"), false);
  assert.deepEqual(events, [["b", 2, "delete"]]);
  assert.equal(map.size, 2);
  map.set("d", 4); // fits in the freed slot: no eviction
  assert.equal(events.length, 1);
  assert.deepEqual([...map], [["a", 1], ["c", 3], ["d", 4]]);
  map.delete("a");
  map.delete("c");
  map.delete("d");
  assert.equal(map.size, 0);
  assert.equal(map.oldestKey, undefined);
  assert.deepEqual([...map], []);
  map.set("e", 5);
  assert.deepEqual([...map], [["e", 5]]);
});

Deno.test("BoundedMap.clear() reports every entry oldest first and empties the map", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(4, { onEvict });
  map.set("a", 1).set("b", 2).set("c", 3);
  map.get("a");
  map.clear();
  assert.deepEqual(events, [["b", 2, "clear"], ["c", 3, "clear"], ["a", 1, "clear"]]);
  assert.equal(map.size, 0);
  map.set("x", 9);
  assert.deepEqual([...map], [["x", 9]]);
});

Deno.test("BoundedMap with capacity 1 keeps only the last key", () => {
  const { events, onEvict } = recorder();
  const map = new BoundedMap<string, number>(1, { onEvict });
  map.set("a", 1);
  map.set("b", 2);
  map.get("b");
  map.set("c", 3);
  assert.deepEqual(events, [["a", 1, "capacity"], ["b", 2, "capacity"]]);
  assert.deepEqual([...map], [["c", 3]]);
});

Deno.test("BoundedMap never grows past capacity under key rotation", () => {
  let evicted = 0;
  const capacity = 1000;
  const map = new BoundedMap<string, number>(capacity, {
    onEvict(_key, _value, reason) {
      assert.equal(reason, "capacity");
      evicted++;
    },
  });
  for (let i = 0; i < 50_000; i++) {
    map.set(`2001:db8:${i.toString(16)}::/64`, i);
    assert.ok(map.size <= capacity);
  }
  assert.equal(map.size, capacity);
  assert.equal(evicted, 50_000 - capacity);
  // Exactly the last `capacity` keys remain, oldest first.
  const keys = [...map.keys()];
  assert.equal(keys.length, capacity);
  assert.equal(keys[0], `2001:db8:${(50_000 - capacity).toString(16)}::/64`);
  assert.equal(keys.at(-1), `2001:db8:${(49_999).toString(16)}::/64`);
});

Deno.test("BoundedMap keeps a hot key while cold keys rotate through", () => {
  const map = new BoundedMap<string, number>(8);
  map.set("hot", 0);
  for (let i = 0; i < 1000; i++) {
    map.set(`cold${i}`, i);
    assert.equal(map.get("hot"), 0);
  }
  assert.equal(map.size, 8);
  assert.deepEqual([...map.keys()].slice(-2), ["cold999", "hot"]);
});

Deno.test("BoundedMap.entries(), keys() and values() iterate oldest to newest without touching", () => {
  const map = new BoundedMap<number, string>(3);
  map.set(1, "one").set(2, "two").set(3, "three");
  map.get(1);
  assert.deepEqual([...map.entries()], [[2, "two"], [3, "three"], [1, "one"]]);
  assert.deepEqual([...map.values()], ["two", "three", "one"]);
  assert.deepEqual([...map.keys()], [2, 3, 1]);
  assert.equal(map.oldestKey, 2);
});

Deno.test("BoundedMap iteration terminates when every visited key is touched", () => {
  const map = new BoundedMap<number, number>(5);
  for (let i = 0; i < 5; i++) map.set(i, i);
  let visits = 0;
  for (const key of map.keys()) {
    map.get(key);
    visits++;
  }
  assert.equal(visits, 5);
});

Deno.test("BoundedMap onEvict may re-enter the map", () => {
  const blocked: string[] = [];
  const map: BoundedMap<string, number> = new BoundedMap<string, number>(2, {
    onEvict(key, _value, reason) {
      if (reason === "capacity") {
        blocked.push(key);
        assert.equal(map.has(key), false);
        assert.equal(map.size, 2);
        map.delete("b");
      }
    },
  });
  map.set("a", 1).set("b", 2).set("c", 3);
  assert.deepEqual(blocked, ["a"]);
  assert.deepEqual([...map], [["c", 3]]);
});

Deno.test("BoundedMap keeps values that are undefined apart from absent keys", () => {
  const map = new BoundedMap<string, number | undefined>(2);
  map.set("a", undefined);
  assert.equal(map.has("a"), true);
  assert.equal(map.size, 1);
  assert.equal(map.get("a"), undefined);
});

Deno.test("BoundedMap matches a reference LRU over a random mix of operations", () => {
  // The reference: a Map re-inserted on every use is ordered least recently used first.
  const reference = new Map<number, number>();
  const referenceEvicted: Event[] = [];
  const { events, onEvict } = recorder();
  const capacity = 5;
  const map = new BoundedMap<string, number>(capacity, { onEvict });
  let seed = 42;
  function random(n: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  }
  for (let step = 0; step < 20_000; step++) {
    const key = random(12);
    const name = String(key);
    switch (random(5)) {
      case 0:
      case 1: {
        const value = step;
        if (reference.has(key)) {
          const old = reference.get(key) as number;
          reference.delete(key);
          referenceEvicted.push([name, old, "replace"]);
        } else if (reference.size === capacity) {
          const [oldestKey, oldestValue] = reference.entries().next().value as [number, number];
          reference.delete(oldestKey);
          referenceEvicted.push([String(oldestKey), oldestValue, "capacity"]);
        }
        reference.set(key, value);
        map.set(name, value);
        break;
      }
      case 2: {
        const value = reference.get(key);
        if (value !== undefined) {
          reference.delete(key);
          reference.set(key, value);
        }
        assert.equal(map.get(name), value);
        break;
      }
      case 3: {
        const value = reference.get(key);
        if (value !== undefined) referenceEvicted.push([name, value, "delete"]);
        assert.equal(map.delete(name), reference.delete(key));
        break;
      }
      default:
        assert.equal(map.peek(name), reference.get(key));
    }
    assert.equal(map.size, reference.size);
  }
  assert.deepEqual([...map], [...reference].map(([k, v]) => [String(k), v]));
  assert.deepEqual(events, referenceEvicted);
});
