// The rule engine: events in, detections out. Pure: no I/O, no timers, no clock but the events'
// own record times (and `flush(now)` for windows that close while nothing arrives), so the same
// events give the same detections in `rampart rules test`, `rules eval` and the control plane.
//
// Per event: the input is built once, the rules indexed under its type (and the rules that can
// match any type) run their closures, exceptions are asked only of rules that matched, thresholds
// count matches per key in a sliding window, and repeats of one rule on one run within the dedup
// window are counted onto the detection already made, which is re-issued as one summary when the
// window closes. Nothing is dropped: every match is either a detection or counted on one.

import type { StreamEvent } from '../core/events.js';
import type { Severity } from '../core/types.js';
import { InputBuffer, fieldValue, inputOf, type DetectInput, type RunFacts } from './fields.js';
import type { Rule, RuleSet } from './load.js';

export interface Detection {
  readonly rule: string;
  readonly priority: Severity;
  readonly output: string;
  readonly tags: readonly string[];
  readonly run: string;
  readonly agent: string;
  readonly namespace: string;
  /** Record numbers of the triggering events (the first MAX_SEQS). */
  readonly events: readonly number[];
  readonly count: number;
  readonly repeat?: boolean;
  readonly baseline?: { kind: string; value: string; runs: number };
  /** What the triggering event said, for those who act on it (playbooks match these). */
  readonly fields?: Readonly<Record<string, string>>;
}

/**
 * The fields a detection carries from its triggering event (those it has): what response
 * playbooks match on and act on (the destination to ban, the process). Fixed, so a playbook's
 * field names can be checked at load.
 */
export const DETECTION_FIELDS = [
  'evt.type',
  'proc.name',
  'proc.exe',
  'proc.cmdline',
  'file.path',
  'net.host',
  'net.address',
  'net.port',
  'syscall.name',
] as const;

/** The triggering event's DETECTION_FIELDS that are not their type's zero, as strings. */
export function detectionFields(input: DetectInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of DETECTION_FIELDS) {
    const v = fieldValue(input, f);
    if (typeof v === 'string' && v !== '') out[f] = v;
    else if ((typeof v === 'number' && v !== 0) || (typeof v === 'bigint' && v !== 0n)) out[f] = String(v);
  }
  return out;
}

export interface EngineOptions {
  /** Repeats of a rule on a run within this window are counted on one detection. */
  readonly dedupMs: number;
  /** What Rampart knows of an agent beyond the events (namespace, capabilities). */
  readonly agentFacts?: (agent: string) => { namespace: string; capabilities: readonly string[] } | undefined;
  /** Most runs tracked at once (oldest forgotten first). */
  readonly maxRuns?: number;
}

export interface EngineStats {
  events: number;
  matches: number;
  detections: number;
  /** Matches counted onto an open detection instead of becoming one. */
  deduplicated: number;
  excepted: number;
  /** Rules that threw (a bug: counted, the event goes on to the other rules). */
  errors: number;
}

/** Counters at zero (an engine's start, and the sum kept across reloads). */
export const zeroStats = (): EngineStats => ({
  events: 0,
  matches: 0,
  detections: 0,
  deduplicated: 0,
  excepted: 0,
  errors: 0,
});

const MAX_SEQS = 20;
const NO_DETECTIONS: readonly Detection[] = Object.freeze([]);
/** Per run: paths written by a process that had connected, for download-then-execute. */
const MAX_TRACKED = 4096;

interface Window {
  readonly rule: Rule;
  readonly first: Detection;
  readonly until: number;
  count: number;
  readonly seqs: number[];
}

interface RunState {
  facts: RunFacts;
  /** pids that made a network connection. */
  readonly connected: Set<number>;
  /** Paths written by a process that had connected. */
  readonly fetched: Set<string>;
  /** The run's first process (the bridge, then the command it becomes): its exit is the command's. */
  commandPid: number;
  /** Processes still alive (exec'd, not exited) when the command exited, as telemetry saw it. */
  leftover: number;
  /** What each live pid last executed: fills proc.* on its other events, and its children's pname. */
  readonly procs: Map<number, { exe: string; name: string; args: readonly string[]; cwd: string }>;
}

export class DetectionEngine {
  readonly stats: EngineStats = zeroStats();
  private readonly byType = new Map<string, Rule[]>();
  private readonly anyType: Rule[] = [];
  private readonly windows = new Map<string, Window>();
  private readonly counts = new Map<string, number[]>();
  private readonly runs = new Map<string, RunState>();
  private readonly buffer = new InputBuffer();
  /** The earliest end of an open dedup window (flush has nothing to do before it). */
  private nextUntil = Number.POSITIVE_INFINITY;
  private second = '';
  private secondMs = 0;

  constructor(
    readonly set: RuleSet,
    private readonly opts: EngineOptions,
  ) {
    for (const r of set.rules) {
      if (!r.enabled) continue;
      if (!r.types) this.anyType.push(r);
      else
        for (const t of r.types) {
          const list = this.byType.get(t) ?? [];
          list.push(r);
          this.byType.set(t, list);
        }
    }
    for (const list of this.byType.values()) list.push(...this.anyType);
  }

  /** Rules that run on events of `type`. */
  rulesFor(type: string): number {
    return (this.byType.get(type) ?? this.anyType).length;
  }

  /** The detections this event makes now (first matches, and summaries of windows it closed). */
  process(se: StreamEvent): readonly Detection[] {
    this.stats.events++;
    const now = this.timeOf(se.time);
    // Most events make no detection: no array is made for them.
    let out: Detection[] | undefined = now >= this.nextUntil ? this.flush(now) : undefined;
    const input = this.inputFor(se);
    // Each type's list holds the rules indexed under it, then those that can match any type.
    for (const r of this.byType.get(se.event.type) ?? this.anyType) {
      // The common case, inline: the rule does not match.
      let hit: boolean;
      try {
        hit = r.evaluate(input);
      } catch {
        this.stats.errors++;
        continue;
      }
      if (!hit) continue;
      const d = this.matched(r, input, se.seq, now);
      if (d) (out ??= []).push(d);
    }
    if (se.event.type === 'sandbox.run_ended') this.runs.delete(input.evt.run);
    return out ?? NO_DETECTIONS;
  }

  /**
   * A record's time in ms. Records of one second share their first 19 characters
   * (2026-01-01T00:00:00): that part is parsed once per second, the milliseconds each time.
   */
  private timeOf(iso: string): number {
    if (this.second !== '' && iso.length === 24 && iso.charCodeAt(19) === 46 && iso.startsWith(this.second)) {
      const a = iso.charCodeAt(20) - 48;
      const b = iso.charCodeAt(21) - 48;
      const c = iso.charCodeAt(22) - 48;
      if (a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9)
        return this.secondMs + a * 100 + b * 10 + c;
    }
    const t = Date.parse(iso);
    // Only a UTC time with milliseconds ("...T00:00:00.000Z") takes the fast path next time.
    const utc = iso.length === 24 && iso.endsWith('Z') && Number.isFinite(t);
    this.second = utc ? iso.slice(0, 19) : '';
    this.secondMs = utc ? t - (((t % 1000) + 1000) % 1000) : 0;
    return t;
  }

  /** Summaries of the dedup windows that ended by `now` (ms) with repeats in them. */
  flush(now: number): Detection[] {
    const out: Detection[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [key, w] of this.windows) {
      if (w.until > now) {
        if (w.until < next) next = w.until;
        continue;
      }
      this.windows.delete(key);
      if (w.count > 1) out.push({ ...w.first, events: w.seqs, count: w.count, repeat: true });
    }
    this.nextUntil = next;
    this.stats.detections += out.length;
    return out;
  }

  /** Every open window's summary, whatever its time (at shutdown, at the end of a test). */
  drain(): Detection[] {
    return this.flush(Number.POSITIVE_INFINITY);
  }

  /** A rule that matched: a new detection, or undefined (excepted, below its threshold, counted on one). */
  private matched(r: Rule, input: DetectInput, seq: number, now: number): Detection | undefined {
    for (const e of r.exceptions)
      if (e.matches(input)) {
        this.stats.excepted++;
        return undefined;
      }
    if (r.threshold && !this.reached(r, input, now)) return undefined;
    this.stats.matches++;
    const key = `${r.name}\0${input.evt.run || input.evt.agent}`;
    const w = this.windows.get(key);
    if (w && w.until > now) {
      w.count++;
      if (w.seqs.length < MAX_SEQS) w.seqs.push(seq);
      this.stats.deduplicated++;
      return undefined;
    }
    const d: Detection = {
      rule: r.name,
      priority: r.priority,
      output: r.output(input),
      tags: r.tags,
      run: input.evt.run,
      agent: input.evt.agent,
      namespace: input.evt.namespace,
      events: [seq],
      count: 1,
      fields: detectionFields(input),
    };
    const until = now + this.opts.dedupMs;
    this.windows.set(key, { rule: r, first: d, until, count: 1, seqs: [seq] });
    if (until < this.nextUntil) this.nextUntil = until;
    this.stats.detections++;
    return d;
  }

  /** Counts this match under the rule's threshold key; true once the window holds `count`. */
  private reached(r: Rule, input: DetectInput, now: number): boolean {
    const t = r.threshold!;
    const key = `${r.name}\0${t.by.map((f) => String(fieldValue(input, f))).join('\0')}`;
    const times = (this.counts.get(key) ?? []).filter((x) => x > now - t.withinMs);
    times.push(now);
    if (times.length >= t.count) {
      this.counts.delete(key);
      return true;
    }
    this.counts.set(key, times);
    if (this.counts.size > MAX_TRACKED) this.counts.delete(this.counts.keys().next().value!);
    return false;
  }

  /** The rule input, with the run's facts and the run's own history (download-then-execute). */
  private inputFor(se: StreamEvent): DetectInput {
    const e = se.event;
    const d = e.data as Record<string, unknown>;
    const runId = e.subject?.run ?? (typeof d['run'] === 'string' ? d['run'] : '');
    if (e.type === 'sandbox.run_started') this.trackRun(runId, d);
    let state = runId ? this.runs.get(runId) : undefined;
    const agent = e.subject?.agent ?? (typeof d['agent'] === 'string' ? d['agent'] : '');
    // A run seen only by its later events (started before a restart, or on another replica's
    // watch): tracked from here on, with what the agent's entity says.
    if (!state && runId && runId !== '?' && e.type !== 'sandbox.run_ended')
      state = this.trackRun(runId, { agent });
    let facts = state?.facts;
    if (!facts && agent) {
      const a = this.opts.agentFacts?.(agent);
      if (a)
        facts = { agent, namespace: a.namespace, capabilities: a.capabilities, runtime: '', profile: '' };
    }
    const input = inputOf(se, facts, this.buffer);
    if (state) this.follow(state, e.type, input);
    // A run's end says how many processes its runner found left behind; telemetry may have seen
    // more (the runner looks after the sandbox's teardown has begun): the larger count is used.
    if (e.type === 'sandbox.run_ended' && state && state.leftover > 0) {
      const recorded = typeof d['leftover'] === 'number' ? d['leftover'] : 0;
      if (state.leftover > recorded) this.buffer.input.data = { ...d, leftover: state.leftover };
    }
    return input;
  }

  private trackRun(run: string, d: Record<string, unknown>): RunState | undefined {
    if (!run) return undefined;
    const agent = typeof d['agent'] === 'string' ? d['agent'] : '';
    const a = this.opts.agentFacts?.(agent);
    const state: RunState = {
      facts: {
        agent,
        namespace: a?.namespace ?? '',
        capabilities: a?.capabilities ?? [],
        runtime: typeof d['runtime'] === 'string' ? d['runtime'] : '',
        profile: typeof d['profile'] === 'string' ? d['profile'] : '',
      },
      connected: new Set(),
      fetched: new Set(),
      procs: new Map(),
      commandPid: 0,
      leftover: 0,
    };
    this.runs.set(run, state);
    if (this.runs.size > (this.opts.maxRuns ?? 10_000)) this.runs.delete(this.runs.keys().next().value!);
    return state;
  }

  /** A run's own history: who connected, what they wrote, and whether an exec runs it. */
  private follow(state: RunState, type: string, input: DetectInput): void {
    const p = input.proc;
    const pid = p.pidNumber;
    if (pid !== 0) {
      const parent = state.procs.get(p.ppidNumber);
      if (parent && p.pexe === '') {
        p.pexe = parent.exe;
        p.pname = parent.name;
      }
      const known = state.procs.get(pid);
      if (type === 'process.exec') {
        if (state.procs.size < MAX_TRACKED || known)
          state.procs.set(pid, { exe: p.exe, name: p.name, args: p.args, cwd: p.cwd });
      } else if (known && p.exe === '') {
        p.exe = known.exe;
        p.args = known.args;
        if (p.cwd === '') p.cwd = known.cwd;
      }
      if (type === 'process.exec' && state.commandPid === 0) state.commandPid = pid;
      if (type === 'process.exit') {
        state.procs.delete(pid);
        // The kernel reports the command's exit before the namespace's teardown kills what is
        // left, so what is still alive now was left behind (Rampart's own bridge never execs).
        if (pid === state.commandPid) state.leftover = state.procs.size;
      }
    }
    if (type === 'net.connect') {
      if (state.connected.size < MAX_TRACKED) state.connected.add(pid);
    } else if (type === 'file.open') {
      if (input.file.write && state.connected.has(pid) && state.fetched.size < MAX_TRACKED)
        state.fetched.add(input.file.path);
    } else if (type === 'process.exec') {
      if (state.fetched.has(input.proc.exe)) input.proc.downloaded = true;
      // A process that execs keeps its pid: what it connected before belongs to the old image.
      state.connected.delete(pid);
    } else if (type === 'process.exit') {
      state.connected.delete(pid);
    }
  }
}
