// The live event stream for people and tools: GET /v1/events/stream, Server-Sent Events.
// Filtered by type (exact, or a prefix such as `sandbox.*`), minimum severity, agent and run;
// resumable with Last-Event-ID (the record number of the last event seen) or ?from=; with
// ?follow=false it sends what is recorded and ends. Each connection is a subscriber of the event
// stream with its own cursor: a slow client is served from the store as it reads, never buffered
// without bound, and never holds up anyone else.

import { randomBytes } from 'node:crypto';
import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import { EVENT_CATALOGUE, type EventType, type StreamEvent } from '../core/events.js';
import { SEVERITIES, severityRank, type Severity } from '../core/types.js';
import type { EventStream } from './stream.js';

/** Connections streaming at once; past it, 503 (each costs a subscriber and its reads). */
const MAX_STREAMS = 64;
const HEARTBEAT_MS = 15_000;

interface Query {
  type?: string;
  severity?: Severity;
  agent?: string;
  run?: string;
  from?: number;
  follow?: boolean;
}

/** Event types named by a filter: exact names, or prefixes ending in `.*`; unknown ones refused. */
export function typesOf(filter: string | undefined): EventType[] | '*' {
  if (filter === undefined || filter === '' || filter === '*') return '*';
  const all = Object.keys(EVENT_CATALOGUE) as EventType[];
  const out = new Set<EventType>();
  for (const f of filter.split(',').map((x) => x.trim())) {
    const matched = f.endsWith('.*')
      ? all.filter((t) => t.startsWith(f.slice(0, -1)))
      : all.filter((t) => t === f);
    if (matched.length === 0)
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        `type: no event type matches "${f}" (see docs/events.md)`,
      );
    for (const t of matched) out.add(t);
  }
  return [...out];
}

/** One event as an SSE message: its record number is the id a client resumes from. */
export function sseMessage(e: StreamEvent): string {
  const { type, severity, source, subject, outcome, data } = e.event;
  const body = JSON.stringify({ seq: e.seq, time: e.time, type, severity, source, subject, outcome, data });
  return `id: ${e.seq}\nevent: ${type}\ndata: ${body}\n\n`;
}

export function eventRoutes(stream: EventStream): Route<never, never, never>[] {
  let open = 0;
  return [
    route<unknown, unknown, Query>({
      method: 'GET',
      url: '/v1/events/stream',
      scope: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            type: { type: 'string', maxLength: 2000 },
            severity: { enum: [...SEVERITIES] },
            agent: { type: 'string', minLength: 1, maxLength: 128 },
            run: { type: 'string', minLength: 1, maxLength: 128 },
            from: { type: 'integer', minimum: 0 },
            follow: { type: 'boolean' },
          },
        },
      },
      handler: async (req, reply) => {
        const q = req.query;
        const types = typesOf(q.type);
        const last = req.headers['last-event-id'];
        const resume = typeof last === 'string' && /^\d{1,15}$/.test(last) ? Number(last) + 1 : undefined;
        if (open >= MAX_STREAMS)
          throw new RampartError('RAMPART_E_RATE_LIMITED', `${MAX_STREAMS} event streams are open already`);
        const min = q.severity === undefined ? 0 : severityRank(q.severity);
        const wanted = (e: StreamEvent): boolean =>
          severityRank(e.event.severity) >= min &&
          (q.agent === undefined ||
            e.event.subject?.agent === q.agent ||
            (e.event.data as { agent?: unknown }).agent === q.agent) &&
          (q.run === undefined ||
            e.event.subject?.run === q.run ||
            (e.event.data as { run?: unknown }).run === q.run);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
        });
        res.write(': rampart event stream\n\n');
        open++;
        let done = false;
        const subscription: { off?: () => void } = {};
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        heartbeat.unref();
        const finish = (): void => {
          if (done) return;
          done = true;
          open--;
          clearInterval(heartbeat);
          subscription.off?.();
          res.end();
        };
        req.raw.on('close', finish);
        subscription.off = await stream.subscribe({
          name: `sse-${randomBytes(6).toString('hex')}`,
          types,
          from: resume ?? q.from ?? 'now',
          // Awaiting the client's drain is the back-pressure: the stream reads on only as fast
          // as this client takes events.
          handle: async (e) => {
            if (done || !wanted(e)) return;
            if (!res.write(sseMessage(e)))
              // Whichever comes first; the other listener goes with it, or a long stream that
              // often waits for its client would collect one per wait.
              await new Promise<void>((r) => {
                const settle = (): void => {
                  res.off('drain', settle);
                  res.off('close', settle);
                  r();
                };
                res.once('drain', settle);
                res.once('close', settle);
              });
          },
          ...(q.follow === false ? { onIdle: finish } : {}),
        });
        if (done) subscription.off();
        return reply;
      },
    }),
  ];
}
