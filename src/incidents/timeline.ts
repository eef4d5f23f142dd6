// An incident's timeline, from the audit log: every record about its runs, its agents or itself,
// from a lead before its first event to its resolution (or now), in order, each with its
// inclusion proof against one signed checkpoint. The story is the log's, so it cannot be edited
// after the fact: a report carries the records and proofs, and `rampart audit verify-proof`
// checks them offline.

import { firstAt, type StoredEntry as Entry } from '../core/records.js';
import type { AuditRecordRow } from '../store/types.js';
import type { Incident } from './model.js';

/** What the timeline needs of the audit log. */
export interface AuditAccess {
  size(): Promise<number>;
  records(from: number, limit: number): Promise<AuditRecordRow[]>;
  /** Records with from <= seq < end containing one of `needles`, ascending, at most `limit`. */
  search(from: number, end: number, needles: readonly string[], limit: number): Promise<AuditRecordRow[]>;
  proofs(seqs: readonly number[]): Promise<{
    checkpoint: string;
    treeSize: number;
    proofs: { seq: number; leafHash: string; proof: readonly string[] }[];
  }>;
}

export interface TimelineEntry {
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
  /** One line a person reads. */
  readonly summary: string;
}

export interface ProvenRecord {
  readonly seq: number;
  /** The record exactly as stored: its leaf hash is computed over this text. */
  readonly entry: string;
  readonly leafHash: string;
  readonly proof: readonly string[];
}

export interface Timeline {
  readonly from: string;
  readonly to: string;
  readonly entries: readonly TimelineEntry[];
  /** It stopped at incidents.timeline.max_records: more records match. */
  readonly truncated: boolean;
  readonly proofs: {
    readonly checkpoint: string;
    readonly treeSize: number;
    readonly records: readonly ProvenRecord[];
  };
}

const PAGE = 2000;

export async function buildTimeline(
  audit: AuditAccess,
  i: Incident,
  o: { leadMs: number; max: number; now: number },
): Promise<Timeline> {
  const from = new Date(Date.parse(i.times.firstEvent) - o.leadMs).toISOString();
  const to = i.times.resolved ?? new Date(o.now).toISOString();
  const runs = new Set(i.observables.runs);
  const agents = new Set(i.observables.agents);
  const about = (e: Entry): boolean => {
    if (runs.has(e.target) || agents.has(e.target) || e.target === i.id) return true;
    if (e.actor.startsWith('agent:') && agents.has(e.actor.slice(6))) return true;
    const s = e.details?.subject;
    if ((s?.run && runs.has(s.run)) || (s?.agent && agents.has(s.agent))) return true;
    const d = e.details?.data;
    if (!d) return false;
    return (
      (typeof d['run'] === 'string' && runs.has(d['run'])) ||
      (typeof d['agent'] === 'string' && agents.has(d['agent'])) ||
      d['id'] === i.id ||
      (i.breakglass !== undefined && d['id'] === i.breakglass.id && e.action.startsWith('event.breakglass.'))
    );
  };
  // A record about any of them names one of them as a JSON string: the store finds those (most
  // of a busy log is about other runs), and each is then checked field by field.
  const needles = [...runs, ...agents, i.id, ...(i.breakglass ? [i.breakglass.id] : [])].map((x) =>
    JSON.stringify(x),
  );
  const size = await audit.size();
  const end = await firstAt(audit, size, to, true);
  const rows: { row: AuditRecordRow; e: Entry }[] = [];
  let truncated = false;
  scan: for (let at = await firstAt(audit, size, from); at < end;) {
    // As many as could still fit, plus one to know there are more: usually one query. A page
    // is at least PAGE, for the candidates the field-by-field check turns away.
    const limit = Math.max(PAGE, o.max - rows.length + 1);
    const page = await audit.search(at, end, needles, limit);
    for (const row of page) {
      const e = JSON.parse(row.entry) as Entry;
      if (!about(e)) continue;
      if (rows.length >= o.max) {
        truncated = true;
        break scan;
      }
      rows.push({ row, e });
    }
    if (page.length < limit) break;
    at = page[page.length - 1]!.seq + 1;
  }
  const proven =
    rows.length > 0
      ? await audit.proofs(rows.map((r) => r.row.seq))
      : { checkpoint: '', treeSize: 0, proofs: [] };
  return {
    from,
    to,
    truncated,
    entries: rows.map(({ row, e }) => ({
      seq: row.seq,
      time: e.time,
      actor: e.actor,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
      summary: summarize(e),
    })),
    proofs: {
      checkpoint: proven.checkpoint,
      treeSize: proven.treeSize,
      records: rows.map(({ row }, k) => ({
        seq: row.seq,
        entry: row.entry,
        leafHash: proven.proofs[k]!.leafHash,
        proof: proven.proofs[k]!.proof,
      })),
    },
  };
}

/** One readable line for a record: what the event or request said. */
export function summarize(e: Entry): string {
  const d = e.details?.data ?? {};
  const n = (k: string): string => (typeof d[k] === 'number' || typeof d[k] === 'string' ? String(d[k]) : '');
  const s = (k: string): string | undefined => (typeof d[k] === 'string' && d[k] !== '' ? d[k] : undefined);
  const sev = typeof e.details?.['severity'] === 'string' ? `[${e.details['severity']}] ` : '';
  const type = e.action.startsWith('event.') ? e.action.slice(6) : e.action;
  let what: string;
  switch (type) {
    case 'detect.detection':
      what = `${s('rule') ?? '?'}: ${s('output') ?? ''}`;
      break;
    case 'respond.action':
      what = `${s('action') ?? '?'} ${s('target') ?? ''} ${n('outcome')}${s('playbook') ? ` (playbook ${s('playbook')})` : ''}`;
      break;
    case 'process.exec':
      what = Array.isArray(d['argv']) ? (d['argv'] as unknown[]).map(String).join(' ') : (s('exe') ?? '');
      break;
    case 'file.open':
      what = s('path') ?? '';
      break;
    case 'net.connect':
      what = `${s('address') ?? '?'}:${n('port')}`;
      break;
    case 'egress.connection':
      what = `${s('method') ?? ''} ${s('host') ?? '?'}:${n('port')} ${s('decision') ?? ''}`;
      break;
    default:
      what = s('message') ?? s('reason') ?? s('title') ?? s('output') ?? e.target;
  }
  return `${sev}${type}: ${what}`.slice(0, 300);
}
