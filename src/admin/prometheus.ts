/**
 * A writer for the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and one `# TYPE` line per metric family, then its samples, with
 * names checked and label values escaped.
 *
 * @module
 */

/** The `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The metric types this writer emits. */
export type MetricType = "counter" | "gauge";

/** Label names to values of one sample. */
export type Labels = Readonly<Record<string, string>>;

const METRIC_NAME_REGEXP = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_REGEXP = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabelValue(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Builds one exposition text. Families are written in the order they are
 * declared and each family's samples follow its `TYPE` line, as the format
 * requires.
 *
 * @example Usage
 * ```ts
 * import { ExpositionWriter } from "./prometheus.ts";
 * import assert from "node:assert/strict";
 *
 * const out = new ExpositionWriter();
 * out.family("xmppd_logins_total", "counter", "Successful logins.");
 * out.sample(3);
 * out.family("xmppd_connections", "gauge", "Open connections by transport.");
 * out.sample(2, { transport: "tcp" });
 * assert.equal(
 *   out.text(),
 *   "# HELP xmppd_logins_total Successful logins.\n" +
 *     "# TYPE xmppd_logins_total counter\n" +
 *     "xmppd_logins_total 3\n" +
 *     "# HELP xmppd_connections Open connections by transport.\n" +
 *     "# TYPE xmppd_connections gauge\n" +
 *     'xmppd_connections{transport="tcp"} 2\n',
 * );
 * ```
 */
export class ExpositionWriter {
  #lines: string[] = [];
  #families = new Set<string>();
  #current: string | undefined;

  /**
   * Starts a metric family; its samples follow with {@linkcode ExpositionWriter.sample}.
   *
   * @param name The metric name; a counter's must end in `_total`.
   * @param type `counter` (only goes up) or `gauge`.
   * @param help One line saying what it counts, with its unit.
   * @throws {RangeError} If the name is invalid, repeated, or a counter's lacks `_total`.
   */
  family(name: string, type: MetricType, help: string): void {
    if (!METRIC_NAME_REGEXP.test(name)) {
      throw new RangeError(`Cannot declare metric: invalid name '${name}'`);
    }
    if (this.#families.has(name)) {
      throw new RangeError(`Cannot declare metric: '${name}' is already declared`);
    }
    if (type === "counter" && !name.endsWith("_total")) {
      throw new RangeError(`Cannot declare counter '${name}': its name must end in '_total'`);
    }
    this.#families.add(name);
    this.#current = name;
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /**
   * Writes a sample of the current family.
   *
   * @param value The value.
   * @param labels The sample's labels, if any.
   * @throws {RangeError} If no family is declared or a label name is invalid.
   */
  sample(value: number, labels?: Labels): void {
    const name = this.#current;
    if (name === undefined) throw new RangeError("Cannot write sample: no metric declared");
    let line = name;
    if (labels !== undefined) {
      const parts: string[] = [];
      for (const key in labels) {
        if (!LABEL_NAME_REGEXP.test(key) || key.startsWith("__")) {
          throw new RangeError(`Cannot write sample of '${name}': invalid label name '${key}'`);
        }
        parts.push(`${key}="${escapeLabelValue(labels[key]!)}"`);
      }
      if (parts.length > 0) line += "{" + parts.join(",") + "}";
    }
    this.#lines.push(line + " " + formatValue(value));
  }

  /**
   * The exposition text so far, ending in a newline.
   *
   * @returns The text to serve at `/metrics`.
   */
  text(): string {
    return this.#lines.length === 0 ? "" : this.#lines.join("\n") + "\n";
  }
}
