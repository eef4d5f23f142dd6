// bench/gitgate: what the git gate adds to a push, beside the same push made directly to the
// same upstream (git http-backend behind Basic authentication, in a process of its own), and
// the control plane's memory while a 100 MB pack goes through it.
//
// 1. A push of 1,000 changed files: each round pushes a fresh commit (every file's content new)
//    to a new branch, directly and through the gate (by the agent's path: the egress proxy, its
//    token, git.rampart.internal), alternating; medians and their difference. Goal: <= 100 ms.
// 2. A 100 MB pack (100 files of 1 MiB of random bytes) through the gate and upstream: the
//    control plane's RSS (this process: it is started in-process) sampled every 10 ms, peak
//    growth over the level before the push. Goal: < 64 MB.
//
//   npm run bench:setup && node build/bench/gitgate/push.js [--rounds 7] [--files 1000]

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config/load.js';
import { startControlPlane } from '../../src/server/controlplane.js';
import { git, makeRepo, startUpstream, upstreamRefs } from '../../test/support/gitupstream.js';
import { tempDir } from '../../test/support/tmp.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, files: { type: 'string', default: '1000' } },
});
const ROUNDS = Number(values.rounds);
const FILES = Number(values.files);
const PASSWORD = 'bench-upstream-password-0123456789';

function gitAsync(args: string[], cwd: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const c = spawn('git', args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) =>
      code === 0 ? resolve(performance.now() - t) : reject(new Error(`git ${args.join(' ')}: ${err}`)),
    );
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const t = tempDir('rampart-bench-gitgate-');
const root = join(t.dir, 'upstream');
makeRepo(root, 'acme/app', join(t.dir, 'seed'));
const upstream = await startUpstream(root, 'bot', PASSWORD);
writeFileSync(
  join(t.dir, 'rampart.yaml'),
  [
    'server:\n  listen: 127.0.0.1:0',
    'egress:\n  listen: 127.0.0.1:0',
    'detect:\n  telemetry: off',
    'respond:\n  enabled: false',
    'logging:\n  level: warn',
    'gitgate:',
    `  upstreams: [{repos: 'acme/*', url: '${upstream.url}/{repo}.git', credential: 'vault:forge/acme'}]`,
    '  rules: {max_files: 5000}',
    '',
  ].join('\n'),
);
const config = parseConfig(readFileSync(join(t.dir, 'rampart.yaml'), 'utf8'), join(t.dir, 'rampart.yaml'), {
  baseDir: t.dir,
});
const cp = await startControlPlane({ config, logDestination: new Writable({ write: (_c, _e, cb) => cb() }) });
const admin = readFileSync(cp.adminTokenFile, 'utf8').trim();
const call = async (method: string, path: string, body: unknown): Promise<Record<string, unknown>> => {
  const r = await fetch(`${cp.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
};
try {
  await call('PUT', '/v1/secrets/forge/acme', {
    value_base64: Buffer.from(`bot:${PASSWORD}`).toString('base64'),
  });
  const token = (
    await call('POST', '/v1/tokens', {
      agent: 'bench',
      namespace: 'default',
      ttl_seconds: 600,
      git: { repo: 'acme/app', task: '7' },
    })
  )['token'] as string;
  const egress = JSON.parse(readFileSync(join(config.dataDir, 'control-plane.json'), 'utf8')) as {
    egress: string;
  };
  const helper = join(t.dir, 'token');
  writeFileSync(helper, token, { mode: 0o600 });
  const base = {
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@example.com',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@example.com',
  };
  const viaGate = {
    ...base,
    http_proxy: `http://x:${token}@${new URL(egress.egress).host}`,
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'credential.http://git.rampart.internal.helper',
    GIT_CONFIG_VALUE_0: `!f() { echo username=x; printf 'password=%s\\n' "$(cat ${helper})"; }; f`,
    GIT_CONFIG_KEY_1: 'http.proxyAuthMethod',
    GIT_CONFIG_VALUE_1: 'basic',
  };
  const work = join(t.dir, 'w');
  // Never spawnSync against the gate: it runs in this process's event loop.
  await gitAsync(['clone', '-q', 'http://git.rampart.internal/acme/app.git', work], t.dir, viaGate);
  const direct = `http://bot:${PASSWORD}@${new URL(upstream.url).host}/acme/app.git`;
  git(['fetch', '-q', direct, 'main'], work, base);

  // 1. 1,000 changed files: a fresh commit per push, on a branch of its own.
  const commitRound = (label: string): string => {
    git(['checkout', '-q', '-B', `agent/issue-7-${label}`, 'origin/main'], work, base);
    for (let i = 0; i < FILES; i++) {
      mkdirSync(join(work, 'src', String(i % 20)), { recursive: true });
      writeFileSync(join(work, 'src', String(i % 20), `f${i}.ts`), `export const v${i} = '${label}-${i}';\n`);
    }
    git(['add', '-A'], work, base);
    git(['commit', '-q', '-m', `Round ${label} for #7`], work, base);
    return git(['rev-parse', 'HEAD'], work, base).trim();
  };
  const directMs: number[] = [];
  const gateMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const d = commitRound(`direct-${r}`);
    directMs.push(
      await gitAsync(['push', '-q', direct, `${d}:refs/heads/agent/issue-7-direct-${r}`], work, base),
    );
    const g = commitRound(`gate-${r}`);
    gateMs.push(
      await gitAsync(['push', '-q', 'origin', `${g}:refs/heads/agent/issue-7-gate-${r}`], work, viaGate),
    );
    if (upstreamRefs(root, 'acme/app')[`refs/heads/agent/issue-7-gate-${r}`] !== g)
      throw new Error('the gated push did not land');
  }
  const nodeE0 = await new Promise<number>((resolve) => {
    const s = performance.now();
    spawn(process.execPath, ['-e', '0']).on('close', () => resolve(performance.now() - s));
  });
  console.log(`1,000 changed files (${ROUNDS} rounds each, medians; node -e 0: ${nodeE0.toFixed(0)} ms):`);
  console.log(
    `  direct to the upstream   ${median(directMs).toFixed(0)} ms   [${directMs.map((x) => x.toFixed(0)).join(' ')}]`,
  );
  console.log(
    `  through the gate         ${median(gateMs).toFixed(0)} ms   [${gateMs.map((x) => x.toFixed(0)).join(' ')}]`,
  );
  console.log(
    `  added by the gate        ${(median(gateMs) - median(directMs)).toFixed(0)} ms (goal <= 100 ms)`,
  );

  // 2. 100 MB pack through the gate, memory sampled.
  git(['checkout', '-q', '-B', 'agent/issue-7-big', 'origin/main'], work, base);
  mkdirSync(join(work, 'blobs'), { recursive: true });
  for (let i = 0; i < 100; i++) writeFileSync(join(work, 'blobs', `b${i}.bin`), randomBytes(1024 * 1024));
  git(['add', '-A'], work, base);
  git(['commit', '-q', '-m', 'Data for #7'], work, base);
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const bigMs = await gitAsync(['-c', 'pack.compression=0', 'push', '-q', 'origin', 'HEAD'], work, viaGate);
  clearInterval(sampler);
  console.log(`100 MB pack through the gate and upstream: ${(bigMs / 1000).toFixed(1)} s`);
  console.log(
    `  control plane RSS: ${(before / 1048576).toFixed(0)} MB before, peak ${(peak / 1048576).toFixed(0)} MB: grew ${((peak - before) / 1048576).toFixed(1)} MB (goal < 64 MB)`,
  );
} finally {
  await cp.close();
  await upstream.close();
  t.cleanup();
}
