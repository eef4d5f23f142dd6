// Benchmark fixtures for the policy decision point: the shipped default set grown to N rules with
// rules of the same shapes (indexed across 40 actions and 10 resource types, so a decision sees a
// realistic handful of candidates), E entities, and a pool of varied inputs.

import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gen, prng } from '../redact/corpus.js';
import { ROOT } from '../../test/support/cli.js';
import type { DecisionInput } from '../../src/policy/model.js';

const SHAPES = [
  (i: number) =>
    `principal.namespace != '' && principal.namespace == resource.namespace && 'cap-${i % 17}' in principal.capabilities`,
  (i: number) => `'team-${i % 13}' in principal.teams && resource.type == 'res-${i % 10}'`,
  (i: number) => `'level' in principal.attributes && principal.attributes.level >= ${i % 5}`,
  () => `'capabilities' in context && context.capabilities.all(c, c in principal.capabilities)`,
  (i: number) => `hostMatchesAny(resource.host, ['*.svc-${i % 7}.example.com', 'api-${i % 11}.example.org'])`,
  (i: number) =>
    `resource.owner == principal.id || (principal.team != '' && principal.team == resource.team && ${i % 2 === 0})`,
];

export const ACTIONS = Array.from({ length: 40 }, (_, a) =>
  a < 6
    ? ['task.run', 'message.send', 'secret.read', 'delegation.request', 'namespace.read', 'egress.connect'][
        a
      ]!
    : `svc${a}.op${a % 4}`,
);

/** Writes a policy directory: the default set plus `extra` generated rules. Returns its path. */
export function grownPolicyDir(dir: string, totalRules: number): string {
  const out = join(dir, `policies-${totalRules}`);
  cpSync(join(ROOT, 'policies', 'default'), out, { recursive: true });
  const extra = Math.max(0, totalRules - 14);
  const perFile = 50;
  for (let f = 0; f * perFile < extra; f++) {
    const rules: string[] = [];
    for (let i = f * perFile; i < Math.min(extra, (f + 1) * perFile); i++) {
      const effect = i % 5 === 0 ? 'deny' : 'allow';
      const action = ACTIONS[i % ACTIONS.length]!;
      const shape = SHAPES[i % SHAPES.length]!(i);
      rules.push(
        `  - name: generated-${i}\n    effect: ${effect}\n    actions: [${action}]\n` +
          (i % 3 === 0 ? `    resources: [res-${i % 10}]\n` : '') +
          `    when: >-\n      ${effect === 'deny' ? `principal.id == 'blocked-${i}' && ` : ''}${shape}\n    reason: 'generated rule ${i} for {{principal.id}}'\n`,
      );
    }
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, `generated-${f}.yaml`),
      `apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: generated-${f}\nrules:\n${rules.join('')}`,
    );
  }
  return out;
}

export interface BenchEntity {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  parents: string[];
}

/** Agents in teams and namespaces, with vaults and secrets: `n` entities in all. */
export function entities(n: number): BenchEntity[] {
  const g = new Gen(prng(n));
  const out: BenchEntity[] = [];
  for (let t = 0; t < 13; t++)
    out.push({
      type: 'team',
      id: `team-${t}`,
      attributes: { capabilities: [`cap-${t}`, 'vault:v0:read'] },
      parents: t > 0 ? [`team:team-${t - 1}`] : [],
    });
  for (let s = 0; s < 8; s++)
    out.push({
      type: 'namespace',
      id: `ns-${s}`,
      attributes: { shared_with: [`ns-${(s + 1) % 8}`] },
      parents: [],
    });
  for (let v = 0; v < 5; v++) out.push({ type: 'vault', id: `v${v}`, attributes: {}, parents: [] });
  let i = 0;
  while (out.length < n) {
    const k = i++;
    if (k % 10 === 9) {
      out.push({
        type: 'secret',
        id: `secret-${k}`,
        attributes: { namespace: `ns-${k % 8}` },
        parents: [`vault:v${k % 5}`],
      });
    } else {
      out.push({
        type: 'agent',
        id: `agent-${k}`,
        attributes: {
          namespace: `ns-${k % 8}`,
          level: k % 6,
          capabilities: [`cap-${k % 17}`, 'git.push'],
          egress_hosts: ['*.github.com', `api-${k % 11}.example.org`],
        },
        parents: [`team:team-${k % 13}`, `namespace:ns-${k % 8}`],
      });
    }
    void g;
  }
  return out.slice(0, n);
}

/** `count` varied decision inputs over the entities. */
export function inputs(count: number, entityCount: number): DecisionInput[] {
  const g = new Gen(prng(count * 31 + entityCount));
  const agents = Math.max(1, Math.floor(entityCount * 0.9));
  const out: DecisionInput[] = [];
  for (let i = 0; i < count; i++) {
    const a = `agent-${g.int(0, agents - 1)}`;
    const action = g.pick(ACTIONS);
    const kind = g.int(0, 5);
    const resource =
      action === 'egress.connect'
        ? {
            type: 'host',
            id: g.pick(['api.github.com', 'evil.example', 'api-3.example.org', 'x.svc-2.example.com']),
            port: g.pick([443, 80, 22]),
          }
        : action === 'secret.read'
          ? { type: 'secret', id: `secret-${g.int(0, 100) * 10 + 9}` }
          : action === 'message.send'
            ? { type: 'agent', id: `agent-${g.int(0, agents - 1)}` }
            : {
                type: kind < 3 ? 'task' : `res-${g.int(0, 9)}`,
                id: `r-${g.int(0, 999)}`,
                namespace: `ns-${g.int(0, 7)}`,
                owner: `agent-${g.int(0, 50)}`,
              };
    out.push({
      principal: { type: 'agent', id: a },
      action,
      resource,
      context: g.int(0, 1) === 0 ? { capabilities: [g.pick(['git.push', 'cap-3', 'cap-99'])] } : {},
    });
  }
  return out;
}
