// Child process for the SIGKILL durability test in sqlite_im_store_test.ts:
// writes roster items and offline messages to the SQLite IM store at
// Deno.args[0] as fast as it can, and prints one line after each write has
// been acknowledged (its promise resolved): "r <n>" for roster item n,
// "o <n>" for offline message n. It never stops by itself.

import { SqliteImStore } from "../../src/storage/sqlite_im_store.ts";

if (import.meta.main) await main();

async function main(): Promise<void> {
  const path = Deno.args[0];
  if (path === undefined) throw new TypeError("Usage: _im_store_writer.ts <database path>");
  const store = new SqliteImStore(path);
  const encoder = new TextEncoder();
  const say = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
  for (let n = 1;; n++) {
    await store.putRosterItem("juliet", {
      jid: `contact${n}@example.net`,
      name: `Contact ${n}`,
      groups: ["Friends"],
      subscription: "none",
      ask: true,
      approved: false,
      version: n,
    });
    say(`r ${n}`);
    const stored = await store.addOffline("juliet", {
      stamp: 1_700_000_000_000 + n,
      stanza: `<message to='juliet@example.com' id='m${n}'><body>${n}</body></message>`,
    }, { maxMessages: Number.MAX_SAFE_INTEGER });
    if (!stored) throw new Error(`Offline message ${n} was refused`);
    say(`o ${n}`);
  }
}
