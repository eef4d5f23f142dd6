// `rampart run`, `runs`, `kill`, `quarantine` and `destroy --all` end to end: a real control
// plane, real sandboxes, the audit log checked for each run's record.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { tempDir, type TempDir } from '../support/tmp.js';
import { eventually, until } from '../support/wait.js';

const skip = sandboxSkip();

describe('rampart run and the run controls', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let dir: TempDir;
  let server: Server;
  let admin: Api;

  before(async () => {
    cp = sandboxControlPlaneDir();
    dir = cp.dir;
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
    admin = api(server.url, adminToken(dir.dir));
  });
  after(async () => {
    await server.stop();
    cp.cleanup();
  });

  const records = async (): Promise<Json[]> =>
    ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;

  const waitRunning = (agent: string): Promise<string> =>
    eventually(async () => {
      const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.find((x: Json) => x.agent === agent && x.status === 'running')?.id as string | undefined;
    }, `a running run of ${agent}`);

  it('runs a command, exits with its code, gives it a token, and records start, end and revocation', async () => {
    const r = await rampartAsync(
      [
        'run',
        '--agent',
        'builder',
        '--cap',
        'git.push',
        '--',
        'sh',
        '-c',
        'test -s /run/rampart/token && exit 3',
      ],
      { cwd: dir.dir },
    );
    assert.equal(r.code, 3, r.stderr);
    const recs = await records();
    const started = recs.find((x) => x.action === 'event.sandbox.run_started');
    const ended = recs.find((x) => x.action === 'event.sandbox.run_ended');
    assert.ok(started && ended, 'start and end are in the audit log');
    assert.equal(ended.details.data.exitCode, 3);
    const run = started.details.data.run as string;
    const issued = recs.find((x) => x.action === 'token.issue' && x.details.run === run);
    assert.ok(issued, 'the token issue is audited');
    assert.doesNotMatch(JSON.stringify(recs), /eyJhbGciOi/, 'no token in the audit log');
    const revs = ((await admin('GET', '/v1/tokens/revocations')).json as { revocations: Json[] }).revocations;
    assert.ok(
      revs.some((x: Json) => x.kind === 'run' && x.value === run),
      "the run's tokens are revoked at its end",
    );
  });

  it('refuses to run without a control plane to record it', () => {
    const lone = tempDir();
    try {
      const marker = join(lone.dir, 'ran');
      const r = rampart(['run', '--', 'sh', '-c', `touch ${marker}`], { cwd: lone.dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /RAMPART_E_CONTROL_PLANE_UNREACHABLE/);
      assert.equal(existsSync(marker), false);
    } finally {
      lone.cleanup();
    }
  });

  it('refuses a secret file readable by others, naming it', () => {
    const f = join(dir.dir, 'loose-secret');
    writeFileSync(f, 'value', { mode: 0o644 });
    chmodSync(f, 0o644);
    const r = rampart(['run', '--secret', `api=${f}`, '--', 'true'], { cwd: dir.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /loose-secret/);
    assert.doesNotMatch(r.stderr, /value/);
  });

  it('kill ends a run (SIGTERM, then SIGKILL) and is audited', async () => {
    const running = rampartAsync(['run', '--agent', 'victim', '--', 'sleep', '30'], { cwd: dir.dir });
    const id = await waitRunning('victim');
    const k = rampart(['kill', id, '--reason', 'looping on the API'], { cwd: dir.dir });
    assert.equal(k.code, 0, k.stderr);
    const r = await running;
    assert.equal(r.code, 128 + 15, r.stderr);
    // The run's own terminal: where it ran when it started, and who ended it and why at the end.
    assert.match(r.stderr, new RegExp(`^rampart: run ${id} \\(agent victim\\) in \\S+${id}$`, 'm'));
    assert.match(r.stderr, new RegExp(`^rampart: run ${id} was killed by admin: looping on the API$`, 'm'));
    assert.ok(
      (await records()).some(
        (x) =>
          x.action === 'event.sandbox.killed' &&
          x.details.data.run === id &&
          x.details.data.reason === 'looping on the API',
      ),
    );
    // Killing it again says it has ended, and how; not "no such run".
    const again = rampart(['kill', id], { cwd: dir.dir });
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      new RegExp(`RAMPART_E_CONFLICT: run ${id} has already ended \\(killed by admin at \\S+\\)`),
    );
  });

  it('quarantine freezes a run, archives its processes and workspace with a hash on record, then kills it', async () => {
    const running = rampartAsync(
      ['run', '--agent', 'suspect', '--', 'sh', '-c', 'echo exfil > /workspace/found.txt; sleep 30'],
      { cwd: dir.dir },
    );
    const id = await waitRunning('suspect');
    await eventually(
      async () => (existsSync(join(dir.dir, 'ws', id, 'found.txt')) ? true : undefined),
      'the file the run writes',
    );
    const q = rampart(['quarantine', id], { cwd: dir.dir });
    assert.equal(q.code, 0, q.stderr);
    const evidence = (JSON.parse(q.stdout) as { evidence: Json }).evidence;
    const bytes = readFileSync(evidence.archive as string);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), evidence.sha256);
    const listing = execFileSync('tar', ['-tzf', evidence.archive as string]).toString();
    assert.match(listing, /manifest\.json/);
    assert.match(listing, /found\.txt/);
    const manifest = JSON.parse(
      execFileSync('tar', ['-xzOf', evidence.archive as string, 'manifest.json']).toString(),
    );
    assert.ok(manifest.processes.some((p: Json) => (p.cmdline as string[]).includes('sleep')));
    assert.equal((await running).code, 128 + 9);
    const rec = (await records()).find((x) => x.action === 'event.sandbox.quarantined');
    assert.equal(rec?.details.data.sha256, evidence.sha256);
  });

  it('quarantine of a 4 GiB sparse workspace never holds the API: /healthz p99 under 50 ms', async () => {
    // The run makes a 4 GiB sparse file (and a 300 MiB one, over max_file) beside a small one.
    const running = rampartAsync(
      [
        'run',
        '--agent',
        'hoarder',
        '--',
        'sh',
        '-c',
        'echo note > /workspace/note.txt; truncate -s 4G /workspace/sparse.img; truncate -s 300M /workspace/big.img; sleep 60',
      ],
      { cwd: dir.dir },
    );
    const id = await waitRunning('hoarder');
    await eventually(
      async () => (existsSync(join(dir.dir, 'ws', id, 'big.img')) ? true : undefined),
      'the sparse files',
    );
    let capturing = true;
    const samples: number[] = [];
    const probe = (async () => {
      while (capturing) {
        const t0 = performance.now();
        await fetch(`${server.url}/healthz`);
        samples.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const q = await admin('POST', `/v1/runs/${id}/quarantine`);
    capturing = false;
    await probe;
    assert.equal(q.status, 200, JSON.stringify(q.json));
    samples.sort((a, b) => a - b);
    const p99 = samples[Math.floor(samples.length * 0.99)]!;
    assert.ok(samples.length >= 3, `${samples.length} probes`);
    assert.ok(p99 < 50, `/healthz p99 ${p99.toFixed(1)} ms during capture`);
    const evidence = q.json.evidence;
    const manifest = JSON.parse(
      execFileSync('tar', ['-xzOf', evidence.archive as string, 'manifest.json']).toString(),
    );
    const kept = new Map((manifest.files.kept as Json[]).map((f) => [f.path, f]));
    const skipped = new Map((manifest.files.skipped as Json[]).map((f) => [f.path, f]));
    // What was kept is hashed; what was not is listed with why.
    assert.equal(kept.get('note.txt')?.sha256, createHash('sha256').update('note\n').digest('hex'));
    assert.match(skipped.get('sparse.img')?.why ?? '', /max_file/);
    assert.match(skipped.get('big.img')?.why ?? '', /max_file/);
    assert.equal(evidence.skipped, 2);
    // Neither large file is in the archive: what it holds is the workspace's small file, the
    // manifest and the processes' memory images (at most their own size, compressed).
    const listed = execFileSync('tar', ['-tzf', evidence.archive as string])
      .toString()
      .split('\n');
    assert.ok(!listed.some((f) => f.endsWith('sparse.img') || f.endsWith('big.img')), listed.join(' '));
    assert.ok(
      (evidence.bytes as number) < (1 << 20) + (evidence.memoryBytes as number),
      `archive of ${evidence.bytes} bytes`,
    );
    assert.equal((await running).code, 128 + 9);
  });

  it('destroy --all ends every run on the host within a second', async () => {
    const runs = [0, 1, 2, 3, 4].map((i) =>
      rampartAsync(['run', '--agent', `fleet-${i}`, '--', 'sleep', '30'], { cwd: dir.dir }),
    );
    for (let i = 0; i < 5; i++) await waitRunning(`fleet-${i}`);
    const t0 = performance.now();
    const d = rampart(['destroy', '--all'], { cwd: dir.dir });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /destroyed 5 run/);
    const codes = (await Promise.all(runs)).map((r) => r.code);
    assert.ok(performance.now() - t0 < 3000);
    assert.deepEqual(codes, [137, 137, 137, 137, 137]);
    const listed = rampart(['runs'], { cwd: dir.dir });
    assert.match(listed.stdout, /^RUN +AGENT +PROFILE +STATUS +STARTED +ENDED +ENDED BY$/m);
    assert.match(listed.stdout, /fleet-0 +default +killed +\S+ +\S+ +admin \(the kill switch\)$/m);
    const json = JSON.parse(rampart(['runs', '--json'], { cwd: dir.dir }).stdout) as Json[];
    assert.ok(json.some((r: Json) => r.agent === 'fleet-0' && r.endedBy === 'admin'));
  });

  it('runs --watch prints the list again as runs start and end', async () => {
    const watcher = spawn(process.execPath, [BIN, 'runs', '--watch'], { cwd: dir.dir });
    let out = '';
    watcher.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await until(() => out.includes('RUN '), 'the first list');
      const running = rampartAsync(['run', '--agent', 'watched', '--', 'sleep', '30'], { cwd: dir.dir });
      const id = await waitRunning('watched');
      await until(() => new RegExp(`${id} +watched +default +running`).test(out), 'the run, running');
      assert.equal(rampart(['kill', id], { cwd: dir.dir }).code, 0);
      await until(() => new RegExp(`${id} +watched +default +killed`).test(out), 'the run, killed');
      await running;
    } finally {
      watcher.kill();
    }
  });

  it('/metrics counts runs started, active and ended by how, and the start latency', async () => {
    const text = (await admin('GET', '/metrics')).json as string;
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^rampart_runs_started_total (\d+)$/m) >= 5, text);
    assert.ok(value(/^rampart_runs_ended_total\{reason="killed"\} (\d+)$/m) >= 1);
    assert.ok(value(/^rampart_runs_ended_total\{reason="quarantined"\} (\d+)$/m) >= 1);
    assert.ok(value(/^rampart_runs_ended_total\{reason="exited"\} (\d+)$/m) >= 1);
    assert.equal(value(/^rampart_runs_active (\d+)$/m), 0);
    assert.ok(value(/^rampart_runs_start_seconds_count (\d+)$/m) >= 5);
  });
});
