// How an audit record looks to each collector. A record is the canonical JSON its leaf hash is
// computed over, sent verbatim inside each format, so a copy in the SIEM can be checked against
// the log's proofs byte for byte.

import { hostname } from 'node:os';
import type { AuditRecordRow } from '../store/types.js';

interface Parsed {
  readonly time?: string;
  readonly action?: string;
  readonly outcome?: string;
  readonly details?: { severity?: string };
}

const parse = (r: AuditRecordRow): Parsed => {
  try {
    return JSON.parse(r.entry) as Parsed;
  } catch {
    return {};
  }
};

/** RFC 5424 severities from Rampart's scale (events carry one; other records are notices). */
const SYSLOG_SEVERITY: Record<string, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** local0: the facility sites route to their SIEM. */
const FACILITY = 16;
/** RFC 5612's documentation enterprise number: an SD-ID needs one, and Rampart has none of its own. */
const SD_ID = 'rampart@32473';

const sdEscape = (v: string): string => v.replace(/[\\"\]]/g, (c) => `\\${c}`);

/**
 * One RFC 5424 message, framed by octet counting (RFC 6587, 3.4.1) for TCP and TLS:
 * `<len> <PRI>1 TIME HOST rampart PID AUDIT [rampart@32473 seq=".." action=".."] {record}`.
 */
export function syslogFrame(r: AuditRecordRow, host = hostname()): Buffer {
  const p = parse(r);
  const severity = SYSLOG_SEVERITY[p.details?.severity ?? ''] ?? 5;
  const sd = `[${SD_ID} seq="${r.seq}" action="${sdEscape(p.action ?? '')}" outcome="${sdEscape(p.outcome ?? '')}"]`;
  const msg = Buffer.from(
    `<${FACILITY * 8 + severity}>1 ${p.time ?? new Date().toISOString()} ${host || '-'} rampart ${process.pid} AUDIT ${sd} ${r.entry}`,
    'utf8',
  );
  return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
}

/** Splunk HEC: one JSON object per record, concatenated. */
export function splunkBody(rows: readonly AuditRecordRow[], host = hostname()): string {
  return rows
    .map((r) => {
      const p = parse(r);
      const t = Date.parse(p.time ?? '');
      return JSON.stringify({
        ...(Number.isFinite(t) ? { time: t / 1000 } : {}),
        host,
        source: 'rampart',
        sourcetype: 'rampart:audit',
        fields: { seq: r.seq },
        event: JSON.parse(r.entry) as unknown,
      });
    })
    .join('');
}

/** Elasticsearch _bulk: an index action per record, its id the installation and sequence number. */
export function bulkBody(rows: readonly AuditRecordRow[], index: string, installation: string): string {
  return rows
    .map(
      (r) => `${JSON.stringify({ index: { _index: index, _id: `${installation}-${r.seq}` } })}\n${r.entry}\n`,
    )
    .join('');
}
