// rampart rules check | test | eval | reload

import { join, resolve } from 'node:path';
import { RampartError, isRampartError, formatLocation } from '../../core/errors.js';
import { readTextFile } from '../../core/files.js';
import { packageRoot } from '../../core/paths.js';
import { parseDuration } from '../../core/units.js';
import { DetectionEngine } from '../../detect/engine.js';
import { loadRuleSet, type RuleSet } from '../../detect/load.js';
import { coverage, eventsFromText, runRuleTests } from '../../detect/testing.js';
import { parse, printLoadProblems, usageError, type Command, type Io } from '../io.js';
import { reloadSet } from '../local.js';

const USAGE = `usage: rampart rules <subcommand> [options]

  check [DIR...] [--no-shipped]
      Parse and type-check the rules (lists, macros, rules, overrides, exceptions, outputs).
      Exit 0 when the set loads, 1 listing every problem (file:line:col), 2 on a usage error.
  test [DIR...] [--no-shipped] [--require-coverage] [--format text|json]
      Run each rules file's *.test.yaml cases: events in, detections expected. Exit 1 on any
      failure (a pull-request check); with --require-coverage, also when an enabled rule lacks
      a positive or a negative case.
  eval --events FILE [DIR...] [--no-shipped] [--dedup DURATION]
      Run the rules over recorded events (JSON lines from 'rampart events tail --json', or a
      YAML/JSON list as in tests) and print each detection as a JSON line. Exit 0 whatever is
      found; 2 on a usage error or an events file that is not events.
  reload [--config FILE] [--data DIR]
      Ask the running control plane to load its rules now: exit 0 with the version serving, 1
      listing every problem while the previous set keeps serving.

The shipped rule set is loaded first, then each DIR in order (so a DIR can override shipped
rules); with --no-shipped, only the DIRs.`;

const shipped = (): string => join(packageRoot(), 'rules', 'default');

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'check':
        return check(rest, io);
      case 'test':
        return test(rest, io);
      case 'eval':
        return evaluate(rest, io);
      case 'reload':
        return reload(rest, io);
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

function dirsOf(positionals: readonly string[], noShipped: boolean | undefined, io: Io): string[] {
  const dirs = positionals.map((d) => resolve(io.cwd, d));
  if (noShipped && dirs.length === 0) throw usageError('--no-shipped needs a rules directory', USAGE);
  return noShipped ? dirs : [shipped(), ...dirs.filter((d) => d !== shipped())];
}

const printProblems = (io: Io, e: unknown): number => printLoadProblems(io, e, 'rule set');

function load(dirs: readonly string[], io: Io): RuleSet | number {
  try {
    return loadRuleSet(dirs);
  } catch (e) {
    return printProblems(io, e);
  }
}

const SET_OPTIONS = { 'no-shipped': { type: 'boolean' } } as const;

async function check(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, SET_OPTIONS, USAGE, true);
  const set = load(dirsOf(positionals, values['no-shipped'], io), io);
  if (typeof set === 'number') return set;
  const enabled = set.rules.filter((r) => r.enabled);
  const native = enabled.filter((r) => r.native).length;
  io.stdout.write(
    `ok: ${enabled.length} rules enabled (${set.rules.length - enabled.length} disabled), ${set.lists} lists, ${set.macros} macros in ${set.files.length} files, version ${set.version} (${native} compiled to closures, ${enabled.length - native} interpreted)\n`,
  );
  return 0;
}

async function test(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...SET_OPTIONS, format: { type: 'string', default: 'text' }, 'require-coverage': { type: 'boolean' } },
    USAGE,
    true,
  );
  if (values.format !== 'text' && values.format !== 'json')
    throw usageError('--format must be text or json', USAGE);
  const dirs = dirsOf(positionals, values['no-shipped'], io);
  const set = load(dirs, io);
  if (typeof set === 'number') return set;
  // Tests are the named directories' own (the shipped set's are run by naming it, or with no DIR).
  const testDirs =
    positionals.length === 0 ? dirs : dirs.filter((d) => d !== shipped() || values['no-shipped']);
  const results = runRuleTests(set, testDirs);
  const failed = results.filter((r) => !r.passed);
  const cov = coverage(set, results);
  const checkCoverage = values['require-coverage'] === true;
  const uncovered = checkCoverage ? cov.missingPositive.length + cov.missingNegative.length : 0;
  if (values.format === 'json') {
    io.stdout.write(
      JSON.stringify(
        {
          version: set.version,
          passed: results.length - failed.length,
          failed: failed.length,
          coverage: cov,
          results,
        },
        (k, v: unknown) => (k === 'detections' ? undefined : v),
        2,
      ) + '\n',
    );
  } else {
    for (const r of results) {
      io.stdout.write(`${r.passed ? 'PASS' : 'FAIL'}: ${r.rule || '?'}: ${r.name}\n`);
      for (const f of r.failures) io.stdout.write(`  ${formatLocation(r.location)}: ${f}\n`);
    }
    if (checkCoverage) {
      for (const n of cov.missingPositive)
        io.stdout.write(`UNCOVERED: ${n}: no passing case with detect: true\n`);
      for (const n of cov.missingNegative)
        io.stdout.write(`UNCOVERED: ${n}: no passing case with detect: false\n`);
    }
    io.stdout.write(
      `${'-'.repeat(60)}\n${failed.length + uncovered === 0 ? 'PASS' : 'FAIL'}: ${results.length - failed.length}/${results.length} (rules version ${set.version})\n`,
    );
  }
  if (results.length === 0) {
    io.stderr.write(`rampart: no tests (*.test.yaml) in ${testDirs.join(', ')}\n`);
    return 1;
  }
  if (failed.length > 0 || uncovered > 0)
    throw new RampartError(
      'RAMPART_E_RULES_TEST_FAILED',
      failed.length > 0
        ? `${failed.length} of ${results.length} rule test(s) failed`
        : `${uncovered} rule(s) lack a positive or a negative test`,
    );
  return 0;
}

async function evaluate(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...SET_OPTIONS, events: { type: 'string', short: 'e' }, dedup: { type: 'string', default: '60s' } },
    USAGE,
    true,
  );
  if (values.events === undefined) throw usageError('--events FILE is required', USAGE);
  const dedupMs = parseDuration(values.dedup);
  if (dedupMs === undefined) throw usageError('--dedup is a duration such as 60s', USAGE);
  const set = load(dirsOf(positionals, values['no-shipped'], io), io);
  if (typeof set === 'number') return set;
  const file = resolve(io.cwd, values.events);
  let events;
  try {
    events = eventsFromText(readTextFile(file, 'RAMPART_E_USAGE', 'events file'), file);
  } catch (e) {
    if (isRampartError(e)) throw e;
    throw new RampartError('RAMPART_E_USAGE', (e as Error).message);
  }
  const engine = new DetectionEngine(set, { dedupMs });
  let n = 0;
  const print = (ds: readonly object[]): void => {
    for (const d of ds) io.stdout.write(JSON.stringify(d) + '\n');
    n += ds.length;
  };
  for (const e of events) print(engine.process(e));
  print(engine.drain());
  io.stderr.write(`${events.length} events, ${n} detections (rules version ${set.version})\n`);
  return 0;
}

function reload(argv: readonly string[], io: Io): Promise<number> {
  return reloadSet(argv, io, USAGE, '/v1/detect/reload', 'rules');
}
