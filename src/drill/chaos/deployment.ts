// The throwaway deployment `rampart drill --chaos` breaks: never the machine's shared services.
// Its own control plane, with its data directory on a size-capped tmpfs; its own PostgreSQL
// cluster (initdb) on another, listening only inside a network namespace made for it, reached
// over a veth pair whose latency the drill sets (tc netem; where the kernel has none, a relay on
// the veth's host end that the control plane connects through); its own cgroup parent and uids.
// Everything it makes it removes by name in destroy(), also after a failure half-way.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { armedGroup, disarmGroup, readPids, subtree } from '../../core/cgroupfs.js';
import { run, type Ran } from './exec.js';
import { DelayRelay } from './relay.js';

const PG_BIN = (): string => {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  throw new Error(
    'PostgreSQL server programs (initdb, pg_ctl) are not installed: apt-get install postgresql',
  );
};
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** What a chaos scenario may do to the deployment. */
export class Deployment {
  private up: ChildProcess | undefined;
  /** Where the control plane reaches the store: through it, when the kernel has no netem. */
  private relay: DelayRelay | undefined;
  private proxyChild: ChildProcess | undefined;
  /** The first uid of the deployment's range (100): a process with one of them is a run's. */
  uidFirst = 0;
  private constructor(
    readonly id: string,
    readonly base: string,
    readonly self: string,
    private readonly pgBin: string,
    readonly pgAddress: string,
    private readonly progress: (line: string) => void,
  ) {}

  get dataDir(): string {
    return join(this.base, 'cp', 'data');
  }
  get configFile(): string {
    return join(this.base, 'cp', 'rampart.yaml');
  }
  get cgroupParent(): string {
    return `rampart-chaos-${this.id}`;
  }
  private get ns(): string {
    return `rampart-chaos-${this.id}`;
  }
  private get pgData(): string {
    return join(this.base, 'pg', 'db');
  }

  /** Makes everything; on a failure half-way, removes what it made and rethrows. */
  static async create(self: string, progress: (line: string) => void): Promise<Deployment> {
    if (process.getuid?.() !== 0) throw new Error('--chaos needs root (tmpfs mounts, a network namespace)');
    for (const tool of ['/usr/bin/ip', '/usr/sbin/tc', FAKETIME])
      if (!existsSync(tool) && !existsSync(tool.replace('/usr/bin/', '/sbin/')))
        throw new Error(`--chaos needs ${tool} (iproute2, faketime)`);
    // Two drills at once may pick the same subnet; the one that finds out starts again.
    for (let attempt = 1; ; attempt++) {
      const id = randomBytes(3).toString('hex');
      const base = mkdtempSync('/tmp/rampart-chaos-');
      chmodSync(base, 0o711);
      const net = await freeNet();
      const d = new Deployment(id, base, self, PG_BIN(), `10.213.${net}.2`, progress);
      try {
        await d.build(net);
        return d;
      } catch (e) {
        await d.destroy();
        if (!(e instanceof SubnetTaken) || attempt >= 5) throw e;
      }
    }
  }

  private async build(net: number): Promise<void> {
    this.progress(`chaos ${this.id}: tmpfs, network namespace, PostgreSQL`);
    for (const [dir, size] of [
      ['cp', '96m'],
      ['pg', '160m'],
    ] as const) {
      mkdirSync(join(this.base, dir), { mode: 0o711 });
      await must(
        run('mount', [
          '-t',
          'tmpfs',
          '-o',
          `size=${size},mode=0711`,
          `rampart-chaos-${dir}`,
          join(this.base, dir),
        ]),
      );
    }
    const host = `rch${this.id}`;
    const inner = `rcn${this.id}`;
    await must(run('ip', ['netns', 'add', this.ns]));
    await must(run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', inner]));
    await must(run('ip', ['link', 'set', inner, 'netns', this.ns]));
    await must(run('ip', ['addr', 'add', `10.213.${net}.1/30`, 'dev', host]));
    // Another drill may have taken the same subnet meanwhile: then neither knows whose store it
    // reaches. Checked after taking it, so of two at once at least one sees the other.
    if ((await netsInUse()).filter((n) => n === net).length > 1)
      throw new SubnetTaken(`10.213.${net}.0/30 is taken by another drill at the same moment`);
    await must(run('ip', ['link', 'set', host, 'up']));
    await must(this.inNs(['ip', 'addr', 'add', `${this.pgAddress}/30`, 'dev', inner]));
    await must(this.inNs(['ip', 'link', 'set', inner, 'up']));
    await must(this.inNs(['ip', 'link', 'set', 'lo', 'up']));

    const uid = await run('id', ['-u', 'postgres']);
    const gid = await run('id', ['-g', 'postgres']);
    if (uid.code !== 0 || gid.code !== 0)
      throw new Error('--chaos needs the postgres user (apt-get install postgresql)');
    chownSync(join(this.base, 'pg'), Number(uid.stdout), Number(gid.stdout));
    await must(
      this.asPostgres([
        join(this.pgBin, 'initdb'),
        '-D',
        this.pgData,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--wal-segsize=1',
        '--no-sync',
      ]),
    );
    // Trust over the veth only: nothing else can reach inside the namespace.
    appendFileSync(join(this.pgData, 'pg_hba.conf'), `host all postgres 10.213.${net}.1/32 trust\n`);
    await this.startStore();
    await must(run(join(this.pgBin, 'createdb'), ['-h', this.pgAddress, '-U', 'postgres', 'rampart']));

    // tc netem where the kernel has it (probed by adding and removing it); else the relay.
    const netem = await this.inNs(['tc', 'qdisc', 'add', 'dev', inner, 'root', 'netem', 'delay', '0ms']);
    if (netem.code === 0) await must(this.inNs(['tc', 'qdisc', 'del', 'dev', inner, 'root']));
    else this.relay = await DelayRelay.start(`10.213.${net}.1`, this.pgAddress, 5432);
    const storeAt = this.relay
      ? { host: `10.213.${net}.1`, port: this.relay.port }
      : { host: this.pgAddress, port: 5432 };

    const cp = join(this.base, 'cp');
    mkdirSync(join(cp, 'ws'), { mode: 0o711 });
    const first = 2_100_000_000 + (randomBytes(3).readUIntBE(0, 3) % 100_000) * 100;
    this.uidFirst = first;
    writeFileSync(
      this.configFile,
      [
        'store:',
        '  driver: postgres',
        '  postgres:',
        `    host: ${storeAt.host}`,
        `    port: ${storeAt.port}`,
        '    database: rampart',
        '    user: postgres',
        '    connect_timeout: 2s',
        '    pool_size: 4',
        'sandbox:',
        `  cgroup_parent: rampart-chaos-${this.id}`,
        `  workspaces_dir: ${join(cp, 'ws')}`,
        '  grace_period: 300ms',
        `  uids: { first: ${first}, count: 100 }`,
        '',
      ].join('\n'),
    );
  }

  private inNs(argv: readonly string[]): Promise<Ran> {
    return run('ip', ['netns', 'exec', this.ns, ...argv]);
  }
  private asPostgres(argv: readonly string[]): Promise<Ran> {
    return run('runuser', ['-u', 'postgres', '--', ...argv]);
  }

  // ------------------------------------------------------------------------------ the store
  async startStore(): Promise<void> {
    const opts = [
      `-c listen_addresses=${this.pgAddress}`,
      `-k ${join(this.base, 'pg')}`,
      // Its socket for the postgres user alone: local logins are trusted.
      '-c unix_socket_permissions=0700',
      '-c max_wal_size=32MB -c min_wal_size=4MB -c shared_buffers=16MB -c max_connections=40',
    ].join(' ');
    await must(
      this.inNs([
        'runuser',
        '-u',
        'postgres',
        '--',
        join(this.pgBin, 'pg_ctl'),
        '-D',
        this.pgData,
        '-l',
        join(this.base, 'pg', 'log'),
        '-w',
        '-t',
        '30',
        '-o',
        opts,
        'start',
      ]),
    );
  }
  /** Stops PostgreSQL at once (no checkpoint): what a crash or an operator's kill looks like. */
  async stopStore(): Promise<void> {
    await must(
      this.asPostgres([join(this.pgBin, 'pg_ctl'), '-D', this.pgData, '-m', 'immediate', '-w', 'stop']),
    );
  }
  async storeRunning(): Promise<boolean> {
    return (await this.asPostgres([join(this.pgBin, 'pg_ctl'), '-D', this.pgData, 'status'])).code === 0;
  }
  /** How latency is added: tc netem in the namespace, or the relay where the kernel lacks netem. */
  get latencyBy(): string {
    return this.relay ? 'a delaying relay (this kernel has no netem)' : 'tc netem';
  }
  /** Adds `ms` of latency to everything from the store to the control plane; undefined removes it. */
  async latency(ms: number | undefined): Promise<void> {
    if (this.relay) {
      this.relay.delayMs = ms ?? 0;
      return;
    }
    const dev = `rcn${this.id}`;
    if (ms === undefined) await must(this.inNs(['tc', 'qdisc', 'del', 'dev', dev, 'root']));
    else await must(this.inNs(['tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', `${ms}ms`]));
  }
  /** Fills the store's filesystem; returns the file to remove to end it. */
  async fillStoreDisk(): Promise<string> {
    const file = join(this.base, 'pg', 'filler');
    // dd stops at ENOSPC (exit 1): that is the point.
    await run('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'status=none']);
    return file;
  }

  // ------------------------------------------------------------------------ the control plane
  /** Starts `rampart up`; `skew` (e.g. "-10m") runs it under libfaketime with that offset. */
  async startControlPlane(skew?: string): Promise<void> {
    const env = skew
      ? { ...process.env, LD_PRELOAD: FAKETIME, FAKETIME: skew, FAKETIME_DONT_FAKE_MONOTONIC: '1' }
      : process.env;
    const { child } = await this.start(
      ['up', '--listen', '127.0.0.1:0', '--egress-listen', '127.0.0.1:0'],
      /control plane ready at (\S+)/,
      env,
    );
    this.up = child;
  }
  /** Ends the control plane: SIGTERM and wait, or SIGKILL (nothing gets to run). */
  async stopControlPlane(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopChild(this.up, signal);
    this.up = undefined;
  }

  async startProxy(): Promise<string> {
    const { child, url } = await this.start(
      ['proxy', '--listen', '127.0.0.1:0'],
      /egress proxy ready at (\S+)/,
      process.env,
    );
    this.proxyChild = child;
    return url;
  }
  async killProxy(): Promise<void> {
    await stopChild(this.proxyChild, 'SIGKILL');
    this.proxyChild = undefined;
  }

  /** `rampart ARGS` against this deployment. */
  cli(args: readonly string[], timeoutMs = 30_000): Promise<Ran> {
    return run(process.execPath, [this.self, ...this.withDeployment(args)], { timeoutMs });
  }

  /** ARGS with this deployment's --config and --data, before a `--` (after it is the run's command). */
  withDeployment(args: readonly string[]): string[] {
    const cut = args.includes('--') ? args.indexOf('--') : args.length;
    return [...args.slice(0, cut), '--config', this.configFile, '--data', this.dataDir, ...args.slice(cut)];
  }

  private start(
    argv: readonly string[],
    ready: RegExp,
    env: NodeJS.ProcessEnv,
  ): Promise<{ child: ChildProcess; url: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [this.self, ...this.withDeployment(argv)], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env,
      });
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`rampart ${argv[0]} was not ready in 30 s: ${err.trim().slice(-500)}`));
      }, 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`rampart ${argv[0]} exited (${code}): ${err.trim().slice(-500)}`));
      });
      let ready_ = false;
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        // Read to the end (a full pipe would stop it), kept only until it is ready.
        if (ready_) return;
        err += d;
        const m = ready.exec(err);
        if (m) {
          ready_ = true;
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve({ child, url: m[1]! });
        }
      });
    });
  }

  /**
   * Removes everything it made, each step on its own: one failing does not keep the rest. Returns
   * what could not be removed (a drill that leaves something behind has not held).
   */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    await stopChild(this.proxyChild, 'SIGKILL').catch(() => undefined);
    await stopChild(this.up, 'SIGKILL').catch(() => undefined);
    await this.relay?.close();
    if (existsSync(this.configFile)) await this.cli(['destroy', '--all'], 20_000).catch(() => undefined);
    if (existsSync(join(this.pgData, 'postmaster.pid'))) await this.stopStore().catch(() => undefined);
    problems.push(...(await this.removeCgroups()));
    await run('ip', ['netns', 'del', this.ns]);
    await run('ip', ['link', 'del', `rch${this.id}`]);
    if (existsSync(join('/run/netns', this.ns))) problems.push(`network namespace ${this.ns} is still there`);
    for (const dir of ['cp', 'pg']) {
      const u = await run('umount', [join(this.base, dir)]);
      if (u.code !== 0) problems.push(`umount ${join(this.base, dir)}: ${u.stderr.trim().slice(0, 200)}`);
    }
    try {
      rmSync(this.base, { recursive: true, force: true });
    } catch (e) {
      problems.push(`${this.base}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return problems;
  }

  /**
   * Whatever is still in the deployment's cgroups (a run's process a killed runner left, say) is
   * killed, then the groups are removed, deepest first, in every hierarchy.
   */
  private async removeCgroups(): Promise<string[]> {
    // The freezer's armed group too (sandbox/cgroup.ts): a control plane killed leaves it. Thawed
    // and removed here; should a task be in it, the loop below kills it and removes the group.
    const armed = armedGroup(join('/sys/fs/cgroup/freezer', this.cgroupParent));
    disarmGroup(armed);
    const roots = readdirSync('/sys/fs/cgroup')
      .map((c) => join('/sys/fs/cgroup', c, this.cgroupParent))
      .concat(join('/sys/fs/cgroup', this.cgroupParent), armed)
      .filter((d) => existsSync(join(d, 'cgroup.procs')));
    const groups = roots.flatMap(subtree);
    for (let attempt = 0; attempt < 50; attempt++) {
      let alive = 0;
      for (const g of groups)
        for (const pid of readPids(join(g, 'cgroup.procs'))) {
          alive++;
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      if (alive === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const problems: string[] = [];
    for (const g of groups.reverse())
      try {
        rmdirSync(g);
      } catch (e) {
        problems.push(
          `cgroup ${g}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (${readPids(join(g, 'cgroup.procs')).join(' ')})`,
        );
      }
    return problems;
  }
}

class SubnetTaken extends Error {}

/** The 10.213.N.0/30 subnets on this host's interfaces, one entry per interface holding one. */
async function netsInUse(): Promise<number[]> {
  const r = await run('ip', ['-o', '-4', 'addr', 'show']);
  return [...r.stdout.matchAll(/inet 10\.213\.(\d+)\.1\//g)].map((m) => Number(m[1]));
}

/** A subnet for the veth pair that no other drill on this host holds. */
async function freeNet(): Promise<number> {
  const used = new Set(await netsInUse());
  const free = Array.from({ length: 250 }, (_, i) => i + 1).filter((n) => !used.has(n));
  if (free.length === 0) throw new Error('no free 10.213.N.0/30 subnet for the drill');
  return free[randomBytes(1)[0]! % free.length]!;
}

async function must(p: Promise<Ran>): Promise<Ran> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${r.argv.join(' ')} failed (${r.code}): ${r.stderr.trim().slice(-400)}`);
  return r;
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
