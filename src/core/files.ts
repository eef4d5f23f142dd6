// Reading files the user named: a missing or unreadable file is their mistake, reported with the
// path and the system's reason under the caller's error code, never as a raw ENOENT stack.

import { readFileSync } from 'node:fs';
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
