// Incidents: the list, and each incident's page: its timeline from the audit log (every record
// verifiable here against the signed checkpoint with the pinned key), evidence with hashes, tasks,
// notes, phase and verdict, and the report to download.

import { useState } from 'preact/hooks';
import type { Api, AuditRecord, Json } from '../api.js';
import { describe, Failure, useLoad } from '../hooks.js';
import { ago, badge, html, thead, when } from '../html.js';
import { pinned } from './pin.js';
import { verifyRecord } from '../verify.js';

const PHASES = ['detection', 'analysis', 'containment', 'eradication', 'recovery', 'lessons_learned'];
const VERDICTS = ['true_positive', 'benign_true_positive', 'false_positive'];

interface Summary {
  id: string;
  title: string;
  severity: string;
  status: string;
  phase: string;
  kind: string;
  assignee: string | null;
  opened: string;
  detections: number;
  agents: string[];
  verdict: string | null;
  drill: string | null;
}
interface Incident {
  id: string;
  title: string;
  severity: string;
  status: string;
  phase: string;
  assignee?: string;
  tags: string[];
  observables: Record<string, string[]>;
  evidence: { seq: number; run: string; archive: string; sha256: string; bytes: number }[];
  tasks: { runbook: string; text: string; done: boolean; by?: string }[];
  notes: { at: string; by: string; text: string }[];
  verdict?: { value: string; by: string; reason?: string };
  history: { at: string; by: string; change: string; from?: string; to?: string }[];
  times: Record<string, string | undefined>;
  drill?: string;
}
interface Timeline {
  entries: (Omit<AuditRecord, 'details'> & { summary: string })[];
  truncated: boolean;
  proofs: {
    checkpoint: string;
    treeSize: number;
    records: { seq: number; entry: string; proof: string[] }[];
  };
}

export function Incidents({ api }: { api: Api }) {
  const [status, setStatus] = useState('active');
  const list = useLoad(
    () => api.get<{ incidents: Summary[] }>(`/v1/incidents?limit=500${status ? `&status=${status}` : ''}`),
    [status],
    5000,
  );
  return html`<section aria-labelledby="h-incidents">
    <h1 id="h-incidents">Incidents</h1>
    <label
      >Show
      <select value=${status} onChange=${(e: Event) => setStatus((e.target as HTMLSelectElement).value)}>
        <option value="active">open and acknowledged</option>
        <option value="open">open</option>
        <option value="acknowledged">acknowledged</option>
        <option value="resolved">resolved</option>
        <option value="">all</option>
      </select></label
    >
    <${Failure} error=${list.error} />
    <table>
      ${thead('Incident', 'Severity', 'Status', 'Phase', 'Title', 'Agents', 'Opened')}
      <tbody>
        ${(list.data?.incidents ?? []).map(
          (i) =>
            html`<tr>
              <th scope="row"><a href=${`#/incidents/${encodeURIComponent(i.id)}`}>${i.id}</a></th>
              <td>${badge(i.severity)}</td>
              <td>${badge(i.status)}</td>
              <td>${i.phase}</td>
              <td>${i.title}${i.drill ? html` <span class="badge b-other">drill</span>` : null}</td>
              <td>${i.agents.join(', ')}</td>
              <td title=${when(i.opened)}>${ago(i.opened)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function Verify({ tl }: { tl: Timeline }) {
  const [out, setOut] = useState<string | undefined>();
  const run = async () => {
    const key = await pinned();
    if (!key) return setOut('Pin the audit verifier key first (Audit view).');
    const { proofs } = tl;
    let n = 0;
    for (const r of proofs.records) {
      await verifyRecord(key, r.seq, r.entry, {
        treeSize: proofs.treeSize,
        proof: r.proof,
        checkpoint: proofs.checkpoint,
      });
      n++;
    }
    setOut(
      `All ${n} records verified in this browser against the checkpoint of ${proofs.treeSize} records, signed by ${key.name}.`,
    );
  };
  return html`<div class="verify">
    <button onClick=${() => run().catch((e: unknown) => setOut(`NOT VERIFIED: ${describe(e)}`))}>
      Verify the timeline here
    </button>
    ${out ? html`<p role="status" class=${out.startsWith('NOT') ? 'error' : 'ok'}>${out}</p>` : null}
  </div>`;
}

export function IncidentDetail({ api, id }: { api: Api; id: string }) {
  const inc = useLoad(() => api.get<Incident>(`/v1/incidents/${encodeURIComponent(id)}`), [id], 5000);
  const tl = useLoad(() => api.get<Timeline>(`/v1/incidents/${encodeURIComponent(id)}/timeline`), [id]);
  const [msg, setMsg] = useState<string | undefined>();
  const base = `/v1/incidents/${encodeURIComponent(id)}`;
  const change = (path: string, body?: Json) =>
    api.post(`${base}/${path}`, body).then(
      () => {
        setMsg(undefined);
        inc.reload();
      },
      (e: unknown) => setMsg(describe(e)),
    );
  const i = inc.data;
  const write = api.can('incidents:write');
  return html`<section aria-labelledby="h-incident">
    <p><a href="#/incidents">Incidents</a> /</p>
    <h1 id="h-incident">${id}${i ? `: ${i.title}` : ''}</h1>
    <${Failure} error=${inc.error ?? msg} />
    ${
      i
        ? html`<dl class="facts">
              <dt>Severity</dt>
              <dd>${badge(i.severity)}</dd>
              <dt>Status</dt>
              <dd>${badge(i.status)}</dd>
              <dt>Phase</dt>
              <dd>
                <select
                  aria-label="Phase"
                  value=${i.phase}
                  disabled=${!write}
                  onChange=${(e: Event) => void change('phase', { phase: (e.target as HTMLSelectElement).value })}
                >
                  ${PHASES.map((p) => html`<option value=${p}>${p.replace('_', ' ')}</option>`)}
                </select>
              </dd>
              <dt>Verdict</dt>
              <dd>
                <select
                  aria-label="Verdict"
                  value=${i.verdict?.value ?? ''}
                  disabled=${!write}
                  onChange=${(e: Event) => void change('verdict', { verdict: (e.target as HTMLSelectElement).value })}
                >
                  <option value="" disabled>none yet</option>
                  ${VERDICTS.map((v) => html`<option value=${v}>${v.replace(/_/g, ' ')}</option>`)}
                </select>
              </dd>
              <dt>Assignee</dt>
              <dd>${i.assignee ?? '—'}</dd>
              <dt>Opened</dt>
              <dd>${when(i.times.opened)}</dd>
              <dt>Contained</dt>
              <dd>${when(i.times.contained)}</dd>
              <dt>Tags</dt>
              <dd>${i.tags.join(', ')}</dd>
            </dl>
            <div class="actions">
              ${i.status === 'open' ? html`<button disabled=${!write} onClick=${() => void change('ack')}>Acknowledge</button>` : null}
              ${
                i.status !== 'resolved'
                  ? html`<button disabled=${!write} onClick=${() => void change('resolve')}>Resolve</button>`
                  : html`<button disabled=${!write} onClick=${() => void change('reopen')}>Reopen</button>`
              }
              <button
                onClick=${() => void api.download(`${base}/report?format=html`, `${id}.html`).catch((e: unknown) => setMsg(describe(e)))}
              >
                Download report (HTML)
              </button>
              <button
                onClick=${() => void api.download(`${base}/report?format=json`, `${id}.json`).catch((e: unknown) => setMsg(describe(e)))}
              >
                Report with proofs (JSON)
              </button>
            </div>
            <h2>Observables</h2>
            <dl class="facts">
              ${Object.entries(i.observables).map(
                ([k, v]) =>
                  html`<dt>${k}</dt>
                    <dd>${(v ?? []).join(', ') || '—'}</dd>`,
              )}
            </dl>
            <h2>Evidence</h2>
            ${
              i.evidence.length === 0
                ? html`<p>None.</p>`
                : html`<ul>
                    ${i.evidence.map((e) => html`<li>${e.archive} (${e.bytes} bytes, run ${e.run}) <code>sha256:${e.sha256}</code></li>`)}
                  </ul>`
            }
            <h2>Tasks</h2>
            <ul class="tasks">
              ${i.tasks.map(
                (t, n) =>
                  html`<li>
                    <label
                      ><input
                        type="checkbox"
                        checked=${t.done}
                        disabled=${!write}
                        onChange=${(e: Event) => void change('tasks', { task: n, done: (e.target as HTMLInputElement).checked })}
                      />
                      ${t.text}</label
                    >
                    <span class="muted"> (${t.runbook})</span>
                  </li>`,
              )}
            </ul>
            <h2>Notes</h2>
            <ul>
              ${i.notes.map((n) => html`<li><span class="muted">${when(n.at)} ${n.by}:</span> ${n.text}</li>`)}
            </ul>
            ${
              write
                ? html`<form
                    class="note"
                    onSubmit=${(e: Event) => {
                      e.preventDefault();
                      const f = e.target as HTMLFormElement;
                      const input = f.elements.namedItem('note') as HTMLTextAreaElement;
                      void change('notes', { text: input.value }).then(() => (input.value = ''));
                    }}
                  >
                    <label for="note">Add a note</label
                    ><textarea id="note" name="note" required maxlength="4000"></textarea>
                    <button type="submit">Add note</button>
                  </form>`
                : null
            }`
        : null
    }
    <h2>Timeline</h2>
    <${Failure} error=${tl.error} />
    ${
      tl.data
        ? html`<${Verify} tl=${tl.data} />
            ${tl.data.truncated ? html`<p class="warn">The timeline stops at its record limit; more records match.</p>` : null}
            <ol class="timeline">
              ${tl.data.entries.map(
                (e) =>
                  html`<li>
                    <span class="time">${when(e.time)}</span>
                    <span class="seq">#${e.seq}</span> ${badge(e.outcome)} ${e.summary}
                  </li>`,
              )}
            </ol>`
        : html`<p>Loading…</p>`
    }
  </section>`;
}
