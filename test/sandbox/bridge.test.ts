// The egress bridge (src/sandbox/bridge.c, built to dist/rampart-bridge) on its own: run on this
// host's loopback against a real unix-socket server standing in for the run's channel. What a
// sandbox relies on: the listener exists before the command's first instruction, bytes cross
// both ways at once without a deadlock, a half-close is passed on, the relay is never one of the
// command's children, and a bridge that cannot be set up never runs the command.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { ROOT } from '../support/cli.js';
import { tempDir, type TempDir } from '../support/tmp.js';

const BRIDGE = join(ROOT, 'dist', 'rampart-bridge');

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Bridges started, each as its own process group: in a sandbox the relay ends with the sandbox's
 * pid namespace; here the group is killed (at the end of each test, and after the suite).
 */
const groups: number[] = [];

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function bridge(port: number, socket: string, command: string[]): { done: Promise<Exit>; kill(): void } {
  const child = spawn(BRIDGE, [String(port), socket, '--', ...command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid!;
  groups.push(pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // The command's exit; the relay keeps stderr open after it, so the streams' end is not awaited.
  const done = new Promise<Exit>((resolve) =>
    child.on('exit', (code) => setImmediate(() => resolve({ code, stdout, stderr }))),
  );
  return { done, kill: () => killGroup(pid) };
}

/** A free loopback port (bound and released; the bridge binds it next). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('egress bridge', () => {
  let dir: TempDir;
  let channel: string;
  let server: net.Server;
  /** What the channel server does with each connection. */
  let onConnection: (s: net.Socket) => void = (s) => s.pipe(s);

  before(async () => {
    assert.ok(existsSync(BRIDGE), `${BRIDGE} is built by npm run build`);
    dir = tempDir();
    channel = join(dir.dir, 'proxy.sock');
    server = net.createServer({ allowHalfOpen: true }, (s) => onConnection(s));
    await new Promise<void>((r) => server.listen(channel, r));
  });
  afterEach(() => {
    for (const g of groups.splice(0)) killGroup(g);
  });
  after(() => {
    server.close();
    dir.cleanup();
  });

  it('listens before the command starts: a connection from its first instruction is never refused', async () => {
    onConnection = (s) => s.pipe(s);
    const probe = `import socket
s = socket.create_connection(("127.0.0.1", int(__import__("sys").argv[1])))
s.sendall(b"ping")
print(s.recv(4).decode())`;
    for (let i = 0; i < 15; i++) {
      const port = await freePort();
      const r = await bridge(port, channel, ['python3', '-c', probe, String(port)]).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'ping');
    }
  });

  it('relays 8 MiB each way at the same time without a deadlock', async () => {
    const down = randomBytes(8 << 20);
    const up = randomBytes(8 << 20);
    let serverGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    onConnection = (s) => {
      // Writes everything before reading anything: a relay that blocks on one direction stalls.
      s.write(down);
      s.end();
      serverGot = collect(s);
    };
    const port = await freePort();
    const b = bridge(port, channel, ['sleep', '30']);
    try {
      const c = await connectWhenUp(port);
      c.write(up);
      c.end();
      const clientGot = await collect(c);
      assert.equal(digest(clientGot), digest(down));
      assert.equal(digest(await serverGot), digest(up));
    } finally {
      b.kill();
    }
  });

  it('passes a half-close on: the server sees the end of the request and still answers', async () => {
    onConnection = (s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.on('end', () => s.end(`got ${n}`));
    };
    const port = await freePort();
    const b = bridge(port, channel, ['sleep', '30']);
    try {
      const c = await connectWhenUp(port);
      c.end('x'.repeat(1000));
      assert.equal((await collect(c)).toString(), 'got 1000');
    } finally {
      b.kill();
    }
  });

  it('closes a connection when the channel is gone: no way around the proxy', async () => {
    const port = await freePort();
    const b = bridge(port, join(dir.dir, 'gone.sock'), ['sleep', '30']);
    try {
      const c = await connectWhenUp(port);
      c.write('GET http://example.com/ HTTP/1.1\r\n\r\n');
      // Closed (an unread request makes it a reset), with nothing from anywhere else.
      const got = await collect(c).catch((e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'ECONNRESET');
        return Buffer.alloc(0);
      });
      assert.equal(got.length, 0);
    } finally {
      b.kill();
    }
  });

  it('is not a child of the command (a program waiting for all its children would wait forever)', async () => {
    const port = await freePort();
    const r = await bridge(port, channel, [
      'python3',
      '-c',
      'import os\ntry:\n  print(os.waitpid(-1, os.WNOHANG))\nexcept ChildProcessError:\n  print("no children")',
    ]).done;
    assert.equal(r.stdout.trim(), 'no children', r.stderr);
  });

  it('gives the command default signal dispositions (SIGPIPE and SIGCHLD are not ignored)', async () => {
    const port = await freePort();
    const r = await bridge(port, channel, ['grep', '-E', '^SigIgn', '/proc/self/status']).done;
    const ignored = BigInt('0x' + r.stdout.trim().split(/\s+/)[1]);
    assert.equal(ignored & (1n << 12n), 0n, 'SIGPIPE (13) ignored');
    assert.equal(ignored & (1n << 16n), 0n, 'SIGCHLD (17) ignored');
  });

  it('never runs the command when it cannot listen (exit 125), and reports a missing command (127)', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const marker = join(dir.dir, 'ran');
    const r = await bridge(port, channel, ['touch', marker]).done;
    taken.close();
    assert.equal(r.code, 125);
    assert.match(r.stderr, /egress bridge cannot start: bind 127\.0\.0\.1/);
    assert.equal(existsSync(marker), false);
    const missing = await bridge(await freePort(), channel, ['/nonexistent/cmd']).done;
    assert.equal(missing.code, 127);
    for (const args of [
      [],
      ['0', channel, '--', 'true'],
      ['80', channel, 'true', 'x'],
      ['x', channel, '--', 'true'],
    ]) {
      const bad = await new Promise<number | null>((resolve) =>
        spawn(BRIDGE, args, { stdio: 'ignore' }).on('exit', (c) => resolve(c)),
      );
      assert.equal(bad, 125, `args ${JSON.stringify(args)}`);
    }
  });
});

function collect(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('close', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

/** Connects once the bridge (started in the background) listens. */
async function connectWhenUp(port: number): Promise<net.Socket> {
  for (let i = 0; i < 200; i++) {
    const s = await new Promise<net.Socket | undefined>((resolve) => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      c.once('connect', () => resolve(c));
      c.once('error', () => resolve(undefined));
    });
    if (s) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}
