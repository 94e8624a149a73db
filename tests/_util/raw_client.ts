// A raw XMPP test client over a real socket: send text, read until what the
// test expects has arrived. Kept deliberately independent of src/ (its own
// tiny SCRAM and framing) so that tests check the server, not themselves.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export const STREAM_OPEN = (domain = "localhost") =>
  `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xml:lang='en' ` +
  `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;

export class RawClient implements AsyncDisposable {
  conn: Deno.Conn;
  #buffer = "";
  #closed = false;
  #chunk = new Uint8Array(65536);
  #pending: Promise<number | null> | undefined;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname, port }));
  }

  /** Connects from a chosen local address (any of 127.0.0.0/8 is loopback on Linux). */
  static connectFrom(port: number, localAddress: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: "127.0.0.1", port, localAddress }, () => {
        socket.off("error", reject);
        resolve(new RawClient(socketConn(socket)));
      });
      socket.once("error", reject);
    });
  }

  /** Direct TLS to `hostname` (which must name the certificate and resolve to the listener). */
  static async connectTls(
    port: number,
    caCert: string,
    hostname = "localhost",
  ): Promise<RawClient> {
    return new RawClient(await Deno.connectTls({ hostname, port, caCerts: [caCert] }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One read with a deadline; a read still pending at the deadline is kept for next time. */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#closed) return false;
    this.#pending ??= this.conn.read(this.#chunk).catch(() => null);
    const left = deadline - performance.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), left);
    });
    const n = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    if (n === "timeout") return false;
    this.#pending = undefined;
    if (n === null) {
      this.#closed = true;
      return false;
    }
    this.#buffer += decoder.decode(this.#chunk.subarray(0, n), { stream: true });
    return true;
  }

  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  /** Reads until `pattern` matches the unread buffer; consumes through the match and returns it. */
  async readUntil(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = typeof pattern === "string" ? this.#buffer.indexOf(pattern) : -1;
      const match = typeof pattern === "string" ? undefined : pattern.exec(this.#buffer);
      if (typeof pattern === "string" && index !== -1) {
        const out = this.#buffer.slice(0, index + pattern.length);
        this.#buffer = this.#buffer.slice(index + pattern.length);
        return out;
      }
      if (match) {
        const end = match.index + match[0].length;
        const out = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        return out;
      }
      if (this.#closed) {
        throw new Error(`Connection closed before ${pattern} arrived; unread: ${this.#buffer}`);
      }
      if (!(await this.#fill(deadline)) && !this.#closed) {
        throw new Error(`Timed out waiting for ${pattern}; unread: ${this.#buffer}`);
      }
    }
  }

  /** Waits for the server to close; returns everything unread. */
  async readToEnd(timeoutMs = 5000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#closed) {
      if (!(await this.#fill(deadline)) && !this.#closed) {
        throw new Error(`Timed out waiting for close; unread: ${this.#buffer}`);
      }
    }
    const out = this.#buffer;
    this.#buffer = "";
    return out;
  }

  /** Upgrades to TLS (after `<proceed/>`), trusting `caCert`. */
  async startTls(caCert: string, hostname = "localhost"): Promise<void> {
    // Reads are pulled, so no read is pending here (after <proceed/> the server sends nothing).
    if (this.#pending !== undefined) throw new Error("Cannot start TLS with a read pending");
    const tls = await Deno.startTls(this.conn as Deno.TcpConn, { hostname, caCerts: [caCert] });
    this.conn = tls;
    this.#buffer = "";
  }

  /** Opens a stream and reads the header and features. */
  async open(domain = "localhost"): Promise<string> {
    await this.send(STREAM_OPEN(domain));
    return await this.readUntil("</stream:features>");
  }

  /** SASL PLAIN, stream restart, bind; returns the bound JID. */
  async loginPlain(
    user: string,
    password: string,
    resource?: string,
    domain = "localhost",
  ): Promise<string> {
    await this.open(domain);
    const auth = btoa(`\0${user}\0${password}`);
    await this.send(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`,
    );
    await this.readUntil(/<success[^>]*\/>|<\/success>/);
    return await this.bind(resource, domain);
  }

  /** SASL SCRAM (independent client implementation), restart, bind. */
  async loginScram(
    user: string,
    password: string,
    hash: "sha1" | "sha256" = "sha256",
    resource?: string,
    domain = "localhost",
  ): Promise<string> {
    await this.open(domain);
    const mechanism = hash === "sha1" ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    const clientNonce = randomBytes(18).toString("base64");
    const clientFirstBare = `n=${user},r=${clientNonce}`;
    await this.send(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${
        btoa("n,," + clientFirstBare)
      }</auth>`,
    );
    const challenge = await this.readUntil(/<challenge[^>]*>([^<]*)<\/challenge>/);
    const serverFirst = atob(/<challenge[^>]*>([^<]*)<\/challenge>/.exec(challenge)![1]!);
    const fields = Object.fromEntries(serverFirst.split(",").map((p) => [p[0], p.slice(2)]));
    const salt = Buffer.from(fields.s!, "base64");
    const iterations = Number(fields.i);
    const keyLength = hash === "sha1" ? 20 : 32;
    const salted = pbkdf2Sync(password, salt, iterations, keyLength, hash);
    const clientKey = createHmac(hash, salted).update("Client Key").digest();
    const storedKey = createHash(hash).update(clientKey).digest();
    const finalNoProof = `c=${btoa("n,,")},r=${fields.r}`;
    const authMessage = `${clientFirstBare},${serverFirst},${finalNoProof}`;
    const signature = createHmac(hash, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!)).toString("base64");
    await this.send(
      `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${
        btoa(`${finalNoProof},p=${proof}`)
      }</response>`,
    );
    const success = await this.readUntil(/<success[^>]*>([^<]*)<\/success>/);
    const serverFinal = atob(/<success[^>]*>([^<]*)<\/success>/.exec(success)![1]!);
    const serverKey = createHmac(hash, salted).update("Server Key").digest();
    const expected = createHmac(hash, serverKey).update(authMessage).digest("base64");
    if (serverFinal !== `v=${expected}`) throw new Error(`Bad server signature: ${serverFinal}`);
    return await this.bind(resource, domain);
  }

  async bind(resource?: string, domain = "localhost"): Promise<string> {
    await this.open(domain);
    const inner = resource === undefined ? "" : `<resource>${resource}</resource>`;
    await this.send(
      `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${inner}</bind></iq>`,
    );
    const reply = await this.readUntil(/<iq[^>]*id="bind1"[^>]*>[\s\S]*?<\/iq>/);
    const jid = /<jid>([^<]*)<\/jid>/.exec(reply);
    if (!jid) throw new Error(`Bind failed: ${reply}`);
    return jid[1]!;
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#pending;
  }
}

/** The part of Deno.Conn the client uses, over a node:net socket. */
function socketConn(socket: Socket): Deno.Conn {
  const chunks: Uint8Array[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Uint8Array) => {
    chunks.push(chunk);
    wake?.();
  });
  socket.on("close", () => {
    ended = true;
    wake?.();
  });
  socket.on("error", () => {});
  const conn = {
    async read(buffer: Uint8Array): Promise<number | null> {
      while (chunks.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
      const chunk = chunks.shift();
      if (chunk === undefined) return null;
      const n = Math.min(buffer.length, chunk.length);
      buffer.set(chunk.subarray(0, n));
      if (n < chunk.length) chunks.unshift(chunk.subarray(n));
      return n;
    },
    write(data: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) =>
        socket.write(data, (error) => (error ? reject(error) : resolve(data.length)))
      );
    },
    close(): void {
      socket.destroy();
    },
  };
  return conn as unknown as Deno.Conn;
}
