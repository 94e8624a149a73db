// The behaviour every AccountStore implementation shares, registered as Deno
// tests for one implementation at a time (memory_account_store_test.ts,
// sqlite_account_store_test.ts).

import assert from "node:assert/strict";
import { createAccountRecord } from "../../src/auth/credentials.ts";
import type { AccountStore } from "../../src/storage/account_store.ts";

/** Registers the shared tests for the store `name` builds with `create`. */
export function accountStoreContract(name: string, create: () => AccountStore): void {
  Deno.test(`${name}.has() tells whether an account exists, and rejects once closed`, async () => {
    const store = create();
    assert.equal(await store.has?.("juliet"), false);
    await store.put(await createAccountRecord("juliet", "r0m30", { iterations: 16 }));
    assert.equal(await store.has?.("juliet"), true);
    await store.delete("juliet");
    assert.equal(await store.has?.("juliet"), false);
    store.close();
    await assert.rejects(store.has!("juliet"));
  });
}
