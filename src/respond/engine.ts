// Carrying out one action: the same code for a playbook's step and for a person's command. Every
// action acts first and is recorded after (a respond.action event): containment never waits on
// the audit log, and a record that cannot be written is raised loudly (the `onRecordFailed`
// hook: an error line, a metric, degraded health) while the containment stands. An action on a
// run kept by another replica is sent there as an order over the store's notifications.

import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Severity } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import { drillOf, isDrillName } from '../core/drill.js';
import { ACTIONS, notifySeverity, type ActionName, type Params } from './actions.js';
import type { ContainmentState } from './state.js';

/** What the response engine needs of the sandbox component (its RunControl). */
export interface RunActions {
  /** Whether this replica keeps the run (its runner and channel are here). */
  hosts(run: string): boolean;
  /** Where the run is: kept here, by another replica, or gone. */
  where(run: string): Promise<'here' | 'elsewhere' | 'gone'>;
  freeze(run: string): Promise<'done' | 'gone'>;
  thaw(run: string): 'done' | 'gone';
  kill(run: string, reason: string, by: string): { outcome: 'done' | 'gone'; recorded: Promise<unknown> };
  quarantine(
    run: string,
    reason: string,
    by: string,
    opts: { memory?: boolean },
  ): Promise<{ outcome: 'done' | 'gone'; result?: object; recorded: Promise<unknown> }>;
  cutEgress(run: string): 'done' | 'gone';
  destroyAll(reason: string, by: string): { ids: string[]; recorded: Promise<unknown> };
}

/** What it needs of the secrets broker. */
export interface SecretActions {
  revoke(
    selector: { run: string } | { agent: string },
    reason: string,
    by: string,
  ): Promise<{ revoked: number; failed: number }>;
  rotate(vault: string, name: string, by: string): Promise<unknown>;
}

export interface Actuators {
  /** Absent (no sandbox here): run actions fail, and fail closed has nothing to fall back on. */
  readonly runs?: RunActions;
  /** Revokes tokens (identity): of a run, or of an agent. */
  readonly revokeTokens: (kind: 'run' | 'agent', id: string, why: string, by: string) => Promise<unknown>;
  readonly secrets?: SecretActions;
  /** Sends an order to every replica (the one keeping the run carries it out). */
  readonly order?: (o: Order) => Promise<void>;
}

/** An action on a run, sent to the replica that keeps it. */
export interface Order {
  readonly id: string;
  readonly action: ActionName;
  readonly params: Params;
  readonly run: string;
  readonly agent: string;
  readonly reason: string;
  readonly by: string;
  readonly playbook?: string;
  readonly rule?: string;
  readonly detection?: number;
}

/** Who and what an action is for. */
export interface ActionContext {
  readonly run: string;
  readonly agent: string;
  readonly reason: string;
  readonly by: string;
  readonly playbook?: string;
  readonly rule?: string;
  readonly priority?: Severity;
  readonly output?: string;
  /** The detection's rule tags (notification channels route on them). */
  readonly tags?: readonly string[];
  readonly detection?: number;
  readonly detectionAt?: number;
  readonly fields?: Readonly<Record<string, string>>;
  readonly order?: string;
}

export interface ActionResult {
  readonly outcome: 'done' | 'gone' | 'ordered' | 'confined';
  readonly target: string;
  readonly detail?: Record<string, unknown>;
}

export interface ExecutorDeps {
  readonly actuators: Actuators;
  readonly state: ContainmentState;
  readonly bus: EventPublisher;
  readonly now: () => number;
  readonly onRecordFailed: (e: unknown, what: string) => void;
}

const DEFAULT_BAN_MS = 3_600_000;

/**
 * What a drill's playbooks may not do: act on everyone (a ban at the proxy, severing external
 * traffic, the kill switch) or on shared secrets. A drill's actions stay on its own runs and agent.
 */
const BEYOND_A_DRILL: ReadonlySet<ActionName> = new Set([
  'ban_destination',
  'sever_external',
  'destroy_all',
  'rotate_secrets',
]);

export class Executor {
  constructor(private readonly deps: ExecutorDeps) {}

  /** Carries out one action; throws when it fails. */
  async perform(action: ActionName, params: Params, ctx: ActionContext): Promise<ActionResult> {
    const { actuators: a, state } = this.deps;
    const drill = drillOf(ctx.agent);
    if (isDrillName(ctx.agent) && BEYOND_A_DRILL.has(action))
      return { outcome: 'confined', target: 'drill', detail: { drill: drill ?? 'malformed' } };
    const mark = { by: ctx.by, reason: ctx.reason, at: new Date(this.deps.now()).toISOString() };
    const onRun = async (
      fn: (runs: RunActions) => Promise<'done' | 'gone'> | 'done' | 'gone',
    ): Promise<ActionResult> => {
      if (!ctx.run) return { outcome: 'gone', target: 'run:<none>' };
      const target = `run:${ctx.run}`;
      if (!a.runs) throw new Error('no sandbox component on this replica');
      // The common case, a run kept here, costs no store read.
      const where = a.runs.hosts(ctx.run) ? 'here' : await a.runs.where(ctx.run);
      if (where === 'gone') return { outcome: 'gone', target };
      if (where === 'elsewhere') {
        if (!a.order || ctx.order) return { outcome: 'gone', target };
        await a.order({
          id: randomUUID(),
          action,
          params,
          run: ctx.run,
          agent: ctx.agent,
          reason: ctx.reason,
          by: ctx.by,
          ...(ctx.playbook ? { playbook: ctx.playbook } : {}),
          ...(ctx.rule ? { rule: ctx.rule } : {}),
          ...(ctx.detection !== undefined ? { detection: ctx.detection } : {}),
        });
        return { outcome: 'ordered', target };
      }
      return { outcome: await fn(a.runs), target };
    };
    switch (action) {
      case 'notify': {
        await this.deps.bus.publish({
          type: 'respond.notify',
          severity: notifySeverity(params, ctx.priority ?? 'high'),
          source: 'respond',
          subject: this.subject(ctx),
          data: {
            message: typeof params['message'] === 'string' ? params['message'] : ctx.reason,
            ...this.about(ctx),
            ...(ctx.output ? { output: ctx.output } : {}),
            ...(ctx.tags && ctx.tags.length > 0 ? { tags: [...ctx.tags] } : {}),
          },
        });
        return { outcome: 'done', target: 'people' };
      }
      case 'freeze':
        return onRun((r) => r.freeze(ctx.run));
      case 'thaw':
        return onRun((r) => r.thaw(ctx.run));
      case 'kill':
        return onRun((r) => this.later(r.kill(ctx.run, ctx.reason, ctx.by), 'a kill'));
      case 'quarantine': {
        let detail: Record<string, unknown> | undefined;
        const r = await onRun(async (runs) => {
          const q = await runs.quarantine(ctx.run, ctx.reason, ctx.by, {
            ...(typeof params['memory'] === 'boolean' ? { memory: params['memory'] } : {}),
          });
          if (q.result) detail = { evidence: q.result };
          return this.later(q, 'a quarantine');
        });
        return detail ? { ...r, detail } : r;
      }
      case 'cut_egress':
        return onRun((r) => r.cutEgress(ctx.run));
      case 'revoke_tokens': {
        const agentWide = params['scope'] === 'agent';
        const id = agentWide ? ctx.agent : ctx.run;
        if (!id) return { outcome: 'gone', target: agentWide ? 'agent:<none>' : 'run:<none>' };
        await a.revokeTokens(agentWide ? 'agent' : 'run', id, ctx.reason, ctx.by);
        return { outcome: 'done', target: `${agentWide ? 'agent' : 'run'}:${id}` };
      }
      case 'ban_destination': {
        const target = destinationOf(ctx.fields ?? {});
        if (!target) return { outcome: 'gone', target: 'destination:<none>' };
        const ms =
          typeof params['for'] === 'string'
            ? (parseDuration(params['for']) ?? DEFAULT_BAN_MS)
            : DEFAULT_BAN_MS;
        const until = this.deps.now() + ms;
        await state.setBan(target, { ...mark, until });
        return {
          outcome: 'done',
          target: `destination:${target}`,
          detail: { until: new Date(until).toISOString() },
        };
      }
      case 'block_agent': {
        if (!ctx.agent) return { outcome: 'gone', target: 'agent:<none>' };
        await state.setBlocked(ctx.agent, mark);
        return { outcome: 'done', target: `agent:${ctx.agent}` };
      }
      case 'revoke_secrets': {
        if (!a.secrets) throw new Error('no secrets broker on this replica');
        const agentWide = params['scope'] === 'agent';
        const id = agentWide ? ctx.agent : ctx.run;
        if (!id) return { outcome: 'gone', target: agentWide ? 'agent:<none>' : 'run:<none>' };
        const r = await a.secrets.revoke(agentWide ? { agent: id } : { run: id }, ctx.reason, ctx.by);
        if (r.failed > 0) throw new Error(`${r.failed} lease(s) could not be revoked (${r.revoked} were)`);
        return {
          outcome: 'done',
          target: `${agentWide ? 'agent' : 'run'}:${id}`,
          detail: { revoked: r.revoked },
        };
      }
      case 'rotate_secrets': {
        if (!a.secrets) throw new Error('no secrets broker on this replica');
        const refs = (params['secrets'] as string[] | undefined) ?? [];
        const failed: string[] = [];
        for (const ref of refs) {
          const [vault, name] = ref.split('/') as [string, string];
          await a.secrets
            .rotate(vault, name, ctx.by)
            .catch((e: unknown) => failed.push(`${ref}: ${messageOf(e)}`));
        }
        if (failed.length > 0) throw new Error(`rotation failed for ${failed.join('; ')}`);
        return { outcome: 'done', target: `secrets:${refs.join(',')}` };
      }
      case 'sever_external':
        await state.setSevered(mark);
        return { outcome: 'done', target: 'external' };
      case 'destroy_all': {
        if (!a.runs) throw new Error('no sandbox component on this replica');
        const d = a.runs.destroyAll(ctx.reason, ctx.by);
        this.later({ outcome: 'done', recorded: d.recorded }, 'the kill switch');
        return { outcome: 'done', target: 'all', detail: { runs: d.ids.length } };
      }
    }
  }

  /** Records an action's outcome; a failing record is raised, never thrown. */
  record(
    action: ActionName,
    outcome: 'done' | 'gone' | 'failed' | 'dry_run' | 'ordered' | 'replaced' | 'confined',
    target: string,
    ctx: ActionContext,
    extra: {
      ms: number;
      error?: string;
      fallback?: string;
      detail?: Record<string, unknown>;
      params?: Params;
    },
  ): Promise<void> {
    const severity: Severity =
      outcome === 'failed' ? 'high' : ACTIONS[action].destructive && outcome === 'done' ? 'high' : 'medium';
    return this.deps.bus
      .publish({
        type: 'respond.action',
        severity,
        source: 'respond',
        subject: this.subject(ctx),
        outcome: outcome === 'failed' ? 'failure' : 'success',
        data: {
          action,
          outcome,
          target,
          by: ctx.by,
          reason: ctx.reason,
          ...this.about(ctx),
          ms: Math.round(extra.ms * 100) / 100,
          ...(ctx.detectionAt !== undefined
            ? { sinceDetectionMs: Math.max(0, Math.round((this.deps.now() - ctx.detectionAt) * 100) / 100) }
            : {}),
          ...(extra.error ? { error: extra.error } : {}),
          ...(extra.fallback ? { fallback: extra.fallback } : {}),
          ...(ctx.order ? { order: ctx.order } : {}),
          ...(extra.params && Object.keys(extra.params).length > 0
            ? { parameters: { ...extra.params } }
            : {}),
          ...(extra.detail ? { detail: extra.detail } : {}),
        },
      })
      .then(
        () => undefined,
        (e: unknown) => this.deps.onRecordFailed(e, `${action} on ${target}`),
      );
  }

  /** Hands a containment's own records (the run's end) to the loud failure path; the action stands. */
  private later(r: { outcome: 'done' | 'gone'; recorded: Promise<unknown> }, what: string): 'done' | 'gone' {
    r.recorded.catch((e: unknown) => this.deps.onRecordFailed(e, what));
    return r.outcome;
  }

  private subject(ctx: ActionContext): { agent?: string; run?: string } {
    return { ...(ctx.agent ? { agent: ctx.agent } : {}), ...(ctx.run ? { run: ctx.run } : {}) };
  }

  private about(ctx: ActionContext): {
    playbook?: string;
    rule?: string;
    detection?: number;
    run?: string;
    agent?: string;
  } {
    return {
      ...(ctx.playbook ? { playbook: ctx.playbook } : {}),
      ...(ctx.rule ? { rule: ctx.rule } : {}),
      ...(ctx.detection !== undefined ? { detection: ctx.detection } : {}),
      ...(ctx.run ? { run: ctx.run } : {}),
      ...(ctx.agent ? { agent: ctx.agent } : {}),
    };
  }
}

/** The address a detection names: net.address, or net.host when it is an IP literal. */
export function destinationOf(fields: Readonly<Record<string, string>>): string | undefined {
  const addr = fields['net.address'];
  if (addr && isIP(addr)) return addr;
  const host = fields['net.host']?.replace(/^\[|\]$/g, '');
  return host && isIP(host) ? host : undefined;
}
