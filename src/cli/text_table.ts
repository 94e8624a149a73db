/**
 * Plain-text tables for the command line's reports.
 *
 * @module
 */

/**
 * Lays out rows under headers in aligned columns separated by two spaces,
 * with a dashed rule under the headers. The last column is not padded, so
 * lines carry no trailing spaces.
 *
 * @param headers The column titles.
 * @param rows The cells, one array per row; missing cells are empty.
 * @returns The lines of the table.
 *
 * @example Usage
 * ```ts
 * import { formatTable } from "./text_table.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatTable(["limit", "value"], [["stanza_size", "256KiB"], ["mode", "enforce"]]), [
 *   "limit        value",
 *   "-----------  -------",
 *   "stanza_size  256KiB",
 *   "mode         enforce",
 * ]);
 * ```
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    widths.map((width, column) => {
      const cell = cells[column] ?? "";
      return column === widths.length - 1 ? cell : cell.padEnd(width);
    }).join("  ").trimEnd();
  return [line(headers), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
}
