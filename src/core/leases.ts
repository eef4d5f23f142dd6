// The wire contract between a run's runner and the secrets component: what the runner asks of
// its leases (POST /v1/leases/refresh) and what it is told of each. Shared here so the two sides
// (secrets/refresh.ts, sandbox/leasekeeper.ts) cannot drift.

export interface RefreshRequest {
  readonly run: string;
  /** The leases the run's files are under, with the version each file holds (stored secrets). */
  readonly leases: readonly { readonly id: string; readonly version?: number }[];
  /** How long to wait for news when there is none (ms). */
  readonly wait_ms?: number;
}

export type RefreshAnswer =
  | {
      readonly id: string;
      readonly state: 'active';
      readonly expires_at: string;
      readonly version?: number | null;
      /** Present when the lease now delivers a new value (a rotation): replace the file. */
      readonly value_base64?: string;
    }
  | { readonly id: string; readonly state: 'ended'; readonly reason: string };
