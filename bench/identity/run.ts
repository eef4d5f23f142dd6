// bench/identity: workload-token verification against raw node:crypto, jose and fast-jwt in the
// same run, and revocation propagation between two control-plane processes sharing PostgreSQL.
//
//   npm run bench:setup && node build/bench/identity/run.js [--seconds 2] [--propagation 200]
//
// Cold: every token distinct (the verification cache off), so each costs a signature check; with
// 1,000 revocations in force, checked on every verification. Cached: the same tokens again.

import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify, type CryptoKey } from 'jose';
import { identityHarness, type IdentityHarness } from '../../test/support/identity.js';
import { skipPg } from '../../test/support/pg.js';
import { withReplicas } from '../../test/support/replicas.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '2' }, propagation: { type: 'string', default: '200' } },
});
const SECONDS = Number(values.seconds);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function rate(fn: (i: number) => unknown): number {
  for (let i = 0; i < 2000; i++) fn(i);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) for (let k = 0; k < 100; k++) fn(n++);
  return n / ((performance.now() - t0) / 1000);
}

async function rateAsync(fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await fn(i);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) for (let k = 0; k < 100; k++) await fn(n++);
  return n / ((performance.now() - t0) / 1000);
}

const rows: [string, string, string][] = [];

// ------------------------------------------------------------------ algorithm choice: raw node:crypto
const message = Buffer.from('eyJhbGciOiJFUzI1NiJ9.' + 'x'.repeat(420));
for (const alg of ['ES256', 'EdDSA'] as const) {
  const kp =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const digest = alg === 'ES256' ? 'sha256' : null;
  const priv = alg === 'ES256' ? { key: kp.privateKey, dsaEncoding: 'ieee-p1363' as const } : kp.privateKey;
  const pub = alg === 'ES256' ? { key: kp.publicKey, dsaEncoding: 'ieee-p1363' as const } : kp.publicKey;
  const sig = sign(digest, message, priv);
  rows.push([`node:crypto ${alg} sign (raw)`, fmt(rate(() => sign(digest, message, priv))), '']);
  rows.push([`node:crypto ${alg} verify (raw)`, fmt(rate(() => verify(digest, message, pub, sig))), '']);
}

// ------------------------------------------------------------------ Rampart, jose, fast-jwt on the same tokens
const h: IdentityHarness = await identityHarness({ cacheSize: 0 });
const cached: IdentityHarness = await identityHarness({ cacheSize: 100_000 }, { dir: h.dir, clock: h.clock });
for (let i = 0; i < 1000; i++) await h.svc.revoke('jti', `revoked-${i}`, 'bench', 'bench');
await cached.svc.resync();
const tokens: string[] = [];
for (let i = 0; i < 2000; i++)
  tokens.push(
    (await h.svc.issue({ agent: `agent-${i % 50}`, namespace: 'ci', capabilities: ['git.push'] })).token,
  );
const tokenBytes = tokens[0]!.length;
const rawEs256 = Number(rows[1]![1].replace(/,/g, ''));
const cold = rate((i) => {
  if (!h.svc.verify(tokens[i % tokens.length]!).ok) throw new Error('refused');
});
rows.push([
  'Rampart verify, cold (signature + claims + 1,000 revocations checked)',
  fmt(cold),
  `${((cold / rawEs256) * 100).toFixed(0)}% of raw ES256 verify (goal >= 80%)`,
]);
const hot = rate((i) => {
  if (!cached.svc.verify(tokens[i % tokens.length]!).ok) throw new Error('refused');
});
rows.push(['Rampart verify, seen recently (cache by SHA-256 of the token)', fmt(hot), 'goal >= 500,000/s']);

const { key: privateKey } = h.signingKey();
const jwk = privateKey.export({ format: 'jwk' });
const joseKey = (await importJWK(
  { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! },
  'ES256',
)) as CryptoKey;
const now = Math.floor(h.clock.now() / 1000);
const joseRate = await rateAsync(async (i) =>
  jwtVerify(tokens[i % tokens.length]!, joseKey, {
    issuer: 'rampart',
    audience: 'rampart',
    currentDate: new Date(now * 1000),
  }),
);
rows.push(['jose 6 jwtVerify (WebCrypto), no revocation check', fmt(joseRate), '']);
const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
const fj = createVerifier({
  key: publicPem,
  algorithms: ['ES256'],
  allowedAud: 'rampart',
  allowedIss: 'rampart',
  clockTimestamp: now * 1000,
});
rows.push([
  'fast-jwt 6 verifier, no cache, no revocation check',
  fmt(rate((i) => fj(tokens[i % tokens.length]!))),
  '',
]);
const fjc = createVerifier({
  key: publicPem,
  algorithms: ['ES256'],
  allowedAud: 'rampart',
  allowedIss: 'rampart',
  clockTimestamp: now * 1000,
  cache: 100_000,
});
rows.push([
  'fast-jwt 6 verifier with its cache, no revocation check',
  fmt(rate((i) => fjc(tokens[i % tokens.length]!))),
  '',
]);
h.svc.stop();
cached.svc.stop();

console.log(`\n## Verification, one core (ES256 tokens of ${tokenBytes} bytes)\n`);
console.log('| | Per second | Note |');
console.log('| --- | --- | --- |');
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);

// ------------------------------------------------------------------ revocation propagation
if (!skipPg) {
  const n = Number(values.propagation);
  const lat: number[] = [];
  await withReplicas(async (a, b) => {
    const adminA = a.admin;
    const adminB = b.admin;
    for (let i = 0; i < n; i++) {
      const issued = (await adminA('POST', '/v1/tokens', { agent: `p-${i}`, namespace: 'ci' })).json as {
        token: string;
        jti: string;
      };
      const check = async (): Promise<boolean> =>
        ((await adminB('POST', '/v1/tokens/introspect', { token: issued.token })).json as { active: boolean })
          .active;
      if (!(await check())) throw new Error('B refused a fresh token');
      const t0 = performance.now();
      const revoked = adminA('POST', '/v1/tokens/revocations', { kind: 'jti', value: issued.jti });
      while (await check()) {
        if (performance.now() - t0 > 5000) throw new Error('revocation did not reach B in 5 s');
      }
      lat.push(performance.now() - t0);
      await revoked;
    }
  }, 'logging:\n  level: warn\n');
  lat.sort((x, y) => x - y);
  const q = (p: number): string => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(1);
  console.log(
    `\n## Revocation propagation between two control planes sharing PostgreSQL (${n} revocations)\n`,
  );
  console.log(
    'From the revoke request to A until B refuses the token (polling B over HTTP, ~0.5 ms per poll).\n',
  );
  console.log('| p50 | p90 | p99 | max | Goal |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(
    `| ${q(0.5)} ms | ${q(0.9)} ms | ${q(0.99)} ms | ${lat[lat.length - 1]!.toFixed(1)} ms | p99 <= 100 ms |`,
  );
} else {
  console.log('\n(PostgreSQL not reachable: revocation propagation not measured)');
}
h.dir.cleanup();
