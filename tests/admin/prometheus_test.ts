import assert from "node:assert/strict";
import { ExpositionWriter } from "../../src/admin/prometheus.ts";
import { parseExposition } from "./_exposition.ts";

Deno.test("ExpositionWriter escapes help text and label values", () => {
  const out = new ExpositionWriter();
  out.family("x_total", "counter", "Back\\slash and\nnewline.");
  out.sample(1, { jid: 'a"b\\c\nd' });
  out.sample(Infinity, { jid: "" });
  out.family("y", "gauge", "Gauge.");
  out.sample(NaN);
  out.sample(-2.5, {});
  const text = out.text();
  assert.equal(
    text,
    "# HELP x_total Back\\\\slash and\\nnewline.\n# TYPE x_total counter\n" +
      'x_total{jid="a\\"b\\\\c\\nd"} 1\nx_total{jid=""} +Inf\n' +
      "# HELP y Gauge.\n# TYPE y gauge\ny NaN\ny -2.5\n",
  );
  const parsed = parseExposition(text.replace("y -2.5\n", ""));
  assert.equal(parsed.get("x_total")!.help, "Back\\slash and\nnewline.");
  assert.deepEqual(parsed.get("x_total")!.samples[0]!.labels, { jid: 'a"b\\c\nd' });
});

Deno.test("ExpositionWriter refuses bad names, repeated families and counters without _total", () => {
  const out = new ExpositionWriter();
  assert.throws(() => out.sample(1), { message: "Cannot write sample: no metric declared" });
  assert.throws(() => out.family("bad-name", "gauge", "x"), RangeError);
  assert.throws(() => out.family("logins", "counter", "x"), {
    name: "RangeError",
    message: "Cannot declare counter 'logins': its name must end in '_total'",
  });
  out.family("ok_total", "counter", "x");
  assert.throws(() => out.family("ok_total", "counter", "x"), RangeError);
  assert.throws(() => out.sample(1, { "bad-label": "x" }), RangeError);
  assert.throws(() => out.sample(1, { __reserved: "x" }), RangeError);
  assert.equal(new ExpositionWriter().text(), "");
});
