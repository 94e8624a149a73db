/**
 * SQLite plumbing shared by the `node:sqlite` stores: opening a database the
 * same way everywhere, numbered schema migrations, and immediate
 * transactions. Private to `src/storage/` (underscore file).
 *
 * Several stores may share one database file. Each keeps its schema version
 * in its own table, so their migrations never interfere.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";

/** How a store's schema is brought up to date; see {@linkcode migrate}. */
export interface MigrationPlan {
  /** Table holding the applied version numbers, e.g. `schema_version`. */
  table: string;
  /**
   * Entry `n` moves the schema from version `n` to `n + 1`. Append only:
   * never edit one that has shipped.
   */
  migrations: readonly string[];
  /** What the error message calls the store, e.g. `account store`. */
  label: string;
}

/** Table names a {@linkcode MigrationPlan} may use (they are interpolated into SQL). */
const TABLE_NAME_REGEXP = /^[a-z_][a-z0-9_]*$/;

/**
 * Opens (creating if needed) a database for a store: parent directories
 * created, WAL journal, `synchronous = FULL` (a committed transaction is on
 * disk before the call returns, so it survives a process kill or a power
 * cut), foreign keys on, and a busy timeout for another process holding the
 * write lock.
 *
 * @param path A file path, or `:memory:`.
 * @returns The open database.
 * @throws {Error} If the file cannot be opened.
 *
 * @example Usage
 * ```ts
 * import { openDatabase } from "./_migrations.ts";
 * import assert from "node:assert/strict";
 *
 * const db = openDatabase(":memory:");
 * assert.equal(db.prepare("PRAGMA foreign_keys").get()?.foreign_keys, 1);
 * db.close();
 * ```
 */
export function openDatabase(path: string): DatabaseSync {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
    );
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Applies the migrations the database has not seen, all in one transaction,
 * recording each version applied in `plan.table`.
 *
 * @param db The open database.
 * @param plan The version table, migrations and store label.
 * @param path The database path, for the error message.
 * @returns The schema version after migrating.
 * @throws {Error} If the database records a version newer than
 * `plan.migrations` knows, or a migration fails (nothing is applied then).
 * @throws {TypeError} If `plan.table` is not a plain SQL identifier.
 *
 * @example Usage
 * ```ts
 * import { migrate, openDatabase } from "./_migrations.ts";
 * import assert from "node:assert/strict";
 *
 * const db = openDatabase(":memory:");
 * const plan = { table: "demo_version", label: "demo store", migrations: ["CREATE TABLE t (x INTEGER)"] };
 * assert.equal(migrate(db, plan, ":memory:"), 1);
 * assert.equal(migrate(db, plan, ":memory:"), 1);
 * db.close();
 * ```
 */
export function migrate(db: DatabaseSync, plan: MigrationPlan, path: string): number {
  const { table, migrations, label } = plan;
  if (!TABLE_NAME_REGEXP.test(table)) {
    throw new TypeError(`Cannot migrate ${label}: table name '${table}' is not an identifier`);
  }
  return transaction(db, () => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER NOT NULL)`);
    const row = db.prepare(`SELECT max(version) AS version FROM ${table}`).get() as
      | { version: number | null }
      | undefined;
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new Error(
        `Cannot open ${label} '${path}': schema version ${current} is newer than the supported ${migrations.length}`,
      );
    }
    const insertVersion = db.prepare(`INSERT INTO ${table} (version) VALUES (?)`);
    for (let version = current; version < migrations.length; version++) {
      db.exec(migrations[version]!);
      insertVersion.run(version + 1);
    }
    return migrations.length;
  });
}

/**
 * Runs `body` in an immediate transaction (the write lock is taken at
 * `BEGIN`), committing if it returns and rolling back if it throws.
 *
 * @typeParam T The body's result.
 * @param db The open database; must not already be in a transaction.
 * @param body The statements to run together.
 * @returns What `body` returned.
 * @throws {Error} Whatever `body` threw, after the rollback.
 *
 * @example Usage
 * ```ts
 * import { openDatabase, transaction } from "./_migrations.ts";
 * import assert from "node:assert/strict";
 *
 * const db = openDatabase(":memory:");
 * db.exec("CREATE TABLE t (x INTEGER)");
 * assert.throws(() => transaction(db, () => {
 *   db.exec("INSERT INTO t VALUES (1)");
 *   throw new Error("boom");
 * }));
 * assert.equal(transaction(db, () => db.prepare("SELECT count(*) AS n FROM t").get()?.n), 0);
 * db.close();
 * ```
 */
export function transaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  let result: T;
  try {
    result = body();
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
  db.exec("COMMIT");
  return result;
}
