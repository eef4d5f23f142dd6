// rampart redact: stdin to stdout with every secret replaced. Streams with bounded memory, passes
// binary and invalid UTF-8 through untouched, and never drops anything but the secret.

import { fstatSync, readSync, statSync, writeSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Redactor } from '../../redact/engine.js';
import { ChunkRedactor, RedactStream, type RedactStreamStats } from '../../redact/stream.js';
import { parse, usageError, type Command, type Io } from '../io.js';

const USAGE = `usage: rampart redact [--stats]

Copies stdin to stdout, replacing every secret with [REDACTED-<KIND>] (URL credentials with
[REDACTED]). --stats prints bytes, secrets and throughput to stderr at the end.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { stats: { type: 'boolean' } }, USAGE, true);
    if (positionals.length > 0)
      throw usageError('rampart redact reads stdin; it takes no file arguments', USAGE);
    const redactor = new Redactor();
    const started = performance.now();
    const stats =
      io.stdin === process.stdin && isRegularFile(0) && isRegularFileOrNull(1)
        ? fileToFile(redactor)
        : await streamed(redactor, io);
    if (values.stats) {
      const ms = performance.now() - started;
      const mbps = stats.bytesIn / 1e6 / (ms / 1000);
      io.stderr.write(
        `rampart: redacted ${stats.secrets} secret(s) in ${stats.bytesIn} bytes, ${ms.toFixed(0)} ms (${mbps.toFixed(0)} MB/s), held at most ${stats.maxHeld} bytes\n`,
      );
    }
    return 0;
  },
};

/**
 * File in, file out: a plain read/redact/write loop in 1 MiB steps, with no event-loop round trip
 * per chunk (about a third faster than the stream on large logs).
 */
function fileToFile(redactor: Redactor): RedactStreamStats {
  const core = new ChunkRedactor(redactor);
  const write = (bufs: Buffer[]): void => {
    for (const b of bufs) for (let off = 0; off < b.length;) off += writeSync(1, b, off, b.length - off);
  };
  for (;;) {
    // A fresh buffer each time: released output may still point into the previous one.
    const buf = Buffer.allocUnsafe(1 << 20);
    const n = readSync(0, buf, 0, buf.length, null);
    if (n === 0) break;
    write(core.push(buf.subarray(0, n)));
  }
  write(core.end());
  return core.stats;
}

async function streamed(redactor: Redactor, io: Io): Promise<RedactStreamStats> {
  const stream = new RedactStream(redactor);
  await pipeline(io.stdin, stream, io.stdout);
  return stream.stats;
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** Pipes are non-blocking in Node: plain synchronous writes to them can fail with EAGAIN. */
function isRegularFileOrNull(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFile() || (st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev);
  } catch {
    return false;
  }
}
