// How a run's files follow its leases. The runner (`rampart run`, on the run's host) asks with
// the leases it holds and the versions it wrote; the answer says, for each, whether it is still
// active (renewed when half its TTL is gone, with the new value when its secret was rotated) or
// ended (the runner removes the file). With nothing to say, the request waits up to `wait_ms` for
// a rotation, a revocation or a renewal falling due: a rotation or revocation on any replica
// reaches the run within one event's delivery, not at the next poll.

import { RampartError } from '../core/errors.js';
import type { RefreshAnswer, RefreshRequest } from '../core/leases.js';
import type { LeaseService } from './leases.js';
import type { SecretsService } from './service.js';

export type RefreshItem = RefreshRequest['leases'][number];

/** Wakes every waiting refresh: a rotation or a revocation happened somewhere. */
export class Waiters {
  private readonly pending = new Set<() => void>();

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pending.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.pending]) done();
  }

  get size(): number {
    return this.pending.size;
  }
}

export class Refresher {
  constructor(
    private readonly leases: LeaseService,
    private readonly secrets: SecretsService,
    private readonly waiters: Waiters,
    private readonly now: () => number,
  ) {}

  async refresh(
    run: string,
    items: readonly RefreshItem[],
    waitMs: number,
    actor: string,
  ): Promise<RefreshAnswer[]> {
    if (new Set(items.map((i) => i.id)).size !== items.length)
      throw new RampartError('RAMPART_E_BAD_REQUEST', 'a lease is listed twice');
    const first = await this.evaluate(run, items, actor);
    if (first.changed || waitMs <= 0) return first.answers;
    await this.waiters.wait(Math.max(0, Math.min(waitMs, first.nextDue - this.now())));
    return (await this.evaluate(run, items, actor)).answers;
  }

  private async evaluate(
    run: string,
    items: readonly RefreshItem[],
    actor: string,
  ): Promise<{ answers: RefreshAnswer[]; changed: boolean; nextDue: number }> {
    const answers: RefreshAnswer[] = [];
    let changed = false;
    let nextDue = Infinity;
    for (const item of items) {
      const lease = await this.leases.get(item.id);
      if (!lease || lease.state !== 'active' || lease.run !== run) {
        answers.push({ id: item.id, state: 'ended', reason: lease?.reason ?? 'revoked or expired' });
        changed = true;
        continue;
      }
      const expires = Date.parse(lease.expires_at);
      const half = (expires - Date.parse(lease.issued_at)) / 2;
      // Renewed when half of what it was given is gone, or at once when the secret has a newer
      // version than the run holds.
      const dueAt = expires - Math.min(half, this.leases.ttlOf(lease) / 2);
      const newer =
        lease.engine === 'static' &&
        item.version !== undefined &&
        (await this.secrets.latest(lease.vault, lease.name)) !== item.version;
      if (newer || dueAt <= this.now()) {
        try {
          const r = await this.leases.renew(item.id, { actor, run });
          answers.push({
            id: item.id,
            state: 'active',
            expires_at: r.lease.expires_at,
            version: r.lease.version,
            ...(r.value ? { value_base64: r.value.toString('base64') } : {}),
          });
          nextDue = Math.min(nextDue, Date.parse(r.lease.expires_at) - this.leases.ttlOf(r.lease) / 2);
        } catch (e) {
          if (
            !(e instanceof RampartError) ||
            (e.code !== 'RAMPART_E_LEASE' && e.code !== 'RAMPART_E_FORBIDDEN')
          )
            throw e;
          answers.push({ id: item.id, state: 'ended', reason: e.message });
        }
        changed = true;
      } else {
        answers.push({ id: item.id, state: 'active', expires_at: lease.expires_at, version: lease.version });
        nextDue = Math.min(nextDue, dueAt);
      }
    }
    return { answers, changed, nextDue };
  }
}
