// bench/admission/webhook: AdmissionReviews per second and latency through `rampart up`'s
// validating and mutating webhooks, loaded by wrk on the same 2-core machine, next to bare
// fastify parsing the same reviews as the ceiling. Goal: at least 3,000 reviews/s, p99 at most
// 5 ms. Every review is a decision on record (audit log, SQLite).
//
//   npm run bench:setup && node build/bench/admission/webhook.js [--seconds 10]
//
// Kyverno, the usual peer, needs a Kubernetes cluster and ships as Go binaries and images, none of
// which this machine can fetch; docs/benchmarks.md says so next to the numbers.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../../test/support/cli.js';
import { tempDir } from '../../test/support/tmp.js';
import { auditSize, bareFastify, fmt, postScript, runWrk, wrkArgs } from '../wrk.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' } } });
const seconds = values.seconds;
const DIGEST = 'sha256:0f3d7a1c2b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';

/** A realistic mix: hardened Deployments (allowed), bare Pods (denied, several findings), privileged ones. */
function reviews(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    const hardened = i % 3 === 0;
    const container = {
      name: 'agent',
      image: `ghcr.io/acme/agent-${i}@${DIGEST}`,
      env: [
        { name: 'LOG_LEVEL', value: 'info' },
        { name: 'WORKER', value: String(i) },
      ],
      ports: [{ containerPort: 8080 }],
      ...(hardened
        ? {
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              runAsNonRoot: true,
              capabilities: { drop: ['ALL'] },
              seccompProfile: { type: 'RuntimeDefault' },
            },
            resources: { limits: { memory: '1Gi', cpu: '1' } },
            livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
          }
        : i % 3 === 1
          ? { securityContext: { privileged: true } }
          : {}),
    };
    const spec = { containers: [container], volumes: [{ name: 'data', emptyDir: {} }] };
    const object =
      i % 2 === 0
        ? {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: `agent-${i}`, namespace: 'agents', labels: { team: 'ml' } },
            spec: { replicas: 2, template: { metadata: { labels: { app: `agent-${i}` } }, spec } },
          }
        : { apiVersion: 'v1', kind: 'Pod', metadata: { name: `agent-${i}`, namespace: 'agents' }, spec };
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        kind: { group: i % 2 === 0 ? 'apps' : '', version: 'v1', kind: object.kind },
        resource: { group: '', version: 'v1', resource: i % 2 === 0 ? 'deployments' : 'pods' },
        operation: 'CREATE',
        namespace: 'agents',
        name: `agent-${i}`,
        userInfo: { username: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts'] },
        object,
        dryRun: false,
      },
    };
  });
}

const pool = reviews(300);
const size = Math.round(pool.reduce<number>((s, r) => s + JSON.stringify(r).length, 0) / pool.length);
console.log(
  `## Webhook: AdmissionReview v1, ${pool.length} distinct reviews (${size} bytes on average), SQLite audit\n`,
);
console.log(
  `wrk ${wrkArgs(seconds, 'post.lua', 'http://127.0.0.1:PORT/v1/admission/kubernetes/validate').join(' ')}\n`,
);
console.log('| Server | Reviews/s | p50 | p99 | Non-2xx | Audit records written |');
console.log('| --- | --- | --- | --- | --- | --- |');
{
  const path = '/v1/admission/kubernetes/validate';
  const bare = await bareFastify(
    path,
    "{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.body.request.uid, allowed: true } }",
  );
  const dir = tempDir('rampart-bench-webhook-');
  const r = await runWrk(wrkArgs(seconds, postScript(dir.dir, path, pool, 'none'), `${bare.url}${path}`));
  bare.stop();
  dir.cleanup();
  console.log(
    `| bare fastify, constant answer (ceiling) | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | - |`,
  );
}
// Saturated (16 connections as fast as they go: throughput, and latency that is mostly queueing),
// a lighter closed loop (4 connections), and paced at the goal's load: 16 connections each
// sending one review every 4 ms, about 3,500 reviews/s offered.
for (const [mode, log, connections, pace] of [
  ['validate', 'async', 16, undefined],
  ['mutate', 'async', 16, undefined],
  ['validate', 'durable', 16, undefined],
  ['validate', 'async', 4, undefined],
  ['validate', 'async', 16, 4],
  ['validate', 'durable', 16, 4],
] as const) {
  const dir = tempDir('rampart-bench-webhook-');
  writeFileSync(
    join(dir.dir, 'rampart.yaml'),
    `admission:\n  decision_log: ${log}\nlogging:\n  level: warn\n`,
  );
  const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
  const token = readFileSync(join(dir.dir, '.rampart', 'admin.token'), 'utf8').trim();
  const path = `/v1/admission/kubernetes/${mode}`;
  const r = await runWrk(
    wrkArgs(seconds, postScript(dir.dir, path, pool, token, pace), `${server.url}${path}`, connections),
  );
  const records = await auditSize(server.url, token);
  await server.stop();
  dir.cleanup();
  console.log(
    `| rampart up, ${mode}, decision_log: ${log}, ${connections} connections${pace === undefined ? '' : `, paced (one review per ${pace} ms each)`} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${fmt(records)} |`,
  );
}
