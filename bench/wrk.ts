// wrk, the HTTP load generator every HTTP benchmark here uses, and the bare-fastify ceiling each
// compares against. One wrk thread and 16 connections: on two cores, wrk on one and the server's
// event loop on the other (more wrk threads only steal the server's core).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/support/cli.js';

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export interface WrkResult {
  readonly rps: string;
  readonly p50: string;
  readonly p99: string;
  readonly errors: string;
}

export const wrkArgs = (seconds: string, lua: string, url: string, connections = 16): string[] => [
  '-t1',
  `-c${connections}`,
  `-d${seconds}s`,
  '--latency',
  '-s',
  lua,
  url,
];

/** Runs wrk asynchronously: a blocked event loop would leave this process's own keep-alive connections unattended. */
export async function runWrk(args: string[]): Promise<WrkResult> {
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const missing = new Promise<never>((_, reject) =>
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'ENOENT'
            ? 'this benchmark needs wrk, the HTTP load generator: apt-get install wrk (Debian), then run it again'
            : `wrk could not start: ${e.message}`,
        ),
      ),
    ),
  );
  missing.catch(() => undefined);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await Promise.race([
    missing,
    new Promise<number | null>((resolve) => child.on('close', resolve)),
  ]);
  if (code !== 0) throw new Error(`wrk failed: ${stderr}`);
  return {
    rps: fmt(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN)),
    p50: /\s50%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?',
    p99: /\s99%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?',
    errors: /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0',
  };
}

/**
 * A wrk script that POSTs the given bodies round-robin to `path` with a bearer token. With
 * `pace`, each connection waits that many milliseconds before each request (wrk's `delay()`), so
 * N connections offer about N / pace requests per millisecond: latency at a given load, not the
 * queueing of a saturated server.
 */
export function postScript(
  dir: string,
  path: string,
  bodies: readonly unknown[],
  token: string,
  pace?: number,
): string {
  const lua = join(dir, 'post.lua');
  writeFileSync(
    lua,
    `local bodies = {\n${bodies.map((b) => `  [==[${JSON.stringify(b)}]==]`).join(',\n')}\n}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format("POST", "${path}", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${token}"}, bodies[(n % #bodies) + 1])\nend\n${pace === undefined ? '' : `delay = function()\n  return ${pace}\nend\n`}`,
  );
  return lua;
}

/**
 * The ceiling: fastify alone, in its own process, parsing the same JSON body at `path` and
 * answering `answer` (a JavaScript expression over `req`).
 */
export async function bareFastify(path: string, answer: string): Promise<{ url: string; stop(): void }> {
  const script = `const app = require('fastify')({ bodyLimit: 8 * 1024 * 1024 });
app.post(${JSON.stringify(path)}, async (req) => (${answer}));
app.listen({ port: 0, host: '127.0.0.1' }).then((url) => console.log(url));`;
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) =>
    child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim())),
  );
  return { url, stop: () => child.kill() };
}

/** How many audit records the control plane at `url` holds (each benchmarked decision is one). */
export async function auditSize(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/audit/head`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { size: number }).size;
}
