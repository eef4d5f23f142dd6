// The drills API: begin a drill (its agents may then run), record what it found, read drills back.
// `rampart drill` is the client; the drill's runs are ordinary runs of its own agents.

import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import type { DrillService, ScenarioResult } from './service.js';

const ID = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[a-z0-9]{6,32}$' } },
} as const;
const NAME = { type: 'string', pattern: '^[a-z][a-z0-9-]{0,63}$' } as const;
const TEXT = { type: 'string', maxLength: 2000 } as const;
const MS = { type: 'number', minimum: 0, maximum: 86_400_000 } as const;
const closed = (props: Record<string, object>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, required, properties: props }) as const;

/** A drill lasts at most this long: its agents are refused after it, finished or not. */
const MAX_TTL_MS = 6 * 3_600_000;

export function drillRoutes(service: DrillService): Route<never, never, never>[] {
  return [
    route({
      method: 'GET',
      url: '/v1/drills',
      scope: 'audit:read',
      handler: async () => ({ drills: await service.list() }),
    }),
    route<unknown, { id: string }>({
      method: 'GET',
      url: '/v1/drills/:id',
      scope: 'audit:read',
      schema: { params: ID },
      handler: async (req) => service.get(req.params.id),
    }),
    route<{ scenarios: string[]; repeat?: number; ttl?: string }>({
      method: 'POST',
      url: '/v1/drills',
      scope: 'drills:run',
      schema: {
        body: closed(
          {
            scenarios: { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: NAME },
            repeat: { type: 'integer', minimum: 1, maximum: 1000 },
            ttl: { type: 'string', maxLength: 20 },
          },
          ['scenarios'],
        ),
      },
      handler: async (req) => {
        const ttl = req.body.ttl === undefined ? 3_600_000 : parseDuration(req.body.ttl);
        if (ttl === undefined || ttl <= 0 || ttl > MAX_TTL_MS)
          throw new RampartError('RAMPART_E_BAD_REQUEST', `ttl: a duration up to 6h, not ${req.body.ttl}`, {
            details: { field: 'ttl' },
          });
        const d = await service.begin(req.principal!.actor, req.body.scenarios, req.body.repeat ?? 1, ttl);
        return { id: d.id, seq: d.seq, agentPrefix: `drill:${d.id}:`, expires: d.expires };
      },
    }),
    route<{ scenarios: ScenarioResult[] }, { id: string }>({
      method: 'POST',
      url: '/v1/drills/:id/finish',
      scope: 'drills:run',
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        params: ID,
        body: closed(
          {
            scenarios: {
              type: 'array',
              maxItems: 100,
              items: closed(
                {
                  name: NAME,
                  expected: TEXT,
                  observed: TEXT,
                  status: { enum: ['held', 'failed', 'unavailable'] },
                  reason: TEXT,
                  runs: { type: 'array', maxItems: 1000, items: { type: 'string', maxLength: 128 } },
                  times: {
                    type: 'array',
                    maxItems: 1000,
                    items: closed({ detectMs: MS, containMs: MS }),
                  },
                },
                ['name', 'expected', 'observed', 'status', 'runs', 'times'],
              ),
            },
          },
          ['scenarios'],
        ),
      },
      handler: async (req) => {
        const d = await service.finish(req.params.id, req.principal!.actor, req.body.scenarios);
        return d.summary;
      },
    }),
  ];
}
