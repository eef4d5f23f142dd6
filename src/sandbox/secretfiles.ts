// A run's secret files while it runs: a directory on a tmpfs of the host (never a disk), bound
// read-only at /run/secrets on the bwrap and Docker runtimes, each file 0400 and the run's.
// A directory rather than files bound one by one, so a renewed or rotated value replaces its
// file atomically (written beside it, then renamed over it: a reader sees the old value or the
// new, never half of one), and a revoked one disappears, while the run goes on.

import { chownSync, mkdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const SECRET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function validSecretName(name: string): boolean {
  return SECRET_NAME_RE.test(name) && name !== '.' && name !== '..';
}

/** Where runs' secret and token files are kept while they run: a tmpfs every Linux host has. */
export const FILES_ROOT = '/dev/shm';

/** A run's directory of files on the host, and its secrets directory in it. */
export function runFiles(
  filesRoot: string,
  runId: string,
): { dir: string; secrets: string; token: string; home: string } {
  const dir = join(filesRoot, `rampart-${runId}`);
  return { dir, secrets: join(dir, 'secrets'), token: join(dir, 'token'), home: join(dir, 'home') };
}

/** A home file's path, checked: relative, plain names, no dot-dot. Throws TypeError. */
export function homePath(path: string): string[] {
  const parts = path.split('/');
  if (parts.some((p) => !/^[A-Za-z0-9._-]{1,64}$/.test(p) || p === '.' || p === '..'))
    throw new TypeError(`invalid home file "${path}"`);
  return parts;
}

/**
 * Writes the files planted in a run's home (honeytokens) under `dir` for binding one by one
 * (the Docker runtime): directories 0700 and files 0600, the run's.
 */
export function makeHomeFiles(dir: string, uid: number, files: ReadonlyMap<string, Buffer>): void {
  for (const [path, content] of files) {
    const parts = homePath(path);
    let at = dir;
    for (const p of [undefined, ...parts.slice(0, -1)]) {
      if (p !== undefined) at = join(at, p);
      mkdirSync(at, { recursive: true, mode: 0o700 });
      chownSync(at, uid, uid);
    }
    writeFileSync(join(dir, path), content, { mode: 0o600, flag: 'wx' });
    chownSync(join(dir, path), uid, uid);
  }
}

/** Makes a run's secrets directory (0500, the run's) with its files. */
export function makeSecretsDir(dir: string, uid: number, secrets: ReadonlyMap<string, Buffer>): void {
  mkdirSync(dir, { recursive: true, mode: 0o500 });
  for (const [name, content] of secrets) putSecretFile(dir, name, content, uid);
  chownSync(dir, uid, uid);
}

/** Writes (or replaces) one file atomically: 0400, the run's uid. */
export function putSecretFile(dir: string, name: string, content: Buffer, uid: number): void {
  if (!validSecretName(name)) throw new TypeError(`invalid secret name "${name}"`);
  // A name no secret can have (they never hold "~"), so a rename never lands on another's file.
  const tmp = join(dir, `~${name}.${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(tmp, content, { mode: 0o400, flag: 'wx' });
    chownSync(tmp, uid, uid);
    renameSync(tmp, join(dir, name));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Removes one file (a revoked lease); gone already is fine. */
export function removeSecretFile(dir: string, name: string): void {
  if (!validSecretName(name)) throw new TypeError(`invalid secret name "${name}"`);
  try {
    unlinkSync(join(dir, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
