// What a workload token says: shared vocabulary, since the server, the egress proxy and every
// component that serves agents read it, and only the identity component signs and verifies it.

export interface WorkloadClaims {
  readonly iss: string;
  readonly aud: string;
  /** The agent. */
  readonly sub: string;
  /** The run this token belongs to. */
  readonly run: string;
  /** The agent's namespace. */
  readonly ns: string;
  /** Capabilities granted to this run. */
  readonly caps: readonly string[];
  readonly jti: string;
  /** Seconds since the epoch, as JWT has them. */
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  /** When the run started (seconds): refreshes end at rst + the maximum run lifetime. */
  readonly rst: number;
}
