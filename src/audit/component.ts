// The audit component's door: opens the log (checkpoint key from the data directory, its
// certificate published, the witness file kept, a crash's unsigned tail signed), and hands the
// control plane its routes, health, metrics and stop (flush and a final checkpoint).

import type { Component } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import type { Certifier } from '../core/installation.js';
import type { Store } from '../store/types.js';
import {
  loadOrCreateAuditKey,
  loadTrustedVerifiers,
  publishSigner,
  witnessPath,
  type NoteSigner,
} from './checkpoint.js';
import { AuditLog, installationId, loadOrCreateHmacKey } from './log.js';
import { auditRoutes } from './routes.js';

export interface AuditDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly dataDir: string;
  readonly certifier: Certifier;
  readonly settings: {
    readonly checkpointEvery: number;
    readonly checkpointIntervalMs: number;
    readonly maxBatch: number;
    readonly trustedKeys: readonly string[];
  };
  /** Scrubs secrets from details before they are hashed (the redaction engine). */
  readonly sanitize: (details: Readonly<Record<string, unknown>>) => Record<string, unknown>;
}

export interface AuditComponent extends Component {
  readonly log: AuditLog;
  readonly signer: NoteSigner;
  /** The installation id that names the log. */
  readonly installation: string;
}

export async function startAudit(deps: AuditDeps): Promise<AuditComponent> {
  const signer = loadOrCreateAuditKey(deps.dataDir);
  const installation = await installationId(deps.store);
  await publishSigner(deps.store, signer, deps.certifier);
  const log = AuditLog.open({
    store: deps.store,
    clock: deps.clock,
    signer,
    installation: deps.certifier,
    verifiers: loadTrustedVerifiers(deps.dataDir, deps.settings.trustedKeys),
    hmacKey: loadOrCreateHmacKey(deps.dataDir),
    origin: `rampart.audit/${installation}`,
    maxBatch: deps.settings.maxBatch,
    checkpointEvery: deps.settings.checkpointEvery,
    checkpointIntervalMs: deps.settings.checkpointIntervalMs,
    sanitize: deps.sanitize,
    witnessFile: witnessPath(deps.dataDir),
  });
  try {
    // Records a crash left unsigned are signed now, before new ones: an unsigned stretch longer
    // than checkpoint_every then always means deleted checkpoints (audit verify relies on it).
    await log.signPending();
  } catch (e) {
    await log.close().catch(() => undefined);
    throw e;
  }
  return {
    name: 'audit',
    log,
    signer,
    installation,
    routes: auditRoutes(log, signer.vkey),
    health: () => log.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_audit_records_total',
        help: 'Audit records durably appended.',
        read: () => log.stats.appended,
      },
      {
        kind: 'counter',
        name: 'rampart_audit_commits_total',
        help: 'Audit group commits.',
        read: () => log.stats.commits,
      },
      {
        kind: 'counter',
        name: 'rampart_audit_write_failures_total',
        help: 'Audit commits that failed (their actions were refused).',
        read: () => log.stats.failures,
      },
      {
        kind: 'counter',
        name: 'rampart_audit_checkpoints_total',
        help: 'Signed checkpoints written.',
        read: () => log.stats.checkpoints,
      },
    ],
    subscriptions: [],
    stop: () => log.close(),
  };
}
