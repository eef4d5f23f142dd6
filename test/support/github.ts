// A local stand-in for GitHub's installation-token API, as documented: POST
// /app/installations/{id}/access_tokens with the app's JWT (checked as GitHub checks it: RS256,
// signed by the app's key, iss the app id, issued in the past, expiring within 10 minutes),
// DELETE /installation/token with the token, GET /app. Installation 78 is misconfigured: it
// hands out more than asked. Everything it saw is in `seen`.

import { execFileSync } from 'node:child_process';
import { verify, randomBytes } from 'node:crypto';
import { keyPair } from './keys.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server as HttpsServer } from 'node:https';
import type { Json } from './http.js';

export interface Seen {
  jwt: { header: Json; claims: Json; verified: boolean; at: number }[];
  issued: { token: string; installation: string; body: Json }[];
  revoked: string[];
}

export function fakeGithub(
  cert: Buffer,
  key: Buffer,
  appPublicKey: string,
  seen: Seen,
  onIssue?: (token: string) => void,
): HttpsServer {
  return createServer({ cert, key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const reply = (status: number, json?: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(json === undefined ? '' : JSON.stringify(json));
      };
      const appAuth = (): boolean => {
        const m = /^Bearer ([^.]+)\.([^.]+)\.([^.]+)$/.exec(auth);
        if (!m) return false;
        const header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString());
        const claims = JSON.parse(Buffer.from(m[2]!, 'base64url').toString());
        const verified = verify(
          'RSA-SHA256',
          Buffer.from(`${m[1]}.${m[2]}`),
          appPublicKey,
          Buffer.from(m[3]!, 'base64url'),
        );
        const now = Math.floor(Date.now() / 1000);
        seen.jwt.push({ header, claims, verified, at: now });
        return (
          verified &&
          header.alg === 'RS256' &&
          claims.iss === '4242' &&
          claims.iat <= now &&
          claims.exp > now &&
          claims.exp - now <= 600 &&
          claims.exp - claims.iat <= 660
        );
      };
      const tokenAuth = /^token (.+)$/.exec(auth)?.[1];
      const access = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(req.url ?? '');
      if (req.method === 'GET' && req.url === '/app')
        return appAuth() ? reply(200, { id: 4242 }) : reply(401);
      if (req.method === 'POST' && access) {
        if (!appAuth()) return reply(401, { message: 'A JSON web token could not be decoded' });
        const asked = JSON.parse(body) as { repositories: string[]; permissions: Record<string, string> };
        const token = `ghs_${randomBytes(18).toString('hex')}`;
        seen.issued.push({ token, installation: access[1]!, body: asked });
        onIssue?.(token);
        // Installation 78 is misconfigured: it hands out every repository, with admin.
        const greedy = access[1] === '78';
        return reply(201, {
          token,
          expires_at: new Date(Date.now() + 3_600_000).toISOString(),
          permissions: greedy ? { ...asked.permissions, administration: 'write' } : asked.permissions,
          repositories: (greedy ? [...asked.repositories, 'infra'] : asked.repositories).map((name) => ({
            name,
          })),
        });
      }
      if (req.method === 'DELETE' && req.url === '/installation/token' && tokenAuth) {
        if (!seen.issued.some((i) => i.token === tokenAuth) || seen.revoked.includes(tokenAuth))
          return reply(401);
        seen.revoked.push(tokenAuth);
        return reply(204);
      }
      reply(404, { message: 'Not Found' });
    });
  });
}

/**
 * The stand-in, set up in `dir` and listening: its TLS certificate (srv.crt, for an engine's
 * ca_file) and key, the app's private key (app.pem, mode 0600), on 127.0.0.1.
 */
export async function startFakeGithub(
  dir: string,
  seen: Seen,
  onIssue?: (token: string) => void,
): Promise<{ server: HttpsServer; port: number }> {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'srv.key'),
      '-out',
      join(dir, 'srv.crt'),
    ],
    { stdio: 'ignore' },
  );
  const app = keyPair({ type: 'rsa', modulusLength: 2048 });
  writeFileSync(join(dir, 'app.pem'), app.privateKey.export({ type: 'pkcs1', format: 'pem' }), {
    mode: 0o600,
  });
  const server = fakeGithub(
    readFileSync(join(dir, 'srv.crt')),
    readFileSync(join(dir, 'srv.key')),
    app.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    seen,
    onIssue,
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}
