// rampart secret put | get | ls | versions | rm | rotate | rewrap
//
// Values are secrets: `put` reads one from a file (mode 0600 or 0400) or stdin, never from the
// command line; `get` writes one to a file it creates with mode 0600, never to stdout.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readSecretFile, writeSecretFile } from '../../core/secretfile.js';
import { addKek } from '../../secrets/seal.js';
import { apiError, connect } from '../client.js';
import { COMMON_OPTIONS, parse, readStdin, usageError, type Command, type Io } from '../io.js';
import { localConfig } from '../local.js';

const USAGE = `usage: rampart secret <subcommand> [options]

  put VAULT/NAME [FILE]
      Store a new version of a secret, sealed, from FILE (mode 0600 or 0400) or stdin. Prints
      its version and fingerprint.
  get VAULT/NAME -o FILE [--force] [--version N] [--for AGENT [--run ID]]
      Write a secret's value to FILE, created with mode 0600 (an existing FILE only with
      --force). --for: read it as agent AGENT would, decided by policy (secret.read).
  ls [VAULT]
      List secrets (latest version, fingerprint, who put it; never values).
  versions VAULT/NAME
      List a secret's versions.
  rm VAULT/NAME
      Remove a secret and every version of it.
  rotate VAULT/NAME | --all
      Rotate a secret now with its rotator (secrets.rotation): a new version, made valid
      upstream, delivered into running runs. --all, when a leak is suspected: every secret with
      a rotator, every dynamic credential revoked, and a list of the secrets left to rotate by
      hand (exit 1 while any is left or any rotation failed).
  rewrap [--new-kek]
      Move every version onto the current key-encryption key (the first line of
      <data_dir>/keys/secrets.kek), with no downtime. --new-kek first adds a new current key to
      this data directory's KEK file (copy the file to every replica before you rewrap; remove
      the old line once rewrap reports nothing left on it).

Common options: --config FILE, --data DIR.`;

/** Largest value read from a file or stdin (the control plane's limit). */
const MAX_VALUE = 64 * 1024;

export const command: Command = {
  usage: USAGE,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'put':
        return put(rest, io);
      case 'get':
        return get(rest, io);
      case 'ls':
        return list(rest, io);
      case 'versions':
        return versions(rest, io);
      case 'rm':
        return remove(rest, io);
      case 'rotate':
        return rotate(rest, io);
      case 'rewrap':
        return rewrap(rest, io);
      default:
        throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
    }
  },
};

function api(values: { config?: string | undefined; data?: string | undefined }, io: Io) {
  return connect(localConfig(values, io.cwd).dataDir);
}

/** VAULT/NAME, as path segments of the API. */
function ref(arg: string | undefined): string {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(arg ?? '');
  if (!m) throw usageError(`give the secret as VAULT/NAME, not "${arg ?? ''}"`, USAGE);
  return `${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`;
}

async function put(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length < 1 || positionals.length > 2)
    throw usageError('give VAULT/NAME and a FILE, or VAULT/NAME alone to read stdin', USAGE);
  const path = ref(positionals[0]);
  const file = positionals[1];
  const value =
    file === undefined || file === '-'
      ? await readStdin(io.stdin, MAX_VALUE, 'a secret')
      : readSecretFile(resolve(io.cwd, file), { purpose: `the value of ${positionals[0]}` });
  if (value.length === 0) throw usageError('the value is empty', USAGE);
  const res = await api(values, io).call('PUT', `/v1/secrets/${path}`, {
    value_base64: value.toString('base64'),
  });
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body) + '\n');
  return 0;
}

async function get(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean' },
      version: { type: 'string' },
      for: { type: 'string' },
      run: { type: 'string' },
    },
    USAGE,
    true,
  );
  if (positionals.length !== 1) throw usageError('give one VAULT/NAME', USAGE);
  const path = ref(positionals[0]);
  if (values.output === undefined || values.output === '-')
    throw usageError('say where the value goes: -o FILE (created with mode 0600); never stdout', USAGE);
  const out = resolve(io.cwd, values.output);
  if (values.force !== true && existsSync(out))
    throw usageError(`${values.output} exists already; give --force to replace it`, USAGE);
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && !(Number.isInteger(version) && version >= 1))
    throw usageError('--version must be a whole number from 1', USAGE);
  if (values.run !== undefined && values.for === undefined)
    throw usageError('--run goes with --for AGENT', USAGE);
  const res = await api(values, io).call<{ value_base64: string; version: number; fingerprint: string }>(
    'POST',
    `/v1/secrets/${path}/read`,
    {
      ...(values.for === undefined ? {} : { agent: values.for }),
      ...(values.run === undefined ? {} : { run: values.run }),
      ...(version === undefined ? {} : { version }),
    },
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  writeSecretFile(out, Buffer.from(res.body.value_base64, 'base64'), 0o600, {
    replace: values.force === true,
  });
  io.stderr.write(
    `rampart: ${positionals[0]} version ${res.body.version} (${res.body.fingerprint}) written to ${out} (mode 0600)\n`,
  );
  return 0;
}

async function list(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length > 1) throw usageError('give one VAULT, or none for all', USAGE);
  const q = positionals[0] === undefined ? '' : `?vault=${encodeURIComponent(positionals[0])}`;
  const res = await api(values, io).call<{ secrets: unknown[] }>('GET', `/v1/secrets${q}`);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body.secrets, null, 2) + '\n');
  return 0;
}

async function versions(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length !== 1) throw usageError('give one VAULT/NAME', USAGE);
  const res = await api(values, io).call<{ versions: unknown[] }>(
    'GET',
    `/v1/secrets/${ref(positionals[0])}/versions`,
  );
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body.versions, null, 2) + '\n');
  return 0;
}

async function remove(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, USAGE, true);
  if (positionals.length !== 1) throw usageError('give one VAULT/NAME', USAGE);
  const res = await api(values, io).call('DELETE', `/v1/secrets/${ref(positionals[0])}`);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body) + '\n');
  return 0;
}

async function rotate(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, all: { type: 'boolean' } }, USAGE, true);
  if (values.all === true) {
    if (positionals.length > 0) throw usageError('--all rotates every secret: give no VAULT/NAME', USAGE);
    const res = await api(values, io).call<{ failed: unknown[]; manual: string[] }>(
      'POST',
      '/v1/secrets/rotate-all',
    );
    if (res.status !== 200) throw apiError(res.status, res.body);
    io.stdout.write(JSON.stringify(res.body, null, 2) + '\n');
    for (const m of res.body.manual)
      io.stderr.write(`rampart: ${m} has no rotator: rotate it upstream, then rampart secret put ${m}\n`);
    return res.body.failed.length > 0 || res.body.manual.length > 0 ? 1 : 0;
  }
  if (positionals.length !== 1) throw usageError('give one VAULT/NAME, or --all', USAGE);
  const res = await api(values, io).call('POST', `/v1/secrets/${ref(positionals[0])}/rotate`);
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body) + '\n');
  return 0;
}

async function rewrap(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...COMMON_OPTIONS, 'new-kek': { type: 'boolean' } },
    USAGE,
    true,
  );
  if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`, USAGE);
  const config = localConfig(values, io.cwd);
  if (values['new-kek'] === true)
    io.stderr.write(`rampart: added key-encryption key "${addKek(config.dataDir)}"\n`);
  const res = await connect(config.dataDir).call('POST', '/v1/secrets/rewrap');
  if (res.status !== 200) throw apiError(res.status, res.body);
  io.stdout.write(JSON.stringify(res.body) + '\n');
  return 0;
}
