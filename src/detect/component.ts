// The detection component's door: rules over every recorded event (a durable subscription that
// resumes where it stopped, so a restart misses nothing), detections published as events, the
// rule set's routes (status, reload), health and metrics.

import { audited } from '../core/audited.js';
import { route, type Component } from '../core/component.js';
import type { Auditor } from '../core/types.js';
import { messageOf } from '../core/errors.js';
import { RampartError } from '../core/errors.js';
import { BASELINE_RULES, Baselines, type BaselineScope, type BaselineStore } from './baselines.js';
import { BLOCKLIST_RULE, Blocklist } from './blocklist.js';
import { DetectService, type DetectServiceOptions } from './service.js';
import { Telemetry, type TelemetryDeps } from './telemetry.js';

/** Syscalls whose refusal kernel telemetry reports: the ones only an escape needs. */
const ESCAPE_SYSCALLS = [
  'mount',
  'umount2',
  'unshare',
  'setns',
  'pivot_root',
  'chroot',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'bpf',
  'keyctl',
  'add_key',
  'request_key',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'open_by_handle_at',
  'perf_event_open',
  'userfaultfd',
  'reboot',
  'swapon',
  'acct',
  'iopl',
  'ioperm',
];

export interface DetectComponent extends Component {
  readonly service: DetectService;
  /** Kernel telemetry, when asked for (it may be degraded: see its health). */
  readonly telemetry: Telemetry | undefined;
  /** Every rule name a detection can carry now: the rule set's, the blocklist's and baselines'. */
  ruleNames(): Set<string>;
}

export interface DetectOptions extends Omit<DetectServiceOptions, 'baselines' | 'blocklist'> {
  readonly auditor: Auditor;
  /** Where baselines are kept (the store's meta; shared by replicas). Undefined: no baselines. */
  readonly baselineStore?: BaselineStore;
  /** Finished runs (and days) of a scope before what is new is reported. */
  readonly learningRuns?: number;
  readonly learningDays?: number;
  /** What baselines are kept for: agents, and profiles and namespaces when asked. */
  readonly baselineBy?: readonly BaselineScope[];
  /** Blocklist feed files. */
  readonly blocklistFiles?: readonly string[];
  /** Kernel telemetry from the runs (undefined: off). */
  readonly telemetry?: Pick<TelemetryDeps, 'binary' | 'target' | 'runOf'>;
}

/** "a1" is the agent a1; "profile:ci" and "namespace:team-a" name those scopes. */
function scopeOf(param: string): string {
  if (/^(agent|profile|namespace):./.test(param)) return param;
  if (param.includes(':'))
    throw new RampartError(
      'RAMPART_E_BAD_REQUEST',
      `a baseline is of an agent, profile:NAME or namespace:NAME, not ${param}`,
    );
  return `agent:${param}`;
}

export async function startDetect(opts: DetectOptions): Promise<DetectComponent> {
  const baselines =
    opts.baselineStore &&
    new Baselines({
      store: opts.baselineStore,
      learningRuns: opts.learningRuns ?? 20,
      learningDays: opts.learningDays ?? 0,
      by: opts.baselineBy ?? ['agent'],
      namespaceOf: (agent) => opts.agentFacts?.(agent)?.namespace || undefined,
      onError: (e) => opts.log.error({ err: messageOf(e) }, 'a baseline could not be saved'),
    });
  const blocklist = new Blocklist(opts.blocklistFiles ?? []);
  const service = await DetectService.start({ ...opts, ...(baselines ? { baselines } : {}), blocklist });
  const telemetry =
    opts.telemetry &&
    new Telemetry({ ...opts.telemetry, bus: opts.bus, log: opts.log, deny: ESCAPE_SYSCALLS });
  await telemetry?.start();
  return {
    name: 'detect',
    service,
    telemetry,
    ruleNames: () => new Set([...service.set.rules.map((r) => r.name), BLOCKLIST_RULE, ...BASELINE_RULES]),
    routes: [
      route({
        method: 'GET',
        url: '/v1/detect/rules',
        scope: 'audit:read',
        handler: async () => {
          const set = service.set;
          return {
            version: set.version,
            dirs: set.dirs,
            files: set.files,
            lists: set.lists,
            macros: set.macros,
            rules: set.rules.map((r) => ({
              name: r.name,
              priority: r.priority,
              enabled: r.enabled,
              tags: r.tags,
              types: r.types ? [...r.types] : ['*'],
              exceptions: r.exceptions.map((e) => e.name),
              threshold: r.threshold ?? null,
              compiled: r.native,
              location: `${r.location.file}:${r.location.line}:${r.location.column}`,
            })),
          };
        },
      }),
      route<unknown, { scope: string }>({
        method: 'GET',
        url: '/v1/detect/baselines/:scope',
        scope: 'audit:read',
        handler: async (req) => {
          const scope = scopeOf(req.params.scope);
          const b = baselines && (await baselines.show(scope));
          if (!b) throw new RampartError('RAMPART_E_NOT_FOUND', `no baseline for ${scope.replace(':', ' ')}`);
          return { scope, learningRuns: opts.learningRuns ?? 20, learningDays: opts.learningDays ?? 0, ...b };
        },
      }),
      route<unknown, { scope: string }>({
        method: 'POST',
        url: '/v1/detect/baselines/:scope/reset',
        scope: 'policy:write',
        handler: async (req) => {
          if (!baselines) throw new RampartError('RAMPART_E_NOT_FOUND', 'baselines are off');
          const scope = scopeOf(req.params.scope);
          return audited(
            opts.auditor,
            req.principal!.actor,
            { action: 'detect.baseline_reset', target: scope },
            async () => {
              await baselines.reset(scope, new Date().toISOString());
              return { scope, reset: true };
            },
          );
        },
      }),
      route({
        method: 'POST',
        url: '/v1/detect/reload',
        scope: 'policy:write',
        handler: async (req) =>
          audited(
            opts.auditor,
            req.principal!.actor,
            { action: 'detect.reload', target: service.set.version },
            () => service.reload(),
          ),
      }),
    ],
    health: () => {
      const rules = service.health();
      const kernel = telemetry?.health();
      if (!kernel || kernel.status === 'ok' || rules.status === 'failing')
        return kernel
          ? { ...rules, detail: `${rules.detail ?? ''}; telemetry: ${kernel.detail ?? 'ok'}` }
          : rules;
      return { status: 'degraded', detail: `${rules.detail ?? ''}; telemetry: ${kernel.detail ?? ''}` };
    },
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_detect_events_total',
        help: 'Events the rules ran over.',
        read: () => service.stats.events,
      },
      {
        kind: 'counter',
        name: 'rampart_detect_detections_total',
        help: 'Detections made (first matches and repeat summaries).',
        read: () => service.stats.detections,
      },
      {
        kind: 'counter',
        name: 'rampart_detect_matches_total',
        help: 'Rule matches by what became of them: a detection, counted on an open one, excepted.',
        label: 'fate',
        read: () => {
          const s = service.stats;
          return { detected: s.matches - s.deduplicated, deduplicated: s.deduplicated, excepted: s.excepted };
        },
      },
      {
        kind: 'counter',
        name: 'rampart_detect_rule_errors_total',
        help: 'Rule evaluations that threw (a bug; the other rules still ran).',
        read: () => service.stats.errors,
      },
      {
        kind: 'counter',
        name: 'rampart_detect_unrecorded_total',
        help: 'Detections the audit log refused: lost, and health fails until one is recorded again.',
        read: () => service.publishFailures,
      },
      {
        kind: 'gauge',
        name: 'rampart_detect_blocklist_entries',
        help: 'Domains, addresses and ranges on the blocklist.',
        read: () => blocklist.size,
      },
      {
        kind: 'gauge',
        name: 'rampart_detect_rules',
        help: 'Enabled rules in the active set.',
        read: () => service.set.rules.filter((r) => r.enabled).length,
      },
      {
        kind: 'counter',
        name: 'rampart_detect_telemetry_events_total',
        help: 'Kernel telemetry events read from the loader.',
        read: () => telemetry?.stats.events ?? 0,
      },
      {
        kind: 'counter',
        name: 'rampart_detect_telemetry_dropped_total',
        help: 'Kernel telemetry events lost: in the kernel (ring buffer full) or here (too many in flight, or not recorded).',
        label: 'where',
        read: () => ({
          kernel: telemetry?.stats.droppedKernel ?? 0,
          reader: telemetry?.stats.droppedReader ?? 0,
        }),
      },
      {
        kind: 'counter',
        name: 'rampart_detect_telemetry_skipped_total',
        help: 'Kernel telemetry events left out on purpose: reads of paths that do not matter, events of runs already gone, paths not readable at entry.',
        label: 'why',
        read: () => ({
          filtered: telemetry?.stats.filtered ?? 0,
          unknown_run: telemetry?.stats.unknownRun ?? 0,
          unreadable_path: telemetry?.stats.unreadablePaths ?? 0,
        }),
      },
      {
        kind: 'histogram',
        name: 'rampart_detect_latency_seconds',
        help: 'From an event on record to its detection on record.',
        buckets: [0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
        attach: (observe) => service.attachLatency(observe),
      },
    ],
    subscriptions: [{ name: 'detect', types: '*', from: 'stored', handle: (e) => service.handle(e) }],
    stop: async () => {
      telemetry?.stop();
      await service.stop();
    },
  };
}
