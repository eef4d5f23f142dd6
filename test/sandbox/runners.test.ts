// Two attacks from the security review, end to end with a real control plane and real runs.
//
// One uid per run: with every run sharing host uid 65534, a process with that uid read another
// run's workspace and spoke on its egress channel, which the audit log then recorded as the
// victim agent. Each run now has its own uid: as run B's uid, A's workspace and channel are a
// stranger's.
//
// A runner killed with SIGKILL: its run stayed "running" with a live token and an open channel,
// also after a restart. The control plane now notices within a second and ends the run as a
// normal end would, and reconciles at start-up.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { eventually } from '../support/wait.js';

const skip = sandboxSkip();

/** `rampart run` in the background; resolves its child once the run is registered. */
function startRun(cwd: string, agent: string, script: string): ChildProcess {
  return spawn(process.execPath, [BIN, 'run', '--agent', agent, '--', 'sh', '-c', script], {
    cwd,
    stdio: 'ignore',
  });
}

describe('runs and their runners', { skip }, () => {
  let cp: ReturnType<typeof sandboxControlPlaneDir>;
  let server: Server;
  let admin: Api;
  const children: ChildProcess[] = [];

  before(async () => {
    cp = sandboxControlPlaneDir();
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await server?.stop();
    cp.cleanup();
  });

  const runOf = (agent: string, status = 'running'): Promise<Json> =>
    eventually(async () => {
      const runs = ((await admin('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.find((x: Json) => x.agent === agent && x.status === status);
    }, `a ${status} run of ${agent}`);

  const ws = (id: string): string => join(cp.dir.dir, 'ws', id);

  /**
   * A run that copies its own token into its workspace (for the test to use it), then waits. The
   * copy is renamed into place: `cp` alone creates the file before it writes it, and a test that
   * read the empty file in between sent no token and saw 401.
   */
  const runWithToken = async (agent: string): Promise<{ runner: ChildProcess; run: Json; token: string }> => {
    const script =
      'cp /run/rampart/token /workspace/.token && mv /workspace/.token /workspace/token; sleep 60';
    const runner = startRun(cp.dir.dir, agent, script);
    children.push(runner);
    const run = await runOf(agent);
    const file = join(ws(run.id), 'token');
    await eventually(async () => (existsSync(file) ? true : undefined), 'the run copied its token');
    return { runner, run, token: readFileSync(file, 'utf8').trim() };
  };
  const channel = (id: string): string => join(cp.dir.dir, 'ws', '.egress', id, 'proxy.sock');

  it("a run's normal end revokes its tokens as routine (info), not as an alert", async () => {
    const runner = startRun(cp.dir.dir, 'quiet', 'true');
    children.push(runner);
    const run = await runOf('quiet', 'ended');
    const revoked = await eventually(async () => {
      const rs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      return rs.find((r: Json) => r.action === 'event.identity.revoked' && r.target === run.id);
    }, 'the revocation of the run');
    assert.equal(revoked.details.severity, 'info');
  });

  it('gives each live run its own uid: one run cannot read another workspace or use its channel', async () => {
    const a = startRun(cp.dir.dir, 'alice', 'echo alice-secret > /workspace/secret; sleep 60');
    const b = startRun(cp.dir.dir, 'bob', 'sleep 60');
    children.push(a, b);
    const [ra, rb] = [await runOf('alice'), await runOf('bob')];
    await eventually(async () => (existsSync(join(ws(ra.id), 'secret')) ? true : undefined), 'alice wrote');
    const uidA = statSync(ws(ra.id)).uid;
    const uidB = statSync(ws(rb.id)).uid;
    assert.notEqual(uidA, uidB, 'two live runs share a host uid');
    assert.ok(uidA !== 65534 && uidB !== 65534);
    assert.equal(statSync(ws(ra.id)).mode & 0o777, 0o700);
    assert.equal(statSync(channel(ra.id)).uid, uidA);
    assert.equal(statSync(channel(ra.id)).mode & 0o777, 0o600);
    // As run B's uid, on the host: A's workspace and channel are a stranger's.
    const asB = (cmd: string[]): ReturnType<typeof spawnSync> =>
      spawnSync('setpriv', ['--reuid', String(uidB), '--regid', String(uidB), '--clear-groups', ...cmd], {
        encoding: 'utf8',
        timeout: 10_000,
      });
    const read = asB(['cat', join(ws(ra.id), 'secret')]);
    assert.notEqual(read.status, 0, `run B's uid read run A's workspace: ${String(read.stdout)}`);
    const talk = asB(['socat', '-u', '/dev/null', `UNIX-CONNECT:${channel(ra.id)}`]);
    assert.notEqual(talk.status, 0, "run B's uid spoke on run A's egress channel");
    assert.match(String(talk.stderr), /Permission denied/);
    a.kill('SIGTERM');
    b.kill('SIGTERM');
  });

  it('ends the run of a runner killed with SIGKILL within a second: record, token, channel, uid', async () => {
    const { runner, run, token } = await runWithToken('doomed');
    const asRun = api(server.url, token);
    assert.equal((await asRun('GET', '/v1/whoami')).status, 200);
    const uid = statSync(ws(run.id)).uid;

    const t0 = performance.now();
    runner.kill('SIGKILL');
    const ended = await runOf('doomed', 'ended');
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `noticed after ${ms.toFixed(0)} ms`);
    assert.equal(ended.result.reason, 'runner_died');
    // The status changes at once; its record is committed moments later.
    const rec = await eventually(async () => {
      const recs = ((await admin('GET', '/v1/audit/records?limit=1000')).json as { records: Json[] }).records;
      return recs.find((x) => x.action === 'event.sandbox.run_ended' && x.details.data.run === run.id);
    }, 'the record of the end');
    assert.equal(rec.details.data.reason, 'runner_died');
    assert.equal(rec?.details.severity, 'high');
    await eventually(
      async () => ((await asRun('GET', '/v1/whoami')).status === 401 ? true : undefined),
      'the run token refused',
    );
    assert.equal((await asRun('POST', '/v1/tokens/refresh', {})).status, 401, 'the token refreshes');
    assert.equal(existsSync(channel(run.id)), false, 'the egress channel is still open');
    assert.equal(existsSync(join(cp.dir.dir, 'ws', '.uids', String(uid))), false, 'the uid is still held');
  });

  it('reconciles at start-up: a run whose runner died while the control plane was down is ended', async () => {
    const { runner, token } = await runWithToken('orphan');
    await server.stop('SIGKILL');
    runner.kill('SIGKILL');
    await new Promise<void>((r) => (runner.exitCode !== null ? r() : runner.once('exit', () => r())));
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    admin = api(server.url, adminToken(cp.dir.dir));
    const ended = await runOf('orphan', 'ended');
    assert.equal(ended.result.reason, 'runner_died');
    assert.equal((await api(server.url, token)('GET', '/v1/whoami')).status, 401);
  });
});
