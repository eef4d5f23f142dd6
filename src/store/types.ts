// The store: one interface, two implementations (SQLite for one control plane, PostgreSQL for
// several replicas sharing state). Methods are domain-shaped rather than generic SQL, so each
// implementation can do the right thing for its engine (one synchronous transaction in SQLite, an
// advisory lock in PostgreSQL) and the shared conformance suite can pin down the semantics.

export interface Store {
  readonly driver: 'sqlite' | 'postgres';
  readonly audit: AuditStore;
  readonly meta: MetaStore;
  readonly entities: EntityStore;
  readonly identity: IdentityStore;
  readonly runs: RunStore;
  readonly secrets: SecretStore;
  readonly leases: LeaseStore;
  readonly honeytokens: HoneytokenStore;
  /** Change notifications between replicas (PostgreSQL LISTEN/NOTIFY; in-process for SQLite). */
  readonly notifications: Notifications;
  /** Round-trips to the database; rejects when it is unreachable. */
  ping(): Promise<void>;
  /**
   * The database server's clock (ms since the epoch), for stores that are shared between machines:
   * the reference a replica's own clock is compared with. Absent for the embedded store.
   */
  clock?(): Promise<number>;
  /** Applied migration versions, ascending. */
  migrations(): Promise<number[]>;
  close(): Promise<void>;
}

/** The Merkle tree's right edge: tree size and the roots of its complete subtrees, left to right. */
export interface AuditHead {
  readonly size: number;
  readonly frontier: readonly Buffer[];
}

export interface AuditRecordRow {
  readonly seq: number;
  /** The canonical JSON text the leaf hash is computed over. */
  readonly entry: string;
}

/** A complete subtree hash: level 0 are leaf hashes, level k covers 2^k leaves. */
export interface TreeNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Buffer;
}

export interface AuditBatch {
  readonly records: readonly AuditRecordRow[];
  readonly nodes: readonly TreeNode[];
  readonly head: AuditHead;
}

/**
 * An audit record before it has a sequence number: the stored record is `before + seq + after`
 * (canonical JSON has "seq" between "outcome" and "target"), so the store numbers records inside
 * its transaction without parsing or re-serializing them.
 */
export interface PreparedEntry {
  readonly before: string;
  readonly after: string;
}

export interface CheckpointRow {
  readonly id: number;
  readonly size: number;
  /** The signed note, verbatim. */
  readonly note: string;
}

export interface AuditStore {
  /**
   * Appends atomically and durably: locks the head (one writer at a time across processes and
   * replicas), numbers the entries from the head's size, stores them with their leaf hashes and
   * every Merkle node they complete, advances the head, and commits (fsync) before resolving.
   */
  append(entries: readonly PreparedEntry[]): Promise<{ first: number; head: AuditHead }>;
  head(): Promise<AuditHead>;
  /** Records with seq >= from, ascending, at most `limit`. */
  records(from: number, limit: number): Promise<AuditRecordRow[]>;
  /**
   * Records with from <= seq < end whose stored text contains at least one of `needles` (literal
   * substrings), ascending, at most `limit`: the database does the reading, so finding a run's
   * records in a log of millions does not ship every record to the caller.
   */
  search(from: number, end: number, needles: readonly string[], limit: number): Promise<AuditRecordRow[]>;
  /** Stored hashes for the given nodes; undefined where none is stored. */
  nodes(keys: readonly { level: number; index: number }[]): Promise<(Buffer | undefined)[]>;
  /**
   * The same, as lowercase hex made by the database: for proofs of thousands of records, where a
   * Buffer per node (and hexing each) cost more than reading them.
   */
  nodesHex(keys: readonly { level: number; index: number }[]): Promise<(string | undefined)[]>;
  /** Stored leaf hashes (level 0) for seq >= from, ascending, at most `limit`, with their index. */
  leaves(from: number, limit: number): Promise<{ index: number; hash: Buffer }[]>;
  /**
   * Adds a checkpoint atomically with respect to other writers: `build` sees the latest
   * checkpoint and the current head and returns the new note, or undefined to write nothing.
   */
  addCheckpoint(
    build: (latest: CheckpointRow | undefined, head: AuditHead) => { size: number; note: string } | undefined,
  ): Promise<CheckpointRow | undefined>;
  checkpoints(): Promise<CheckpointRow[]>;
  latestCheckpoint(): Promise<CheckpointRow | undefined>;
  /** Publishes a replica's checkpoint key (creates or replaces by name). */
  putSigner(s: SignerRecord): Promise<void>;
  /** Every published checkpoint key. */
  signers(): Promise<SignerRecord[]>;
}

export interface MetaStore {
  get(key: string): Promise<string | undefined>;
  /** Sets key to value only when absent; returns the value now stored. */
  setIfAbsent(key: string, value: string): Promise<string>;
  set(key: string, value: string): Promise<void>;
  /**
   * Sets key to `value` only if it still holds `expected` (absent when undefined); true when it
   * did. Read, change, compare-and-set: how a record several replicas update stays whole.
   */
  compareAndSet(key: string, expected: string | undefined, value: string): Promise<boolean>;
  /** Removes a key; true when it was there. */
  delete(key: string): Promise<boolean>;
  /** Every key starting with `prefix` (a literal, no wildcards), with its value, in key order. */
  list(prefix: string): Promise<[string, string][]>;
}

/** A policy entity: an agent, team, namespace, vault, secret, task or capability. */
export interface EntityRecord {
  readonly type: string;
  readonly id: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Memberships, as "type:id" (agent in team, secret in vault, agent in namespace). */
  readonly parents: readonly string[];
  /** Store-wide change counter at the last write. */
  readonly version: number;
  readonly deleted: boolean;
}

export interface EntityStore {
  /** Creates or replaces; returns the stored record with its new version. */
  put(e: {
    type: string;
    id: string;
    attributes: Readonly<Record<string, unknown>>;
    parents: readonly string[];
  }): Promise<EntityRecord>;
  /** Marks deleted (a tombstone, so other replicas see the deletion); undefined if absent. */
  delete(type: string, id: string): Promise<EntityRecord | undefined>;
  get(type: string, id: string): Promise<EntityRecord | undefined>;
  /** Every change (including deletions) with version > `since`, ascending. */
  changes(since: number, limit: number): Promise<EntityRecord[]>;
}

export interface Notifications {
  /** Publishes to every replica (this one included). */
  publish(channel: string, payload: string): Promise<void>;
  /** Subscribes; returns the unsubscribe function. */
  subscribe(channel: string, fn: (payload: string) => void): () => void;
}

/** A workload-token signing key's public half, shared so every replica verifies every replica's tokens. */
export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: string;
  /** The public JWK, as JSON text. The private key never leaves its replica's data directory. */
  readonly jwk: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms: no token is signed with this key after this. */
  readonly signUntil: number;
  /** Epoch ms: tokens signed with this key are accepted until this (longest lifetime plus skew). */
  readonly verifyUntil: number;
  /**
   * The installation key's signature over the fields above (core/installation.ts): a key without
   * a valid one is refused, so a row written into the store cannot make itself trusted.
   */
  readonly cert: string;
}

/** A replica's checkpoint-signing key, published so that every replica can verify its checkpoints. */
export interface SignerRecord {
  /** The note key name (rampart-audit-<hash>). */
  readonly name: string;
  /** The verifier key, name+hash+base64 key. */
  readonly vkey: string;
  /** The installation key's signature over name and vkey. */
  readonly cert: string;
}

export type RevocationKind = 'jti' | 'agent' | 'run' | 'namespace' | 'all';

export interface RevocationRecord {
  /** Increasing store-wide. */
  readonly id: number;
  readonly kind: RevocationKind;
  /** The jti, agent id, run id or namespace; empty for "all". */
  readonly value: string;
  /** Epoch ms: matching tokens issued at or before this are revoked. */
  readonly revokedAt: number;
  /** Epoch ms: after this no token it matches can still be valid, and it may be purged. */
  readonly expiresAt: number;
  readonly reason: string;
}

export interface IdentityStore {
  /** Creates or replaces by kid. */
  putKey(key: SigningKeyRecord): Promise<void>;
  /** Every stored key, oldest first. */
  keys(): Promise<SigningKeyRecord[]>;
  /** Deletes keys whose verifyUntil has passed; returns how many. */
  purgeKeys(now: number): Promise<number>;
  /** Stores a revocation; returns it with its id. */
  revoke(r: Omit<RevocationRecord, 'id'>): Promise<RevocationRecord>;
  /** Revocations with expiresAt > now, by id. */
  revocations(now: number): Promise<RevocationRecord[]>;
  /** Deletes revocations that have expired; returns how many. */
  purgeRevocations(now: number): Promise<number>;
}

/**
 * A run as the control plane knows it: who runs it, where, and how it ended. `record` is the
 * run's full description as JSON (the runs component owns its shape); the columns are what the
 * store is asked by.
 */
export interface StoredRun {
  readonly id: string;
  /** The host (installation and machine) whose runner holds the run. */
  readonly host: string;
  readonly agent: string;
  /** running, or how it ended. */
  readonly status: string;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly record: string;
}

export interface RunStore {
  /** Creates or replaces by id. */
  put(r: StoredRun): Promise<void>;
  get(id: string): Promise<StoredRun | undefined>;
  /** Runs of a host with a status, oldest first, at most `limit`. */
  list(q: { host?: string; status?: string; limit: number }): Promise<StoredRun[]>;
}

/**
 * One version of a secret as stored: sealed by the secrets component (its envelope's shape is
 * the component's), with an HMAC fingerprint of the value for records. Never the value itself.
 */
export interface StoredSecret {
  readonly vault: string;
  readonly name: string;
  readonly version: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly createdBy: string;
  readonly sealed: string;
  readonly fingerprint: string;
}

/** Seals a value for the version the store is about to give it. */
export type SealVersion = (version: number) => { readonly sealed: string; readonly fingerprint: string };

export interface SecretStore {
  /**
   * Adds the next version of a secret (1 for a new one) atomically across replicas; `make` is
   * given that version first, so what is sealed can be bound to it. Resolves with the version.
   */
  add(vault: string, name: string, make: SealVersion, createdAt: number, createdBy: string): Promise<number>;
  /** One version, or the latest when none is given. */
  get(vault: string, name: string, version?: number): Promise<StoredSecret | undefined>;
  /** Every version of a secret, newest first. */
  versions(vault: string, name: string): Promise<StoredSecret[]>;
  /** The latest version of every secret (of one vault, if given), by vault and name. */
  list(vault?: string): Promise<StoredSecret[]>;
  /** Removes every version of a secret; resolves with how many there were. */
  remove(vault: string, name: string): Promise<number>;
  /** How many secret versions are stored (all vaults). */
  count(): Promise<number>;
  /** Every version, by vault, name and version, after `after` (exclusive), at most `limit`. */
  page(
    after: { vault: string; name: string; version: number } | undefined,
    limit: number,
  ): Promise<StoredSecret[]>;
  /** Replaces a version's envelope if it is still `from` (a re-wrap); resolves with whether it did. */
  reseal(vault: string, name: string, version: number, from: string, to: string): Promise<boolean>;
}

/** A lease on a delivered secret (the secrets broker's leases.ts). Never holds a value. */
export interface StoredLease {
  readonly id: string;
  readonly vault: string;
  readonly name: string;
  /** The engine that issued it and revokes it: "static", "postgres", ... */
  readonly engine: string;
  /** The version delivered (stored secrets), null for dynamic credentials. */
  readonly version: number | null;
  readonly agent: string;
  readonly run: string | null;
  /** Epoch ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Renewals never go past this. */
  readonly maxExpiresAt: number;
  readonly state: 'active' | 'revoking';
  /** Revocation attempts that failed so far. */
  readonly attempts: number;
  /** When a claimed revocation may be taken up again (by any replica), epoch ms. */
  readonly nextAttemptAt: number | null;
  readonly lastError: string | null;
  /** Why it is being revoked. */
  readonly reason: string | null;
  /** What the engine needs to revoke it (JSON: a role name, ...), never a credential. */
  readonly handle: string;
  /** The delivered value's HMAC fingerprint. */
  readonly fingerprint: string;
}

/** Which leases: one, a run's, an agent's, a vault's, or every one. */
export type LeaseSelector =
  | { readonly id: string }
  | { readonly run: string }
  | { readonly agent: string }
  | { readonly vault: string }
  | { readonly all: true };

export interface LeaseFilter {
  readonly run?: string;
  readonly agent?: string;
  readonly vault?: string;
  readonly state?: 'active' | 'revoking';
}

export interface LeaseStore {
  insert(lease: StoredLease): Promise<void>;
  get(id: string): Promise<StoredLease | undefined>;
  /** Leases by issue time, oldest first, at most `limit`. */
  list(filter: LeaseFilter, limit: number): Promise<StoredLease[]>;
  /**
   * An active lease's new expiry (and the version now delivered): resolves with it, or undefined
   * when it is not active (revoked, being revoked, or never was).
   */
  renew(id: string, expiresAt: number, version?: number): Promise<StoredLease | undefined>;
  /**
   * Moves the active leases a selector matches to "revoking" with a reason, claimed by the caller
   * until `retryAt`, and resolves with them: each is claimed by one caller, across replicas.
   */
  claim(selector: LeaseSelector, reason: string, retryAt: number): Promise<StoredLease[]>;
  /** The same for active leases expired at `now`, soonest first, at most `limit`. */
  claimExpired(now: number, limit: number, retryAt: number): Promise<StoredLease[]>;
  /**
   * Removes active stored-secret ("static") leases expired at `now`, soonest first, at most
   * `limit`, and resolves with them: nothing upstream to take back, so one statement ends them.
   */
  removeExpiredStatic(now: number, limit: number): Promise<StoredLease[]>;
  /** Revoking leases whose claim ran out (a failed attempt, a replica that died), claimed again. */
  claimRetries(now: number, limit: number, retryAt: number): Promise<StoredLease[]>;
  /** A revocation attempt failed: counted, with its error and the next attempt's time. */
  failed(id: string, nextAttemptAt: number, error: string): Promise<void>;
  /** Revoked: removed (the audit log keeps their story). */
  remove(ids: readonly string[]): Promise<void>;
  /** Leases by state (a count over the table: for metrics now and then, not per request). */
  counts(): Promise<{ active: number; revoking: number; failing: number }>;
  /** Leases being revoked, and those whose revocation failed at least once (cheap: few rows). */
  revoking(): Promise<{ revoking: number; failing: number }>;
}

/** A planted decoy credential, by its value's HMAC fingerprint (never the value). */
export interface StoredHoneytoken {
  readonly fingerprint: string;
  readonly kind: string;
  readonly run: string;
  readonly agent: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

export interface HoneytokenStore {
  add(tokens: readonly StoredHoneytoken[]): Promise<void>;
  /** Those registered since `since` (epoch ms, inclusive), oldest first. */
  since(since: number): Promise<StoredHoneytoken[]>;
}
