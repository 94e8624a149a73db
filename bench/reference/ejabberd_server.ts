/**
 * Starts Debian's ejabberd (when installed) on loopback with settings
 * equivalent to the bench configuration of this server: plain c2s without a
 * TLS requirement, PLAIN allowed, SCRAM-SHA-1 keys stored
 * (`auth_password_format: scram`), only roster, disco, ping and in-band
 * registration (no offline storage, MAM, carbons or stream management), a
 * c2s shaper with the same rate and burst, 256 KiB stanza limit, a listen
 * backlog of 1024 (with a small backlog the S1 storm loses SYNs), logs at
 * `warning`. Erlang distribution listens on 127.0.0.1 only and no `epmd`
 * daemon is started. Accounts are created once by in-band registration and
 * kept in the Mnesia spool for later runs.
 *
 * @module
 */

import { processTree } from "../loadgen/process_stats.ts";
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
 * The ejabberd configuration.
 *
 * @param port The c2s port.
 * @param bandwidth Per-connection bandwidth (the c2s shaper).
 * @returns YAML text.
 */
export function ejabberdConfig(port: number, bandwidth: Bandwidth = LIMITED): string {
  return `# Written by bench/reference/ejabberd_server.ts
hosts: [localhost]
loglevel: warning
log_rotate_count: 0
listen:
  - port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: c2s_shaper
    access: c2s
    starttls_required: false
    backlog: 1024
acl:
  local: { user_regexp: "" }
access_rules:
  c2s: { allow: all }
  register: { allow: all }
shaper:
  normal: { rate: ${bandwidth.rateKiB * 1024}, burst_size: ${bandwidth.burstKiB * 1024} }
shaper_rules:
  c2s_shaper: { normal: all }
  max_user_sessions: 10
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_register: { access: register, ip_access: all, password_strength: 0 }
`;
}

/** Whether ejabberd is installed (`ejabberdctl` on PATH). */
export async function ejabberdInstalled(): Promise<boolean> {
  return (await which("ejabberdctl")) !== undefined;
}

/**
 * Starts ejabberd in the foreground through `ejabberdctl`.
 *
 * @param bandwidth Per-connection bandwidth.
 * @returns The running server.
 * @throws {Error} If it does not start listening within 60 s.
 */
export async function startEjabberd(bandwidth: Bandwidth = LIMITED): Promise<BenchServer> {
  const dir = `${WORK_DIR}/ejabberd`;
  for (const sub of ["spool", "logs", "etc"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const port = freePort();
  const distPort = freePort();
  await Deno.writeTextFile(`${dir}/etc/ejabberd.yml`, ejabberdConfig(port, bandwidth));
  await Deno.writeTextFile(
    `${dir}/etc/ejabberdctl.cfg`,
    `ERLANG_NODE=ejabberd-bench@localhost\nERL_DIST_PORT=${distPort}\n` +
      `INET_DIST_INTERFACE=127.0.0.1\nERL_EPMD_ADDRESS=127.0.0.1\n`,
  );
  // The node runs as the `ejabberd` user, which must own its spool and logs.
  await commandOutput("chown", ["-R", "ejabberd:ejabberd", dir]);
  // As root, ejabberdctl would `su` to the ejabberd user, and su's PAM session drops the
  // open-files limit to 1024. Switching user with setpriv keeps this process's limit
  // (20,000 here, the same as the other servers get).
  const child = spawnLogged(
    "setpriv",
    [
      "--reuid=ejabberd",
      "--regid=ejabberd",
      "--init-groups",
      "ejabberdctl",
      "--config-dir",
      `${dir}/etc`,
      "--config",
      `${dir}/etc/ejabberd.yml`,
      "--ctl-config",
      `${dir}/etc/ejabberdctl.cfg`,
      "--spool",
      `${dir}/spool`,
      "--logs",
      `${dir}/logs`,
      "foreground",
    ],
    `${dir}/stdout.log`,
    { env: { HOME: "/var/lib/ejabberd" } },
  );
  try {
    await waitForPort(port, 60_000, () => !child.exited);
  } catch (error) {
    await child.stop("SIGKILL");
    throw error;
  }
  const version = (await commandOutput("dpkg-query", ["-W", "-f=${Version}", "ejabberd"])) ??
    "?";
  const probe = childProbe(child.pid);
  const stop = async () => {
    // The Erlang VM (a descendant of the wrapper) stops cleanly on SIGTERM;
    // signal exactly the processes this launcher started.
    for (const pid of processTree(child.pid)) {
      let comm = "";
      try {
        comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
      } catch {
        continue;
      }
      if (comm !== "beam.smp") continue;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // gone
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      child.status,
      new Promise((resolve) => (timer = setTimeout(resolve, 15_000))),
    ]);
    clearTimeout(timer);
    await child.stop("SIGTERM", 5_000);
  };
  return {
    name: "ejabberd",
    version: `ejabberd ${version}`,
    port,
    pid: child.pid,
    probe,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
