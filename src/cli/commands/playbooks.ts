// rampart playbooks check | reload

import { join, resolve } from 'node:path';
import { packageRoot } from '../../core/paths.js';
import { DETECTION_FIELDS } from '../../detect/engine.js';
import { loadRuleSet } from '../../detect/load.js';
import { BASELINE_RULES } from '../../detect/baselines.js';
import { BLOCKLIST_RULE } from '../../detect/blocklist.js';
import { ACTIONS, ACTION_NAMES, loadPlaybooks } from '../../respond/component.js';
import { parse, printLoadProblems, usageError, type Command, type Io } from '../io.js';
import { reloadSet } from '../local.js';

const USAGE = `usage: rampart playbooks <subcommand> [options]

  check [DIR...] [--no-shipped] [--rules DIR]...
      Parse and check the playbooks: matches (rules, priority, tags, output_fields), actions
      and their parameters, failure modes, escalation levels. Rule names are checked against
      the shipped detection rules and each --rules DIR. Exit 0 when the set loads, 1 listing
      every problem (file:line:col), 2 on a usage error.
  actions
      The actions a playbook may take, what each acts on, and which are destructive.
  reload [--config FILE] [--data DIR]
      Ask the running control plane to load its playbooks now: exit 0 with the version
      serving, 1 listing every problem while the previous set keeps serving.

The shipped playbooks are loaded first, then each DIR in order (a playbook with the name of an
earlier one replaces it); with --no-shipped, only the DIRs.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'check':
        return check(rest, io);
      case 'actions':
        for (const a of ACTION_NAMES)
          io.stdout.write(
            `${a.padEnd(16)}${ACTIONS[a].target.padEnd(12)}${ACTIONS[a].destructive ? 'destructive ' : '            '}${ACTIONS[a].summary}\n`,
          );
        return 0;
      case 'reload':
        return reloadSet(rest, io, USAGE, '/v1/respond/reload', 'playbooks');
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

async function check(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { 'no-shipped': { type: 'boolean' }, rules: { type: 'string', multiple: true } },
    USAGE,
    true,
  );
  const shipped = join(packageRoot(), 'playbooks', 'default');
  const dirs = positionals.map((d) => resolve(io.cwd, d));
  if (values['no-shipped'] && dirs.length === 0)
    throw usageError('--no-shipped needs a playbooks directory', USAGE);
  const all = values['no-shipped'] ? dirs : [shipped, ...dirs.filter((d) => d !== shipped)];
  let rules: Set<string>;
  try {
    const set = loadRuleSet([
      join(packageRoot(), 'rules', 'default'),
      ...(values.rules ?? []).map((d) => resolve(io.cwd, d)),
    ]);
    rules = new Set([...set.rules.map((r) => r.name), BLOCKLIST_RULE, ...BASELINE_RULES]);
  } catch (e) {
    return printLoadProblems(io, e, 'rule set the playbooks are checked against');
  }
  try {
    const set = loadPlaybooks(all, { rules, fields: DETECTION_FIELDS });
    const steps = set.playbooks.reduce((n, p) => n + p.actions.length, 0);
    io.stdout.write(
      `ok: ${set.playbooks.length} playbooks (${set.playbooks.filter((p) => !p.enabled).length} disabled, ${set.playbooks.filter((p) => p.dryRun).length} dry run), ${steps} steps in ${set.files.length} files, version ${set.version}\n`,
    );
    return 0;
  } catch (e) {
    return printLoadProblems(io, e, 'playbook set');
  }
}
