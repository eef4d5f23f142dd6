// Break-glass API. Any API client may call it; the service decides who may do what (a personal
// credential to ask, an approver other than the requester to approve). Asking, approving and
// denying are events on record; fetching the credential is on record before it is handed out.

import { audited } from '../core/audited.js';
import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import { SCOPES, type Scope } from '../core/scopes.js';
import type { Auditor } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import type { BreakglassService } from './service.js';

const ID = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^BG-[0-9A-F]{10}$' } },
} as const;
const TEXT = { type: 'string', minLength: 1, maxLength: 2000 } as const;
const closed = (props: Record<string, object>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, required, properties: props }) as const;

export function breakglassRoutes(service: BreakglassService, auditor: Auditor): Route<never, never, never>[] {
  return [
    route({
      method: 'GET',
      url: '/v1/breakglass',
      scope: 'any',
      handler: async () => ({ active: service.activeNow().map((g) => g.id), requests: service.list() }),
    }),
    route<unknown, { id: string }>({
      method: 'GET',
      url: '/v1/breakglass/:id',
      scope: 'any',
      schema: { params: ID },
      handler: async (req) => service.get(req.params.id),
    }),
    route<{
      scopes?: Scope[];
      override?: { agent: string; actions: string[] };
      reason: string;
      ttl: string;
      emergency?: boolean;
    }>({
      method: 'POST',
      url: '/v1/breakglass',
      scope: 'any',
      schema: {
        body: closed(
          {
            scopes: { type: 'array', uniqueItems: true, items: { enum: [...SCOPES] } },
            override: closed(
              {
                agent: { type: 'string', minLength: 1, maxLength: 128 },
                actions: {
                  type: 'array',
                  minItems: 1,
                  maxItems: 50,
                  uniqueItems: true,
                  items: { type: 'string', pattern: '^(\\*|[a-z][a-z0-9_.-]{0,63})$' },
                },
              },
              ['agent', 'actions'],
            ),
            reason: { type: 'string', minLength: 10, maxLength: 2000 },
            ttl: { type: 'string', minLength: 2, maxLength: 16 },
            emergency: { type: 'boolean' },
          },
          ['reason', 'ttl'],
        ),
      },
      handler: async (req, reply) => {
        const ttlMs = parseDuration(req.body.ttl);
        if (ttlMs === undefined || ttlMs < 1000)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            `ttl: "${req.body.ttl}" is not a duration like 30m`,
          );
        const g = await service.request(req.principal!, {
          scopes: req.body.scopes ?? [],
          ...(req.body.override ? { override: req.body.override } : {}),
          reason: req.body.reason,
          ttlMs,
          emergency: req.body.emergency === true,
        });
        return reply.code(201).send(g);
      },
    }),
    route<unknown, { id: string }>({
      method: 'POST',
      url: '/v1/breakglass/:id/approve',
      scope: 'any',
      schema: { params: ID },
      handler: async (req) => service.approve(req.principal!, req.params.id),
    }),
    route<{ reason: string }, { id: string }>({
      method: 'POST',
      url: '/v1/breakglass/:id/deny',
      scope: 'any',
      schema: { params: ID, body: closed({ reason: TEXT }, ['reason']) },
      handler: async (req) => service.deny(req.principal!, req.params.id, req.body.reason),
    }),
    route<unknown, { id: string }>({
      method: 'POST',
      url: '/v1/breakglass/:id/credential',
      scope: 'any',
      schema: { params: ID },
      handler: async (req) =>
        audited(
          auditor,
          req.principal!.actor,
          { action: 'breakglass.credential', target: req.params.id },
          () => service.credential(req.principal!, req.params.id),
        ),
    }),
    route<unknown, { id: string }>({
      method: 'POST',
      url: '/v1/breakglass/:id/revoke',
      scope: 'any',
      schema: { params: ID },
      handler: async (req) => service.revoke(req.principal!, req.params.id),
    }),
    route<{ text: string }, { id: string }>({
      method: 'POST',
      url: '/v1/breakglass/:id/review',
      scope: 'any',
      schema: { params: ID, body: closed({ text: TEXT }, ['text']) },
      handler: async (req) => service.review(req.principal!, req.params.id, req.body.text),
    }),
  ];
}
