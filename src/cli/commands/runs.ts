// rampart runs | kill RUN | quarantine RUN | destroy --all: operating on runs through the
// control plane (which reaches every run on its host through the run's cgroup).

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { loadConfig } from '../../config/load.js';

const USAGE = `usage: rampart runs [--json] [--watch] [--host-wide]
       rampart kill RUN [--reason TEXT]
       rampart quarantine RUN [--reason TEXT]
       rampart destroy --all [--host-wide] [--reason TEXT]

  runs         List runs: id, agent, profile, status, start, end, and who ended it by force.
               --watch prints the list again whenever it changes, until interrupted.
  --reason     Why, recorded with the end and told to the run's own terminal.
  --host-wide  Also other Rampart installations' runs on this host (each installation acts on
               its own runs alone, under its own cgroup parent): listed by parent/run, and with
               destroy --all, killed too.
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
  endedBy?: string;
  endReason?: string;
}

/** The runs as a table with a header, columns padded to their widest value. */
export function runsTable(runs: readonly RunRow[]): string {
  const rows = [
    ['RUN', 'AGENT', 'PROFILE', 'STATUS', 'STARTED', 'ENDED', 'ENDED BY'],
    ...runs.map((r) => [
      r.id,
      r.agent,
      r.profile,
      r.status,
      r.startedAt,
      r.endedAt ?? '-',
      r.endedBy ? `${r.endedBy}${r.endReason ? ` (${r.endReason})` : ''}` : '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') +
    '\n'
  );
}

export function runsCommand(kind: 'runs' | 'kill' | 'quarantine' | 'destroy'): Command {
  return {
    usage: USAGE,
    async run(argv, io: Io) {
      const { values, positionals } = parse(
        argv,
        {
          ...COMMON_OPTIONS,
          json: { type: 'boolean' },
          all: { type: 'boolean' },
          watch: { type: 'boolean', short: 'w' },
          reason: { type: 'string' },
          'host-wide': { type: 'boolean' },
        },
        USAGE,
        true,
      );
      if (values.help) {
        io.stdout.write(USAGE + '\n');
        return 0;
      }
      const api = connect(loadConfig({ file: values.config, dataDir: values.data, cwd: io.cwd }).dataDir);
      if (values.reason !== undefined && kind === 'runs')
        throw usageError('--reason is for kill, quarantine and destroy', USAGE);
      const hostWide = values['host-wide'] === true;
      if (hostWide && kind !== 'runs' && kind !== 'destroy')
        throw usageError('--host-wide is for runs and destroy --all', USAGE);
      const body =
        values.reason === undefined && !hostWide
          ? undefined
          : {
              ...(values.reason === undefined ? {} : { reason: values.reason }),
              ...(hostWide ? { host_wide: true } : {}),
            };
      if (kind === 'runs') {
        let last = '';
        for (;;) {
          const res = await api.call<{ runs: RunRow[]; elsewhere?: string[] }>(
            'GET',
            hostWide ? '/v1/runs?host_wide=true' : '/v1/runs',
          );
          if (res.status !== 200) throw apiError(res.status, res.body);
          const elsewhere = res.body.elsewhere ?? [];
          const out = values.json
            ? JSON.stringify(hostWide ? { runs: res.body.runs, elsewhere } : res.body.runs) + '\n'
            : runsTable(res.body.runs) +
              (hostWide
                ? `\nother installations' runs on this host (cgroup parent/run):\n${elsewhere.map((r) => `  ${r}\n`).join('') || '  none\n'}`
                : '');
          if (out !== last) io.stdout.write(values.watch && last !== '' ? `\n${out}` : out);
          last = out;
          if (!values.watch) return 0;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      if (kind === 'destroy') {
        if (!values.all || positionals.length > 0)
          throw usageError('destroy takes --all and nothing else', USAGE);
        const res = await api.call<{ destroyed: string[]; ms: number }>('POST', '/v1/runs/destroy', body);
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(`destroyed ${res.body.destroyed.length} run(s) in ${res.body.ms.toFixed(1)} ms\n`);
        return 0;
      }
      if (positionals.length !== 1) throw usageError(`${kind} takes one run id`, USAGE);
      const res = await api.call('POST', `/v1/runs/${encodeURIComponent(positionals[0]!)}/${kind}`, body);
      if (res.status !== 200) throw apiError(res.status, res.body);
      io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
      return 0;
    },
  };
}

export const command = runsCommand('runs');
