// Baselines: what each agent normally does, learned from its own runs, so that what is new is a
// detection that explains itself ("first connection to pastebin.com in 40 runs of agent a1").
//
// Per agent: the egress destinations its runs asked for, the executables they ran, the
// directories they opened outside their workspace and /tmp, and the most bytes one run sent out.
// While an agent has fewer than `learningRuns` finished runs, everything is learned and nothing is
// reported; after that, a value never seen before is reported once and then learned. Kept in the
// store (meta `detect.baseline.<agent>`), so a restart keeps them and replicas read the same.

import { posix } from 'node:path';
import type { StreamEvent } from '../core/events.js';
import type { Severity } from '../core/types.js';
import type { Detection } from './engine.js';

export type BaselineKind = 'egress' | 'exec' | 'files' | 'bytes_out';

export interface Baseline {
  /** Finished runs learned from. */
  runs: number;
  since: string;
  egress: string[];
  exec: string[];
  files: string[];
  /** Most bytes one run sent through the egress proxy. */
  bytesOutMax: number;
}

export interface BaselineStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface BaselineOptions {
  readonly store: BaselineStore;
  /** Finished runs of an agent before anything new is reported. */
  readonly learningRuns: number;
  /** Values kept per kind and agent (the oldest go first past it). */
  readonly maxValues?: number;
  readonly onError?: (e: unknown) => void;
}

const PRIORITY: Record<BaselineKind, Severity> = {
  egress: 'medium',
  exec: 'low',
  files: 'low',
  bytes_out: 'medium',
};
const WHAT: Record<Exclude<BaselineKind, 'bytes_out'>, string> = {
  egress: 'connection to',
  exec: 'run of',
  files: 'open under',
};

const key = (agent: string): string => `detect.baseline.${agent}`;

export function emptyBaseline(now: string): Baseline {
  return { runs: 0, since: now, egress: [], exec: [], files: [], bytesOutMax: 0 };
}

export class Baselines {
  private readonly cache = new Map<string, Baseline>();
  private readonly sets = new Map<string, { egress: Set<string>; exec: Set<string>; files: Set<string> }>();
  private readonly dirty = new Set<string>();
  /** Bytes out so far of each run still going, and its agent. */
  private readonly runBytes = new Map<string, { agent: string; bytes: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: BaselineOptions) {
    this.timer = setInterval(() => void this.flush(), 2000);
    this.timer.unref();
  }

  /** What is new in this event for its agent's baseline (after the learning period), and learns it. */
  async observe(se: StreamEvent): Promise<Detection[]> {
    const e = se.event;
    const d = e.data as Record<string, unknown>;
    const agent = e.subject?.agent ?? (typeof d['agent'] === 'string' ? d['agent'] : '');
    const run = e.subject?.run ?? (typeof d['run'] === 'string' ? d['run'] : '');
    if (!agent || agent === '?') return [];
    let kind: Exclude<BaselineKind, 'bytes_out'> | undefined;
    let value = '';
    if (e.type === 'egress.connection' && typeof d['host'] === 'string') {
      kind = 'egress';
      value = d['host'].toLowerCase();
      if (run && typeof d['bytesUp'] === 'number') {
        const r = this.runBytes.get(run) ?? { agent, bytes: 0 };
        r.bytes += d['bytesUp'];
        this.runBytes.set(run, r);
      }
    } else if (e.type === 'process.exec' && typeof d['exe'] === 'string') {
      kind = 'exec';
      value = d['exe'];
    } else if (e.type === 'file.open' && typeof d['path'] === 'string' && d['path'].startsWith('/')) {
      const dir = posix.dirname(d['path']);
      if (!dir.startsWith('/workspace') && !dir.startsWith('/tmp')) {
        kind = 'files';
        value = dir;
      }
    } else if (e.type === 'sandbox.run_ended') {
      return this.runEnded(agent, run, se);
    }
    if (!kind || value === '') return [];
    const b = await this.load(agent, se.time);
    const seen = this.sets.get(agent)!;
    if (seen[kind].has(value)) return [];
    this.learn(agent, b, kind, value);
    if (b.runs < this.opts.learningRuns) return [];
    return [
      this.detection(
        agent,
        run,
        se,
        kind,
        value,
        b,
        `first ${WHAT[kind]} ${value} in ${b.runs} runs of agent ${agent}`,
      ),
    ];
  }

  async show(agent: string): Promise<Baseline | undefined> {
    const cached = this.cache.get(agent);
    if (cached) return cached;
    const text = await this.opts.store.get(key(agent));
    return text === undefined ? undefined : (JSON.parse(text) as Baseline);
  }

  /** Forgets an agent's baseline: it learns again from its next runs. */
  async reset(agent: string, now: string): Promise<void> {
    const b = emptyBaseline(now);
    this.cache.set(agent, b);
    this.sets.set(agent, { egress: new Set(), exec: new Set(), files: new Set() });
    this.dirty.delete(agent);
    await this.opts.store.set(key(agent), JSON.stringify(b));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes the baselines that changed (every 2 s, and at stop). */
  async flush(): Promise<void> {
    for (const agent of [...this.dirty]) {
      this.dirty.delete(agent);
      const b = this.cache.get(agent);
      if (b)
        await this.opts.store.set(key(agent), JSON.stringify(b)).catch((e: unknown) => {
          this.dirty.add(agent);
          this.opts.onError?.(e);
        });
    }
  }

  private async runEnded(agent: string, run: string, se: StreamEvent): Promise<Detection[]> {
    const b = await this.load(agent, se.time);
    const bytes = this.runBytes.get(run)?.bytes ?? 0;
    this.runBytes.delete(run);
    const out: Detection[] = [];
    // A run that sends more than twice the most any earlier run did (and at least 1 MiB).
    if (b.runs >= this.opts.learningRuns && bytes > 2 * b.bytesOutMax && bytes >= 1 << 20)
      out.push(
        this.detection(
          agent,
          run,
          se,
          'bytes_out',
          String(bytes),
          b,
          `run ${run} sent ${bytes} bytes out; the most in ${b.runs} runs of agent ${agent} was ${b.bytesOutMax}`,
        ),
      );
    b.bytesOutMax = Math.max(b.bytesOutMax, bytes);
    b.runs++;
    this.dirty.add(agent);
    return out;
  }

  private learn(agent: string, b: Baseline, kind: Exclude<BaselineKind, 'bytes_out'>, value: string): void {
    const max = this.opts.maxValues ?? 1000;
    const seen = this.sets.get(agent)!;
    b[kind].push(value);
    seen[kind].add(value);
    if (b[kind].length > max) seen[kind].delete(b[kind].shift()!);
    this.dirty.add(agent);
  }

  private async load(agent: string, now: string): Promise<Baseline> {
    let b = this.cache.get(agent);
    if (b) return b;
    const text = await this.opts.store.get(key(agent));
    b = this.cache.get(agent) ?? (text === undefined ? emptyBaseline(now) : (JSON.parse(text) as Baseline));
    this.cache.set(agent, b);
    this.sets.set(agent, { egress: new Set(b.egress), exec: new Set(b.exec), files: new Set(b.files) });
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
