// Baselines: what each agent (and, when asked, each profile and namespace) normally does, learned
// from its own runs, so that what is new is a detection that explains itself ("first connection
// to pastebin.com in 40 runs of agent a1").
//
// Per scope: the egress destinations its runs asked for, the executables they ran, the
// directories they opened outside their workspace and /tmp, and per run the most bytes sent out,
// CPU time and egress requests in one minute. Until a scope has `learningRuns` finished runs and
// `learningDays` behind it, everything is learned and nothing reported; after that, a value never
// seen before is reported once and then learned, and a run more than twice the most of any
// earlier run (above a floor) is reported. Kept in the store (meta `detect.baseline.<scope>`), so
// a restart keeps them and replicas read the same.

import { posix } from 'node:path';
import type { StreamEvent } from '../core/events.js';
import type { Severity } from '../core/types.js';
import type { Detection } from './engine.js';

type ValueKind = 'egress' | 'exec' | 'files';
type RunKind = 'bytes_out' | 'cpu' | 'requests';
export type BaselineKind = ValueKind | RunKind;
export type BaselineScope = 'agent' | 'profile' | 'namespace';

export interface Baseline {
  /** Finished runs learned from, and since when. */
  runs: number;
  since: string;
  egress: string[];
  exec: string[];
  files: string[];
  /** The most of one run: bytes sent through the egress proxy, CPU ms, egress requests in a minute. */
  bytesOutMax: number;
  cpuMsMax: number;
  requestsPerMinuteMax: number;
}

export interface BaselineStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface BaselineOptions {
  readonly store: BaselineStore;
  /** Finished runs of a scope before anything new is reported. */
  readonly learningRuns: number;
  /** Days since a scope's first run before anything new is reported (0: runs alone decide). */
  readonly learningDays?: number;
  /** What baselines are kept for (default: agents). */
  readonly by?: readonly BaselineScope[];
  /** An agent's namespace (policy entities), for namespace baselines. */
  readonly namespaceOf?: (agent: string) => string | undefined;
  /** Values kept per kind and scope (the oldest go first past it). */
  readonly maxValues?: number;
  readonly onError?: (e: unknown) => void;
}

const PRIORITY: Record<BaselineKind, Severity> = {
  egress: 'medium',
  exec: 'low',
  files: 'low',
  bytes_out: 'medium',
  cpu: 'low',
  requests: 'medium',
};
/** The rule names baseline detections carry. */
export const BASELINE_RULES: readonly string[] = Object.keys(PRIORITY).map(
  (k) => `baseline-new-${k.replace('_', '-')}`,
);

const WHAT: Record<ValueKind, string> = { egress: 'connection to', exec: 'run of', files: 'open under' };
/** Per-run figures: the field kept, the unit, and the floor below which nothing is reported. */
const RUN_FIGURES: Record<
  RunKind,
  { field: 'bytesOutMax' | 'cpuMsMax' | 'requestsPerMinuteMax'; unit: string; floor: number }
> = {
  bytes_out: { field: 'bytesOutMax', unit: 'bytes out', floor: 1 << 20 },
  cpu: { field: 'cpuMsMax', unit: 'ms of CPU', floor: 10_000 },
  requests: { field: 'requestsPerMinuteMax', unit: 'egress requests in a minute', floor: 60 },
};

const storeKey = (scope: string): string => `detect.baseline.${scope}`;

export function emptyBaseline(now: string): Baseline {
  return {
    runs: 0,
    since: now,
    egress: [],
    exec: [],
    files: [],
    bytesOutMax: 0,
    cpuMsMax: 0,
    requestsPerMinuteMax: 0,
  };
}

interface RunTally {
  agent: string;
  scopes: string[];
  bytes: number;
  minute: number;
  inMinute: number;
  requestsMax: number;
}

export class Baselines {
  private readonly cache = new Map<string, Baseline>();
  private readonly sets = new Map<string, Record<ValueKind, Set<string>>>();
  private readonly dirty = new Set<string>();
  private readonly runs = new Map<string, RunTally>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: BaselineOptions) {
    this.timer = setInterval(() => void this.flush(), 2000);
    this.timer.unref();
  }

  /** What is new in this event for its scopes' baselines (after their learning period); learns it. */
  async observe(se: StreamEvent): Promise<Detection[]> {
    const e = se.event;
    const d = e.data as Record<string, unknown>;
    const agent = e.subject?.agent ?? (typeof d['agent'] === 'string' ? d['agent'] : '');
    const run = e.subject?.run ?? (typeof d['run'] === 'string' ? d['run'] : '');
    if (!agent || agent === '?') return [];
    if (e.type === 'sandbox.run_started') {
      this.tally(run, agent, typeof d['profile'] === 'string' ? d['profile'] : '');
      return [];
    }
    if (e.type === 'sandbox.run_ended') return this.runEnded(run, agent, se, d);
    let kind: ValueKind | undefined;
    let value = '';
    if (e.type === 'egress.connection' && typeof d['host'] === 'string') {
      kind = 'egress';
      value = d['host'].toLowerCase();
      const t = this.tally(run, agent, '');
      if (typeof d['bytesUp'] === 'number') t.bytes += d['bytesUp'];
      const minute = Math.floor(Date.parse(se.time) / 60_000);
      if (minute !== t.minute) {
        t.minute = minute;
        t.inMinute = 0;
      }
      t.requestsMax = Math.max(t.requestsMax, ++t.inMinute);
    } else if (e.type === 'process.exec' && typeof d['exe'] === 'string') {
      kind = 'exec';
      value = d['exe'];
    } else if (e.type === 'file.open' && typeof d['path'] === 'string' && d['path'].startsWith('/')) {
      const dir = posix.dirname(d['path']);
      if (!dir.startsWith('/workspace') && !dir.startsWith('/tmp')) {
        kind = 'files';
        value = dir;
      }
    }
    if (!kind || value === '') return [];
    const out: Detection[] = [];
    for (const scope of this.tally(run, agent, '').scopes) {
      const b = await this.load(scope, se.time);
      if (this.sets.get(scope)![kind].has(value)) continue;
      this.learn(scope, b, kind, value);
      if (this.learning(b, se.time)) continue;
      out.push(
        this.detection(
          agent,
          run,
          se,
          kind,
          value,
          b,
          `first ${WHAT[kind]} ${value} in ${b.runs} runs of ${label(scope)}`,
        ),
      );
    }
    return out;
  }

  async show(scope: string): Promise<Baseline | undefined> {
    const cached = this.cache.get(scope);
    if (cached) return cached;
    const text = await this.opts.store.get(storeKey(scope));
    return text === undefined ? undefined : (JSON.parse(text) as Baseline);
  }

  /** Forgets a scope's baseline: it learns again from its next runs. */
  async reset(scope: string, now: string): Promise<void> {
    const b = emptyBaseline(now);
    this.cache.set(scope, b);
    this.sets.set(scope, { egress: new Set(), exec: new Set(), files: new Set() });
    this.dirty.delete(scope);
    await this.opts.store.set(storeKey(scope), JSON.stringify(b));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes the baselines that changed (every 2 s, and at stop). */
  async flush(): Promise<void> {
    for (const scope of [...this.dirty]) {
      this.dirty.delete(scope);
      const b = this.cache.get(scope);
      if (b)
        await this.opts.store.set(storeKey(scope), JSON.stringify(b)).catch((e: unknown) => {
          this.dirty.add(scope);
          this.opts.onError?.(e);
        });
    }
  }

  /** A run's tally (made on its first event; its profile is known from its start). */
  private tally(run: string, agent: string, profile: string): RunTally {
    let t = this.runs.get(run);
    if (!t) {
      const by = this.opts.by ?? ['agent'];
      const scopes = [`agent:${agent}`];
      if (by.includes('profile') && profile) scopes.push(`profile:${profile}`);
      const ns = by.includes('namespace') ? this.opts.namespaceOf?.(agent) : undefined;
      if (ns) scopes.push(`namespace:${ns}`);
      t = {
        agent,
        scopes: by.includes('agent') ? scopes : scopes.slice(1),
        bytes: 0,
        minute: -1,
        inMinute: 0,
        requestsMax: 0,
      };
      if (run) this.runs.set(run, t);
      if (this.runs.size > 10_000) this.runs.delete(this.runs.keys().next().value!);
    }
    return t;
  }

  private learning(b: Baseline, now: string): boolean {
    const days = (Date.parse(now) - Date.parse(b.since)) / 86_400_000;
    return b.runs < this.opts.learningRuns || days < (this.opts.learningDays ?? 0);
  }

  private async runEnded(
    run: string,
    agent: string,
    se: StreamEvent,
    d: Record<string, unknown>,
  ): Promise<Detection[]> {
    const t = this.tally(run, agent, '');
    this.runs.delete(run);
    const figures: Record<RunKind, number> = {
      bytes_out: t.bytes,
      cpu: typeof d['cpuMs'] === 'number' ? d['cpuMs'] : 0,
      requests: t.requestsMax,
    };
    const out: Detection[] = [];
    for (const scope of t.scopes) {
      const b = await this.load(scope, se.time);
      for (const kind of Object.keys(RUN_FIGURES) as RunKind[]) {
        const { field, unit, floor } = RUN_FIGURES[kind];
        const v = figures[kind];
        const most = b[field] ?? 0;
        if (!this.learning(b, se.time) && v > 2 * most && v >= floor)
          out.push(
            this.detection(
              agent,
              run,
              se,
              kind,
              String(v),
              b,
              `run ${run} used ${v} ${unit}; the most in ${b.runs} runs of ${label(scope)} was ${most}`,
            ),
          );
        b[field] = Math.max(most, v);
      }
      b.runs++;
      this.dirty.add(scope);
    }
    return out;
  }

  private learn(scope: string, b: Baseline, kind: ValueKind, value: string): void {
    const max = this.opts.maxValues ?? 1000;
    const seen = this.sets.get(scope)!;
    b[kind].push(value);
    seen[kind].add(value);
    if (b[kind].length > max) seen[kind].delete(b[kind].shift()!);
    this.dirty.add(scope);
  }

  private async load(scope: string, now: string): Promise<Baseline> {
    let b = this.cache.get(scope);
    if (b) return b;
    const text = await this.opts.store.get(storeKey(scope));
    b = this.cache.get(scope) ?? {
      ...emptyBaseline(now),
      ...(text === undefined ? {} : (JSON.parse(text) as Partial<Baseline>)),
    };
    this.cache.set(scope, b);
    this.sets.set(scope, { egress: new Set(b.egress), exec: new Set(b.exec), files: new Set(b.files) });
    return b;
  }

  private detection(
    agent: string,
    run: string,
    se: StreamEvent,
    kind: BaselineKind,
    value: string,
    b: Baseline,
    output: string,
  ): Detection {
    return {
      rule: `baseline-new-${kind.replace('_', '-')}`,
      priority: PRIORITY[kind],
      output,
      tags: ['baseline', 'anomaly'],
      run,
      agent,
      namespace: '',
      events: [se.seq],
      count: 1,
      baseline: { kind, value, runs: b.runs },
    };
  }
}

/** "agent a1", "profile default", "namespace ci". */
function label(scope: string): string {
  const i = scope.indexOf(':');
  return `${scope.slice(0, i)} ${scope.slice(i + 1)}`;
}
