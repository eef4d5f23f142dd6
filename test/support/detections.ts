// Waiting for a detection on record, as tests across runtimes and features look for one.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Api, Json } from './http.js';
import { eventually } from './wait.js';

/** The data of the first `detect.detection` record of `rule` for `agent`, once it is on record. */
export function detection(admin: Api, rule: string, agent: string, ms = 5000): Promise<Json> {
  return eventually(
    async () => {
      const rs = ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;
      return rs.find(
        (x) =>
          x.action === 'event.detect.detection' &&
          x.details.data.rule === rule &&
          x.details.data.agent === agent,
      )?.details.data;
    },
    `${rule} for agent ${agent}`,
    ms,
  );
}

/** The response action `action` done on `run` (by `playbook`, when named), once it is on record. */
export function responseAction(
  admin: Api,
  run: string,
  action: string,
  playbook?: string,
  ms = 10_000,
): Promise<Json> {
  return eventually(
    async () => {
      const rs = ((await admin('GET', '/v1/audit/records?limit=10000')).json as { records: Json[] }).records;
      return rs.find(
        (x) =>
          x.action === 'event.respond.action' &&
          x.details.data.run === run &&
          x.details.data.action === action &&
          x.details.data.outcome === 'done' &&
          (playbook === undefined || x.details.data.playbook === playbook),
      )?.details.data;
    },
    `${action}${playbook ? ` by ${playbook}` : ''} on ${run}`,
    ms,
  );
}

/** What a run's cgroup v1 freezer says (FROZEN, THAWED), read from outside the run. */
export function freezerState(cgroupParent: string, run: string): string {
  return readFileSync(join('/sys/fs/cgroup/freezer', cgroupParent, run, 'freezer.state'), 'utf8').trim();
}
