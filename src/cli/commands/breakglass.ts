// rampart breakglass: the loud way past a credential's scopes. Each person uses their own token
// (--token-file); the credential a grant gives is written to a file (mode 0600), never printed.

import { setTimeout as sleep } from 'node:timers/promises';
import { writeSecretFile } from '../../core/secretfile.js';
import { connect, expectOk } from '../client.js';
import { COMMON_OPTIONS, parseSubcommand, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart breakglass <subcommand> --token-file FILE [options]

  request --scope S [--scope S]... --reason TEXT --ttl 30m [--emergency] [--wait --out FILE]
  request --override-agent AGENT --override-action ACTION... --reason TEXT --ttl 30m
                          Ask for scopes, or for a policy override (the agent's denied decisions
                          of those actions allowed; * for any), for a time (its clock starts at
                          approval). With
                          --emergency you approve it yourself: allowed, critical on every
                          channel, and its incident stays open until someone reviews it.
                          --wait waits for approval and writes the credential to --out.
  ls                      Requests and grants, newest first; which are active.
  show ID
  approve ID              Approve (an approver in breakglass.approvers, not the requester).
  deny ID --reason TEXT
  credential ID --out FILE
                          Fetch the credential of your active grant, once, into FILE (0600).
  revoke ID               End it now (the requester, an approver or an admin).
  review ID --text TEXT   The post-use review (not by the requester): its incident may then be
                          resolved.

--token-file FILE is your own API token (auth.clients): break-glass never takes the shared admin
token. Common options: --config FILE, --data DIR, --json.`;

interface Grant {
  id: string;
  requester: string;
  status: string;
  scopes: string[];
  override?: { agent: string; actions: string[] };
  approvals: { by: string }[];
  required: number;
  expiresAt?: number;
  emergency: boolean;
  reason: string;
}

const OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  'token-file': { type: 'string' },
  scope: { type: 'string', multiple: true },
  'override-agent': { type: 'string' },
  'override-action': { type: 'string', multiple: true },
  reason: { type: 'string' },
  ttl: { type: 'string' },
  emergency: { type: 'boolean' },
  wait: { type: 'boolean' },
  out: { type: 'string' },
  text: { type: 'string' },
} as const;

const line = (g: Grant): string =>
  `${g.id} ${g.status.padEnd(8)} ${g.requester} ${[...g.scopes, ...(g.override ? [`override:${g.override.agent}:${g.override.actions.join('|')}`] : [])].join(',')} ${g.approvals.length}/${g.required}${g.expiresAt ? ` until ${new Date(g.expiresAt).toISOString()}` : ''}${g.emergency ? ' EMERGENCY' : ''}  ${g.reason}`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io: Io) {
    const parsed = parseSubcommand(argv, OPTIONS, USAGE, io);
    if (!parsed) return 0;
    const { sub, values, positionals: pos } = parsed;
    const api = connect(localConfig(values, io.cwd).dataDir, undefined, values['token-file']);
    const call = <T>(method: string, path: string, body?: unknown, ok = 200): Promise<T> =>
      expectOk<T>(api, method, path, body, ok);
    const one = (): string => {
      if (pos.length !== 1) throw usageError(`${sub} takes one request id`, USAGE);
      return encodeURIComponent(pos[0]!);
    };
    const show = (g: Grant): number => {
      io.stdout.write(values.json ? JSON.stringify(g) + '\n' : line(g) + '\n');
      return 0;
    };
    const fetchCredential = async (id: string, out: string): Promise<number> => {
      const c = await call<{ token: string; expiresAt: string }>('POST', `/v1/breakglass/${id}/credential`);
      writeSecretFile(out, c.token + '\n');
      io.stderr.write(
        `credential written to ${out} (mode 0600), valid until ${c.expiresAt}; every use is recorded and announced\n`,
      );
      return 0;
    };
    switch (sub) {
      case 'request': {
        if (pos.length > 0) throw usageError('request takes no argument', USAGE);
        const agent = values['override-agent'];
        const actions = values['override-action'];
        if ((!values.scope && !agent) || !values.reason || !values.ttl)
          throw usageError('request needs --scope or --override-agent, and --reason and --ttl', USAGE);
        if ((agent === undefined) !== (actions === undefined))
          throw usageError('--override-agent and --override-action go together', USAGE);
        if (values.wait && !values.out && values.scope)
          throw usageError('--wait needs --out FILE for the credential', USAGE);
        let g = await call<Grant>(
          'POST',
          '/v1/breakglass',
          {
            scopes: values.scope ?? [],
            ...(agent && actions ? { override: { agent, actions } } : {}),
            reason: values.reason,
            ttl: values.ttl,
            emergency: values.emergency === true,
          },
          201,
        );
        if (!values.wait) return show(g);
        io.stderr.write(`${g.id}: waiting for ${g.required} approval(s)...\n`);
        while (g.status === 'pending') {
          await sleep(1000);
          g = await call<Grant>('GET', `/v1/breakglass/${g.id}`);
        }
        if (g.status !== 'active') {
          show(g);
          return 1;
        }
        if (g.scopes.length === 0) return show(g);
        return fetchCredential(g.id, values.out!);
      }
      case 'ls': {
        const r = await call<{ active: string[]; requests: Grant[] }>('GET', '/v1/breakglass');
        io.stdout.write(
          values.json
            ? JSON.stringify(r) + '\n'
            : r.requests.length === 0
              ? 'no break-glass requests\n'
              : r.requests.map(line).join('\n') + '\n',
        );
        return 0;
      }
      case 'show':
        return show(await call<Grant>('GET', `/v1/breakglass/${one()}`));
      case 'approve':
        return show(await call<Grant>('POST', `/v1/breakglass/${one()}/approve`));
      case 'deny':
        if (!values.reason) throw usageError('deny needs --reason', USAGE);
        return show(await call<Grant>('POST', `/v1/breakglass/${one()}/deny`, { reason: values.reason }));
      case 'credential':
        if (!values.out) throw usageError('credential needs --out FILE (it is never printed)', USAGE);
        return fetchCredential(one(), values.out);
      case 'revoke':
        return show(await call<Grant>('POST', `/v1/breakglass/${one()}/revoke`));
      case 'review':
        if (!values.text) throw usageError('review needs --text', USAGE);
        return show(await call<Grant>('POST', `/v1/breakglass/${one()}/review`, { text: values.text }));
      default:
        throw usageError(`unknown subcommand "${sub}"`, USAGE);
    }
  },
};
