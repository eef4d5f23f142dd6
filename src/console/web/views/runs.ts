// Runs: the list, and each run's page with its timeline (its processes, files, connections,
// decisions, pushes and secrets, live from the event stream) and the buttons to contain it.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api, Json } from '../api.js';
import { Failure, useLoad } from '../hooks.js';
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

/** How far back a run page looks for the run's records (the newest records of the log). */
const LOOKBACK = 50_000;

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
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const acc = useRef<LiveEvent[]>([]);
  const [stream, setStream] = useState('connecting');
  useEffect(() => {
    let h: { stop(): void } | undefined;
    let live = true;
    acc.current = [];
    void api.get<{ size: number }>('/v1/audit/head').then((head) => {
      if (!live) return;
      h = follow(
        { from: Math.max(0, head.size - LOOKBACK), query: `run=${encodeURIComponent(id)}` },
        (batch) => {
          acc.current = [...acc.current, ...batch];
          setEvents(acc.current);
        },
        setStream,
      );
    });
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
    <div class="actions" aria-label="Contain this run">
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
            <span class="time">${when(e.time)}</span> <span class="type">${e.type}</span>
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
