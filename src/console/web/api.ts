// The console's one way to the API: same-origin fetch with the session cookie (the browser sends
// it; no script can read it), the session's CSRF token on every state change, and coded errors
// turned into messages a person can act on. A 401 means the session ended: back to sign-in.

export interface Session {
  readonly signedIn: true;
  readonly id: string;
  readonly actor: string;
  readonly scopes: readonly string[];
  readonly expires: string;
  readonly csrf: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;

/** An audit record as the API returns it; an event's is action "event.<type>", data in details.data. */
export interface AuditRecord<D = Json> {
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
  readonly details: D;
}

export interface Api {
  readonly session: Session;
  get<T = Json>(path: string): Promise<T>;
  post<T = Json>(path: string, body?: unknown): Promise<T>;
  /** A response body as a file the browser downloads. */
  download(path: string, filename: string): Promise<void>;
  /** Whether the session's scopes allow a scope (admin allows all). */
  can(scope: string): boolean;
}

async function fail(res: Response): Promise<never> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // Not JSON: the status says enough.
  }
  throw new ApiError(res.status, code, message);
}

export function createApi(session: Session, signedOut: () => void): Api {
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(method === 'GET' ? {} : { 'x-rampart-csrf': session.csrf }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (res.status === 401) signedOut();
    if (!res.ok) return fail(res);
    return res;
  };
  return {
    session,
    get: async <T>(path: string) => (await (await call('GET', path)).json()) as T,
    post: async <T>(path: string, body?: unknown) =>
      (await (await call('POST', path, body ?? {})).json()) as T,
    download: async (path, filename) => {
      const blob = await (await call('GET', path)).blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    },
    can: (scope) => session.scopes.includes('admin') || session.scopes.includes(scope),
  };
}

export async function currentSession(): Promise<Session | undefined> {
  const res = await fetch('/console/session', { credentials: 'same-origin' });
  if (!res.ok) return fail(res);
  const body = (await res.json()) as Session | { signedIn: false };
  return body.signedIn ? body : undefined;
}

export async function signIn(token: string): Promise<Session> {
  const res = await fetch('/console/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  if (!res.ok) return fail(res);
  return (await res.json()) as Session;
}

export async function signOut(session: Session): Promise<void> {
  await fetch('/console/session/end', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'x-rampart-csrf': session.csrf, 'content-type': 'application/json' },
    body: '{}',
  });
}
