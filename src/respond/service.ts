// The response service: the active playbook set (hot-reloaded, every activation on record with
// its hash), what a detection sets off (the playbooks it matches, their escalation level, each
// step through the circuit breaker and its failure mode), a person's commands (the same steps),
// and orders from other replicas for the runs this one keeps.
//
// Detections are taken from the event stream after they are on record. Each detection's steps
// run in order on a chain per run (a slow quarantine on one run never delays freezing another),
// and the subscription waits only when too many detections are in flight (back-pressure).

import { describeProblems, messageOf } from '../core/errors.js';
import type { EventMap, EventPublisher, StreamEvent } from '../core/events.js';
import type { ComponentHealth, Log } from '../core/types.js';
import { watchDirs } from '../core/dirset.js';
import { ACTIONS, type ActionName, type Params } from './actions.js';
import { Breaker, scopesOf, type BreakerLimits } from './breaker.js';
import { Executor, destinationOf, type ActionContext, type Actuators, type Order } from './engine.js';
import {
  loadPlaybooks,
  playbookSetVersion,
  type LoadOptions,
  type Playbook,
  type PlaybookSet,
  type Step,
} from './playbooks.js';
import type { ContainmentState } from './state.js';

export interface RespondServiceOptions {
  readonly dirs: readonly string[];
  readonly watch: boolean;
  /** Every playbook records what it would do and does nothing. */
  readonly dryRun: boolean;
  readonly breaker: BreakerLimits;
  readonly load: () => LoadOptions;
  readonly actuators: Actuators;
  readonly state: ContainmentState;
  readonly bus: EventPublisher;
  readonly log: Log;
  readonly now?: () => number;
}

export interface RespondStats {
  detections: number;
  matched: number;
  actions: Record<string, number>;
  /** Steps not taken again on a run that already had them. */
  skipped: number;
  /** Steps a tripped breaker stopped (non-containment) or turned into a freeze. */
  suppressed: number;
  replaced: number;
  failed: number;
  recordFailures: number;
  orders: number;
}

/** Detections in flight before the subscription waits. */
const MAX_IN_FLIGHT = 1_000;
/** Runs remembered for "already done" (oldest forgotten first). */
const MAX_DONE = 20_000;

export class RespondService {
  private current: PlaybookSet;
  private readonly breaker: Breaker;
  readonly executor: Executor;
  readonly stats: RespondStats = {
    detections: 0,
    matched: 0,
    actions: {},
    skipped: 0,
    suppressed: 0,
    replaced: 0,
    failed: 0,
    recordFailures: 0,
    orders: 0,
  };
  private lastError: string | undefined;
  private recordFailedAt: { at: string; what: string; error: string } | undefined;
  private unwatch: (() => void) | undefined;
  /** Steps taken per run ("freeze\0run"), so a storm of detections on one run acts once. */
  private readonly done = new Set<string>();
  /** Detections per playbook and run or agent, for escalation: times, oldest first. */
  private readonly seen = new Map<string, number[]>();
  private readonly chains = new Map<string, Promise<void>>();
  private inFlight = 0;
  private drained: (() => void) | undefined;

  private constructor(
    private readonly opts: RespondServiceOptions,
    set: PlaybookSet,
  ) {
    this.current = set;
    this.breaker = new Breaker(opts.breaker);
    for (const [scope, t] of opts.state.state.trips) this.breaker.restore(scope, t.limit, Date.parse(t.at));
    this.executor = new Executor({
      actuators: opts.actuators,
      state: opts.state,
      bus: opts.bus,
      now: () => this.now(),
      onRecordFailed: (e, what) => this.recordFailed(e, what),
    });
  }

  /** Loads the playbooks (a set that does not load refuses the start). */
  static async start(opts: RespondServiceOptions): Promise<RespondService> {
    const svc = new RespondService(opts, loadPlaybooks(opts.dirs, opts.load()));
    await svc.announce(svc.current, '');
    if (opts.watch) svc.unwatch = watchDirs(opts.dirs, () => void svc.reload().catch(() => undefined));
    return svc;
  }

  get set(): PlaybookSet {
    return this.current;
  }

  trips(): { scope: string; limit: number; at: number }[] {
    return this.breaker.list();
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  async reload(): Promise<{ version: string; changed: boolean }> {
    const serving = this.current.version;
    if (playbookSetVersion(this.opts.dirs) === serving) return { version: serving, changed: false };
    let next: PlaybookSet;
    try {
      next = loadPlaybooks(this.opts.dirs, this.opts.load());
    } catch (e) {
      const errors = describeProblems(e);
      this.lastError = errors[0];
      await this.opts.bus.publish({
        type: 'respond.playbooks_load_failed',
        severity: 'high',
        source: 'respond',
        outcome: 'failure',
        data: { dirs: [...this.opts.dirs], serving, errors: errors.slice(0, 50) },
      });
      throw e;
    }
    await this.announce(next, serving);
    this.current = next;
    this.lastError = undefined;
    return { version: next.version, changed: true };
  }

  private async announce(set: PlaybookSet, previous: string): Promise<void> {
    await this.opts.bus.publish({
      type: 'respond.playbooks_activated',
      severity: 'info',
      source: 'respond',
      data: {
        version: set.version,
        previous,
        dirs: [...set.dirs],
        files: set.files.length,
        playbooks: set.playbooks.length,
      },
    });
    this.opts.log.info(
      { version: set.version, previous, playbooks: set.playbooks.length },
      'playbooks activated',
    );
  }

  /** The subscription's handler: a detection, after it is on record. */
  async handle(se: StreamEvent): Promise<void> {
    if (se.event.type !== 'detect.detection') return;
    const d = se.event.data as EventMap['detect.detection'];
    this.stats.detections++;
    const view = { rule: d.rule, priority: d.priority, tags: d.tags, fields: d.fields ?? {} };
    const matched = this.current.playbooks.filter((p) => p.enabled && p.matches(view));
    if (matched.length === 0) return;
    this.stats.matched++;
    const at = Date.parse(se.time);
    const work = async (): Promise<void> => {
      for (const p of matched) {
        const ctx: ActionContext = {
          run: d.run,
          agent: d.agent,
          reason: `playbook ${p.name} on detection ${se.seq} (${d.rule}): ${d.output}`.slice(0, 500),
          by: `playbook:${p.name}`,
          playbook: p.name,
          rule: d.rule,
          priority: d.priority,
          output: d.output,
          tags: d.tags,
          detection: se.seq,
          detectionAt: Number.isFinite(at) ? at : this.now(),
          fields: d.fields ?? {},
        };
        await this.runPlaybook(p, this.stepsFor(p, d.run, d.agent, d.count), ctx);
      }
    };
    // One chain per run: its steps in order, other runs in parallel.
    const key = d.run || `agent:${d.agent}`;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(work)
      .catch((e: unknown) => this.opts.log.error({ err: messageOf(e) }, 'a playbook failed'));
    this.chains.set(key, next);
    this.inFlight++;
    void next.finally(() => {
      this.inFlight--;
      if (this.chains.get(key) === next) this.chains.delete(key);
      const drained = this.drained;
      if (drained && this.inFlight < MAX_IN_FLIGHT / 2) {
        this.drained = undefined;
        drained();
      }
    });
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (this.drained = r));
  }

  /** The steps a detection sets off: the highest escalation level it reaches, else the playbook's own. */
  private stepsFor(p: Playbook, run: string, agent: string, count: number): readonly Step[] {
    const e = p.escalation;
    if (!e) return p.actions;
    const key = `${p.name}\0${e.by === 'run' ? run : agent}`;
    const now = this.now();
    const times = (this.seen.get(key) ?? []).filter((t) => t > now - e.windowMs);
    for (let i = 0; i < Math.max(1, count); i++) times.push(now);
    this.seen.set(key, times.slice(-1000));
    if (this.seen.size > MAX_DONE) this.seen.delete(this.seen.keys().next().value!);
    let steps = p.actions;
    for (const level of e.levels) if (times.length >= level.after) steps = level.actions;
    return steps;
  }

  private async runPlaybook(p: Playbook, steps: readonly Step[], ctx: ActionContext): Promise<void> {
    const dry = p.dryRun || this.opts.dryRun;
    for (const step of steps) {
      const spec = ACTIONS[step.action];
      const doneKey =
        spec.target === 'run' ? `${step.action}\0${JSON.stringify(step.params)}\0${ctx.run}` : undefined;
      if ((doneKey && this.done.has(doneKey)) || this.inForce(step.action, ctx)) {
        this.stats.skipped++;
        continue;
      }
      if (dry) {
        // Remembered like a step taken, so a dry run records what a real one would do: once.
        if (doneKey) this.remember(doneKey);
        await this.executor.record(step.action, 'dry_run', this.targetOf(step.action, ctx), ctx, {
          ms: 0,
          params: step.params,
        });
        continue;
      }
      if (!spec.containment) {
        const scopes = scopesOf(p.name, step.action, ctx.agent);
        const tripped = this.breaker.charge(scopes, this.now());
        if (tripped) {
          if (tripped.fresh) await this.tripped(tripped.trip.scope, tripped.trip.limit, ctx);
          if (spec.destructive && ctx.run && !this.done.has(`freeze\0{}\0${ctx.run}`)) {
            // Containment does not switch off: the run is frozen instead, reversibly.
            this.stats.replaced++;
            this.remember(`freeze\0{}\0${ctx.run}`);
            void this.executor.record(step.action, 'replaced', this.targetOf(step.action, ctx), ctx, {
              ms: 0,
              params: step.params,
            });
            await this.step('freeze', {}, 'escalate', {
              ...ctx,
              reason: `${ctx.reason} [breaker ${tripped.trip.scope}: ${step.action} replaced by freeze]`,
            });
          } else this.stats.suppressed++;
          continue;
        }
      }
      if (doneKey) this.remember(doneKey);
      await this.step(step.action, step.params, step.onFailure, ctx);
    }
  }

  /** One action with its failure mode; resolves once it is done and its record is asked for. */
  async step(
    action: ActionName,
    params: Params,
    onFailure: Step['onFailure'],
    ctx: ActionContext,
  ): Promise<{ outcome: string; target: string; detail?: Record<string, unknown>; error?: string }> {
    const t0 = performance.now();
    try {
      const r = await this.executor.perform(action, params, ctx);
      this.stats.actions[action] = (this.stats.actions[action] ?? 0) + 1;
      if (r.outcome === 'ordered') this.stats.orders++;
      void this.executor.record(action, r.outcome, r.target, ctx, {
        ms: performance.now() - t0,
        params,
        ...(r.detail ? { detail: r.detail } : {}),
      });
      return r;
    } catch (e) {
      const error = messageOf(e);
      this.stats.failed++;
      const target = this.targetOf(action, ctx);
      const fallback = onFailure === 'fail_closed' ? ACTIONS[action].closed : undefined;
      void this.executor.record(action, 'failed', target, ctx, {
        ms: performance.now() - t0,
        error,
        params,
        ...(fallback ? { fallback } : {}),
      });
      if (fallback)
        await this.step(fallback, ACTIONS[action].closedParams ?? {}, 'escalate', {
          ...ctx,
          reason: `${ctx.reason} [${action} failed: ${error}]`,
        });
      else if (onFailure === 'escalate')
        await this.executor
          .perform(
            'notify',
            { severity: 'critical', message: `${action} on ${target} failed, handed to people: ${error}` },
            ctx,
          )
          .catch((x: unknown) => this.recordFailed(x, 'an escalation'));
      return { outcome: 'failed', target, error };
    }
  }

  /** An order from a replica (possibly this one): carried out here when this replica keeps the run. */
  async order(o: Order): Promise<void> {
    if (!this.opts.actuators.runs?.hosts(o.run)) return;
    await this.step(o.action, o.params, 'escalate', {
      run: o.run,
      agent: o.agent,
      reason: o.reason,
      by: o.by,
      order: o.id,
      ...(o.playbook ? { playbook: o.playbook } : {}),
      ...(o.rule ? { rule: o.rule } : {}),
      ...(o.detection !== undefined ? { detection: o.detection } : {}),
    });
  }

  /** Resets tripped scopes (one, or all); resolves with those reset. */
  async resetBreaker(scope: string | undefined, by: string, reason: string): Promise<string[]> {
    const reset = this.breaker.reset(scope);
    for (const s of reset) {
      await this.opts.state.setTrip(s, undefined);
      await this.opts.bus.publish({
        type: 'respond.breaker',
        severity: 'medium',
        source: 'respond',
        data: {
          scope: s,
          state: 'reset',
          by,
          reason,
          suppressed: this.stats.suppressed + this.stats.replaced,
        },
      });
    }
    return reset;
  }

  private async tripped(scope: string, limit: number, ctx: ActionContext): Promise<void> {
    const mark = { by: ctx.by, reason: ctx.reason, at: new Date(this.now()).toISOString(), limit };
    // The freeze that follows must not wait on this record; it is raised loudly if it fails.
    await Promise.all([
      this.opts.state
        .setTrip(scope, mark)
        .catch((e: unknown) => this.recordFailed(e, `the breaker trip of ${scope}`)),
      this.opts.bus
        .publish({
          type: 'respond.breaker',
          severity: 'critical',
          source: 'respond',
          data: {
            scope,
            state: 'tripped',
            limit,
            windowMs: this.opts.breaker.windowMs,
            by: ctx.by,
            reason: `more than ${limit} actions in ${this.opts.breaker.windowMs} ms: destructive actions stop for ${scope}, its runs are frozen instead; a person decides (rampart respond reset-breaker)`,
          },
        })
        .catch((e: unknown) => this.recordFailed(e, `the breaker trip of ${scope}`)),
    ]);
  }

  /** A block, ban or sever that already holds (a person may have lifted it since: then it is taken again). */
  private inForce(action: ActionName, ctx: ActionContext): boolean {
    const s = this.opts.state.state;
    if (action === 'block_agent') return s.blocked.has(ctx.agent);
    if (action === 'sever_external') return s.severed !== undefined;
    if (action === 'ban_destination') {
      const d = destinationOf(ctx.fields ?? {});
      return d !== undefined && s.bans.has(d);
    }
    return false;
  }

  private remember(key: string): void {
    this.done.add(key);
    if (this.done.size > MAX_DONE) this.done.delete(this.done.values().next().value!);
  }

  private targetOf(action: ActionName, ctx: ActionContext): string {
    const t = ACTIONS[action].target;
    if (t === 'run') return `run:${ctx.run || '<none>'}`;
    if (t === 'agent') return `agent:${ctx.agent || '<none>'}`;
    if (t === 'none') return 'people';
    return t;
  }

  private recordFailed(e: unknown, what: string): void {
    this.stats.recordFailures++;
    this.recordFailedAt = { at: new Date().toISOString(), what, error: messageOf(e) };
    this.opts.log.error(
      { err: messageOf(e), action: what },
      'RESPONSE RECORD LOST: the action was taken, but its audit record could not be written',
    );
  }

  health(): ComponentHealth {
    const trips = this.breaker.list();
    const parts = [`${this.current.version}: ${this.current.playbooks.length} playbooks`];
    const lost = this.recordFailedAt;
    // Loud for ten minutes after the last lost record (the audit component's own health says why).
    if (lost && Date.parse(lost.at) > Date.now() - 600_000)
      parts.unshift(
        `ACTIONS TAKEN WITHOUT A RECORD: ${this.stats.recordFailures}, the last ${lost.what} at ${lost.at} (${lost.error})`,
      );
    const severed = this.opts.state.state.severed;
    if (severed) parts.push(`external traffic severed since ${severed.at} by ${severed.by}`);
    if (trips.length > 0) parts.push(`breaker tripped for ${trips.map((t) => t.scope).join(', ')}`);
    if (this.lastError) parts.push(`the last change did not load: ${this.lastError}`);
    return { status: parts.length > 1 ? 'degraded' : 'ok', detail: parts.join('; ') };
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.drained?.();
    await Promise.allSettled([...this.chains.values()]);
  }
}
