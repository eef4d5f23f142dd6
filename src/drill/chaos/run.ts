// `rampart drill --chaos`: each chosen scenario against a deployment made for it alone (a fault
// left behind by one must not be blamed on the next), then torn down. When a control plane runs
// for the caller's data directory, the chaos drill is recorded there like any drill (the
// throwaway deployments' own logs go with them): drill.started, drill.finished, an incident for
// every scenario that did not hold, the last drill in health and /metrics.

import { randomBytes } from 'node:crypto';
import type { DrillApi } from '../runner.js';
import { chaosAsScenarios } from '../report.js';
import { Deployment } from './deployment.js';
import { Checks } from './checks.js';
import { CHAOS, type ChaosResult } from './scenarios.js';

export interface ChaosReport {
  /** The drill's id on the running control plane, or a local one when nothing recorded it. */
  readonly id: string;
  readonly chaos: true;
  readonly recorded: boolean;
  readonly results: readonly ChaosResult[];
}

export async function runChaos(
  self: string,
  names: readonly string[],
  progress: (line: string) => void,
  record: DrillApi | undefined,
  /** A client of the control plane running for a data directory (found anew at each call). */
  connect: (dataDir: string) => DrillApi,
): Promise<ChaosReport> {
  let id = randomBytes(6).toString('hex');
  if (record) {
    const begun = await record.call<{ id: string }>('POST', '/v1/drills', { scenarios: [...names] });
    if (begun.status !== 200) throw Object.assign(new Error('drill refused'), { response: begun });
    id = begun.body.id;
  }
  progress(
    `chaos drill ${id}${record ? '' : ' (not recorded: no control plane runs for this data directory)'}`,
  );
  const results: ChaosResult[] = [];
  for (const s of CHAOS.filter((x) => names.includes(x.name))) {
    progress(`chaos: ${s.name}: ${s.title}`);
    let d: Deployment | undefined;
    let checks: Checks | undefined;
    try {
      d = await Deployment.create(self, progress);
      await d.startControlPlane();
      const dep = d;
      checks = new Checks(d, () => connect(dep.dataDir));
      await s.run(d, checks);
      results.push({
        name: s.name,
        expected: s.expected,
        observed: checks.notes.join('; '),
        status: 'held',
        ...(checks.healthMs !== undefined ? { healthMs: checks.healthMs } : {}),
        ...(checks.recoverMs !== undefined ? { recoverMs: checks.recoverMs } : {}),
        deployment: { id: d.id, base: d.base },
      });
    } catch (e) {
      results.push({
        name: s.name,
        expected: s.expected,
        observed: checks?.notes.join('; ') ?? '',
        status: 'failed',
        reason: (e as Error).message,
        ...(checks?.healthMs !== undefined ? { healthMs: checks.healthMs } : {}),
        ...(checks?.recoverMs !== undefined ? { recoverMs: checks.recoverMs } : {}),
        ...(d ? { deployment: { id: d.id, base: d.base } } : {}),
      });
    } finally {
      const left = (await d?.destroy()) ?? [];
      // A drill that leaves something of its deployment behind has not held.
      const last = results[results.length - 1];
      if (left.length > 0 && last?.name === s.name)
        results[results.length - 1] = {
          ...last,
          status: 'failed',
          reason: [last.reason, `left behind: ${left.join('; ')}`].filter(Boolean).join('; '),
        };
    }
  }
  if (record) {
    const finished = await record.call('POST', `/v1/drills/${id}/finish`, {
      scenarios: chaosAsScenarios(results),
    });
    if (finished.status !== 200) throw Object.assign(new Error('drill not recorded'), { response: finished });
  }
  return { id, chaos: true, recorded: record !== undefined, results };
}
