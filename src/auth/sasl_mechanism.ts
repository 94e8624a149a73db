/**
 * The contract for server-side SASL mechanisms (RFC 6120 §6, RFC 4422).
 *
 * @module
 */

/** RFC 6120 §6.5 failure conditions. */
export type SaslFailureCondition =
  | "aborted"
  | "account-disabled"
  | "credentials-expired"
  | "encryption-required"
  | "incorrect-encoding"
  | "invalid-authzid"
  | "invalid-mechanism"
  | "malformed-request"
  | "mechanism-too-weak"
  | "not-authorized"
  | "temporary-auth-failure";

/**
 * What one step of an exchange produced. Data given as a string is ASCII
 * text, sent as is: SCRAM's messages are, and encoding them to bytes first
 * costs a typed array per step.
 */
export type SaslStep =
  | { kind: "challenge"; data: Uint8Array | string }
  | { kind: "success"; username: string; data?: Uint8Array | string }
  | { kind: "failure"; condition: SaslFailureCondition; text?: string };

/** One authentication attempt in progress. */
export interface SaslExchange {
  /**
   * Consumes the client's next message (the initial response first; an empty
   * array when none was sent) and returns the server's answer.
   */
  step(response: Uint8Array): Promise<SaslStep>;
}

/** Facts about the stream a mechanism may need. */
export interface SaslContext {
  /** Whether the stream is encrypted. */
  encrypted: boolean;
}

/** A SASL mechanism offered in stream features. */
export interface SaslMechanism {
  /** The IANA name, e.g. `SCRAM-SHA-256`. */
  readonly name: string;
  /** Starts an exchange. */
  start(context: SaslContext): SaslExchange;
}
