// Audit API: records, checkpoints and proofs. Proofs are served as hex hashes together with the
// signed checkpoint they lead to, so a client can check them offline with nothing but the
// verifier key (`rampart audit verify-proof`).

import { audited } from '../core/audited.js';
import { route, type Route } from '../core/component.js';
import type { AuditLog } from './log.js';

const intQuery = (max: number) => ({ type: 'integer', minimum: 0, maximum: max }) as const;
const MAX = Number.MAX_SAFE_INTEGER;

export function auditRoutes(audit: AuditLog, vkey: string): Route<never, never, never>[] {
  return [
    route<unknown, unknown, { from?: number; limit?: number }>({
      method: 'GET',
      url: '/v1/audit/records',
      scope: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: intQuery(MAX), limit: { type: 'integer', minimum: 1, maximum: 10000 } },
        },
      },
      handler: async (req) => {
        const head = await audit.head();
        const limit = req.query.limit ?? 100;
        const from = req.query.from ?? Math.max(0, head.size - limit);
        return { size: head.size, records: await audit.read(from, limit) };
      },
    }),
    // Record search in the database, newest first: the console's search and a run's timeline
    // (every record naming the run: its events, policy decisions, pushes, leases).
    route<unknown, unknown, { q: string; limit?: number; before?: number }>({
      method: 'GET',
      url: '/v1/audit/search',
      scope: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['q'],
          properties: {
            q: { type: 'string', minLength: 1, maxLength: 256 },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            before: intQuery(MAX),
          },
        },
      },
      handler: async (req) => audit.searchNewest([req.query.q], req.query.limit ?? 100, req.query.before),
    }),
    route({
      method: 'GET',
      url: '/v1/audit/head',
      scope: 'audit:read',
      handler: async () => ({ size: (await audit.head()).size, stats: audit.stats }),
    }),
    route({
      method: 'GET',
      url: '/v1/audit/vkey',
      scope: 'audit:read',
      handler: async (_req, reply) => reply.type('text/plain').send(vkey + '\n'),
    }),
    route({
      method: 'GET',
      url: '/v1/audit/checkpoints/latest',
      scope: 'audit:read',
      handler: async (_req, reply) => reply.type('text/plain').send((await audit.checkpoint(false)).note),
    }),
    route({
      method: 'POST',
      url: '/v1/audit/checkpoints',
      scope: 'admin',
      handler: async (req, reply) => {
        const cp = await audited(
          audit,
          req.principal!.actor,
          { action: 'audit.checkpoint', target: 'audit' },
          () => audit.checkpoint(true),
        );
        return reply.code(201).type('text/plain').send(cp.note);
      },
    }),
    route<unknown, unknown, { seq: number }>({
      method: 'GET',
      url: '/v1/audit/proofs/inclusion',
      scope: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['seq'],
          properties: { seq: intQuery(MAX) },
        },
      },
      handler: async (req) => audit.inclusionProof(req.query.seq),
    }),
    route<unknown, unknown, { from: number; to: number }>({
      method: 'GET',
      url: '/v1/audit/proofs/consistency',
      scope: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { from: intQuery(MAX), to: intQuery(MAX) },
        },
      },
      handler: async (req) => audit.consistencyProof(req.query.from, req.query.to),
    }),
  ];
}
