// The secrets API. Values travel base64 in JSON bodies, never in a URL: PUT to store a new
// version, POST .../read to get one (as an operator with secrets:read, or for an agent, which
// policy decides), and listings that say everything of a secret but its value.

import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import type { SecretsService } from './service.js';

type Params = { vault: string; name: string };

const PARAMS = {
  type: 'object',
  required: ['vault', 'name'],
  properties: { vault: { type: 'string' }, name: { type: 'string' } },
};

export function secretsRoutes(svc: SecretsService): Route<never, never, never>[] {
  return [
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
      // An operator (secrets:read) reads as themself or for an agent; an agent, with its workload
      // token, only for itself and its run. Policy decides every read for an agent.
      scope: 'any',
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
        const p = req.principal!;
        const body = req.body ?? {};
        const w = p.workload;
        if (w && (body.agent !== undefined || body.run !== undefined))
          throw new RampartError('RAMPART_E_FORBIDDEN', 'an agent reads secrets for itself and its run only');
        if (!w && !p.scopes.has('secrets:read') && !p.scopes.has('admin'))
          throw new RampartError('RAMPART_E_FORBIDDEN', 'reading a secret needs the secrets:read scope');
        const agent = w ? w.sub : body.agent;
        const run = w ? w.run : body.run;
        const { info, value } = await svc.read(req.params.vault, req.params.name, {
          actor: p.actor,
          ...(agent !== undefined ? { agent } : {}),
          ...(run !== undefined ? { run } : {}),
          ...(body.version !== undefined ? { version: body.version } : {}),
        });
        return { ...info, value_base64: value.toString('base64') };
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
