// Quarantine evidence: what a frozen run was doing, captured before it is killed.
//
// The archive (a gzipped tar) holds manifest.json (every process: pid, command line, status,
// open files; the run's sockets from its network namespace) and the workspace as it was. Its
// SHA-256 goes into the audit log, so the archive can later be shown to be the one captured.
// Reading /proc of frozen processes is safe: they cannot change anything while we look.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { RunCgroup } from './cgroup.js';

export interface Evidence {
  readonly archive: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly processes: number;
}

interface ProcessRecord {
  pid: number;
  cmdline: string[];
  status: Record<string, string>;
  fds: Record<string, string>;
}

function tryRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function processRecord(pid: number): ProcessRecord {
  const status: Record<string, string> = {};
  for (const line of tryRead(`/proc/${pid}/status`).split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) status[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  const fds: Record<string, string> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        fds[fd] = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // exited
  }
  return { pid, cmdline: tryRead(`/proc/${pid}/cmdline`).split('\0').filter(Boolean), status, fds };
}

export function captureEvidence(opts: {
  runId: string;
  cgroup: RunCgroup;
  workspace: string | undefined;
  dir: string;
}): Evidence {
  const pids = opts.cgroup.pids();
  const processes = pids.map(processRecord);
  // Every process of a run shares its network namespace: one process's view is the run's.
  const net: Record<string, string> = {};
  if (pids[0] !== undefined)
    for (const f of ['tcp', 'tcp6', 'udp', 'udp6', 'unix']) net[f] = tryRead(`/proc/${pids[0]}/net/${f}`);
  const capturedAt = new Date().toISOString();
  const manifest = { run: opts.runId, capturedAt, workspace: opts.workspace ?? null, processes, net };
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const stage = join(opts.dir, `.${opts.runId}.stage`);
  mkdirSync(stage, { recursive: true, mode: 0o700 });
  writeFileSync(join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2), { mode: 0o600 });
  const archive = join(opts.dir, `${opts.runId}-${capturedAt.replace(/[:.]/g, '')}.tar.gz`);
  const args = ['-czf', archive, '-C', stage, 'manifest.json'];
  if (opts.workspace) args.push('-C', dirname(opts.workspace), basename(opts.workspace));
  execFileSync('tar', args, { stdio: 'ignore' });
  rmSync(stage, { recursive: true, force: true });
  const bytes = readFileSync(archive);
  return {
    archive,
    sha256: process.getBuiltinModule('node:crypto').createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    processes: processes.length,
  };
}
