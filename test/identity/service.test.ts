// The identity service on a real store: revocation of every kind (and that it survives a restart),
// the verification cache, refresh within the run's hard end, key rotation with overlap, fail-closed
// staleness, rate limits, and the key files.

import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TokenBuckets } from '../../src/core/ratelimit.js';
import { identityHarness, identityKeyFiles, type IdentityHarness } from '../support/identity.js';

async function withHarness(fn: (h: IdentityHarness) => Promise<void>, over = {}): Promise<void> {
  const h = await identityHarness(over);
  try {
    await fn(h);
  } finally {
    await h.close();
    h.dir.cleanup();
  }
}

const issue = (h: IdentityHarness, agent = 'a1', run?: string, namespace = 'ci') =>
  h.svc.issue({ agent, namespace, capabilities: ['git.push'], run });

async function records(h: IdentityHarness): Promise<{ action: string; details: Record<string, unknown> }[]> {
  await h.audit.log.drain();
  const rows = await h.store.audit.records(0, 10_000);
  return rows.map((r) => JSON.parse(r.entry) as { action: string; details: Record<string, unknown> });
}

describe('identity service', () => {
  it('revokes by jti, agent, run, namespace and all; later tokens are unaffected', () =>
    withHarness(async (h) => {
      const cases = [
        ['jti', (c: { jti: string }) => c.jti],
        ['agent', () => 'a1'],
        ['run', () => 'run-x'],
        ['namespace', () => 'ci'],
        ['all', () => ''],
      ] as const;
      for (const [kind, value] of cases) {
        const t = await issue(h, 'a1', 'run-x');
        const bystander = await issue(h, 'a2', 'run-y', 'research');
        assert.ok(h.svc.verify(t.token).ok);
        assert.ok(h.svc.verify(t.token).ok, 'cached');
        await h.svc.revoke(kind, value(t.claims), 'test', 'admin');
        const r = h.svc.verify(t.token);
        assert.equal(r.ok ? 'accepted' : r.kind, 'revoked', kind);
        assert.equal(h.svc.verify(bystander.token).ok, kind !== 'all', `bystander after ${kind}`);
        h.clock.advance(1000); // tokens issued in the revocation's second count as before it
        assert.ok(
          h.svc.verify((await issue(h, 'a1', 'run-x')).token).ok,
          `a token issued after revoking ${kind}`,
        );
      }
      assert.ok(h.svc.stats.cacheHits >= 5);
      const events = (await records(h)).filter((r) => r.action === 'event.identity.revoked');
      assert.deepEqual(
        events.map((e) => (e.details['data'] as { kind: string }).kind),
        ['jti', 'agent', 'run', 'namespace', 'all'],
      );
      assert.equal((events[0]!.details['data'] as { by: string }).by, 'admin');
      // Severity means what a security team expects: one token, agent or run revoked by an
      // operator is medium; a namespace or everything is high.
      assert.deepEqual(
        events.map((e) => e.details['severity']),
        ['medium', 'medium', 'medium', 'high', 'high'],
      );
    }));

  it('keeps revocations and the signing key across a restart', async () => {
    const h = await identityHarness();
    const t = await issue(h);
    const kept = await issue(h, 'a2');
    const kid = h.svc.signingKid;
    await h.svc.revoke('agent', 'a1', 'test', 'admin');
    await h.close();
    const again = await identityHarness({}, { dir: h.dir, clock: h.clock });
    try {
      assert.equal(again.svc.signingKid, kid);
      const r = again.svc.verify(t.token);
      assert.equal(r.ok ? 'accepted' : r.kind, 'revoked');
      assert.ok(again.svc.verify(kept.token).ok);
    } finally {
      await again.close();
      h.dir.cleanup();
    }
  });

  it('refreshes within the run: the old token is spent, and the run ends at its hard limit', () =>
    withHarness(
      async (h) => {
        const first = await issue(h);
        h.clock.advance(300_000);
        await h.svc.resync();
        const second = await h.svc.refresh(first.claims, 'agent:a1');
        assert.equal(second.claims.run, first.claims.run);
        assert.equal(second.claims.rst, first.claims.rst);
        assert.notEqual(second.claims.jti, first.claims.jti);
        assert.ok(h.svc.verify(second.token).ok);
        const old = h.svc.verify(first.token);
        assert.equal(old.ok ? 'accepted' : old.kind, 'revoked', 'a refreshed token is spent');
        // 25 minutes into a 30-minute run: the new token ends with the run, not 10 minutes later.
        h.clock.advance(1_200_000);
        await h.svc.resync();
        const third = await h.svc.refresh(second.claims, 'agent:a1');
        assert.equal(third.claims.exp, first.claims.rst + 1800);
        h.clock.advance(400_000);
        await h.svc.resync();
        await assert.rejects(h.svc.refresh(third.claims, 'agent:a1'), { code: 'RAMPART_E_RUN_EXPIRED' });
      },
      { maxRunLifetimeMs: 1_800_000 },
    ));

  it('never issues longer than identity.token_ttl, and checks what it signs', () =>
    withHarness(async (h) => {
      await assert.rejects(h.svc.issue({ agent: 'a1', namespace: 'ci', capabilities: [], ttlMs: 601_000 }), {
        code: 'RAMPART_E_TOKEN_REQUEST_INVALID',
      });
      await assert.rejects(h.svc.issue({ agent: 'a 1', namespace: 'ci', capabilities: [] }), {
        code: 'RAMPART_E_TOKEN_REQUEST_INVALID',
      });
      const short = await h.svc.issue({ agent: 'a1', namespace: 'ci', capabilities: [], ttlMs: 60_000 });
      assert.equal(short.claims.exp - short.claims.iat, 60);
    }));

  it('rotates keys with overlap: old tokens verify until they expire, then the old key is gone', () =>
    withHarness(async (h) => {
      const before = await issue(h);
      const oldKid = h.svc.signingKid;
      const { kid, previous } = await h.svc.rotate('requested');
      assert.equal(previous, oldKid);
      assert.notEqual(kid, oldKid);
      assert.deepEqual(identityKeyFiles(h.dir.dir), [`${kid}.json`], 'the old private key is deleted');
      assert.deepEqual(
        h.svc
          .jwks()
          .keys.map((k) => k['kid'])
          .sort(),
        [kid, oldKid].sort(),
      );
      assert.ok(h.svc.verify(before.token).ok, 'a token of the old key still verifies');
      const after = await issue(h);
      assert.equal(JSON.parse(Buffer.from(after.token.split('.')[0]!, 'base64url').toString()).kid, kid);
      // Past the old key's window (token lifetime + skew), it verifies nothing and leaves the JWKS.
      h.clock.advance(600_000 + 30_000 + 1000);
      await h.svc.resync();
      const r = h.svc.verify(before.token);
      assert.equal(r.ok ? 'accepted' : r.kind, 'retired_key');
      assert.deepEqual(
        h.svc.jwks().keys.map((k) => k['kid']),
        [kid],
      );
      const rotated = (await records(h)).filter((x) => x.action === 'event.identity.key_rotated');
      assert.equal(rotated.length, 1);
    }));

  it('rotates on schedule', () =>
    withHarness(
      async (h) => {
        const kid = h.svc.signingKid;
        await h.svc.maintain();
        assert.equal(h.svc.signingKid, kid, 'not due yet');
        h.clock.advance(3_600_000);
        await h.svc.resync();
        await h.svc.maintain();
        assert.notEqual(h.svc.signingKid, kid);
      },
      { keyRotationMs: 3_600_000 },
    ));

  it('refuses every token when revocations cannot be refreshed for too long, and says so', async () => {
    const h = await identityHarness();
    const t = await issue(h);
    assert.ok(h.svc.verify(t.token).ok);
    await h.audit.log.close();
    await h.store.close(); // the store goes away
    try {
      h.clock.advance(10_000);
      await h.svc.resync();
      assert.ok(h.svc.verify(t.token).ok, 'within identity.revocation_staleness');
      assert.equal(h.svc.health().status, 'degraded');
      h.clock.advance(25_000);
      await h.svc.resync();
      const r = h.svc.verify(t.token);
      assert.equal(r.ok ? 'accepted' : r.kind, 'revocations_stale');
      assert.equal(h.svc.health().status, 'failing');
      assert.match(h.svc.health().detail ?? '', /every workload token is refused/);
    } finally {
      h.svc.stop();
      h.dir.cleanup();
    }
  });

  it('rate-limits per agent and per token, and reports an agent that keeps at it', () =>
    withHarness(async (h) => {
      const t = await issue(h);
      const other = await issue(h);
      // burst 5 per agent: the agent's two tokens share it.
      const waits = [...Array(5)].map((_, i) => h.svc.rateLimit('api', (i % 2 ? t : other).claims));
      assert.deepEqual(waits, [0, 0, 0, 0, 0]);
      const wait = h.svc.rateLimit('api', t.claims);
      assert.ok(wait > 0 && wait <= 200, `wait ${wait}`);
      h.svc.rateLimit('api', t.claims);
      h.svc.rateLimit('api', t.claims);
      h.clock.advance(1000);
      assert.equal(h.svc.rateLimit('api', t.claims), 0, 'refilled');
      const events = (await records(h)).filter((r) => r.action === 'event.identity.rate_limited');
      assert.equal(events.length, 1, 'one event per window');
      assert.equal((events[0]!.details['data'] as { agent: string }).agent, 'a1');
    }));

  it('keeps its private key in a mode-0600 file and refuses one others can read', async () => {
    const h = await identityHarness();
    const file = join(h.dir.dir, 'keys', 'identity', `${h.svc.signingKid}.json`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await h.close();
    chmodSync(file, 0o644);
    await assert.rejects(identityHarness({}, { dir: h.dir, clock: h.clock }), {
      code: 'RAMPART_E_SECRET_FILE_PERMISSIONS',
    });
    h.dir.cleanup();
  });
});

describe('token buckets', () => {
  it('allows a burst, then the rate, and says how long to wait', () => {
    const b = new TokenBuckets({ rate: 10, burst: 3 });
    assert.deepEqual(
      [0, 0, 0].map(() => b.take('k', 1000)),
      [0, 0, 0],
    );
    assert.equal(b.take('k', 1000), 100);
    assert.equal(b.take('k', 1100), 0);
    assert.equal(b.take('other', 1100), 0, 'keys are independent');
  });

  it('stays bounded, dropping full buckets first', () => {
    const b = new TokenBuckets({ rate: 1, burst: 2 }, 100);
    b.take('busy', 0);
    b.take('busy', 0);
    for (let i = 0; i < 500; i++) b.take(`k${i}`, 0);
    assert.ok(b.size <= 100);
  });
});
