// Secret scanning of files, directories (honouring .gitignore, as git would) and the lines added
// in a git range. A finding carries file, line, column, rule and a fingerprint; never the secret.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { RampartError, messageOf } from '../core/errors.js';
import type { Finding } from '../core/types.js';
import type { Redactor, SecretMatch } from './engine.js';
import { replacementFor } from './engine.js';

export interface ScanFinding extends Finding {
  readonly location: { file: string; line: number; column: number; endLine: number; endColumn: number };
  readonly fingerprint: string;
}

export interface ScanProblem {
  readonly file: string;
  readonly message: string;
  readonly level: 'error' | 'warning' | 'note';
}

export interface ScanResult {
  readonly findings: ScanFinding[];
  /** Files that could not be scanned (unreadable) or were deliberately skipped (binary, too large). */
  readonly problems: ScanProblem[];
  readonly filesScanned: number;
  readonly bytesScanned: number;
  /** Findings matched by the baseline and not reported. */
  readonly suppressed: number;
}

/** Files above this size are reported as skipped, never silently ignored. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Stable identity of a secret for baselines: the rule and a truncated SHA-256 of the secret,
 * domain-separated. It identifies a secret across line moves without revealing it (and without
 * being a plain hash that a lookup table reverses).
 */
export function fingerprint(rule: string, secret: string): string {
  return createHash('sha256')
    .update('rampart-secret-fingerprint/v1\0')
    .update(rule)
    .update('\0')
    .update(secret)
    .digest('hex')
    .slice(0, 24);
}

/** Line and column (1-based, columns in characters) of offsets in a text, computed once per text. */
class LineIndex {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }
  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}

function findingOf(
  redactor: Redactor,
  m: SecretMatch,
  file: string,
  where: LineIndex,
  lineOffset = 0,
): ScanFinding {
  const s = where.at(m.start);
  const e = where.at(m.end);
  const rule = redactor.rules.find((r) => r.id === m.rule);
  return {
    ruleId: m.rule,
    severity: m.severity,
    message: `${rule?.description ?? m.rule}: ${replacementFor(m)}`,
    location: {
      file,
      line: s.line + lineOffset,
      column: s.column,
      endLine: e.line + lineOffset,
      endColumn: e.column,
    },
    fingerprint: fingerprint(m.rule, m.secret),
    help: 'Revoke the credential, remove it from the file and from history, and load it from a secret file at run time.',
  };
}

/** Scans one text; `file` names it in findings. `bytes`, when given, is its latin1 encoding (faster). */
export function scanText(redactor: Redactor, text: string, file: string, bytes?: Uint8Array): ScanFinding[] {
  const matches = redactor.find(text, 0, text.length, bytes);
  if (matches.length === 0) return [];
  const index = new LineIndex(text);
  return matches.map((m) => findingOf(redactor, m, file, index));
}

function isBinary(buf: Buffer): boolean {
  const n = Math.min(buf.length, 8000);
  for (let i = 0; i < n; i++) if (buf[i] === 0) return true;
  return false;
}

export interface ScanPathsOptions {
  readonly baseDir: string;
  readonly baseline?: ReadonlySet<string> | undefined;
  /** Called after each file: files and bytes scanned so far (for a progress display). */
  readonly onProgress?: (files: number, bytes: number) => void;
}

/** Scans files and directories. Directories are walked honouring .gitignore files and skipping .git. */
/**
 * Every regular file under `root`, in name order, honouring each directory's .gitignore (as git
 * does, nested ones on top of their parents') and skipping .git. Symbolic links and special files
 * are not followed: a link can point anywhere, even at itself.
 */
export function walkFiles(
  root: string,
  onFile: (abs: string) => void,
  onUnlistable: (dir: string, code: string) => void,
): void {
  const walk = (dir: string, rules: { base: string; ig: Ignore }[]): void => {
    let ig = rules;
    try {
      const gi = readFileSync(join(dir, '.gitignore'), 'utf8');
      ig = [...rules, { base: dir, ig: ignore().add(gi) }];
    } catch {
      // no .gitignore here
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      onUnlistable(dir, (e as NodeJS.ErrnoException).code ?? 'unreadable');
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      if (ent.name === '.git') continue;
      const abs = join(dir, ent.name);
      const isDir = ent.isDirectory();
      if (ig.some((r) => r.ig.ignores(relative(r.base, abs).split(sep).join('/') + (isDir ? '/' : ''))))
        continue;
      if (isDir) walk(abs, ig);
      else if (ent.isFile()) onFile(abs);
    }
  };
  walk(root, []);
}

export function scanPaths(redactor: Redactor, paths: readonly string[], opts: ScanPathsOptions): ScanResult {
  const findings: ScanFinding[] = [];
  const problems: ScanProblem[] = [];
  let files = 0;
  let bytes = 0;
  let suppressed = 0;
  const display = (abs: string): string => {
    const rel = relative(opts.baseDir, abs);
    return rel.startsWith('..') ? abs : rel.split(sep).join('/');
  };

  const scanFile = (abs: string): void => {
    const name = display(abs);
    let buf: Buffer;
    try {
      const st = lstatSync(abs);
      if (st.size > MAX_FILE_BYTES) {
        problems.push({
          file: name,
          level: 'warning',
          message: `${name}: skipped, ${st.size} bytes is over the ${MAX_FILE_BYTES}-byte limit`,
        });
        return;
      }
      buf = readFileSync(abs);
    } catch (e) {
      problems.push({
        file: name,
        level: 'error',
        message: `${name}: cannot be read (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`,
      });
      return;
    }
    if (isBinary(buf)) {
      problems.push({ file: name, level: 'note', message: `${name}: skipped, binary file` });
      return;
    }
    files++;
    bytes += buf.length;
    opts.onProgress?.(files, bytes);
    for (const f of scanText(redactor, buf.toString('latin1'), name, buf)) {
      if (opts.baseline?.has(baselineKey(f))) suppressed++;
      else findings.push(f);
    }
  };

  for (const p of paths) {
    const abs = resolve(opts.baseDir, p);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      throw new RampartError('RAMPART_E_USAGE', `${p}: no such file or directory`);
    }
    if (st.isDirectory())
      walkFiles(abs, scanFile, (dir, code) =>
        problems.push({
          file: display(dir),
          level: 'error',
          message: `${display(dir)}: cannot be listed (${code})`,
        }),
      );
    else scanFile(abs);
  }
  findings.sort((a, b) =>
    a.location.file < b.location.file
      ? -1
      : a.location.file > b.location.file
        ? 1
        : a.location.line - b.location.line || a.location.column - b.location.column,
  );
  return { findings, problems, filesScanned: files, bytesScanned: bytes, suppressed };
}

/**
 * Scans only the lines added in a git range (`main..HEAD`, `HEAD~3`, a single commit), using the
 * real git. Consecutive added lines are scanned together, so a key added across lines is found.
 */
export function scanGitRange(
  redactor: Redactor,
  repo: string,
  range: string,
  opts: ScanPathsOptions,
): ScanResult {
  if (range.startsWith('-'))
    throw new RampartError('RAMPART_E_USAGE', `--git ${range}: a range cannot start with "-"`);
  let diff: string;
  try {
    const spec = range.includes('..') ? [range] : [`${range}^!`];
    diff = execFileSync(
      'git',
      ['-C', repo, 'diff', '--no-color', '--no-ext-diff', '--unified=0', '--diff-filter=ACMR', ...spec, '--'],
      {
        encoding: 'latin1',
        maxBuffer: 1 << 30,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (e) {
    const raw = (e as { stderr?: unknown }).stderr;
    const stderr = (typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : '')
      .trim()
      .split('\n')[0];
    throw new RampartError(
      'RAMPART_E_USAGE',
      `git diff ${range} failed in ${repo}: ${stderr || messageOf(e)}`,
    );
  }
  const findings: ScanFinding[] = [];
  const files = new Set<string>();
  let bytes = 0;
  let suppressed = 0;
  let file: string | undefined;
  let hunk: string[] = [];
  let hunkStart = 0;
  const flush = (): void => {
    if (file !== undefined && hunk.length > 0) {
      const text = hunk.join('\n');
      bytes += text.length;
      const index = new LineIndex(text);
      for (const m of redactor.find(text)) {
        const f = findingOf(redactor, m, file, index, hunkStart - 1);
        if (opts.baseline?.has(baselineKey(f))) suppressed++;
        else findings.push(f);
      }
    }
    hunk = [];
  };
  let nextLine = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ')) {
      flush();
      const p = line.slice(4);
      file = p === '/dev/null' ? undefined : p.replace(/^b\//, '');
      if (file) files.add(file);
    } else if (line.startsWith('@@')) {
      flush();
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
      nextLine = m ? Number(m[1]) : 0;
      hunkStart = nextLine;
    } else if (line.startsWith('+') && file !== undefined) {
      if (hunk.length === 0) hunkStart = nextLine;
      hunk.push(line.slice(1));
      nextLine++;
    } else if (line.startsWith('-') || line.startsWith('\\')) {
      // removed lines and "no newline" markers do not move the new-file line counter
    } else {
      flush();
    }
  }
  flush();
  return { findings, problems: [], filesScanned: files.size, bytesScanned: bytes, suppressed };
}

export function baselineKey(f: Pick<ScanFinding, 'ruleId' | 'fingerprint' | 'location'>): string {
  return `${f.location.file}\0${f.ruleId}\0${f.fingerprint}`;
}

/** Reads a baseline: the JSON output of a previous `rampart scan --format json`. */
export function readBaseline(file: string): Set<string> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RampartError('RAMPART_E_USAGE', `baseline ${file} cannot be read as JSON: ${messageOf(e)}`);
  }
  const list = (doc as { findings?: unknown }).findings;
  if (!Array.isArray(list))
    throw new RampartError(
      'RAMPART_E_USAGE',
      `baseline ${file} has no "findings" list (write one with: rampart scan --format json)`,
    );
  const out = new Set<string>();
  for (const f of list as Partial<ScanFinding>[]) {
    if (
      typeof f.ruleId !== 'string' ||
      typeof f.fingerprint !== 'string' ||
      typeof f.location?.file !== 'string'
    ) {
      throw new RampartError(
        'RAMPART_E_USAGE',
        `baseline ${file}: every finding needs ruleId, fingerprint and location.file`,
      );
    }
    out.add(baselineKey(f as ScanFinding));
  }
  return out;
}
