// Rules ship with their tests. A *.test.yaml beside a rules file lists cases: events in (recorded
// or written by hand), and whether a rule detects them. A case names the rule it is about and
// says `detect: true` (it must fire) or `detect: false` (a near miss it must not fire on); the
// other rules may fire too unless `only: true`. `rampart rules test` exits 1 on any failure, and
// `--require-coverage` also on any enabled rule without both a positive and a negative case.

import { join } from 'node:path';
import { EVENT_CATALOGUE, type BusEvent, type EventSpec, type StreamEvent } from '../core/events.js';
import { type SourceLocation, messageOf } from '../core/errors.js';
import { readTextFile, yamlFiles } from '../core/files.js';
import { parseDuration } from '../core/units.js';
import { parseLocated, type Locating } from '../core/yaml.js';
import { DetectionEngine, type Detection } from './engine.js';
import type { RuleSet } from './load.js';

export interface RuleTestResult {
  readonly file: string;
  readonly name: string;
  readonly rule: string;
  readonly detect: boolean;
  readonly location: SourceLocation;
  readonly passed: boolean;
  readonly failures: readonly string[];
  readonly detections: readonly Detection[];
}

export interface Coverage {
  /** Enabled rules without a passing positive case, and without a passing negative one. */
  readonly missingPositive: readonly string[];
  readonly missingNegative: readonly string[];
}

const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');
const CASE_KEYS = ['name', 'rule', 'detect', 'only', 'count', 'output', 'agents', 'events'];
const EVENT_KEYS = ['type', 'severity', 'run', 'agent', 'source', 'at', 'data'];

/** Reads a list of events (YAML or JSON list, or JSON lines) as stream events, for `rules eval`. */
export function eventsFromText(text: string, file: string): StreamEvent[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        let o: unknown;
        try {
          o = JSON.parse(l);
        } catch (e) {
          throw new Error(`${file}:${i + 1}: not JSON: ${messageOf(e)}`, { cause: e });
        }
        return fixtureEvent(o, i, `${file}:${i + 1}`, BASE_TIME + i);
      });
  }
  const { doc, errors } = parseLocated(text, file);
  if (errors.length > 0) throw new Error(`${file}: ${errors[0]!.message}`);
  const list = doc.toJS({ maxAliasCount: 64 }) as unknown;
  if (!Array.isArray(list)) throw new Error(`${file}: a list of events`);
  return list.map((o, i) => fixtureEvent(o, i, `${file}: events[${i}]`, BASE_TIME + i));
}

/**
 * One event of a test or an events file: {type, data, run, agent, severity, at}. Recorded events
 * (`rampart events --format json`, the live stream) have {seq, time, type, severity, source,
 * subject?, outcome, data} and are taken as they are.
 */
function fixtureEvent(raw: unknown, i: number, where: string, defaultTime: number): StreamEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${where}: an event is a mapping`);
  const o = raw as Record<string, unknown>;
  const type = o['type'];
  const spec = typeof type === 'string' ? (EVENT_CATALOGUE as Record<string, EventSpec>)[type] : undefined;
  if (!spec) throw new Error(`${where}: type ${JSON.stringify(type)} is not an event type (docs/events.md)`);
  if (typeof o['seq'] === 'number' && typeof o['time'] === 'string') {
    const subject = o['subject'] as BusEvent['subject'];
    return {
      seq: Number(o['seq']),
      time: String(o['time']),
      event: {
        type: type as BusEvent['type'],
        severity: (o['severity'] as BusEvent['severity']) ?? spec.severities[0]!,
        source: typeof o['source'] === 'string' ? o['source'] : 'recorded',
        ...(subject ? { subject } : {}),
        data: (o['data'] ?? {}) as never,
      },
    };
  }
  for (const k of Object.keys(o))
    if (!EVENT_KEYS.includes(k))
      throw new Error(`${where}: unknown key "${k}" (expected ${EVENT_KEYS.join(', ')})`);
  const severity = o['severity'] ?? spec.severities[0];
  if (typeof severity !== 'string' || !spec.severities.includes(severity as never))
    throw new Error(
      `${where}: ${type as string} is ${spec.severities.join(' or ')}, not ${JSON.stringify(severity)}`,
    );
  const at =
    o['at'] === undefined
      ? defaultTime
      : BASE_TIME + (typeof o['at'] === 'string' ? (parseDuration(o['at']) ?? NaN) : NaN);
  if (!Number.isFinite(at)) throw new Error(`${where}: at is a duration from the start, such as 90s`);
  const run = typeof o['run'] === 'string' ? o['run'] : 'run-test';
  const agent = typeof o['agent'] === 'string' ? o['agent'] : 'agent-test';
  const data = { ...(o['data'] as Record<string, unknown> | undefined) };
  if (data['run'] === undefined && !(type as string).startsWith('detect.')) data['run'] = run;
  if (data['agent'] === undefined && !(type as string).startsWith('detect.')) data['agent'] = agent;
  return {
    seq: i + 1,
    time: new Date(at).toISOString(),
    event: {
      type: type as BusEvent['type'],
      severity: severity as BusEvent['severity'],
      source: typeof o['source'] === 'string' ? o['source'] : 'test',
      subject: { run, agent },
      data: data as never,
    },
  };
}

/** Runs every test file under `dirs` against `set`. */
export function runRuleTests(set: RuleSet, dirs: readonly string[], dedupMs = 60_000): RuleTestResult[] {
  const out: RuleTestResult[] = [];
  for (const dir of dirs)
    for (const rel of yamlFiles(dir, true)) out.push(...runTestFile(set, join(dir, rel), dedupMs));
  return out;
}

/** Which enabled rules lack a passing positive or negative case. */
export function coverage(set: RuleSet, results: readonly RuleTestResult[]): Coverage {
  const pos = new Set(results.filter((r) => r.passed && r.detect).map((r) => r.rule));
  const neg = new Set(results.filter((r) => r.passed && !r.detect).map((r) => r.rule));
  const enabled = set.rules.filter((r) => r.enabled).map((r) => r.name);
  return {
    missingPositive: enabled.filter((n) => !pos.has(n)),
    missingNegative: enabled.filter((n) => !neg.has(n)),
  };
}

function runTestFile(set: RuleSet, path: string, dedupMs: number): RuleTestResult[] {
  const { doc, loc, errors } = parseLocated(readTextFile(path, 'RAMPART_E_USAGE', 'rule test'), path);
  const broken = (message: string, location: SourceLocation): RuleTestResult[] => [
    {
      file: path,
      name: '(file)',
      rule: '',
      detect: false,
      location,
      passed: false,
      failures: [message],
      detections: [],
    },
  ];
  if (errors.length > 0) return broken(errors[0]!.message, errors[0]!.location);
  const raw = doc.toJS({ maxAliasCount: 64 }) as Record<string, unknown> | null;
  const tests = raw?.['tests'];
  if (!Array.isArray(tests) || tests.length === 0)
    return broken('a test file has tests: a non-empty list of cases', loc.at(0));
  const names = new Set(set.rules.map((r) => r.name));
  return tests.map((t, i) => runCase(set, t, i, path, loc, names, dedupMs));
}

function runCase(
  set: RuleSet,
  t: unknown,
  i: number,
  file: string,
  loc: Locating,
  names: ReadonlySet<string>,
  dedupMs: number,
): RuleTestResult {
  const tc = (t ?? {}) as Record<string, unknown>;
  const name = typeof tc['name'] === 'string' ? tc['name'] : `tests[${i}]`;
  const rule = typeof tc['rule'] === 'string' ? tc['rule'] : '';
  const detect = tc['detect'] === true;
  const base = { file, name, rule, detect, location: loc.path(['tests', i]) };
  const fail = (m: string, at = base.location): RuleTestResult => ({
    ...base,
    location: at,
    passed: false,
    failures: [m],
    detections: [],
  });
  for (const k of Object.keys(tc))
    if (!CASE_KEYS.includes(k))
      return fail(`unknown key "${k}" (expected ${CASE_KEYS.join(', ')})`, loc.key(['tests', i], k));
  if (!names.has(rule))
    return fail(`rule ${JSON.stringify(tc['rule'])} is not in the rule set`, loc.path(['tests', i, 'rule']));
  if (typeof tc['detect'] !== 'boolean')
    return fail('detect is true (the rule must fire) or false (it must not)', loc.path(['tests', i]));
  if (!Array.isArray(tc['events']) || tc['events'].length === 0)
    return fail('events is a non-empty list', loc.path(['tests', i]));
  const agents = (tc['agents'] ?? {}) as Record<string, { namespace?: string; capabilities?: string[] }>;
  const engine = new DetectionEngine(set, {
    dedupMs,
    agentFacts: (a) =>
      agents[a]
        ? { namespace: agents[a].namespace ?? '', capabilities: agents[a].capabilities ?? [] }
        : undefined,
  });
  const detections: Detection[] = [];
  try {
    (tc['events'] as unknown[]).forEach((e, j) => {
      const se = fixtureEvent(e, j, `events[${j}]`, BASE_TIME + j);
      detections.push(...engine.process(se));
    });
  } catch (e) {
    return fail(messageOf(e), loc.path(['tests', i, 'events']));
  }
  detections.push(...engine.drain());
  if (engine.stats.errors > 0) return fail(`${engine.stats.errors} rule evaluation(s) threw`);
  const mine = detections.filter((d) => d.rule === rule);
  const failures: string[] = [];
  if (detect && mine.length === 0)
    failures.push(
      `expected ${rule} to fire; fired: ${[...new Set(detections.map((d) => d.rule))].join(', ') || 'nothing'}`,
    );
  if (!detect && mine.length > 0) failures.push(`expected ${rule} not to fire; it did: ${mine[0]!.output}`);
  if (tc['only'] === true) {
    const others = [...new Set(detections.filter((d) => d.rule !== rule).map((d) => d.rule))];
    if (others.length > 0) failures.push(`expected no other rule to fire; fired: ${others.join(', ')}`);
  }
  if (typeof tc['count'] === 'number') {
    const counted = Math.max(0, ...mine.map((d) => d.count));
    if (counted !== tc['count'])
      failures.push(`expected ${rule} to count ${tc['count']} matches, counted ${counted}`);
  }
  if (typeof tc['output'] === 'string' && !mine.some((d) => d.output === tc['output']))
    failures.push(
      `expected the output "${tc['output']}", got ${mine.map((d) => JSON.stringify(d.output)).join(', ') || 'none'}`,
    );
  return { ...base, passed: failures.length === 0, failures, detections };
}
