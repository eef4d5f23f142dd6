// `rampart drill --chaos`: every fault scenario against the throwaway deployment it makes (its
// own PostgreSQL cluster in a network namespace, its control plane, tmpfs data), each holding:
// health says so, Rampart fails closed, everything recovers, the log keeps every acknowledged
// record and verifies. Afterwards nothing of it is left: no mount, namespace, cgroup or process.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHAOS } from '../../src/drill/chaos/scenarios.js';
import { BIN, rampartAsync, startServer } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { sandboxControlPlaneDir, sandboxSkip } from '../support/sandbox.js';
import { tempDir } from '../support/tmp.js';

const skip =
  sandboxSkip() ||
  (!existsSync('/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1') && 'faketime is not installed') ||
  (!existsSync('/usr/lib/postgresql') && "PostgreSQL's server programs are not installed");

// What is left of one deployment: its tmpfs mounts, namespace, veth, cgroups and directory. By
// its id and base alone, since CI runs the documented chaos drill beside this test.
const leftovers = (d: { id: string; base: string }): string[] => {
  const name = `rampart-chaos-${d.id}`;
  const cgroups = readdirSync('/sys/fs/cgroup')
    .flatMap((c) => [join('/sys/fs/cgroup', c, name), join('/sys/fs/cgroup', c, `${name}.armed`)])
    .filter((p) => existsSync(p));
  return [
    ...readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[1]?.startsWith(`${d.base}/`)),
    ...[join('/run/netns', name), `/sys/class/net/rch${d.id}`, d.base].filter((p) => existsSync(p)),
    ...cgroups,
  ];
};

describe('rampart drill --chaos', { skip }, () => {
  it('every fault scenario holds, and the throwaway deployment is gone after', () => {
    const dir = tempDir();
    try {
      const r = spawnSync(process.execPath, [BIN, 'drill', '--chaos', '--format', 'json'], {
        cwd: dir.dir,
        encoding: 'utf8',
        timeout: 300_000,
      });
      const report = JSON.parse(r.stdout) as {
        chaos: boolean;
        results: {
          name: string;
          status: string;
          reason?: string;
          recoverMs?: number;
          healthMs?: number;
          deployment?: { id: string; base: string };
        }[];
      };
      assert.equal(report.chaos, true);
      assert.deepEqual(
        report.results.map((x) => x.name),
        CHAOS.map((s) => s.name),
      );
      for (const x of report.results) {
        assert.equal(x.status, 'held', `${x.name}: ${x.reason ?? ''}`);
        assert.ok(x.recoverMs !== undefined, `${x.name} has its recovery time`);
      }
      // Health said so for every fault that health can see from the control plane.
      for (const name of ['store-stopped', 'store-latency', 'disk-full', 'clock-skew'])
        assert.ok(report.results.find((x) => x.name === name)?.healthMs !== undefined, name);
      assert.equal(r.status, 0, r.stderr);
      // Each scenario had a deployment of its own, and none of it is left.
      const ids = new Set<string>();
      for (const x of report.results) {
        assert.ok(x.deployment, `${x.name} names its deployment`);
        assert.match(x.deployment.base, /^\/tmp\/rampart-chaos-/);
        ids.add(x.deployment.id);
        assert.deepEqual(leftovers(x.deployment), [], x.name);
      }
      assert.equal(ids.size, report.results.length);
    } finally {
      dir.cleanup();
    }
  });

  it('is recorded as a drill on the control plane running for the data directory', async () => {
    const cp = sandboxControlPlaneDir();
    const server = await startServer(['--listen', '127.0.0.1:0'], { cwd: cp.dir.dir });
    try {
      const r = await rampartAsync(['drill', '--chaos', '--scenario', 'keys-rotated', '--format', 'json'], {
        cwd: cp.dir.dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { id: string; recorded: boolean };
      assert.equal(report.recorded, true);
      const admin = api(server.url, adminToken(cp.dir.dir));
      const drill = (await admin('GET', `/v1/drills/${report.id}`)).json as {
        scenarios: string[];
        results: { name: string; status: string; times: unknown[] }[];
      };
      assert.deepEqual(drill.scenarios, ['keys-rotated']);
      assert.deepEqual(
        drill.results.map((x) => [x.name, x.status, x.times.length]),
        [['keys-rotated', 'held', 0]],
      );
    } finally {
      await server.stop();
      cp.cleanup();
    }
  });

  it('refuses what it cannot do, and runs nothing', () => {
    const dir = tempDir();
    try {
      for (const [args, why] of [
        [['--scenario', 'no-such-fault'], /no chaos scenario no-such-fault/],
        [['--repeat', '3'], /--chaos takes neither --repeat nor --repo/],
      ] as const) {
        const r = spawnSync(process.execPath, [BIN, 'drill', '--chaos', ...args], {
          cwd: dir.dir,
          encoding: 'utf8',
        });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /RAMPART_E_USAGE/);
        assert.match(r.stderr, why);
      }
      const list = spawnSync(process.execPath, [BIN, 'drill', '--list', '--chaos'], { encoding: 'utf8' });
      assert.deepEqual(
        list.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[0]),
        CHAOS.map((s) => s.name),
      );
    } finally {
      dir.cleanup();
    }
  });
});
