/**
 * Reads the server configuration from YAML (1.2, core schema): the YAML
 * mapping is the same object {@linkcode resolveConfig} takes in code. YAML
 * syntax errors, duplicate keys, unknown tags and empty values become
 * {@linkcode ConfigError}s, and every validation error gets the line and
 * column of the offending key.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { resolveConfig, type ResolveConfigOptions, type ServerConfig } from "./schema.ts";
import { childPath, ConfigError } from "./validate.ts";

/** Options for {@linkcode parseConfigYaml}. */
export interface ParseConfigYamlOptions extends ResolveConfigOptions {
  /**
   * Name of the text's origin (a file path) used in syntax error messages.
   *
   * @default {undefined}
   */
  source?: string;
}

/** Aliases allowed while building the object; far above any real config, far below a "billion laughs" document. */
const MAX_ALIAS_COUNT = 100;

const LAST_SEGMENT_REGEXP = /(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])$/;

interface Position {
  line: number;
  column: number;
}

/** Walks the document once: rejects empty values and records where each key path starts. */
function indexPositions(
  node: Node | null,
  path: string,
  at: (offset: number) => Position,
  positions: Map<string, Position>,
): void {
  if (node === null || isAlias(node)) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      const keyAt = at(key?.range?.[0] ?? node.range?.[0] ?? 0);
      if (!isScalar(key) || (typeof key.value !== "string" && typeof key.value !== "number")) {
        throw new ConfigError(path, "expected plain text keys, got a complex or empty key", keyAt);
      }
      const keyPath = childPath(path, String(key.value));
      positions.set(keyPath, keyAt);
      checkNotEmpty(pair.value as Node | null, keyPath, keyAt);
      indexPositions(pair.value as Node | null, keyPath, at, positions);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const itemPath = childPath(path, i);
      const itemAt = at((item as Node | null)?.range?.[0] ?? node.range?.[0] ?? 0);
      positions.set(itemPath, itemAt);
      checkNotEmpty(item as Node | null, itemPath, itemAt);
      indexPositions(item as Node | null, itemPath, at, positions);
    });
  }
}

/**
 * An empty value (`max:` with nothing after it) reads as null, which would
 * silently mean "unlimited" for a limit; an explicit `~`/`null` is accepted.
 */
function checkNotEmpty(node: Node | null, path: string, position: Position): void {
  if (node === null || (isScalar(node) && node.value === null && node.source === "")) {
    throw new ConfigError(
      path,
      'expected a value, got an empty entry (remove the key to use its default, or write "unlimited" to turn a limit off)',
      position,
    );
  }
}

function positionOf(positions: Map<string, Position>, path: string): Position | undefined {
  for (let current = path;;) {
    const found = positions.get(current);
    if (found !== undefined || current === "") return found;
    const trimmed = current.replace(LAST_SEGMENT_REGEXP, "");
    current = trimmed === current ? "" : trimmed;
  }
}

/**
 * Parses YAML text and resolves it as a server configuration. An empty
 * document is an empty configuration (every default).
 *
 * @param text The YAML text.
 * @param options `baseDir` for relative paths (see {@linkcode resolveConfig}) and the `source` name for messages.
 * @returns The resolved configuration.
 * @throws {ConfigError} For YAML syntax errors, duplicate keys, unknown tags,
 * aliases beyond 100, empty values, and every validation error; `line` and
 * `column` point into `text`.
 *
 * @example Usage
 * ```ts
 * import { parseConfigYaml } from "./load_yaml.ts";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfigYaml("domain: example.org\nlimits:\n  stanza_size: 64KiB\n");
 * assert.equal(config.domain, "example.org");
 * assert.equal(config.limits.stanza_size, 65536);
 *
 * assert.throws(() => parseConfigYaml("limits:\n  bandwidth:\n    rate: fast\n"), {
 *   name: "ConfigError",
 *   message:
 *     'limits.bandwidth.rate: expected a rate like "10KiB/s" or "unlimited", got "fast" (line 3, column 5)',
 * });
 * ```
 */
export function parseConfigYaml(text: string, options: ParseConfigYamlOptions = {}): ServerConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    version: "1.2",
    schema: "core",
    merge: false,
  });
  function at(offset: number): Position {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  }
  const origin = options.source === undefined ? "" : ` in ${JSON.stringify(options.source)}`;
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const message = problem.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError("", `Cannot parse YAML${origin}: ${message}`, {
      ...at(problem.pos[0]),
      cause: problem,
    });
  }
  const positions = new Map<string, Position>();
  if (doc.contents !== null) positions.set("", at(doc.contents.range?.[0] ?? 0));
  indexPositions(doc.contents as Node | null, "", at, positions);
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? undefined;
  } catch (error) {
    throw new ConfigError("", `Cannot parse YAML${origin}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return resolveConfig(input, options);
  } catch (error) {
    if (!(error instanceof ConfigError) || error.line !== undefined) throw error;
    const position = positionOf(positions, error.path);
    if (position === undefined) throw error;
    throw new ConfigError(error.path, error.problem, { ...position, cause: error });
  }
}

/**
 * Reads a YAML configuration file and resolves it; relative paths in it
 * (`tls.cert`, `tls.key`, `storage.path`) are resolved against the file's
 * directory.
 *
 * @param path The file path or `file:` URL.
 * @returns The resolved configuration.
 * @throws {ConfigError} When the file cannot be read (the cause is the
 * `Deno.errors` error), and everything {@linkcode parseConfigYaml} throws.
 *
 * @example Usage
 * ```ts
 * import { loadConfigFile } from "./load_yaml.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/xmppd.yaml`, "storage:\n  path: db.sqlite\n");
 * const config = await loadConfigFile(`${dir}/xmppd.yaml`);
 * assert.deepEqual(config.storage, { type: "sqlite", path: `${dir}/db.sqlite` });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadConfigFile(path: string | URL): Promise<ServerConfig> {
  const file = resolve(path instanceof URL ? fileURLToPath(path) : path);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(
      "",
      `Cannot read config file ${JSON.stringify(file)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseConfigYaml(text, { baseDir: dirname(file), source: file });
}
