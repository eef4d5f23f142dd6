// The loud part: a failed component, the kill switch, external traffic severed, break-glass in
// use. Polled on every page, above every view.

import type { Api, Json } from '../api.js';
import { useLoad } from '../hooks.js';
import { html } from '../html.js';

interface Health {
  status: string;
  components: Record<string, { status: string; detail?: string }>;
}

export function Banner({ api }: { api: Api }) {
  const health = useLoad(() => api.get<Health>('/v1/health'), [], 5000);
  const respond = useLoad(
    () => (api.can('audit:read') ? api.get<Json>('/v1/respond') : Promise.resolve(undefined)),
    [],
    5000,
  );
  const glass = useLoad(
    () =>
      api.can('audit:read') ? api.get<{ active?: string[] }>('/v1/breakglass') : Promise.resolve(undefined),
    [],
    5000,
  );
  const egress = useLoad(
    () =>
      api.can('egress:control')
        ? api.get<{ kill_switch?: boolean }>('/v1/egress')
        : Promise.resolve(undefined),
    [],
    5000,
  );
  const alerts: string[] = [];
  if (egress.data?.kill_switch)
    alerts.push('The egress kill switch is on: every run is cut off from the network');
  if (health.error) alerts.push(`The control plane does not answer: ${health.error}`);
  for (const [name, c] of Object.entries(health.data?.components ?? {}))
    if (c.status === 'failed') alerts.push(`${name} has failed: ${c.detail ?? 'no detail'}`);
  const severed = respond.data?.severed as { by?: string; reason?: string } | null | undefined;
  if (severed)
    alerts.push(
      `External traffic is severed for every run (by ${severed.by ?? '?'}: ${severed.reason ?? ''})`,
    );
  for (const id of glass.data?.active ?? []) alerts.push(`Break-glass access ${id} is active`);
  if (alerts.length === 0) return null;
  return html`<div class="banner" role="alert">${alerts.map((a) => html`<p>${a}</p>`)}</div>`;
}
