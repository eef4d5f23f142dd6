// The policy decision point as the control plane runs it: the engine, fed by a policy directory
// (hot-reloaded, every activation audited with its content hash) and by the entity store (kept in
// step across replicas by notifications), optionally in front of an external OPA, with every
// decision written to the audit log in OPA's decision-log shape.

import { RecordBacklog } from '../core/backlog.js';
import { watch, type FSWatcher } from 'node:fs';
import { isRampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Clock } from '../core/clock.js';
import { isSecretKey } from '../core/secretkeys.js';
import type { Auditor, ComponentHealth, Log, Outcome } from '../core/types.js';
import type { Store } from '../store/types.js';
import { createPolicyEnvironment } from './cel.js';
import { PolicyEngine } from './engine.js';
import { entityKey, parseEntity, type Entity } from './entities.js';
import { loadPolicySet, policySetVersion, type PolicySet } from './load.js';
import type { Decision, DecisionInput, DecisionLogMode } from './model.js';
import { OpaClient } from './opa.js';

export interface PolicyServiceOptions {
  readonly dir: string;
  readonly watch: boolean;
  readonly cacheSize: number;
  readonly decisionLog: DecisionLogMode;
  readonly store: Store;
  readonly auditor: Auditor;
  readonly events: EventPublisher;
  readonly log: Log;
  readonly clock: Clock;
  /** Identifies this installation in decision logs (OPA's labels.id). */
  readonly installation: string;
  readonly version: string;
  readonly opa?:
    { url: string; path: string; timeoutMs: number; retryMs: number; token?: string | undefined } | undefined;
  /**
   * A break-glass policy override in force for this input (the break-glass component), or
   * undefined: a deny it covers becomes an allow, tagged with the grant and always on record.
   */
  readonly override?: (input: DecisionInput) => { readonly id: string; readonly by: string } | undefined;
}

export interface DecideMeta {
  /** Who asked (as audited). */
  readonly actor: string;
  /** The OPA path or API route the decision was asked on. */
  readonly path: string;
  /** Remote address of the asking client. */
  readonly requestedBy?: string;
  /** Write a decision log record (default: the service's decisionLog setting). */
  readonly log?: DecisionLogMode;
}

const ENTITY_CHANNEL = 'entities';
/**
 * Decision records queued and not yet committed, at most, in async mode. Past it, decisions wait
 * for their record (as in durable mode): a slow disk slows answers down instead of letting the
 * unwritten backlog grow without bound.
 */
const MAX_LOG_BACKLOG = 10_000;
const RESYNC_MS = 30_000;

export class PolicyService {
  readonly engine: PolicyEngine;
  private readonly env = createPolicyEnvironment();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private loadError: string | undefined;
  private readonly records: RecordBacklog;
  private readonly opa: OpaClient | undefined;
  private opaDownSince: number | undefined;
  private opaError = '';
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: PolicyServiceOptions) {
    this.engine = new PolicyEngine({ cacheSize: opts.cacheSize });
    this.opa = opts.opa ? new OpaClient(opts.opa) : undefined;
    this.records = new RecordBacklog({
      max: MAX_LOG_BACKLOG,
      clock: opts.clock,
      onFailure: (error) =>
        opts.log.error({ error }, 'decision records cannot be written; decisions now wait for them'),
    });
  }

  /**
   * Starts the service. A policy directory that does not load at start-up is an error (the
   * control plane must not start with nothing to decide with).
   */
  static async start(opts: PolicyServiceOptions): Promise<PolicyService> {
    const svc = new PolicyService(opts);
    const set = loadPolicySet(opts.dir, { env: svc.env });
    await svc.activate(set);
    await svc.resync();
    svc.unsubscribe = opts.store.notifications.subscribe(ENTITY_CHANNEL, (payload) =>
      svc.onEntityNotice(payload),
    );
    svc.resyncTimer = setInterval(() => void svc.resync(), RESYNC_MS);
    svc.resyncTimer.unref();
    if (opts.watch) svc.startWatching();
    return svc;
  }

  get version(): string {
    return this.engine.version;
  }

  get policySet(): PolicySet | undefined {
    return this.engine.policySet;
  }

  health(): ComponentHealth {
    if (!this.engine.policySet)
      return { status: 'failing', detail: 'no policy set is active: every decision is a deny' };
    if (this.opa && this.opaDownSince !== undefined) {
      return {
        status: 'degraded',
        detail: `external OPA ${this.opa.url} unavailable (${this.opaError}); the built-in engine decides`,
        since: this.opaDownSince,
      };
    }
    if (this.records.failing)
      return {
        status: 'failing',
        detail: `decision records cannot be written (${this.records.failing.error}): decisions are refused until they can`,
        since: this.records.failing.since,
      };
    if (this.loadError)
      return {
        status: 'degraded',
        detail: `serving ${this.version}; ${this.opts.dir} does not load: ${this.loadError}`,
      };
    return {
      status: 'ok',
      detail: `${this.version}, ${this.engine.policySet.rules.length} rules, ${this.engine.entities.size} entities${this.opa ? `, via OPA ${this.opa.url}` : ''}`,
    };
  }

  // -------------------------------------------------------------------------------- policies

  private async activate(set: PolicySet): Promise<void> {
    const previous = this.engine.version;
    // On record before it decides anything: the version every later decision carries.
    await this.opts.events.publish({
      type: 'policy.activated',
      severity: 'info',
      source: 'policy',
      data: {
        version: set.version,
        previous,
        dir: set.dir,
        files: set.files.length,
        rules: set.rules.length,
      },
    });
    this.engine.activate(set);
    this.loadError = undefined;
    this.opts.log.info({ version: set.version, previous, rules: set.rules.length }, 'policy set activated');
  }

  /** Reloads the policy directory; on failure the current set keeps serving. */
  async reload(): Promise<{ version: string; changed: boolean }> {
    try {
      if (!this.loadError && policySetVersion(this.opts.dir) === this.version)
        return { version: this.version, changed: false };
    } catch {
      // unreadable: the full load below reports it
    }
    let set: PolicySet;
    try {
      set = loadPolicySet(this.opts.dir, { env: this.env });
    } catch (e) {
      const errors = isRampartError(e) ? e.describe().split('\n') : [messageOf(e)];
      this.loadError = errors[0] ?? 'invalid';
      await this.opts.events
        .publish({
          type: 'policy.load_failed',
          severity: 'high',
          source: 'policy',
          outcome: 'failure',
          data: { dir: this.opts.dir, serving: this.version, errors: errors.slice(0, 20) },
        })
        .catch(() => undefined);
      this.opts.log.error(
        { dir: this.opts.dir, errors },
        'policy set does not load; the previous one keeps serving',
      );
      throw e;
    }
    if (set.version === this.version) {
      this.loadError = undefined;
      return { version: set.version, changed: false };
    }
    await this.activate(set);
    return { version: set.version, changed: true };
  }

  private startWatching(): void {
    const schedule = (): void => {
      if (this.reloadTimer) clearTimeout(this.reloadTimer);
      // Editors write files in several steps: wait for the directory to settle.
      this.reloadTimer = setTimeout(() => void this.reload().catch(() => undefined), 150);
      this.reloadTimer.unref();
    };
    try {
      this.watcher = watch(this.opts.dir, { recursive: true, persistent: false }, schedule);
      this.watcher.on('error', () => undefined);
    } catch {
      this.watcher = undefined;
    }
    // A watcher can miss events (network file systems, replaced directories): poll the hash too.
    this.pollTimer = setInterval(() => void this.reload().catch(() => undefined), 5000);
    this.pollTimer.unref();
  }

  private stopWatching(): void {
    this.watcher?.close();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
  }

  // -------------------------------------------------------------------------------- entities

  /** Writes an entity; every replica's engine (this one first) drops the decisions it affects. */
  async putEntity(type: string, id: string, body: unknown): Promise<Entity> {
    const e = parseEntity(type, id, body);
    const rec = await this.opts.store.entities.put(e);
    this.applyEntity(rec);
    await this.opts.store.notifications.publish(
      ENTITY_CHANNEL,
      JSON.stringify({ type, id, version: rec.version }),
    );
    return rec;
  }

  async deleteEntity(type: string, id: string): Promise<boolean> {
    const rec = await this.opts.store.entities.delete(type, id);
    if (!rec) return false;
    this.applyEntity(rec);
    await this.opts.store.notifications.publish(
      ENTITY_CHANNEL,
      JSON.stringify({ type, id, version: rec.version }),
    );
    return true;
  }

  private applyEntity(rec: Parameters<PolicyService['engine']['entities']['apply']>[0]): void {
    if (this.engine.entities.apply(rec)) this.engine.entityChanged(rec.type, rec.id);
  }

  private onEntityNotice(payload: string): void {
    if (payload === '') {
      void this.resync();
      return;
    }
    let msg: { type?: unknown; id?: unknown };
    try {
      msg = JSON.parse(payload) as { type?: unknown; id?: unknown };
    } catch {
      return;
    }
    if (typeof msg.type !== 'string' || typeof msg.id !== 'string') return;
    const { type, id } = msg;
    this.syncing = this.syncing.then(async () => {
      const rec = await this.opts.store.entities.get(type, id).catch(() => undefined);
      if (rec) this.applyEntity(rec);
    });
  }

  /** Reads every entity change this replica has not seen (start-up, missed notifications). */
  async resync(): Promise<void> {
    this.syncing = this.syncing.then(async () => {
      for (;;) {
        const batch = await this.opts.store.entities
          .changes(this.engine.entities.version, 5000)
          .catch(() => []);
        for (const rec of batch) this.applyEntity(rec);
        if (batch.length < 5000) break;
      }
    });
    return this.syncing;
  }

  listEntities(type?: string): Entity[] {
    return this.engine.entities.list(type);
  }

  getEntity(type: string, id: string): Entity | undefined {
    return this.engine.entities.get(entityKey(type, id));
  }

  // -------------------------------------------------------------------------------- decisions

  /**
   * Decides, by the external OPA when one is configured and answering, else by the built-in
   * engine. With decision logging on, the decision is on record before it is returned: if the
   * record cannot be written the caller gets RAMPART_E_AUDIT_WRITE_FAILED, not a decision.
   */
  async decide(input: DecisionInput, meta: DecideMeta): Promise<Decision> {
    let decision: Decision | undefined;
    if (this.opa && this.opaDownSince === undefined) {
      try {
        const a = await this.opa.decide(input);
        decision = {
          decision_id: a.decisionId ?? this.engine.nextId(),
          allow: a.allow,
          outcome: a.allow ? 'allow' : 'deny',
          reasons: a.reasons,
          policy_version: `opa:${this.opa.url}`,
          source: 'opa',
        };
      } catch (e) {
        await this.opaDown(messageOf(e));
      }
    }
    decision ??= this.engine.decide(input);
    let mode = meta.log ?? this.opts.decisionLog;
    // A break-glass override turns a deny into an allow, never an error (a policy that cannot be
    // evaluated stays closed), and the decision is on record before it is answered, whatever
    // the decision log's setting.
    if (decision.outcome === 'deny') {
      const o = this.opts.override?.(input);
      if (o) {
        decision = {
          ...decision,
          allow: true,
          outcome: 'allow',
          rule: `breakglass:${o.id}`,
          reasons: [`allowed by break-glass ${o.id} of ${o.by}`, ...decision.reasons],
        };
        mode = 'durable';
      }
    }
    if (mode === 'off') return decision;
    await this.records.submit(() => this.logDecision(input, decision, meta), mode === 'durable');
    return decision;
  }

  private async opaDown(error: string): Promise<void> {
    if (!this.opa || this.opaDownSince !== undefined) return;
    this.opaDownSince = this.opts.clock.now();
    this.opaError = error;
    this.opts.log.warn({ url: this.opa.url, error }, 'external OPA unavailable; the built-in engine decides');
    await this.opts.events
      .publish({
        type: 'policy.opa_unavailable',
        severity: 'high',
        source: 'policy',
        outcome: 'failure',
        data: { url: this.opa.url, error },
      })
      .catch(() => undefined);
    const probe = (): void => {
      if (this.closed || !this.opa) return;
      this.opa.health().then(
        () => void this.opaUp(),
        () => {
          this.probeTimer = setTimeout(probe, this.opts.opa!.retryMs);
          this.probeTimer.unref();
        },
      );
    };
    this.probeTimer = setTimeout(probe, this.opts.opa!.retryMs);
    this.probeTimer.unref();
  }

  private async opaUp(): Promise<void> {
    if (!this.opa || this.opaDownSince === undefined) return;
    const downForMs = this.opts.clock.now() - this.opaDownSince;
    this.opaDownSince = undefined;
    this.opts.log.info({ url: this.opa.url, downForMs }, 'external OPA answers again');
    await this.opts.events
      .publish({
        type: 'policy.opa_recovered',
        severity: 'info',
        source: 'policy',
        data: { url: this.opa.url, downForMs },
      })
      .catch(() => undefined);
  }

  private async logDecision(input: DecisionInput, d: Decision, meta: DecideMeta): Promise<void> {
    const masked: string[] = [];
    const outcome: Outcome = d.outcome === 'allow' ? 'success' : d.outcome === 'deny' ? 'denied' : 'error';
    await this.opts.auditor.record({
      actor: meta.actor,
      action: 'policy.decision',
      target: input.action,
      outcome,
      // The fields of an OPA decision log, with secret-bearing input fields masked.
      details: {
        decision_id: d.decision_id,
        path: meta.path,
        input: mask(input, '/input', masked),
        result: {
          allow: d.allow,
          outcome: d.outcome,
          reasons: d.reasons,
          ...(d.rule ? { rule: d.rule } : {}),
        },
        ...(masked.length > 0 ? { masked } : {}),
        ...(meta.requestedBy ? { requested_by: meta.requestedBy } : {}),
        timestamp: new Date(this.opts.clock.now()).toISOString(),
        labels: { id: this.opts.installation, version: this.opts.version },
        bundles: { policies: { revision: d.policy_version } },
        source: d.source,
        ...(d.errors ? { errors: d.errors } : {}),
      },
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.stopWatching();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.unsubscribe?.();
    this.opa?.close();
    await this.syncing;
  }
}

/**
 * `v` with values under secret-named keys replaced by "[MASKED]" (a copy; `v` itself when there is
 * nothing to mask, the common case); their JSON pointers go to `out`.
 */
export function mask(v: unknown, pointer: string, out: string[]): unknown {
  return hasSecretKey(v, 0) ? maskCopy(v, pointer, out) : v;
}

function hasSecretKey(v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object' || depth > 64) return false;
  if (Array.isArray(v)) return v.some((x) => hasSecretKey(x, depth + 1));
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if ((isSecretKey(k) && x !== null && typeof x !== 'object') || hasSecretKey(x, depth + 1)) return true;
  }
  return false;
}

function maskCopy(v: unknown, pointer: string, out: string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => maskCopy(x, `${pointer}/${i}`, out));
  if (v === null || typeof v !== 'object') return v;
  const r: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const p = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (isSecretKey(k) && x !== null && typeof x !== 'object') {
      r[k] = '[MASKED]';
      out.push(p);
    } else {
      r[k] = maskCopy(x, p, out);
    }
  }
  return r;
}
