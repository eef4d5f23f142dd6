// The leases API: list and look at leases (never a value), renew one, revoke by lease, run,
// agent, vault or all, and the runners' refresh (refresh.ts) that keeps a run's files in step
// with its leases. Rotation is here too: one secret, or every one ("a leak is suspected").

import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import type { HoneytokenKind } from '../core/settings.js';
import type { LeaseSelector } from '../store/types.js';
import type { Honeytokens } from './honeytokens.js';
import type { LeaseService } from './leases.js';
import type { Refresher, RefreshItem } from './refresh.js';
import type { Rotations } from './rotation.js';
import type { SecretsService } from './service.js';

const ID = { type: 'string', pattern: '^lease_[0-9a-f]{24}$' } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 128 } as const;
const STATE = { enum: ['active', 'revoking'] } as const;

type Filter = { run?: string; agent?: string; vault?: string; state?: 'active' | 'revoking'; limit?: number };
type RevokeBody = {
  lease?: string;
  run?: string;
  agent?: string;
  vault?: string;
  all?: boolean;
  reason?: string;
};

export function leaseRoutes(deps: {
  leases: LeaseService;
  secrets: SecretsService;
  refresher: Refresher;
  rotations: Rotations;
}): Route<never, never, never>[] {
  const { leases, refresher, rotations } = deps;
  return [
    route<unknown, Record<string, string>, Filter>({
      method: 'GET',
      url: '/v1/leases',
      scope: 'secrets:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            run: NAME,
            agent: NAME,
            vault: NAME,
            state: STATE,
            limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
          },
        },
      },
      handler: async (req) => {
        const { limit, ...filter } = req.query;
        return { leases: await leases.list(filter, limit ?? 1000) };
      },
    }),
    route<unknown, { id: string }>({
      method: 'GET',
      url: '/v1/leases/:id',
      scope: 'secrets:read',
      schema: { params: { type: 'object', required: ['id'], properties: { id: ID } } },
      handler: async (req) => {
        const l = await leases.get(req.params.id);
        if (!l)
          throw new RampartError(
            'RAMPART_E_NOT_FOUND',
            `no lease ${req.params.id} (revoked leases are in the audit log)`,
          );
        return l;
      },
    }),
    route<unknown, { id: string }>({
      method: 'POST',
      url: '/v1/leases/:id/renew',
      scope: 'secrets:read',
      schema: { params: { type: 'object', required: ['id'], properties: { id: ID } } },
      handler: async (req) => {
        const r = await leases.renew(req.params.id, { actor: req.principal!.actor });
        return { ...r.lease, ...(r.value ? { value_base64: r.value.toString('base64') } : {}) };
      },
    }),
    route<RevokeBody>({
      method: 'POST',
      url: '/v1/leases/revoke',
      scope: 'secrets:write',
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            lease: ID,
            run: NAME,
            agent: NAME,
            vault: NAME,
            all: { const: true },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
        },
      },
      handler: async (req) => {
        const b = req.body ?? {};
        const given = (['lease', 'run', 'agent', 'vault', 'all'] as const).filter((k) => b[k] !== undefined);
        if (given.length !== 1)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            'name exactly one of lease, run, agent, vault or all',
          );
        const selector: LeaseSelector =
          b.lease !== undefined
            ? { id: b.lease }
            : b.run !== undefined
              ? { run: b.run }
              : b.agent !== undefined
                ? { agent: b.agent }
                : b.vault !== undefined
                  ? { vault: b.vault }
                  : { all: true };
        return leases.revoke(
          selector,
          b.reason ?? `revoked by ${req.principal!.actor}`,
          req.principal!.actor,
        );
      },
    }),
    route<{ run: string; leases: RefreshItem[]; wait_ms?: number }>({
      method: 'POST',
      url: '/v1/leases/refresh',
      // The runner of a run (on its host, with the data directory's credential).
      scope: 'secrets:read',
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['run', 'leases'],
          properties: {
            run: NAME,
            leases: {
              type: 'array',
              maxItems: 64,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['id'],
                properties: { id: ID, version: { type: 'integer', minimum: 1 } },
              },
            },
            // Below the server's request timeout (30 s by default).
            wait_ms: { type: 'integer', minimum: 0, maximum: 25000 },
          },
        },
      },
      handler: async (req) => ({
        leases: await refresher.refresh(
          req.body.run,
          req.body.leases,
          req.body.wait_ms ?? 0,
          req.principal!.actor,
        ),
      }),
    }),
    route<unknown, { vault: string; name: string }>({
      method: 'POST',
      url: '/v1/secrets/:vault/:name/rotate',
      scope: 'secrets:write',
      schema: {
        params: { type: 'object', required: ['vault', 'name'], properties: { vault: NAME, name: NAME } },
      },
      handler: async (req) =>
        rotations.rotate(req.params.vault, req.params.name, req.principal!.actor, 'requested'),
    }),
    route({
      method: 'POST',
      url: '/v1/secrets/rotate-all',
      // "A leak is suspected": every rotator, every dynamic credential revoked, and what is left
      // for a person to rotate upstream.
      scope: 'secrets:write',
      handler: async (req) => {
        const by = req.principal!.actor;
        const { rotated, failed } = await rotations.rotateAll(by);
        const revoked: Record<string, number> = {};
        for (const vault of leases.dynamicVaults())
          revoked[vault] = (await leases.revoke({ vault }, 'rotate --all: a leak is suspected', by)).revoked;
        const manual = (await deps.secrets.list())
          .filter((s) => !rotations.has(s.vault, s.name))
          .map((s) => `${s.vault}/${s.name}`);
        return { rotated, failed, revoked, manual };
      },
    }),
  ];
}

/** Decoys for a run, planted by its runner in the run's home (the profile says which). */
export function honeytokenRoute(honeytokens: Honeytokens): Route<never, never, never> {
  return route<{ run: string; agent: string; kinds: HoneytokenKind[] }>({
    method: 'POST',
    url: '/v1/honeytokens',
    // The runner that registers the run plants them.
    scope: 'runs:write',
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['run', 'agent', 'kinds'],
        properties: {
          run: NAME,
          agent: NAME,
          kinds: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { enum: ['aws', 'github', 'database'] },
          },
        },
      },
    },
    handler: async (req) => ({
      files: (await honeytokens.plant(req.body.run, req.body.agent, req.body.kinds)).map((f) => ({
        path: f.path,
        content_base64: Buffer.from(f.content).toString('base64'),
      })),
    }),
  });
}
