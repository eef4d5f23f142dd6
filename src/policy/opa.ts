// An external OPA (or anything speaking OPA's Data API: another Rampart included). Decisions are
// asked with POST /v1/data/<path> {"input": ...}; the result may be a boolean or an object with
// `allow` (and optionally `reasons` or `reason`). Anything else, a timeout or an error, is a
// failure the caller answers from its built-in engine.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { DecisionInput } from './model.js';

export interface OpaOptions {
  readonly url: string;
  readonly path: string;
  readonly timeoutMs: number;
  /** Bearer token sent to OPA (read from a secret file by the caller). */
  readonly token?: string | undefined;
}

export interface OpaAnswer {
  readonly allow: boolean;
  readonly reasons: string[];
  readonly decisionId: string | undefined;
}

export class OpaClient {
  private readonly base: URL;
  private readonly agent: HttpAgent;

  constructor(private readonly opts: OpaOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new TypeError('OPA url must be http or https');
    this.agent =
      this.base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true })
        : new HttpAgent({ keepAlive: true });
  }

  get url(): string {
    return this.base.href;
  }

  decide(input: DecisionInput): Promise<OpaAnswer> {
    return this.post(`/v1/data/${this.opts.path.split('/').map(encodeURIComponent).join('/')}`, {
      input,
    }).then((body) => {
      const b = body as { result?: unknown; decision_id?: unknown };
      const r = b.result;
      const decisionId = typeof b.decision_id === 'string' ? b.decision_id : undefined;
      if (typeof r === 'boolean')
        return { allow: r, reasons: [`OPA ${this.opts.path} answered ${r}`], decisionId };
      if (typeof r === 'object' && r !== null && typeof (r as { allow?: unknown }).allow === 'boolean') {
        const o = r as { allow: boolean; reasons?: unknown; reason?: unknown };
        const reasons = Array.isArray(o.reasons)
          ? o.reasons.filter((x): x is string => typeof x === 'string')
          : typeof o.reason === 'string'
            ? [o.reason]
            : [];
        return {
          allow: o.allow,
          reasons: reasons.length > 0 ? reasons : [`OPA ${this.opts.path} answered ${o.allow}`],
          decisionId,
        };
      }
      throw new Error(
        r === undefined
          ? `OPA has no document at ${this.opts.path}`
          : `OPA's result at ${this.opts.path} is neither a boolean nor an object with "allow"`,
      );
    });
  }

  /** OPA's own health endpoint: resolves when OPA says it is healthy. */
  async health(): Promise<void> {
    await this.request('GET', '/health', undefined);
  }

  private post(path: string, body: unknown): Promise<unknown> {
    return this.request('POST', path, Buffer.from(JSON.stringify(body)));
  }

  private request(method: string, path: string, payload: Buffer | undefined): Promise<unknown> {
    const target = new URL(
      path.replace(/^\//, ''),
      this.base.href.endsWith('/') ? this.base.href : this.base.href + '/',
    );
    return new Promise((resolve, reject) => {
      const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
        method,
        agent: this.agent,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.opts.timeoutMs} ms`)),
        this.opts.timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1 << 20) req.destroy(new Error('OPA answered more than 1 MiB'));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          if ((res.statusCode ?? 0) !== 200) return reject(new Error(`OPA answered HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
          } catch {
            reject(new Error('OPA answered with something that is not JSON'));
          }
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
