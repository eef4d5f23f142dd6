// Prometheus metrics. One registry per control plane (no global state), filled two ways: request
// metrics are observed as requests finish, and component metrics are read from each component's
// plain `stats` object at scrape time, so components do not depend on prom-client.

import client from 'prom-client';

export interface Metrics {
  readonly registry: client.Registry;
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  /** Registers a gauge whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number | Record<string, number>, label?: string): void;
  /** Registers a counter whose total is read at scrape time (from a component's stats). */
  counter(name: string, help: string, read: () => number | Record<string, number>, label?: string): void;
  /** Registers a histogram; returns the function a component observes values (seconds) with. */
  histogram(name: string, help: string, buckets: readonly number[]): (seconds: number) => void;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'rampart_' });
  const httpDuration = new client.Histogram({
    name: 'rampart_http_request_duration_seconds',
    help: 'HTTP request duration by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });

  const fill = (
    m: client.Gauge<string> | client.Counter<string>,
    value: number | Record<string, number>,
    label: string | undefined,
  ): void => {
    m.reset();
    if (typeof value === 'number') {
      if (m instanceof client.Gauge) m.set(value);
      else m.inc(value);
    } else {
      for (const [k, v] of Object.entries(value)) {
        if (m instanceof client.Gauge) m.set({ [label ?? 'key']: k }, v);
        else m.inc({ [label ?? 'key']: k }, v);
      }
    }
  };

  return {
    registry,
    httpDuration,
    gauge(name, help, read, label) {
      new client.Gauge({
        name,
        help,
        labelNames: label ? [label] : [],
        registers: [registry],
        collect() {
          fill(this, read(), label);
        },
      });
    },
    histogram(name, help, buckets) {
      const h = new client.Histogram({ name, help, buckets: [...buckets], registers: [registry] });
      return (seconds) => h.observe(seconds);
    },
    counter(name, help, read, label) {
      new client.Counter({
        name,
        help,
        labelNames: label ? [label] : [],
        registers: [registry],
        collect() {
          fill(this, read(), label);
        },
      });
    },
  };
}
