// The transports: each output sends a batch of records or throws. Syslog keeps one TCP or TLS
// connection open and writes framed messages (a write that errs drops the connection; the batch
// is sent again on the next); HTTP outputs post a batch and check the answer the collector
// documents (HEC's code 0, _bulk's errors: false). Errors name the output and the status or
// cause, never a token.

import { connect as tcpConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { postTo } from '../core/post.js';
import type { SinkSettings } from '../core/settings.js';
import type { AuditRecordRow } from '../store/types.js';
import { bulkBody, splunkBody, syslogFrame } from './formats.js';

export interface Output {
  send(rows: readonly AuditRecordRow[]): Promise<void>;
  /** The witness: a signed checkpoint note. */
  checkpoint?(note: string): Promise<void>;
  close(): void;
}

export type ReadSecret = (path: string, purpose: string) => string;

const TIMEOUT_MS = 10_000;

const post = (name: string, url: string, body: string, headers: Record<string, string>): Promise<string> =>
  postTo(`output ${name}`, url, body, headers, TIMEOUT_MS);

class SyslogOutput implements Output {
  private socket: Socket | undefined;

  constructor(
    private readonly o: SinkSettings,
    private readonly ca: Buffer | undefined,
  ) {}

  private open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const s = this.o.tls
        ? tlsConnect({
            host: this.o.host,
            port: this.o.port,
            servername: this.o.tls.serverName ?? this.o.host,
            ...(this.ca ? { ca: this.ca } : {}),
          })
        : tcpConnect({ host: this.o.host, port: this.o.port });
      const fail = (e: Error): void => {
        s.destroy();
        reject(
          new Error(`output ${this.o.name}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }),
        );
      };
      s.once('error', fail);
      s.setTimeout(TIMEOUT_MS, () => fail(new Error('timed out')));
      s.once(this.o.tls ? 'secureConnect' : 'connect', () => {
        s.off('error', fail);
        s.setTimeout(0);
        // A collector that closes or errs later: the next batch reconnects.
        s.on('error', () => s.destroy());
        s.on('close', () => {
          if (this.socket === s) this.socket = undefined;
        });
        this.socket = s;
        resolve(s);
      });
    });
  }

  async send(rows: readonly AuditRecordRow[]): Promise<void> {
    const s = await this.open();
    const data = Buffer.concat(rows.map((r) => syslogFrame(r)));
    await new Promise<void>((resolve, reject) =>
      s.write(data, (e) => {
        if (!e) return resolve();
        s.destroy();
        reject(
          new Error(`output ${this.o.name}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }),
        );
      }),
    );
  }

  close(): void {
    this.socket?.end();
    this.socket = undefined;
  }
}

export function outputFor(o: SinkSettings, installation: string, readSecret: ReadSecret): Output {
  const token = o.tokenFile ? readSecret(o.tokenFile, `sinks.outputs ${o.name} token_file`) : undefined;
  switch (o.type) {
    case 'syslog':
      return new SyslogOutput(o, o.tls?.caFile ? readFileSync(o.tls.caFile) : undefined);
    case 'splunk':
      return {
        send: async (rows) => {
          const text = await post(o.name, `${o.url}/services/collector/event`, splunkBody(rows), {
            authorization: `Splunk ${token ?? ''}`,
            'content-type': 'application/json',
          });
          const code = (JSON.parse(text || '{}') as { code?: number }).code;
          if (code !== undefined && code !== 0) throw new Error(`output ${o.name}: HEC code ${code}`);
        },
        close: () => undefined,
      };
    case 'elasticsearch':
      return {
        send: async (rows) => {
          const text = await post(o.name, `${o.url}/_bulk`, bulkBody(rows, o.index, installation), {
            ...(token ? { authorization: `ApiKey ${token}` } : {}),
            'content-type': 'application/x-ndjson',
          });
          const r = JSON.parse(text || '{}') as {
            errors?: boolean;
            items?: { index?: { error?: { type?: string } } }[];
          };
          if (r.errors) {
            const first = r.items?.find((i) => i.index?.error)?.index?.error?.type ?? 'unknown';
            throw new Error(`output ${o.name}: the bulk request had errors (${first})`);
          }
        },
        close: () => undefined,
      };
    case 'witness':
      return {
        send: async () => undefined,
        checkpoint: async (note) => {
          await post(o.name, o.url, note, {
            'content-type': 'text/plain; charset=utf-8',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          });
        },
        close: () => undefined,
      };
  }
}
