// What a push would bring upstream, read with git from the mirror and the push's quarantine
// (receive-pack keeps the new objects there until the pre-receive step says yes): the commits no
// ref of the mirror has yet, every file each of them adds or changes, their sizes, and the lines
// they add, streamed through the secret scanner one blob at a time (memory stays bounded by the
// largest file allowed, whatever the size of the push).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitError, runGit } from './git.js';
import {
  ZERO,
  type ChangedFile,
  type PushChange,
  type PushedCommit,
  type RefUpdate,
  type SecretFound,
} from './rules.js';

/** A scanner: the findings in a text, by 1-based line of that text. */
export type Scan = (text: string) => readonly { rule: string; line: number }[];

export interface InspectOptions {
  readonly git: string;
  readonly mirror: string;
  /** The quarantine's object directory and the mirror's own (receive-pack's environment). */
  readonly objects: { readonly quarantine: string; readonly alternates: string };
  readonly updates: readonly RefUpdate[];
  /** Blobs larger than this are not read (the size rule refuses them). */
  readonly maxFileSize: number;
  /** Undefined: content is not scanned. */
  readonly scan: Scan | undefined;
  readonly timeoutMs: number;
}

export async function inspectPush(o: InspectOptions): Promise<PushChange> {
  const env = {
    GIT_DIR: o.mirror,
    GIT_OBJECT_DIRECTORY: o.objects.quarantine,
    GIT_ALTERNATE_OBJECT_DIRECTORIES: o.objects.alternates,
  };
  const git = (args: string[], input?: string): ReturnType<typeof runGit> =>
    runGit({ git: o.git, args, env, input, timeoutMs: o.timeoutMs });
  const updates = await Promise.all(
    o.updates.map(async (u) => {
      if (u.old === ZERO || u.new === ZERO) return u;
      const r = await git(['merge-base', '--is-ancestor', u.old, u.new]);
      if (r.code !== 0 && r.code !== 1) throw new Error(`git merge-base: ${gitError(r.stderr)}`);
      return { ...u, fastForward: r.code === 0 };
    }),
  );
  const tips = updates.filter((u) => u.new !== ZERO).map((u) => u.new);
  let commits: PushedCommit[] = [];
  let files: ChangedFile[] = [];
  let olds = new Map<string, string>();
  if (tips.length > 0) {
    // The tips are 40-hex ids (parseHook checked), never options.
    const list = await git(['rev-list', '--reverse', ...tips, '--not', '--all']);
    if (list.code !== 0) throw new Error(`git rev-list: ${gitError(list.stderr)}`);
    const ids = list.stdout.toString('latin1').split('\n').filter(Boolean);
    if (ids.length > 0) {
      const log = await git(
        [
          'log',
          '--stdin',
          '--no-walk=unsorted',
          '--format=%x01%H%x02%P%x02%B%x03',
          '--raw',
          '-z',
          '-r',
          '--no-renames',
          '--no-abbrev',
          '--diff-merges=dense-combined',
        ],
        `${ids.join('\n')}\n`,
      );
      if (log.code !== 0) throw new Error(`git log: ${gitError(log.stderr)}`);
      ({ commits, files, olds } = parseLog(log.stdout.toString('utf8')));
    }
  }
  const sized = await sizes(o, env, files);
  const secrets = o.scan ? await scanBlobs(o, env, sized, olds, o.scan) : [];
  return { updates, commits, files: sized, secrets, defaultBranch: defaultBranch(o.mirror) };
}

/**
 * `git log --raw -z` with our format: \x01 id \x02 parents \x02 message \x03, then NUL-separated
 * raw entries (":mode... sha... status" then the path; a merge's has one colon per parent).
 */
function parseLog(out: string): {
  commits: PushedCommit[];
  files: ChangedFile[];
  olds: Map<string, string>;
} {
  const commits: PushedCommit[] = [];
  const files: ChangedFile[] = [];
  const olds = new Map<string, string>();
  for (const chunk of out.split('\x01')) {
    if (chunk === '') continue;
    const end = chunk.indexOf('\x03');
    const [id, parents, message] = chunk.slice(0, end).split('\x02') as [string, string, string];
    commits.push({ id, parents: parents.split(' ').filter(Boolean), message });
    const tokens = chunk.slice(end + 1).split('\0');
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!.replace(/^\n/, '');
      if (!t.startsWith(':')) continue;
      const path = tokens[++i] ?? '';
      const fields = t.replace(/^:+/, '').split(' ');
      const status = fields[fields.length - 1]!;
      const shas = fields.filter((f) => /^[0-9a-f]{40}$/.test(f));
      const blob = shas[shas.length - 1]!;
      // What the line was before (against the first parent), for what the commit adds.
      if (shas[0] !== ZERO && blob !== ZERO) olds.set(`${id}\0${path}`, shas[0]!);
      files.push({ path, commit: id, status, blob, size: 0 });
    }
  }
  return { commits, files, olds };
}

/** Every new blob's size, in one cat-file. */
async function sizes(
  o: InspectOptions,
  env: Record<string, string>,
  files: ChangedFile[],
): Promise<ChangedFile[]> {
  const blobs = [...new Set(files.map((f) => f.blob).filter((b) => b !== ZERO))];
  if (blobs.length === 0) return files;
  const r = await runGit({
    git: o.git,
    args: ['cat-file', '--batch-check=%(objectname) %(objectsize)'],
    env,
    input: `${blobs.join('\n')}\n`,
    timeoutMs: o.timeoutMs,
  });
  if (r.code !== 0) throw new Error(`git cat-file: ${gitError(r.stderr)}`);
  const size = new Map<string, number>();
  for (const line of r.stdout.toString('latin1').split('\n')) {
    const [sha, n] = line.split(' ');
    if (sha && n && /^\d+$/.test(n)) size.set(sha, Number(n));
  }
  return files.map((f) => (f.blob === ZERO ? f : { ...f, size: size.get(f.blob) ?? 0 }));
}

/**
 * The lines each file adds (those of its new blob that its old one lacks), scanned. Blobs are
 * streamed from one `cat-file --batch` and dropped once scanned; binary and oversized ones are
 * not read into memory at all.
 */
async function scanBlobs(
  o: InspectOptions,
  env: Record<string, string>,
  files: readonly ChangedFile[],
  olds: ReadonlyMap<string, string>,
  scan: Scan,
): Promise<SecretFound[]> {
  const wanted = files.filter((f) => f.blob !== ZERO && f.size <= o.maxFileSize);
  if (wanted.length === 0) return [];
  // Each file's old blob is asked just before its new one.
  const order: { sha: string; file?: ChangedFile }[] = [];
  for (const f of wanted) {
    const old = olds.get(`${f.commit}\0${f.path}`);
    if (old) order.push({ sha: old });
    order.push({ sha: f.blob, file: f });
  }
  const found: SecretFound[] = [];
  const scanned = new Set<string>();
  let previous: Buffer | undefined;
  await streamBlobs(
    o,
    env,
    order.map((x) => x.sha),
    (i, body, truncated) => {
      const entry = order[i]!;
      if (!entry.file) {
        previous = truncated ? undefined : body;
        return;
      }
      const f = entry.file;
      const old = olds.has(`${f.commit}\0${f.path}`) ? previous : undefined;
      previous = undefined;
      const key = `${f.blob}\0${old ? 'o' : ''}`;
      if (!body || scanned.has(key) || isBinary(body)) return;
      if (truncated) {
        // Text too large to scan: refused (rules.ts), never passed unscanned.
        found.push({ path: f.path, commit: f.commit, line: 0, rule: TOO_LARGE });
        return;
      }
      scanned.add(key);
      const before = old ? new Set(old.toString('utf8').split('\n')) : undefined;
      const lines = body.toString('utf8').split('\n');
      const added: string[] = [];
      const at: number[] = [];
      lines.forEach((l, n) => {
        if (!before || !before.has(l)) {
          added.push(l);
          at.push(n + 1);
        }
      });
      if (added.length === 0) return;
      for (const m of scan(added.join('\n')))
        found.push({ path: f.path, commit: f.commit, line: at[m.line - 1] ?? m.line, rule: m.rule });
    },
  );
  return found;
}

/** Blobs larger than this are not scanned: binary ones pass, text ones refuse the push. */
export const SCAN_MAX = 16 * 1024 * 1024;
/** The finding a text blob too large to scan becomes. */
export const TOO_LARGE = 'too-large-to-scan';
/** How much of a blob tells whether it is binary (git's own test: a NUL in the first 8000 bytes). */
const BINARY_PROBE = 8000;

function isBinary(b: Buffer): boolean {
  return b.subarray(0, BINARY_PROBE).includes(0);
}

/** `git cat-file --batch` over `shas`, each body handed over in order (undefined when missing). */
async function streamBlobs(
  o: InspectOptions,
  env: Record<string, string>,
  shas: readonly string[],
  each: (index: number, body: Buffer | undefined, truncated?: boolean) => void,
): Promise<void> {
  let index = 0;
  let pending: Buffer = Buffer.alloc(0);
  let body: { size: number; parts: Buffer[]; have: number } | undefined;
  const read = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (body) {
        const take = Math.min(body.size + 1 - body.have, pending.length);
        // Past SCAN_MAX only the head is kept (enough to tell a binary file): memory stays
        // bounded by SCAN_MAX whatever the blob's size.
        if (body.have < (body.size > SCAN_MAX ? BINARY_PROBE : body.size + 1))
          body.parts.push(pending.subarray(0, take));
        body.have += take;
        pending = pending.subarray(take);
        if (body.have < body.size + 1) return;
        const big = body.size > SCAN_MAX;
        each(index++, Buffer.concat(body.parts).subarray(0, big ? BINARY_PROBE : body.size), big);
        body = undefined;
        continue;
      }
      const nl = pending.indexOf(10);
      if (nl < 0) return;
      const head = pending.subarray(0, nl).toString('latin1').split(' ');
      pending = pending.subarray(nl + 1);
      if (head[1] === 'missing' || head.length < 3) each(index++, undefined);
      else body = { size: Number(head[2]), parts: [], have: 0 };
    }
  };
  const r = await runGit({
    git: o.git,
    args: ['cat-file', '--batch'],
    env,
    input: `${shas.join('\n')}\n`,
    timeoutMs: o.timeoutMs,
    onStdout: read,
  });
  if (r.code !== 0) throw new Error(`git cat-file: ${gitError(r.stderr)}`);
}

/** The mirror's HEAD, which a bare clone takes from the upstream: its default branch. */
function defaultBranch(mirror: string): string | undefined {
  try {
    const m = /^ref: (refs\/heads\/\S+)/.exec(readFileSync(join(mirror, 'HEAD'), 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}
