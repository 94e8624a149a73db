// A strict reader of the Prometheus text exposition format (0.0.4), written
// from the format's description, independent of src/admin/prometheus.ts: the
// tests parse what the server serves rather than trusting the writer.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function unescapeHelp(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new SyntaxError(`Bad value '${text}' in: ${line}`);
  }
  return Number(text);
}

/** Reads `{a="x",b="y"}` starting at `start`; returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === "}") return [labels, i + 1];
    const eq = line.indexOf("=", i);
    if (eq < 0) throw new SyntaxError(`Bad labels in: ${line}`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new SyntaxError(`Bad label name '${name}' in: ${line}`);
    if (name in labels) throw new SyntaxError(`Repeated label '${name}' in: ${line}`);
    if (line[eq + 1] !== '"') throw new SyntaxError(`Unquoted label value in: ${line}`);
    let value = "";
    let j = eq + 2;
    for (;; j++) {
      const c = line[j];
      if (c === undefined) throw new SyntaxError(`Unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === "\\") {
        const next = line[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new SyntaxError(`Bad escape '\\${next}' in: ${line}`);
      } else {
        value += c;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new SyntaxError(`Expected ',' or '}' in: ${line}`);
  }
}

/**
 * Parses an exposition and checks it: one HELP and one TYPE per family,
 * declared before its samples, samples of a family together, no repeated
 * series, counters named `*_total` with values >= 0, and a final newline.
 */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new SyntaxError("The exposition must end with a newline");
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const closed = new Set<string>();
  let current: Family | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") throw new SyntaxError("Unexpected empty line");
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new SyntaxError(`Bad metric name '${name}'`);
      let family = families.get(name);
      if (family === undefined) {
        if (current !== undefined) closed.add(current.name);
        family = { name, type: "", help: "", samples: [] };
        families.set(name, family);
        current = family;
      } else if (family !== current || family.samples.length > 0) {
        throw new SyntaxError(`Metadata of '${name}' after its samples or another family`);
      }
      if (kind === "HELP") {
        if (family.help !== "") throw new SyntaxError(`Second HELP for '${name}'`);
        family.help = unescapeHelp(rest);
      } else {
        if (family.type !== "") throw new SyntaxError(`Second TYPE for '${name}'`);
        if (!TYPES.has(rest)) throw new SyntaxError(`Bad type '${rest}' for '${name}'`);
        family.type = rest;
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new SyntaxError(`Bad sample line: ${line}`);
    const name = line.slice(0, nameEnd);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (line[nameEnd] === "{") [labels, rest] = parseLabels(line, nameEnd);
    if (line[rest] !== " ") throw new SyntaxError(`Expected a space before the value: ${line}`);
    const fields = line.slice(rest + 1).split(" ");
    if (fields.length > 2) throw new SyntaxError(`Too many fields: ${line}`);
    const value = parseValue(fields[0]!, line);
    const family = families.get(name);
    if (family === undefined || family.type === "") {
      throw new SyntaxError(`Sample of '${name}' before its TYPE line`);
    }
    if (family !== current || closed.has(name)) {
      throw new SyntaxError(`Samples of '${name}' are not together`);
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (series.has(key)) throw new SyntaxError(`Repeated series: ${line}`);
    series.add(key);
    if (family.type === "counter" && !(value >= 0)) {
      throw new SyntaxError(`Counter '${name}' has value ${value}`);
    }
    family.samples.push({ name, labels, value });
  }
  for (const family of families.values()) {
    if (family.type === "" || family.help === "") {
      throw new SyntaxError(`Family '${family.name}' lacks HELP or TYPE`);
    }
    if (family.type === "counter" && !family.name.endsWith("_total")) {
      throw new SyntaxError(`Counter '${family.name}' does not end in _total`);
    }
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches =
    families.get(name)?.samples.filter((s) =>
      Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    ) ?? [];
  if (matches.length > 1) {
    throw new Error(`Several samples of ${name} match ${JSON.stringify(labels)}`);
  }
  return matches[0]?.value;
}
