// rampart baseline show | reset AGENT

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart baseline <subcommand> AGENT [--config FILE] [--data DIR] [--json]

  show AGENT
      What the running control plane has learned of AGENT's runs: runs learned from, egress
      destinations, executables, directories outside the workspace, most bytes out in one run.
      Exit 1 when it has no baseline for AGENT.
  reset AGENT
      Forget AGENT's baseline (recorded in the audit log): it learns again from its next runs,
      reporting nothing new until its learning period is over.`;

interface Shown {
  agent: string;
  learningRuns: number;
  runs: number;
  since: string;
  egress: string[];
  exec: string[];
  files: string[];
  bytesOutMax: number;
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parse(
      rest,
      { ...COMMON_OPTIONS, json: { type: 'boolean' } },
      USAGE,
      true,
    );
    if (sub !== 'show' && sub !== 'reset')
      throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    if (positionals.length !== 1) throw usageError('give one agent', USAGE);
    const agent = encodeURIComponent(positionals[0]!);
    const api = connect(localConfig(values, io.cwd).dataDir);
    if (sub === 'reset') {
      const res = await api.call('POST', `/v1/detect/baselines/${agent}/reset`);
      if (res.status !== 200) throw apiError(res.status, res.body);
      io.stdout.write(`reset: the baseline of agent ${positionals[0]} is learned again from its next runs\n`);
      return 0;
    }
    const res = await api.call<Shown>('GET', `/v1/detect/baselines/${agent}`);
    if (res.status !== 200) throw apiError(res.status, res.body);
    return show(res.body, values.json === true, io);
  },
};

function show(b: Shown, json: boolean, io: Io): number {
  if (json) {
    io.stdout.write(JSON.stringify(b, null, 2) + '\n');
    return 0;
  }
  const learning =
    b.runs < b.learningRuns
      ? ` (learning: ${b.learningRuns - b.runs} more run(s) before anything new is reported)`
      : '';
  io.stdout.write(`agent ${b.agent}: ${b.runs} run(s) since ${b.since}${learning}\n`);
  io.stdout.write(`most bytes out in one run: ${b.bytesOutMax}\n`);
  for (const [title, list] of [
    ['egress destinations', b.egress],
    ['executables', b.exec],
    ['directories outside the workspace', b.files],
  ] as const) {
    io.stdout.write(`${title} (${list.length}):\n`);
    for (const v of list) io.stdout.write(`  ${v}\n`);
  }
  return 0;
}
