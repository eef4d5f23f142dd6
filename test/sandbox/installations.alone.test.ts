// Runs belong to the installation that started them: `rampart runs` in one installation listed
// another's run on the same host, and `destroy --all` would have ended it. Each installation
// now has a cgroup parent of its own (by default named from its data directory), and acts on
// other installations' runs only with --host-wide.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { rampart, rampartAsync, startServer, type Server } from '../support/cli.js';
import { adminToken, api, type Json } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/wait.js';

it('two data directories get two cgroup parents by default', () => {
  const [a, b] = [tempDir(), tempDir()];
  try {
    const pa = loadConfig({ cwd: a.dir }).sandbox.cgroupParent;
    const pb = loadConfig({ cwd: b.dir }).sandbox.cgroupParent;
    assert.match(pa, /^rampart-[0-9a-f]{8}$/);
    assert.notEqual(pa, pb);
    assert.equal(loadConfig({ cwd: a.dir }).sandbox.cgroupParent, pa, 'stable for one directory');
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

it(
  'an installation makes its cgroup parent with a run, and leaves none when its runs end or it stops',
  { skip: sandboxSkip() },
  async () => {
    const cp = sandboxControlPlaneDir();
    const where = (): string =>
      existsSync('/sys/fs/cgroup/memory')
        ? `/sys/fs/cgroup/memory/${cp.cgroupParent}`
        : `/sys/fs/cgroup/${cp.cgroupParent}`;
    try {
      const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
      assert.equal(existsSync(where()), false, 'not made before a run needs it');
      const r = await rampartAsync(['run', '--', 'true'], { cwd: cp.dir.dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(existsSync(where()), false, 'removed when its last run ended');
      const again = await rampartAsync(['run', '--', 'true'], { cwd: cp.dir.dir });
      assert.equal(again.code, 0, 'a run makes it again');
      await server.stop();
      assert.equal(existsSync(where()), false, 'removed at stop, with no run in it');
    } finally {
      cp.cleanup();
    }
  },
);

describe('two installations on one host', { skip: sandboxSkip() }, () => {
  const dirs = [sandboxControlPlaneDir(), sandboxControlPlaneDir()];
  const servers: Server[] = [];
  before(async () => {
    for (const d of dirs) servers.push(await startServer(['--listen', '127.0.0.1:0'], { cwd: d.dir.dir }));
  });
  after(async () => {
    for (const s of servers) await s.stop();
    for (const d of dirs) d.cleanup();
  });

  it('one lists and destroys its own runs alone; --host-wide reaches the other', async () => {
    const [a, b] = dirs as [(typeof dirs)[0], (typeof dirs)[0]];
    const running = rampartAsync(['run', '--agent', 'theirs', '--', 'sleep', '30'], { cwd: a.dir.dir });
    const adminA = api(servers[0]!.url, adminToken(a.dir.dir));
    const run = await eventually(async () => {
      const runs = ((await adminA('GET', '/v1/runs')).json as { runs: Json[] }).runs;
      return runs.find((r: Json) => r.agent === 'theirs' && r.status === 'running');
    }, "A's run");
    const inB = rampart(['runs', '--json'], { cwd: b.dir.dir });
    assert.equal(inB.code, 0, inB.stderr);
    assert.deepEqual(JSON.parse(inB.stdout), [], "B does not list A's run");
    const destroyB = rampart(['destroy', '--all'], { cwd: b.dir.dir });
    assert.match(destroyB.stdout, /^destroyed 0 run\(s\)/);
    const wide = rampart(['runs', '--host-wide'], { cwd: b.dir.dir });
    assert.match(wide.stdout, new RegExp(`^  ${a.cgroupParent}/${run.id}$`, 'm'));
    const everything = rampart(['destroy', '--all', '--host-wide', '--reason', 'host emergency'], {
      cwd: b.dir.dir,
    });
    assert.equal(everything.code, 0, everything.stderr);
    assert.match(everything.stdout, /^destroyed 1 run\(s\)/);
    assert.equal((await running).code, 137, "A's run was killed");
  });
});
