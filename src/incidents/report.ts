// The incident report: summary, metrics, actions, evidence hashes, notes and lessons learned, the
// timeline, and the proofs, as JSON, Markdown or HTML. The Markdown and HTML are rendered from the
// JSON report they carry (in a fenced block, in a script element of type application/json), so
// `rampart audit verify-proof` checks every record against the signed checkpoint and then renders
// the document again: an edited line anywhere is found, not only an edited record.

import { RampartError } from '../core/errors.js';
import type { StoredEntry } from '../core/records.js';
import { leafHash, verifyInclusion } from '../core/merkle.js';
import { timesOf, type Incident, type IncidentTimes } from './model.js';
import { summarize, type Timeline } from './timeline.js';

export const REPORT_FORMAT = 'rampart.incident-report/1';

export interface IncidentReport {
  readonly format: typeof REPORT_FORMAT;
  readonly generated: string;
  readonly incident: Incident;
  readonly metrics: IncidentTimes;
  readonly timeline: Timeline;
}

export function makeReport(incident: Incident, timeline: Timeline, generated: string): IncidentReport {
  return { format: REPORT_FORMAT, generated, incident, metrics: timesOf(incident), timeline };
}

const secs = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(3)} s`);

/** The report's sections as lines of text: [heading, lines][]. Markdown and HTML render the same. */
function sections(r: IncidentReport): [string, string[]][] {
  const i = r.incident;
  const m = r.metrics;
  const o = i.observables;
  const lessons = i.notes.filter((n) => /^lessons?( learned)?:/i.test(n.text));
  return [
    [
      'Summary',
      [
        `Severity: ${i.severity}; status: ${i.status}; phase: ${i.phase}; kind: ${i.kind}`,
        `Opened: ${i.times.opened}${i.times.resolved ? `; resolved: ${i.times.resolved}` : ''}`,
        `Assignee: ${i.assignee ?? '-'}; verdict: ${i.verdict ? `${i.verdict.value} (${i.verdict.by})` : '-'}`,
        `Detections: ${i.detectionCount} (${[...new Set(i.detections.map((d) => d.rule))].join(', ') || '-'})`,
        `Agents: ${o.agents.join(', ') || '-'}; runs: ${o.runs.join(', ') || '-'}`,
        `Destinations: ${o.destinations.join(', ') || '-'}; tags: ${i.tags.join(', ') || '-'}`,
      ],
    ],
    [
      'Metrics',
      [
        `Time to detect: ${secs(m.detectMs)}`,
        `Time to acknowledge: ${secs(m.acknowledgeMs)}`,
        `Time to contain: ${secs(m.containMs)}`,
        `Time to resolve: ${secs(m.resolveMs)}`,
      ],
    ],
    [
      'Actions',
      i.actions.map((a) => `#${a.seq} ${a.time} ${a.action} ${a.target}: ${a.outcome} (by ${a.by})`),
    ],
    [
      'Evidence',
      i.evidence.map(
        (e) => `#${e.seq} ${e.kind} of run ${e.run}: ${e.archive} sha256 ${e.sha256} (${e.bytes} bytes)`,
      ),
    ],
    ['Tasks', i.tasks.map((t) => `[${t.done ? 'x' : ' '}] ${t.text} (${t.runbook})`)],
    ['Notes', i.notes.map((n) => `${n.at} ${n.by}: ${n.text}`)],
    ['Lessons learned', lessons.map((n) => `${n.text} (${n.by}, ${n.at})`)],
    [
      'Timeline',
      [
        `${r.timeline.entries.length} record(s) from ${r.timeline.from} to ${r.timeline.to}${r.timeline.truncated ? ' (stopped at the limit: more records match)' : ''}, each proven against the checkpoint of tree size ${r.timeline.proofs.treeSize}`,
        ...r.timeline.entries.map((e) => `#${e.seq} ${e.time} ${e.actor}: ${e.summary} (${e.outcome})`),
      ],
    ],
  ];
}

export function renderMarkdown(r: IncidentReport): string {
  const i = r.incident;
  const esc = (s: string): string => s.replace(/[\\`*_<>[\]|#]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
  const out = [`# Incident ${i.id}: ${esc(i.title)}`, '', `Report generated ${r.generated}.`, ''];
  for (const [h, lines] of sections(r)) {
    out.push(`## ${h}`, '');
    out.push(...(lines.length > 0 ? lines.map((l) => `- ${esc(l)}`) : ['- none']), '');
  }
  out.push(
    '## Proofs',
    '',
    'The report as data, with every record above and its inclusion proof against the signed checkpoint. Check it offline: `rampart audit verify-proof <this file>`.',
    '',
    '```rampart-report',
    JSON.stringify(r),
    '```',
    '',
  );
  return out.join('\n');
}

const html = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderHtml(r: IncidentReport): string {
  const i = r.incident;
  const body = sections(r)
    .map(
      ([h, lines]) =>
        `<h2>${html(h)}</h2>\n<ul>\n${(lines.length > 0 ? lines : ['none']).map((l) => `<li>${html(l)}</li>`).join('\n')}\n</ul>`,
    )
    .join('\n');
  // In a script element "</" would end it: escaped, JSON.parse reads it back the same.
  const data = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Incident ${html(i.id)}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}li{word-break:break-word}</style>
</head>
<body>
<h1>Incident ${html(i.id)}: ${html(i.title)}</h1>
<p>Report generated ${html(r.generated)}. Check it offline: <code>rampart audit verify-proof &lt;this file&gt;</code>.</p>
${body}
<script type="application/json" id="rampart-report">${data}</script>
</body>
</html>
`;
}

/** The report a file holds: JSON, or the JSON a Markdown or HTML report carries. */
export function extractReport(
  text: string,
): { report: IncidentReport; as: 'json' | 'md' | 'html' } | undefined {
  const trimmed = text.trimStart();
  const parse = (s: string): IncidentReport | undefined => {
    try {
      const v = JSON.parse(s) as IncidentReport;
      return v && typeof v === 'object' && v.format === REPORT_FORMAT ? v : undefined;
    } catch {
      return undefined;
    }
  };
  if (trimmed.startsWith('{')) {
    const r = parse(trimmed);
    return r ? { report: r, as: 'json' } : undefined;
  }
  const md = /\n```rampart-report\n(.*)\n```\n/.exec(text);
  if (md) {
    const r = parse(md[1]!);
    return r ? { report: r, as: 'md' } : undefined;
  }
  const h = /<script type="application\/json" id="rampart-report">(.*)<\/script>/.exec(text);
  if (h) {
    const r = parse(h[1]!);
    return r ? { report: r, as: 'html' } : undefined;
  }
  return undefined;
}

/** A signed checkpoint, opened (its signature checked by a trusted key): the audit log's job. */
export interface OpenedCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  readonly signedBy: string;
  readonly time: string;
}

export interface ReportCheck {
  readonly records: number;
  readonly treeSize: number;
  readonly signedBy: string;
  readonly time: string;
}

/**
 * Checks a report: the checkpoint's signature, every record's leaf hash and inclusion proof, that
 * every timeline line says what its proven record says, and (for Markdown and HTML) that the
 * document is exactly what its report renders to. Throws RAMPART_E_AUDIT_TAMPERED naming the
 * first thing that does not hold.
 */
export function checkReport(text: string, openCheckpoint: (note: string) => OpenedCheckpoint): ReportCheck {
  const found = extractReport(text);
  if (!found) throw new RampartError('RAMPART_E_BAD_REQUEST', 'not an incident report');
  const { report, as } = found;
  const bad = (why: string): RampartError => new RampartError('RAMPART_E_AUDIT_TAMPERED', why);
  const p = report.timeline.proofs;
  if (p.records.length === 0) return { records: 0, treeSize: 0, signedBy: '-', time: '-' };
  const cp = openCheckpoint(p.checkpoint);
  if (cp.size !== p.treeSize)
    throw bad(`the proofs are for tree size ${p.treeSize} but the checkpoint is for ${cp.size}`);
  const bySeq = new Map<number, string>();
  for (const r of p.records) {
    const leaf = leafHash(r.entry);
    if (leaf.toString('hex') !== r.leafHash) throw bad(`record ${r.seq} does not hash to its leaf hash`);
    const proof = r.proof.map((h) => Buffer.from(h, 'hex'));
    if (!verifyInclusion(r.seq, cp.size, leaf, proof, cp.root))
      throw bad(`record ${r.seq} is not included in the signed tree of size ${cp.size}`);
    bySeq.set(r.seq, r.entry);
  }
  if (report.timeline.entries.length !== p.records.length)
    throw bad(
      `the timeline has ${report.timeline.entries.length} lines for ${p.records.length} proven records`,
    );
  for (const e of report.timeline.entries) {
    const entry = bySeq.get(e.seq);
    if (entry === undefined) throw bad(`timeline line #${e.seq} has no proven record`);
    const rec = JSON.parse(entry) as StoredEntry;
    if (
      rec.time !== e.time ||
      rec.actor !== e.actor ||
      rec.action !== e.action ||
      rec.target !== e.target ||
      rec.outcome !== e.outcome ||
      summarize(rec) !== e.summary
    )
      throw bad(`timeline line #${e.seq} does not say what record ${e.seq} says`);
  }
  if (as === 'md' && renderMarkdown(report) !== text)
    throw bad('the Markdown report was edited after it was generated');
  if (as === 'html' && renderHtml(report) !== text)
    throw bad('the HTML report was edited after it was generated');
  return { records: p.records.length, treeSize: cp.size, signedBy: cp.signedBy, time: cp.time };
}
