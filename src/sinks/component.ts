// The sinks component's door: the audit log streamed off the host to the team's SIEM (syslog,
// Splunk HEC, Elasticsearch) and its signed checkpoints to a remote witness. Each output reads
// the log from its own cursor in the store's meta, advanced only once a batch is accepted: the
// log is its buffer, so an output that is down loses nothing and delays nothing; it catches up
// when it is back (at least once: a collector may see a batch twice after a crash, and each
// record carries its sequence number to tell). Behind by more than sinks.max_lag records, or
// failing, it says so in health and /metrics.

import type { Component } from '../core/component.js';
import type { SinksSettings } from '../core/settings.js';
import type { Log } from '../core/types.js';
import type { AuditStore, MetaStore } from '../store/types.js';
import { outputFor, type Output, type ReadSecret } from './outputs.js';

export interface SinksDeps {
  readonly settings: SinksSettings;
  readonly audit: Pick<AuditStore, 'records' | 'head' | 'latestCheckpoint'>;
  readonly meta: MetaStore;
  /** Subscribes to the store's word that events were recorded (other records: the poll finds them). */
  readonly wake?: (fn: () => void) => () => void;
  readonly installation: string;
  readonly readSecret: ReadSecret;
  readonly log: Log;
  /** How often the log is looked at without a wake (default 500 ms). */
  readonly pollMs?: number;
}

interface State {
  readonly name: string;
  readonly type: string;
  readonly output: Output;
  readonly batch: number;
  cursor: number;
  sent: number;
  failures: number;
  failing: { since: string; error: string } | undefined;
  /** The witness: the last checkpoint sent. */
  checkpoint: number;
  retryAt: number;
}

const cursorKey = (name: string): string => `sinks.cursor.${name}`;
const MAX_BACKOFF_MS = 30_000;

export async function startSinks(deps: SinksDeps): Promise<Component> {
  const states: State[] = [];
  for (const o of deps.settings.outputs) {
    const stored = await deps.meta.get(cursorKey(o.name));
    // A new output starts from the beginning of the log: history belongs off the host too.
    const cursor = stored === undefined ? 0 : Number(stored);
    states.push({
      name: o.name,
      type: o.type,
      output: outputFor(o, deps.installation, deps.readSecret),
      batch: o.batch,
      cursor,
      sent: 0,
      failures: 0,
      failing: undefined,
      checkpoint: o.type === 'witness' ? cursor : 0,
      retryAt: 0,
    });
  }
  let head = 0;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;

  const fail = (s: State, e: unknown): void => {
    s.failures++;
    const error = (e as Error).message;
    if (!s.failing) deps.log.error({ output: s.name, error }, 'an audit sink is failing; it will catch up');
    s.failing ??= { since: new Date().toISOString(), error };
    s.failing = { since: s.failing.since, error };
    s.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(s.failures, 7));
  };

  const drain = async (s: State): Promise<void> => {
    if (Date.now() < s.retryAt) return;
    try {
      if (s.type === 'witness') {
        const cp = await deps.audit.latestCheckpoint();
        if (cp && cp.id > s.checkpoint) {
          await s.output.checkpoint!(cp.note);
          s.checkpoint = cp.id;
          s.sent++;
          await deps.meta.set(cursorKey(s.name), String(cp.id));
        }
      } else
        while (!stopped && s.cursor < head) {
          const rows = await deps.audit.records(s.cursor, s.batch);
          if (rows.length === 0) break;
          await s.output.send(rows);
          s.cursor = rows[rows.length - 1]!.seq + 1;
          s.sent += rows.length;
          await deps.meta.set(cursorKey(s.name), String(s.cursor));
        }
      s.failures = 0;
      s.failing = undefined;
    } catch (e) {
      fail(s, e);
    }
  };

  /** One pass over every output; a wake during a pass makes one more. */
  const pass = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        head = (await deps.audit.head().catch(() => ({ size: head }))).size;
        await Promise.all(states.map((s) => drain(s)));
      } while (again && !stopped);
    })().finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void pass(), deps.pollMs ?? 500);
  timer.unref();
  const unlisten = deps.wake?.(() => void pass());
  void pass();

  const lag = (s: State): number => (s.type === 'witness' ? 0 : Math.max(0, head - s.cursor));
  return {
    name: 'sinks',
    routes: [],
    subscriptions: [],
    health: () => {
      if (states.length === 0) return { status: 'ok', detail: 'no outputs configured' };
      const bad = states.filter((s) => s.failing || lag(s) > deps.settings.maxLag);
      if (bad.length === 0) return { status: 'ok', detail: `${states.length} output(s), caught up` };
      return {
        status: 'degraded',
        detail: bad
          .map(
            (s) =>
              `output ${s.name} ${lag(s)} record(s) behind${s.failing ? `, failing since ${s.failing.since}: ${s.failing.error}` : ''}`,
          )
          .join('; '),
      };
    },
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_sinks_sent_total',
        help: 'Records (checkpoints for a witness) accepted by each output.',
        label: 'output',
        read: () => Object.fromEntries(states.map((s) => [s.name, s.sent])),
      },
      {
        kind: 'gauge',
        name: 'rampart_sinks_lag_records',
        help: 'Records of the log each output has not yet accepted.',
        label: 'output',
        read: () => Object.fromEntries(states.map((s) => [s.name, lag(s)])),
      },
      {
        kind: 'gauge',
        name: 'rampart_sinks_failing',
        help: 'Outputs whose last try failed.',
        read: () => states.filter((s) => s.failing).length,
      },
    ],
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      unlisten?.();
      await running;
      for (const s of states) s.output.close();
    },
  };
}
