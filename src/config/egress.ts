// The egress section's inspection keys: injection rules with their profiles expanded (the agents'
// model providers), pinned names checked to be addresses, every problem named by key path.

import { isIP } from 'node:net';
import type { EgressInjection } from '../core/settings.js';
import { exhaustive } from './infer.js';
import type { Ctx, RawConfig } from './normalize.js';

type RawInjection = RawConfig['egress']['inject'][number];

/** What a profile supplies: the provider's host and how the agent's CLI sends its key. */
const PROFILES: Readonly<Record<string, Omit<EgressInjection, 'source' | 'pathPrefix' | 'vault' | 'name'>>> =
  {
    // Claude Code sends an apiKeyHelper's output as X-Api-Key and as Authorization: Bearer.
    'claude-code': {
      host: 'api.anthropic.com',
      header: 'x-api-key',
      scheme: 'raw',
      strip: ['authorization'],
    },
    codex: { host: 'api.openai.com', header: 'authorization', scheme: 'bearer', strip: [] },
  };

export function injection(r: RawInjection, i: number, c: Ctx): EgressInjection {
  const { profile, host, path, header, scheme, username, strip, secret, ...rest } = r;
  exhaustive(rest);
  const at = ['egress', 'inject', String(i)];
  const base = profile ? PROFILES[profile]! : undefined;
  const h = host ?? base?.host;
  if (!h) c.problem([...at, 'host'], `egress.inject[${i}]: a host (or a profile) is required`);
  const s = scheme ?? base?.scheme ?? 'bearer';
  if (s === 'basic' && !username)
    c.problem([...at, 'username'], `egress.inject[${i}]: a basic credential needs a username`);
  const m = /^vault:([^/]+)\/(.+)$/.exec(secret)!;
  const name = (header ?? base?.header ?? 'authorization').toLowerCase();
  return {
    source: `egress.inject[${i}]`,
    ...(profile ? { profile } : {}),
    host: (h ?? 'invalid.invalid').toLowerCase(),
    pathPrefix: path,
    header: name,
    scheme: s,
    ...(username ? { username } : {}),
    strip: [...new Set([...(base?.strip ?? []), ...(strip ?? []).map((x) => x.toLowerCase())])].filter(
      (x) => x !== name,
    ),
    vault: m[1]!,
    name: m[2]!,
  };
}

export function pinnedHosts(hosts: Readonly<Record<string, string>>, c: Ctx): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, address] of Object.entries(hosts)) {
    if (isIP(address) === 0)
      c.problem(['egress', 'hosts', name], `egress.hosts.${name}: "${address}" is not an IP address`);
    out[name.toLowerCase().replace(/\.$/, '')] = address;
  }
  return out;
}
