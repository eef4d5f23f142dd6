// Quarantine evidence: what a frozen run was doing, captured before it is killed.
//
// The archive (a gzipped tar) holds manifest.json and the workspace as it was. The manifest lists
// every process (pid, command line, status, open files), the run's sockets from its network
// namespace, every workspace file kept with its SHA-256, and every file skipped with why. Its
// SHA-256 goes into the audit log, so the archive can later be shown to be the one captured.
//
// Capture never blocks the control plane: the workspace is walked and hashed with asynchronous
// reads and archived by a tar child process, within bounds on bytes kept (allocated size, so a
// sparse file's holes cost nothing), on the size of one file, and on time. What does not fit is
// listed, never silently dropped. Reading /proc of frozen processes is safe: they cannot change
// anything while we look.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { lstat, opendir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { RunCgroup } from './cgroup.js';
import { writeCore, type MemoryImage } from './core.js';

export interface Evidence {
  readonly archive: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly processes: number;
  /** Workspace files archived, and files listed but left out (too large, over budget, out of time). */
  readonly kept: number;
  readonly skipped: number;
  /** True when the capture stopped at its time bound. */
  readonly incomplete: boolean;
  /** Memory images (ELF cores) of the frozen processes, each hashed in the manifest. */
  readonly cores: number;
  readonly memoryBytes: number;
}

export interface EvidenceLimits {
  /** Most bytes of workspace files kept, counted as allocated on disk. */
  readonly maxBytes: number;
  /** A file larger than this (apparent size) is skipped. */
  readonly maxFileBytes: number;
  /** The whole capture, walk, hashes and archive. */
  readonly timeoutMs: number;
  /** Most bytes of process memory kept as core images (0: no memory images). */
  readonly maxMemoryBytes: number;
}

interface ProcessRecord {
  pid: number;
  cmdline: string[];
  status: Record<string, string>;
  fds: Record<string, string>;
}

interface KeptFile {
  path: string;
  bytes: number;
  sha256: string;
}

interface SkippedFile {
  path: string;
  bytes: number;
  allocated: number;
  why: string;
}

/** Entries walked at most: a workspace of millions of tiny files is listed as far as this. */
const MAX_ENTRIES = 200_000;

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

function sha256File(path: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    const s = createReadStream(path, { signal, highWaterMark: 1 << 20 });
    s.on('data', (c) => h.update(c));
    s.on('error', reject);
    s.on('end', () => resolve(h.digest('hex')));
  });
}

/** The workspace, walked without blocking: what fits the bounds is kept (hashed), the rest listed. */
async function walk(
  root: string,
  limits: EvidenceLimits,
  signal: AbortSignal,
): Promise<{ kept: KeptFile[]; skipped: SkippedFile[]; listed: string[]; truncated: boolean }> {
  const kept: KeptFile[] = [];
  const skipped: SkippedFile[] = [];
  /** Paths (relative to the workspace's parent) tar is given: directories, links and kept files. */
  const listed: string[] = [];
  let budget = limits.maxBytes;
  let entries = 0;
  let truncated = false;
  const stack = [root];
  const base = join(root, '..');
  while (stack.length > 0) {
    const dir = stack.pop()!;
    listed.push(relative(base, dir));
    let d;
    try {
      d = await opendir(dir);
    } catch {
      continue;
    }
    for await (const e of d) {
      if (signal.aborted || ++entries > MAX_ENTRIES) {
        truncated = true;
        break;
      }
      const p = join(dir, e.name);
      const rel = relative(root, p);
      if (e.isDirectory()) stack.push(p);
      else if (e.isSymbolicLink()) listed.push(relative(base, p));
      else if (e.isFile()) {
        const st = await lstat(p);
        const allocated = st.blocks * 512;
        const why =
          st.size > limits.maxFileBytes
            ? `larger than sandbox.evidence.max_file (${limits.maxFileBytes} bytes)`
            : allocated > budget
              ? `over sandbox.evidence.max_bytes (${limits.maxBytes} bytes kept already)`
              : undefined;
        if (why) {
          skipped.push({ path: rel, bytes: st.size, allocated, why });
          continue;
        }
        try {
          kept.push({ path: rel, bytes: st.size, sha256: await sha256File(p, signal) });
        } catch {
          skipped.push({
            path: rel,
            bytes: st.size,
            allocated,
            why: signal.aborted ? 'out of time' : 'unreadable',
          });
          continue;
        }
        budget -= allocated;
        listed.push(relative(base, p));
      } else skipped.push({ path: rel, bytes: 0, allocated: 0, why: 'not a regular file' });
    }
    if (truncated) break;
  }
  return { kept, skipped, listed, truncated };
}

/** Freezes nothing itself: the caller froze the run. Captures what it was doing, then resolves. */
export async function captureEvidence(opts: {
  runId: string;
  cgroup: RunCgroup;
  workspace: string | undefined;
  dir: string;
  limits: EvidenceLimits;
}): Promise<Evidence> {
  const deadline = AbortSignal.timeout(opts.limits.timeoutMs);
  const pids = opts.cgroup.pids();
  const processes = pids.map(processRecord);
  // Every process of a run shares its network namespace: one process's view is the run's.
  const net: Record<string, string> = {};
  if (pids[0] !== undefined)
    for (const f of ['tcp', 'tcp6', 'udp', 'udp6', 'unix']) net[f] = tryRead(`/proc/${pids[0]}/net/${f}`);
  const capturedAt = new Date().toISOString();
  const files = opts.workspace
    ? await walk(opts.workspace, opts.limits, deadline)
    : { kept: [], skipped: [], listed: [], truncated: false };
  const manifest = {
    run: opts.runId,
    capturedAt,
    workspace: opts.workspace ?? null,
    limits: opts.limits,
    processes,
    net,
    files: { kept: files.kept, skipped: files.skipped, truncated: files.truncated },
  };
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const stage = join(opts.dir, `.${opts.runId}.stage`);
  mkdirSync(stage, { recursive: true, mode: 0o700 });
  try {
    const memory = await cores(pids, stage, opts.limits.maxMemoryBytes, deadline);
    await writeFile(join(stage, 'manifest.json'), JSON.stringify({ ...manifest, memory }, null, 2), {
      mode: 0o600,
    });
    await writeFile(join(stage, 'files'), files.listed.map((f) => f + '\0').join(''), { mode: 0o600 });
    const archive = join(opts.dir, `${opts.runId}-${capturedAt.replace(/[:.]/g, '')}.tar.gz`);
    // gzip's fastest level: memory images make the archive tens of MB, and at the default level
    // compressing them held a core for a second after each quarantine (a drill's next
    // repetitions, contained meanwhile, took twice as long); -1 is 2.7 times faster for archives
    // about 8% larger.
    const args = [
      '--sparse',
      '--use-compress-program=gzip -1',
      '-cf',
      archive,
      '-C',
      stage,
      'manifest.json',
      ...memory.map((m) => m.file),
    ];
    if (opts.workspace)
      args.push('-C', join(opts.workspace, '..'), '--no-recursion', '--null', '-T', join(stage, 'files'));
    const tarOk = await tar(args, deadline);
    const sha = createHash('sha256');
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(archive);
      s.on('data', (c) => {
        bytes += c.length;
        sha.update(c);
      });
      s.on('error', reject);
      s.on('end', resolve);
    });
    return {
      archive,
      sha256: sha.digest('hex'),
      bytes,
      processes: processes.length,
      kept: files.kept.length,
      skipped: files.skipped.length,
      incomplete: files.truncated || !tarOk || deadline.aborted || memory.some((m) => m.omitted > 0),
      cores: memory.length,
      memoryBytes: memory.reduce((n, m) => n + m.bytes, 0),
    };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Core images of the frozen processes, one after another within one budget. */
async function cores(
  pids: readonly number[],
  stage: string,
  budget: number,
  deadline: AbortSignal,
): Promise<MemoryImage[]> {
  const out: MemoryImage[] = [];
  if (budget <= 0) return out;
  let left = budget;
  for (const pid of pids) {
    const file = `core.${pid}`;
    try {
      const image = await writeCore(pid, join(stage, file), left, deadline);
      left -= image.bytes;
      out.push({ ...image, file });
    } catch {
      // Gone meanwhile (a task exiting when frozen): nothing to image.
    }
  }
  return out;
}

/** Runs tar without blocking; stopped at the deadline (false: the archive is cut short). */
function tar(args: string[], deadline: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const c = spawn('tar', args, { stdio: 'ignore' });
    const stop = (): void => void c.kill('SIGKILL');
    deadline.addEventListener('abort', stop, { once: true });
    c.on('error', reject);
    c.on('exit', (code) => {
      deadline.removeEventListener('abort', stop);
      // 1: a file changed while read (the run is frozen, but the workspace may be shared).
      resolve(code === 0 || code === 1);
    });
  });
}
