// `deno task compile`: the single-binary build. Deno's compile step takes its
// runtime ("denort") from the DENORT_BIN environment variable when set, else
// from its cache, else downloads it from dl.deno.land, which machines without
// internet access cannot reach. These tests run the task's own command line.

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The compile task's arguments after `deno`, writing to `output` instead of dist/. */
async function compileArgs(output: string): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const [program, ...args] = (denoJson.tasks.compile as string).split(/\s+/);
  assert.equal(program, "deno");
  const at = args.indexOf("--output");
  assert.equal(args[at + 1], "dist/xmppd");
  args[at + 1] = output;
  return args;
}

async function compile(output: string, env: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: await compileArgs(output),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("deno task compile bakes in the server's permissions and its example configurations", async () => {
  const args = await compileArgs("out");
  assert.equal(args[0], "compile");
  for (
    const flag of ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"]
  ) {
    assert.ok(args.includes(flag), flag);
  }
  assert.ok(!args.includes("-A") && !args.includes("--allow-all") && !args.includes("--allow-run"));
  const included = args.flatMap((arg, i) => args[i - 1] === "--include" ? [arg] : []);
  assert.deepEqual(included, ["examples/config.yaml", "examples/hardened.yaml"]);
  assert.equal(args.at(-1), "src/cli/main.ts");
});

Deno.test("deno task compile builds the module graph and embeds the assets (deno itself as a stand-in runtime)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Any executable serves as DENORT_BIN for the build; only a real denort makes the result run the app.
    const { code, out } = await compile(`${dir}/xmppd`, { DENORT_BIN: Deno.execPath() });
    assert.equal(code, 0, out);
    assert.match(out, /Compile src\/cli\/main\.ts to /);
    assert.match(out, /Embedded Files/);
    assert.match(out, /examples \([\d.]+KB\)\n.*config\.yaml[\s\S]*hardened\.yaml/);
    assert.match(out, /src \([\d.]+MB\)[\s\S]*cli\//);
    assert.match(out, /yaml\/2\.9\.1/);
    assert.ok((await Deno.stat(`${dir}/xmppd`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile makes a working xmppd, or fails only at the runtime download when offline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The environment's DENORT_BIN (a real denort) is honoured when set.
    const { code, out } = await compile(`${dir}/xmppd`, {});
    if (code !== 0) {
      // Offline: the module graph was built and type-checked ("Compile" comes after both);
      // only the runtime download failed. (Deno fetches the runtime before it embeds
      // assets, which is why the stand-in test above checks the embedding.)
      assert.match(out, /Compile src\/cli\/main\.ts to /, out);
      assert.match(out, /Setting up base binary/, out);
      assert.match(
        out,
        new RegExp(`dl\\.deno\\.land/release/v${Deno.version.deno.replaceAll(".", "\\.")}/denort-`),
        out,
      );
      assert.doesNotMatch(out, /TS\d{4}|Could not find denort/, out);
      return;
    }
    const run = async (...args: string[]) => {
      const result = await new Deno.Command(`${dir}/xmppd`, { args }).output();
      return { code: result.code, text: new TextDecoder().decode(result.stdout) };
    };
    const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
    assert.deepEqual(await run("--version"), { code: 0, text: `xmppd ${denoJson.version}\n` });
    const hardened = await run("example-config", "--hardened");
    assert.equal(hardened.text, await Deno.readTextFile(`${ROOT}examples/hardened.yaml`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
