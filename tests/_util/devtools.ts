// Headless Chromium for tests: where it is, whether a test must fail without
// it (CI=true), a minimal DevTools Protocol client, and a bounded poll.

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

export function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Whether Chromium is installed. */
export const chromiumAvailable: boolean = exists(CHROMIUM);
/** Whether a missing Chromium must fail the test (CI) rather than skip it. */
export const chromiumRequired: boolean = Deno.env.get("CI") === "true";

/** A minimal Chrome DevTools Protocol client over the browser's WebSocket. */
export class DevTools implements AsyncDisposable {
  #socket: WebSocket;
  #next = 1;
  #pending = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  #closed: Promise<unknown>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.#closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.addEventListener("message", (event) => {
      const reply = JSON.parse(String(event.data));
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.error) pending.reject(new Error(`DevTools: ${reply.error.message}`));
      else pending.resolve(reply.result);
    });
  }

  static async connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", () => reject(new Error("DevTools connect failed")), {
        once: true,
      });
    });
    return new DevTools(socket);
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const pending = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, pending);
    this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId && { sessionId }) }));
    return pending.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#socket.readyState !== WebSocket.CLOSED) this.#socket.close();
    await this.#closed;
    for (const pending of this.#pending.values()) pending.reject(new Error("DevTools closed"));
  }
}

/** Polls until `read()` gives a value, for at most `ms` (an upper bound, not a wait). */
export async function until<T>(
  what: string,
  read: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * One page in a fresh headless Chromium, driven over the DevTools protocol.
 * Disposing it closes the browser (killing it at once if the test failed
 * before `close()`) and removes its profile.
 */
export class HeadlessPage implements AsyncDisposable {
  #chromium: Deno.ChildProcess;
  #profile: string;
  #devtools: DevTools;
  #sessionId: string;
  #closed = false;

  private constructor(
    chromium: Deno.ChildProcess,
    profile: string,
    devtools: DevTools,
    sessionId: string,
  ) {
    this.#chromium = chromium;
    this.#profile = profile;
    this.#devtools = devtools;
    this.#sessionId = sessionId;
  }

  /** Starts Chromium and opens `url` in a new tab. */
  static async open(url: string, options: { windowSize?: string } = {}): Promise<HeadlessPage> {
    const profile = await Deno.makeTempDir({ prefix: "xmppd-chromium-" });
    const chromium = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        ...(options.windowSize === undefined ? [] : [`--window-size=${options.windowSize}`]),
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      // Chromium writes the port it chose and the browser endpoint here.
      const [port, path] = await until("DevToolsActivePort", async () => {
        const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`).catch(() => "");
        const lines = text.trim().split("\n");
        return lines.length === 2 ? lines : undefined;
      });
      const devtools = await DevTools.connect(`ws://127.0.0.1:${port}${path}`);
      const { targetId } = await devtools.send("Target.createTarget", { url });
      const { sessionId } = await devtools.send("Target.attachToTarget", {
        targetId,
        flatten: true,
      }) as { sessionId: string };
      return new HeadlessPage(chromium, profile, devtools, sessionId);
    } catch (error) {
      chromium.kill("SIGKILL");
      await chromium.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Evaluates `expression` in the page (awaiting promises) and returns its value. */
  async evaluate(expression: string): Promise<unknown> {
    const reply = await this.#devtools.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }, this.#sessionId) as { result: { value?: unknown }; exceptionDetails?: { text: string } };
    if (reply.exceptionDetails) throw new Error(`Page: ${reply.exceptionDetails.text}`);
    return reply.result.value;
  }

  /** A PNG screenshot of the page. */
  async screenshot(): Promise<Uint8Array> {
    const shot = await this.#devtools.send(
      "Page.captureScreenshot",
      { format: "png" },
      this.#sessionId,
    );
    return Uint8Array.from(atob(String(shot.data)), (c) => c.charCodeAt(0));
  }

  /** Asks the browser to close; it then exits on its own. */
  async close(): Promise<void> {
    await this.#devtools.send("Browser.close").catch(() => undefined);
    this.#closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#devtools[Symbol.asyncDispose]();
    // After close() Chromium exits on its own; after a failure it is killed at once.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#chromium.status,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.#closed ? 5000 : 0);
      }),
    ]);
    clearTimeout(timer);
    if (exited === undefined) {
      this.#chromium.kill("SIGKILL");
      await this.#chromium.status;
    }
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}
