import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteAccountStore } from "../../src/storage/sqlite_account_store.ts";
import { createAccountRecord, verifyPassword } from "../../src/auth/credentials.ts";
import type { AccountRecord } from "../../src/storage/account_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { accountStoreContract } from "./_account_store_contract.ts";

accountStoreContract("SqliteAccountStore", () => new SqliteAccountStore(":memory:"));

const PASSWORD = "unmistakable-plaintext-r0m30";
const juliet = await createAccountRecord("juliet", PASSWORD, { iterations: 16 });
const romeo = await createAccountRecord("romeo", "juliet", { iterations: 16 });

async function withTempDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_account_store_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SqliteAccountStore round-trips records in memory", async () => {
  using store = new SqliteAccountStore(":memory:");
  assert.equal(await store.get("juliet"), undefined);
  await store.put(juliet);
  const stored = await store.get("juliet");
  assert.deepEqual(stored, juliet);
  assert.ok(stored !== undefined && await verifyPassword(stored, PASSWORD));
});

Deno.test("SqliteAccountStore.getScram() reads one hash's credentials, as get() has them", async () => {
  using store = new SqliteAccountStore(":memory:");
  await store.put(juliet);
  await store.put(romeo);
  for (const record of [juliet, romeo]) {
    for (const hash of ["SHA-1", "SHA-256"] as const) {
      assert.deepEqual(await store.getScram(record.username, hash), record.scram[hash]);
    }
  }
  assert.equal(await store.getScram("nobody", "SHA-1"), undefined);
  await store.delete("juliet");
  assert.equal(await store.getScram("juliet", "SHA-256"), undefined);
  store.close();
  await assert.rejects(store.getScram("romeo", "SHA-1"));
});

Deno.test("SqliteAccountStore persists across reopening a file in new directories", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nested", "deeper", "accounts.db");
    {
      using store = new SqliteAccountStore(path);
      await store.put(juliet);
      await store.put(romeo);
    }
    using reopened = new SqliteAccountStore(path);
    assert.deepEqual(await reopened.list(), ["juliet", "romeo"]);
    assert.deepEqual(await reopened.get("juliet"), juliet);
    assert.deepEqual(await reopened.get("romeo"), romeo);
  });
});

Deno.test("SqliteAccountStore records the schema version once, in WAL mode, with BLOB keys", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "accounts.db");
    new SqliteAccountStore(path).close();
    using store = new SqliteAccountStore(path);
    await store.put(juliet);
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual(
        db.prepare("SELECT version FROM schema_version").all().map((row) => row.version),
        [1],
      );
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      const types = db.prepare(
        "SELECT DISTINCT typeof(salt) AS a, typeof(stored_key) AS b, typeof(server_key) AS c FROM scram_credentials",
      ).all();
      assert.deepEqual(types.map((row) => [row.a, row.b, row.c]), [["blob", "blob", "blob"]]);
    } finally {
      db.close();
    }
  });
});

Deno.test("SqliteAccountStore never writes the password to disk", async () => {
  await withTempDir(async (dir) => {
    const latin1 = new TextDecoder("latin1");
    /** Every file in the directory (database, WAL, shared memory) as one string. */
    const contents = () =>
      [...Deno.readDirSync(dir)].map((entry) =>
        latin1.decode(Deno.readFileSync(join(dir, entry.name)))
      )
        .join("\n");
    const store = new SqliteAccountStore(join(dir, "accounts.db"));
    await store.put(juliet);
    const whileOpen = contents();
    store.close();
    const afterClose = contents();
    for (const snapshot of [whileOpen, afterClose]) {
      assert.ok(snapshot.includes("juliet"), "the account is on disk");
      assert.ok(!snapshot.includes(PASSWORD), "the password is not");
    }
  });
});

Deno.test("SqliteAccountStore refuses a schema newer than it knows", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "accounts.db");
    new SqliteAccountStore(path).close();
    const db = new DatabaseSync(path);
    db.exec("INSERT INTO schema_version (version) VALUES (2)");
    db.close();
    assert.throws(() => new SqliteAccountStore(path), {
      message:
        `Cannot open account store '${path}': schema version 2 is newer than the supported 1`,
    });
  });
});

Deno.test("SqliteAccountStore.put() replaces an existing account", async () => {
  using store = new SqliteAccountStore(":memory:");
  await store.put(juliet);
  const changed = await createAccountRecord("juliet", "new password", { iterations: 16 });
  await store.put(changed);
  assert.deepEqual(await store.get("juliet"), changed);
  assert.deepEqual(await store.list(), ["juliet"]);
});

Deno.test("SqliteAccountStore.put() rejects incomplete records and stores nothing", async () => {
  using store = new SqliteAccountStore(":memory:");
  await assert.rejects(store.put({ ...juliet, username: "" }), TypeError);
  const partial = { username: "x", scram: { "SHA-1": juliet.scram["SHA-1"] } };
  await assert.rejects(store.put(partial as unknown as AccountRecord), {
    name: "TypeError",
    message: "Cannot store account 'x': it has no SHA-256 credentials",
  });
  const badKey = {
    username: "y",
    scram: { ...juliet.scram, "SHA-256": { ...juliet.scram["SHA-256"], salt: "text" } },
  };
  await assert.rejects(store.put(badKey as unknown as AccountRecord), {
    name: "TypeError",
    message: "Cannot store account 'y': its SHA-256 credentials are malformed",
  });
  assert.deepEqual(await store.list(), []);
});

Deno.test("SqliteAccountStore tables refuse non-BLOB keys and roll back a failed put", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "accounts.db");
    using store = new SqliteAccountStore(path);
    await store.put(juliet);
    const db = new DatabaseSync(path);
    try {
      assert.throws(() =>
        db.prepare(
          "INSERT INTO scram_credentials VALUES ('juliet', 'SHA-512', 'salt', 1, x'00', x'00')",
        ).run()
      );
    } finally {
      db.close();
    }
    // A trigger fails the second credentials row of the next put: the
    // transaction must leave neither the account row nor the first row.
    const blocker = new DatabaseSync(path);
    try {
      blocker.exec(
        "CREATE TRIGGER fail BEFORE INSERT ON scram_credentials WHEN NEW.hash = 'SHA-256' BEGIN SELECT RAISE(ABORT, 'boom'); END",
      );
    } finally {
      blocker.close();
    }
    await assert.rejects(store.put(romeo), { message: /boom/ });
    assert.deepEqual(await store.list(), ["juliet"]);
    assert.deepEqual(await store.get("juliet"), juliet);
  });
});

Deno.test("SqliteAccountStore.delete() removes the account and its credentials", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "accounts.db");
    using store = new SqliteAccountStore(path);
    await store.put(juliet);
    await store.put(romeo);
    assert.equal(await store.delete("juliet"), true);
    assert.equal(await store.delete("juliet"), false);
    assert.equal(await store.get("juliet"), undefined);
    assert.deepEqual(await store.list(), ["romeo"]);
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare("SELECT DISTINCT username FROM scram_credentials").all();
      assert.deepEqual(rows.map((row) => row.username), ["romeo"]);
    } finally {
      db.close();
    }
  });
});

Deno.test("SqliteAccountStore.list() returns sorted usernames", async () => {
  using store = new SqliteAccountStore(":memory:");
  await store.put(romeo);
  await store.put(juliet);
  await store.put({ ...juliet, username: "benvolio" });
  assert.deepEqual(await store.list(), ["benvolio", "juliet", "romeo"]);
});

Deno.test("SqliteAccountStore rejects calls after close()", async () => {
  const store = new SqliteAccountStore(":memory:");
  await store.put(juliet);
  await store.getScram("juliet", "SHA-1"); // cached
  store.close();
  store.close();
  await assert.rejects(store.get("juliet"));
  await assert.rejects(store.getScram("juliet", "SHA-1"));
  await assert.rejects(store.put(juliet));
  await assert.rejects(store.delete("juliet"));
  await assert.rejects(store.list());
});

Deno.test("SqliteAccountStore.getScram() serves cached credentials, and its own put() and delete() replace them at once", async () => {
  using store = new SqliteAccountStore(":memory:", { clock: new ManualClock() });
  await store.put(juliet);
  assert.deepEqual(await store.getScram("juliet", "SHA-1"), juliet.scram["SHA-1"]);
  const cached = await store.getScram("juliet", "SHA-1"); // from the cache
  assert.deepEqual(cached, juliet.scram["SHA-1"]);
  const changed = await createAccountRecord("juliet", "new-password", { iterations: 16 });
  await store.put(changed);
  assert.deepEqual(await store.getScram("juliet", "SHA-1"), changed.scram["SHA-1"]);
  await store.delete("juliet");
  assert.equal(await store.getScram("juliet", "SHA-1"), undefined);
});

Deno.test("SqliteAccountStore.getScram() serves credentials its cache cannot pack, uncached", async () => {
  using store = new SqliteAccountStore(":memory:", { clock: new ManualClock() });
  const odd = {
    salt: new Uint8Array(70_000).fill(1),
    iterations: 2 ** 32,
    storedKey: new Uint8Array(20).fill(2),
    serverKey: new Uint8Array(32).fill(3),
  };
  await store.put({ username: "odd", scram: { "SHA-1": odd, "SHA-256": odd } });
  for (let i = 0; i < 2; i++) assert.deepEqual(await store.getScram("odd", "SHA-1"), odd);
});

Deno.test("SqliteAccountStore drops cached credentials within changeCheckMs of another process's change", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "accounts.db");
    const clock = new ManualClock();
    using server = new SqliteAccountStore(path, { clock, changeCheckMs: 1000 });
    using cli = new SqliteAccountStore(path, { cachedCredentials: 0 }); // as `xmppd passwd` opens it
    await cli.put(juliet);
    assert.deepEqual(await server.getScram("juliet", "SHA-1"), juliet.scram["SHA-1"]);
    const changed = await createAccountRecord("juliet", "new-password", { iterations: 16 });
    await cli.put(changed);
    clock.advance(999);
    assert.deepEqual(
      await server.getScram("juliet", "SHA-1"),
      juliet.scram["SHA-1"],
      "not looked for yet",
    );
    clock.advance(1);
    assert.deepEqual(await server.getScram("juliet", "SHA-1"), changed.scram["SHA-1"]);
    await cli.delete("juliet");
    clock.advance(1000);
    assert.equal(await server.getScram("juliet", "SHA-1"), undefined);
  });
});

Deno.test("SqliteAccountStore with cachedCredentials 0 reads every login's credentials from the database", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "accounts.db");
    using server = new SqliteAccountStore(path, { cachedCredentials: 0 });
    using cli = new SqliteAccountStore(path, { cachedCredentials: 0 });
    await cli.put(juliet);
    assert.deepEqual(await server.getScram("juliet", "SHA-1"), juliet.scram["SHA-1"]);
    await cli.delete("juliet");
    assert.equal(await server.getScram("juliet", "SHA-1"), undefined);
  });
});

Deno.test("SqliteAccountStore refuses a negative or fractional cache size and a bad change-check interval", () => {
  assert.throws(() => new SqliteAccountStore(":memory:", { cachedCredentials: -1 }), RangeError);
  assert.throws(() => new SqliteAccountStore(":memory:", { cachedCredentials: 1.5 }), RangeError);
  assert.throws(() => new SqliteAccountStore(":memory:", { changeCheckMs: -1 }), RangeError);
  assert.throws(() => new SqliteAccountStore(":memory:", { changeCheckMs: Infinity }), RangeError);
});
