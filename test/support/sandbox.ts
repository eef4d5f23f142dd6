// A sandbox host for tests: a private cgroup parent, a workspaces directory the sandbox user can
// reach, and a helper that runs a command and collects its output. Sandbox tests need root,
// bubblewrap and cgroups; without them they are skipped with the reason, except under CI=true,
// where a missing sandbox fails the run (.ci/run installs bubblewrap and runs as root).

import { chmodSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BUILTIN_PROFILES } from '../../src/config/load.js';
import { armedGroup, disarmGroup } from '../../src/core/cgroupfs.js';
import type { SandboxSettings } from '../../src/core/settings.js';
import { fileURLToPath } from 'node:url';
import { RunningSandbox, type RunResult, type RunSpec } from '../../src/sandbox/runner.js';
import { SandboxService, type RunRequest } from '../../src/sandbox/service.js';
import { tempDir, type TempDir } from './tmp.js';

/**
 * A uid range of its own for each harness: test files run in parallel, each with its own pool
 * directory, and two pools must not hand out the same uid at once.
 */
export function testUids(): { first: number; count: number } {
  return { first: 2_100_000_000 + (randomBytes(3).readUIntBE(0, 3) % 100_000) * 100, count: 100 };
}

export interface SandboxHarness {
  readonly svc: SandboxService;
  readonly dir: TempDir;
  readonly workspaces: string;
  readonly dataDir: string;
  readonly cgroupParent: string;
  /** A fresh workspace owned by the sandbox user. */
  workspace(name?: string): string;
  run(
    req: Omit<RunRequest, 'agent'> & { agent?: string },
  ): Promise<RunResult & { stdout: string; stderr: string }>;
  /** Starts a prepared run on the harness's runtime, with its output on pipes. */
  start(spec: RunSpec): Promise<{
    id: string;
    done: Promise<RunResult>;
    cleaned(): Promise<void>;
    stdout: NodeJS.ReadableStream;
    stderr: NodeJS.ReadableStream;
  }>;
  /** Another service over the same host and settings: what a control plane in another process is. */
  twin(): SandboxService;
  cleanup(): void;
}

/**
 * The Docker or Swarm runtime for a harness: a (private) Engine's socket (a swarm manager for
 * swarm) and the approved image's id.
 */
export interface DockerRuntimeOptions {
  readonly socket: string;
  readonly image: string;
  readonly runtime?: 'docker' | 'swarm';
}

/** The egress bridge, built by `npm run build`: a Swarm task's gate. */
const BRIDGE = fileURLToPath(new URL('../../../dist/rampart-bridge', import.meta.url));

export function sandboxHarness(docker?: DockerRuntimeOptions): SandboxHarness {
  const dir = tempDir();
  chmodSync(dir.dir, 0o711);
  const workspaces = join(dir.dir, 'workspaces');
  mkdirSync(workspaces, { mode: 0o711 });
  const dataDir = join(dir.dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const cgroupParent = `rampart-test-${randomBytes(4).toString('hex')}`;
  const settings: SandboxSettings = {
    runtime: docker?.runtime ?? (docker ? 'docker' : 'bwrap'),
    docker: { socket: docker?.socket ?? '/var/run/docker.sock', images: docker ? [docker.image] : [] },
    bwrap: '/usr/bin/bwrap',
    cgroupParent,
    uids: testUids(),
    evidence: { maxBytes: 1 << 30, maxFileBytes: 256 << 20, timeoutMs: 60_000, maxMemoryBytes: 512 << 20 },
    gracePeriodMs: 200,
    workspacesDir: workspaces,
    dataDir,
    evidenceDir: join(dataDir, 'evidence'),
    hide: [],
    profiles: BUILTIN_PROFILES,
    maxRunLifetimeMs: 7_200_000,
  };
  const svc = SandboxService.create(settings);
  let n = 0;
  const workspace = (name = `ws-${n++}`): string => {
    const ws = join(workspaces, name);
    // Handed to the run's own uid by prepare().
    mkdirSync(ws, { recursive: true });
    return ws;
  };
  return {
    svc,
    dir,
    workspaces,
    dataDir,
    cgroupParent,
    workspace,
    async run(req) {
      const spec = svc.prepare({
        agent: 'tester',
        workspace: req.workspace ?? workspace(),
        ...req,
        stdio: 'pipe',
      });
      const running = await this.start(spec);
      let stdout = '';
      let stderr = '';
      running.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      running.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const result = await running.done;
      // As `rampart run` does before it exits: the group is removed once its tasks are reaped,
      // then the run's uid is given back.
      await running.cleaned();
      svc.uids.release(spec.uid);
      return { ...result, stdout, stderr };
    },
    async start(spec) {
      const token = spec.token !== undefined;
      const run =
        docker?.runtime === 'swarm'
          ? await svc.startSwarm(spec, await svc.swarmPlan(spec, docker.image, { token, bridge: BRIDGE }))
          : docker
            ? await svc.startDocker(spec, svc.dockerPlan(spec, docker.image, { token }))
            : await svc.start(spec);
      const out = run instanceof RunningSandbox ? run.child.stdout : run.stdout;
      const err = run instanceof RunningSandbox ? run.child.stderr : run.stderr;
      if (!out || !err) throw new Error('the run was not started with pipes');
      return { id: spec.id, done: run.done, cleaned: () => run.cleaned, stdout: out, stderr: err };
    },
    twin() {
      return SandboxService.create(settings);
    },
    cleanup() {
      removeCgroupParent(cgroupParent);
      dir.cleanup();
    },
  };
}

/** Why sandbox tests cannot run here, or false. */
export function sandboxSkip(): string | false {
  const probe = sandboxHarness();
  const problem = probe.svc.problem;
  probe.cleanup();
  if (!problem) return false;
  if (process.env['CI'] === 'true') throw new Error(`CI=true but sandboxes cannot run: ${problem}`);
  return `sandbox tests skipped: ${problem}`;
}

/**
 * A directory for a control plane that runs sandboxes: rampart.yaml with a private cgroup parent,
 * a workspaces directory the sandbox user can reach, and `extra` YAML appended.
 */
export function sandboxControlPlaneDir(extra = ''): { dir: TempDir; cgroupParent: string; cleanup(): void } {
  const dir = tempDir();
  chmodSync(dir.dir, 0o711);
  mkdirSync(join(dir.dir, 'ws'), { mode: 0o711 });
  const cgroupParent = `rampart-cptest-${randomBytes(4).toString('hex')}`;
  const uids = testUids();
  writeFileSync(
    join(dir.dir, 'rampart.yaml'),
    `sandbox:\n  cgroup_parent: ${cgroupParent}\n  workspaces_dir: ${join(dir.dir, 'ws')}\n  grace_period: 300ms\n` +
      `  uids:\n    first: ${uids.first}\n    count: ${uids.count}\n${extra}`,
  );
  return {
    dir,
    cgroupParent,
    cleanup() {
      removeCgroupParent(cgroupParent);
      dir.cleanup();
    },
  };
}

function removeCgroupParent(name: string): void {
  // Every hierarchy: the Docker Engine makes the parent in all it uses, not only Rampart's four.
  let controllers: string[] = [];
  try {
    controllers = readdirSync('/sys/fs/cgroup');
  } catch {
    // no cgroups here
  }
  for (const c of [...controllers, '']) {
    const parent = join('/sys/fs/cgroup', c, name);
    // Run groups a killed runner had no time to remove go first: an empty group can be removed.
    try {
      for (const e of readdirSync(parent, { withFileTypes: true }))
        if (e.isDirectory())
          try {
            rmdirSync(join(parent, e.name));
          } catch {
            // still holds tasks
          }
    } catch {
      // not this layout, or already gone
    }
    try {
      rmdirSync(parent);
    } catch {
      // not this layout, or already gone
    }
  }
  // The freezer's armed group (sandbox/cgroup.ts), which a control plane killed leaves behind.
  disarmGroup(armedGroup(join('/sys/fs/cgroup/freezer', name)));
}
