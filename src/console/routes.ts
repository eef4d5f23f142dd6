// The console's routes: the page, its assets, and sessions. Everything else the console shows it
// reads from the ordinary API (/v1/...) with the session cookie, under the same scopes.

import { route, type ApiReply, type ApiRequest, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import { SECURITY_HEADERS, type Asset } from './assets.js';
import { csrfOf, sessionId, sessionToken, type Session, type Sessions } from './sessions.js';

export interface ConsoleRouteDeps {
  readonly sessions: Sessions;
  /** The built assets, or undefined when this build has none. */
  readonly assets: ReadonlyMap<string, Asset> | undefined;
  readonly index: Asset | undefined;
  readonly cookie: string;
  readonly secure: boolean;
  readonly ttlMs: number;
}

const NAME = { type: 'string', pattern: '^[a-z0-9-]{1,40}\\.(js|css|svg|map)$' } as const;

export function consoleRoutes(d: ConsoleRouteDeps): Route<never, never, never>[] {
  const headers = (reply: ApiReply): ApiReply => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    return reply;
  };
  const serve = (req: ApiRequest, reply: ApiReply, a: Asset | undefined): ApiReply => {
    if (!a)
      throw new RampartError(
        'RAMPART_E_CONSOLE_UNAVAILABLE',
        'this build has no console assets (dist/console); npm run build makes them',
      );
    headers(reply).header('etag', a.etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };
  const describe = (token: string, s: Session) => ({
    signedIn: true,
    id: sessionId(token),
    actor: s.actor,
    scopes: s.scopes,
    expires: s.expires,
    csrf: csrfOf(token),
  });
  const cookie = (value: string, maxAge: number): string =>
    `${d.cookie}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${d.secure ? '; Secure' : ''}`;

  const page = (url: string) =>
    route({
      method: 'GET',
      url,
      scope: 'public',
      handler: async (req, reply) => serve(req, reply, d.index),
    });
  return [
    page('/console'),
    page('/console/'),
    route<unknown, { name: string }>({
      method: 'GET',
      url: '/console/assets/:name',
      scope: 'public',
      schema: { params: { type: 'object', required: ['name'], properties: { name: NAME } } },
      handler: async (req, reply) => {
        const a = d.assets?.get(req.params.name);
        if (d.assets && !a)
          throw new RampartError('RAMPART_E_NOT_FOUND', `no console asset ${req.params.name}`);
        return serve(req, reply, a);
      },
    }),
    // Public: the page asks whether it is signed in before it shows anything, and a visit to the
    // sign-in form is not a refused request.
    route({
      method: 'GET',
      url: '/console/session',
      scope: 'public',
      handler: async (req, reply) => {
        headers(reply).header('cache-control', 'no-store');
        const token = sessionToken(req.headers.cookie as string | undefined, d.cookie);
        const s = token === undefined ? undefined : await d.sessions.lookup(token);
        return token && s ? describe(token, s) : { signedIn: false };
      },
    }),
    // Sign in: the token comes in the Authorization header (the API's own authentication checks
    // it, throttles and records refusals); the answer sets the cookie.
    route({
      method: 'POST',
      url: '/console/session',
      scope: 'any',
      handler: async (req, reply) => {
        const p = req.principal!;
        if (req.headers.authorization === undefined)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            'sign in with an API token (Authorization: Bearer)',
          );
        if (p.breakglass)
          throw new RampartError(
            'RAMPART_E_FORBIDDEN',
            'a break-glass credential cannot open a console session; use it with the CLI or API, where each request is counted',
          );
        const { token, session } = await d.sessions.open(p, req.ip);
        headers(reply)
          .header('cache-control', 'no-store')
          .header('set-cookie', cookie(token, Math.floor(d.ttlMs / 1000)));
        return describe(token, session);
      },
    }),
    // Sign out: a state change like any other (the session cookie and its CSRF token).
    route({
      method: 'POST',
      url: '/console/session/end',
      scope: 'any',
      handler: async (req, reply) => {
        const token = sessionToken(req.headers.cookie as string | undefined, d.cookie);
        const ended = token !== undefined && (await d.sessions.end(token, 'signed_out'));
        headers(reply).header('cache-control', 'no-store').header('set-cookie', cookie('', 0));
        return { signedOut: ended };
      },
    }),
  ];
}
