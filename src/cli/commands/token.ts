// rampart token issue | verify | revoke | rotate-key | keys
//
// Tokens are secrets: `issue` writes one to a file created with mode 0600 (or to stdout only
// with --stdout), and `verify` reads one from a file or stdin, never from the command line.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readSecretText, writeSecretFile } from '../../core/secretfile.js';
import { parseDuration } from '../../core/units.js';
import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, readStdin, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart token <subcommand> [options]

  issue --agent ID [--namespace NS] [--run ID] [--ttl 5m] [--cap NAME]... (-o FILE [--force] | --stdout)
      Issue a workload token (at most identity.token_ttl, 10m by default). It is written to FILE,
      created with mode 0600 (an existing FILE only with --force), or to stdout only when
      --stdout is given. Every problem of the request is reported at once. The namespace defaults to
      the agent's, when the agent is a registered entity.
  verify [FILE]
      Check a token (from FILE, mode 0600, or stdin) against the running control plane: form,
      signature, claims and revocations. Prints its claims; exit 0 valid, 1 refused with the reason.
  revoke (--jti ID | --agent ID | --run ID | --namespace NS | --all) [--reason TEXT]
      Revoke matching tokens on every replica at once; survives restarts.
  rotate-key
      Replace this replica's signing key now (the old one verifies its tokens until they expire).
  revocations
      List the revocations in force.

Common options: --config FILE, --data DIR.`;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'issue':
        return issue(rest, io);
      case 'verify':
        return verify(rest, io);
      case 'revoke':
        return revoke(rest, io);
      case 'rotate-key':
        return simple(rest, io, 'POST', '/v1/tokens/keys/rotate');
      case 'revocations':
        return simple(rest, io, 'GET', '/v1/tokens/revocations');
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

function api(values: { config?: string | undefined; data?: string | undefined }, io: Io) {
  return connect(localConfig(values, io.cwd).dataDir);
}

async function issue(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      agent: { type: 'string' },
      namespace: { type: 'string' },
      run: { type: 'string' },
      ttl: { type: 'string' },
      cap: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o' },
      stdout: { type: 'boolean' },
      force: { type: 'boolean' },
    },
    USAGE,
  );
  if (values.agent === undefined) throw usageError('--agent ID is required', USAGE);
  if ((values.output === undefined) === (values.stdout !== true))
    throw usageError('say where the token goes: -o FILE (created with mode 0600) or --stdout', USAGE);
  // Before the token exists: a file in the way is found now, not after a token was issued for it.
  if (values.output !== undefined && values.force !== true && existsSync(resolve(io.cwd, values.output)))
    throw usageError(`${values.output} exists already; give --force to replace it`, USAGE);
  let ttlSeconds: number | undefined;
  if (values.ttl !== undefined) {
    const ms = parseDuration(values.ttl);
    if (ms === undefined || ms < 1000 || ms % 1000 !== 0)
      throw usageError(`--ttl "${values.ttl}" is not a whole number of seconds like 5m or 90s`, USAGE);
    ttlSeconds = ms / 1000;
  }
  const res = await api(values, io).call<{ token: string; jti: string; run: string; expires_at: string }>(
    'POST',
    '/v1/tokens',
    {
      agent: values.agent,
      ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
      ...(values.run === undefined ? {} : { run: values.run }),
      ...(ttlSeconds === undefined ? {} : { ttl_seconds: ttlSeconds }),
      capabilities: values.cap ?? [],
    },
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  const { token, jti, run, expires_at } = res.body;
  if (values.stdout === true) {
    io.stdout.write(token + '\n');
  } else {
    const file = resolve(io.cwd, values.output!);
    writeSecretFile(file, token + '\n', 0o600, { replace: values.force === true });
    io.stderr.write(
      `rampart: token ${jti} for run ${run}, valid until ${expires_at}, written to ${file} (mode 0600)\n`,
    );
  }
  return 0;
}

async function verify(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length > 1) throw usageError('give one token file, or none to read stdin', USAGE);
  const token =
    positionals.length === 0 || positionals[0] === '-'
      ? (await readStdin(io.stdin, 65_536, 'a token')).toString('utf8').trim()
      : readSecretText(resolve(io.cwd, positionals[0]!), { purpose: 'workload token' });
  if (token === '') throw usageError('no token on stdin', USAGE);
  const res = await api(values, io).call<{ active: boolean; kind?: string; reason?: string }>(
    'POST',
    '/v1/tokens/introspect',
    { token },
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  if (!res.body.active) {
    io.stderr.write(`rampart: token refused (${res.body.kind}): ${res.body.reason}\n`);
    return 1;
  }
  io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
  return 0;
}

async function revoke(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      jti: { type: 'string' },
      agent: { type: 'string' },
      run: { type: 'string' },
      namespace: { type: 'string' },
      all: { type: 'boolean' },
      reason: { type: 'string' },
    },
    USAGE,
  );
  const chosen = (['jti', 'agent', 'run', 'namespace', 'all'] as const).filter(
    (k) => values[k] !== undefined,
  );
  if (chosen.length !== 1)
    throw usageError('give exactly one of --jti, --agent, --run, --namespace, --all', USAGE);
  const kind = chosen[0]!;
  const res = await api(values, io).call<{ revocation: { id: number } }>('POST', '/v1/tokens/revocations', {
    kind,
    ...(kind === 'all' ? {} : { value: values[kind] as string }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
  });
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body.revocation) + '\n');
  return 0;
}

async function simple(argv: readonly string[], io: Io, method: string, path: string): Promise<number> {
  const { values } = parse(argv, COMMON_OPTIONS, USAGE);
  const res = await api(values, io).call(method, path);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
  return 0;
}
