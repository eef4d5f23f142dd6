// Runs: the list, and each run's page with its timeline (its processes, files, connections,
// decisions, pushes and secrets, live from the event stream) and the buttons to contain it.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api, AuditRecord, Json } from '../api.js';
import { describe, Failure, useLoad } from '../hooks.js';
import { ago, badge, eventSummary, html, thead, when } from '../html.js';
import { follow, type LiveEvent } from '../stream.js';
import { Act } from './confirm.js';

interface Run {
  id: string;
  agent: string;
  profile: string;
  command: string;
  startedAt: string;
  startedBy: string;
  status: string;
  endedAt?: string;
  endedBy?: string;
  endReason?: string;
  result?: Json;
  evidence?: Json;
}

/** One line of a run's timeline: an audit record, or an event as the stream delivers it. */
interface Entry {
  seq: number;
  time: string;
  what: string;
  outcome: string | undefined;
  severity: string;
  data: Json;
}
const fromEvent = (e: LiveEvent): Entry => ({
  seq: e.seq,
  time: e.time,
  what: e.type,
  outcome: e.outcome,
  severity: e.severity,
  data: e.data,
});
const fromRecord = (r: AuditRecord): Entry => {
  const d = r.details as { data?: Json; severity?: string };
  const event = r.action.startsWith('event.');
  return {
    seq: r.seq,
    time: r.time,
    what: event ? r.action.slice(6) : `${r.action} by ${r.actor}`,
    outcome: r.outcome,
    severity: d.severity ?? 'info',
    data: event && d.data ? d.data : r.details,
  };
};

export function Runs({ api }: { api: Api }) {
  const runs = useLoad(() => api.get<{ runs: Run[] }>('/v1/runs'), [], 3000);
  const list = [...(runs.data?.runs ?? [])].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  return html`<section aria-labelledby="h-runs">
    <h1 id="h-runs">Runs</h1>
    <${Failure} error=${runs.error} />
    <table>
      ${thead('Run', 'Agent', 'Status', 'Profile', 'Command', 'Started')}
      <tbody>
        ${list.map(
          (r) =>
            html`<tr>
              <th scope="row"><a href=${`#/runs/${encodeURIComponent(r.id)}`}>${r.id}</a></th>
              <td>${r.agent}</td>
              <td>${badge(r.status)}</td>
              <td>${r.profile}</td>
              <td><code>${r.command}</code></td>
              <td title=${when(r.startedAt)}>${ago(r.startedAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${runs.data && list.length === 0 ? html`<p>No runs on this control plane yet.</p>` : null}
  </section>`;
}

export function RunDetail({ api, id }: { api: Api; id: string }) {
  const runs = useLoad(() => api.get<{ runs: Run[] }>('/v1/runs'), [id], 3000);
  const run = runs.data?.runs.find((r) => r.id === id);
  const [events, setEvents] = useState<Entry[]>([]);
  const acc = useRef(new Map<number, Entry>());
  const [stream, setStream] = useState('loading');
  useEffect(() => {
    let h: { stop(): void } | undefined;
    let live = true;
    acc.current = new Map();
    const show = (more: Entry[]) => {
      for (const e of more) acc.current.set(e.seq, e);
      setEvents([...acc.current.values()].sort((a, b) => a.seq - b.seq));
    };
    // Every record naming the run (its events, policy decisions, pushes, leases), found by the
    // database; then its events live as they are recorded.
    // The head first: the search then covers at least up to it, and the stream starts there, so
    // nothing falls between the two (what both see is shown once, by its number).
    const load = async () => {
      const head = await api.get<{ size: number }>('/v1/audit/head');
      const found = await api.get<{ records: AuditRecord[] }>(
        `/v1/audit/search?limit=1000&q=${encodeURIComponent(JSON.stringify(id))}`,
      );
      if (!live) return;
      show(found.records.map(fromRecord));
      h = follow(
        { from: head.size, query: `run=${encodeURIComponent(id)}` },
        (batch) => show(batch.map(fromEvent)),
        setStream,
      );
    };
    load().catch((e: unknown) => setStream(`unavailable: ${describe(e)}`));
    return () => {
      live = false;
      h?.stop();
    };
  }, [id]);
  const running = run?.status === 'running';
  const reason = (r: string) => ({ reason: r || 'from the console' });
  return html`<section aria-labelledby="h-run">
    <p><a href="#/runs">Runs</a> /</p>
    <h1 id="h-run">Run ${id}</h1>
    <${Failure} error=${runs.error} />
    ${
      run
        ? html`<dl class="facts">
            <dt>Agent</dt>
            <dd>${run.agent}</dd>
            <dt>Status</dt>
            <dd>${badge(run.status)}${run.endReason ? ` — ${run.endReason}` : ''}</dd>
            <dt>Profile</dt>
            <dd>${run.profile}</dd>
            <dt>Command</dt>
            <dd><code>${run.command}</code></dd>
            <dt>Started</dt>
            <dd>${when(run.startedAt)} by ${run.startedBy}</dd>
            <dt>Ended</dt>
            <dd>${when(run.endedAt)}${run.endedBy ? ` by ${run.endedBy}` : ''}</dd>
          </dl>`
        : runs.data
          ? html`<p>
              This control plane does not list run ${id} (it may have ended long ago); its records follow.
            </p>`
          : null
    }
    <div class="actions" role="group" aria-label="Contain this run">
      <${Act}
        label="Freeze"
        what="this run"
        disabled=${!running || !api.can('respond:write')}
        run=${(r: string) => api.post('/v1/respond/freeze', { run: id, ...reason(r) })}
      />
      <${Act}
        label="Kill"
        what="this run"
        danger
        disabled=${!running || !api.can('runs:kill')}
        run=${(r: string) => api.post(`/v1/runs/${encodeURIComponent(id)}/kill`, reason(r))}
      />
      <${Act}
        label="Quarantine"
        what="this run"
        danger
        disabled=${!running || !api.can('runs:kill')}
        run=${(r: string) => api.post(`/v1/runs/${encodeURIComponent(id)}/quarantine`, reason(r))}
      />
    </div>
    <h2>Timeline <span class="status">(${stream}; ${events.length} records)</span></h2>
    <ol class="timeline">
      ${events.map(
        (e) =>
          html`<li class=${`sev-${e.severity}`}>
            <span class="time">${when(e.time)}</span> <span class="type">${e.what}</span>
            ${e.outcome ? html` ${badge(e.outcome)}` : null}
            <span class="sum"> ${eventSummary(e.data)}</span>
            <details>
              <summary>record ${e.seq}</summary>
              <pre>${JSON.stringify(e.data, null, 2)}</pre>
            </details>
          </li>`,
      )}
    </ol>
  </section>`;
}
