/**
 * Compares the two stanza parsers behind the same framer: the default
 * TypeScript {@linkcode StanzaParser} and one shared sax-wasm instance. First
 * checks that both give identical elements on the corpus and the tricky
 * streams and reject the invalid ones, then times each on realistic traffic
 * and prints one JSON line per implementation.
 *
 * Run: `deno run -A bench/parser_bench.ts [seconds per measurement]`
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import type { Element } from "../src/xml/element.ts";
import { type ElementParser, StanzaParser } from "../src/xml/stanza_parser.ts";
import type { ParseError, ParserLimits } from "../src/xml/stream_parser.ts";
import { createStreamParser } from "../src/xml/xml_stream_parser.ts";
import { CORPUS, INVALID_STREAMS, mixedStream, STREAM_HEADER, TRICKY_STREAMS } from "./corpus.ts";
import { SaxWasmStanzaParser } from "./sax_wasm_parser.ts";

const LIMITS: ParserLimits = {
  maxStanzaBytes: 256 * 1024,
  maxStanzaBytesHard: 1024 * 1024,
  maxDepth: 32,
  maxAttributes: 64,
  maxNameLength: 256,
  maxAttributeValueLength: 64 * 1024,
  maxNamespaceDeclarations: 16,
  maxElementsPerStanza: 4096,
};
const CHUNK = 16 * 1024;
const encoder = new TextEncoder();

type Event = [string, Element | ParseError | undefined, number];

function events(parser: ElementParser, bytes: Uint8Array, chunk: number): Event[] {
  const out: Event[] = [];
  const stream = createStreamParser({
    streamStart(header) {
      out.push(["start", header, 0]);
    },
    stanza(stanza, size) {
      out.push(["stanza", stanza, size]);
    },
    oversizedStanza(head, size) {
      out.push(["oversized", head, size]);
    },
    streamEnd() {
      out.push(["end", undefined, 0]);
    },
    error(error) {
      out.push(["error", error, 0]);
    },
  }, { limits: LIMITS, elementParser: parser });
  for (let at = 0; at < bytes.length; at += chunk) stream.write(bytes.subarray(at, at + chunk));
  return out;
}

interface Correctness {
  identical: number;
  different: string[];
  rejected: number;
  missed: string[];
}

function check(parser: ElementParser, reference: ElementParser): Correctness {
  const result: Correctness = { identical: 0, different: [], rejected: 0, missed: [] };
  const valid: [string, Uint8Array][] = [
    ...TRICKY_STREAMS.map((xml, i): [string, Uint8Array] => [`tricky-${i}`, encoder.encode(xml)]),
    ...CORPUS.map((e): [string, Uint8Array] => [e.name, encoder.encode(STREAM_HEADER + e.xml)]),
    ["mixed", mixedStream(2).bytes],
  ];
  for (const [label, bytes] of valid) {
    for (const chunk of [bytes.length, 1000, 7]) {
      const mine = events(parser, bytes, chunk);
      const theirs = events(reference, bytes, chunk);
      const failed = mine.some((e) => e[0] === "error");
      if (!failed && isDeepStrictEqual(mine, theirs)) result.identical++;
      else result.different.push(`${label}/${chunk}`);
    }
  }
  for (const invalid of INVALID_STREAMS) {
    const last = events(parser, encoder.encode(invalid.xml), CHUNK).at(-1);
    if (last?.[0] === "error" && (last[1] as ParseError).condition === invalid.condition) {
      result.rejected++;
    } else {
      result.missed.push(invalid.name);
    }
  }
  return result;
}

interface Throughput {
  mbPerSec: number;
  stanzasPerSec: number;
}

function measure(parser: ElementParser, bytes: Uint8Array, seconds: number): Throughput {
  let stanzas = 0;
  const handler = {
    streamStart() {},
    stanza() {
      stanzas++;
    },
    oversizedStanza() {},
    streamEnd() {},
    error(error: ParseError) {
      throw new Error(`Cannot benchmark a failing stream: ${error.text}`);
    },
  };
  function once(): void {
    const stream = createStreamParser(handler, { limits: LIMITS, elementParser: parser });
    for (let at = 0; at < bytes.length; at += CHUNK) stream.write(bytes.subarray(at, at + CHUNK));
  }
  const warmUntil = performance.now() + seconds * 250;
  while (performance.now() < warmUntil) once();
  stanzas = 0;
  let fed = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < seconds * 1000) {
    once();
    fed += bytes.length;
    elapsed = performance.now() - start;
  }
  return {
    mbPerSec: Math.round(fed / 1e6 / (elapsed / 1000) * 10) / 10,
    stanzasPerSec: Math.round(stanzas / (elapsed / 1000)),
  };
}

function streamOf(names: (name: string) => boolean, copies: number): Uint8Array {
  const entries = CORPUS.filter((e) => names(e.name));
  const parts = [STREAM_HEADER];
  for (let i = 0; i < copies; i++) for (const e of entries) parts.push(e.xml);
  return encoder.encode(parts.join(""));
}

const seconds = Number(Deno.args[0] ?? 2);
const ts = new StanzaParser();
const sax = await SaxWasmStanzaParser.create();
const workloads: Record<string, Uint8Array> = {
  mixed: mixedStream(20).bytes,
  chat: streamOf((n) => n.startsWith("chat-"), 500),
  presence: streamOf((n) => n === "presence-caps", 2000),
  roster200: streamOf((n) => n === "roster-200", 40),
  body10k: streamOf((n) => n === "body-10k", 100),
};
for (const [impl, parser] of [["ts", ts], ["sax-wasm", sax]] as const) {
  const correctness = check(parser, ts);
  const line: Record<string, unknown> = {
    impl,
    correct: correctness.different.length === 0 && correctness.missed.length === 0,
    identicalToTs: correctness.identical,
    differentFromTs: correctness.different,
    invalidRejected: `${correctness.rejected}/${INVALID_STREAMS.length}`,
    invalidMissed: correctness.missed,
  };
  for (const [name, bytes] of Object.entries(workloads)) {
    line[name] = measure(parser, bytes, seconds);
  }
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(line) + "\n"));
}
