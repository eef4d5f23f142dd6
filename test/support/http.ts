// One way for tests to call the control plane's HTTP API with a bearer token.

import { readFileSync } from 'node:fs';
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
