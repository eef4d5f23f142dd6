// Overview: every component's health with its reason, the kill switch and sever state, open
// incidents, active runs, detections and egress denials over time, and MTTD/MTTA/MTTC/MTTR.

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { Api, AuditRecord, Json } from '../api.js';
import { Failure, useLoad } from '../hooks.js';
import { badge, html, ms, thead, when } from '../html.js';

interface Health {
  status: string;
  components: Record<string, { status: string; detail?: string; since?: string }>;
}
interface Stats {
  open: number;
  opened: number;
  resolved: number;
  mttdSeconds?: number;
  mttaSeconds?: number;
  mttcSeconds?: number;
  mttrSeconds?: number;
  accuracy?: number;
}

/** Per-minute counts of detections and egress denials in the newest records. */
export function perMinute(records: readonly AuditRecord[]): [number[], number[], number[]] {
  const buckets = new Map<number, [number, number]>();
  for (const r of records) {
    // Events are on record as "event.<type>".
    const detection = r.action === 'event.detect.detection';
    const denial = r.action === 'event.egress.connection' && r.outcome === 'denied';
    if (!detection && !denial) continue;
    const minute = Math.floor(Date.parse(r.time) / 60_000) * 60;
    const b = buckets.get(minute) ?? [0, 0];
    b[detection ? 0 : 1]++;
    buckets.set(minute, b);
  }
  const xs = [...buckets.keys()].sort((a, b) => a - b);
  return [xs, xs.map((x) => buckets.get(x)![0]), xs.map((x) => buckets.get(x)![1])];
}

function Chart({ data }: { data: [number[], number[], number[]] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const plot = new uPlot(
      {
        width: Math.max(300, el.current.clientWidth),
        height: 180,
        series: [
          {},
          { label: 'Detections', stroke: '#c0392b' },
          { label: 'Egress denials', stroke: '#1f6feb' },
        ],
        axes: [{}, { label: 'per minute' }],
      },
      data,
      el.current,
    );
    return () => plot.destroy();
  }, [data]);
  return html`<div
    class="chart"
    ref=${el}
    role="img"
    aria-label="Detections and egress denials per minute"
  ></div>`;
}

export function Overview({ api }: { api: Api }) {
  const health = useLoad(() => api.get<Health>('/v1/health'), [], 5000);
  const stats = useLoad(() => api.get<Stats>('/v1/incidents/stats?since=30d'), [], 15000);
  const runs = useLoad(() => api.get<{ runs: Json[] }>('/v1/runs'), [], 5000);
  const respond = useLoad(() => api.get<Json>('/v1/respond'), [], 5000);
  const records = useLoad(
    () => api.get<{ records: AuditRecord[] }>('/v1/audit/records?limit=10000'),
    [],
    30000,
  );
  const running = (runs.data?.runs ?? []).filter((r) => r.status === 'running');
  const s = stats.data;
  const sec = (v: number | undefined) => ms(v === undefined ? undefined : v * 1000);
  const severed = respond.data?.severed as { by?: string; reason?: string; at?: string } | null | undefined;
  return html`<section aria-labelledby="h-overview">
    <h1 id="h-overview">Overview</h1>
    <div class="cards">
      <div class="card">
        <h2>Open incidents</h2>
        <p class="big"><a href="#/incidents">${s?.open ?? '—'}</a></p>
      </div>
      <div class="card">
        <h2>Active runs</h2>
        <p class="big"><a href="#/runs">${runs.data ? running.length : '—'}</a></p>
      </div>
      <div class="card">
        <h2>External traffic</h2>
        <p class="big">${severed ? 'severed' : respond.data ? 'allowed by policy' : '—'}</p>
      </div>
      <div class="card">
        <h2>Last 30 days</h2>
        <dl class="mtt">
          <dt>MTTD</dt>
          <dd>${sec(s?.mttdSeconds)}</dd>
          <dt>MTTA</dt>
          <dd>${sec(s?.mttaSeconds)}</dd>
          <dt>MTTC</dt>
          <dd>${sec(s?.mttcSeconds)}</dd>
          <dt>MTTR</dt>
          <dd>${sec(s?.mttrSeconds)}</dd>
          <dt>Accuracy</dt>
          <dd>${s?.accuracy === undefined ? '—' : `${Math.round(s.accuracy * 100)}%`}</dd>
        </dl>
      </div>
    </div>
    <${Failure} error=${health.error ?? stats.error ?? runs.error ?? respond.error} />
    <h2>Detections and egress denials</h2>
    ${
      records.data
        ? perMinute(records.data.records)[0].length === 0
          ? html`<p class="muted">None in the newest ${records.data.records.length} records.</p>`
          : html`<${Chart} data=${perMinute(records.data.records)} />`
        : html`<p>Loading…</p>`
    }
    <h2>Components</h2>
    <table>
      ${thead('Component', 'Status', 'Detail', 'Since')}
      <tbody>
        ${Object.entries(health.data?.components ?? {}).map(
          ([name, c]) =>
            html`<tr class=${c.status === 'ok' ? '' : 'warn'}>
              <th scope="row">${name}</th>
              <td>${badge(c.status)}</td>
              <td>${c.detail ?? ''}</td>
              <td>${when(c.since)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
