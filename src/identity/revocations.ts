// The revocations in force, in memory on every replica, checked on every verification.
//
// A revocation of an agent, a run, a namespace or everything revokes the matching tokens issued
// at or before it; tokens issued later are unaffected (re-issuing is how access comes back). A
// jti revocation revokes that one token. Token times are whole seconds, so a token issued in the
// same second as a revocation counts as before it: the doubt goes to refusing.

import type { RevocationRecord } from '../store/types.js';
import type { WorkloadClaims } from './token.js';

export class RevocationSet {
  private readonly jti = new Map<string, number>();
  private readonly agent = new Map<string, number>();
  private readonly run = new Map<string, number>();
  private readonly namespace = new Map<string, number>();
  private all = -Infinity;
  /** Highest revocation id applied. */
  lastId = 0;

  get size(): number {
    return (
      this.jti.size + this.agent.size + this.run.size + this.namespace.size + (this.all > -Infinity ? 1 : 0)
    );
  }

  apply(r: RevocationRecord): void {
    this.lastId = Math.max(this.lastId, r.id);
    const raise = (m: Map<string, number>, v: number): void => {
      if ((m.get(r.value) ?? -Infinity) < v) m.set(r.value, v);
    };
    switch (r.kind) {
      case 'jti':
        raise(this.jti, r.expiresAt);
        return;
      case 'agent':
        raise(this.agent, r.revokedAt);
        return;
      case 'run':
        raise(this.run, r.revokedAt);
        return;
      case 'namespace':
        raise(this.namespace, r.revokedAt);
        return;
      case 'all':
        this.all = Math.max(this.all, r.revokedAt);
        return;
    }
  }

  /** Replaces everything with `list` (a full resynchronization). */
  replace(list: readonly RevocationRecord[]): void {
    this.jti.clear();
    this.agent.clear();
    this.run.clear();
    this.namespace.clear();
    this.all = -Infinity;
    for (const r of list) this.apply(r);
  }

  /** Why these claims are revoked, or undefined. */
  check(c: WorkloadClaims): string | undefined {
    const issued = c.iat * 1000;
    if (this.jti.has(c.jti)) return `token ${c.jti} is revoked`;
    if (issued <= this.all) return 'every token issued before the revocation of all tokens is revoked';
    if (issued <= (this.agent.get(c.sub) ?? -Infinity)) return `tokens of agent ${c.sub} are revoked`;
    if (issued <= (this.run.get(c.run) ?? -Infinity)) return `tokens of run ${c.run} are revoked`;
    if (issued <= (this.namespace.get(c.ns) ?? -Infinity)) return `tokens of namespace ${c.ns} are revoked`;
    return undefined;
  }
}
