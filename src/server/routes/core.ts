// Liveness, component health and metrics.

import type { FastifyInstance } from 'fastify';
import type { HealthRegistry } from '../health.js';
import type { Metrics } from '../metrics.js';

export interface CoreRouteDeps {
  readonly health: HealthRegistry;
  readonly metrics: Metrics;
  readonly metricsAuth: boolean;
}

export function registerCoreRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  // Liveness only: the process answers. Readiness and detail are in /v1/health.
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/v1/health', { config: { scope: 'any' } }, async (_req, reply) => {
    const report = await deps.health.report();
    return reply.code(report.status === 'failing' ? 503 : 200).send(report);
  });

  app.get(
    '/metrics',
    { config: deps.metricsAuth ? { scope: 'metrics:read' } : { public: true } },
    async (_req, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
}
