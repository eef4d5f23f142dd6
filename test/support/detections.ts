// Waiting for a detection on record, as tests across runtimes and features look for one.

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
