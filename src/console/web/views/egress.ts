// Egress: destinations per agent and denials (from the newest audit records), bans, the kill
// switch, and the proxy's own counters.

import type { Api, AuditRecord as Recorded, Json } from '../api.js';
import { Failure, useLoad } from '../hooks.js';
import { html, thead, when } from '../html.js';

/** A connection's or detection's record: its event data under details.data. */
type AuditRecord = Recorded<{ data?: ConnectionData }>;
interface ConnectionData {
  output?: string;
  agent?: string;
  host?: string;
  port?: number;
  decision?: string;
  rule?: string;
  reason?: string;
}

/** Events are on record as "event.<type>". */
const CONNECTION = 'event.egress.connection';
const DETECTION = 'event.detect.detection';

export interface Destination {
  agent: string;
  host: string;
  allowed: number;
  denied: number;
  last: string;
}

/** Destinations per agent, from egress.connection records. */
export function destinations(records: readonly AuditRecord[]): Destination[] {
  const out = new Map<string, Destination>();
  for (const r of records) {
    if (r.action !== CONNECTION) continue;
    const d0 = r.details.data ?? {};
    const agent = d0.agent ?? '?';
    const host = `${d0.host ?? '?'}:${d0.port ?? ''}`;
    const k = `${agent} ${host}`;
    const d = out.get(k) ?? { agent, host, allowed: 0, denied: 0, last: r.time };
    if (r.outcome === 'denied') d.denied++;
    else d.allowed++;
    d.last = r.time;
    out.set(k, d);
  }
  return [...out.values()].sort((a, b) => b.last.localeCompare(a.last));
}

export function Egress({ api }: { api: Api }) {
  const egress = useLoad(
    () => (api.can('egress:control') ? api.get<Json>('/v1/egress') : Promise.resolve(undefined)),
    [],
    5000,
  );
  const respond = useLoad(
    () => api.get<{ bans: { target: string; reason?: string; until: string }[] }>('/v1/respond'),
    [],
    5000,
  );
  const records = useLoad(
    () => api.get<{ records: AuditRecord[] }>('/v1/audit/records?limit=10000'),
    [],
    10000,
  );
  const dests = destinations(records.data?.records ?? []);
  // Baselines: detections of what an agent had never done before (rules baseline-new-*).
  const novel = (records.data?.records ?? [])
    .filter((r) => r.action === DETECTION && (r.details.data?.rule ?? '').startsWith('baseline-new-'))
    .reverse()
    .slice(0, 100);
  const denials = (records.data?.records ?? [])
    .filter((r) => r.action === CONNECTION && r.outcome === 'denied')
    .reverse()
    .slice(0, 100);
  return html`<section aria-labelledby="h-egress">
    <h1 id="h-egress">Egress</h1>
    <${Failure} error=${egress.error ?? respond.error ?? records.error} />
    ${
      egress.data
        ? html`<dl class="facts">
            <dt>Kill switch</dt>
            <dd>${egress.data.kill_switch ? 'ON: every run is cut off' : 'off'}</dd>
            <dt>Open tunnels</dt>
            <dd>${typeof egress.data.open_tunnels === 'number' ? egress.data.open_tunnels : '—'}</dd>
          </dl>`
        : html`<p class="muted">The proxy's state needs the egress:control scope.</p>`
    }
    <h2>Bans</h2>
    <ul>
      ${(respond.data?.bans ?? []).map((b) => html`<li>${b.target} until ${when(b.until)}${b.reason ? ` — ${b.reason}` : ''}</li>`)}
    </ul>
    ${respond.data && respond.data.bans.length === 0 ? html`<p>None.</p>` : null}
    <h2>Destinations per agent</h2>
    <table>
      ${thead('Agent', 'Destination', 'Allowed', 'Denied', 'Last')}
      <tbody>
        ${dests.map(
          (d) =>
            html`<tr class=${d.denied ? 'warn' : ''}>
              <th scope="row">${d.agent}</th>
              <td>${d.host}</td>
              <td>${d.allowed}</td>
              <td>${d.denied}</td>
              <td>${when(d.last)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Baseline changes</h2>
    ${
      novel.length === 0
        ? html`<p>None in the newest records.</p>`
        : html`<ul>
            ${novel.map(
              (r) =>
                html`<li>
                  <span class="time">${when(r.time)}</span> ${r.details.data?.agent ?? ''}:
                  ${r.details.data?.output ?? r.details.data?.rule}
                </li>`,
            )}
          </ul>`
    }
    <h2>Recent denials</h2>
    <table>
      ${thead('#', 'Time', 'Agent', 'Destination', 'Why')}
      <tbody>
        ${denials.map(
          (r) =>
            html`<tr>
              <th scope="row">${r.seq}</th>
              <td>${when(r.time)}</td>
              <td>${r.details.data?.agent ?? ''}</td>
              <td>${r.details.data?.host ?? ''}:${r.details.data?.port ?? ''}</td>
              <td>${r.details.data?.rule ?? r.details.data?.reason ?? r.details.data?.decision ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
