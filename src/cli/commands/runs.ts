// rampart runs | kill RUN | quarantine RUN | destroy --all: operating on runs through the
// control plane (which reaches every run on its host through the run's cgroup).

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { loadConfig } from '../../config/load.js';

const USAGE = `usage: rampart runs [--json]
       rampart kill RUN
       rampart quarantine RUN
       rampart destroy --all

  runs         List runs: id, agent, profile, status, start and end.
  kill         End a run: SIGTERM, then SIGKILL after sandbox.grace_period.
  quarantine   Freeze a run, capture its processes, open files, connections and workspace into an
               evidence archive (its SHA-256 goes into the audit log), then kill it.
  destroy      The kill switch: every run on the host, SIGKILL at once.

Common options: --config FILE, --data DIR.`;

interface RunRow {
  id: string;
  agent: string;
  profile: string;
  status: string;
  startedAt: string;
  endedAt?: string;
}

export function runsCommand(kind: 'runs' | 'kill' | 'quarantine' | 'destroy'): Command {
  return {
    usage: USAGE,
    async run(argv, io: Io) {
      const { values, positionals } = parse(
        argv,
        { ...COMMON_OPTIONS, json: { type: 'boolean' }, all: { type: 'boolean' } },
        USAGE,
        true,
      );
      if (values.help) {
        io.stdout.write(USAGE + '\n');
        return 0;
      }
      const api = connect(loadConfig({ file: values.config, dataDir: values.data, cwd: io.cwd }).dataDir);
      if (kind === 'runs') {
        const res = await api.call<{ runs: RunRow[] }>('GET', '/v1/runs');
        if (res.status !== 200) throw apiError(res.status, res.body);
        if (values.json) io.stdout.write(JSON.stringify(res.body.runs) + '\n');
        else
          for (const r of res.body.runs)
            io.stdout.write(
              `${r.id}\t${r.agent}\t${r.profile}\t${r.status}\t${r.startedAt}\t${r.endedAt ?? ''}\n`,
            );
        return 0;
      }
      if (kind === 'destroy') {
        if (!values.all || positionals.length > 0)
          throw usageError('destroy takes --all and nothing else', USAGE);
        const res = await api.call<{ destroyed: string[]; ms: number }>('POST', '/v1/runs/destroy');
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(`destroyed ${res.body.destroyed.length} run(s) in ${res.body.ms.toFixed(1)} ms\n`);
        return 0;
      }
      if (positionals.length !== 1) throw usageError(`${kind} takes one run id`, USAGE);
      const res = await api.call('POST', `/v1/runs/${encodeURIComponent(positionals[0]!)}/${kind}`);
      if (res.status !== 200) throw apiError(res.status, res.body);
      io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
      return 0;
    },
  };
}

export const command = runsCommand('runs');
