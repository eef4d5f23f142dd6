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
  });
  const plugin: DockerPlugin | undefined =
    s.dockerPluginSocket !== undefined && deps.dockerPlugin
      ? await startDockerPlugin(s.dockerPluginSocket, service)
      : undefined;
  return {
    name: 'admission',
    service,
    routes: admissionRoutes(service),
    health: () => service.health(),
    metrics: [],
    subscriptions: [],
    stop: async () => plugin?.close(),
  };
}
