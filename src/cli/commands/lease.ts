// rampart lease ls | show | renew | revoke
//
// Every secret delivered to an agent is under a lease. These list them (never a value), renew
// one, and revoke one, a run's, an agent's, a vault's or all of them.

import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart lease <subcommand> [options]

  ls [--run ID] [--agent AGENT] [--vault VAULT] [--state active|revoking] [--limit N]
      List leases, oldest first (never values). "revoking": its credential could not be taken
      back yet; it is retried with backoff (last_error says why).
  show LEASE
      One lease.
  renew LEASE
      Extend a lease by its TTL (never past its max TTL).
  revoke LEASE | --run ID | --agent AGENT | --vault VAULT | --all [--reason TEXT]
      End leases now: their credentials are taken back (database roles dropped, sessions cut)
      and their files removed from the runs.

Common options: --config FILE, --data DIR.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'ls':
        return list(rest, io);
      case 'show':
        return show(rest, io);
      case 'renew':
        return renew(rest, io);
      case 'revoke':
        return revoke(rest, io);
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

function api(values: { config?: string | undefined; data?: string | undefined }, io: Io) {
  return connect(localConfig(values, io.cwd).dataDir);
}

/** The options that pick leases by what they belong to. */
const SELECT_OPTIONS = {
  ...COMMON_OPTIONS,
  run: { type: 'string' },
  agent: { type: 'string' },
  vault: { type: 'string' },
} as const;

function leaseId(arg: string | undefined): string {
  if (!/^lease_[0-9a-f]{24}$/.test(arg ?? ''))
    throw usageError(`"${arg ?? ''}" is not a lease id (lease_ and 24 hex digits)`, USAGE);
  return arg!;
}

async function list(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...SELECT_OPTIONS, state: { type: 'string' }, limit: { type: 'string' } },
    USAGE,
    true,
  );
  if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`, USAGE);
  if (values.state !== undefined && values.state !== 'active' && values.state !== 'revoking')
    throw usageError('--state is active or revoking', USAGE);
  if (values.limit !== undefined && !/^[1-9]\d{0,4}$/.test(values.limit))
    throw usageError('--limit is a whole number from 1 to 10000', USAGE);
  const q = new URLSearchParams();
  for (const k of ['run', 'agent', 'vault', 'state', 'limit'] as const)
    if (values[k] !== undefined) q.set(k, values[k]);
  const res = await api(values, io).call('GET', `/v1/leases${q.size > 0 ? `?${q.toString()}` : ''}`);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
  return 0;
}

async function show(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length !== 1) throw usageError('give one LEASE', USAGE);
  const res = await api(values, io).call('GET', `/v1/leases/${leaseId(positionals[0])}`);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
  return 0;
}

async function renew(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length !== 1) throw usageError('give one LEASE', USAGE);
  const res = await api(values, io).call<Record<string, unknown>>(
    'POST',
    `/v1/leases/${leaseId(positionals[0])}/renew`,
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  // A renewal onto a rotated version carries the value: it is the run's, never this terminal's.
  const { value_base64: _value, ...lease } = res.body;
  io.stdout.write(JSON.stringify(lease, null, 2) + '\n');
  return 0;
}

async function revoke(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...SELECT_OPTIONS, all: { type: 'boolean' }, reason: { type: 'string' } },
    USAGE,
    true,
  );
  const picked = [
    positionals.length > 0 ? { lease: leaseId(positionals[0]) } : undefined,
    values.run !== undefined ? { run: values.run } : undefined,
    values.agent !== undefined ? { agent: values.agent } : undefined,
    values.vault !== undefined ? { vault: values.vault } : undefined,
    values.all === true ? { all: true } : undefined,
  ].filter((x) => x !== undefined);
  if (picked.length !== 1 || positionals.length > 1)
    throw usageError('give exactly one of LEASE, --run, --agent, --vault or --all', USAGE);
  const res = await api(values, io).call<{ revoked: number; failed: number }>('POST', '/v1/leases/revoke', {
    ...picked[0],
    ...(values.reason !== undefined ? { reason: values.reason } : {}),
  });
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body) + '\n');
  return res.body.failed > 0 ? 1 : 0;
}
