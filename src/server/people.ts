// Where people take over, composed: incidents (reading the audit log through its narrow
// interface, runs' hosts from the store) and break-glass. Part of the control plane's
// composition (controlplane.ts calls it), kept apart so that file stays one a reader can hold.

import { join } from 'node:path';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/load.js';
import type { Component } from '../core/component.js';
import type { EventPublisher } from '../core/events.js';
import { packageRoot } from '../core/paths.js';
import type { Log } from '../core/types.js';
import { startBreakglass, type BreakglassComponent } from '../breakglass/component.js';
import { loadRunbooks, startIncidents } from '../incidents/component.js';
import type { Store } from '../store/types.js';

export async function startPeople(o: {
  readonly config: Config;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly bus: EventPublisher;
  readonly log: Log;
  /** The rules detection serves, to check runbooks against (none checked without). */
  readonly ruleNames: ReadonlySet<string> | undefined;
  /** Registers a started component (its stop runs at shutdown, or if a later start fails). */
  readonly started: <C extends Component>(c: C) => C;
}): Promise<{ breakglass: BreakglassComponent }> {
  const { config, store, audit, bus, log } = o;
  o.started(
    await startIncidents({
      settings: config.incidents,
      runbooks: loadRunbooks(
        [
          ...(config.incidents.includeShipped ? [join(packageRoot(), 'runbooks', 'default')] : []),
          ...config.incidents.runbooks,
        ],
        o.ruleNames,
      ),
      meta: store.meta,
      notifications: store.notifications,
      audit: {
        size: async () => (await store.audit.head()).size,
        records: (from, limit) => store.audit.records(from, limit),
        search: (from, end, needles, limit) => store.audit.search(from, end, needles, limit),
        proofs: (seqs) => audit.inclusionProofs(seqs),
      },
      runHost: async (run) => (await store.runs.get(run))?.host,
      bus,
      auditor: audit,
      log,
    }),
  );
  const breakglass = o.started(
    await startBreakglass({
      settings: config.breakglass,
      meta: store.meta,
      notifications: store.notifications,
      bus,
      auditor: audit,
      log,
    }),
  );
  return { breakglass };
}
