// Runbooks: Markdown kept with the rules and playbooks (runbooks/default/ and incidents.runbooks),
// each attached to incidents by the rules or tags in its front matter; its unchecked task items
// ("- [ ] ...") become the incident's tasks. Loaded once at start; every problem is reported at
// file:line, and a broken runbook stops the start (a runbook that silently attaches to nothing is
// a procedure nobody follows).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { RampartError, messageOf } from '../core/errors.js';

export interface Runbook {
  readonly name: string;
  readonly file: string;
  readonly title: string;
  readonly rules: readonly string[];
  readonly tags: readonly string[];
  readonly tasks: readonly string[];
}

export interface RunbookSet {
  readonly runbooks: readonly Runbook[];
  /** The runbooks for a detection of `rule` with `tags`, in load order. */
  forDetection(rule: string, tags: readonly string[]): Runbook[];
}

/** Every *.md of each directory, in name order; a later directory's runbook of a name replaces an earlier one's. */
export function loadRunbooks(dirs: readonly string[], ruleNames?: ReadonlySet<string>): RunbookSet {
  const byName = new Map<string, Runbook>();
  const problems: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir)
        .filter((n) => n.endsWith('.md'))
        .sort();
    } catch (e) {
      throw new RampartError(
        'RAMPART_E_RUNBOOKS_INVALID',
        `runbooks directory ${dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
      );
    }
    for (const n of names) {
      const file = join(dir, n);
      const r = parseRunbook(file, readFileSync(file, 'utf8'), ruleNames, problems);
      if (r) byName.set(r.name, r);
    }
  }
  if (problems.length > 0)
    throw new RampartError('RAMPART_E_RUNBOOKS_INVALID', `runbooks do not load:\n  ${problems.join('\n  ')}`);
  const runbooks = [...byName.values()];
  return {
    runbooks,
    forDetection: (rule, tags) =>
      runbooks.filter((r) => r.rules.includes(rule) || r.tags.some((t) => tags.includes(t))),
  };
}

function parseRunbook(
  file: string,
  text: string,
  ruleNames: ReadonlySet<string> | undefined,
  problems: string[],
): Runbook | undefined {
  const lines = text.split('\n');
  const at = (line: number, msg: string): void => void problems.push(`${file}:${line}: ${msg}`);
  if (lines[0]?.trim() !== '---') {
    at(1, 'a runbook starts with front matter: a line "---", rules: and/or tags:, and "---"');
    return undefined;
  }
  const end = lines.findIndex((l, i) => i > 0 && l.trim() === '---');
  if (end < 0) {
    at(1, 'the front matter is not closed by a line "---"');
    return undefined;
  }
  const doc = parseDocument(lines.slice(1, end).join('\n'));
  const before = problems.length;
  for (const e of doc.errors) at(1 + (e.linePos?.[0]?.line ?? 1), e.message.split('\n')[0]!);
  const meta: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  const fm = (meta ?? {}) as Record<string, unknown>;
  if (doc.errors.length === 0 && (typeof meta !== 'object' || meta === null || Array.isArray(meta)))
    at(2, 'the front matter is a mapping of rules: and tags:');
  const lineOf = (key: string): number =>
    2 +
    Math.max(
      0,
      lines.slice(1, end).findIndex((l) => l.startsWith(`${key}:`)),
    );
  for (const k of Object.keys(fm))
    if (k !== 'rules' && k !== 'tags') at(lineOf(k), `unknown key "${k}" (rules, tags)`);
  const list = (k: 'rules' | 'tags'): string[] => {
    const v = fm[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
      at(lineOf(k), `${k} is a list of names`);
      return [];
    }
    return v as string[];
  };
  const rules = list('rules');
  const tags = list('tags');
  if (rules.length === 0 && tags.length === 0 && problems.length === before)
    at(2, 'a runbook names the rules or tags it is for (it would attach to nothing)');
  if (ruleNames)
    for (const r of rules)
      if (!ruleNames.has(r)) at(lineOf('rules'), `rule "${r}" is not in the detection rule set`);
  const body = lines.slice(end + 1);
  const heading = body.find((l) => l.startsWith('# '));
  const tasks = body.flatMap((l) => {
    const m = /^\s*[-*] \[ \] (.+)$/.exec(l);
    return m ? [m[1]!.trim()] : [];
  });
  if (tasks.length === 0) at(end + 2, 'a runbook has at least one task ("- [ ] what to do")');
  const name = file.split('/').pop()!.replace(/\.md$/, '');
  return { name, file, title: heading ? heading.slice(2).trim() : name, rules, tags, tasks };
}
