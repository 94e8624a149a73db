import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { SqliteImStore } from "../../src/storage/sqlite_im_store.ts";
import { SqliteAccountStore } from "../../src/storage/sqlite_account_store.ts";
import { createAccountRecord } from "../../src/auth/credentials.ts";
import type { RosterItem } from "../../src/storage/im_store.ts";
import { imStoreContract } from "./_im_store_contract.ts";

imStoreContract("SqliteImStore", (limits) => new SqliteImStore(":memory:", limits));

const WRITER = fileURLToPath(new URL("./_im_store_writer.ts", import.meta.url));

async function withTempDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_im_store_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function query(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(sql).all().map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}

function exec(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

const romeo: RosterItem = {
  jid: "romeo@example.net",
  name: "Romeo",
  groups: ["Friends", "Lovers"],
  subscription: "both",
  ask: false,
  approved: false,
  version: 7,
};

Deno.test("SqliteImStore persists every kind of data across reopening", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nested", "im.db");
    {
      using store = new SqliteImStore(path);
      await store.putRosterItem("juliet", romeo);
      await store.putPendingSubscription("juliet", { jid: "nurse@example.com", stanza: "<p/>" });
      await store.addOffline("juliet", { stamp: 1_700_000_000_123, stanza: "<message/>" });
      await store.putVcard("juliet", "<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>");
      await store.putPepItem("juliet", {
        node: "urn:xmpp:avatar:metadata",
        id: "abc",
        payload: "<m/>",
      });
      await store.block("juliet", ["tybalt@example.com"]);
    }
    using store = new SqliteImStore(path);
    assert.deepEqual(await store.getRoster("juliet"), { version: 7, items: [romeo] });
    assert.deepEqual(await store.getPendingSubscriptions("juliet"), [
      { jid: "nurse@example.com", stanza: "<p/>" },
    ]);
    assert.deepEqual(await store.takeOffline("juliet"), [
      { id: 1, stamp: 1_700_000_000_123, stanza: "<message/>" },
    ]);
    assert.equal(
      await store.getVcard("juliet"),
      "<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>",
    );
    assert.deepEqual(await store.getPepItems("juliet", "urn:xmpp:avatar:metadata"), [
      { node: "urn:xmpp:avatar:metadata", id: "abc", payload: "<m/>" },
    ]);
    assert.deepEqual(await store.getBlocklist("juliet"), ["tybalt@example.com"]);
  });
});

Deno.test("SqliteImStore shares a file with SqliteAccountStore, each with its own schema version", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "xmpp.db");
    const juliet = await createAccountRecord("juliet", "r0m30", { iterations: 16 });
    {
      using accounts = new SqliteAccountStore(path);
      using im = new SqliteImStore(path);
      await accounts.put(juliet);
      await im.putRosterItem("juliet", romeo);
    }
    using accounts = new SqliteAccountStore(path);
    using im = new SqliteImStore(path);
    assert.deepEqual(await accounts.list(), ["juliet"]);
    assert.deepEqual((await im.getRoster("juliet")).items, [romeo]);
    assert.deepEqual(query(path, "SELECT version FROM schema_version"), [{ version: 1 }]);
    assert.deepEqual(query(path, "SELECT version FROM im_schema_version"), [{ version: 1 }]);
    assert.deepEqual(query(path, "PRAGMA journal_mode"), [{ journal_mode: "wal" }]);
  });
});

Deno.test("SqliteImStore refuses a schema newer than it knows", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "im.db");
    new SqliteImStore(path).close();
    exec(path, "INSERT INTO im_schema_version (version) VALUES (2)");
    assert.throws(() => new SqliteImStore(path), {
      message: `Cannot open IM store '${path}': schema version 2 is newer than the supported 1`,
    });
  });
});

Deno.test("SqliteImStore rolls back a roster write whose version update fails", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "im.db");
    using store = new SqliteImStore(path);
    await store.putRosterItem("juliet", romeo);
    exec(
      path,
      "CREATE TRIGGER fail BEFORE UPDATE ON rosters BEGIN SELECT RAISE(ABORT, 'boom'); END",
    );
    const nurse = { ...romeo, jid: "nurse@example.com", version: 8 };
    await assert.rejects(store.putRosterItem("juliet", nurse), { message: /boom/ });
    await assert.rejects(store.removeRosterItem("juliet", romeo.jid, 9), { message: /boom/ });
    assert.deepEqual(await store.getRoster("juliet"), { version: 7, items: [romeo] });
  });
});

Deno.test("SqliteImStore keeps offline messages when handing them over fails", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "im.db");
    using store = new SqliteImStore(path);
    await store.addOffline("juliet", { stamp: 1, stanza: "<m1/>" });
    await store.addOffline("juliet", { stamp: 2, stanza: "<m2/>" });
    exec(
      path,
      "CREATE TRIGGER fail BEFORE DELETE ON offline_messages BEGIN SELECT RAISE(ABORT, 'boom'); END",
    );
    await assert.rejects(store.takeOffline("juliet"), { message: /boom/ });
    assert.equal(await store.countOffline("juliet"), 2);
    exec(path, "DROP TRIGGER fail");
    assert.deepEqual((await store.takeOffline("juliet")).map((m) => m.stanza), ["<m1/>", "<m2/>"]);
  });
});

Deno.test("SqliteImStore leaves a PEP item as it was when republishing fails", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "im.db");
    using store = new SqliteImStore(path);
    await store.putPepItem("juliet", { node: "n", id: "1", payload: "<old/>" });
    exec(
      path,
      "CREATE TRIGGER fail BEFORE INSERT ON pep_items BEGIN SELECT RAISE(ABORT, 'boom'); END",
    );
    await assert.rejects(store.putPepItem("juliet", { node: "n", id: "1", payload: "<new/>" }), {
      message: /boom/,
    });
    assert.deepEqual(await store.getPepItems("juliet", "n"), [
      { node: "n", id: "1", payload: "<old/>" },
    ]);
  });
});

Deno.test("SqliteImStore keeps every acknowledged write when the writer is killed with SIGKILL", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "im.db");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-read", "--allow-write", WRITER, path],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const acked = { r: 0, o: 0 };
    let lines = 0;
    let killed = false;
    let rest = "";
    const decoder = new TextDecoder();
    // Kill the writer after 150 acknowledged pairs, while it keeps writing.
    for await (const chunk of child.stdout) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const parts = text.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        const match = /^([ro]) ([0-9]+)$/.exec(line);
        assert.ok(match, `unexpected writer output '${line}'`);
        const kind = match[1] as "r" | "o";
        const n = Number(match[2]);
        assert.equal(n, acked[kind] + 1, "acknowledgements arrive in order");
        acked[kind] = n;
        lines++;
      }
      if (!killed && acked.o >= 150) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    const status = await child.status;
    assert.ok(killed, `the writer stopped by itself: ${await stderr}`);
    await stderr;
    assert.equal(status.signal, "SIGKILL");
    assert.ok(lines >= 300);

    assert.deepEqual(query(path, "PRAGMA integrity_check"), [{ integrity_check: "ok" }]);
    using store = new SqliteImStore(path);
    const roster = await store.getRoster("juliet");
    assert.ok(roster.version >= acked.r, `version ${roster.version} < ${acked.r}`);
    const items = new Map(roster.items.map((item) => [item.jid, item]));
    for (let n = 1; n <= acked.r; n++) {
      assert.deepEqual(items.get(`contact${n}@example.net`), {
        jid: `contact${n}@example.net`,
        name: `Contact ${n}`,
        groups: ["Friends"],
        subscription: "none",
        ask: true,
        approved: false,
        version: n,
      }, `roster item ${n}`);
    }
    assert.ok(roster.items.length <= acked.r + 1, "at most one unacknowledged item");
    const messages = await store.takeOffline("juliet");
    assert.ok(messages.length >= acked.o && messages.length <= acked.o + 1);
    for (let n = 1; n <= acked.o; n++) {
      const message = messages[n - 1]!;
      assert.equal(message.stamp, 1_700_000_000_000 + n);
      assert.equal(
        message.stanza,
        `<message to='juliet@example.com' id='m${n}'><body>${n}</body></message>`,
      );
    }
  });
});
