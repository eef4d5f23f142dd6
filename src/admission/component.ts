// The admission component's door: the checks `rampart check` runs, served as Kubernetes
// validating and mutating webhooks and (when configured) the Docker Engine authorization plugin on
// its unix socket, every decision audited; with its routes, health and stop.

import type { Component } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import type { AdmissionSettings } from '../core/settings.js';
import type { Auditor } from '../core/types.js';
import { startDockerPlugin, type DockerPlugin } from './dockerplugin.js';
import { EMPTY_POLICY, loadAdmissionPolicy } from './engine.js';
import { admissionRoutes } from './routes.js';
import { AdmissionService } from './service.js';

export interface AdmissionComponentDeps {
  readonly settings: AdmissionSettings;
  readonly auditor: Auditor;
  readonly clock: Clock;
  /** The redaction rules' label for a value that is a secret (no-secrets-in-env). */
  readonly secretValue: (value: string) => string | undefined;
  readonly onRecordFailure: (error: string) => void;
  /** Serve the Docker plugin (a proxy-only replica does not). */
  readonly dockerPlugin: boolean;
  /** The key Rampart's own containers and services are signed with (core/provenance.ts). */
  readonly provisionKey?: Buffer;
}

export interface AdmissionComponent extends Component {
  readonly service: AdmissionService;
}

export async function startAdmission(deps: AdmissionComponentDeps): Promise<AdmissionComponent> {
  const s = deps.settings;
  const service = new AdmissionService({
    profile: s.profile,
    policy: s.policyFile === undefined ? EMPTY_POLICY : loadAdmissionPolicy(s.policyFile),
    denyOn: s.denyOn,
    decisionLog: s.decisionLog,
    auditor: deps.auditor,
    clock: deps.clock,
    secretValue: deps.secretValue,
    onRecordFailure: deps.onRecordFailure,
    ...(deps.provisionKey ? { provisionKey: deps.provisionKey } : {}),
  });
  const plugin: DockerPlugin | undefined =
    s.dockerPluginSocket !== undefined && deps.dockerPlugin
      ? await startDockerPlugin(s.dockerPluginSocket, service)
      : undefined;
  return {
    name: 'admission',
    service,
    routes: admissionRoutes(service),
    health: () => {
      const h = service.health();
      // The plugin is part of the Engine's availability: said where an operator looks.
      return plugin
        ? {
            ...h,
            detail: `${h.detail}; Docker plugin on ${plugin.socket} (dockerd refuses every request while it is down)`,
          }
        : h;
    },
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_admission_decisions_total',
        help: 'Admission decisions (Kubernetes webhooks and the Docker plugin) by verdict.',
        read: () => service.stats.decisions,
        label: 'verdict',
      },
      {
        kind: 'histogram',
        name: 'rampart_admission_decision_seconds',
        help: 'Time from an admission request to its answer (its record queued or written).',
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        attach: (observe) => (service.observe = observe),
      },
    ],
    subscriptions: [],
    stop: async () => plugin?.close(),
  };
}
