import { loadOrCreateAuditKey, loadTrustedVerifiers, witnessPath } from '../../src/audit/checkpoint.js';
import { AuditLog, installationId, loadOrCreateHmacKey } from '../../src/audit/log.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import type { Store } from '../../src/store/types.js';
import type { NoteVerifier } from '../../src/audit/checkpoint.js';

export interface TestLog {
  readonly log: AuditLog;
  readonly verifiers: NoteVerifier[];
  readonly origin: string;
}

export async function openTestLog(
  store: Store,
  dataDir: string,
  opts: {
    clock?: Clock;
    checkpointEvery?: number;
    maxBatch?: number;
    sanitize?: (d: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  } = {},
): Promise<TestLog> {
  const signer = loadOrCreateAuditKey(dataDir);
  const verifiers = loadTrustedVerifiers(dataDir, []);
  const origin = `rampart.audit/${await installationId(store)}`;
  const log = AuditLog.open({
    store,
    clock: opts.clock ?? systemClock,
    signer,
    verifiers,
    hmacKey: loadOrCreateHmacKey(dataDir),
    origin,
    maxBatch: opts.maxBatch ?? 1000,
    checkpointEvery: opts.checkpointEvery ?? 1_000_000,
    checkpointIntervalMs: 3_600_000,
    witnessFile: witnessPath(dataDir),
    ...(opts.sanitize ? { sanitize: opts.sanitize } : {}),
  });
  return { log, verifiers, origin };
}

export function entry(i: number): {
  actor: string;
  action: string;
  target: string;
  outcome: 'success';
  details: Record<string, unknown>;
} {
  return {
    actor: `actor-${i}`,
    action: 'test.write',
    target: `target-${i}`,
    outcome: 'success',
    details: { i },
  };
}
