// Write access to the database is not enough to be trusted. Two replicas share PostgreSQL; an
// attacker with only the database inserts a signing key of their own (with no certificate, with
// a made-up one, and with a real certificate lifted from another key) and signs a token as any
// agent: every replica refuses it and records identity.key_untrusted. The same root of trust
// certifies checkpoint keys: `rampart audit verify` in one replica's data directory verifies the
// other replica's checkpoints, and reports a checkpoint from an uncertified key as exactly that.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { keyPair } from '../support/keys.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { exportJWK, calculateJwkThumbprint } from 'jose';
import { noteDigest, signCheckpoint, signerFromPrivateKey } from '../../src/audit/checkpoint.js';
import { claimsAt, craft } from '../support/identity.js';
import { rampart } from '../support/cli.js';
import { api } from '../support/http.js';
import { PG_URL, skipPg } from '../support/pg.js';
import { withReplicas, type Replica } from '../support/replicas.js';
import { eventually } from '../support/wait.js';

async function sql<T extends pg.QueryResultRow>(
  schema: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({
    host: PG_URL.hostname,
    port: Number(PG_URL.port || 5432),
    database: PG_URL.pathname.slice(1) || 'test',
    user: decodeURIComponent(PG_URL.username || 'root'),
  });
  await c.connect();
  try {
    await c.query(`SET search_path TO ${schema}`);
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** The PostgreSQL schema the replicas share, from a replica's configuration. */
const schemaOf = (r: Replica): string =>
  /schema: (\S+)/.exec(readFileSync(join(r.dir.dir, 'rampart.yaml'), 'utf8'))![1]!;

describe('trust does not come from the store', { skip: skipPg }, () => {
  it('a key inserted into the store forges no token, on any replica, and raises an event', async () => {
    await withReplicas(async (a, b) => {
      const schema = schemaOf(a);
      const realCert = (await sql<{ cert: string }>(schema, 'SELECT cert FROM identity_keys LIMIT 1'))[0]!
        .cert;
      const now = Date.now();
      for (const [what, cert] of [
        ['no certificate', ''],
        ['a made-up certificate', Buffer.alloc(64, 7).toString('base64')],
        ["another key's real certificate", realCert],
      ] as const) {
        // A fresh key per attempt: each replica says it refused that key, once, as a critical event.
        const attacker = keyPair({ type: 'ec', namedCurve: 'P-256' });
        const jwk = await exportJWK(attacker.publicKey);
        const kid = await calculateJwkThumbprint(jwk);
        await sql(
          schema,
          `INSERT INTO identity_keys (kid, alg, jwk, created_at, sign_until, verify_until, cert) VALUES ($1, 'ES256', $2, $3, $4, $5, $6)`,
          [
            kid,
            JSON.stringify({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }),
            now - 60_000,
            now + 3_600_000,
            now + 7_200_000,
            cert,
          ],
        );
        const token = craft(
          { alg: 'ES256', typ: 'rampart+jwt', kid },
          claimsAt(now, { sub: 'admin-agent', jti: randomUUID() }),
          attacker.privateKey,
        );
        // Both replicas have read the row once each has recorded refusing it: only then does a
        // 401 prove anything (before, it would only show they had not looked yet).
        const events = await eventually(
          async () => {
            const rows = await sql<{ entry: string }>(
              schema,
              'SELECT entry FROM audit_records WHERE entry LIKE $1',
              [`%identity.key_untrusted%${kid}%`],
            );
            return rows.length >= 2 ? rows : undefined;
          },
          `${what}: identity.key_untrusted from both replicas`,
          15_000,
        );
        assert.ok(
          events.every((e) => e.entry.includes('"critical"')),
          what,
        );
        for (const r of [a, b]) {
          const who = await api(r.server.url, token)('GET', '/v1/whoami');
          assert.equal(
            who.status,
            401,
            `${what}: ${r.server.url} accepted a forged token: ${JSON.stringify(who.json)}`,
          );
        }
      }
    });
  });

  it("audit verify in one replica trusts the other replica's certified checkpoints, and names an unknown signer", async () => {
    await withReplicas(async (a, b) => {
      const schema = schemaOf(a);
      for (const r of [a, b]) {
        await r.admin('POST', '/v1/tokens', { agent: 'worker', namespace: 'ci' });
        assert.equal((await r.admin('POST', '/v1/audit/checkpoints')).status, 201);
      }
      const signers = await sql<{ name: string }>(schema, 'SELECT name FROM audit_signers');
      assert.equal(signers.length, 2, 'each replica published its checkpoint key');
      for (const r of [a, b]) {
        const v = rampart(['audit', 'verify'], { cwd: r.dir.dir });
        assert.equal(v.code, 0, `verify in ${r.dir.dir}: ${v.stdout}${v.stderr}`);
        assert.match(v.stdout, /audit log intact/);
      }

      // A checkpoint by a key published with a certificate that does not verify: not tampering,
      // an unknown signer, and verify says which.
      const latest = (
        await sql<{ note: string; size: string }>(
          schema,
          'SELECT note, size FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
        )
      )[0]!;
      const intruder = signerFromPrivateKey(
        'rampart-audit-intruder',
        keyPair({ type: 'ed25519' }).privateKey,
      );
      await sql(schema, 'INSERT INTO audit_signers (name, vkey, cert) VALUES ($1, $2, $3)', [
        intruder.name,
        intruder.vkey,
        Buffer.alloc(64, 1).toString('base64'),
      ]);
      const [origin, size, root] = latest.note.split('\n') as [string, string, string];
      const forged = signCheckpoint(
        {
          origin,
          size: Number(size),
          root: Buffer.from(root, 'base64'),
          time: new Date().toISOString(),
          prev: noteDigest(latest.note),
        },
        intruder,
      );
      await sql(schema, 'INSERT INTO audit_checkpoints (size, note) VALUES ($1, $2)', [Number(size), forged]);
      const v = rampart(['audit', 'verify', '--json'], { cwd: a.dir.dir });
      assert.equal(v.code, 1, v.stdout + v.stderr);
      const report = JSON.parse(v.stdout) as { problems: { kind: string; message: string }[] };
      assert.deepEqual(
        report.problems.map((p) => p.kind),
        ['checkpoint-unknown-signer'],
      );
      assert.match(
        report.problems[0]!.message,
        /rampart-audit-intruder.*certificate in the store does not verify/,
      );
    });
  });
});
