// Incidents API: list, show, stats, timeline and report (audit:read), and what people do
// (incidents:write): open, acknowledge, assign, note, phase, verdict, tasks, resolve, reopen.
// Every change is on record before it happens (audited), and announced after as an incident.*
// event for the notification channels.

import { audited } from '../core/audited.js';
import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import type { Auditor } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import { PHASES, VERDICTS, type Incident, type Phase, type Verdict } from './model.js';
import { makeReport, renderHtml, renderMarkdown } from './report.js';
import type { IncidentsService } from './service.js';
import type { Timeline } from './timeline.js';

export interface IncidentRouteDeps {
  readonly service: IncidentsService;
  readonly auditor: Auditor;
  readonly timeline: (i: Incident) => Promise<Timeline>;
  readonly now: () => number;
}

const ID = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^INC-[0-9]{1,16}$' } },
} as const;
const TEXT = { type: 'string', minLength: 1, maxLength: 4000 } as const;
const SEVERITY = { enum: ['low', 'medium', 'high', 'critical'] } as const;
const closed = (props: Record<string, object>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, required, properties: props }) as const;

/** What a list shows of an incident. */
function summary(i: Incident) {
  return {
    id: i.id,
    title: i.title,
    severity: i.severity,
    status: i.status,
    phase: i.phase,
    kind: i.kind,
    assignee: i.assignee ?? null,
    opened: i.times.opened,
    detections: i.detectionCount,
    runs: i.observables.runs.slice(0, 10),
    agents: i.observables.agents.slice(0, 10),
    verdict: i.verdict?.value ?? null,
    drill: i.drill ?? null,
  };
}

export function incidentRoutes(deps: IncidentRouteDeps): Route<never, never, never>[] {
  const { service, auditor } = deps;
  /** A person's change: on record first, then done. */
  const change = <B>(
    url: string,
    action: string,
    body: object | undefined,
    run: (id: string, b: B, by: string) => Promise<Incident>,
  ) =>
    route<B, { id: string }>({
      method: 'POST',
      url: `/v1/incidents/:id/${url}`,
      scope: 'incidents:write',
      schema: { params: ID, ...(body ? { body } : {}) },
      handler: async (req) => {
        const by = req.principal!.actor;
        await service.find(req.params.id);
        return audited(
          auditor,
          by,
          {
            action: `incident.${action}`,
            target: req.params.id,
            details: req.body ?? {},
          },
          () => run(req.params.id, req.body, by),
        );
      },
    });

  return [
    route<unknown, unknown, { status?: string; severity?: string; limit?: number }>({
      method: 'GET',
      url: '/v1/incidents',
      scope: 'audit:read',
      schema: {
        querystring: closed({
          status: { enum: ['open', 'acknowledged', 'resolved', 'active'] },
          severity: SEVERITY,
          limit: { type: 'integer', minimum: 1, maximum: 10000 },
        }),
      },
      handler: async (req) => {
        const { status, severity, limit = 100 } = req.query;
        const all = service
          .all()
          .filter(
            (i) =>
              (status === undefined ||
                (status === 'active' ? i.status !== 'resolved' : i.status === status)) &&
              (severity === undefined || i.severity === severity),
          );
        return { total: all.length, incidents: all.slice(0, limit).map(summary) };
      },
    }),
    route<{
      title: string;
      severity: 'low' | 'medium' | 'high' | 'critical';
      runs?: string[];
      agents?: string[];
      note?: string;
    }>({
      method: 'POST',
      url: '/v1/incidents',
      scope: 'incidents:write',
      schema: {
        body: closed(
          {
            title: { type: 'string', minLength: 1, maxLength: 200 },
            severity: SEVERITY,
            runs: { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 64 } },
            agents: { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 128 } },
            note: TEXT,
          },
          ['title', 'severity'],
        ),
      },
      handler: async (req, reply) =>
        reply.code(201).send(await service.desk.open(req.principal!.actor, req.body)),
    }),
    route<unknown, unknown, { since?: string }>({
      method: 'GET',
      url: '/v1/incidents/stats',
      scope: 'audit:read',
      schema: { querystring: closed({ since: { type: 'string', minLength: 2, maxLength: 32 } }) },
      handler: async (req) => {
        const since = req.query.since ?? '30d';
        const days = /^(\d{1,4})d$/.exec(since);
        const ms = days ? Number(days[1]) * 86_400_000 : parseDuration(since);
        if (ms === undefined)
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            `since: "${since}" is not a duration like 30d or 12h`,
          );
        return service.statsSince(deps.now() - ms);
      },
    }),
    route<unknown, { id: string }>({
      method: 'GET',
      url: '/v1/incidents/:id',
      scope: 'audit:read',
      schema: { params: ID },
      handler: async (req) => service.find(req.params.id),
    }),
    route<unknown, { id: string }>({
      method: 'GET',
      url: '/v1/incidents/:id/timeline',
      scope: 'audit:read',
      schema: { params: ID },
      handler: async (req) => deps.timeline(await service.find(req.params.id)),
    }),
    route<unknown, { id: string }, { format?: 'json' | 'md' | 'html' }>({
      method: 'GET',
      url: '/v1/incidents/:id/report',
      scope: 'audit:read',
      schema: { params: ID, querystring: closed({ format: { enum: ['json', 'md', 'html'] } }) },
      handler: async (req, reply) => {
        const i = await service.find(req.params.id);
        const report = makeReport(i, await deps.timeline(i), new Date(deps.now()).toISOString());
        const format = req.query.format ?? 'json';
        if (format === 'md') return reply.type('text/markdown; charset=utf-8').send(renderMarkdown(report));
        if (format === 'html') return reply.type('text/html; charset=utf-8').send(renderHtml(report));
        return reply.type('application/json').send(JSON.stringify(report));
      },
    }),
    change('ack', 'ack', undefined, (id, _b, by) => service.desk.ack(id, by)),
    change<{ to: string }>(
      'assign',
      'assign',
      closed({ to: { type: 'string', minLength: 1, maxLength: 128 } }, ['to']),
      (id, b, by) => service.desk.assign(id, b.to, by),
    ),
    change<{ text: string }>('notes', 'note', closed({ text: TEXT }, ['text']), (id, b, by) =>
      service.desk.note(id, b.text, by),
    ),
    change<{ phase: Phase }>(
      'phase',
      'phase',
      closed({ phase: { enum: [...PHASES] } }, ['phase']),
      (id, b, by) => service.desk.phase(id, b.phase, by),
    ),
    change<{ verdict: Verdict; reason?: string }>(
      'verdict',
      'verdict',
      closed({ verdict: { enum: [...VERDICTS] }, reason: TEXT }, ['verdict']),
      (id, b, by) => service.desk.verdict(id, b.verdict, by, b.reason),
    ),
    change<{ task: number; done: boolean }>(
      'tasks',
      'task',
      closed({ task: { type: 'integer', minimum: 0, maximum: 10000 }, done: { type: 'boolean' } }, [
        'task',
        'done',
      ]),
      (id, b, by) => service.desk.task(id, b.task, b.done, by),
    ),
    change<{ verdict?: Verdict; note?: string }>(
      'resolve',
      'resolve',
      closed({ verdict: { enum: [...VERDICTS] }, note: TEXT }),
      (id, b, by) => service.desk.resolve(id, by, b ?? {}),
    ),
    change('reopen', 'reopen', undefined, (id, _b, by) => service.desk.reopen(id, by)),
  ];
}
