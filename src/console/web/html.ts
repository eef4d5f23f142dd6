// Rendering helpers. htm builds Preact elements from tagged templates: every interpolated value is
// a text node or an attribute value, never parsed as markup, so what agents wrote (commands, paths,
// hostnames, event data) is shown as text. Nothing here sets innerHTML.

import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

export function when(iso: string | undefined | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function ago(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return '—';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function ms(n: number | undefined | null): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 120_000) return `${(n / 1000).toFixed(1)} s`;
  if (n < 7_200_000) return `${(n / 60_000).toFixed(1)} min`;
  return `${(n / 3_600_000).toFixed(1)} h`;
}

/** A status or severity as a badge; the class comes from a fixed list, never from the value. */
const KNOWN = new Set([
  'ok',
  'degraded',
  'failed',
  'info',
  'low',
  'medium',
  'high',
  'critical',
  'open',
  'acknowledged',
  'resolved',
  'running',
  'ended',
  'killed',
  'quarantined',
  'frozen',
  'success',
  'denied',
  'error',
  'failure',
  'active',
  'pending',
  'approved',
  'expired',
  'revoked',
  'held',
]);
export const badge = (value: string | undefined | null) =>
  html`<span class=${`badge b-${KNOWN.has(String(value)) ? String(value) : 'other'}`}>${value ?? '—'}</span>`;

/** A table's header row: column headers, scoped for screen readers. */
export const thead = (...cols: string[]) =>
  html`<thead>
    <tr>
      ${cols.map((c) => html`<th scope="col">${c}</th>`)}
    </tr>
  </thead>`;

/** JSON for display, as text. */
export const json = (v: unknown): string => JSON.stringify(v, null, 2);

/** One line about an event's data, whatever its type: what a person scans a list for. */
export function eventSummary(data: Record<string, unknown>): string {
  const argv = Array.isArray(data.argv) ? data.argv.join(' ') : undefined;
  const dest =
    typeof data.host === 'string'
      ? `${data.host}${typeof data.port === 'number' ? `:${data.port}` : ''}`
      : undefined;
  const parts = [data.output, argv, dest, data.decision, data.path, data.reason, data.command, data.action]
    .filter((v) => typeof v === 'string' && v !== '')
    .slice(0, 2);
  return parts.join(' — ');
}
