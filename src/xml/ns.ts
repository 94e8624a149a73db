/**
 * Namespace URIs used across the server.
 *
 * @module
 */

/** RFC 6120 §4.8.2: the stream namespace, bound to the `stream:` prefix. */
export const NS_STREAMS = "http://etherx.jabber.org/streams";
/** RFC 6120 §4.8.3: the default content namespace for client streams. */
export const NS_CLIENT = "jabber:client";
/** RFC 6120 §4.9.3: stream error conditions. */
export const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";
/** RFC 6120 §8.3.3: stanza error conditions. */
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
/** RFC 6120 §5: STARTTLS. */
export const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";
/** RFC 6120 §6: SASL. */
export const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
/** RFC 6120 §7: resource binding. */
export const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
/** RFC 3921 session establishment, kept for older clients (RFC 6121 Appendix E). */
export const NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session";
/** XEP-0205 / XEP-0478 application error conditions. */
export const NS_XMPP_ERRORS = "urn:xmpp:errors";
/** XEP-0478 stream limits advertisement. */
export const NS_STREAM_LIMITS = "urn:xmpp:stream-limits:0";
/** XEP-0030 service discovery, info. */
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
/** XEP-0030 service discovery, items. */
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
/** XEP-0199 XMPP ping. */
export const NS_PING = "urn:xmpp:ping";
/** XEP-0092 software version. */
export const NS_VERSION = "jabber:iq:version";
/** RFC 6121 roster. */
export const NS_ROSTER = "jabber:iq:roster";
/** The `xml:` prefix, bound by definition. */
export const NS_XML = "http://www.w3.org/XML/1998/namespace";
