// Versioned schema migrations, one list for both engines. A migration is never edited once it has
// shipped: a change is a new version. Each runs in its own transaction at start-up, and replicas
// starting together serialize on a lock, so exactly one applies each version.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'meta and audit log',
    sqlite: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE audit_records (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
      CREATE TABLE audit_nodes (
        level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
      ) WITHOUT ROWID;
      CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, frontier BLOB NOT NULL);
      INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, x'');
      CREATE TABLE audit_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, note TEXT NOT NULL);
    `,
    postgres: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE audit_records (seq BIGINT PRIMARY KEY, entry TEXT NOT NULL);
      CREATE TABLE audit_nodes (level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx));
      CREATE TABLE audit_head (id SMALLINT PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, frontier BYTEA NOT NULL);
      INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, ''::bytea);
      CREATE TABLE audit_checkpoints (id BIGSERIAL PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'policy entities',
    sqlite: `
      CREATE TABLE entities (
        type TEXT NOT NULL, id TEXT NOT NULL, attributes TEXT NOT NULL, parents TEXT NOT NULL,
        version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (type, id)
      ) WITHOUT ROWID;
      CREATE INDEX entities_version ON entities (version);
      INSERT INTO meta (key, value) VALUES ('entities_version', '0');
    `,
    postgres: `
      CREATE TABLE entities (
        type TEXT NOT NULL, id TEXT NOT NULL, attributes TEXT NOT NULL, parents TEXT NOT NULL,
        version BIGINT NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (type, id)
      );
      CREATE INDEX entities_version ON entities (version);
      CREATE SEQUENCE entities_version_seq;
    `,
  },
  {
    version: 3,
    name: 'workload identity: signing keys and revocations',
    sqlite: `
      CREATE TABLE identity_keys (
        kid TEXT PRIMARY KEY, alg TEXT NOT NULL, jwk TEXT NOT NULL,
        created_at INTEGER NOT NULL, sign_until INTEGER NOT NULL, verify_until INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE identity_revocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL,
        revoked_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, reason TEXT NOT NULL
      );
      CREATE INDEX identity_revocations_expiry ON identity_revocations (expires_at);
    `,
    postgres: `
      CREATE TABLE identity_keys (
        kid TEXT PRIMARY KEY, alg TEXT NOT NULL, jwk TEXT NOT NULL,
        created_at BIGINT NOT NULL, sign_until BIGINT NOT NULL, verify_until BIGINT NOT NULL
      );
      CREATE TABLE identity_revocations (
        id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL,
        revoked_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, reason TEXT NOT NULL
      );
      CREATE INDEX identity_revocations_expiry ON identity_revocations (expires_at);
    `,
  },
  {
    version: 4,
    name: 'certified keys: identity key certificates and checkpoint signers',
    sqlite: `
      ALTER TABLE identity_keys ADD COLUMN cert TEXT NOT NULL DEFAULT '';
      CREATE TABLE audit_signers (name TEXT PRIMARY KEY, vkey TEXT NOT NULL, cert TEXT NOT NULL) WITHOUT ROWID;
    `,
    postgres: `
      ALTER TABLE identity_keys ADD COLUMN cert TEXT NOT NULL DEFAULT '';
      CREATE TABLE audit_signers (name TEXT PRIMARY KEY, vkey TEXT NOT NULL, cert TEXT NOT NULL);
    `,
  },
  {
    version: 5,
    name: 'runs, with the runner that holds each',
    sqlite: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY, host TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL,
        started_at INTEGER NOT NULL, record TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX runs_host_status ON runs (host, status);
    `,
    postgres: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY, host TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL,
        started_at BIGINT NOT NULL, record TEXT NOT NULL
      );
      CREATE INDEX runs_host_status ON runs (host, status);
    `,
  },
  {
    version: 6,
    name: 'secrets, sealed and versioned',
    sqlite: `
      CREATE TABLE secrets (
        vault TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL, sealed TEXT NOT NULL, fingerprint TEXT NOT NULL,
        PRIMARY KEY (vault, name, version)
      ) WITHOUT ROWID;
    `,
    postgres: `
      CREATE TABLE secrets (
        vault TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL, sealed TEXT NOT NULL, fingerprint TEXT NOT NULL,
        PRIMARY KEY (vault, name, version)
      );
    `,
  },
  {
    version: 7,
    name: 'leases on delivered secrets',
    sqlite: `
      CREATE TABLE leases (
        id TEXT PRIMARY KEY, vault TEXT NOT NULL, name TEXT NOT NULL, engine TEXT NOT NULL,
        version INTEGER, agent TEXT NOT NULL, run TEXT, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        max_expires_at INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at INTEGER, last_error TEXT, reason TEXT, handle TEXT NOT NULL, fingerprint TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX leases_run ON leases (run, issued_at);
      CREATE INDEX leases_agent ON leases (agent, issued_at);
      CREATE INDEX leases_vault ON leases (vault, issued_at);
      CREATE INDEX leases_expiry ON leases (state, expires_at);
      CREATE INDEX leases_retry ON leases (state, next_attempt_at);
    `,
    postgres: `
      CREATE TABLE leases (
        id TEXT PRIMARY KEY, vault TEXT NOT NULL, name TEXT NOT NULL, engine TEXT NOT NULL,
        version INTEGER, agent TEXT NOT NULL, run TEXT, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
        max_expires_at BIGINT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at BIGINT, last_error TEXT, reason TEXT, handle TEXT NOT NULL, fingerprint TEXT NOT NULL
      );
      CREATE INDEX leases_run ON leases (run, issued_at);
      CREATE INDEX leases_agent ON leases (agent, issued_at);
      CREATE INDEX leases_vault ON leases (vault, issued_at);
      CREATE INDEX leases_expiry ON leases (state, expires_at);
      CREATE INDEX leases_retry ON leases (state, next_attempt_at);
    `,
  },
  {
    version: 8,
    name: 'honeytokens, by fingerprint',
    sqlite: `
      CREATE TABLE honeytokens (
        fingerprint TEXT PRIMARY KEY, kind TEXT NOT NULL, run TEXT NOT NULL, agent TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
    postgres: `
      CREATE TABLE honeytokens (
        fingerprint TEXT PRIMARY KEY, kind TEXT NOT NULL, run TEXT NOT NULL, agent TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
    `,
  },
];

/** Frontier hashes are stored concatenated: 32 bytes each. */
export function packFrontier(frontier: readonly Buffer[]): Buffer {
  return Buffer.concat(frontier);
}

export function unpackFrontier(blob: Buffer): Buffer[] {
  if (blob.length % 32 !== 0) throw new Error('audit head frontier is corrupt (length not a multiple of 32)');
  const out: Buffer[] = [];
  for (let off = 0; off < blob.length; off += 32) out.push(Buffer.from(blob.subarray(off, off + 32)));
  return out;
}
