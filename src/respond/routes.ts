// Response by hand: the same steps as a playbook's, taken by a person with a reason. What
// contains (freeze, cut egress, block, sever) acts first and is recorded after, like the
// automatic path; what releases (thaw, unblock, restore, a breaker reset) is recorded first and
// happens only once its record is durable: loosening a containment without a record is how an
// attacker with an operator's token would hide.

import { audited } from '../core/audited.js';
import { route, type Route } from '../core/component.js';
import { RampartError } from '../core/errors.js';
import type { Auditor } from '../core/types.js';
import type { ActionName } from './actions.js';
import type { RespondService } from './service.js';
import type { ContainmentState } from './state.js';

export interface RespondRouteDeps {
  readonly service: RespondService;
  readonly state: ContainmentState;
  readonly auditor: Auditor;
}

const REASON = { type: 'string', minLength: 1, maxLength: 500 } as const;
const RUN = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' } as const;
const AGENT = { type: 'string', minLength: 1, maxLength: 128 } as const;
const body = (props: Record<string, object>, required: string[]) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: [...required, 'reason'],
    properties: { ...props, reason: REASON },
  }) as const;

interface RunBody {
  run: string;
  reason: string;
}
interface AgentBody {
  agent: string;
  reason: string;
}
interface ReasonBody {
  reason: string;
  scope?: string;
}

export function respondRoutes(deps: RespondRouteDeps): Route<never, never, never>[] {
  const { service, state, auditor } = deps;

  /** A containment by hand: acts, then records; a failure is the person's to see. */
  const act = async (
    action: ActionName,
    ctx: { run?: string; agent?: string; reason: string; by: string },
  ) => {
    const r = await service.step(action, {}, 'next', {
      run: ctx.run ?? '',
      agent: ctx.agent ?? '',
      reason: ctx.reason,
      by: ctx.by,
    });
    if (r.outcome === 'failed')
      throw new RampartError('RAMPART_E_ACTION_FAILED', `${action} on ${r.target} failed: ${r.error ?? ''}`);
    if (r.outcome === 'gone')
      throw new RampartError('RAMPART_E_RUN_NOT_FOUND', `no running run ${ctx.run ?? ''} to ${action}`);
    return { action, outcome: r.outcome, target: r.target, ...(r.detail ? { detail: r.detail } : {}) };
  };

  const runRoute = (url: string, action: ActionName) =>
    route<RunBody>({
      method: 'POST',
      url,
      scope: 'respond:write',
      schema: { body: body({ run: RUN }, ['run']) },
      handler: async (req) =>
        act(action, { run: req.body.run, reason: req.body.reason, by: req.principal!.actor }),
    });

  return [
    route({
      method: 'GET',
      url: '/v1/respond',
      scope: 'audit:read',
      handler: async () => {
        const s = state.state;
        return {
          playbooks: service.set.version,
          severed: s.severed ?? null,
          blocked: [...s.blocked].map(([agent, m]) => ({ agent, ...m })),
          bans: [...s.bans].map(([target, b]) => ({ target, ...b, until: new Date(b.until).toISOString() })),
          breaker: [...s.trips].map(([scope, t]) => ({ scope, ...t })),
          stats: service.stats,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/v1/respond/playbooks',
      scope: 'audit:read',
      handler: async () => ({
        version: service.set.version,
        dirs: service.set.dirs,
        files: service.set.files,
        playbooks: service.set.playbooks.map((p) => ({
          name: p.name,
          description: p.description,
          enabled: p.enabled,
          dry_run: p.dryRun,
          actions: p.actions.map((s) => s.action),
          escalation: p.escalation
            ? {
                by: p.escalation.by,
                window_ms: p.escalation.windowMs,
                levels: p.escalation.levels.map((l) => ({
                  after: l.after,
                  actions: l.actions.map((s) => s.action),
                })),
              }
            : null,
          location: `${p.location.file}:${p.location.line}:${p.location.column}`,
        })),
      }),
    }),
    route({
      method: 'POST',
      url: '/v1/respond/reload',
      scope: 'policy:write',
      handler: async (req) =>
        audited(
          auditor,
          req.principal!.actor,
          { action: 'respond.reload', target: service.set.version },
          () => service.reload(),
        ),
    }),
    runRoute('/v1/respond/freeze', 'freeze'),
    runRoute('/v1/respond/cut-egress', 'cut_egress'),
    route<RunBody>({
      method: 'POST',
      url: '/v1/respond/thaw',
      scope: 'respond:write',
      schema: { body: body({ run: RUN }, ['run']) },
      handler: async (req) =>
        audited(
          auditor,
          req.principal!.actor,
          { action: 'respond.thaw', target: `run:${req.body.run}`, details: { reason: req.body.reason } },
          () => act('thaw', { run: req.body.run, reason: req.body.reason, by: req.principal!.actor }),
        ),
    }),
    route<AgentBody>({
      method: 'POST',
      url: '/v1/respond/block-agent',
      scope: 'respond:write',
      schema: { body: body({ agent: AGENT }, ['agent']) },
      handler: async (req) =>
        act('block_agent', { agent: req.body.agent, reason: req.body.reason, by: req.principal!.actor }),
    }),
    route<AgentBody>({
      method: 'POST',
      url: '/v1/respond/unblock-agent',
      scope: 'respond:write',
      schema: { body: body({ agent: AGENT }, ['agent']) },
      handler: async (req) => {
        const { agent, reason } = req.body;
        if (!state.state.blocked.has(agent))
          throw new RampartError('RAMPART_E_NOT_FOUND', `agent ${agent} is not blocked`);
        return audited(
          auditor,
          req.principal!.actor,
          { action: 'respond.unblock_agent', target: `agent:${agent}`, details: { reason } },
          async () => {
            await state.setBlocked(agent, undefined);
            return { agent, blocked: false };
          },
        );
      },
    }),
    route<ReasonBody>({
      method: 'POST',
      url: '/v1/respond/sever-external',
      scope: 'respond:write',
      schema: { body: body({}, []) },
      handler: async (req) => act('sever_external', { reason: req.body.reason, by: req.principal!.actor }),
    }),
    route<ReasonBody>({
      method: 'POST',
      url: '/v1/respond/restore-external',
      scope: 'respond:write',
      schema: { body: body({}, []) },
      handler: async (req) => {
        if (!state.state.severed)
          throw new RampartError('RAMPART_E_CONFLICT', 'external traffic is not severed');
        return audited(
          auditor,
          req.principal!.actor,
          { action: 'respond.restore_external', target: 'external', details: { reason: req.body.reason } },
          async () => {
            await state.setSevered(undefined);
            return { severed: false };
          },
        );
      },
    }),
    route<ReasonBody>({
      method: 'POST',
      url: '/v1/respond/reset-breaker',
      scope: 'respond:write',
      schema: { body: body({ scope: { type: 'string', minLength: 1, maxLength: 300 } }, []) },
      handler: async (req) => {
        const { scope, reason } = req.body;
        if (service.trips().length === 0 || (scope && !service.trips().some((t) => t.scope === scope)))
          throw new RampartError(
            'RAMPART_E_NOT_FOUND',
            scope ? `the breaker is not tripped for ${scope}` : 'the breaker is not tripped',
          );
        return audited(
          auditor,
          req.principal!.actor,
          { action: 'respond.reset_breaker', target: scope ?? 'all', details: { reason } },
          async () => ({
            reset: await service.resetBreaker(scope, req.principal!.actor, reason),
          }),
        );
      },
    }),
  ];
}
