// The chaos scenarios: a bad day for the deployment, not an attack. Each breaks one thing of the
// throwaway deployment (deployment.ts), checks that Rampart fails closed and says so in health
// while it is broken, ends the fault, and checks that everything recovers and that nothing
// acknowledged was lost (every audit record counted before the fault is there after, and the
// log verifies). Times: from the fault to health saying so, and from its end to health ok again.

import { request } from 'node:http';
import type { Deployment } from './deployment.js';
import type { Checks } from './checks.js';

export interface ChaosResult {
  readonly name: string;
  readonly expected: string;
  readonly observed: string;
  readonly status: 'held' | 'failed';
  readonly reason?: string;
  /** Fault → health says so; fault ended → health ok again; ms. */
  readonly healthMs?: number;
  readonly recoverMs?: number;
  /** The throwaway deployment the scenario ran against, so a caller can check it is gone. */
  readonly deployment?: { readonly id: string; readonly base: string };
}

export interface ChaosScenario {
  readonly name: string;
  readonly title: string;
  readonly expected: string;
  run(d: Deployment, c: Checks): Promise<void>;
}

const AGENT = 'chaos:agent';

export const CHAOS: readonly ChaosScenario[] = [
  {
    name: 'store-stopped',
    title: 'PostgreSQL stops (immediate shutdown) under the control plane',
    expected: 'health failing; tokens and runs refused; all back when it returns',
    async run(d, c) {
      await c.fault(
        'stop PostgreSQL',
        () => d.stopStore(),
        (h) => h.components['store']?.status === 'failing',
      );
      await c.refused('a token is refused', () => c.issue(AGENT));
      await c.refused('a run is refused', () => c.runTrue());
      await c.end('start PostgreSQL', () => d.startStore());
    },
  },
  {
    name: 'store-latency',
    title: '2.5 s of latency between the control plane and its store (tc netem)',
    expected: 'health failing (the store does not answer in time); all back when it ends',
    async run(d, c) {
      await c.fault(
        `add 2.5 s of latency (${d.latencyBy})`,
        () => d.latency(2500),
        (h) => h.components['store']?.status === 'failing',
      );
      await c.end('remove the latency', () => d.latency(undefined));
    },
  },
  {
    name: 'disk-full',
    title: "the store's disk fills up",
    expected: 'writes refused once no room is left, health not ok from then; all back when space is freed',
    async run(d, c) {
      const filler = await d.fillStoreDisk();
      await c.fault('fill the disk', () => Promise.resolve(), undefined);
      // Room left in files PostgreSQL had already made still takes writes, durably: those are
      // acknowledged. Once none is left, a write must be refused, never lost, and health must
      // say so from that moment (nothing can know sooner: the disk is the database server's).
      let acknowledged = 0;
      await c.refused('writes are refused once no room is left', async () => {
        for (; acknowledged < 500; acknowledged++) await c.issue(AGENT);
      });
      c.notes.push(`${acknowledged} writes acknowledged first, into room already allocated`);
      await c.saysSo('the first refused write', (h) => h.status !== 'ok');
      await c.acknowledged();
      await c.end('free the space', async () => {
        await c.remove(filler);
        // PostgreSQL stops itself when it cannot write its WAL: the operator starts it again.
        if (!(await d.storeRunning())) await d.startStore();
      });
    },
  },
  {
    name: 'control-plane-killed',
    title: 'the control plane is killed with SIGKILL during a run',
    expected: 'the run stays in its sandbox; the log verifies with every acknowledged record',
    async run(d, c) {
      const r = await c.startRun('sleep 120');
      await c.fault('SIGKILL the control plane', () => d.stopControlPlane('SIGKILL'), undefined);
      c.contained(r.id);
      await c.end('start it again', () => d.startControlPlane());
      c.contained(r.id);
      if (r.ended()) c.notes.push(`the run ended with its control plane: ${lastLine(r.stderr())}`);
      else
        await c.ok('the run is killed from the new control plane', async () => {
          const k = await d.cli(['kill', r.id, '--reason', 'chaos drill']);
          if (k.code !== 0) throw new Error(k.stderr.trim());
          await r.exited;
        });
    },
  },
  {
    name: 'proxy-killed',
    title: 'a standalone egress proxy is killed with SIGKILL',
    expected: 'nothing passes while it is down (connections refused); deciding again when restarted',
    async run(d, c) {
      const url = await d.startProxy();
      const { token } = await c.issue(AGENT);
      const decided = await through(url, token);
      if (decided !== 403) throw new Error(`the proxy answered ${decided} for an unlisted host, not 403`);
      await c.fault('SIGKILL the proxy', () => d.killProxy(), undefined);
      await c.refused('a request through it gets no connection', async () => through(url, token));
      let again = '';
      await c.end('start it again', async () => {
        again = await d.startProxy();
      });
      const after = await through(again, token);
      if (after !== 403) throw new Error(`the restarted proxy answered ${after}, not 403`);
      await d.killProxy();
    },
  },
  {
    name: 'keys-rotated',
    title: "the signing key is rotated and the run's tokens revoked mid-run",
    expected: 'old tokens verify until revoked, new ones with the new key; revoked ones refused at once',
    async run(_d, c) {
      const r = await c.startRun('sleep 120');
      const before = await c.issue(AGENT);
      await c.fault('rotate the signing key', () => c.mustCli(['token', 'rotate-key']), undefined);
      const after = await c.issue(AGENT);
      if (after.kid === before.kid) throw new Error('the key did not change');
      await c.active(before.token, true, 'a token of the old key still verifies');
      await c.active(after.token, true, 'a token of the new key verifies');
      await c.mustCli(['token', 'revoke', '--agent', AGENT, '--reason', 'chaos drill']);
      await c.mustCli(['token', 'revoke', '--run', r.id, '--reason', 'chaos drill']);
      await c.active(before.token, false, 'the revoked tokens are refused');
      await c.active(after.token, false, 'the revoked tokens are refused');
      await c.end('nothing to undo', () => Promise.resolve());
      await c.mustCli(['kill', r.id, '--reason', 'chaos drill']);
      await r.exited;
    },
  },
  {
    name: 'clock-skew',
    title: "the control plane's clock runs 10 minutes ahead (libfaketime)",
    expected:
      "health failing (its clock is not the store's); tokens from before expire; all back when it is right",
    async run(d, c) {
      const early = await c.issue(AGENT, 300);
      await c.fault(
        'restart it 10 minutes ahead',
        async () => {
          await d.stopControlPlane();
          await d.startControlPlane('+10m');
        },
        (h) =>
          h.components['store']?.status === 'failing' && /clock/.test(h.components['store']?.detail ?? ''),
      );
      await c.active(early.token, false, 'a 5-minute token of before is expired');
      await c.end('restart it on time', async () => {
        await d.stopControlPlane();
        await d.startControlPlane();
      });
    },
  },
];

const lastLine = (text: string): string => text.trim().split('\n').pop()?.slice(0, 200) ?? '';

/** One request through an egress proxy with a workload token: its status, or 0 (no connection). */
function through(proxy: string, token: string): Promise<number> {
  const u = new URL(proxy);
  return new Promise((resolve) => {
    const req = request({
      host: u.hostname,
      port: Number(u.port),
      path: 'http://unlisted.chaos.invalid/',
      headers: { host: 'unlisted.chaos.invalid', 'proxy-authorization': `Bearer ${token}` },
      timeout: 5000,
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}
