// rampart baseline show | reset AGENT

import type { Baseline } from '../../detect/baselines.js';
import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart baseline <subcommand> SCOPE [--config FILE] [--data DIR] [--json]

  show SCOPE
      What the running control plane has learned of SCOPE's runs: runs learned from, egress
      destinations, executables, directories outside the workspace, and the most bytes out, CPU
      time and egress requests in a minute of one run. Exit 1 when it has no such baseline.
  reset SCOPE
      Forget SCOPE's baseline (recorded in the audit log): it learns again from its next runs,
      reporting nothing new until its learning period is over.

SCOPE is an agent, or profile:NAME or namespace:NAME (with detect.baselines.by).`;

/** A baseline as the control plane shows it. */
type Shown = Baseline & { scope: string; learningRuns: number; learningDays: number };

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
    if (positionals.length !== 1) throw usageError('give one agent, profile:NAME or namespace:NAME', USAGE);
    const agent = encodeURIComponent(positionals[0]!);
    const api = connect(localConfig(values, io.cwd).dataDir);
    if (sub === 'reset') {
      const res = await api.call('POST', `/v1/detect/baselines/${agent}/reset`);
      if (res.status !== 200) throw apiError(res.status, res.body);
      io.stdout.write(`reset: the baseline of ${positionals[0]} is learned again from its next runs\n`);
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
  io.stdout.write(`${b.scope.replace(':', ' ')}: ${b.runs} run(s) since ${b.since}${learning}\n`);
  io.stdout.write(
    `most in one run: ${b.bytesOutMax} bytes out, ${b.cpuMsMax} ms of CPU, ${b.requestsPerMinuteMax} egress requests in a minute\n`,
  );
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
