// The console component's door: the security team's screen, served by `rampart up` at /console.
// It owns the page and its assets, and console sessions (sessions.ts): the HTTP layer asks it to
// authenticate a request that carries a session cookie instead of an Authorization header. What
// the console shows comes from the ordinary API under the session's scopes, so it can show and
// do nothing its token could not.

import type { Component } from '../core/component.js';
import type { ConsoleSettings } from '../core/settings.js';
import type { MetaStore } from '../store/types.js';
import { findAssets, indexPage, loadAssets } from './assets.js';
import { consoleRoutes } from './routes.js';
import {
  COOKIE,
  Sessions,
  TLS_COOKIE,
  type ConsoleBus,
  type CookieRefusal,
  type CookieRequest,
  type SessionPrincipal,
} from './sessions.js';

export interface ConsoleDeps {
  readonly settings: ConsoleSettings;
  readonly meta: MetaStore;
  readonly bus: ConsoleBus;
  /** Directories that may hold the built assets, first match wins. */
  readonly assetDirs: readonly string[];
  /** Served over TLS: the cookie is Secure and __Host- prefixed. */
  readonly tls: boolean;
  readonly now?: () => number;
}

export interface ConsoleComponent extends Component {
  /** A request's session, by its cookie; undefined when it carries none. */
  authenticate(req: CookieRequest): Promise<SessionPrincipal | CookieRefusal> | undefined;
}

/** How often expired sessions are removed from the store (each recorded as console.signed_out). */
const SWEEP_MS = 60_000;

export function startConsole(deps: ConsoleDeps): ConsoleComponent {
  const cookie = deps.tls ? TLS_COOKIE : COOKIE;
  const sessions = new Sessions({
    meta: deps.meta,
    bus: deps.bus,
    now: deps.now ?? Date.now,
    ttlMs: deps.settings.sessionTtlMs,
    cookie,
  });
  const dir = findAssets(deps.assetDirs);
  const assets = dir === undefined ? undefined : loadAssets(dir);
  const index = assets && indexPage(assets);
  let sweepError: string | undefined;
  const sweeper = setInterval(() => {
    sessions.sweep().then(
      () => (sweepError = undefined),
      (e: unknown) => (sweepError = e instanceof Error ? e.message : String(e)),
    );
  }, SWEEP_MS);
  sweeper.unref();
  return {
    name: 'console',
    authenticate: (req) => sessions.authenticate(req),
    routes: consoleRoutes({
      sessions,
      assets,
      index,
      cookie,
      secure: deps.tls,
      ttlMs: deps.settings.sessionTtlMs,
    }),
    health: async () =>
      !assets
        ? { status: 'degraded', detail: 'no console assets in this build (npm run build makes dist/console)' }
        : sweepError
          ? { status: 'degraded', detail: `expired sessions could not be removed: ${sweepError}` }
          : { status: 'ok', detail: `${assets.size} assets; ${sessions.size} session(s) known here` },
    metrics: [
      {
        kind: 'gauge',
        name: 'rampart_console_sessions',
        help: 'Console sessions this replica knows of (signed in here, or seen here).',
        read: () => sessions.size,
      },
    ],
    subscriptions: [
      {
        name: 'console',
        types: ['console.signed_out'],
        handle: (se) => {
          const data = se.event.data as { session?: unknown };
          if (typeof data.session === 'string') sessions.forget(data.session);
        },
      },
    ],
    stop: async () => clearInterval(sweeper),
  };
}
