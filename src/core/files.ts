// Reading files the user named: a missing or unreadable file is their mistake, reported with the
// path and the system's reason under the caller's error code, never as a raw ENOENT stack.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { RampartError, type ErrorCode, messageOf } from './errors.js';

/** The text of `file`, or a RampartError with `code` saying which file and why it cannot be read. */
export function readTextFile(file: string, code: ErrorCode, what = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? messageOf(e);
    throw new RampartError(code, `cannot read ${what === '' ? '' : `${what} `}${file}: ${reason}`);
  }
}

/**
 * The YAML files under `dir` (policy sets, rule sets), sorted, as relative paths with forward
 * slashes: every *.yaml outside `tests/` directories that is not a *.test.yaml. With `test`, the
 * *.test.yaml files instead.
 */
export function yamlFiles(dir: string, test = false): string[] {
  const out: string[] = [];
  const walk = (d: string, inTests: boolean): void => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, inTests || name === 'tests');
      else if (/\.ya?ml$/.test(name)) {
        const isTest = /\.test\.ya?ml$/.test(name);
        if (test ? isTest : !isTest && !inTests) out.push(relative(dir, p).split(sep).join('/'));
      }
    }
  };
  walk(dir, false);
  return out;
}
