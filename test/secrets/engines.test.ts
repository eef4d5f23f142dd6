// One conformance suite that every dynamic secrets engine runs (engine.ts), each against the
// real thing it speaks to here: PostgreSQL (a cluster of the test's own, scram-sha-256) and the
// local stand-in for GitHub's installation-token API. What the lease service relies on: a
// credential that works, a handle that holds no credential in the clear, renewal, revocation
// that makes the credential stop working, and revocation that is idempotent (twice, or after
// the credential went away upstream).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { DynamicEngine } from '../../src/secrets/engine.js';
import { GithubEngine } from '../../src/secrets/engines/github.js';
import { PostgresEngine } from '../../src/secrets/engines/postgres.js';
import { Sealer } from '../../src/secrets/seal.js';
import { startFakeGithub, type Seen } from '../support/github.js';
import { pgClusterSkip, startPgCluster } from '../support/pgcluster.js';
import { tempDir } from '../support/tmp.js';

interface Harness {
  readonly engine: DynamicEngine;
  readonly name: string;
  /** Whether the credential is accepted by what issued it. */
  works(value: string): Promise<boolean>;
  /** Takes the credential away upstream, behind the engine's back. */
  removeUpstream(value: string): Promise<void>;
  cleanup(): Promise<void>;
}

function conformance(kind: string, skip: string | false, open: () => Promise<Harness>): void {
  describe(`dynamic engine conformance: ${kind}`, { skip }, () => {
    let h: Harness;
    before(async () => {
      h = await open();
    });
    after(async () => {
      await h?.engine.close();
      await h?.cleanup();
    });
    const issue = (lease: string) =>
      h.engine.issue({ name: h.name, agent: 'a1', run: 'r1', lease, expiresAt: Date.now() + 60_000 });

    it('knows its names, and reaches what it issues from', async () => {
      assert.ok(h.engine.role(h.name));
      assert.equal(h.engine.role('no-such-name'), undefined);
      await h.engine.check();
    });

    it('issues a credential that works, under a handle without it in the clear', async () => {
      const { value, handle } = await issue('lease_1');
      const v = value.toString();
      assert.ok(await h.works(v));
      assert.ok(!handle.includes(v), 'the handle holds no credential in the clear');
      await h.engine.renew(handle, Date.now() + 120_000);
      assert.ok(await h.works(v), 'still works once renewed');
      await h.engine.revoke(handle);
      assert.equal(await h.works(v), false, 'revoked, it no longer works');
      await h.engine.revoke(handle);
    });

    it('revokes what already went away upstream', async () => {
      const { value, handle } = await issue('lease_2');
      await h.removeUpstream(value.toString());
      await h.engine.revoke(handle);
    });

    it('gives each lease a credential of its own', async () => {
      const [a, b] = await Promise.all([issue('lease_3'), issue('lease_4')]);
      assert.notEqual(a.value.toString(), b.value.toString());
      await Promise.all([h.engine.revoke(a.handle), h.engine.revoke(b.handle)]);
      assert.equal(await h.works(a.value.toString()), false);
      assert.equal(await h.works(b.value.toString()), false);
    });
  });
}

conformance('postgres', pgClusterSkip(), async () => {
  const cluster = await startPgCluster();
  const dir = tempDir();
  const file = join(dir.dir, 'admin.url');
  writeFileSync(file, cluster.adminUrl, { mode: 0o600 });
  const dba = new pg.Client({ connectionString: cluster.adminUrl });
  await dba.connect();
  await dba.query('CREATE TABLE t (x int)');
  const engine = new PostgresEngine({
    vault: 'db',
    connectionFile: file,
    roles: [
      {
        name: 'reader',
        creation: `CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON t TO "{{name}}"`,
        ttlMs: 60_000,
        maxTtlMs: 3_600_000,
      },
    ],
  });
  return {
    engine,
    name: 'reader',
    works: async (url) => {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      try {
        await c.connect();
        await c.query('SELECT x FROM t');
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    removeUpstream: async (url) => {
      const role = new URL(url).username;
      await dba.query(`DROP OWNED BY "${role}"; DROP ROLE "${role}"`);
    },
    cleanup: async () => {
      await dba.end();
      cluster.remove();
      dir.cleanup();
    },
  };
});

conformance('github', false, async () => {
  const dir = tempDir();
  const seen: Seen = { jwt: [], issued: [], revoked: [] };
  const server = (await startFakeGithub(dir.dir, seen)).server;
  const sealer = new Sealer([{ id: 'k1', key: randomBytes(32) }]);
  const engine = new GithubEngine(
    {
      vault: 'gh',
      appId: 4242,
      privateKeyFile: join(dir.dir, 'app.pem'),
      apiUrl: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
      caFile: join(dir.dir, 'srv.crt'),
      repositories: [
        { name: 'web', installationId: 77, repository: 'web', permissions: { contents: 'write' } },
      ],
    },
    sealer,
  );
  return {
    engine,
    name: 'web',
    works: (token) =>
      Promise.resolve(seen.issued.some((i) => i.token === token) && !seen.revoked.includes(token)),
    removeUpstream: (token) => {
      seen.revoked.push(token);
      return Promise.resolve();
    },
    cleanup: async () => {
      await new Promise((r) => server.close(r));
      dir.cleanup();
    },
  };
});
