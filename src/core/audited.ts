// An action on record before it happens: the record is written (durably) first; if it cannot be,
// the action does not happen and the caller gets RAMPART_E_AUDIT_WRITE_FAILED (503). If the action
// then fails, a second record says so. Every state-changing route of every component uses this.

import { isRampartError, messageOf } from './errors.js';
import type { Auditor, Outcome } from './types.js';

export async function audited<T>(
  auditor: Pick<Auditor, 'record'>,
  actor: string,
  entry: { action: string; target: string; details?: Record<string, unknown> },
  perform: () => Promise<T>,
): Promise<T> {
  await auditor.record({
    actor,
    action: entry.action,
    target: entry.target,
    outcome: 'success',
    details: entry.details ?? {},
  });
  try {
    return await perform();
  } catch (e) {
    const outcome: Outcome = isRampartError(e) && e.status < 500 ? 'denied' : 'error';
    await auditor
      .record({
        actor,
        action: entry.action,
        target: entry.target,
        outcome,
        details: { error: messageOf(e) },
      })
      .catch(() => undefined);
    throw e;
  }
}
