/**
 * Starts Debian's Prosody (when installed) on loopback with settings
 * equivalent to the bench configuration of this server: plain c2s without a
 * TLS requirement, PLAIN allowed, SCRAM-SHA-1 keys stored
 * (`internal_hashed`, 4096 iterations), no offline storage, no s2s,
 * `mod_limits` with the same rate and burst, 256 KiB stanza limit,
 * logs at `warn`. Accounts are created once by in-band registration and
 * kept in the data directory for later runs.
 *
 * @module
 */

import {
  type Bandwidth,
  type BenchServer,
  childProbe,
  commandOutput,
  freePort,
  LIMITED,
  spawnLogged,
  waitForPort,
  which,
  WORK_DIR,
} from "./bench_server.ts";

/**
 * The Prosody configuration.
 *
 * @param dir Working directory (data, log, pid file).
 * @param port The c2s port.
 * @param bandwidth Per-connection bandwidth (mod_limits).
 * @returns Lua configuration text.
 */
export function prosodyConfig(dir: string, port: number, bandwidth: Bandwidth = LIMITED): string {
  return `-- Written by bench/reference/prosody_server.ts
run_as_root = true
pidfile = "${dir}/prosody.pid"
data_path = "${dir}/data"
log = { warn = "${dir}/prosody.log" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "register"; "limits"; "posix" }
modules_disabled = { "s2s"; "offline" }
authentication = "internal_hashed"
default_iteration_count = 4096
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = true
c2s_stanza_size_limit = 256 * 1024
limits = { c2s = { rate = "${bandwidth.rateKiB}kb/s"; burst = "${
    bandwidth.burstKiB / bandwidth.rateKiB
  }s" } }
VirtualHost "localhost"
`;
}

/** Whether Prosody is installed (`prosody` on PATH). */
export async function prosodyInstalled(): Promise<boolean> {
  return (await which("prosody")) !== undefined;
}

/**
 * Starts Prosody.
 *
 * @param bandwidth Per-connection bandwidth.
 * @returns The running server.
 * @throws {Error} If it does not start listening within 30 s.
 */
export async function startProsody(bandwidth: Bandwidth = LIMITED): Promise<BenchServer> {
  const dir = `${WORK_DIR}/prosody`;
  await Deno.mkdir(`${dir}/data`, { recursive: true });
  const port = freePort();
  const configPath = `${dir}/prosody.cfg.lua`;
  await Deno.writeTextFile(configPath, prosodyConfig(dir, port, bandwidth));
  const child = spawnLogged("prosody", ["-F", "--config", configPath], `${dir}/stdout.log`);
  try {
    await waitForPort(port, 30_000, () => !child.exited);
  } catch (error) {
    await child.stop("SIGKILL");
    throw error;
  }
  const version = (await commandOutput("dpkg-query", ["-W", "-f=${Version}", "prosody"])) ??
    "?";
  const stop = () => child.stop("SIGTERM", 10_000);
  return {
    name: "prosody",
    version: `Prosody ${version}`,
    port,
    pid: child.pid,
    probe: childProbe(child.pid),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
