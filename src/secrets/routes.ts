// The secrets API. Values travel base64 in JSON bodies, never in a URL: PUT to store a new
// version, POST .../read to get one (an operator with secrets:read, as itself or for an agent),
// POST /v1/agent/secrets/... for an agent with its own workload token (policy decides every read
// for an agent), and listings that say everything of a secret but its value.

import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import type { Delivery, LeaseService } from './leases.js';
import type { Sealer } from './seal.js';
import type { SecretsService } from './service.js';

type Params = { vault: string; name: string };

const PARAMS = {
  type: 'object',
  required: ['vault', 'name'],
  properties: { vault: { type: 'string' }, name: { type: 'string' } },
};

export function secretsRoutes(
  svc: SecretsService,
  leases: LeaseService,
  loadKek: () => Sealer,
): Route<never, never, never>[] {
  return [
    route({
      method: 'POST',
      url: '/v1/secrets/rewrap',
      // After a new first line in the KEK file (rampart secret rewrap --new-kek): every version
      // moved onto it, while requests are served.
      scope: 'secrets:write',
      handler: async (req) => svc.rewrap(loadKek, req.principal!.actor),
    }),
    route<{ value_base64: string }, Params>({
      method: 'PUT',
      url: '/v1/secrets/:vault/:name',
      scope: 'secrets:write',
      schema: {
        params: PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['value_base64'],
          properties: { value_base64: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$', minLength: 1 } },
        },
      },
      handler: async (req) =>
        svc.put(
          req.params.vault,
          req.params.name,
          Buffer.from(req.body.value_base64, 'base64'),
          req.principal!.actor,
        ),
    }),
    route<{ agent?: string; run?: string; version?: number }, Params>({
      method: 'POST',
      url: '/v1/secrets/:vault/:name/read',
      // An operator reads as itself, or for an agent (and its run), which policy then decides.
      scope: 'secrets:read',
      schema: {
        params: PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            agent: { type: 'string', minLength: 1, maxLength: 128 },
            run: { type: 'string', minLength: 1, maxLength: 64 },
            version: { type: 'integer', minimum: 1 },
          },
        },
      },
      handler: async (req) => {
        const body = req.body ?? {};
        if (body.run !== undefined && body.agent === undefined)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            'run goes with agent: a read for a run is for its agent',
          );
        const { vault, name } = req.params;
        if (body.agent !== undefined) {
          // A delivery to an agent: the latest version (or a new credential) under a lease.
          if (body.version !== undefined)
            throw new RampartError(
              'RAMPART_E_BAD_REQUEST',
              'a delivery to an agent is the latest version: no version',
            );
          return delivered(
            await leases.issue({
              vault,
              name,
              agent: body.agent,
              ...(body.run !== undefined ? { run: body.run } : {}),
              actor: req.principal!.actor,
            }),
          );
        }
        if (leases.engineOf(vault) !== undefined)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            `vault ${vault} issues credentials to agents under a lease: give the agent they are for`,
          );
        const { info, value } = await svc.read(vault, name, {
          actor: req.principal!.actor,
          ...(body.version !== undefined ? { version: body.version } : {}),
        });
        return { ...info, value_base64: value.toString('base64') };
      },
    }),
    route<{ version?: number }, Params>({
      method: 'POST',
      url: '/v1/agent/secrets/:vault/:name',
      // An agent, with its workload token, for itself and its run: policy decides.
      scope: 'agent',
      schema: {
        params: PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { version: { type: 'integer', minimum: 1 } },
        },
      },
      handler: async (req) => {
        const w = req.principal!.workload!;
        if (req.body?.version !== undefined)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            'a delivery to an agent is the latest version: no version',
          );
        return delivered(
          await leases.issue({
            vault: req.params.vault,
            name: req.params.name,
            agent: w.sub,
            run: w.run,
            actor: req.principal!.actor,
          }),
        );
      },
    }),
    route<unknown, Record<string, string>, { vault?: string }>({
      method: 'GET',
      url: '/v1/secrets',
      scope: 'secrets:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { vault: { type: 'string' } },
        },
      },
      handler: async (req) => ({ secrets: await svc.list(req.query.vault) }),
    }),
    route<unknown, Params>({
      method: 'GET',
      url: '/v1/secrets/:vault/:name/versions',
      scope: 'secrets:read',
      schema: { params: PARAMS },
      handler: async (req) => ({ versions: await svc.versions(req.params.vault, req.params.name) }),
    }),
    route<unknown, Params>({
      method: 'DELETE',
      url: '/v1/secrets/:vault/:name',
      scope: 'secrets:write',
      schema: { params: PARAMS },
      handler: async (req) => ({
        removed: await svc.remove(req.params.vault, req.params.name, req.principal!.actor),
      }),
    }),
  ];
}

/** What a delivery answers: the value, its version and fingerprint, and the lease it is under. */
function delivered(d: Delivery): Record<string, unknown> {
  return {
    vault: d.lease.vault,
    name: d.lease.name,
    version: d.lease.version,
    fingerprint: d.fingerprint,
    lease: d.lease,
    value_base64: d.value.toString('base64'),
  };
}
