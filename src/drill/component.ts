// The drill component's door: the control plane's half of `rampart drill`. It keeps which drills
// are active (only then may their agents, drill:ID:NAME, run: the server asks `refusal` beside
// the response engine's blocks), records what each drill found (a drill.scenario_failed event for
// every scenario that did not hold, which opens an incident; drill.finished with the figures),
// and shows the last drill in health and /metrics. The attacks themselves are runs of the drill's
// agents, started by the CLI (runner.ts), so they meet every control exactly as an agent would.

import type { Component } from '../core/component.js';
import type { MetaStore } from '../store/types.js';
import { drillRoutes } from './routes.js';
import { DrillService, type DrillBus } from './service.js';

export interface DrillDeps {
  readonly meta: MetaStore;
  readonly bus: DrillBus;
  readonly now?: () => number;
}

export interface DrillComponent extends Component {
  /** Why an agent of the drills' namespace may not run or get a token now; undefined for others. */
  refusal(agent: string): string | undefined;
}

export async function startDrill(deps: DrillDeps): Promise<DrillComponent> {
  const service = await DrillService.start({ meta: deps.meta, bus: deps.bus, now: deps.now ?? Date.now });
  const last = (): NonNullable<ReturnType<DrillService['lastSummary']>> | undefined => service.lastSummary();
  return {
    name: 'drill',
    refusal: (agent) => service.refusal(agent),
    routes: drillRoutes(service),
    health: () => service.health(),
    metrics: [
      {
        kind: 'gauge',
        name: 'rampart_drill_active',
        help: 'Drills active now.',
        read: () => service.activeCount(),
      },
      {
        kind: 'gauge',
        name: 'rampart_drill_last_scenarios',
        help: 'Scenarios of the last drill, by status (held, failed, unavailable).',
        label: 'status',
        read: () => {
          const s = last();
          return { held: s?.held ?? 0, failed: s?.failed ?? 0, unavailable: s?.unavailable ?? 0 };
        },
      },
      {
        kind: 'gauge',
        name: 'rampart_drill_last_finished_timestamp_seconds',
        help: 'When the last drill finished (Unix time; 0 before the first).',
        read: () => {
          const t = service.lastFinished();
          return t ? Date.parse(t) / 1000 : 0;
        },
      },
      {
        kind: 'gauge',
        name: 'rampart_drill_last_contain_seconds',
        help: "Act to containment in the last drill's containment scenarios, by quantile (p50, p99, max).",
        label: 'quantile',
        read: (): Record<string, number> => {
          const c = last()?.containMs;
          return c ? { p50: c.p50 / 1000, p99: c.p99 / 1000, max: c.max / 1000 } : {};
        },
      },
    ],
    subscriptions: [
      { name: 'drill', types: ['drill.started', 'drill.finished'], handle: (se) => service.follow(se) },
    ],
    stop: async () => undefined,
  };
}
