// bench/policy: decisions per second and latency, in process and over HTTP, with Cedar (wasm)
// and a bare compiled CEL expression as the peers in the same run.
//
//   npm run bench:setup && node --expose-gc build/bench/policy/run.js [--seconds 2] [--http-seconds 10]
//
// In process, one core: the default policy set grown to 200 rules, uncached (cache off) and
// cached; then the same with 1,000 rules and 10,000 entities, and how cost grows with each.
// Over HTTP: `rampart up` on SQLite with each decision_log mode (off, async, durable), loaded
// by wrk on the same 2-core machine, next to bare fastify as the ceiling.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Environment } from '@marcbachmann/cel-js';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { PolicyEngine } from '../../src/policy/engine.js';
import { loadPolicySet } from '../../src/policy/load.js';
import type { DecisionInput } from '../../src/policy/model.js';
import { startServer } from '../../test/support/cli.js';
import { auditSize, bareFastify, fmt, postScript, runWrk, wrkArgs } from '../wrk.js';
import { tempDir } from '../../test/support/tmp.js';
import { entities, grownPolicyDir, inputs } from './fixture.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    'http-seconds': { type: 'string', default: '10' },
    'skip-http': { type: 'boolean', default: false },
    'http-only': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const t = tempDir('rampart-bench-policy-');

function engineFor(rules: number, entityCount: number, cacheSize: number): PolicyEngine {
  const e = new PolicyEngine({ cacheSize });
  e.activate(loadPolicySet(grownPolicyDir(t.dir, rules)));
  entities(entityCount).forEach((x, i) => e.entities.apply({ ...x, version: i + 1, deleted: false }));
  return e;
}

function measure(
  e: PolicyEngine,
  pool: DecisionInput[],
): { perSec: number; p50: number; p99: number; allowed: number } {
  // Start each measurement with a clean heap (run with --expose-gc), so one row's garbage is not
  // collected on the next row's clock.
  (globalThis as { gc?: () => void }).gc?.();
  // Warm-up (JIT), not measured.
  for (let i = 0; i < 20_000; i++) e.decide(pool[i % pool.length]!);
  // Throughput: no timer inside the loop (a clock read per call would cost as much as a cached
  // decision).
  let n = 0;
  let allowed = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 1000; k++) if (e.decide(pool[n++ % pool.length]!).allow) allowed++;
  }
  const perSec = n / ((performance.now() - t0) / 1000);
  // Latency: each call timed, in a separate pass.
  const samples = 200_000;
  const lat = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const s = process.hrtime.bigint();
    e.decide(pool[(n + i) % pool.length]!);
    lat[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  lat.sort();
  return { perSec, p50: lat[samples * 0.5]!, p99: lat[samples * 0.99]!, allowed: allowed / n };
}

if (!values['http-only']) {
  console.log('\n## In process, one core\n');
  console.log(
    '| Rules | Entities | Uncached decisions/s | p50 | p99 | Cached decisions/s | Cached p99 | Allowed |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const rows: [number, number][] = [
    [14, 100],
    [200, 100],
    [200, 10_000],
    [1000, 100],
    [1000, 10_000],
  ];
  for (const [rules, ents] of rows) {
    const pool = inputs(5000, ents);
    const un = measure(engineFor(rules, ents, 0), pool);
    const cached = measure(engineFor(rules, ents, 1_000_000), pool);
    console.log(
      `| ${rules} | ${fmt(ents)} | ${fmt(un.perSec)} | ${un.p50.toFixed(1)} µs | ${un.p99.toFixed(1)} µs | ${fmt(cached.perSec)} | ${cached.p99.toFixed(1)} µs | ${(un.allowed * 100).toFixed(0)}% |`,
    );
  }

  // ------------------------------------------------------------------ peers
  {
    const env = new Environment().registerVariable('principal', 'map').registerVariable('resource', 'map');
    const f = env.parse("principal.namespace == resource.namespace && 'git.push' in principal.capabilities");
    const ctx = {
      principal: { namespace: 'ns-1', capabilities: ['git.push'] },
      resource: { namespace: 'ns-1' },
    };
    for (let i = 0; i < 100_000; i++) f(ctx);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < SECONDS * 1000) for (let k = 0; k < 1000; k++, n++) f(ctx);
    const celRate = n / ((performance.now() - t0) / 1000);

    // Cedar: the same question (same namespace and a held capability), 100 entities, preparsed policies.
    const policies = {
      staticPolicies: `permit(principal, action == Action::"task.run", resource) when { principal.namespace == resource.namespace && principal.capabilities.contains("git.push") };
forbid(principal, action, resource) when { principal.quarantined };`,
    };
    const pre = cedar.preparsePolicySet('bench', policies);
    if (pre.type !== 'success') throw new Error(JSON.stringify(pre));
    // Only the two entities the request names: the best case for Cedar, which takes entities as
    // JSON across the wasm boundary on every call.
    const ents = entities(100)
      .filter((e) => e.id === 'agent-1')
      .map((e) => ({
        uid: { type: 'Agent', id: e.id },
        attrs: {
          namespace: String(e.attributes['namespace']),
          capabilities: e.attributes['capabilities'] as string[],
          quarantined: false,
        },
        parents: [],
      }));
    ents.push({
      uid: { type: 'Task', id: 't1' },
      attrs: { namespace: 'ns-1', capabilities: [], quarantined: false },
      parents: [],
    });
    const call = {
      principal: { type: 'Agent', id: 'agent-1' },
      action: { type: 'Action', id: 'task.run' },
      resource: { type: 'Task', id: 't1' },
      context: {},
      preparsedPolicySetId: 'bench',
      entities: ents,
    };
    const first = cedar.statefulIsAuthorized(call);
    if (first.type !== 'success') throw new Error(JSON.stringify(first));
    const c0 = performance.now();
    let m = 0;
    while (performance.now() - c0 < SECONDS * 1000) {
      cedar.statefulIsAuthorized(call);
      m++;
    }
    const cedarRate = m / ((performance.now() - c0) / 1000);
    console.log('\n## Peers, same run\n');
    console.log('| Peer | Rate |');
    console.log('| --- | --- |');
    console.log(`| One compiled CEL expression (cel-js), evaluations/s | ${fmt(celRate)} |`);
    console.log(
      `| Cedar ${'4.x'} wasm, statefulIsAuthorized (preparsed policies, ${ents.length} entities per call), decisions/s | ${fmt(cedarRate)} (${first.response.decision}) |`,
    );
  }
}

// ------------------------------------------------------------------ HTTP
// One wrk thread and 16 connections: on two cores, wrk on one and the control plane's event loop
// on the other (more wrk threads only steal the server's core). The bare-fastify row is the
// ceiling: the same request parsed and answered with a constant, nothing else.
if (!values['skip-http']) {
  const seconds = values['http-seconds'];
  const pool = inputs(500, 100);
  console.log('\n## HTTP: POST /v1/decide, 200 rules, 100 entities, SQLite\n');
  console.log(`wrk ${wrkArgs(seconds, 'post.lua', 'http://127.0.0.1:PORT/v1/decide').join(' ')}\n`);
  console.log('| Server | Decisions/s | p50 | p99 | Non-2xx | Audit records written |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  {
    // The ceiling: fastify alone, parsing the same body and answering a constant decision.
    const bare = await bareFastify('/v1/decide', "{ allow: req.body.action === 'x', reasons: [] }");
    const dir = tempDir('rampart-bench-http-');
    const r = await runWrk(
      wrkArgs(seconds, postScript(dir.dir, '/v1/decide', pool, 'none'), `${bare.url}/v1/decide`),
    );
    bare.stop();
    dir.cleanup();
    console.log(
      `| bare fastify (ceiling, same process model) | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | - |`,
    );
  }
  for (const mode of ['off', 'async', 'durable'] as const) {
    const dir = tempDir('rampart-bench-http-');
    const policyDir = grownPolicyDir(dir.dir, 200);
    writeFileSync(
      join(dir.dir, 'rampart.yaml'),
      `policy:\n  dir: ${policyDir}\n  watch: false\n  decision_log: ${mode}\nlogging:\n  level: warn\n`,
    );
    const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    const token = readFileSync(join(dir.dir, '.rampart', 'admin.token'), 'utf8').trim();
    for (const e of entities(100)) {
      const res = await fetch(`${server.url}/v1/entities/${e.type}/${e.id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ attributes: e.attributes, parents: e.parents }),
      }).catch((err: unknown) => {
        throw new Error(`PUT ${e.type}/${e.id} failed; server said:\n${server.stderr()}`, { cause: err });
      });
      await res.text();
    }
    const r = await runWrk(
      wrkArgs(seconds, postScript(dir.dir, '/v1/decide', pool, token), `${server.url}/v1/decide`),
    );
    const records = await auditSize(server.url, token);
    await server.stop();
    dir.cleanup();
    console.log(
      `| rampart up, decision_log: ${mode} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${fmt(records)} |`,
    );
  }
}
t.cleanup();
