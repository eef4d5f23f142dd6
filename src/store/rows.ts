// Row shapes shared by the SQLite and PostgreSQL stores: both keep entity attributes and parents
// as JSON text so the two stores return byte-identical records (the conformance suite checks it).

import type {
  EntityRecord,
  RevocationKind,
  RevocationRecord,
  SigningKeyRecord,
  StoredRun,
  StoredLease,
  StoredSecret,
} from './types.js';

export interface EntityRow {
  type: string;
  id: string;
  attributes: string;
  parents: string;
  version: number | string;
  /** SQLite has no boolean: 0 or 1 there, a real boolean in PostgreSQL. */
  deleted: number | boolean;
}

export function entityOf(r: EntityRow): EntityRecord {
  return {
    type: r.type,
    id: r.id,
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
    parents: JSON.parse(r.parents) as string[],
    version: Number(r.version),
    deleted: r.deleted === true || r.deleted === 1,
  };
}

export interface KeyRow {
  kid: string;
  alg: string;
  jwk: string;
  created_at: number | string;
  sign_until: number | string;
  verify_until: number | string;
  cert: string;
}

/** PostgreSQL returns BIGINT as text; both stores hand out numbers. */
export function keyOf(r: KeyRow): SigningKeyRecord {
  return {
    kid: r.kid,
    alg: r.alg,
    jwk: r.jwk,
    createdAt: Number(r.created_at),
    signUntil: Number(r.sign_until),
    verifyUntil: Number(r.verify_until),
    cert: r.cert,
  };
}

export interface RevocationRow {
  id: number | string;
  kind: string;
  value: string;
  revoked_at: number | string;
  expires_at: number | string;
  reason: string;
}

export function revocationOf(r: RevocationRow): RevocationRecord {
  return {
    id: Number(r.id),
    kind: r.kind as RevocationKind,
    value: r.value,
    revokedAt: Number(r.revoked_at),
    expiresAt: Number(r.expires_at),
    reason: r.reason,
  };
}

export interface RunRow {
  id: string;
  host: string;
  agent: string;
  status: string;
  started_at: number | string;
  record: string;
}

export function runOf(r: RunRow | undefined): StoredRun | undefined {
  return (
    r && {
      id: r.id,
      host: r.host,
      agent: r.agent,
      status: r.status,
      startedAt: Number(r.started_at),
      record: r.record,
    }
  );
}

export interface SecretRow {
  vault: string;
  name: string;
  version: number | string;
  created_at: number | string;
  created_by: string;
  sealed: string;
  fingerprint: string;
}

export function secretOf(r: SecretRow | undefined): StoredSecret | undefined {
  return r
    ? {
        vault: r.vault,
        name: r.name,
        version: Number(r.version),
        createdAt: Number(r.created_at),
        createdBy: r.created_by,
        sealed: r.sealed,
        fingerprint: r.fingerprint,
      }
    : undefined;
}

export interface LeaseRow {
  id: string;
  vault: string;
  name: string;
  engine: string;
  version: number | string | null;
  agent: string;
  run: string | null;
  issued_at: number | string;
  expires_at: number | string;
  max_expires_at: number | string;
  state: string;
  attempts: number | string;
  next_attempt_at: number | string | null;
  last_error: string | null;
  reason: string | null;
  handle: string;
  fingerprint: string;
}

export function leaseOf(r: LeaseRow): StoredLease {
  return {
    id: r.id,
    vault: r.vault,
    name: r.name,
    engine: r.engine,
    version: r.version === null ? null : Number(r.version),
    agent: r.agent,
    run: r.run,
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    maxExpiresAt: Number(r.max_expires_at),
    state: r.state === 'revoking' ? 'revoking' : 'active',
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    lastError: r.last_error,
    reason: r.reason,
    handle: r.handle,
    fingerprint: r.fingerprint,
  };
}

/** The columns of a lease, in the order both stores insert them. */
export const LEASE_COLUMNS = [
  'id',
  'vault',
  'name',
  'engine',
  'version',
  'agent',
  'run',
  'issued_at',
  'expires_at',
  'max_expires_at',
  'state',
  'attempts',
  'next_attempt_at',
  'last_error',
  'reason',
  'handle',
  'fingerprint',
] as const;

export function leaseValues(l: StoredLease): unknown[] {
  return [
    l.id,
    l.vault,
    l.name,
    l.engine,
    l.version,
    l.agent,
    l.run,
    l.issuedAt,
    l.expiresAt,
    l.maxExpiresAt,
    l.state,
    l.attempts,
    l.nextAttemptAt,
    l.lastError,
    l.reason,
    l.handle,
    l.fingerprint,
  ];
}
