// What a dynamic secrets engine is to the lease service: something that makes a credential for
// one lease and can take it back. The lease service owns the lease (its expiry, renewals, its
// revocation with retries); an engine owns only the credential at its end. Every engine runs the
// same conformance suite (test/secrets/engines.test.ts).

/** What a credential is made for. */
export interface IssueRequest {
  /** The role or template asked for (the secret's name in `vault:VAULT/NAME`). */
  readonly name: string;
  readonly agent: string;
  readonly run?: string;
  readonly lease: string;
  /** When the lease expires (epoch ms): the engine's own backstop, where it has one. */
  readonly expiresAt: number;
}

export interface Issued {
  /** What the run receives: a connection URL, a token. */
  readonly value: Buffer;
  /**
   * What revoking it needs (JSON, kept with the lease): a role name, a token's id. Never the
   * credential itself: the store holds leases in the clear.
   */
  readonly handle: string;
}

export interface DynamicEngine {
  /** "postgres", "github": the lease's engine. */
  readonly kind: string;
  /** The names it issues for, with each one's TTL and max TTL (ms). */
  role(name: string): { readonly ttl: number; readonly maxTtl: number } | undefined;
  issue(req: IssueRequest): Promise<Issued>;
  /** Moves the credential's own expiry along with its lease's. */
  renew(handle: string, expiresAt: number): Promise<void>;
  /** Takes it back. Idempotent: what is already gone is revoked. Throws when it cannot be done. */
  revoke(handle: string): Promise<void>;
  /** Whether it can reach what it issues from (for health). */
  check(): Promise<void>;
  close(): Promise<void>;
}
