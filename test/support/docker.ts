// A private Docker Engine for tests: Debian's dockerd (20.10) started with its own data root,
// exec root, socket and pid file, no bridge and no iptables, so it touches nothing the machine's
// own engine (or another test's) uses, and stopped by its pid. Images are built locally
// (`docker import` of a busybox root filesystem): no registry is reachable here.
//
// Without dockerd or root the tests that need it are skipped with the reason, except under
// CI=true, where that fails the run (.ci/run installs docker.io and busybox-static).

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './wait.js';

const run = promisify(execFile);

export interface Dockerd {
  /** unix:///... for DOCKER_HOST and `docker -H`. */
  readonly host: string;
  readonly socket: string;
  readonly dir: string;
  /** Runs the docker CLI against this engine. */
  docker(
    args: readonly string[],
    opts?: { input?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The raw Engine API over the socket (curl, as any client would). */
  api(method: string, path: string, body?: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** Why Docker tests cannot run here, or false. Under CI=true a missing engine is an error. */
export function dockerSkip(): string | false {
  const why =
    process.getuid?.() !== 0
      ? 'not root'
      : !existsSync('/usr/sbin/dockerd')
        ? 'dockerd is not installed (Debian: docker.io)'
        : !existsSync('/bin/busybox')
          ? 'busybox is not installed (Debian: busybox-static)'
          : false;
  if (why && process.env['CI'] === 'true') throw new Error(`CI=true but Docker tests cannot run: ${why}`);
  return why ? `Docker tests skipped: ${why}` : false;
}

/**
 * Starts a private dockerd; `authzPlugin` names an authorization plugin it must consult.
 * `swarm`: the engine is made a one-node swarm's manager, with the node defaults the Swarm
 * runtime needs (no-new-privileges, and the seccomp profile given, as daemon.json would say).
 * A swarm engine puts docker_gwbridge in the host's network namespace, which two swarm engines
 * would share: one test file at a time starts one (test/sandbox/swarm.test.ts).
 */
export async function startDockerd(
  opts: { authzPlugin?: string; swarm?: { seccompProfile: string } } = {},
): Promise<Dockerd> {
  // Short: the engine's and containerd's sockets live under it, and unix paths end at 108 bytes.
  const dir = mkdtempSync('/tmp/rd-');
  const socket = join(dir, 'docker.sock');
  const gwbridgeBefore = existsSync('/sys/class/net/docker_gwbridge');
  if (opts.swarm) writeFileSync(join(dir, 'seccomp.json'), opts.swarm.seccompProfile);
  const args = [
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'x'),
    '--pidfile',
    join(dir, 'pid'),
    '--host',
    `unix://${socket}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--userland-proxy=false',
    ...(opts.authzPlugin ? ['--authorization-plugin', opts.authzPlugin] : []),
    ...(opts.swarm ? ['--no-new-privileges', '--seccomp-profile', join(dir, 'seccomp.json')] : []),
  ];
  let log = '';
  const child: ChildProcess = spawn('/usr/sbin/dockerd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const host = `unix://${socket}`;
  const docker: Dockerd['docker'] = (a, o = {}) =>
    new Promise((resolve) => {
      const p = spawn('docker', ['-H', host, ...a], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      // A CLI that exits before reading its input is an answer (its code), not a crash.
      p.stdin.on('error', () => undefined);
      p.stdin.end(o.input ?? '');
    });
  const api: Dockerd['api'] = async (method, path, body) => {
    const { stdout } = await run('curl', [
      '-s',
      '--unix-socket',
      socket,
      '-X',
      method,
      '-H',
      'content-type: application/json',
      ...(body === undefined ? [] : ['--data-binary', body]),
      '-w',
      '\n%{http_code}',
      `http://docker${path}`,
    ]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '\n0' }));
    const nl = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
  };
  const stop = async (): Promise<void> => {
    if (opts.swarm && child.exitCode === null) await docker(['swarm', 'leave', '--force']);
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    // Mounts the engine left (overlay layers, its exec root) go with it; then its files.
    try {
      execFileSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
    } catch {
      // nothing mounted
    }
    rmSync(dir, { recursive: true, force: true });
    // The swarm's bridge in the host's namespace, if this engine made it.
    if (opts.swarm && !gwbridgeBefore && existsSync('/sys/class/net/docker_gwbridge'))
      await run('ip', ['link', 'delete', 'docker_gwbridge']).catch(() => undefined);
  };
  try {
    // Ready when the API answers; with an authorization plugin even _ping goes through it.
    await eventually(
      async () => ((await api('GET', '/_ping')).status === 200 ? true : undefined),
      `dockerd to answer on ${socket} (log: ${log.slice(-2000)})`,
      30_000,
    );
    if (opts.swarm) {
      const init = await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      if (init.code !== 0) throw new Error(`swarm init: ${init.stderr}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, socket, dir, docker, api, stop };
}

/** A tiny image (busybox, statically linked), imported into `d` under `name`; returns its id. */
export async function importBusybox(d: Dockerd, name = 'rampart-test/busybox:1'): Promise<string> {
  const root = mkdtempSync('/tmp/rootfs-');
  try {
    mkdirSync(join(root, 'bin'));
    for (const dirName of ['tmp', 'proc', 'sys', 'dev', 'etc', 'workspace', 'run'])
      mkdirSync(join(root, dirName));
    // As in every real image: Swarm's tmpfs takes the image directory's mode (copy-up).
    chmodSync(join(root, 'tmp'), 0o1777);
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const tool of [
      'sh',
      'true',
      'false',
      'cat',
      'ls',
      'id',
      'sleep',
      'echo',
      'grep',
      'dd',
      'wc',
      'head',
      'nc',
      'wget',
      'ps',
      'kill',
      'mount',
      'stat',
      'touch',
      'rm',
      'mkdir',
      'env',
    ])
      symlinkSync('busybox', join(root, 'bin', tool));
    writeFileSync(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = join(root, '..', `${root.split('/').pop()}.tar`);
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    const r = await d.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, name]);
    rmSync(tar, { force: true });
    if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
