// rampart egress status | ban | unban | kill-switch | ca: the egress proxy's controls, through the
// control plane (every change an audited event).

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parseSubcommand, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart egress <subcommand> [options]

  status              The proxy's listener, kill switch, open connections, bans and counters.
  ban TARGET          Refuse an address or range (10.0.0.5, 10.0.0.0/8, 2001:db8::/32) in every
                      mode, and cut the open connections to it.
  unban TARGET        Lift a ban.
  kill-switch on|off  On: every external connection cut and new ones refused, until off.
  ca [show]           The CA of inspected hosts: its certificate (PEM, on stdout) and fingerprint.
  ca rotate           A new CA key and certificate; leaves are re-issued, runs started afterwards
                      trust the new one (runs under way keep the old and fail on inspected hosts).

Common options: --config FILE, --data DIR.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const parsed = parseSubcommand(argv, { ...COMMON_OPTIONS, json: { type: 'boolean' } }, USAGE, io);
    if (!parsed) return 0;
    const { sub, values, positionals } = parsed;
    const api = connect(localConfig(values, io.cwd).dataDir);
    const one = (what: string): string => {
      if (positionals.length !== 1) throw usageError(`${sub} takes one ${what}`, USAGE);
      return positionals[0]!;
    };
    switch (sub) {
      case 'status': {
        if (positionals.length > 0) throw usageError('status takes no argument', USAGE);
        const res = await api.call<{
          listen: string;
          kill_switch: boolean;
          open_tunnels: number;
          bans: string[];
          stats: Record<string, number>;
        }>('GET', '/v1/egress');
        if (res.status !== 200) throw apiError(res.status, res.body);
        const s = res.body;
        if (values.json) io.stdout.write(JSON.stringify(s) + '\n');
        else
          io.stdout.write(
            `listen       ${s.listen}\nkill switch  ${s.kill_switch ? 'ON: every external connection is refused' : 'off'}\n` +
              `open         ${s.open_tunnels}\nbans         ${s.bans.join(', ') || '-'}\n` +
              `connections  ${Object.entries(s.stats)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}\n`,
          );
        return 0;
      }
      case 'ban':
      case 'unban': {
        const target = one('address or range');
        const res = await api.call<{ target: string; tunnels_cut: number }>(
          'POST',
          sub === 'ban' ? '/v1/egress/bans' : '/v1/egress/bans/remove',
          { target },
        );
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(
          sub === 'ban'
            ? `banned ${res.body.target}; ${res.body.tunnels_cut} open connection(s) cut\n`
            : `unbanned ${res.body.target}\n`,
        );
        return 0;
      }
      case 'kill-switch': {
        const state = one('of on or off');
        if (state !== 'on' && state !== 'off') throw usageError('kill-switch takes on or off', USAGE);
        const res = await api.call<{ tunnels_cut: number }>('POST', '/v1/egress/kill-switch', {
          on: state === 'on',
        });
        if (res.status !== 200) throw apiError(res.status, res.body);
        io.stdout.write(
          state === 'on'
            ? `kill switch ON: ${res.body.tunnels_cut} connection(s) cut, new ones refused\n`
            : 'kill switch off\n',
        );
        return 0;
      }
      case 'ca': {
        const what = positionals[0] ?? 'show';
        if (positionals.length > 1 || (what !== 'show' && what !== 'rotate'))
          throw usageError('ca takes show or rotate', USAGE);
        const res = await api.call<{
          certificate: string;
          fingerprint: string;
          not_after: string;
          previous?: string;
        }>(
          what === 'show' ? 'GET' : 'POST',
          what === 'show' ? '/v1/egress/ca' : '/v1/egress/ca/rotate',
          what === 'show' ? undefined : {},
        );
        if (res.status !== 200) throw apiError(res.status, res.body);
        const c = res.body;
        if (values.json) io.stdout.write(JSON.stringify(c) + '\n');
        else {
          io.stdout.write(c.certificate);
          io.stderr.write(
            `sha256 ${c.fingerprint}, valid until ${c.not_after}` +
              (c.previous
                ? `; replaces ${c.previous}: runs started from now on trust the new certificate`
                : '') +
              '\n',
          );
        }
        return 0;
      }
      default:
        throw usageError(`unknown subcommand "${sub}"`, USAGE);
    }
  },
};
