// A directory set (detection rules, response playbooks): every *.yaml file of each directory, in
// order (tests, *.test.yaml, excepted), with a version that is the hash of every path and
// content, so a change anywhere is a new version and polling is cheap; and its hot reload: a
// recursive watcher per directory, debounced, and a poll besides, because a watcher can miss
// changes (replaced directories, network file systems). `reload` decides whether anything
// changed (by the version) and reports its own failures; watchDirs only says when to look.

import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { RampartError, messageOf, type ErrorCode } from './errors.js';
import { yamlFiles } from './files.js';

export interface DirSetFile {
  readonly file: string;
  readonly text: string;
}

/**
 * Reads the set: its files in order and its version (`prefix` and 16 hex digits of SHA-256). A
 * directory that cannot be read throws `code`, naming it as `what`.
 */
export function readDirSet(
  dirs: readonly string[],
  prefix: string,
  code: ErrorCode,
  what: string,
): { files: DirSetFile[]; version: string } {
  const hash = createHash('sha256');
  const files: DirSetFile[] = [];
  for (const dir of dirs) {
    let rels: string[];
    try {
      rels = yamlFiles(dir);
    } catch (e) {
      throw new RampartError(
        code,
        `${what} directory ${dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
      );
    }
    for (const rel of rels) {
      const text = readFileSync(join(dir, rel), 'utf8');
      hash.update(`${dir}\0${rel}\0`).update(text).update('\0');
      files.push({ file: join(dir, rel), text });
    }
  }
  return { files, version: `${prefix}${hash.digest('hex').slice(0, 16)}` };
}

/** The version the set would load as (cheap: for polling). */
export function dirSetVersion(dirs: readonly string[], prefix: string): string {
  const hash = createHash('sha256');
  for (const dir of dirs)
    for (const rel of yamlFiles(dir))
      hash
        .update(`${dir}\0${rel}\0`)
        .update(readFileSync(join(dir, rel)))
        .update('\0');
  return `${prefix}${hash.digest('hex').slice(0, 16)}`;
}

/** Calls `reload` after changes settle (150 ms) and every `pollMs`; returns what stops it. */
export function watchDirs(dirs: readonly string[], reload: () => void, pollMs = 5000): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 150);
    timer.unref();
  };
  for (const d of dirs)
    try {
      const w = watch(d, { recursive: true, persistent: false }, schedule);
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // Polled below.
    }
  const poll = setInterval(reload, pollMs);
  poll.unref();
  return () => {
    for (const w of watchers) w.close();
    if (timer) clearTimeout(timer);
    clearInterval(poll);
  };
}
