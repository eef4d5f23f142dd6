// Loading detection rules: every *.yaml file of each directory (tests, *.test.yaml, excepted), in
// order, directory after directory, so a site's directory can override the shipped set. A file is
// a YAML list of items, Falco's shape: `list` (named strings), `macro` (a named condition), and
// `rule`. Everything is checked at load, with file:line:col: YAML, keys, CEL types, cost, regexes,
// output fields, exception fields and values, and the priority. One problem anywhere rejects the
// whole set, and the previous set keeps serving.

import type { Environment } from '@marcbachmann/cel-js';
import { dirSetVersion, readDirSet } from '../core/dirset.js';
import { RampartError, RampartErrorList, type SourceLocation, messageOf } from '../core/errors.js';
import { isSeverity, type Severity } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import { parseLocated, type Locating } from '../core/yaml.js';
import {
  EXCEPTION_COMPS,
  checkCondition,
  compileComparison,
  compileOutput,
  createDetectEnvironment,
  macroOf,
  type Comp,
  type Evaluate,
  type Named,
  type Output,
} from './conditions.js';
import { fieldType, type DetectInput } from './fields.js';

export interface Exception {
  readonly name: string;
  readonly matches: (input: DetectInput) => boolean;
}

export interface Threshold {
  /** Matching events needed within the window, per `by` key. */
  readonly count: number;
  readonly withinMs: number;
  readonly by: readonly string[];
}

export interface Rule {
  readonly name: string;
  readonly desc: string;
  readonly condition: string;
  readonly evaluate: Evaluate;
  readonly native: boolean;
  /** Event types it can match; undefined: any. */
  readonly types: ReadonlySet<string> | undefined;
  readonly priority: Severity;
  readonly tags: readonly string[];
  readonly output: Output;
  readonly exceptions: readonly Exception[];
  readonly enabled: boolean;
  readonly threshold: Threshold | undefined;
  readonly location: SourceLocation;
}

export interface RuleSet {
  /** "r-" + 16 hex digits of the SHA-256 over every file's path and content, directory by directory. */
  readonly version: string;
  readonly dirs: readonly string[];
  readonly files: readonly string[];
  /** Every rule, enabled or not, in load order. */
  readonly rules: readonly Rule[];
  readonly lists: number;
  readonly macros: number;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const ID_RE = /^[a-z_][a-z0-9_]{0,63}$/;
const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const RULE_KEYS = [
  'rule',
  'desc',
  'condition',
  'output',
  'priority',
  'tags',
  'exceptions',
  'enabled',
  'threshold',
  'override',
];
const OVERRIDABLE = {
  priority: ['replace'],
  enabled: ['replace'],
  output: ['replace'],
  tags: ['append', 'replace'],
  exceptions: ['append', 'replace'],
} as const;

/** The version a set of directories would load as (cheap: for polling). */
export function ruleSetVersion(dirs: readonly string[]): string {
  return dirSetVersion(dirs, 'r-');
}

/** Loads the rules of `dirs`, in order. Throws RampartErrorList with every problem. */
export function loadRuleSet(dirs: readonly string[], base: Environment = createDetectEnvironment()): RuleSet {
  const problems: RampartError[] = [];
  const state: LoadState = { env: base.clone(), named: new Map(), rules: new Map(), problems };
  const read = readDirSet(dirs, 'r-', 'RAMPART_E_RULES_INVALID', 'rules');
  const files = read.files.map((f) => f.file);
  for (const f of read.files) loadFile(f.text, f.file, state);
  if (problems.length > 0) throw new RampartErrorList(problems);
  if (files.length === 0)
    throw new RampartError('RAMPART_E_RULES_INVALID', `no rule files (*.yaml) in ${dirs.join(', ')}`);
  let lists = 0;
  for (const n of state.named.values()) if (n.kind === 'list') lists++;
  return {
    version: read.version,
    dirs,
    files,
    rules: [...state.rules.values()],
    lists,
    macros: state.named.size - lists,
  };
}

interface LoadState {
  env: Environment;
  readonly named: Map<string, Named>;
  readonly rules: Map<string, Rule>;
  readonly problems: RampartError[];
}

function loadFile(text: string, file: string, s: LoadState): void {
  const { doc, loc, errors } = parseLocated(text, file);
  const err = (message: string, location: SourceLocation): void => {
    s.problems.push(new RampartError('RAMPART_E_RULES_INVALID', message, { location }));
  };
  if (errors.length > 0) return errors.forEach((e) => err(e.message, e.location));
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 64 });
  } catch (e) {
    return err(messageOf(e), loc.at(0));
  }
  if (raw === null || raw === undefined) return;
  if (!Array.isArray(raw)) return err('a rules file is a list of items: list, macro or rule', loc.at(0));
  raw.forEach((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return err(`item ${i} must be a mapping with list, macro or rule`, loc.path([i]));
    const o = item as Record<string, unknown>;
    const ctx = { o, i, loc, err };
    if ('list' in o) loadList(ctx, s);
    else if ('macro' in o) loadMacro(ctx, s);
    else if ('rule' in o) loadRule(ctx, s);
    else err(`item ${i} must be a list, a macro or a rule`, loc.path([i]));
  });
}

interface ItemContext {
  readonly o: Record<string, unknown>;
  readonly i: number;
  readonly loc: Locating;
  err(message: string, location: SourceLocation): void;
}

function unknownKeys(c: ItemContext, allowed: readonly string[]): boolean {
  let ok = true;
  for (const k of Object.keys(c.o))
    if (!allowed.includes(k)) {
      c.err(`unknown key "${k}" (expected ${allowed.join(', ')})`, c.loc.key([c.i], k));
      ok = false;
    }
  return ok;
}

function loadList(c: ItemContext, s: LoadState): void {
  const { o, i, loc } = c;
  if (!unknownKeys(c, ['list', 'items', 'override'])) return;
  const name = o['list'];
  if (typeof name !== 'string' || !ID_RE.test(name))
    return c.err(
      'a list name is lower-case letters, digits and "_", starting with a letter',
      loc.path([i, 'list']),
    );
  const items = o['items'];
  if (!Array.isArray(items) || !items.every((x) => typeof x === 'string' || typeof x === 'number'))
    return c.err(`list ${name}: items must be a list of strings`, loc.path([i, 'items']));
  const strings = items.map(String);
  const prev = s.named.get(name);
  const override = o['override'] as Record<string, unknown> | undefined;
  if (override !== undefined) {
    if (prev?.kind !== 'list')
      return c.err(`list ${name}: override of a list that is not defined before`, loc.path([i, 'override']));
    const how = typeof override === 'object' && override !== null ? override['items'] : undefined;
    if ((how !== 'append' && how !== 'replace') || Object.keys(override).length !== 1)
      return c.err(
        `list ${name}: override is {items: append} or {items: replace}`,
        loc.path([i, 'override']),
      );
    s.named.set(name, { kind: 'list', items: how === 'append' ? [...prev.items!, ...strings] : strings });
    return;
  }
  if (prev || s.env.hasVariable(name))
    return c.err(
      `"${name}" is already defined (to change a list, use override: {items: append})`,
      loc.path([i, 'list']),
    );
  s.named.set(name, { kind: 'list', items: strings });
  s.env = s.env.clone().registerVariable(name, 'list<string>');
}

function loadMacro(c: ItemContext, s: LoadState): void {
  const { o, i, loc } = c;
  if (!unknownKeys(c, ['macro', 'condition'])) return;
  const name = o['macro'];
  if (typeof name !== 'string' || !ID_RE.test(name))
    return c.err(
      'a macro name is lower-case letters, digits and "_", starting with a letter',
      loc.path([i, 'macro']),
    );
  if (s.named.has(name) || s.env.hasVariable(name))
    return c.err(`"${name}" is already defined`, loc.path([i, 'macro']));
  const text = o['condition'];
  if (typeof text !== 'string' || text.trim() === '')
    return c.err(`macro ${name}: condition is required`, loc.path([i]));
  const checked = checkCondition(text, s.env, s.named);
  if (Array.isArray(checked)) {
    for (const p of checked) c.err(`macro ${name}: ${p.message}`, loc.inScalar([i, 'condition'], p.offset));
    return;
  }
  s.named.set(name, macroOf(checked));
  s.env = s.env.clone().registerVariable(name, 'bool');
}

function loadRule(c: ItemContext, s: LoadState): void {
  const { o, i, loc } = c;
  if (!unknownKeys(c, RULE_KEYS)) return;
  const name = o['rule'];
  if (typeof name !== 'string' || !NAME_RE.test(name))
    return c.err('a rule name is lower-case letters, digits, ".", "_" or "-"', loc.path([i, 'rule']));
  if (o['override'] !== undefined) return overrideRule(c, s, name);
  if (s.rules.has(name)) {
    const p = s.rules.get(name)!.location;
    return c.err(
      `rule "${name}" is already defined at ${p.file}:${p.line}:${p.column} (to change it, use override)`,
      loc.path([i, 'rule']),
    );
  }
  let ok = true;
  const fail = (m: string, l: SourceLocation): void => {
    ok = false;
    c.err(`rule ${name}: ${m}`, l);
  };
  const desc = o['desc'];
  if (typeof desc !== 'string' || desc.trim() === '')
    fail('desc is required: say what it catches and why it matters', loc.path([i]));
  const priority = o['priority'];
  if (typeof priority !== 'string' || !isSeverity(priority))
    fail('priority is one of info, low, medium, high, critical', loc.path([i, 'priority']));
  const tags = tagsOf(o['tags'], (m) => fail(m, loc.path([i, 'tags'])));
  const enabled = o['enabled'] ?? true;
  if (typeof enabled !== 'boolean') fail('enabled is true or false', loc.path([i, 'enabled']));
  const output = outputOf(o['output'], (m) => fail(m, loc.path([i, 'output'])));
  const exceptions = exceptionsOf(o['exceptions'], c, ['exceptions'], (m, l) => fail(m, l));
  const threshold = thresholdOf(o['threshold'], (m) => fail(m, loc.path([i, 'threshold'])));
  const text = o['condition'];
  if (typeof text !== 'string' || text.trim() === '')
    return fail('condition is required: a CEL expression', loc.path([i]));
  const checked = checkCondition(text, s.env, s.named);
  if (Array.isArray(checked)) {
    for (const p of checked) fail(p.message, loc.inScalar([i, 'condition'], p.offset));
    return;
  }
  if (!ok || !output) return;
  s.rules.set(name, {
    name,
    desc: desc as string,
    condition: text,
    evaluate: checked.evaluate,
    native: checked.native,
    types: checked.types,
    priority: priority as Severity,
    tags,
    output,
    exceptions,
    enabled: enabled as boolean,
    threshold,
    location: loc.path([i]),
  });
}

/** `override: {priority: replace, exceptions: append, ...}` on a rule defined before. */
function overrideRule(c: ItemContext, s: LoadState, name: string): void {
  const { o, i, loc } = c;
  const prev = s.rules.get(name);
  if (!prev)
    return c.err(
      `rule ${name}: override of a rule that is not defined before (check the directory order)`,
      loc.path([i, 'rule']),
    );
  const how = o['override'];
  if (typeof how !== 'object' || how === null || Array.isArray(how) || Object.keys(how).length === 0)
    return c.err(`rule ${name}: override maps fields to append or replace`, loc.path([i, 'override']));
  let next: Rule = prev;
  for (const [field, mode] of Object.entries(how as Record<string, unknown>)) {
    const modes = (OVERRIDABLE as Record<string, readonly string[]>)[field];
    const at = loc.key([i, 'override'], field);
    if (!modes) {
      c.err(
        `rule ${name}: ${field} cannot be overridden (only ${Object.keys(OVERRIDABLE).join(', ')}): copy the rule under another name and disable this one`,
        at,
      );
      continue;
    }
    if (typeof mode !== 'string' || !modes.includes(mode)) {
      c.err(`rule ${name}: ${field} can be overridden by ${modes.join(' or ')}`, at);
      continue;
    }
    if (!(field in o)) {
      c.err(`rule ${name}: override names ${field} but the item has no ${field}`, at);
      continue;
    }
    const fail = (m: string, l?: SourceLocation): void =>
      c.err(`rule ${name}: ${m}`, l ?? loc.path([i, field]));
    const v = o[field];
    if (field === 'priority') {
      if (typeof v !== 'string' || !isSeverity(v))
        fail('priority is one of info, low, medium, high, critical');
      else next = { ...next, priority: v };
    } else if (field === 'enabled') {
      if (typeof v !== 'boolean') fail('enabled is true or false');
      else next = { ...next, enabled: v };
    } else if (field === 'output') {
      const out = outputOf(v, fail);
      if (out) next = { ...next, output: out };
    } else if (field === 'tags') {
      const tags = tagsOf(v, fail);
      next = { ...next, tags: mode === 'append' ? [...next.tags, ...tags] : tags };
    } else {
      const ex = exceptionsOf(v, c, ['exceptions'], fail);
      next = { ...next, exceptions: mode === 'append' ? [...next.exceptions, ...ex] : ex };
    }
  }
  for (const k of Object.keys(o))
    if (k !== 'rule' && k !== 'override' && !(k in how))
      c.err(`rule ${name}: ${k} is not overridden here (name it in override, or remove it)`, loc.key([i], k));
  s.rules.set(name, next);
}

function tagsOf(v: unknown, fail: (m: string) => void): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((t) => typeof t === 'string' && TAG_RE.test(t))) {
    fail('tags is a list of words such as T1552.001 or credential_access');
    return [];
  }
  return v as string[];
}

function outputOf(v: unknown, fail: (m: string) => void): Output | undefined {
  if (typeof v !== 'string' || v.trim() === '') {
    fail('output is required: a template such as "%proc.name read %file.path"');
    return undefined;
  }
  try {
    return compileOutput(v).render;
  } catch (m) {
    fail((m as Error).message);
    return undefined;
  }
}

function thresholdOf(v: unknown, fail: (m: string) => void): Threshold | undefined {
  if (v === undefined) return undefined;
  const t = v as Record<string, unknown>;
  if (
    typeof v !== 'object' ||
    v === null ||
    Object.keys(t).some((k) => !['count', 'within', 'by'].includes(k))
  ) {
    fail('threshold is {count, within, by}');
    return undefined;
  }
  const count = t['count'];
  const within = typeof t['within'] === 'string' ? parseDuration(t['within']) : undefined;
  const by = t['by'] ?? ['evt.run'];
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 2 || count > 100_000)
    fail('threshold.count is an integer from 2 to 100000');
  if (within === undefined || within < 1 || within > 86_400_000)
    fail('threshold.within is a duration up to 24h, such as 60s');
  if (
    !Array.isArray(by) ||
    by.length === 0 ||
    !by.every((f) => typeof f === 'string' && fieldType(f) !== undefined)
  )
    fail('threshold.by is a list of fields, such as [evt.run]');
  return { count: count as number, withinMs: within ?? 0, by: by as string[] };
}

function exceptionsOf(
  v: unknown,
  c: ItemContext,
  key: readonly (string | number)[],
  fail: (m: string, l: SourceLocation) => void,
): Exception[] {
  if (v === undefined) return [];
  const at = (...p: (string | number)[]): SourceLocation => c.loc.path([c.i, ...key, ...p]);
  if (!Array.isArray(v)) {
    fail('exceptions is a list of {name, fields, comps, values}', at());
    return [];
  }
  const out: Exception[] = [];
  v.forEach((raw, j) => {
    const e = raw as Record<string, unknown>;
    if (
      typeof raw !== 'object' ||
      raw === null ||
      Object.keys(e).some((k) => !['name', 'fields', 'comps', 'values'].includes(k))
    )
      return fail(`exceptions[${j}] is {name, fields, comps, values}`, at(j));
    const name = e['name'];
    if (typeof name !== 'string' || !ID_RE.test(name))
      return fail(`exceptions[${j}].name is required (lower-case, digits, "_")`, at(j));
    const single = typeof e['fields'] === 'string';
    const fields = single ? [e['fields'] as string] : e['fields'];
    if (!Array.isArray(fields) || fields.length === 0 || !fields.every((f) => typeof f === 'string'))
      return fail(`exception ${name}: fields is a field or a list of fields`, at(j, 'fields'));
    const comps = e['comps'] === undefined ? fields.map(() => '=') : single ? [e['comps']] : e['comps'];
    if (
      !Array.isArray(comps) ||
      comps.length !== fields.length ||
      !comps.every((x) => (EXCEPTION_COMPS as readonly unknown[]).includes(x))
    )
      return fail(
        `exception ${name}: comps has one of ${EXCEPTION_COMPS.join(' ')} per field`,
        at(j, 'comps'),
      );
    const values = e['values'];
    if (!Array.isArray(values) || values.length === 0)
      return fail(`exception ${name}: values is a list of tuples`, at(j, 'values'));
    const tuples: ((input: DetectInput) => boolean)[] = [];
    values.forEach((tv: unknown, k) => {
      const tuple: unknown = single ? [tv] : tv;
      if (!Array.isArray(tuple) || tuple.length !== fields.length)
        return fail(
          `exception ${name}: values[${k}] has one value per field (${fields.length})`,
          at(j, 'values', k),
        );
      try {
        const checks = fields.map((f, x) => compileComparison(f, comps[x] as Comp, tuple[x]));
        tuples.push((input) => checks.every((ch) => ch(input)));
      } catch (m) {
        fail(`exception ${name}: values[${k}]: ${(m as Error).message}`, at(j, 'values', k));
      }
    });
    out.push({ name, matches: (input) => tuples.some((t) => t(input)) });
  });
  return out;
}
