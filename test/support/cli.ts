// Running the real CLI (bin/rampart.cjs, the bundle users run) as a child process.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = `${ROOT}bin/rampart.cjs`;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function rampart(
  args: readonly string[],
  opts: { cwd: string; input?: string; timeoutMs?: number },
): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function rampartAsync(
  args: readonly string[],
  opts: { cwd: string; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly readyMs: number;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code and everything written to stderr. */
  stop(
    signal?: NodeJS.Signals,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts `rampart up` and resolves once it prints its ready line. */
export function startServer(
  args: readonly string[],
  opts: { cwd: string; timeoutMs?: number },
): Promise<Server> {
  // Every test control plane gets its own egress port (the default, 7071, is one per machine).
  const egress = args.includes('--egress-listen') ? [] : ['--egress-listen', '127.0.0.1:0'];
  return startService(['up', ...args, ...egress], /control plane ready at (\S+)/, opts);
}

/** Starts `rampart proxy` (the egress proxy alone); `url` is the proxy's. */
export function startProxy(
  args: readonly string[],
  opts: { cwd: string; timeoutMs?: number },
): Promise<Server> {
  const listen = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  return startService(['proxy', ...args, ...listen], /egress proxy ready at (\S+)/, opts);
}

/** Starts a long-running rampart command; resolves once stderr matches `ready` (group 1: its URL). */
function startService(
  argv: readonly string[],
  ready: RegExp,
  opts: { cwd: string; timeoutMs?: number },
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server not ready in time; stderr: ${err}`));
    }, opts.timeoutMs ?? 20_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = ready.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          child,
          url: m[1]!,
          readyMs: performance.now() - started,
          stderr: () => err,
          stop: async (signal = 'SIGTERM') => {
            child.kill(signal);
            const r = await exited;
            return { ...r, stderr: err };
          },
        });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was ready: ${err}`));
    });
  });
}

export function builtBundleExists(): boolean {
  return spawnSync(process.execPath, [BIN, '--version']).status === 0;
}
