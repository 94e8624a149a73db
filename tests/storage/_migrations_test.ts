import assert from "node:assert/strict";
import { join } from "node:path";
import {
  migrate,
  type MigrationPlan,
  openDatabase,
  transaction,
} from "../../src/storage/_migrations.ts";

async function withTempDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "migrations_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const plan: MigrationPlan = {
  table: "demo_version",
  label: "demo store",
  migrations: ["CREATE TABLE a (x INTEGER)", "ALTER TABLE a ADD COLUMN y TEXT"],
};

function versions(db: ReturnType<typeof openDatabase>, table: string): unknown[] {
  return db.prepare(`SELECT version FROM ${table} ORDER BY version`).all().map((r) => r.version);
}

Deno.test("openDatabase() creates parent directories and sets WAL, FULL sync, foreign keys and a busy timeout", async () => {
  await withTempDir((dir) => {
    const db = openDatabase(join(dir, "a", "b", "x.db"));
    try {
      const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0];
      assert.equal(pragma("journal_mode"), "wal");
      assert.equal(pragma("synchronous"), 2);
      assert.equal(pragma("foreign_keys"), 1);
      assert.equal(pragma("busy_timeout"), 5000);
    } finally {
      db.close();
    }
  });
});

Deno.test("migrate() applies each migration once and records every version", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "x.db");
    const first = openDatabase(path);
    assert.equal(migrate(first, { ...plan, migrations: plan.migrations.slice(0, 1) }, path), 1);
    first.close();
    const db = openDatabase(path);
    try {
      assert.equal(migrate(db, plan, path), 2);
      assert.equal(migrate(db, plan, path), 2);
      assert.deepEqual(versions(db, "demo_version"), [1, 2]);
      db.exec("INSERT INTO a (x, y) VALUES (1, 'y exists')");
    } finally {
      db.close();
    }
  });
});

Deno.test("migrate() keeps plans with different tables independent in one database", () => {
  const db = openDatabase(":memory:");
  try {
    migrate(db, plan, ":memory:");
    migrate(
      db,
      { table: "other_version", label: "other", migrations: ["CREATE TABLE b (z)"] },
      ":memory:",
    );
    assert.deepEqual(versions(db, "demo_version"), [1, 2]);
    assert.deepEqual(versions(db, "other_version"), [1]);
  } finally {
    db.close();
  }
});

Deno.test("migrate() refuses a newer schema and rolls back a failing migration", () => {
  const db = openDatabase(":memory:");
  try {
    migrate(db, plan, "mem");
    assert.throws(() => migrate(db, { ...plan, migrations: plan.migrations.slice(0, 1) }, "mem"), {
      message: "Cannot open demo store 'mem': schema version 2 is newer than the supported 1",
    });
    const broken = {
      table: "broken_version",
      label: "broken",
      migrations: ["CREATE TABLE c (x)", "NOT SQL"],
    };
    assert.throws(() => migrate(db, broken, "mem"), /syntax error/);
    assert.deepEqual(
      db.prepare("SELECT name FROM sqlite_master WHERE name IN ('c', 'broken_version')").all(),
      [],
    );
    assert.throws(() => migrate(db, { ...plan, table: "x; DROP TABLE a" }, "mem"), {
      name: "TypeError",
      message: "Cannot migrate demo store: table name 'x; DROP TABLE a' is not an identifier",
    });
  } finally {
    db.close();
  }
});

Deno.test("transaction() returns the body's result, or rolls back and rethrows", () => {
  const db = openDatabase(":memory:");
  try {
    db.exec("CREATE TABLE t (x INTEGER)");
    assert.equal(transaction(db, () => db.prepare("INSERT INTO t VALUES (1)").run().changes), 1);
    const boom = new Error("boom");
    assert.throws(() =>
      transaction(db, () => {
        db.exec("INSERT INTO t VALUES (2)");
        throw boom;
      }), boom);
    assert.deepEqual(db.prepare("SELECT x FROM t").all().map((r) => r.x), [1]);
    assert.equal(db.isTransaction, false);
  } finally {
    db.close();
  }
});
