// The console: sign in, then a hash-routed page per view. Scopes decide what is shown as actionable;
// the API decides what is allowed. Styles: app.css (no inline style attributes: the CSP forbids them).

import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { createApi, currentSession, signIn, signOut, type Api, type Session } from './api.js';
import { describe } from './hooks.js';
import { html } from './html.js';
import { Overview } from './views/overview.js';
import { Events } from './views/events.js';
import { Runs, RunDetail } from './views/runs.js';
import { Incidents, IncidentDetail } from './views/incidents.js';
import { Audit } from './views/audit.js';
import { Egress } from './views/egress.js';
import { Policy } from './views/policy.js';
import { Breakglass } from './views/breakglass.js';
import { Banner } from './views/banner.js';

const VIEWS = [
  ['overview', 'Overview'],
  ['events', 'Live events'],
  ['runs', 'Runs'],
  ['incidents', 'Incidents'],
  ['egress', 'Egress'],
  ['policy', 'Policy and rules'],
  ['audit', 'Audit'],
  ['breakglass', 'Break-glass'],
] as const;

const route = (): string[] =>
  (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);

function SignIn({ onSession }: { onSession: (s: Session) => void }) {
  const [error, setError] = useState<string | undefined>();
  const submit = (e: Event) => {
    e.preventDefault();
    const input = (e.target as HTMLFormElement).elements.namedItem('token') as HTMLInputElement;
    signIn(input.value.trim()).then(
      (s) => {
        input.value = '';
        onSession(s);
      },
      (err: unknown) => setError(describe(err)),
    );
  };
  return html`<main class="signin">
    <h1>Rampart console</h1>
    <form onSubmit=${submit}>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required />
      <p class="hint">
        The token is sent once; the browser then holds a session that ends on sign-out or after its lifetime.
        A read-only token gives a read-only console.
      </p>
      <button type="submit">Sign in</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </form>
  </main>`;
}

function View({ api, path }: { api: Api; path: string[] }) {
  const [name, id] = path;
  switch (name) {
    case 'events':
      return html`<${Events} api=${api} />`;
    case 'runs':
      return id ? html`<${RunDetail} api=${api} id=${id} />` : html`<${Runs} api=${api} />`;
    case 'incidents':
      return id ? html`<${IncidentDetail} api=${api} id=${id} />` : html`<${Incidents} api=${api} />`;
    case 'egress':
      return html`<${Egress} api=${api} />`;
    case 'policy':
      return html`<${Policy} api=${api} />`;
    case 'audit':
      return html`<${Audit} api=${api} />`;
    case 'breakglass':
      return html`<${Breakglass} api=${api} />`;
    default:
      return html`<${Overview} api=${api} />`;
  }
}

function App() {
  const [session, setSession] = useState<Session | undefined | null>(null);
  const [path, setPath] = useState(route());
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    currentSession().then(setSession, (e: unknown) => setError(describe(e)));
    const onHash = () => setPath(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  // One Api per session, so views that load on mount do not reload on every render.
  const api = useMemo(() => session && createApi(session, () => setSession(undefined)), [session]);
  if (error) return html`<main><p class="error" role="alert">${error}</p></main>`;
  if (session === null) return html`<main><p>Loading…</p></main>`;
  if (session === undefined || !api) return html`<${SignIn} onSession=${setSession} />`;
  const out = () => void signOut(session).finally(() => setSession(undefined));
  return html`<div class="shell">
    <header>
      <a class="brand" href="#/overview">Rampart</a>
      <nav aria-label="Views">
        ${VIEWS.map(
          ([key, label]) =>
            html`<a href=${`#/${key}`} aria-current=${path[0] === key ? 'page' : undefined}>${label}</a>`,
        )}
      </nav>
      <span class="who">${session.actor}${api.can('admin') ? '' : ' (scoped)'}</span>
      <button class="link" onClick=${out}>Sign out</button>
    </header>
    <${Banner} api=${api} />
    <main id="main"><${View} api=${api} path=${path} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
