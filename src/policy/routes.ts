// Policy API: the native decision endpoint, OPA's Data API (so OPA clients and the official OPA
// SDK work against Rampart unchanged), policy status and reload, and entities.

import { audited } from '../core/audited.js';
import { route, type ApiRequest, type Route } from '../core/component.js';
import { RampartError, isRampartError } from '../core/errors.js';
import type { Auditor } from '../core/types.js';
import { parseDecisionInput } from './input.js';
import type { Decision } from './model.js';
import type { PolicyService } from './service.js';

/** The document a Data API path evaluates to; undefined for paths Rampart does not serve. */
function documentAt(path: string, d: Decision): unknown {
  switch (path.replace(/^\/+|\/+$/g, '')) {
    case 'rampart/allow':
      return d.allow;
    case 'rampart/decide':
    case 'rampart/decision':
    case 'rampart':
      return {
        allow: d.allow,
        outcome: d.outcome,
        reasons: d.reasons,
        ...(d.rule ? { rule: d.rule } : {}),
        policy_version: d.policy_version,
        ...(d.errors ? { errors: d.errors } : {}),
      };
    default:
      return undefined;
  }
}

const SERVED = new Set(['rampart/allow', 'rampart/decide', 'rampart/decision', 'rampart']);

type Wild = { '*': string };
type Entity = { type: string; id: string };

function dataPath(req: ApiRequest<unknown, Wild>): string {
  // The OPA SDK percent-encodes the whole path ("rampart%2Fdecide").
  return decodeURIComponent(req.params['*'] ?? '').replace(/^\/+|\/+$/g, '');
}

/** The decision as /v1/decide answers it; a response schema lets fastify serialize it without JSON.stringify's generality. */
const DECISION_SCHEMA = {
  type: 'object',
  required: ['decision_id', 'allow', 'outcome', 'reasons', 'policy_version', 'source'],
  properties: {
    decision_id: { type: 'string' },
    allow: { type: 'boolean' },
    outcome: { type: 'string' },
    reasons: { type: 'array', items: { type: 'string' } },
    rule: { type: 'string' },
    policy_version: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { rule: { type: 'string' }, message: { type: 'string' } } },
    },
    source: { type: 'string' },
  },
} as const;

export function policyRoutes(policy: PolicyService, auditor: Auditor): Route<never, never, never>[] {
  const meta = (req: ApiRequest<unknown, unknown, unknown>, path: string) => ({
    actor: req.principal?.actor ?? 'anonymous',
    path,
    requestedBy: req.ip,
  });
  const decide = (path: string, input: unknown, req: ApiRequest<unknown, unknown, unknown>) =>
    policy.decide(parseDecisionInput(input), meta(req, path));
  return [
    route({
      method: 'POST',
      url: '/v1/decide',
      scope: 'policy:decide',
      schema: { response: { 200: DECISION_SCHEMA } },
      handler: async (req) => decide('v1/decide', req.body, req),
    }),

    // ---------------------------------------------------------------- OPA Data API
    route<unknown, Wild>({
      method: 'POST',
      url: '/v1/data/*',
      scope: 'policy:decide',
      opa: true,
      handler: async (req) => {
        const path = dataPath(req);
        const body = req.body as { input?: unknown } | undefined;
        // No input: there is nothing to decide, so the document is undefined (as in OPA).
        if (body === undefined || body === null || typeof body !== 'object' || !('input' in body)) return {};
        if (!SERVED.has(path)) return { decision_id: policy.engine.nextId() };
        const d = await decide(path, body.input, req);
        return { result: documentAt(path, d), decision_id: d.decision_id };
      },
    }),

    // OPA's default decision: the body is the input, the response is the document itself.
    route({
      method: 'POST',
      url: '/',
      scope: 'policy:decide',
      opa: true,
      handler: async (req) => documentAt('rampart/decide', await decide('rampart/decide', req.body, req)),
    }),

    // Enterprise OPA's batch API, which the OPA SDK's evaluateBatch uses.
    route<unknown, Wild>({
      method: 'POST',
      url: '/v1/batch/data/*',
      scope: 'policy:decide',
      opa: true,
      handler: async (req, reply) => {
        const path = dataPath(req);
        const inputs = (req.body as { inputs?: unknown } | undefined)?.inputs;
        if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
          throw new RampartError('RAMPART_E_BAD_REQUEST', 'body must be {"inputs": {"<id>": <input>, ...}}');
        const entries = Object.entries(inputs as Record<string, unknown>);
        if (entries.length > 1000)
          throw new RampartError('RAMPART_E_BAD_REQUEST', 'at most 1000 inputs per batch');
        const responses: Record<string, unknown> = {};
        let failed = false;
        await Promise.all(
          entries.map(async ([k, v]) => {
            try {
              if (!SERVED.has(path)) {
                responses[k] = { decision_id: policy.engine.nextId() };
                return;
              }
              const d = await decide(path, v, req);
              responses[k] = { result: documentAt(path, d), decision_id: d.decision_id };
            } catch (e) {
              failed = true;
              const status = isRampartError(e) ? e.status : 500;
              responses[k] = {
                code: status < 500 ? 'invalid_parameter' : 'internal_error',
                message: e instanceof Error ? e.message : String(e),
                http_status_code: String(status),
              };
            }
          }),
        );
        return reply.code(failed ? 207 : 200).send({ batch_decision_id: policy.engine.nextId(), responses });
      },
    }),

    route({
      method: 'GET',
      url: '/health',
      scope: 'public',
      opa: true,
      handler: async (_req, reply) => {
        const h = policy.health();
        if (h.status === 'failing')
          return reply.code(500).send({ error: h.detail ?? 'policy engine not ready' });
        return {};
      },
    }),

    // ---------------------------------------------------------------- policies
    route({
      method: 'GET',
      url: '/v1/policies',
      scope: 'any',
      handler: async () => {
        const set = policy.policySet;
        return {
          version: policy.version,
          dir: set?.dir,
          files: set?.files ?? [],
          health: policy.health(),
          rules: (set?.rules ?? []).map((r) => ({
            name: r.name,
            effect: r.effect,
            actions: r.actions ? [...r.actions] : ['*'],
            resources: r.resources ? [...r.resources] : ['*'],
            location: r.location,
          })),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/v1/policies/reload',
      scope: 'policy:write',
      handler: async (req) =>
        audited(auditor, req.principal!.actor, { action: 'policy.reload', target: policy.version }, () =>
          policy.reload(),
        ),
    }),

    // ---------------------------------------------------------------- entities
    route<unknown, unknown, { type?: string }>({
      method: 'GET',
      url: '/v1/entities',
      scope: 'any',
      handler: async (req) => ({ entities: policy.listEntities(req.query.type) }),
    }),
    route<unknown, Entity>({
      method: 'GET',
      url: '/v1/entities/:type/:id',
      scope: 'any',
      handler: async (req) => {
        const e = policy.getEntity(req.params.type, req.params.id);
        if (!e)
          throw new RampartError('RAMPART_E_NOT_FOUND', `no entity ${req.params.type}:${req.params.id}`);
        return e;
      },
    }),
    route<unknown, Entity>({
      method: 'PUT',
      url: '/v1/entities/:type/:id',
      scope: 'entities:write',
      handler: async (req) =>
        audited(
          auditor,
          req.principal!.actor,
          {
            action: 'entity.put',
            target: `${req.params.type}:${req.params.id}`,
            details: { body: req.body },
          },
          () => policy.putEntity(req.params.type, req.params.id, req.body),
        ),
    }),
    route<unknown, Entity>({
      method: 'DELETE',
      url: '/v1/entities/:type/:id',
      scope: 'entities:write',
      handler: async (req) => {
        const deleted = await audited(
          auditor,
          req.principal!.actor,
          { action: 'entity.delete', target: `${req.params.type}:${req.params.id}` },
          () => policy.deleteEntity(req.params.type, req.params.id),
        );
        if (!deleted)
          throw new RampartError('RAMPART_E_NOT_FOUND', `no entity ${req.params.type}:${req.params.id}`);
        return { deleted: true };
      },
    }),
  ];
}
