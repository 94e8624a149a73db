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
