// rampart respond: containment by hand, through the control plane, on the same code path as the
// playbooks. Every subcommand takes --reason (on record with the action).

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parseSubcommand, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart respond <subcommand> [options] --reason TEXT

  status                   What is contained now: severed, blocked agents, bans, the breaker.
  freeze RUN               Freeze the run where it is (evidence kept; thaw resumes it).
  thaw RUN                 Thaw a frozen run (recorded before it happens).
  cut-egress RUN           Close the run's egress channel and cut its connections.
  block-agent AGENT        No new run or token for the agent until unblocked.
  unblock-agent AGENT      Release a blocked agent.
  sever-external           The panic button: every egress connection cut and refused, on
                           every replica, until restored; the API, audit and evidence stay up.
  restore-external         Lift sever-external.
  reset-breaker [SCOPE]    Reset the circuit breaker (one scope, such as agent:a1, or all).

Containing subcommands act first and are recorded after; releasing ones are recorded first.
Common options: --config FILE, --data DIR, --json.`;

const ROUTES: Record<string, { url: string; arg?: 'run' | 'agent' | 'scope' }> = {
  freeze: { url: '/v1/respond/freeze', arg: 'run' },
  thaw: { url: '/v1/respond/thaw', arg: 'run' },
  'cut-egress': { url: '/v1/respond/cut-egress', arg: 'run' },
  'block-agent': { url: '/v1/respond/block-agent', arg: 'agent' },
  'unblock-agent': { url: '/v1/respond/unblock-agent', arg: 'agent' },
  'sever-external': { url: '/v1/respond/sever-external' },
  'restore-external': { url: '/v1/respond/restore-external' },
  'reset-breaker': { url: '/v1/respond/reset-breaker', arg: 'scope' },
};

interface Status {
  playbooks: string;
  severed: { by: string; reason: string; at: string } | null;
  blocked: { agent: string; by: string; reason: string; at: string }[];
  bans: { target: string; until: string; by: string }[];
  breaker: { scope: string; limit: number; at: string }[];
}

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const parsed = parseSubcommand(
      argv,
      { ...COMMON_OPTIONS, json: { type: 'boolean' }, reason: { type: 'string' } },
      USAGE,
      io,
    );
    if (!parsed) return 0;
    const { sub, values, positionals } = parsed;
    const api = connect(localConfig(values, io.cwd).dataDir);
    if (sub === 'status') {
      if (positionals.length > 0) throw usageError('status takes no argument', USAGE);
      const res = await api.call<Status>('GET', '/v1/respond');
      if (res.status !== 200) throw apiError(res.status, res.body);
      const s = res.body;
      if (values.json) io.stdout.write(JSON.stringify(s) + '\n');
      else
        io.stdout.write(
          [
            `playbooks  ${s.playbooks}`,
            `external   ${s.severed ? `SEVERED since ${s.severed.at} by ${s.severed.by}: ${s.severed.reason}` : 'open'}`,
            `blocked    ${s.blocked.map((b) => `${b.agent} (${b.by}, ${b.at})`).join(', ') || '-'}`,
            `bans       ${s.bans.map((b) => `${b.target} until ${b.until}`).join(', ') || '-'}`,
            `breaker    ${s.breaker.map((t) => `${t.scope} tripped ${t.at}`).join(', ') || 'closed'}`,
          ].join('\n') + '\n',
        );
      return 0;
    }
    const r = ROUTES[sub];
    if (!r) throw usageError(`unknown subcommand "${sub}"`, USAGE);
    if (!values.reason) throw usageError(`${sub} needs --reason: it goes on record with the action`, USAGE);
    const body: Record<string, string> = { reason: values.reason };
    if (r.arg === 'scope') {
      if (positionals.length > 1) throw usageError('reset-breaker takes at most one scope', USAGE);
      if (positionals[0]) body['scope'] = positionals[0];
    } else if (r.arg) {
      if (positionals.length !== 1) throw usageError(`${sub} takes one ${r.arg}`, USAGE);
      body[r.arg] = positionals[0]!;
    } else if (positionals.length > 0) throw usageError(`${sub} takes no argument`, USAGE);
    const res = await api.call<Record<string, unknown>>('POST', r.url, body);
    if (res.status !== 200) throw apiError(res.status, res.body);
    if (values.json) io.stdout.write(JSON.stringify(res.body) + '\n');
    else io.stdout.write(`${sub}: done${positionals[0] ? ` (${positionals[0]})` : ''}\n`);
    return 0;
  },
};
