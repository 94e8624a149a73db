/**
 * Where accounts live. Passwords are never stored: only SCRAM salted keys
 * (RFC 5802), which also serve PLAIN by re-deriving the key from the offered
 * password.
 *
 * @module
 */

/** Hash functions SCRAM is offered with. */
export type ScramHash = "SHA-1" | "SHA-256";

/** RFC 5802 §3 server-side credentials for one hash. */
export interface ScramCredentials {
  /** Random salt. */
  salt: Uint8Array;
  /** PBKDF2 iteration count. */
  iterations: number;
  /** H(ClientKey). */
  storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"). */
  serverKey: Uint8Array;
}

/** One account on a served domain. */
export interface AccountRecord {
  /** The normalised localpart. */
  username: string;
  /** Credentials per hash function. */
  scram: Record<ScramHash, ScramCredentials>;
}

/** Persistent or in-memory account storage. */
export interface AccountStore {
  /** The account with this normalised localpart, if any. */
  get(username: string): Promise<AccountRecord | undefined>;
  /**
   * One hash's credentials of the account, if any: what a SCRAM login
   * needs, where a store can read it more cheaply than the whole record.
   * Optional; callers fall back to {@linkcode AccountStore.get}. The arrays
   * may be the store's own (a cache's): read them, never change them.
   */
  getScram?(username: string, hash: ScramHash): Promise<ScramCredentials | undefined>;
  /**
   * Whether the account exists, where a store can tell more cheaply than by
   * reading the record (the router asks for every stanza to an account that
   * is offline). Optional; callers fall back to {@linkcode AccountStore.get}.
   */
  has?(username: string): Promise<boolean>;
  /** Creates or replaces an account. */
  put(record: AccountRecord): Promise<void>;
  /** Removes an account; returns whether it existed. */
  delete(username: string): Promise<boolean>;
  /** Every username, sorted. */
  list(): Promise<string[]>;
  /** Releases the store's resources. */
  close(): void;
}
