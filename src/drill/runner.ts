// Running a drill against a live control plane (the client's half; `rampart drill` composes it):
// begin the drill, follow the event stream from the drill's own record, run each scenario as a
// run of a fresh drill agent, judge what the stream showed against what was expected, clean up
// (runs ended, the drill's agents released, its incidents resolved as drill), and record the
// outcome, which opens an incident for every scenario that did not hold.

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { sseReader } from '../core/sse.js';
import { DRILL_TASK, SCENARIOS, type Outcome, type Scenario, type WireEvent } from './scenarios.js';
import type { ScenarioResult } from './service.js';

/** What the runner needs of the API client (src/cli/client.ts). */
export interface DrillApi {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}
export interface DrillStream {
  stream(path: string, headers: Record<string, string>, onText: (text: string) => void): Promise<void>;
  close(): void;
}

/** One run of a scenario, as the runner starts it (`rampart run`, given by the CLI). */
export interface RunHandle {
  /** Resolves with the run's id once it is registered. */
  readonly id: Promise<string>;
  /** Resolves with the act stamp (ns, CLOCK_REALTIME) or a ready mark the script printed. */
  line(prefix: string): Promise<string>;
  readonly exited: Promise<void>;
  kill(): void;
}

export interface RunnerDeps {
  readonly api: DrillApi;
  readonly events: DrillStream;
  readonly startRun: (agent: string, args: readonly string[], script: string) => RunHandle;
  /** A run's workspace on this host (where the stolen-token scenario's run leaves its token). */
  readonly workspaceOf: (run: string) => string;
  /** The egress proxy's TCP address (http://host:port), for the stolen-token scenario. */
  readonly egress?: string;
  readonly progress: (line: string) => void;
  /** How long each run may take to show what is expected. */
  readonly waitMs: number;
  /**
   * The scratch repository (ORG/NAME) the git gate scenarios clone and push to: a repository
   * the gate serves, which none of their pushes reaches (each is refused).
   */
  readonly repository?: string;
}

export interface DrillReport {
  readonly id: string;
  readonly results: readonly ScenarioResult[];
  readonly summary: Record<string, unknown>;
}

const CONTAINING = new Set(['freeze', 'kill', 'quarantine']);

/** A run's line, or a failure saying what it did not do within the wait. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the run ${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Events of the drill's runs, by run, with waiters woken on each. */
class Watch {
  private readonly byRun = new Map<string, WireEvent[]>();
  private wake: (() => void)[] = [];

  /** Incidents opened about the drill's agents (their ids), as the stream tells. */
  readonly incidents = new Set<string>();
  private lastIncident = 0;

  constructor(private readonly agentPrefix: string) {}

  push(e: WireEvent): void {
    if (e.type === 'incident.opened') {
      const agents = e.data['agents'];
      if (Array.isArray(agents) && agents.some((a) => String(a).startsWith(this.agentPrefix))) {
        this.incidents.add(String(e.data['id']));
        this.lastIncident = Date.now();
        for (const w of this.wake.splice(0)) w();
      }
      return;
    }
    const run = e.subject?.run ?? (typeof e.data['run'] === 'string' ? e.data['run'] : undefined);
    if (!run) return;
    let list = this.byRun.get(run);
    if (!list) this.byRun.set(run, (list = []));
    list.push(e);
    for (const w of this.wake.splice(0)) w();
  }

  of(run: string): readonly WireEvent[] {
    return this.byRun.get(run) ?? [];
  }

  /** Waits until no incident of the drill has opened for `ms` (the incidents component runs beside detection). */
  async settled(ms: number): Promise<void> {
    let quiet: number;
    while ((quiet = Date.now() - this.lastIncident) < ms) await new Promise((r) => setTimeout(r, ms - quiet));
  }

  /** Resolves true when `done()` holds, false at the deadline. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!done()) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }
}

/** What a run's events show, with the times from the act. */
function judge(s: Scenario, events: readonly WireEvent[], actMs: number) {
  const detection = events.find(
    (e) => e.type === 'detect.detection' && s.rules.includes(String(e.data['rule'])),
  );
  const contained = events.find(
    (e) =>
      e.type === 'respond.action' && CONTAINING.has(String(e.data['action'])) && e.data['outcome'] === 'done',
  );
  const seen = new Set<Outcome>();
  if (s.blockedBy && events.some(s.blockedBy)) seen.add('blocked');
  if (detection) seen.add('detected');
  if (contained) seen.add('contained');
  const since = (e: WireEvent | undefined): number | undefined =>
    e ? Math.max(0, Date.parse(e.time) - actMs) : undefined;
  return {
    seen,
    rule: detection ? String(detection.data['rule']) : undefined,
    action: contained ? String(contained.data['action']) : undefined,
    detectMs: since(detection),
    containMs: since(contained),
  };
}

/** Uses a run's token from outside it, through the proxy's TCP listener, as a thief would. */
function useToken(egress: string, token: string): Promise<void> {
  const u = new URL(egress);
  return new Promise((resolve) => {
    const req = request(
      {
        host: u.hostname,
        port: Number(u.port),
        path: 'http://stolen.drill.invalid/',
        headers: { 'proxy-authorization': `Bearer ${token}`, host: 'stolen.drill.invalid' },
        timeout: 5000,
      },
      (res) => res.resume().on('end', resolve).on('error', resolve),
    );
    req.on('error', () => resolve()).on('timeout', () => req.destroy());
    req.end();
  });
}

export async function runDrill(
  deps: RunnerDeps,
  names: readonly string[],
  repeat: number,
): Promise<DrillReport> {
  const chosen = names.map((n) => SCENARIOS.find((s) => s.name === n)!);
  const begun = await deps.api.call<{ id: string; seq: number; agentPrefix: string; message?: string }>(
    'POST',
    '/v1/drills',
    { scenarios: [...names], repeat },
  );
  if (begun.status !== 200) throw Object.assign(new Error('drill refused'), { response: begun });
  const { id, seq, agentPrefix } = begun.body;
  deps.progress(`drill ${id}: ${chosen.length} scenario(s) x ${repeat}`);

  const watch = new Watch(agentPrefix);
  const types =
    'detect.detection,respond.action,egress.connection,syscall.denied,process.exit,sandbox.*,incident.opened,gitgate.push';
  const streaming = deps.events
    .stream(
      `/v1/events/stream?from=${seq}&type=${types}`,
      {},
      sseReader((d) => watch.push(JSON.parse(d) as WireEvent)),
    )
    .catch(() => undefined);

  const results: ScenarioResult[] = [];
  const agents: string[] = [];
  try {
    for (const s of chosen) {
      const unavailable =
        s.unavailable ??
        (s.git && !deps.repository
          ? 'needs a scratch repository the git gate serves: rampart drill --repo ORG/NAME'
          : undefined);
      if (unavailable) {
        const r = { name: s.name, expected: s.expect.join('+'), observed: 'not available' };
        results.push({ ...r, status: 'unavailable', reason: unavailable, runs: [], times: [] });
        deps.progress(`  ${s.name}: not available (${unavailable})`);
        continue;
      }
      // A git gate scenario's run is bound to the scratch repository and the drill's task.
      const runArgs = s.git
        ? [...(s.runArgs ?? []), '--repo', deps.repository!, '--task', DRILL_TASK]
        : (s.runArgs ?? []);
      const runs: string[] = [];
      const times: { detectMs?: number; containMs?: number }[] = [];
      const observed: string[] = [];
      let failure: string | undefined;
      for (let rep = 1; rep <= repeat; rep++) {
        const agent = `${agentPrefix}${s.name}-${rep}`;
        agents.push(agent);
        const run = deps.startRun(agent, runArgs, s.script);
        let runId: string | undefined;
        try {
          runId = await run.id;
          runs.push(runId);
          let actMs: number;
          if (s.outside === 'use-token') {
            await within(run.line('RAMPART_DRILL_READY'), deps.waitMs, 'did not get ready');
            if (!deps.egress) throw new Error('the control plane has no egress proxy address');
            const token = readFileSync(join(deps.workspaceOf(runId), 'token'), 'utf8').trim();
            actMs = Date.now();
            await useToken(deps.egress, token);
          } else {
            // Bounded: a run contained before its act (a control that fired early) never prints it.
            actMs = Number(
              BigInt(await within(run.line('RAMPART_DRILL_ACT'), deps.waitMs, 'did not reach its act')) /
                1_000_000n,
            );
          }
          const rid = runId;
          await watch.until(
            () => s.expect.every((o) => judge(s, watch.of(rid), actMs).seen.has(o)),
            deps.waitMs,
          );
          const j = judge(s, watch.of(rid), actMs);
          times.push({
            ...(j.detectMs !== undefined ? { detectMs: j.detectMs } : {}),
            ...(j.containMs !== undefined ? { containMs: j.containMs } : {}),
          });
          const saw = (['blocked', 'detected', 'contained'] as const).filter((o) => j.seen.has(o));
          observed.push(
            `${saw.join('+') || 'nothing'}${j.rule ? ` (${j.rule}${j.action ? `, ${j.action}` : ''})` : ''}`,
          );
          const missing = s.expect.filter((o) => !j.seen.has(o));
          if (missing.length > 0)
            failure ??= `run ${rid} (repetition ${rep}): not ${missing.join(', ')} within ${deps.waitMs / 1000} s`;
        } catch (e) {
          failure ??= `repetition ${rep}: ${(e as Error).message}`;
          observed.push('error');
        } finally {
          if (runId) await deps.api.call('POST', `/v1/runs/${runId}/kill`, { reason: `drill ${id}` });
          run.kill();
          await run.exited;
        }
      }
      // What was seen, each different observation once with how many repetitions saw it.
      const counts = new Map<string, number>();
      for (const o of observed) counts.set(o, (counts.get(o) ?? 0) + 1);
      const common = counts.size === 1 ? observed[0]! : [...counts].map(([o, n]) => `${o} x${n}`).join('; ');
      results.push({
        name: s.name,
        expected: s.expect.join('+'),
        observed: common.slice(0, 2000),
        status: failure ? 'failed' : 'held',
        ...(failure ? { reason: failure.slice(0, 2000) } : {}),
        runs,
        times,
      });
      deps.progress(`  ${s.name}: ${failure ? `FAILED: ${failure}` : 'held'}`);
    }
  } finally {
    await watch.settled(1000);
    await cleanUp(deps, id, agents, watch.incidents);
  }
  const finished = await deps.api.call<Record<string, unknown>>('POST', `/v1/drills/${id}/finish`, {
    scenarios: results,
  });
  // The stream ends with its connection; what it still says is no longer read.
  deps.events.close();
  void streaming;
  if (finished.status !== 200) throw Object.assign(new Error('drill not recorded'), { response: finished });
  return { id, results, summary: finished.body };
}

/** The drill's agents released, its incidents resolved as a drill's (benign, on record). */
async function cleanUp(
  deps: RunnerDeps,
  id: string,
  agents: readonly string[],
  opened: ReadonlySet<string>,
): Promise<void> {
  const status = await deps.api.call<{ blocked?: { agent: string }[]; breaker?: { scope: string }[] }>(
    'GET',
    '/v1/respond',
  );
  const blocked = new Set((status.body.blocked ?? []).map((b) => b.agent));
  for (const agent of agents.filter((a) => blocked.has(a)))
    await deps.api.call('POST', '/v1/respond/unblock-agent', { agent, reason: `drill ${id} ended` });
  // The drill's own breaker scopes (drill:ID/...), tripped by its repetitions, are reset.
  for (const t of (status.body.breaker ?? []).filter((b) => b.scope.startsWith(`drill:${id}/`)))
    await deps.api.call('POST', '/v1/respond/reset-breaker', { scope: t.scope, reason: `drill ${id} ended` });
  const open = await deps.api.call<{ incidents?: { id: string; drill: string | null }[] }>(
    'GET',
    '/v1/incidents?status=active&limit=10000',
  );
  for (const i of (open.body.incidents ?? []).filter((x) => x.drill === id || opened.has(x.id)))
    await deps.api.call('POST', `/v1/incidents/${i.id}/resolve`, {
      verdict: 'benign_true_positive',
      note: `drill ${id}: the drill's own runs`,
    });
}
