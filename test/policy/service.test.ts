// Decision logging as the policy service does it, on a real SQLite store and audit log: async
// answers at once and has the record committed moments later; durable answers only after the
// commit; and when records cannot be written, no decision is answered (fail closed) and health
// says why, until writes work again.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import type { AuditEntryInput, AuditReceipt, Auditor } from '../../src/core/types.js';
import { EventBus } from '../../src/events/bus.js';
import type { DecisionLogMode } from '../../src/policy/model.js';
import { PolicyService } from '../../src/policy/service.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { openTestLog, type TestLog } from '../support/audit.js';
import { ROOT } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

/** The real audit log, with a switch that makes writes fail the way a full disk would. */
class BreakableAuditor implements Auditor {
  broken = false;
  constructor(private readonly inner: Auditor) {}
  record(input: AuditEntryInput): Promise<AuditReceipt> {
    if (this.broken) return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    return this.inner.record(input);
  }
  fingerprint(secret: string | Uint8Array): string {
    return this.inner.fingerprint(secret);
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const input = {
  principal: { type: 'agent', id: 'a1', namespace: 'ci' },
  action: 'namespace.read',
  resource: { type: 'namespace', id: 'ci' },
  context: {},
};

describe('decision logging', () => {
  const t = tempDir();
  let store: Store;
  let audit: TestLog;

  before(async () => {
    store = openSqliteStore({ file: join(t.dir, 'r.db') });
    audit = await openTestLog(store, t.dir);
  });
  after(async () => {
    await audit.log.close();
    await store.close();
    t.cleanup();
  });

  async function service(mode: DecisionLogMode, auditor: Auditor): Promise<PolicyService> {
    return PolicyService.start({
      dir: join(ROOT, 'policies', 'default'),
      watch: false,
      cacheSize: 1000,
      decisionLog: mode,
      store,
      auditor,
      events: new EventBus({ auditor }),
      log: silent,
      clock: systemClock,
      installation: 'test',
      version: 'test',
    });
  }

  async function decisionRecords(): Promise<string[]> {
    const head = await store.audit.head();
    const rows = await store.audit.records(0, head.size);
    return rows
      .map((r) => JSON.parse(r.entry) as { action: string; details: { decision_id?: string } })
      .filter((r) => r.action === 'policy.decision')
      .map((r) => r.details.decision_id ?? '');
  }

  it('durable: the record is committed before the answer', async () => {
    const svc = await service('durable', audit.log);
    const d = await svc.decide(input, { actor: 'admin', path: 'test' });
    assert.ok((await decisionRecords()).includes(d.decision_id));
    await svc.stop();
  });

  it('async: answers at once, and the record is committed within the next group commit', async () => {
    const svc = await service('async', audit.log);
    const d = await svc.decide(input, { actor: 'admin', path: 'test' });
    await audit.log.drain();
    assert.ok((await decisionRecords()).includes(d.decision_id));
    await svc.stop();
  });

  it('async: when records cannot be written, decisions are refused and health fails, until writes work again', async () => {
    const auditor = new BreakableAuditor(audit.log);
    const svc = await service('async', auditor);
    auditor.broken = true;
    // The first decision is answered before its write fails; the failure is then noticed.
    await svc.decide(input, { actor: 'admin', path: 'test' });
    await new Promise((r) => setImmediate(r));
    assert.equal(svc.health().status, 'failing');
    assert.match(svc.health().detail ?? '', /decision records cannot be written \(SQLITE_FULL/);
    await assert.rejects(svc.decide(input, { actor: 'admin', path: 'test' }), /SQLITE_FULL/);
    auditor.broken = false;
    const d = await svc.decide(input, { actor: 'admin', path: 'test' });
    assert.ok((await decisionRecords()).includes(d.decision_id), 'written before it was answered');
    assert.equal(svc.health().status, 'ok');
    await svc.stop();
  });

  it('off: nothing is written', async () => {
    const svc = await service('off', audit.log);
    const d = await svc.decide(input, { actor: 'admin', path: 'test' });
    await audit.log.drain();
    assert.ok(!(await decisionRecords()).includes(d.decision_id));
    await svc.stop();
  });
});
