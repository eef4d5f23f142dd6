// Loading response playbooks: every *.yaml file of each directory, in order, directory after
// directory; a playbook with the name of an earlier one replaces it (a site's directory after the
// shipped one). A file is a YAML list of playbooks. Everything is checked at load and reported
// with file:line:col: keys, the rules a match names (against the detection rule set being
// served), priorities, tags, the fields detections carry, actions and their parameters, failure
// modes and escalation levels. One problem anywhere rejects the whole set; the previous set
// keeps serving. Matches are compiled once, to sets and a rank, never re-read per detection.

import { dirSetVersion, readDirSet } from '../core/dirset.js';
import { RampartError, RampartErrorList, messageOf, type SourceLocation } from '../core/errors.js';
import { isSeverity, severityRank, type Severity } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import { parseLocated, type Locating } from '../core/yaml.js';
import { ACTION_NAMES, ACTIONS, isAction, type ActionName, type Params } from './actions.js';

export type OnFailure = 'next' | 'escalate' | 'fail_closed';

/** What a playbook sees of a detection. */
export interface DetectionView {
  readonly rule: string;
  readonly priority: Severity;
  readonly tags: readonly string[];
  readonly fields: Readonly<Record<string, string>>;
}

export interface Step {
  readonly action: ActionName;
  readonly params: Params;
  readonly onFailure: OnFailure;
  readonly location: SourceLocation;
}

export interface Escalation {
  /** Detections are counted per run or per agent. */
  readonly by: 'run' | 'agent';
  readonly windowMs: number;
  /** Ascending by `after`: the highest level reached replaces the playbook's own actions. */
  readonly levels: readonly { readonly after: number; readonly actions: readonly Step[] }[];
}

export interface Playbook {
  readonly name: string;
  readonly description: string;
  readonly matches: (d: DetectionView) => boolean;
  readonly actions: readonly Step[];
  readonly escalation: Escalation | undefined;
  readonly dryRun: boolean;
  readonly enabled: boolean;
  readonly location: SourceLocation;
}

export interface PlaybookSet {
  /** "p-" + 16 hex digits of the SHA-256 over every file's path and content. */
  readonly version: string;
  readonly dirs: readonly string[];
  readonly files: readonly string[];
  readonly playbooks: readonly Playbook[];
}

export interface LoadOptions {
  /** The detection rules being served: a match naming another rule is refused. Undefined: unchecked. */
  readonly rules?: ReadonlySet<string>;
  /** The fields detections carry. */
  readonly fields: readonly string[];
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const KEYS = ['playbook', 'description', 'match', 'actions', 'escalation', 'dry_run', 'enabled'];
const MATCH_KEYS = ['rules', 'priority', 'tags', 'output_fields'];
const STEP_KEYS = ['action', 'parameters', 'on_failure'];
const ESCALATION_KEYS = ['by', 'window', 'levels'];
const FAILURE_MODES: readonly OnFailure[] = ['next', 'escalate', 'fail_closed'];

/** The version a set of directories would load as (cheap: for polling). */
export function playbookSetVersion(dirs: readonly string[]): string {
  return dirSetVersion(dirs, 'p-');
}

/** Loads the playbooks of `dirs`, in order. Throws RampartErrorList with every problem. */
export function loadPlaybooks(dirs: readonly string[], opts: LoadOptions): PlaybookSet {
  const problems: RampartError[] = [];
  const byName = new Map<string, Playbook>();
  const read = readDirSet(dirs, 'p-', 'RAMPART_E_PLAYBOOKS_INVALID', 'playbooks');
  for (const f of read.files) for (const p of loadFile(f.text, f.file, opts, problems)) byName.set(p.name, p);
  if (problems.length > 0) throw new RampartErrorList(problems);
  return {
    version: read.version,
    dirs,
    files: read.files.map((f) => f.file),
    playbooks: [...byName.values()],
  };
}

interface Ctx {
  readonly loc: Locating;
  readonly opts: LoadOptions;
  err(message: string, location: SourceLocation): void;
}

function loadFile(text: string, file: string, opts: LoadOptions, problems: RampartError[]): Playbook[] {
  const { doc, loc, errors } = parseLocated(text, file);
  const ctx: Ctx = {
    loc,
    opts,
    err: (message, location) =>
      void problems.push(new RampartError('RAMPART_E_PLAYBOOKS_INVALID', message, { location })),
  };
  if (errors.length > 0) {
    errors.forEach((e) => ctx.err(e.message, e.location));
    return [];
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 64 });
  } catch (e) {
    ctx.err(messageOf(e), loc.at(0));
    return [];
  }
  if (raw === null || raw === undefined) return [];
  if (!Array.isArray(raw)) {
    ctx.err('a playbooks file is a list of playbooks', loc.at(0));
    return [];
  }
  const out: Playbook[] = [];
  const seen = new Set<string>();
  raw.forEach((item, i) => {
    const p = loadPlaybook(item, i, ctx);
    if (!p) return;
    if (seen.has(p.name))
      return ctx.err(`playbook ${p.name} is defined twice in this file`, loc.path([i, 'playbook']));
    seen.add(p.name);
    out.push(p);
  });
  return out;
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeys(
  o: Record<string, unknown>,
  allowed: readonly string[],
  at: (string | number)[],
  c: Ctx,
): boolean {
  let ok = true;
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) {
      c.err(`unknown key "${k}" (expected ${allowed.join(', ')})`, c.loc.key(at, k));
      ok = false;
    }
  return ok;
}

function loadPlaybook(item: unknown, i: number, c: Ctx): Playbook | undefined {
  if (!isMapping(item) || !('playbook' in item)) {
    c.err(`item ${i} must be a mapping with playbook, match and actions`, c.loc.path([i]));
    return undefined;
  }
  if (!unknownKeys(item, KEYS, [i], c)) return undefined;
  const name = item['playbook'];
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    c.err('a playbook name is lower-case letters, digits, ".", "_" or "-"', c.loc.path([i, 'playbook']));
    return undefined;
  }
  const flag = (key: string, dflt: boolean): boolean => {
    const v = item[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') c.err(`playbook ${name}: ${key} is true or false`, c.loc.path([i, key]));
    return v === true;
  };
  const description = item['description'];
  if (description !== undefined && typeof description !== 'string')
    c.err(`playbook ${name}: description is text`, c.loc.path([i, 'description']));
  const matches = loadMatch(item['match'], [i, 'match'], name, c);
  const escalation = loadEscalation(item['escalation'], [i, 'escalation'], name, c);
  // A playbook with an escalation may act only from its first level (its own problems said).
  const actions =
    item['actions'] === undefined && item['escalation'] !== undefined
      ? []
      : loadSteps(item['actions'], [i, 'actions'], name, c);
  if (!matches || !actions || (item['escalation'] !== undefined && !escalation)) return undefined;
  return {
    name,
    description: typeof description === 'string' ? description : '',
    matches,
    actions,
    escalation,
    dryRun: flag('dry_run', false),
    enabled: flag('enabled', true),
    location: c.loc.path([i, 'playbook']),
  };
}

function stringList(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number'))
    return v.map(String);
  return undefined;
}

function loadMatch(
  v: unknown,
  at: (string | number)[],
  name: string,
  c: Ctx,
): ((d: DetectionView) => boolean) | undefined {
  if (!isMapping(v) || Object.keys(v).length === 0) {
    c.err(`playbook ${name}: match names rules, a priority, tags or output_fields`, c.loc.path(at));
    return undefined;
  }
  if (!unknownKeys(v, MATCH_KEYS, at, c)) return undefined;
  let ok = true;
  const bad = (key: string | number, message: string, where: (string | number)[] = [...at, key]): void => {
    c.err(`playbook ${name}: ${message}`, c.loc.path(where));
    ok = false;
  };
  let rules: Set<string> | undefined;
  if (v['rules'] !== undefined) {
    const list = stringList(v['rules']);
    if (!list) bad('rules', 'match.rules is a rule name or a list of them');
    else {
      list.forEach((r, j) => {
        if (c.opts.rules && !c.opts.rules.has(r))
          bad(
            'rules',
            `match.rules: no detection rule "${r}"`,
            Array.isArray(v['rules']) ? [...at, 'rules', j] : [...at, 'rules'],
          );
      });
      rules = new Set(list);
    }
  }
  let rank: number | undefined;
  if (v['priority'] !== undefined) {
    const p = v['priority'];
    if (typeof p !== 'string' || !isSeverity(p))
      bad('priority', 'match.priority is info, low, medium, high or critical');
    else rank = severityRank(p);
  }
  let tags: Set<string> | undefined;
  if (v['tags'] !== undefined) {
    const list = stringList(v['tags']);
    if (!list) bad('tags', 'match.tags is a tag or a list of tags');
    else tags = new Set(list);
  }
  const fields: [string, Set<string>][] = [];
  if (v['output_fields'] !== undefined) {
    const f = v['output_fields'];
    if (!isMapping(f))
      bad('output_fields', 'match.output_fields maps a field to a value or a list of values');
    else
      for (const [k, want] of Object.entries(f)) {
        if (!c.opts.fields.includes(k))
          c.err(
            `playbook ${name}: detections carry no field "${k}" (they carry ${c.opts.fields.join(', ')})`,
            c.loc.key([...at, 'output_fields'], k),
          );
        const list = stringList(want);
        if (!list)
          bad(k, `match.output_fields.${k} is a value or a list of values`, [...at, 'output_fields', k]);
        else fields.push([k, new Set(list)]);
        if (!c.opts.fields.includes(k)) ok = false;
      }
  }
  if (!ok) return undefined;
  return (d) =>
    (rules === undefined || rules.has(d.rule)) &&
    (rank === undefined || severityRank(d.priority) >= rank) &&
    (tags === undefined || d.tags.some((t) => tags.has(t))) &&
    fields.every(([k, want]) => want.has(d.fields[k] ?? ''));
}

function loadSteps(v: unknown, at: (string | number)[], name: string, c: Ctx): Step[] | undefined {
  if (!Array.isArray(v) || v.length === 0) {
    c.err(`playbook ${name}: actions is a list of at least one action`, c.loc.path(at));
    return undefined;
  }
  const steps: Step[] = [];
  let ok = true;
  v.forEach((raw, j) => {
    const where = [...at, j];
    // "- freeze" is short for "- action: freeze".
    const s: unknown = typeof raw === 'string' ? { action: raw } : raw;
    const bad = (message: string, path = where): void => {
      c.err(`playbook ${name}: ${message}`, c.loc.path(path));
      ok = false;
    };
    if (!isMapping(s)) return bad('an action is a name or a mapping with action, parameters, on_failure');
    if (!unknownKeys(s, STEP_KEYS, where, c)) return void (ok = false);
    const action = s['action'];
    if (!isAction(action))
      return bad(
        `unknown action "${String(action)}" (expected ${ACTION_NAMES.join(', ')})`,
        typeof raw === 'string' ? where : [...where, 'action'],
      );
    const params = s['parameters'] ?? {};
    if (!isMapping(params)) return bad(`${action}: parameters is a mapping`, [...where, 'parameters']);
    for (const [key, message] of ACTIONS[action].check(params))
      bad(`${action}: ${message}`, [...where, 'parameters', key]);
    const onFailure = s['on_failure'] ?? (ACTIONS[action].closed ? 'fail_closed' : 'next');
    if (!FAILURE_MODES.includes(onFailure as OnFailure))
      return bad(`${action}: on_failure is next, escalate or fail_closed`, [...where, 'on_failure']);
    if (onFailure === 'fail_closed' && !ACTIONS[action].closed)
      return bad(`${action}: has nothing stricter to fail closed to (use next or escalate)`, [
        ...where,
        'on_failure',
      ]);
    steps.push({
      action,
      params: Object.freeze({ ...params }),
      onFailure: onFailure as OnFailure,
      location: c.loc.path(where),
    });
  });
  return ok ? steps : undefined;
}

function loadEscalation(v: unknown, at: (string | number)[], name: string, c: Ctx): Escalation | undefined {
  if (v === undefined) return undefined;
  if (!isMapping(v)) {
    c.err(`playbook ${name}: escalation has by, window and levels`, c.loc.path(at));
    return undefined;
  }
  if (!unknownKeys(v, ESCALATION_KEYS, at, c)) return undefined;
  const by = v['by'] ?? 'run';
  if (by !== 'run' && by !== 'agent')
    c.err(`playbook ${name}: escalation.by is run or agent`, c.loc.path([...at, 'by']));
  const windowMs = typeof v['window'] === 'string' ? parseDuration(v['window']) : undefined;
  if (!windowMs)
    c.err(`playbook ${name}: escalation.window is a duration like 10m`, c.loc.path([...at, 'window']));
  const raw = v['levels'];
  if (!Array.isArray(raw) || raw.length === 0) {
    c.err(`playbook ${name}: escalation.levels is a list of {after, actions}`, c.loc.path([...at, 'levels']));
    return undefined;
  }
  const levels: { after: number; actions: Step[] }[] = [];
  raw.forEach((l, j) => {
    const where = [...at, 'levels', j];
    if (!isMapping(l) || !unknownKeys(l, ['after', 'actions'], where, c)) return;
    const after = l['after'];
    const prev = levels.at(-1)?.after ?? 0;
    if (typeof after !== 'number' || !Number.isInteger(after) || after <= prev)
      return c.err(
        `playbook ${name}: escalation.levels[${j}].after is a whole number of detections above ${prev}`,
        c.loc.path([...where, 'after']),
      );
    const actions = loadSteps(l['actions'], [...where, 'actions'], name, c);
    if (actions) levels.push({ after, actions });
  });
  if (levels.length !== raw.length || !windowMs || (by !== 'run' && by !== 'agent')) return undefined;
  return { by, windowMs, levels };
}
