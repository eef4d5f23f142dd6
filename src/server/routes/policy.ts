// Policy API: the native decision endpoint, OPA's Data API (so OPA clients and the official OPA
// SDK work against Rampart unchanged), policy status and reload, and entities.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RampartError, isRampartError } from '../../core/errors.js';
import type { Auditor } from '../../core/types.js';
import { parseDecisionInput } from '../../policy/input.js';
import type { Decision } from '../../policy/model.js';
import type { PolicyService } from '../../policy/service.js';
import type { EventBus } from '../../events/bus.js';
import { audited } from '../http.js';

export interface PolicyRouteDeps {
  readonly policy: PolicyService;
  readonly auditor: Auditor;
  readonly bus: EventBus;
}

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

function dataPath(req: FastifyRequest<{ Params: { '*': string } }>): string {
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

export function registerPolicyRoutes(app: FastifyInstance, deps: PolicyRouteDeps): void {
  const { policy } = deps;
  const meta = (req: FastifyRequest, path: string): { actor: string; path: string; requestedBy: string } => ({
    actor: req.principal?.actor ?? 'anonymous',
    path,
    requestedBy: req.ip,
  });

  app.post(
    '/v1/decide',
    { config: { scope: 'policy:decide' }, schema: { response: { 200: DECISION_SCHEMA } } },
    async (req) => {
      const input = parseDecisionInput(req.body);
      return policy.decide(input, meta(req, 'v1/decide'));
    },
  );

  // ---------------------------------------------------------------- OPA Data API
  app.post<{ Params: { '*': string } }>(
    '/v1/data/*',
    { config: { scope: 'policy:decide', opa: true } },
    async (req) => {
      const path = dataPath(req);
      const body = req.body as { input?: unknown } | undefined;
      if (body === undefined || body === null || typeof body !== 'object' || !('input' in body)) {
        // No input: there is nothing to decide, so the document is undefined (as in OPA).
        return {};
      }
      if (!SERVED.has(path)) return { decision_id: policy.engine.nextId() };
      const d = await policy.decide(parseDecisionInput(body.input), meta(req, path));
      return { result: documentAt(path, d), decision_id: d.decision_id };
    },
  );

  // OPA's default decision: the body is the input, the response is the document itself.
  app.post('/', { config: { scope: 'policy:decide', opa: true } }, async (req) => {
    const d = await policy.decide(parseDecisionInput(req.body), meta(req, 'rampart/decide'));
    return documentAt('rampart/decide', d);
  });

  // Enterprise OPA's batch API, which the OPA SDK's evaluateBatch uses.
  app.post<{ Params: { '*': string } }>(
    '/v1/batch/data/*',
    { config: { scope: 'policy:decide', opa: true } },
    async (req, reply) => {
      const path = dataPath(req);
      const inputs = (req.body as { inputs?: unknown } | undefined)?.inputs;
      if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
        throw new RampartError('RAMPART_E_BAD_REQUEST', 'body must be {"inputs": {"<id>": <input>, ...}}');
      }
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
            const d = await policy.decide(parseDecisionInput(v), meta(req, path));
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
  );

  app.get('/health', { config: { public: true, opa: true } }, async (_req, reply) => {
    const h = policy.health();
    if (h.status === 'failing') return reply.code(500).send({ error: h.detail ?? 'policy engine not ready' });
    return {};
  });

  // ---------------------------------------------------------------- policies
  app.get('/v1/policies', { config: { scope: 'any' } }, async () => {
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
  });

  app.post('/v1/policies/reload', { config: { scope: 'policy:write' } }, async (req) =>
    audited(
      { bus: deps.bus, auditor: deps.auditor },
      req,
      { action: 'policy.reload', target: policy.version },
      () => policy.reload(),
    ),
  );

  // ---------------------------------------------------------------- entities
  app.get<{ Querystring: { type?: string } }>('/v1/entities', { config: { scope: 'any' } }, async (req) => ({
    entities: policy.listEntities(req.query.type),
  }));

  app.get<{ Params: { type: string; id: string } }>(
    '/v1/entities/:type/:id',
    { config: { scope: 'any' } },
    async (req) => {
      const e = policy.getEntity(req.params.type, req.params.id);
      if (!e) throw new RampartError('RAMPART_E_NOT_FOUND', `no entity ${req.params.type}:${req.params.id}`);
      return e;
    },
  );

  app.put<{ Params: { type: string; id: string } }>(
    '/v1/entities/:type/:id',
    { config: { scope: 'entities:write' } },
    async (req) =>
      audited(
        { bus: deps.bus, auditor: deps.auditor },
        req,
        { action: 'entity.put', target: `${req.params.type}:${req.params.id}`, details: { body: req.body } },
        () => policy.putEntity(req.params.type, req.params.id, req.body),
      ),
  );

  app.delete<{ Params: { type: string; id: string } }>(
    '/v1/entities/:type/:id',
    { config: { scope: 'entities:write' } },
    async (req) => {
      const deleted = await audited(
        { bus: deps.bus, auditor: deps.auditor },
        req,
        { action: 'entity.delete', target: `${req.params.type}:${req.params.id}` },
        () => policy.deleteEntity(req.params.type, req.params.id),
      );
      if (!deleted)
        throw new RampartError('RAMPART_E_NOT_FOUND', `no entity ${req.params.type}:${req.params.id}`);
      return { deleted: true };
    },
  );
}
