import assert from "node:assert/strict";
import { formatTable } from "../../src/cli/text_table.ts";

Deno.test("formatTable() aligns columns to the widest cell and leaves no trailing spaces", () => {
  assert.deepEqual(
    formatTable(["a", "bb", "c"], [["long cell", "x", ""], ["y", "wider cell", "last"]]),
    [
      "a          bb          c",
      "---------  ----------  ----",
      "long cell  x",
      "y          wider cell  last",
    ],
  );
});

Deno.test("formatTable() treats missing cells as empty", () => {
  assert.deepEqual(formatTable(["key", "value"], [["only"]]), [
    "key   value",
    "----  -----",
    "only",
  ]);
});
