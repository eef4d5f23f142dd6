// rampart policy check | test | eval | diff

import { parse as parseYamlText } from 'yaml';
import { findDeepNesting, nestingMessage } from '../../core/nesting.js';
import { join, resolve } from 'node:path';
import { RampartError, formatLocation, messageOf } from '../../core/errors.js';
import { readTextFile } from '../../core/files.js';
import { packageRoot } from '../../core/paths.js';
import { parseDecisionInput } from '../../policy/input.js';
import { loadPolicySet } from '../../policy/load.js';
import type { Decision, DecisionInput } from '../../policy/model.js';
import { engineWith, readEntities, runPolicyTests, type FixtureEntity } from '../../policy/testing.js';
import { parse, printLoadProblems, usageError, type Command, type Io } from '../io.js';
import { reloadSet } from '../local.js';

const USAGE = `usage: rampart policy <subcommand> [options]

  check [DIR]
      Parse and type-check every policy file. Exit 0 when the set loads, 1 listing every problem
      (file:line:col), 2 on a usage error.
  test [DIR] [--format text|json]
      Run the table-driven tests (*.test.yaml). Exit 1 when any test fails: a pull-request check.
  eval --input FILE [--dir DIR] [--entities FILE] [--fail-on-deny]
      Decide one input (JSON or YAML) and print the decision as JSON. Exit 0 whatever the
      decision (a decision is not an error); with --fail-on-deny, 1 when it denies. 2 on a usage
      error or an input that is not a decision input.
  diff OLD NEW --inputs FILE [--entities FILE] [--fail-on-change]
      Which decisions would change between two policy directories. FILE has one input per line
      (JSON), or lines of 'rampart audit export' (their decision-log inputs are used).
  reload [--config FILE] [--data DIR]
      Ask the running control plane to load its policy directory now. Exit 0 with the version
      serving; 1 listing every problem (file:line:col) while the previous set keeps serving.

DIR defaults to the policy set shipped with Rampart.`;

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
      case 'diff':
        return diff(rest, io);
      case 'reload':
        return reload(rest, io);
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

const defaultDir = (): string => join(packageRoot(), 'policies', 'default');

function reload(argv: readonly string[], io: Io): Promise<number> {
  return reloadSet(argv, io, USAGE, '/v1/policies/reload', 'policy');
}

function dirArg(positionals: readonly string[], io: Io): string {
  if (positionals.length > 1) throw usageError('give one policy directory', USAGE);
  return positionals[0] === undefined ? defaultDir() : resolve(io.cwd, positionals[0]);
}

const printProblems = (io: Io, e: unknown): number => printLoadProblems(io, e, 'policy set');

async function check(argv: readonly string[], io: Io): Promise<number> {
  const { positionals } = parse(argv, {}, USAGE, true);
  const dir = dirArg(positionals, io);
  try {
    const set = loadPolicySet(dir);
    const native = set.rules.filter((r) => r.native).length;
    io.stdout.write(
      `ok: ${set.rules.length} rules in ${set.files.length} files, version ${set.version} (${native} compiled to closures, ${set.rules.length - native} interpreted)\n`,
    );
    return 0;
  } catch (e) {
    return printProblems(io, e);
  }
}

async function test(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: 'string', default: 'text' } }, USAGE, true);
  if (values.format !== 'text' && values.format !== 'json')
    throw usageError('--format must be text or json', USAGE);
  const dir = dirArg(positionals, io);
  let run;
  try {
    run = runPolicyTests(dir);
  } catch (e) {
    return printProblems(io, e);
  }
  const failed = run.results.filter((r) => !r.passed);
  if (values.format === 'json') {
    io.stdout.write(
      JSON.stringify(
        {
          version: run.set.version,
          passed: run.results.length - failed.length,
          failed: failed.length,
          results: run.results,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    for (const r of run.results) {
      io.stdout.write(`${r.passed ? 'PASS' : 'FAIL'}: ${r.file}: ${r.name}\n`);
      for (const f of r.failures) io.stdout.write(`  ${formatLocation(r.location)}: ${f}\n`);
    }
    io.stdout.write(
      `${'-'.repeat(60)}\n${failed.length === 0 ? 'PASS' : 'FAIL'}: ${run.results.length - failed.length}/${run.results.length} (policy version ${run.set.version})\n`,
    );
  }
  if (run.results.length === 0) {
    io.stderr.write(`rampart: no tests (*.test.yaml) in ${dir}\n`);
    return 1;
  }
  if (failed.length > 0)
    throw new RampartError(
      'RAMPART_E_POLICY_TEST_FAILED',
      `${failed.length} of ${run.results.length} policy test(s) failed`,
    );
  return 0;
}

function readStructured(file: string): unknown {
  const text = readTextFile(file, 'RAMPART_E_USAGE');
  const deep = findDeepNesting(text);
  if (deep)
    throw new RampartError('RAMPART_E_USAGE', `${file}:${deep.line}:${deep.column}: ${nestingMessage(deep)}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // YAML is a superset of JSON; try it for hand-written inputs.
  }
  return parseYaml(text);
}

function parseYaml(text: string): unknown {
  return parseYamlText(text, { maxAliasCount: 64 });
}

async function evaluate(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      input: { type: 'string', short: 'i' },
      dir: { type: 'string' },
      entities: { type: 'string' },
      'fail-on-deny': { type: 'boolean' },
    },
    USAGE,
    true,
  );
  if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, USAGE);
  if (values.input === undefined) throw usageError('--input FILE is required', USAGE);
  const dir = values.dir === undefined ? defaultDir() : resolve(io.cwd, values.dir);
  const set = loadPolicySet(dir);
  const entities = values.entities === undefined ? [] : readEntities(resolve(io.cwd, values.entities));
  const input = parseDecisionInput(readStructured(resolve(io.cwd, values.input)));
  const d = engineWith(set, entities).decide(input);
  io.stdout.write(JSON.stringify(d, null, 2) + '\n');
  return values['fail-on-deny'] === true && !d.allow ? 1 : 0;
}

function readInputs(file: string): DecisionInput[] {
  const out: DecisionInput[] = [];
  const text = readTextFile(file, 'RAMPART_E_USAGE');
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new RampartError('RAMPART_E_USAGE', `${file}:${i + 1}: not JSON`);
    }
    // An audit export line carries the record; a decision log keeps the input in its details.
    const entry = (v as { entry?: unknown }).entry;
    if (typeof entry === 'string') {
      const rec = JSON.parse(entry) as { action?: string; details?: { input?: unknown } };
      if (rec.action !== 'policy.decision') return;
      v = rec.details?.input;
    }
    try {
      out.push(parseDecisionInput(v));
    } catch (e) {
      throw new RampartError('RAMPART_E_USAGE', `${file}:${i + 1}: ${messageOf(e)}`);
    }
  });
  return out;
}

async function diff(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { inputs: { type: 'string' }, entities: { type: 'string' }, 'fail-on-change': { type: 'boolean' } },
    USAGE,
    true,
  );
  if (positionals.length !== 2) throw usageError('give two policy directories: OLD NEW', USAGE);
  if (values.inputs === undefined) throw usageError('--inputs FILE is required', USAGE);
  const [oldSet, newSet] = positionals.map((p) => loadPolicySet(resolve(io.cwd, p))) as [
    ReturnType<typeof loadPolicySet>,
    ReturnType<typeof loadPolicySet>,
  ];
  const entities: FixtureEntity[] =
    values.entities === undefined ? [] : readEntities(resolve(io.cwd, values.entities));
  const a = engineWith(oldSet, entities);
  const b = engineWith(newSet, entities);
  const inputs = readInputs(resolve(io.cwd, values.inputs));
  let changed = 0;
  const show = (d: Decision): string =>
    `${d.outcome}${d.rule ? ` (${d.rule})` : ''}: ${d.reasons.join('; ')}`;
  inputs.forEach((input, i) => {
    const x = a.decide(input);
    const y = b.decide(input);
    if (x.outcome !== y.outcome || x.rule !== y.rule) {
      changed++;
      io.stdout.write(
        `input ${i + 1}: ${input.principal.type}:${input.principal.id} ${input.action} ${input.resource.type}:${input.resource.id}\n  old ${oldSet.version}: ${show(x)}\n  new ${newSet.version}: ${show(y)}\n`,
      );
    }
  });
  io.stdout.write(
    `${changed} of ${inputs.length} decisions change (${oldSet.version} -> ${newSet.version})\n`,
  );
  return values['fail-on-change'] && changed > 0 ? 1 : 0;
}
