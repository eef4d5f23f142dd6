// Secrets live in files, never in environment variables or argv. A secret file that group or others
// can read is refused: the check is the point, since a key readable by every local user is already
// leaked. Writes are atomic (temporary file, fsync, rename) and born 0600, never chmod-ed after.

import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
  constants,
  linkSync,
  rmSync,
} from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { RampartError } from './errors.js';

/** Largest secret file we read: keys and tokens are small; a huge file is a mistake or an attack. */
const MAX_SECRET_BYTES = 1 << 20;

export interface SecretFileOptions {
  /** What the file is for, in the user's terms ("store.postgres.password_file"); goes into errors. */
  readonly purpose: string;
}

/**
 * Reads a secret file after checking it is a regular file, owned by this user (or root), and not
 * readable or writable by group or others. Opens first and checks the open descriptor, so a
 * swapped symlink cannot slip a different file past the check.
 */
export function readSecretFile(path: string, opts: SecretFileOptions): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, for ever. It changes
    // nothing for a regular file, and anything else is refused below.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable by this user'
          : code === 'ELOOP'
            ? 'is a symbolic link (secret files must be regular files)'
            : `cannot be opened (${code ?? 'unknown error'})`;
    throw new RampartError(
      'RAMPART_E_SECRET_FILE_UNREADABLE',
      `secret file ${path} (${opts.purpose}) ${why}`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new RampartError(
        'RAMPART_E_SECRET_FILE_UNREADABLE',
        `secret file ${path} (${opts.purpose}) is not a regular file`,
      );
    }
    checkSecretMode(path, st.mode, st.uid, opts.purpose);
    if (st.size > MAX_SECRET_BYTES) {
      throw new RampartError(
        'RAMPART_E_SECRET_FILE_UNREADABLE',
        `secret file ${path} (${opts.purpose}) is ${st.size} bytes; secret files are at most ${MAX_SECRET_BYTES} bytes`,
      );
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Reads a secret text file (a token, a password) and strips one trailing newline. */
export function readSecretText(path: string, opts: SecretFileOptions): string {
  const text = readSecretFile(path, opts).toString('utf8');
  const trimmed = text.replace(/\r?\n$/, '');
  if (trimmed.length === 0) {
    throw new RampartError(
      'RAMPART_E_SECRET_FILE_UNREADABLE',
      `secret file ${path} (${opts.purpose}) is empty`,
    );
  }
  return trimmed;
}

export function checkSecretMode(path: string, mode: number, uid: number, purpose: string): void {
  const perms = mode & 0o777;
  if ((perms & 0o077) !== 0) {
    throw new RampartError(
      'RAMPART_E_SECRET_FILE_PERMISSIONS',
      `secret file ${path} (${purpose}) has mode ${perms.toString(8).padStart(4, '0')}; ` +
        'it must not be readable or writable by group or others',
      { hint: `chmod 600 ${path}` },
    );
  }
  const me = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (uid !== me && uid !== 0) {
    throw new RampartError(
      'RAMPART_E_SECRET_FILE_PERMISSIONS',
      `secret file ${path} (${purpose}) is owned by uid ${uid}, not by this user (uid ${me}) or root`,
      { hint: `chown ${me} ${path}` },
    );
  }
}

/**
 * Writes a secret file atomically with mode 0600 (or `mode`). The data never exists on disk with
 * wider permissions, and a crash leaves either the old file or the new one.
 */
export function writeSecretFile(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  opts: { readonly replace?: boolean } = {},
): void {
  if ((mode & 0o077) !== 0) throw new TypeError('writeSecretFile: mode must not grant group or other access');
  writeFileAtomic(path, data, mode, opts);
}

/** Writes a file atomically (temporary file, fsync, rename, fsync of the directory). */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number,
  opts: { readonly replace?: boolean } = {},
): void {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.getBuiltinModule('node:crypto').randomBytes(6).toString('hex')}.tmp`,
  );
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (opts.replace === false) {
    // Never over an existing file, atomically: link(2) fails with EEXIST where rename replaces.
    try {
      linkSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new RampartError('RAMPART_E_USAGE', `${path} exists already; give --force to replace it`);
      throw e;
    }
    rmSync(tmp, { force: true });
  } else renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** Makes a rename or create in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
