// One way for tests to call the control plane's HTTP API with a bearer token.

import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Response bodies are JSON of whatever shape the route documents; tests assert on it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Api {
  (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: Json }>;
}

export function api(url: string, defaultToken: string): Api {
  return async (method, path, body, token = defaultToken) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, json };
  };
}

/** The admin token `rampart up` wrote into DIR/.rampart. */
export function adminToken(dir: string): string {
  return readFileSync(join(dir, '.rampart', 'admin.token'), 'utf8').trim();
}

/** A request a local receiver got. */
export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A local HTTP receiver standing in for a collector or a notification service: every request
 * kept (in order) unless `answer` refuses it with a status other than 2xx.
 */
export async function startReceiver(
  answer: (path: string) => { status: number; body: string } = () => ({ status: 200, body: '{}' }),
): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const a = answer(req.url ?? '');
      if (a.status >= 200 && a.status < 300) got.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(a.status).end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
