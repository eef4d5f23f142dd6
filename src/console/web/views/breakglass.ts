// Break-glass: requests, their approvals, and what is active now (the banner says so on every page).

import type { Api } from '../api.js';
import { Failure, useLoad } from '../hooks.js';
import { badge, html, thead, when } from '../html.js';

interface Grant {
  id: string;
  requester: string;
  scopes: string[];
  reason: string;
  emergency: boolean;
  required: number;
  requestedAt: number;
  status: string;
  approvals: { by: string; at: number }[];
  expiresAt?: number;
}

const at = (n: number | undefined) => (n === undefined ? '—' : when(new Date(n).toISOString()));

export function Breakglass({ api }: { api: Api }) {
  const list = useLoad(() => api.get<{ active: string[]; requests: Grant[] }>('/v1/breakglass'), [], 5000);
  return html`<section aria-labelledby="h-bg">
    <h1 id="h-bg">Break-glass</h1>
    <p class="hint">
      Requests are made and approved with <code>rampart breakglass</code>, each approver with their own token;
      the console shows them.
    </p>
    <${Failure} error=${list.error} />
    <table>
      ${thead('Request', 'Status', 'Requester', 'Scopes', 'Reason', 'Approvals', 'Requested', 'Expires')}
      <tbody>
        ${(list.data?.requests ?? []).map(
          (g) =>
            html`<tr class=${g.status === 'active' ? 'warn' : ''}>
              <th scope="row">${g.id}${g.emergency ? ' (emergency)' : ''}</th>
              <td>${badge(g.status)}</td>
              <td>${g.requester}</td>
              <td>${g.scopes.join(', ')}</td>
              <td>${g.reason}</td>
              <td>
                ${g.approvals.length}/${g.required}${g.approvals.length ? `: ${g.approvals.map((a) => a.by).join(', ')}` : ''}
              </td>
              <td>${at(g.requestedAt)}</td>
              <td>${at(g.expiresAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${list.data && list.data.requests.length === 0 ? html`<p>No requests.</p>` : null}
  </section>`;
}
