// The sandbox component's door: runs under bubblewrap on this host, and the run registry the
// control plane keeps for them (registration, ends, kills, quarantine, the kill switch; runners
// watched and runs reconciled at start-up), with its routes, health, metrics and stop. It asks
// the identity component for run tokens and the egress component for run channels through the
// interfaces it is given.

import type { ChannelListener, Component } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import type { SandboxSettings } from '../core/settings.js';
import type { Auditor, Log } from '../core/types.js';
import type { RunStore } from '../store/types.js';
import { join } from 'node:path';
import { RunControl } from './control.js';
import { RunLife } from './life.js';
import { EGRESS_SOCKET } from './runner.js';
import { runRoutes, runStats, type RunChannels, type RunTokens } from './routes.js';
import { SandboxService } from './service.js';

export interface SandboxComponentDeps {
  readonly settings: SandboxSettings;
  readonly runs: RunStore;
  readonly events: EventPublisher;
  readonly auditor: Auditor;
  readonly log: Log;
  readonly tokens: RunTokens;
  readonly agentNamespace: (agent: string) => string | undefined;
  /** Listens on run channels, when the egress proxy runs in this process. */
  readonly egress?: ChannelListener;
  /** Reconcile this host's runs now (not in a proxy-only replica). */
  readonly reconcile: boolean;
  /** Why kernel telemetry is not watching runs (undefined: it is), for profiles that require it. */
  readonly telemetryDown?: () => string | undefined;
  /** Why an agent may start no run now (the response engine's block), or undefined. */
  readonly agentBlocked?: (agent: string) => string | undefined;
}

export interface SandboxComponent extends Component {
  readonly service: SandboxService;
  readonly life: RunLife;
  /** Kill, quarantine, freeze, thaw, cut a run's egress, the kill switch (routes and playbooks). */
  readonly control: RunControl;
}

export async function startSandbox(deps: SandboxComponentDeps): Promise<SandboxComponent> {
  const service = SandboxService.create(deps.settings);
  const disarmFreezer = service.armFreezer();
  const stats = runStats();
  const egress = deps.egress;
  // A run's channel is the proxy's socket in a directory the sandbox binds into the run, owned by
  // the run's own uid with mode 0600: no other run's processes can use it.
  const channels: RunChannels | undefined = egress && {
    open: (run, agent, uid) =>
      egress.openChannel(join(service.channelDir(run), EGRESS_SOCKET), { run, agent }, { uid, gid: uid }),
    close: (run) => {
      egress.closeChannel(run);
      service.removeChannelDir(run);
    },
  };
  const life = new RunLife({
    sandbox: service,
    runs: deps.runs,
    bus: deps.events,
    logger: deps.log,
    revoke: (run, why, by) => deps.tokens.revoke('run', run, why, by, { severity: 'info' }),
    ...(channels ? { channels } : {}),
  });
  if (deps.reconcile) await life.reconcile();
  const control = new RunControl({
    sandbox: service,
    life,
    identity: deps.tokens,
    bus: deps.events,
    stats,
    ...(channels ? { channels } : {}),
  });
  return {
    name: 'sandbox',
    service,
    life,
    control,
    routes: runRoutes({
      sandbox: service,
      life,
      identity: deps.tokens,
      bus: deps.events,
      auditor: deps.auditor,
      agentNamespace: deps.agentNamespace,
      stats,
      control,
      ...(deps.agentBlocked ? { agentBlocked: deps.agentBlocked } : {}),
      ...(channels ? { channels } : {}),
      ...(deps.telemetryDown ? { telemetryDown: deps.telemetryDown } : {}),
    }),
    health: () => service.health(),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_runs_started_total',
        help: 'Runs registered and let start.',
        read: () => stats.started,
      },
      {
        kind: 'gauge',
        name: 'rampart_runs_active',
        help: 'Runs running on this host now.',
        read: () => service.list().filter((r) => r.status === 'running').length,
      },
      {
        kind: 'counter',
        name: 'rampart_runs_ended_total',
        help: 'Runs ended, by how: exited, timeout, error, killed, quarantined (runner deaths: runners_lost).',
        read: () => stats.ended,
        label: 'reason',
      },
      {
        kind: 'counter',
        name: 'rampart_runs_limit_hits_total',
        help: 'Runs that hit a limit, by limit: memory, pids, timeout.',
        read: () => stats.limits,
        label: 'limit',
      },
      {
        kind: 'histogram',
        name: 'rampart_runs_start_seconds',
        help: "The control plane's part of starting a run: its record durable, its channel open, its token issued.",
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        attach: (observe) => (stats.observeStart = observe),
      },
      {
        kind: 'counter',
        name: 'rampart_runs_runners_lost_total',
        help: 'Runs ended by the control plane because their runner died.',
        read: () => life.stats.runnersLost,
      },
    ],
    subscriptions: [],
    stop: async () => {
      life.stop();
      await service.drain();
      service.removeParentIfEmpty();
      disarmFreezer();
    },
  };
}
