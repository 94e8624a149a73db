// Starts a real server on 127.0.0.1 port 0 for a test, with memory storage
// and quiet logs, and finds its ports.

import { Logger } from "../../src/core/log.ts";
import type { ServerConfigInput } from "../../src/config/schema.ts";
import { XmppServer, type XmppServerOptions } from "../../src/server.ts";

export interface TestServer extends AsyncDisposable {
  server: XmppServer;
  /** Port of the plain (STARTTLS-capable) c2s listener. */
  port: number;
  /** Port of the direct-TLS listener, when configured. */
  tlsPort: number | undefined;
  /** Log lines written so far (JSON). */
  logs: string[];
}

export async function startTestServer(
  config: ServerConfigInput = {},
  options: XmppServerOptions = {},
): Promise<TestServer> {
  const logs: string[] = [];
  const server = new XmppServer({
    domain: "localhost",
    listen: [{ type: "c2s", host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    accounts: [
      { jid: "alice@localhost", password: "alice-secret" },
      { jid: "bob@localhost", password: "bob-secret" },
    ],
    ...config,
  }, { logger: new Logger({ level: "debug", sink: (line) => logs.push(line) }), ...options });
  await server.start();
  const port = server.addresses.find((a) => a.type === "c2s")?.port ?? 0;
  const tlsPort = server.addresses.find((a) => a.type === "c2s_direct_tls")?.port;
  return {
    server,
    port,
    tlsPort,
    logs,
    [Symbol.asyncDispose]: () => server.stop(),
  };
}
