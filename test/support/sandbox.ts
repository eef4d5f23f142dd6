// A sandbox host for tests: a private cgroup parent, a workspaces directory the sandbox user can
// reach, and a helper that runs a command and collects its output. Sandbox tests need root,
// bubblewrap and cgroups; without them they are skipped with the reason, except under CI=true,
// where a missing sandbox fails the run (.ci/run installs bubblewrap and runs as root).

import { chmodSync, chownSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BUILTIN_PROFILES } from '../../src/config/load.js';
import type { RunResult } from '../../src/sandbox/runner.js';
import { SandboxService, type RunRequest } from '../../src/sandbox/service.js';
import { tempDir, type TempDir } from './tmp.js';

export const HOST_UID = 65534;

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
  cleanup(): void;
}

export function sandboxHarness(): SandboxHarness {
  const dir = tempDir();
  chmodSync(dir.dir, 0o711);
  const workspaces = join(dir.dir, 'workspaces');
  mkdirSync(workspaces, { mode: 0o711 });
  const dataDir = join(dir.dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const cgroupParent = `rampart-test-${randomBytes(4).toString('hex')}`;
  const svc = SandboxService.create({
    bwrap: '/usr/bin/bwrap',
    cgroupParent,
    hostUid: HOST_UID,
    hostGid: HOST_UID,
    gracePeriodMs: 200,
    workspacesDir: workspaces,
    dataDir,
    evidenceDir: join(dataDir, 'evidence'),
    hide: [],
    profiles: BUILTIN_PROFILES,
    maxRunLifetimeMs: 7_200_000,
  });
  let n = 0;
  const workspace = (name = `ws-${n++}`): string => {
    const ws = join(workspaces, name);
    mkdirSync(ws, { recursive: true });
    chownSync(ws, HOST_UID, HOST_UID);
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
      const running = await svc.start(spec);
      let stdout = '';
      let stderr = '';
      running.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      running.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const result = await running.done;
      // As `rampart run` does before it exits: the group is removed once its tasks are reaped.
      await running.cleaned;
      return { ...result, stdout, stderr };
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
  writeFileSync(
    join(dir.dir, 'rampart.yaml'),
    `sandbox:\n  cgroup_parent: ${cgroupParent}\n  workspaces_dir: ${join(dir.dir, 'ws')}\n  grace_period: 300ms\n${extra}`,
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
  for (const c of ['memory', 'pids', 'cpu', 'freezer', '']) {
    try {
      rmdirSync(join('/sys/fs/cgroup', c, name));
    } catch {
      // not this layout, or already gone
    }
  }
}
