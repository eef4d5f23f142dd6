// bench/secrets: a secret read by a run through the control plane, decision and record included
// (issue goal: p99 <= 2 ms), beside the same server's GET /v1/whoami on the same keep-alive
// connection (the floor of any authenticated request there) and an in-process open of the sealed
// value (the cryptography alone).
//
//   npm run bench:setup && node build/bench/secrets/read.js [--n 5000]
//
// The run is an agent with a workload token and a grant to the vault (vault:ci:read), reading
// POST /v1/agent/secrets/ci/token one request at a time: policy decides secret.read, the value is
// unsealed, and the read is recorded (the audit log's group commit) before the answer.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Sealer } from '../../src/secrets/seal.js';
import { rampart, startServer } from '../../test/support/cli.js';
import { adminToken, api } from '../../test/support/http.js';
import { tempDir } from '../../test/support/tmp.js';
import { mean, pct } from '../runtimes/stats.js';
import { caller } from './http.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '5000' } } });
const N = Number(values.n);

const dir = tempDir();
// Agents' API rate limits raised out of the way: this measures one read's latency, not the limits.
writeFileSync(
  join(dir.dir, 'rampart.yaml'),
  'logging:\n  level: warn\nidentity:\n  rate_limits:\n    api:\n' +
    '      per_agent: { rate: 1000000, burst: 1000000 }\n      per_token: { rate: 1000000, burst: 1000000 }\n',
);
const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
try {
  const admin = api(server.url, adminToken(dir.dir));
  writeFileSync(join(dir.dir, 'token.value'), 'ghp_' + 'x'.repeat(36), { mode: 0o600 });
  const put = rampart(['secret', 'put', 'ci/token', 'token.value'], { cwd: dir.dir });
  if (put.code !== 0) throw new Error(put.stderr);
  await admin('PUT', '/v1/entities/agent/reader', {
    attributes: { capabilities: ['vault:ci:read'] },
    parents: [],
  });
  const issued = await admin('POST', '/v1/tokens', { agent: 'reader', namespace: 'ci', capabilities: [] });
  if (issued.status !== 200) throw new Error(`token: ${issued.status} ${JSON.stringify(issued.json)}`);
  const token = (issued.json as { token: string }).token;

  const { call, close } = caller(server.url, token);
  const series = async (fn: () => Promise<number>): Promise<number[]> => {
    for (let i = 0; i < 500; i++) await fn();
    const out: number[] = [];
    for (let i = 0; i < N; i++) out.push(await fn());
    return out;
  };
  // The grant reaches the policy engine by the entity sync: wait for it before measuring.
  for (let i = 0; ; i++) {
    const r = await call('POST', '/v1/agent/secrets/ci/token', '{}').catch((e: Error) => e);
    if (typeof r === 'number') break;
    if (i > 200) throw r;
    await new Promise((res) => setTimeout(res, 50));
  }
  const health = await series(() => call('GET', '/v1/whoami'));
  const reads = await series(() => call('POST', '/v1/agent/secrets/ci/token', '{}'));
  close();

  // The cryptography alone: unwrap the data key and open the value, in this process.
  const sealer = Sealer.load(join(dir.dir, '.rampart'), { create: false });
  const sealed = sealer.seal(Buffer.from('ghp_' + 'x'.repeat(36)), 'ci/token#1');
  const opens: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    sealer.open(sealed, 'ci/token#1');
    opens.push(performance.now() - t0);
  }

  const ms = (x: number): string => `${x.toFixed(3)} ms`;
  console.log(`\n## A secret read by a run (${N} sequential requests, one keep-alive connection)\n`);
  console.log('| What | mean | p50 | p99 |');
  console.log('| --- | --- | --- | --- |');
  const row = (name: string, xs: number[]): void =>
    console.log(`| ${name} | ${ms(mean(xs))} | ${ms(pct(xs, 0.5))} | ${ms(pct(xs, 0.99))} |`);
  row('`GET /v1/whoami` with the agent token (the floor)', health);
  row('`POST /v1/agent/secrets/ci/token`: policy, unseal, record', reads);
  row('`Sealer.open` in process (unwrap + AES-256-GCM)', opens);
  console.log(`\nGoal: a read's p99 <= 2 ms: ${pct(reads, 0.99) <= 2 ? 'met' : 'not met'}`);
} finally {
  await server.stop();
  dir.cleanup();
}
