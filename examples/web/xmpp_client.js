// A small XMPP client for browsers over the RFC 7395 WebSocket binding:
// <open/> framing, SASL SCRAM-SHA-256 / SCRAM-SHA-1 (WebCrypto) or PLAIN,
// resource binding, presence, and chat messages. No dependencies.

const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const NS_STREAMS = "http://etherx.jabber.org/streams";
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_CLIENT = "jabber:client";

const encoder = new TextEncoder();

/** Escapes text for use in XML content and attribute values. */
export function escapeXml(text) {
  return String(text).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&apos;");
}

function base64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function unbase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** RFC 5802 §5.1: "=" and "," in a username are escaped. */
function saslName(name) {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

async function hmac(hash, key, data) {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(data)));
}

/** The SCRAM client proof and expected server signature (RFC 5802 §3). */
async function scramProof(hash, password, salt, iterations, authMessage) {
  const bits = hash === "SHA-256" ? 256 : 160;
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const salted = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "PBKDF2", hash, salt, iterations }, key, bits),
  );
  const clientKey = await hmac(hash, salted, "Client Key");
  const storedKey = new Uint8Array(await crypto.subtle.digest(hash, clientKey));
  const clientSignature = await hmac(hash, storedKey, authMessage);
  const proof = clientKey.map((byte, i) => byte ^ clientSignature[i]);
  const serverKey = await hmac(hash, salted, "Server Key");
  const serverSignature = await hmac(hash, serverKey, authMessage);
  return { proof: base64(proof), serverSignature: base64(serverSignature) };
}

function attributes(text) {
  const out = {};
  for (const part of text.split(",")) out[part.slice(0, 1)] = part.slice(2);
  return out;
}

/**
 * One XMPP session over WebSocket. Events: "status" (detail: text),
 * "message" (detail: { from, body, type }), "closed" (detail: reason).
 */
export class XmppWebSocketClient extends EventTarget {
  #url;
  #jid;
  #password;
  #resource;
  #socket;
  #inbox = [];
  #waiters = [];
  #closed = false;
  #boundJid = "";

  /**
   * @param {{ url: string, jid: string, password: string, resource?: string }} options
   */
  constructor(options) {
    super();
    this.#url = options.url;
    this.#jid = options.jid;
    this.#password = options.password;
    this.#resource = options.resource ?? "web";
  }

  /** The full JID once bound. */
  get jid() {
    return this.#boundJid;
  }

  /** Connects, authenticates, binds and sends initial presence; resolves with the full JID. */
  async connect() {
    const [local, domain] = this.#jid.split("@");
    if (!local || !domain) throw new TypeError(`Cannot connect: '${this.#jid}' is not a bare JID`);
    this.#status("connecting");
    const socket = new WebSocket(this.#url, "xmpp");
    this.#socket = socket;
    socket.addEventListener("message", (event) => this.#receive(String(event.data)));
    socket.addEventListener("close", (event) => this.#gone(`socket closed (${event.code})`));
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", () => reject(new Error("WebSocket failed")), {
        once: true,
      });
    });
    let features = await this.#openStream(domain);
    await this.#authenticate(local, features);
    features = await this.#openStream(domain);
    if (!features.getElementsByTagNameNS(NS_BIND, "bind").length) {
      throw new Error("The server offers no resource binding");
    }
    this.#write(
      `<iq xmlns="${NS_CLIENT}" type="set" id="bind1"><bind xmlns="${NS_BIND}">` +
        `<resource>${escapeXml(this.#resource)}</resource></bind></iq>`,
    );
    const bound = await this.#next((el) =>
      el.localName === "iq" && el.getAttribute("id") === "bind1"
    );
    const jid = bound.getElementsByTagNameNS(NS_BIND, "jid")[0]?.textContent;
    if (bound.getAttribute("type") !== "result" || !jid) throw new Error("Resource binding failed");
    this.#boundJid = jid;
    this.#write(`<presence xmlns="${NS_CLIENT}"/>`);
    this.#status("online");
    return jid;
  }

  /** Sends a chat message. */
  sendMessage(to, body) {
    this.#write(
      `<message xmlns="${NS_CLIENT}" to="${escapeXml(to)}" type="chat" ` +
        `id="m${crypto.randomUUID().slice(0, 8)}"><body>${escapeXml(body)}</body></message>`,
    );
  }

  /** Closes the stream (RFC 7395 §3.6): <close/>, then the server closes the socket. */
  disconnect() {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#write(`<close xmlns="${NS_FRAMING}"/>`);
  }

  async #openStream(domain) {
    this.#write(`<open xmlns="${NS_FRAMING}" to="${escapeXml(domain)}" version="1.0"/>`);
    await this.#next((el) => el.localName === "open" && el.namespaceURI === NS_FRAMING);
    return await this.#next((el) => el.localName === "features" && el.namespaceURI === NS_STREAMS);
  }

  async #authenticate(local, features) {
    const offered = [...features.getElementsByTagNameNS(NS_SASL, "mechanism")]
      .map((el) => el.textContent);
    const scram = ["SCRAM-SHA-256", "SCRAM-SHA-1"].find((name) => offered.includes(name));
    if (scram && globalThis.crypto?.subtle) {
      await this.#scram(scram, local);
    } else if (offered.includes("PLAIN")) {
      this.#write(
        `<auth xmlns="${NS_SASL}" mechanism="PLAIN">` +
          `${base64(encoder.encode(`\0${local}\0${this.#password}`))}</auth>`,
      );
      await this.#saslOutcome();
    } else {
      throw new Error(`No usable SASL mechanism among: ${offered.join(", ") || "none"}`);
    }
    this.#status("authenticated");
  }

  async #scram(mechanism, local) {
    const hash = mechanism === "SCRAM-SHA-256" ? "SHA-256" : "SHA-1";
    const nonce = base64(crypto.getRandomValues(new Uint8Array(18)));
    const clientFirstBare = `n=${saslName(local)},r=${nonce}`;
    this.#write(
      `<auth xmlns="${NS_SASL}" mechanism="${mechanism}">` +
        `${base64(encoder.encode("n,," + clientFirstBare))}</auth>`,
    );
    const challenge = await this.#next((el) => el.namespaceURI === NS_SASL);
    if (challenge.localName !== "challenge") throw new Error("Authentication failed");
    const serverFirst = new TextDecoder().decode(unbase64(challenge.textContent ?? ""));
    const server = attributes(serverFirst);
    if (!server.r?.startsWith(nonce)) throw new Error("The server's nonce does not extend ours");
    const finalWithoutProof = `c=biws,r=${server.r}`;
    const authMessage = `${clientFirstBare},${serverFirst},${finalWithoutProof}`;
    const { proof, serverSignature } = await scramProof(
      hash,
      this.#password,
      unbase64(server.s),
      Number(server.i),
      authMessage,
    );
    this.#write(
      `<response xmlns="${NS_SASL}">` +
        `${base64(encoder.encode(`${finalWithoutProof},p=${proof}`))}</response>`,
    );
    const success = await this.#saslOutcome();
    const verifier = attributes(new TextDecoder().decode(unbase64(success.textContent ?? ""))).v;
    if (verifier !== serverSignature) throw new Error("The server's signature does not verify");
  }

  async #saslOutcome() {
    const outcome = await this.#next((el) =>
      el.namespaceURI === NS_SASL && (el.localName === "success" || el.localName === "failure")
    );
    if (outcome.localName === "failure") {
      const reason = outcome.firstElementChild?.localName ?? "failure";
      throw new Error(`Authentication failed: ${reason}`);
    }
    return outcome;
  }

  #write(text) {
    this.#socket.send(text);
  }

  #receive(text) {
    const doc = new DOMParser().parseFromString(text, "text/xml");
    const el = doc.documentElement;
    if (el.getElementsByTagName("parsererror").length) return;
    if (el.localName === "close" && el.namespaceURI === NS_FRAMING) {
      this.#gone("stream closed by the server");
      return;
    }
    if (el.localName === "error" && el.namespaceURI === NS_STREAMS) {
      this.#gone(`stream error: ${el.firstElementChild?.localName ?? "unknown"}`);
      return;
    }
    if (this.#boundJid && el.localName === "message" && el.namespaceURI === NS_CLIENT) {
      const body = el.getElementsByTagName("body")[0]?.textContent;
      if (body !== undefined && body !== null) {
        this.dispatchEvent(
          new CustomEvent("message", {
            detail: { from: el.getAttribute("from") ?? "", body, type: el.getAttribute("type") },
          }),
        );
      }
      return;
    }
    const index = this.#waiters.findIndex((waiter) => waiter.match(el));
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      waiter.resolve(el);
    } else {
      this.#inbox.push(el);
    }
  }

  #next(match) {
    const index = this.#inbox.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0]);
    if (this.#closed) return Promise.reject(new Error("Disconnected"));
    return new Promise((resolve, reject) => this.#waiters.push({ match, resolve, reject }));
  }

  #gone(reason) {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(reason));
    this.#status("offline");
    this.dispatchEvent(new CustomEvent("closed", { detail: reason }));
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.close();
  }

  #status(text) {
    this.dispatchEvent(new CustomEvent("status", { detail: text }));
  }
}
