// A small Docker Engine API client over its unix socket: JSON requests with a deadline, and the
// attach stream demultiplexed. No CLI is shelled out to (arguments and environments of child
// processes are visible to every user of the host), and no SDK is taken on: Rampart needs a dozen
// calls, each checked here for the status the Engine documents.
//
// API version 1.41 (Engine 20.10), the oldest Rampart supports; newer engines answer it too.

import { request, type IncomingMessage } from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { RampartError } from '../../core/errors.js';

const API = '/v1.41';

export interface EngineOptions {
  /** The Engine's unix socket (default /var/run/docker.sock). */
  readonly socket: string;
  /** Longest wait for one request (not for `wait`, which lasts as long as the run). */
  readonly timeoutMs?: number;
}

export class EngineError extends RampartError {
  constructor(
    /** The Engine's HTTP status; 0 when it could not be reached or did not answer. */
    readonly engineStatus: number,
    message: string,
  ) {
    super('RAMPART_E_RUNTIME', message);
  }
}

export class Engine {
  constructor(private readonly opts: EngineOptions) {}

  get socket(): string {
    return this.opts.socket;
  }

  /**
   * One request; resolves with the status and the parsed JSON body (or the text, or undefined).
   * `body`: sent as JSON, or as it is when a Buffer.
   */
  call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number | null } = {},
  ): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      // A Buffer is sent as it is: a signed body's bytes are what its signature covers.
      const payload =
        body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.opts.socket,
          method,
          path: API + path,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': payload.length, host: 'docker' }
            : { host: 'docker' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text === '' ? undefined : text;
            if (/json/.test(res.headers['content-type'] ?? ''))
              try {
                parsed = JSON.parse(text);
              } catch {
                // left as text
              }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      const timeout = opts.timeoutMs === null ? undefined : (opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000);
      if (timeout !== undefined)
        req.setTimeout(timeout, () =>
          req.destroy(
            new EngineError(0, `the Docker Engine did not answer ${method} ${path} in ${timeout} ms`),
          ),
        );
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(
          e instanceof EngineError
            ? e
            : new EngineError(
                0,
                `cannot reach the Docker Engine at ${this.opts.socket}: ${e.code ?? e.message}`,
              ),
        ),
      );
      req.end(payload);
    });
  }

  /** A request that must answer one of `ok`; anything else is an EngineError with the Engine's message. */
  async expect<T = unknown>(
    ok: readonly number[],
    method: string,
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number | null } = {},
  ): Promise<T> {
    const r = await this.call<T>(method, path, body, opts);
    if (!ok.includes(r.status)) {
      const msg =
        r.body && typeof r.body === 'object' && 'message' in r.body
          ? String((r.body as { message: unknown }).message)
          : String(r.body ?? '');
      throw new EngineError(r.status, `Docker Engine: ${method} ${path.split('?')[0]}: ${r.status} ${msg}`);
    }
    return r.body;
  }

  /**
   * Attaches to a created container's stdout and stderr (before it starts, so nothing is lost)
   * and copies each to its writable. Resolves once attached; `ended` settles when the stream does.
   */
  attach(id: string, out: Writable, err: Writable): Promise<{ ended: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.opts.socket,
        method: 'POST',
        path: `${API}/containers/${encodeURIComponent(id)}/attach?stream=1&stdout=1&stderr=1`,
        headers: { host: 'docker', connection: 'Upgrade', upgrade: 'tcp' },
      });
      req.on('upgrade', (_res: IncomingMessage, socket: Duplex, head: Buffer) => {
        const ended = new Promise<void>((done) => {
          const demux = new Demux(out, err);
          if (head.length > 0) demux.push(head);
          socket.on('data', (c: Buffer) => demux.push(c));
          socket.on('end', () => done());
          socket.on('close', () => done());
          socket.on('error', () => done());
        });
        resolve({ ended });
      });
      req.on('response', (res: IncomingMessage) => {
        res.resume();
        reject(new EngineError(res.statusCode ?? 0, `Docker Engine: attach ${id}: ${res.statusCode}`));
      });
      req.on('error', (e) => reject(new EngineError(0, `cannot attach to ${id}: ${e.message}`)));
      req.end();
    });
  }
}

/**
 * The attach stream of a container without a TTY: frames of an 8-byte header (stream type: 1
 * stdout, 2 stderr; three zero bytes; a big-endian length) and that many bytes of payload.
 */
export class Demux {
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      const payload = this.buf.subarray(8, 8 + size);
      (this.buf[0] === 2 ? this.err : this.out).write(payload);
      this.buf = this.buf.subarray(8 + size);
    }
  }
}
