// Talking to a running control plane: its address from DATA/control-plane.json, the admin token
// from DATA/admin.token (a secret file, mode-checked). Plain HTTP through ./http.ts, HTTPS through
// node:https: commands that talk to the control plane on a hot path (rampart run) should not pay
// for loading an HTTP client library.

import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { HttpClientError, HttpConnection } from './http.js';
import { ERRORS, RampartError, RampartErrorList, type ErrorCode } from '../core/errors.js';
import { readSecretText } from '../core/secretfile.js';
import { adminTokenPath, discoveryPath } from '../server/discovery.js';

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly text: string;
}

export interface ApiClient {
  readonly url: string;
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  /**
   * The same call, also telling when the request has been written to the connection: a caller
   * about to block the event loop (spawning a process) waits for that first, so the control plane
   * works on the request meanwhile instead of after.
   */
  send<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): { readonly sent: Promise<void>; readonly response: Promise<ApiResponse<T>> };
  /**
   * A GET whose answer is a stream (Server-Sent Events): `onText` gets the text as it arrives.
   * Resolves when the server ends it; a status other than 200 rejects with the server's error.
   */
  stream(path: string, headers: Record<string, string>, onText: (text: string) => void): Promise<void>;
  /** Drops the connection and whatever is in flight on it (a long poll the caller no longer wants). */
  close(): void;
}

/** The control plane recorded in the data directory, or undefined when none is running. */
export function findControlPlane(dataDir: string): { url: string; pid: number; egress?: string } | undefined {
  let info: { url?: unknown; pid?: unknown; egress?: unknown };
  try {
    info = JSON.parse(readFileSync(discoveryPath(dataDir), 'utf8')) as typeof info;
  } catch {
    return undefined;
  }
  if (typeof info.url !== 'string' || typeof info.pid !== 'number') return undefined;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
  }
  return {
    url: info.url,
    pid: info.pid,
    ...(typeof info.egress === 'string' ? { egress: info.egress } : {}),
  };
}

/**
 * A client of the control plane for `dataDir`, with the admin token, or with a person's own token
 * (`tokenFile`: what break-glass and approvals need, never a shared credential).
 */
export function connect(dataDir: string, urlOverride?: string, tokenFile?: string): ApiClient {
  const found = urlOverride ?? findControlPlane(dataDir)?.url;
  if (!found) {
    throw new RampartError(
      'RAMPART_E_CONTROL_PLANE_UNREACHABLE',
      `no control plane is running for data directory ${dataDir}`,
      {
        hint: 'start one with: rampart up',
      },
    );
  }
  const url = found;
  const token =
    tokenFile === undefined
      ? readSecretText(adminTokenPath(dataDir), { purpose: 'admin token' })
      : readSecretText(tokenFile, { purpose: '--token-file' });
  const base = new URL(url);
  const unreachable = (why: string): RampartError =>
    new RampartError(
      'RAMPART_E_CONTROL_PLANE_UNREACHABLE',
      `cannot reach the control plane at ${url}: ${why}`,
    );
  const answer = <T>(status: number, contentType: string, bytes: Buffer): ApiResponse<T> => {
    const text = bytes.toString('utf8');
    let parsed: unknown = text;
    if (contentType.includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status, body: parsed as T, text };
  };
  // Plain HTTP (the default, on loopback) goes over one kept-alive connection of our own
  // (./http.ts); node:https, and TLS with it, is loaded only for a control plane served over HTTPS.
  const plain =
    base.protocol === 'http:'
      ? new HttpConnection(base.hostname.replace(/^\[|\]$/g, ''), Number(base.port || 80))
      : undefined;
  const inFlight = new Set<{ destroy(): void; once(e: 'close', f: () => void): unknown }>();
  const send = <T>(method: string, path: string, body?: unknown) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      ...(payload ? { 'content-type': 'application/json' } : {}),
    };
    if (plain) {
      const target = new URL(path, url);
      const r = plain.request(method, target.pathname + target.search, headers, payload);
      return {
        sent: r.sent,
        response: r.response.then(
          (res) => answer<T>(res.status, res.headers['content-type'] ?? '', res.body),
          (e: unknown) => {
            throw unreachable(e instanceof HttpClientError ? e.message : String(e));
          },
        ),
      };
    }
    const req = process.getBuiltinModule('node:https').request(new URL(path, url), {
      method,
      headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
    });
    inFlight.add(req);
    req.once('close', () => inFlight.delete(req));
    // Settles either way: a request that fails is reported by the response.
    const sent = new Promise<void>((resolve) => {
      req.once('finish', resolve);
      req.once('error', () => resolve());
    });
    const response = new Promise<ApiResponse<T>>((resolve, reject) => {
      req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(e.code ?? e.message)));
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve(answer<T>(res.statusCode ?? 0, res.headers['content-type'] ?? '', Buffer.concat(chunks))),
        );
      });
      req.end(payload);
    });
    return { sent, response };
  };
  const stream = (
    path: string,
    extra: Record<string, string>,
    onText: (text: string) => void,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const mod = process.getBuiltinModule(base.protocol === 'https:' ? 'node:https' : 'node:http');
      const req = mod.request(new URL(path, url), {
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...extra },
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(e.code ?? e.message)));
      req.on('response', (res: IncomingMessage) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            const a = answer(res.statusCode ?? 0, res.headers['content-type'] ?? '', Buffer.from(text));
            reject(apiError(a.status, a.body));
          });
          return;
        }
        res.on('data', onText);
        res.on('end', () => resolve());
        res.on('error', (e: Error) => reject(unreachable(e.message)));
      });
      req.end();
    });
  return {
    url,
    send,
    stream,
    call: <T>(method: string, path: string, body?: unknown) => send<T>(method, path, body).response,
    close: () => {
      plain?.close();
      for (const r of inFlight) r.destroy();
    },
  };
}

/** Turns an error body from the API into the same coded error the server raised. */
/** One call whose answer must be `ok` (200): its body, or the control plane's coded error. */
export async function expectOk<T>(
  api: ApiClient,
  method: string,
  path: string,
  body?: unknown,
  ok = 200,
): Promise<T> {
  const res = await api.call<T>(method, path, body);
  if (res.status !== ok) throw apiError(res.status, res.body);
  return res.body;
}

export function apiError(status: number, body: unknown): RampartError {
  const e = (body as { error?: { code?: string; message?: string; problems?: unknown } } | undefined)?.error;
  const codeOf = (c: unknown): ErrorCode =>
    typeof c === 'string' && c in ERRORS ? (c as ErrorCode) : 'RAMPART_E_INTERNAL';
  // Several problems: each printed on its own line, as the server found them.
  if (Array.isArray(e?.problems) && e.problems.length > 1)
    return new RampartErrorList(
      (e.problems as { code?: unknown; message?: unknown; location?: unknown }[]).map((p) => {
        const at = typeof p.location === 'string' ? /^(.*):(\d+):(\d+)$/.exec(p.location) : null;
        return new RampartError(codeOf(p.code), String(p.message), {
          ...(at ? { location: { file: at[1]!, line: Number(at[2]), column: Number(at[3]) } } : {}),
        });
      }),
    );
  return new RampartError(codeOf(e?.code), e?.message ?? `the control plane answered HTTP ${status}`);
}
