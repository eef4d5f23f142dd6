// What inspection puts on record and in /metrics: one egress.request event per request to an
// inspected host (info when sent, medium when a credential was found and recorded, high when
// refused), and counters of connections, requests, injections, blocks and the CA's leaves.

import type { ReadMetric } from '../core/component.js';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Log } from '../core/types.js';
import type { CertificateAuthority } from './ca.js';
import type { Interceptor } from './intercept.js';
import type { RequestRecord } from './outbound.js';

export function recordRequest(bus: EventPublisher, log: Log, r: RequestRecord): void {
  const severity = r.decision !== 'allow' ? 'high' : r.findings.length > 0 ? 'medium' : 'info';
  bus
    .publish({
      type: 'egress.request',
      severity,
      source: 'egress',
      subject: { agent: r.caller.agent, run: r.caller.run },
      outcome: r.decision === 'allow' ? 'success' : r.decision === 'deny' ? 'denied' : 'failure',
      data: {
        agent: r.caller.agent,
        run: r.caller.run,
        host: r.host,
        method: r.method.slice(0, 32),
        path: r.path,
        status: r.status,
        decision: r.decision,
        reason: r.reason,
        ...(r.injected ? { injected: r.injected } : {}),
        findings: [...r.findings],
        ...(r.findingsNotListed > 0 ? { findingsNotListed: r.findingsNotListed } : {}),
        ...(r.uninspected ? { uninspected: r.uninspected } : {}),
        bytesUp: r.bytesUp,
        bytesDown: r.bytesDown,
        durationMs: r.durationMs,
      },
    })
    .catch((e: unknown) => log.error({ err: messageOf(e) }, 'could not record an inspected egress request'));
}

export function inspectionMetrics(
  inspection: { interceptor: Interceptor; ca: CertificateAuthority } | undefined,
): ReadMetric[] {
  if (!inspection) return [];
  const { interceptor: i, ca } = inspection;
  return [
    {
      kind: 'counter',
      name: 'rampart_egress_inspected_total',
      help: 'Inspected hosts: connections terminated, requests, requests given a credential, requests blocked by inspection, client handshakes that failed.',
      read: () => ({
        connections: i.stats.connections,
        requests: i.stats.requests,
        injected: i.stats.injected,
        blocked: i.stats.blocked,
        handshake_failures: i.stats.handshakeFailures,
      }),
      label: 'what',
    },
    {
      kind: 'counter',
      name: 'rampart_egress_ca_leaves_total',
      help: 'Leaf certificates for inspected hosts: signed by the CA, or served from the cache.',
      read: () => ({ issued: ca.stats.issued, cached: ca.stats.cached }),
      label: 'source',
    },
  ];
}
