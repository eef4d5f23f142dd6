// The Docker Engine authorization plugin, on a unix socket (docker finds it at
// /run/docker/plugins/<name>.sock and is started with --authorization-plugin=<name>). The socket
// is the credential: it is created mode 0600, so only root (the engine) can speak to it. The
// protocol is three POSTs of JSON; every answer is JSON, and anything unreadable is a denial.
// Requests are read as the engine wrote them, Go-encoded (src/admission/formats/gojson.ts).

import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { AdmissionService, DockerAuthzResponse } from './service.js';
import { messageOf, RampartError } from '../core/errors.js';

/** Docker sends request bodies up to 1 MiB, base64 in JSON. */
const MAX_BODY = 4 * 1024 * 1024;
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export interface DockerPlugin {
  readonly socket: string;
  close(): Promise<void>;
}

export async function startDockerPlugin(socket: string, admission: AdmissionService): Promise<DockerPlugin> {
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  try {
    if (lstatSync(socket).isSocket()) unlinkSync(socket);
    else
      throw new RampartError(
        'RAMPART_E_LISTEN',
        `admission.docker_plugin.socket ${socket} exists and is not a socket; refusing to replace it`,
      );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const server: Server = createServer((req, res) => void handle(req, res, admission));
  server.requestTimeout = 30_000;
  // The socket is the credential: 0600 before anything can connect (umask for the bind, then chmod).
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new RampartError('RAMPART_E_LISTEN', `cannot listen on ${socket}: ${messageOf(e)}`, { cause: e }),
        ),
      );
      server.listen(socket, resolve);
    });
  } finally {
    process.umask(old);
  }
  chmodSync(socket, 0o600);
  return {
    socket,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(socket);
          } catch {
            // already gone
          }
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, admission: AdmissionService): Promise<void> {
  const send = (status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const deny = (why: string): void => send(200, { Allow: false, Msg: `rampart: denied: ${why}`, Err: why });
  if (req.method !== 'POST') return send(405, { Err: 'POST only' });
  let body: string;
  try {
    body = await readText(req);
  } catch (e) {
    return deny(messageOf(e));
  }
  try {
    switch (req.url) {
      case '/Plugin.Activate':
        return send(200, { Implements: ['authz'] });
      case '/AuthZPlugin.AuthZReq': {
        const answer: DockerAuthzResponse = await admission.dockerRequest(body);
        return send(200, answer);
      }
      case '/AuthZPlugin.AuthZRes':
        // Requests were decided on the way in; responses pass.
        return send(200, { Allow: true });
      default:
        return send(404, { Err: `unknown plugin endpoint ${req.url ?? ''}` });
    }
  } catch (e) {
    return deny(messageOf(e));
  }
}

/** The request body as text: the admission service parses it the way the engine wrote it. */
function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`plugin request larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
