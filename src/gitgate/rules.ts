// The push rules: what a push must not do, found all at once and kept as data. Each violation
// names its rule (the id policy sees as context.rule, and the capability git:<rule> that may
// waive it), what it is about (a ref or a path), and what the agent should do instead, because
// a refusal the agent cannot act on is a refusal it will retry.
//
// Compiled once from the settings; a push is checked against the run's binding (its repository,
// task and task paths), never against anything the push says of itself.

import type { GitBinding } from '../core/claims.js';
import type { GitgateRules } from '../core/settings.js';
import { GlobSet, globRegExp } from './globs.js';

export const ZERO = '0000000000000000000000000000000000000000';

/** One ref the push updates, as receive-pack reports it (old, new: 40 hex; ZERO when none). */
export interface RefUpdate {
  readonly ref: string;
  readonly old: string;
  readonly new: string;
  /** Whether old is an ancestor of new (undefined for a creation or a deletion). */
  readonly fastForward?: boolean;
}

export interface PushedCommit {
  readonly id: string;
  readonly parents: readonly string[];
  readonly message: string;
}

/** A file a pushed commit adds or changes (against its first parent, or all of a merge's). */
export interface ChangedFile {
  readonly path: string;
  readonly commit: string;
  /** A, M, T, D... (a merge's: one letter per parent). */
  readonly status: string;
  readonly blob: string;
  /** Its size in bytes (0 for a deletion). */
  readonly size: number;
}

export interface SecretFound {
  readonly path: string;
  readonly commit: string;
  readonly line: number;
  /** The scanner's rule id (never the value). */
  readonly rule: string;
}

/** Everything a push would bring upstream. */
export interface PushChange {
  readonly updates: readonly RefUpdate[];
  readonly commits: readonly PushedCommit[];
  readonly files: readonly ChangedFile[];
  readonly secrets: readonly SecretFound[];
  /** The upstream's default branch (refs/heads/...), when the mirror knows it. */
  readonly defaultBranch: string | undefined;
}

export type RuleId =
  | 'ref.pattern'
  | 'ref.protected'
  | 'ref.tag'
  | 'ref.delete'
  | 'ref.non_fast_forward'
  | 'path.ci'
  | 'path.owners'
  | 'path.dependencies'
  | 'path.scope'
  | 'size.file'
  | 'size.files'
  | 'content.secret'
  | 'message.task';

export interface Violation {
  readonly rule: RuleId;
  /** The ref or path (with the commit, for content) it is about. */
  readonly target: string;
  /** What is wrong and what to do instead, as the agent reads it. */
  readonly message: string;
}

/** Violations listed for one rule before the rest are summarized (a push of 5,000 files...). */
const PER_RULE = 20;

export class PushRules {
  private readonly protectedRefs: GlobSet;
  private readonly ci: GlobSet;
  private readonly owners: GlobSet;
  private readonly deps: GlobSet;

  constructor(private readonly s: GitgateRules) {
    this.protectedRefs = new GlobSet(s.protected);
    this.ci = new GlobSet(s.ciPaths);
    this.owners = new GlobSet(s.ownerPaths);
    this.deps = new GlobSet(s.dependencyPaths);
  }

  /** The branch glob for a task: {task} replaced (the task is checked to hold no glob character). */
  branchFor(task: string): string {
    return this.s.branch.replaceAll('{task}', task);
  }

  /** Every violation of the push, in a stable order: refs, paths, sizes, content, messages. */
  check(change: PushChange, b: GitBinding): Violation[] {
    const out: Violation[] = [];
    const add = (v: Violation): void => void out.push(v);
    const branch = this.branchFor(b.task);
    const branchRe = globRegExp(`refs/heads/${branch}`);
    for (const u of change.updates) {
      const name = u.ref.replace(/^refs\/heads\//, '');
      const example = branch.replaceAll('*', 'short-description');
      if (u.ref.startsWith('refs/tags/'))
        add({
          rule: 'ref.tag',
          target: u.ref,
          message: `tags are not pushed by agents: push the branch ${example}; a person tags releases`,
        });
      else if (u.new === ZERO)
        add({
          rule: 'ref.delete',
          target: u.ref,
          message: 'branches are not deleted by agents: leave it; a person deletes branches',
        });
      else if (!u.ref.startsWith('refs/heads/'))
        add({
          rule: 'ref.pattern',
          target: u.ref,
          message: `only branches are pushed: push to refs/heads/${example}`,
        });
      else if (u.ref === change.defaultBranch || this.protectedRefs.match(name) !== undefined)
        add({
          rule: 'ref.protected',
          target: u.ref,
          message: `${name} is protected: push to ${example} and open a pull request`,
        });
      else if (!branchRe.test(u.ref))
        add({
          rule: 'ref.pattern',
          target: u.ref,
          message: `task ${b.task} pushes only to ${branch}: push to ${example}`,
        });
      if (u.old !== ZERO && u.new !== ZERO && u.fastForward === false)
        add({
          rule: 'ref.non_fast_forward',
          target: u.ref,
          message:
            'not a fast-forward (a force push): fetch, rebase or merge onto the remote branch, and push without --force',
        });
    }
    const scope = b.paths && b.paths.length > 0 ? new GlobSet(b.paths) : undefined;
    const seen = new Set<string>();
    for (const f of change.files) {
      if (seen.has(f.path)) continue;
      seen.add(f.path);
      if (this.ci.match(f.path))
        add({
          rule: 'path.ci',
          target: f.path,
          message:
            'CI configuration is not changed by agents: leave it out of the push, or ask for the ci.edit capability',
        });
      if (this.owners.match(f.path))
        add({
          rule: 'path.owners',
          target: f.path,
          message:
            'review ownership changes only with the codeowners.edit capability: leave it out of the push',
        });
      if (this.deps.match(f.path))
        add({
          rule: 'path.dependencies',
          target: f.path,
          message:
            'dependencies change only with the deps.edit capability: leave the manifest and lockfile as they are, or ask for it',
        });
      if (scope && scope.match(f.path) === undefined)
        add({
          rule: 'path.scope',
          target: f.path,
          message: `task ${b.task} changes only ${b.paths!.join(', ')}: leave this file out of the push (no drive-by fixes)`,
        });
    }
    for (const f of change.files)
      if (f.size > this.s.maxFileSize)
        add({
          rule: 'size.file',
          target: `${f.path} (${f.commit.slice(0, 12)})`,
          message: `${f.size} bytes, more than ${this.s.maxFileSize}: remove it from every commit of the push (git rm --cached, then amend or rebase) and keep large files out of the repository`,
        });
    if (seen.size > this.s.maxFiles)
      add({
        rule: 'size.files',
        target: `${seen.size} files`,
        message: `a push changes at most ${this.s.maxFiles} files: split the work into smaller pushes`,
      });
    for (const x of change.secrets)
      if (x.rule === 'too-large-to-scan')
        add({
          rule: 'content.secret',
          target: `${x.path} (${x.commit.slice(0, 12)})`,
          message:
            'a text file too large to scan for credentials: keep generated or large text out of the repository',
        });
      else
        add({
          rule: 'content.secret',
          target: `${x.path}:${x.line} (${x.commit.slice(0, 12)})`,
          message: `a credential (${x.rule}) is added: remove it from every commit of the push (rewrite them), read it from a file under /run/secrets at run time, and have a person rotate it`,
        });
    if (this.s.messageTask) {
      const mention = taskMention(b.task);
      for (const c of change.commits)
        if (!mention.test(c.message))
          add({
            rule: 'message.task',
            target: c.id.slice(0, 12),
            message: `the commit message does not name task ${b.task}: amend it to say what it does for #${b.task}`,
          });
    }
    return summarized(out);
  }
}

/** The task as a whole word: #123, issue-123, PROJ-123 (for task PROJ-123), "task 123". */
function taskMention(task: string): RegExp {
  return new RegExp(`(?:^|[^A-Za-z0-9])${task.replace(/[.+*?^${}()|[\]\\-]/g, '\\$&')}(?![A-Za-z0-9])`);
}

/** At most PER_RULE violations of each rule, then one line saying how many more. */
function summarized(all: Violation[]): Violation[] {
  const counts = new Map<RuleId, number>();
  const out: Violation[] = [];
  for (const v of all) {
    const n = (counts.get(v.rule) ?? 0) + 1;
    counts.set(v.rule, n);
    if (n <= PER_RULE) out.push(v);
  }
  for (const [rule, n] of counts)
    if (n > PER_RULE)
      out.push({ rule, target: `${n - PER_RULE} more`, message: `and ${n - PER_RULE} more like the above` });
  return out;
}
