// Running git: one child per call, its output collected within a bound, a deadline, and a
// clear error naming the command (never its environment, which may point at a credential).

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';

export interface GitResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface GitCall {
  readonly git: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Written to stdin, then closed. */
  readonly input?: string | Buffer;
  readonly timeoutMs: number;
  /** Most stdout bytes kept; past it the call fails (a bounded reader, not a truncated answer). */
  readonly maxOutput?: number;
  /** Extra descriptors (3, 4...): what the child gets there. */
  readonly extra?: readonly ('pipe' | 'ignore')[];
  /** Given each chunk of stdout as it comes, instead of collecting it (a streaming reader). */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Called with the child once spawned (to write to its extra descriptors). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** The environment git runs with: no user or system configuration, no prompts, no pager. */
export function baseEnv(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_PAGER: 'cat',
    LC_ALL: 'C',
  };
}

export function runGit(c: GitCall): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(c.git, c.args, {
      cwd: c.cwd,
      env: { ...baseEnv(), ...c.env },
      stdio: ['pipe', 'pipe', 'pipe', ...(c.extra ?? [])] as StdioOptions,
      detached: true,
    });
    c.onSpawn?.(child);
    const max = c.maxOutput ?? 64 * 1024 * 1024;
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`git ${c.args[0]} took longer than ${c.timeoutMs} ms`);
      kill(child.pid);
    }, c.timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      if (c.onStdout) {
        // A reader that throws ends the call with its error, not the process.
        try {
          c.onStdout(b);
        } catch (e) {
          failure ??= e instanceof Error ? e : new Error(String(e));
          kill(child.pid);
        }
        return;
      }
      size += b.length;
      if (size > max) {
        failure ??= new Error(`git ${c.args[0]} said more than ${max} bytes`);
        kill(child.pid);
        return;
      }
      out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString('utf8')).slice(-4000)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${c.git}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(c.input ?? '');
  });
}

/** Ends a child and everything it started (its own process group). */
export function kill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The last line git wrote to stderr, without its "fatal: " or "error: " prefix. */
export function gitError(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  return (lines.pop() ?? 'failed').replace(/^(fatal|error): /, '').slice(0, 500);
}
