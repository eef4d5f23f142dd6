// The detection service: the active rule set (hot-reloaded, every activation on record with its
// hash), the engine that reads every event after it is on record, and the publishing of what it
// finds. A detection is published (durably, on record) before the handler returns, so whatever
// acts on it (response, incidents) acts on a recorded detection, in the log's order.

import { describeProblems, messageOf } from '../core/errors.js';
import type { EventPublisher, StreamEvent } from '../core/events.js';
import type { ComponentHealth } from '../core/types.js';
import { watchDirs } from '../core/dirset.js';
import {
  DetectionEngine,
  zeroStats,
  type Detection,
  type EngineOptions,
  type EngineStats,
} from './engine.js';
import type { Baselines } from './baselines.js';
import type { Blocklist } from './blocklist.js';
import { loadRuleSet, ruleSetVersion, type RuleSet } from './load.js';

export interface DetectLog {
  info(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface DetectServiceOptions {
  readonly dirs: readonly string[];
  readonly watch: boolean;
  readonly dedupMs: number;
  readonly bus: EventPublisher;
  readonly log: DetectLog;
  readonly agentFacts?: EngineOptions['agentFacts'];
  readonly now?: () => number;
  /** What is new for an agent after its learning period (baselines.ts). */
  readonly baselines?: Baselines;
  /** Known malicious destinations (blocklist.ts). */
  readonly blocklist?: Blocklist;
}

export class DetectService {
  private engine: DetectionEngine;
  private unwatch: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastError: string | undefined;
  /** Counters of engines replaced by a reload, so metrics never go backwards. */
  private readonly past: EngineStats = zeroStats();
  /** Detections that could not be published (the audit log refused): counted; health fails until one is. */
  publishFailures = 0;
  private failingSince: string | undefined;
  private observeLatency: ((s: number) => void) | undefined;

  private constructor(
    private readonly opts: DetectServiceOptions,
    set: RuleSet,
  ) {
    this.engine = this.engineFor(set);
  }

  /** Loads the rules (a set that does not load refuses the start: no detection is not an option). */
  static async start(opts: DetectServiceOptions): Promise<DetectService> {
    const svc = new DetectService(opts, loadRuleSet(opts.dirs));
    await svc.announce(svc.set, '');
    const flush = setInterval(() => void svc.publish(svc.engine.flush(svc.now())), 1000);
    flush.unref();
    svc.timers.push(flush);
    if (opts.watch) svc.startWatching();
    return svc;
  }

  get set(): RuleSet {
    return this.engine.set;
  }

  get stats(): EngineStats {
    const s = this.engine.stats;
    const p = this.past;
    return {
      events: p.events + s.events,
      matches: p.matches + s.matches,
      detections: p.detections + s.detections,
      deduplicated: p.deduplicated + s.deduplicated,
      excepted: p.excepted + s.excepted,
      errors: p.errors + s.errors,
    };
  }

  attachLatency(observe: (seconds: number) => void): void {
    this.observeLatency = observe;
  }

  /** The subscription's handler: every event after it is on record, in order. */
  async handle(se: StreamEvent): Promise<void> {
    // Detections are not fed back: a rule over detections would feed itself.
    if (se.event.type === 'detect.detection') return;
    const found = [
      ...this.engine.process(se),
      ...(this.opts.blocklist?.check(se) ?? []),
      ...(this.opts.baselines ? await this.opts.baselines.observe(se) : []),
    ];
    if (found.length > 0) await this.publish(found, Date.parse(se.time));
  }

  async reload(): Promise<{ version: string; changed: boolean }> {
    const serving = this.set.version;
    if (ruleSetVersion(this.opts.dirs) === serving) return { version: serving, changed: false };
    let next: RuleSet;
    try {
      next = loadRuleSet(this.opts.dirs);
    } catch (e) {
      const errors = describeProblems(e);
      this.lastError = errors[0];
      await this.opts.bus.publish({
        type: 'detect.rules_load_failed',
        severity: 'high',
        source: 'detect',
        outcome: 'failure',
        data: { dirs: [...this.opts.dirs], serving, errors: errors.slice(0, 50) },
      });
      throw e;
    }
    // The old engine's open windows are summarized before it goes, so no repeat is lost.
    await this.publish(this.engine.drain());
    const old = this.engine.stats;
    for (const k of Object.keys(old) as (keyof EngineStats)[]) this.past[k] += old[k];
    await this.announce(next, serving);
    this.engine = this.engineFor(next);
    this.lastError = undefined;
    return { version: next.version, changed: true };
  }

  health(): ComponentHealth {
    if (this.failingSince)
      return {
        status: 'failing',
        detail: `detections cannot be recorded since ${this.failingSince} (${this.publishFailures} lost)`,
      };
    const enabled = this.set.rules.filter((r) => r.enabled).length;
    const feed = this.opts.blocklist?.error;
    if (feed) return { status: 'degraded', detail: `serving ${this.set.version}; ${feed}` };
    if (this.lastError)
      return {
        status: 'degraded',
        detail: `serving ${this.set.version}; the last change did not load: ${this.lastError}`,
      };
    return { status: 'ok', detail: `${this.set.version}: ${enabled} rules` };
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    for (const t of this.timers) clearInterval(t);
    await this.publish(this.engine.drain()).catch(() => undefined);
    this.opts.blocklist?.stop();
    await this.opts.baselines?.stop();
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private engineFor(set: RuleSet): DetectionEngine {
    return new DetectionEngine(set, {
      dedupMs: this.opts.dedupMs,
      ...(this.opts.agentFacts ? { agentFacts: this.opts.agentFacts } : {}),
    });
  }

  private async announce(set: RuleSet, previous: string): Promise<void> {
    const enabled = set.rules.filter((r) => r.enabled).length;
    await this.opts.bus.publish({
      type: 'detect.rules_activated',
      severity: 'info',
      source: 'detect',
      data: {
        version: set.version,
        previous,
        dirs: [...set.dirs],
        files: set.files.length,
        rules: set.rules.length,
        enabled,
      },
    });
    this.opts.log.info({ version: set.version, previous, rules: enabled }, 'detection rules activated');
  }

  private async publish(found: readonly Detection[], eventTime?: number): Promise<void> {
    for (const d of found) {
      try {
        await this.opts.bus.publish({
          type: 'detect.detection',
          severity: d.priority,
          source: 'detect',
          subject: { ...(d.agent ? { agent: d.agent } : {}), ...(d.run ? { run: d.run } : {}) },
          data: {
            rule: d.rule,
            priority: d.priority,
            output: d.output,
            tags: [...d.tags],
            run: d.run,
            agent: d.agent,
            namespace: d.namespace,
            events: [...d.events],
            count: d.count,
            ...(d.repeat ? { repeat: true } : {}),
            ...(d.baseline ? { baseline: d.baseline } : {}),
            ...(d.fields && Object.keys(d.fields).length > 0 ? { fields: { ...d.fields } } : {}),
          },
        });
        this.failingSince = undefined;
        if (eventTime !== undefined) this.observeLatency?.(Math.max(0, this.now() - eventTime) / 1000);
      } catch (e) {
        this.publishFailures++;
        this.failingSince ??= new Date(this.now()).toISOString();
        this.opts.log.error(
          { err: messageOf(e), rule: d.rule, run: d.run },
          'a detection could not be recorded',
        );
      }
    }
  }

  private startWatching(): void {
    this.unwatch = watchDirs(this.opts.dirs, () => void this.reload().catch(() => undefined));
  }
}
