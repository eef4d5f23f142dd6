// Audit API: records, checkpoints and proofs. Proofs are served as hex hashes together with the
// signed checkpoint they lead to, so a client can check them offline with nothing but the
// verifier key (`rampart audit verify-proof`).

import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../audit/log.js';
import type { EventBus } from '../../events/bus.js';
import { audited } from '../http.js';

export interface AuditRouteDeps {
  readonly audit: AuditLog;
  readonly bus: EventBus;
  readonly vkey: string;
}

const intQuery = (max: number) => ({ type: 'integer', minimum: 0, maximum: max }) as const;

export function registerAuditRoutes(app: FastifyInstance, deps: AuditRouteDeps): void {
  const { audit } = deps;

  app.get<{ Querystring: { from?: number; limit?: number } }>(
    '/v1/audit/records',
    {
      config: { scope: 'audit:read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: intQuery(Number.MAX_SAFE_INTEGER),
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
          },
        },
      },
    },
    async (req) => {
      const head = await audit.head();
      const limit = req.query.limit ?? 100;
      const from = req.query.from ?? Math.max(0, head.size - limit);
      return { size: head.size, records: await audit.read(from, limit) };
    },
  );

  app.get('/v1/audit/head', { config: { scope: 'audit:read' } }, async () => {
    const head = await audit.head();
    return { size: head.size, stats: audit.stats };
  });

  app.get('/v1/audit/vkey', { config: { scope: 'audit:read' } }, async (_req, reply) =>
    reply.type('text/plain').send(deps.vkey + '\n'),
  );

  app.get('/v1/audit/checkpoints/latest', { config: { scope: 'audit:read' } }, async (_req, reply) => {
    const cp = await audit.checkpoint(false);
    return reply.type('text/plain').send(cp.note);
  });

  app.post('/v1/audit/checkpoints', { config: { scope: 'admin' } }, async (req, reply) => {
    const cp = await audited(
      { bus: deps.bus, auditor: audit },
      req,
      { action: 'audit.checkpoint', target: 'audit' },
      () => audit.checkpoint(true),
    );
    return reply.code(201).type('text/plain').send(cp.note);
  });

  app.get<{ Querystring: { seq: number } }>(
    '/v1/audit/proofs/inclusion',
    {
      config: { scope: 'audit:read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['seq'],
          properties: { seq: intQuery(Number.MAX_SAFE_INTEGER) },
        },
      },
    },
    async (req) => audit.inclusionProof(req.query.seq),
  );

  app.get<{ Querystring: { from: number; to: number } }>(
    '/v1/audit/proofs/consistency',
    {
      config: { scope: 'audit:read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { from: intQuery(Number.MAX_SAFE_INTEGER), to: intQuery(Number.MAX_SAFE_INTEGER) },
        },
      },
    },
    async (req) => audit.consistencyProof(req.query.from, req.query.to),
  );
}
