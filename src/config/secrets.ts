// The `secrets` section: lease lifetimes, dynamic PostgreSQL engines and rotations. Templates are
// compiled here, at load, so a malformed one is refused with its position before anything runs.

import type {
  GithubEngineSettings,
  PostgresEngineSettings,
  RotationSettings,
  SecretsSettings,
} from '../core/settings.js';
import { compileTemplate } from '../core/template.js';
import type { Ctx, RawConfig } from './normalize.js';
import { exhaustive } from './infer.js';

type Raw = RawConfig['secrets'];

export function secretsConfig(raw: Raw, c: Ctx): SecretsSettings {
  const { lease_ttl, lease_max_ttl, sweep_interval, revoke_timeout, postgres, github, rotation, ...rest } =
    raw;
  exhaustive(rest);
  const vaults = new Set<string>();
  return {
    leaseTtlMs: c.ms(['secrets', 'lease_ttl'], lease_ttl, 1000),
    leaseMaxTtlMs: c.ms(['secrets', 'lease_max_ttl'], lease_max_ttl, 1000),
    sweepIntervalMs: c.ms(['secrets', 'sweep_interval'], sweep_interval, 10),
    revokeTimeoutMs: c.ms(['secrets', 'revoke_timeout'], revoke_timeout, 100),
    postgres: postgres.map((e, i) => {
      if (vaults.has(e.vault))
        c.problem(['secrets', 'postgres', i, 'vault'], `vault ${e.vault} is served twice`);
      vaults.add(e.vault);
      return postgresEngine(e, i, c);
    }),
    github: github.map((e, i) => {
      if (vaults.has(e.vault))
        c.problem(['secrets', 'github', i, 'vault'], `vault ${e.vault} is served twice`);
      vaults.add(e.vault);
      return githubEngine(e, i, c);
    }),
    rotation: rotation.map((r, i) => rotationOf(r, i, c)),
  };
}

function postgresEngine(raw: Raw['postgres'][number], i: number, c: Ctx): PostgresEngineSettings {
  const { vault, connection_file, deliver_host, roles, ...rest } = raw;
  exhaustive(rest);
  const names = new Set<string>();
  return {
    vault,
    connectionFile: c.abs(connection_file),
    ...(deliver_host ? { deliverHost: deliver_host } : {}),
    roles: roles.map((r, j) => {
      const { name, creation, revocation, ttl, max_ttl, ...more } = r;
      exhaustive(more);
      const at = ['secrets', 'postgres', i, 'roles', j];
      if (names.has(name)) c.problem([...at, 'name'], `role ${name} is given twice in vault ${vault}`);
      names.add(name);
      template([...at, 'creation'], creation, c, ['name', 'password', 'expiration']);
      if (revocation !== undefined) template([...at, 'revocation'], revocation, c, []);
      const ttlMs = c.ms([...at, 'ttl'], ttl, 1000);
      const maxTtlMs = c.ms([...at, 'max_ttl'], max_ttl, 1000);
      if (maxTtlMs < ttlMs)
        c.problem([...at, 'max_ttl'], `max_ttl (${max_ttl}) is shorter than ttl (${ttl})`);
      return { name, creation, ...(revocation ? { revocation } : {}), ttlMs, maxTtlMs };
    }),
  };
}

function githubEngine(raw: Raw['github'][number], i: number, c: Ctx): GithubEngineSettings {
  const { vault, app_id, private_key_file, api_url, ca_file, repositories, ...rest } = raw;
  exhaustive(rest);
  const names = new Set<string>();
  return {
    vault,
    appId: app_id,
    privateKeyFile: c.abs(private_key_file),
    apiUrl: api_url,
    ...(ca_file ? { caFile: c.abs(ca_file) } : {}),
    repositories: repositories.map((r, j) => {
      const { name, installation_id, repository, permissions, ...more } = r;
      exhaustive(more);
      if (names.has(name))
        c.problem(['secrets', 'github', i, 'repositories', j, 'name'], `${name} is given twice`);
      names.add(name);
      return { name, installationId: installation_id, repository, permissions };
    }),
  };
}

/** Compiles a template; `must`: placeholders it has to use. */
function template(path: (string | number)[], text: string, c: Ctx, must: readonly string[]): void {
  try {
    const t = compileTemplate(text, path.join('.'));
    const missing = must.filter((m) => !t.uses.has(m as never));
    if (missing.length > 0)
      c.problem(
        path,
        `${path.join('.')}: the template must use ${missing.map((m) => `{{${m}}}`).join(', ')}`,
      );
  } catch (e) {
    c.problem(path, (e as Error).message);
  }
}

function rotationOf(raw: Raw['rotation'][number], i: number, c: Ctx): RotationSettings {
  const { secret, every, length, rotator, ...rest } = raw;
  exhaustive(rest);
  const at = ['secrets', 'rotation', i];
  const [vault, name] = secret.split('/') as [string, string];
  const { command, postgres_role, connection_file, ...more } = rotator;
  exhaustive(more);
  let r: RotationSettings['rotator'] = { kind: 'command', command: command ?? ['true'] };
  if (command && postgres_role)
    c.problem([...at, 'rotator'], 'a rotator is a command or a postgres_role, not both');
  else if (postgres_role) {
    if (!connection_file) c.problem([...at, 'rotator'], 'postgres_role needs connection_file');
    r = { kind: 'postgres', role: postgres_role, connectionFile: c.abs(connection_file ?? '') };
  } else if (!command) c.problem([...at, 'rotator'], 'a rotator needs a command or a postgres_role');
  return {
    vault,
    name,
    ...(every === undefined ? {} : { everyMs: c.ms([...at, 'every'], every, 1000) }),
    length,
    rotator: r,
  };
}
