// Two control planes sharing PostgreSQL: a token issued by one is accepted by the other (its key
// is in the shared store), and a revocation on one takes effect on the other within moments.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api } from '../support/http.js';
import { skipPg } from '../support/pg.js';
import { withReplicas } from '../support/replicas.js';

describe('workload tokens across replicas', { skip: skipPg }, () => {
  it('verifies on B what A issued, and B refuses it within moments of A revoking it', async () => {
    await withReplicas(async (a, b) => {
      const adminA = a.admin;
      const issued = (await adminA('POST', '/v1/tokens', { agent: 'roamer', namespace: 'ci' })).json;
      const onB = api(b.server.url, issued.token as string);
      assert.equal((await onB('GET', '/v1/whoami')).status, 200, 'B knows A’s key');
      const jwksB = (await (await fetch(`${b.server.url}/.well-known/jwks.json`)).json()) as {
        keys: unknown[];
      };
      assert.equal(jwksB.keys.length, 2, 'B publishes both replicas’ keys');

      const t0 = performance.now();
      assert.equal(
        (await adminA('POST', '/v1/tokens/revocations', { kind: 'agent', value: 'roamer' })).status,
        200,
      );
      let status = 200;
      while (status === 200 && performance.now() - t0 < 5000)
        status = (await onB('GET', '/v1/whoami')).status;
      const ms = performance.now() - t0;
      assert.equal(status, 401);
      assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    });
  });
});
