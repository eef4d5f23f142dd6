// One program run to its end, its output kept (bounded): the chaos drill's only way to act on the
// machine. Never a shell: every argument is passed as it is.

import { spawn } from 'node:child_process';

export interface Ran {
  readonly argv: readonly string[];
  /** The exit code; -1 when it could not start or was killed at the timeout. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const KEEP = 64 * 1024;

export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const argv = [cmd, ...args];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-KEEP)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-KEEP)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ argv, code: -1, stdout, stderr: `${stderr}${e.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ argv, code: code ?? -1, stdout, stderr });
    });
  });
}
