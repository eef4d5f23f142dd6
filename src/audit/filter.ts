// Which audit records a reader asked for (rampart audit tail): by run, agent, action, outcome and
// time, matched on the record as stored. Records are found from the end backwards (the newest N
// that match) or from a time forwards (core/records.ts finds the first record at a time).

import type { RecordSource, StoredEntry as Entry } from '../core/records.js';
import type { AuditRecordRow } from '../store/types.js';

export interface RecordFilter {
  readonly run?: string | undefined;
  readonly agent?: string | undefined;
  /** An action, or a prefix ending in `*` (`sandbox.*`, `event.*`). */
  readonly action?: string | undefined;
  readonly outcome?: string | undefined;
}

export function matcher(f: RecordFilter): (row: AuditRecordRow) => boolean {
  const action = f.action;
  const prefix = action?.endsWith('*') ? action.slice(0, -1) : undefined;
  return (row) => {
    const e = JSON.parse(row.entry) as Entry;
    if (action !== undefined && (prefix !== undefined ? !e.action.startsWith(prefix) : e.action !== action))
      return false;
    if (f.outcome !== undefined && e.outcome !== f.outcome) return false;
    const d = e.details;
    if (f.run !== undefined && e.target !== f.run && d?.subject?.run !== f.run && d?.data?.run !== f.run)
      return false;
    if (
      f.agent !== undefined &&
      e.actor !== `agent:${f.agent}` &&
      d?.subject?.agent !== f.agent &&
      d?.data?.agent !== f.agent &&
      !(e.target === f.agent && e.action.startsWith('entity.'))
    )
      return false;
    return true;
  };
}

/** One line a person reads: record number, time, actor, action, target, outcome. */
export function recordLine(row: AuditRecordRow): string {
  const e = JSON.parse(row.entry) as Entry;
  return `#${row.seq} ${e.time} ${e.actor} ${e.action} ${e.target} ${e.outcome}`;
}

/** The newest `n` matching records before `end`, oldest first, reading backwards in pages. */
export async function lastMatching(
  source: RecordSource,
  end: number,
  n: number,
  match: (row: AuditRecordRow) => boolean,
): Promise<AuditRecordRow[]> {
  const found: AuditRecordRow[] = [];
  const PAGE = 1000;
  for (let to = end; to > 0 && found.length < n; to -= PAGE) {
    const from = Math.max(0, to - PAGE);
    const rows = await source.records(from, to - from);
    for (let i = rows.length - 1; i >= 0 && found.length < n; i--) if (match(rows[i]!)) found.push(rows[i]!);
  }
  return found.reverse();
}
