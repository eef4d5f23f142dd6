// Memory images of a frozen run's processes: "snapshot the memory, then kill it".
//
// Each process's readable mappings (/proc/PID/maps) are read from /proc/PID/mem and written as an
// ELF core file (ET_CORE: a PT_NOTE with NT_PRPSINFO, then one PT_LOAD per mapping), which gdb,
// readelf and Volatility-style tools read. Reading /proc/PID/mem needs no ptrace attach, so the
// frozen process is never woken; the price is that the core carries no registers (reading a
// task's registers needs it stopped under ptrace, which a frozen task cannot be). Reads are
// asynchronous and bounded: a mapping that does not fit the remaining budget is listed with
// `truncated`, never silently dropped. Pages the kernel refuses (guard pages, I/O mappings) are
// written as zeros and counted.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export interface MemoryImage {
  readonly pid: number;
  readonly comm: string;
  /** The core file's name inside the evidence archive. */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly regions: number;
  /** Bytes of mappings left out (over the budget or out of time). */
  readonly omitted: number;
  /** Bytes the kernel refused to read, written as zeros. */
  readonly unreadable: number;
}

interface Region {
  readonly start: number;
  readonly end: number;
  readonly flags: number;
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_PRPSINFO = 3;
const EHDR = 64;
const PHDR = 56;
const CHUNK = 1 << 20;
const MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

/** Readable mappings worth keeping: not [vvar]/[vsyscall] (kernel pages that fault on read). */
function regions(pid: number): Region[] {
  const out: Region[] = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (!m || m[3]![0] !== 'r') continue;
    const name = m[4]!;
    if (name === '[vvar]' || name === '[vsyscall]' || name === '[vvar_vclock]') continue;
    const perms = m[3]!;
    out.push({
      start: parseInt(m[1]!, 16),
      end: parseInt(m[2]!, 16),
      flags: 4 | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 1 : 0),
    });
  }
  return out;
}

function prpsinfo(pid: number, comm: string, args: string): Buffer {
  const b = Buffer.alloc(136);
  b.writeUInt8(0x52 /* R */, 1);
  b.writeInt32LE(pid, 32);
  b.write(comm.slice(0, 15), 48, 'latin1');
  b.write(args.slice(0, 79), 64, 'latin1');
  return b;
}

function note(type: number, desc: Buffer): Buffer {
  const name = Buffer.from('CORE\0\0\0\0', 'latin1');
  const head = Buffer.alloc(12);
  head.writeUInt32LE(5, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(type, 8);
  const pad = Buffer.alloc((4 - (desc.length % 4)) % 4);
  return Buffer.concat([head, name, desc, pad]);
}

/**
 * Writes the core of one frozen process to `path` (mode 0600), within `budget` bytes of memory and
 * before `deadline`. Throws only when the process's maps cannot be read (it is gone).
 */
export async function writeCore(
  pid: number,
  path: string,
  budget: number,
  deadline: AbortSignal,
): Promise<Omit<MemoryImage, 'file'>> {
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  const all = regions(pid);
  const kept: Region[] = [];
  let omitted = 0;
  let left = budget;
  for (const r of all) {
    const size = r.end - r.start;
    if (size <= left) {
      kept.push(r);
      left -= size;
    } else omitted += size;
  }
  const notes = note(NT_PRPSINFO, prpsinfo(pid, comm, args));
  const phnum = kept.length + 1;
  const dataAt = EHDR + PHDR * phnum;
  const header = Buffer.alloc(dataAt);
  header.write('\x7fELF', 0, 'latin1');
  header.writeUInt8(2, 4); // ELFCLASS64
  header.writeUInt8(1, 5); // little-endian
  header.writeUInt8(1, 6); // EV_CURRENT
  header.writeUInt16LE(4, 16); // ET_CORE
  header.writeUInt16LE(MACHINE[process.arch] ?? 0, 18);
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(BigInt(EHDR), 32); // e_phoff
  header.writeUInt16LE(EHDR, 52);
  header.writeUInt16LE(PHDR, 54);
  header.writeUInt16LE(phnum, 56);
  const ph = (i: number, type: number, flags: number, offset: number, vaddr: number, size: number): void => {
    const o = EHDR + PHDR * i;
    header.writeUInt32LE(type, o);
    header.writeUInt32LE(flags, o + 4);
    header.writeBigUInt64LE(BigInt(offset), o + 8);
    header.writeBigUInt64LE(BigInt(vaddr), o + 16);
    header.writeBigUInt64LE(BigInt(size), o + 32);
    header.writeBigUInt64LE(BigInt(size), o + 40);
    header.writeBigUInt64LE(BigInt(type === PT_LOAD ? 0x1000 : 4), o + 48);
  };
  ph(0, PT_NOTE, 0, dataAt, 0, notes.length);
  // Segments start page-aligned after the notes, as the kernel's own cores do.
  let offset = Math.ceil((dataAt + notes.length) / 0x1000) * 0x1000;
  kept.forEach((r, i) => {
    ph(i + 1, PT_LOAD, r.flags, offset, r.start, r.end - r.start);
    offset += r.end - r.start;
  });

  const hash = createHash('sha256');
  let out: FileHandle | undefined;
  let mem: FileHandle | undefined;
  let unreadable = 0;
  let written = 0;
  try {
    out = await open(path, 'wx', 0o600);
    const put = async (b: Buffer): Promise<void> => {
      await out!.write(b, 0, b.length, written);
      hash.update(b);
      written += b.length;
    };
    await put(header);
    await put(notes);
    await put(Buffer.alloc(Math.ceil(written / 0x1000) * 0x1000 - written));
    mem = await open(`/proc/${pid}/mem`, 'r');
    const buf = Buffer.alloc(CHUNK);
    for (const r of kept) {
      for (let at = r.start; at < r.end;) {
        const n = Math.min(CHUNK, r.end - at);
        let got = 0;
        if (!deadline.aborted)
          try {
            got = (await mem.read(buf, 0, n, at)).bytesRead;
          } catch {
            got = 0;
          }
        // A refused page ends a read short: the rest of the chunk is read page by page.
        for (let p = got; p < n; p += 0x1000) {
          const len = Math.min(0x1000, n - p);
          let one = 0;
          if (!deadline.aborted)
            try {
              one = (await mem.read(buf, p, len, at + p)).bytesRead;
            } catch {
              one = 0;
            }
          if (one < len) {
            buf.fill(0, p + one, p + len);
            unreadable += len - one;
          }
        }
        await put(buf.subarray(0, n));
        at += n;
      }
    }
  } finally {
    await mem?.close();
    await out?.close();
  }
  return {
    pid,
    comm,
    bytes: written,
    sha256: hash.digest('hex'),
    regions: kept.length,
    omitted,
    unreadable,
  };
}
