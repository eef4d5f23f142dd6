// How the control plane takes a component in: its routes onto the HTTP server (with the scope,
// schema, body limit and error shape each declares), its health check, its metrics (read from
// its own counters at scrape time) and its event subscriptions. The same for every component.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiReply, ApiRequest, Component } from '../core/component.js';
import type { EventStream } from '../events/stream.js';
import type { HealthRegistry } from './health.js';
import type { Metrics } from './metrics.js';

export interface Host {
  readonly app: FastifyInstance;
  readonly health: HealthRegistry;
  readonly metrics: Metrics;
  readonly stream: EventStream;
}

/** Mounts a component; resolves with what undoes its subscriptions. */
export async function mount(host: Host, c: Component): Promise<() => void> {
  for (const r of c.routes) {
    host.app.route({
      method: r.method,
      url: r.url,
      config:
        r.scope === 'public'
          ? { public: true, ...(r.opa ? { opa: true } : {}) }
          : {
              scope: r.scope,
              ...(r.rateClass ? { rateClass: r.rateClass } : {}),
              ...(r.opa ? { opa: true } : {}),
            },
      ...(r.schema ? { schema: r.schema } : {}),
      ...(r.bodyLimit !== undefined ? { bodyLimit: r.bodyLimit } : {}),
      // fastify's request and reply are the shapes core/component.ts describes (a structural
      // subset): this is the one place that says so.
      handler: (req: FastifyRequest, reply: FastifyReply) =>
        r.handler(req as unknown as ApiRequest<never, never, never>, reply as unknown as ApiReply),
    });
  }
  if (c.health) host.health.register(c.name, c.health);
  for (const m of c.metrics)
    if (m.kind === 'histogram') m.attach(host.metrics.histogram(m.name, m.help, m.buckets));
    else host.metrics[m.kind](m.name, m.help, () => m.read(), m.label);
  const offs: (() => void)[] = [];
  for (const s of c.subscriptions)
    offs.push(
      await host.stream.subscribe({
        name: s.name,
        types: s.types,
        from: s.from ?? 'now',
        handle: (e) => s.handle(e),
      }),
    );
  return () => offs.forEach((off) => off());
}
