// `rampart drill --chaos`: each chosen scenario against a deployment made for it alone (a fault
// left behind by one must not be blamed on the next), then torn down.

import { Deployment } from './deployment.js';
import { Checks } from './checks.js';
import { CHAOS, type ChaosResult } from './scenarios.js';

export async function runChaos(
  self: string,
  names: readonly string[],
  progress: (line: string) => void,
): Promise<ChaosResult[]> {
  const results: ChaosResult[] = [];
  for (const s of CHAOS.filter((x) => names.includes(x.name))) {
    progress(`chaos: ${s.name}: ${s.title}`);
    let d: Deployment | undefined;
    let checks: Checks | undefined;
    try {
      d = await Deployment.create(self, progress);
      await d.startControlPlane();
      checks = new Checks(d);
      await s.run(d, checks);
      results.push({
        name: s.name,
        expected: s.expected,
        observed: checks.notes.join('; '),
        status: 'held',
        ...(checks.healthMs !== undefined ? { healthMs: checks.healthMs } : {}),
        ...(checks.recoverMs !== undefined ? { recoverMs: checks.recoverMs } : {}),
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
      });
    } finally {
      await d?.destroy();
    }
  }
  return results;
}
