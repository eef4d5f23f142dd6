// Policy and rules: the loaded policy set and detection rules with their versions (content
// hashes), the response playbooks, and the most recent policy decisions from the audit log.

import type { Api, AuditRecord } from '../api.js';
import { Failure, useLoad } from '../hooks.js';
import { badge, html, thead, when } from '../html.js';

interface Policies {
  version: string;
  files: string[];
  rules: { name: string; effect: string; actions: string[]; resources: string[] }[];
}
interface Rules {
  version: string;
  rules: { name: string; priority: string; enabled: boolean; tags: string[]; location: string }[];
}
interface Playbooks {
  version: string;
  playbooks: { name: string; enabled: boolean; dry_run: boolean; actions: string[]; location: string }[];
}
interface Drill {
  id: string;
  finished?: string;
  results?: { name: string; expected: string; observed: string; status: string }[];
}

export function Policy({ api }: { api: Api }) {
  const pol = useLoad(() => api.get<Policies>('/v1/policies'), [], 15000);
  const rules = useLoad(() => api.get<Rules>('/v1/detect/rules'), [], 15000);
  const books = useLoad(() => api.get<Playbooks>('/v1/respond/playbooks'), [], 15000);
  const decisions = useLoad(
    async () =>
      (await api.get<{ records: AuditRecord[] }>('/v1/audit/records?limit=5000')).records
        .filter((r) => r.action === 'policy.decision')
        .reverse()
        .slice(0, 100),
    [],
    10000,
  );
  // The defences' own test: the last drill, scenario by scenario.
  const drill = useLoad(async () => {
    const list = await api.get<{ drills: { id: string; finished?: string }[] }>('/v1/drills');
    const last = list.drills.find((d) => d.finished);
    return last ? api.get<Drill>(`/v1/drills/${encodeURIComponent(last.id)}`) : undefined;
  }, []);
  return html`<section aria-labelledby="h-policy">
    <h1 id="h-policy">Policy and rules</h1>
    <h2>Policy set <code>${pol.data?.version ?? ''}</code></h2>
    <${Failure} error=${pol.error} />
    <table>
      ${thead('Rule', 'Effect', 'Actions', 'Resources')}
      <tbody>
        ${(pol.data?.rules ?? []).map(
          (r) =>
            html`<tr>
              <th scope="row">${r.name}</th>
              <td>${r.effect}</td>
              <td>${r.actions.join(', ')}</td>
              <td>${r.resources.join(', ')}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Recent decisions</h2>
    <${Failure} error=${decisions.error} />
    <table>
      ${thead('#', 'Time', 'Principal', 'Target', 'Outcome')}
      <tbody>
        ${(decisions.data ?? []).map(
          (r) =>
            html`<tr>
              <th scope="row">${r.seq}</th>
              <td>${when(r.time)}</td>
              <td>${r.actor}</td>
              <td>${r.target}</td>
              <td>${badge(r.outcome)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Last drill${drill.data ? html` <code>${drill.data.id}</code>, ${when(drill.data.finished)}` : ''}</h2>
    <${Failure} error=${drill.error} />
    ${
      drill.data
        ? html`<table>
            ${thead('Scenario', 'Status', 'Expected', 'Observed')}
            <tbody>
              ${(drill.data.results ?? []).map(
                (r) =>
                  html`<tr>
                    <th scope="row">${r.name}</th>
                    <td>${badge(r.status)}</td>
                    <td>${r.expected}</td>
                    <td>${r.observed}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No drill has finished yet (<code>rampart drill</code>).</p>`
    }
    <h2>Detection rules <code>${rules.data?.version ?? ''}</code></h2>
    <${Failure} error=${rules.error} />
    <table>
      ${thead('Rule', 'Priority', 'Enabled', 'Tags', 'Where')}
      <tbody>
        ${(rules.data?.rules ?? []).map(
          (r) =>
            html`<tr>
              <th scope="row">${r.name}</th>
              <td>${badge(r.priority)}</td>
              <td>${r.enabled ? 'yes' : 'no'}</td>
              <td>${r.tags.join(', ')}</td>
              <td><code>${r.location}</code></td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Response playbooks <code>${books.data?.version ?? ''}</code></h2>
    <${Failure} error=${books.error} />
    <table>
      ${thead('Playbook', 'Enabled', 'Actions', 'Where')}
      <tbody>
        ${(books.data?.playbooks ?? []).map(
          (p) =>
            html`<tr>
              <th scope="row">${p.name}</th>
              <td>${p.enabled ? (p.dry_run ? 'dry run' : 'yes') : 'no'}</td>
              <td>${p.actions.join(', ')}</td>
              <td><code>${p.location}</code></td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
