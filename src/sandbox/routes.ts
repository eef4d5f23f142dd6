// Sandboxed runs over HTTP. `rampart run` registers each run here before it starts (and gets the
// run's workload token), and reports its end; operators list runs, kill one, quarantine one, or
// pull the kill switch. Kills act first and are recorded after: a slow audit write must never
// delay ending a compromised run. A run's tokens are revoked when it ends, however it ends.

import { GIT_BINDING_SCHEMA, type GitBinding, type WorkloadClaims } from '../core/claims.js';
import { route, type Route } from '../core/component.js';
import { RampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { Auditor } from '../core/types.js';
import type { RunControl } from './control.js';
import type { RunLife } from './life.js';
import type { SandboxService } from './service.js';

/** What runs need of the identity component: a run's token issued, and its tokens revoked. */
export interface RunTokens {
  issue(req: {
    agent: string;
    run: string;
    namespace: string;
    capabilities: readonly string[];
    git?: GitBinding | undefined;
  }): Promise<{ token: string; claims: WorkloadClaims; kid: string }>;
  revoke(
    kind: 'run',
    value: string,
    why: string,
    by: string,
    opts?: { severity?: 'info' | 'medium' | 'high' },
  ): Promise<unknown>;
}

export interface RunRouteDeps {
  readonly sandbox: SandboxService;
  /** Where runs are kept and watched (runlife.ts). */
  readonly life: RunLife;
  readonly identity: RunTokens;
  readonly bus: EventPublisher;
  readonly agentNamespace: (agent: string) => string | undefined;
  readonly auditor: Auditor;
  /** Per-run egress channels, when the control plane runs the egress proxy. */
  readonly channels?: RunChannels;
  readonly stats: RunStats;
  /** Kill, quarantine and the kill switch: the same code path as the response engine's. */
  readonly control: RunControl;
  /** Why an agent may not start runs now (blocked by the response engine), or undefined. */
  readonly agentBlocked?: (agent: string) => string | undefined;
  /** Why kernel telemetry is not watching runs, or undefined when it is (profiles that require it). */
  readonly telemetryDown?: () => string | undefined;
}

/** What /metrics says of runs: the routes count, the component reports. */
export interface RunStats {
  started: number;
  readonly ended: Record<string, number>;
  readonly limits: Record<string, number>;
  /** The control plane's part of a run's start: record durable, channel open, token issued. */
  observeStart: (seconds: number) => void;
}

export function runStats(): RunStats {
  return { started: 0, ended: {}, limits: {}, observeStart: () => undefined };
}

const count = (m: Record<string, number>, k: string): void => void (m[k] = (m[k] ?? 0) + 1);

export interface RunChannels {
  /** Opens the run's channel (its socket owned by the run's uid) before its command starts; failing refuses the run. */
  open(run: string, agent: string, uid: number): Promise<void>;
  /** Closes it (and cuts its tunnels) once the run has ended, however it ended. */
  close(run: string): void;
}

const ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' } as const;

const START_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'agent', 'profile', 'workspace', 'command', 'limits', 'uid', 'runner'],
  properties: {
    id: ID,
    agent: { type: 'string', minLength: 1, maxLength: 128 },
    profile: { type: 'string', minLength: 1, maxLength: 32 },
    workspace: { type: 'string', minLength: 1, maxLength: 4096 },
    command: { type: 'string', maxLength: 8192 },
    limits: {
      type: 'object',
      additionalProperties: false,
      required: ['memory', 'pids', 'cpus', 'timeout_ms'],
      properties: {
        memory: { type: 'integer', minimum: 1 },
        pids: { type: 'integer', minimum: 1 },
        cpus: { type: 'number', exclusiveMinimum: 0 },
        timeout_ms: { type: 'integer', minimum: 1 },
      },
    },
    token: { type: 'boolean' },
    network: { type: 'boolean' },
    runtime: { enum: ['bwrap', 'docker', 'swarm'] },
    image: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
    admission: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['check', 'severity'],
        properties: {
          check: { type: 'string', minLength: 1, maxLength: 64 },
          severity: { enum: ['info', 'low', 'medium', 'high', 'critical'] },
        },
      },
    },
    capabilities: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 128 } },
    // The repository and task the run works on: in its token, so the git gate holds it to them.
    git: GIT_BINDING_SCHEMA,
    // Where each secret file came from: an operator's file, or a vault (by reference, read for the
    // run's agent as policy decided), with its version and fingerprint. Never a value.
    secrets: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'source'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 128 },
          source: { type: 'string', minLength: 1, maxLength: 300 },
          fingerprint: { type: 'string', maxLength: 100 },
        },
      },
    },
    uid: { type: 'integer', minimum: 1 },
    runner: {
      type: 'object',
      additionalProperties: false,
      required: ['pid', 'start'],
      properties: {
        pid: { type: 'integer', minimum: 1 },
        start: { type: 'string', pattern: '^[0-9]{1,20}$' },
      },
    },
  },
} as const;

const END_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['reason', 'exit_code', 'signal', 'duration_ms', 'peak_memory'],
  properties: {
    reason: { enum: ['exited', 'timeout', 'killed', 'quarantined', 'error'] },
    exit_code: { type: ['integer', 'null'] },
    signal: { type: ['string', 'null'], maxLength: 16 },
    duration_ms: { type: 'number', minimum: 0 },
    peak_memory: { type: 'integer', minimum: 0 },
    memory_limit_hit: { type: 'boolean' },
    oom_killed: { type: 'boolean' },
    pids_limit_hit: { type: 'boolean' },
    leftover: { type: 'integer', minimum: 0 },
    cpu_ms: { type: 'number', minimum: 0 },
    // The end of a container run's output, redacted by its runner (kept with the run's record).
    output_tail: { type: 'string', maxLength: 16384 },
  },
} as const;

interface StartBody {
  id: string;
  agent: string;
  profile: string;
  workspace: string;
  command: string;
  limits: { memory: number; pids: number; cpus: number; timeout_ms: number };
  token?: boolean;
  network?: boolean;
  runtime?: 'bwrap' | 'docker';
  image?: string;
  admission?: { check: string; severity: string }[];
  secrets?: { name: string; source: string; fingerprint?: string }[];
  capabilities?: string[];
  git?: GitBinding;
  uid: number;
  runner: { pid: number; start: string };
}

interface EndBody {
  reason: string;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  peak_memory: number;
  memory_limit_hit?: boolean;
  oom_killed?: boolean;
  pids_limit_hit?: boolean;
  leftover?: number;
  cpu_ms?: number;
  output_tail?: string;
}

interface ReasonBody {
  reason?: string;
  /** destroy only: every installation's runs on this host, not this one's alone. */
  host_wide?: boolean;
}
const REASON_SCHEMA = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const;
const DESTROY_SCHEMA = {
  ...REASON_SCHEMA,
  properties: { ...REASON_SCHEMA.properties, host_wide: { type: 'boolean' } },
} as const;

export function runRoutes(deps: RunRouteDeps): Route<never, never, never>[] {
  const routes: Route<never, never, never>[] = [];
  const { sandbox, identity, bus, channels, life, control } = deps;
  const revokeRun = (id: string, why: string, actor: string): Promise<unknown> =>
    // Routine: a run's tokens end with it. The run's own end event says how it ended.
    identity.revoke('run', id, why, actor, { severity: 'info' }).catch(() => undefined);

  routes.push(
    route<StartBody>({
      method: 'POST',
      url: '/v1/runs',
      scope: 'runs:write',
      schema: { body: START_SCHEMA },
      handler: async (req) => {
        const t0 = performance.now();
        const b = req.body;
        const actor = req.principal!.actor;
        // A blocked agent starts nothing until a person releases it.
        const blocked = deps.agentBlocked?.(b.agent);
        if (blocked !== undefined) throw new RampartError('RAMPART_E_AGENT_BLOCKED', blocked);
        // A profile that requires kernel telemetry runs only while it watches (fail closed: no
        // telemetry component at all is "not watching").
        if (sandbox.profile(b.profile)?.telemetry === 'required') {
          const down = deps.telemetryDown ? deps.telemetryDown() : 'detection is not running';
          if (down !== undefined)
            throw new RampartError(
              'RAMPART_E_SANDBOX_UNAVAILABLE',
              `profile ${b.profile} requires kernel telemetry, which is not watching runs: ${down}`,
            );
        }
        // The run's uid is the one its runner took from the pool for this run, and no other.
        const lease = sandbox.uids.lease(b.uid);
        if (
          !sandbox.uids.contains(b.uid) ||
          lease?.run !== b.id ||
          lease.runner.pid !== b.runner.pid ||
          lease.runner.start !== b.runner.start
        )
          throw new RampartError(
            'RAMPART_E_RUN_INVALID',
            `uid ${b.uid} is not the one run ${b.id}'s runner holds in sandbox.uids`,
          );
        // The token is signed first (a request it refuses is refused before anything is on
        // record), so that the run's start and the token's issue go out in one group commit.
        const issued = b.token
          ? await identity.issue({
              agent: b.agent,
              run: b.id,
              namespace: deps.agentNamespace(b.agent) ?? 'default',
              capabilities: b.capabilities ?? [],
              git: b.git,
            })
          : undefined;
        const record = sandbox.records.register({
          id: b.id,
          agent: b.agent,
          profile: b.profile,
          workspace: b.workspace,
          command: b.command,
          startedAt: new Date().toISOString(),
          startedBy: actor,
        });
        const kept = life.started({ ...record, uid: b.uid, runner: b.runner, network: b.network === true });
        const started = bus.publish({
          type: 'sandbox.run_started',
          severity: 'info',
          source: 'sandbox',
          subject: { agent: b.agent, run: b.id },
          data: {
            run: b.id,
            agent: b.agent,
            profile: b.profile,
            workspace: b.workspace,
            command: b.command,
            runtime: b.runtime ?? 'bwrap',
            ...(b.image ? { image: b.image } : {}),
            ...(b.admission ? { admission: b.admission } : {}),
            ...(b.secrets ? { secrets: b.secrets } : {}),
            ...(b.git ? { git: b.git } : {}),
            limits: {
              memory: b.limits.memory,
              pids: b.limits.pids,
              cpus: b.limits.cpus,
              timeoutMs: b.limits.timeout_ms,
            },
          },
        });
        // Both records are written (one group commit) before the token is handed out.
        const recorded = issued
          ? deps.auditor.record({
              actor,
              action: 'token.issue',
              target: `agent:${b.agent}`,
              outcome: 'success',
              details: {
                run: b.id,
                jti: issued.claims.jti,
                kid: issued.kid,
                expires_at: new Date(issued.claims.exp * 1000).toISOString(),
                fingerprint: deps.auditor.fingerprint(issued.token),
              },
            })
          : Promise.resolve();
        // Awaited below; these only keep them from counting as unhandled meanwhile.
        started.catch(() => undefined);
        recorded.catch(() => undefined);
        kept.catch(() => undefined);
        // The channel is open before the command can start (the caller's gate is this response).
        const egress = b.network === true && channels !== undefined;
        if (egress) {
          try {
            await channels.open(b.id, b.agent, b.uid);
          } catch (e) {
            sandbox.records.ended(b.id, { reason: 'error' }, new Date().toISOString());
            await Promise.allSettled([started, recorded, kept]);
            await life.ended(b.id, 'error');
            if (issued) await revokeRun(b.id, 'the run did not start', actor).catch(() => undefined);
            throw new RampartError(
              'RAMPART_E_SANDBOX_UNAVAILABLE',
              `cannot open the egress channel of run ${b.id}: ${messageOf(e)}`,
            );
          }
        }
        await Promise.all([started, recorded, kept]);
        deps.stats.started++;
        deps.stats.observeStart((performance.now() - t0) / 1000);
        return issued ? { id: b.id, egress, token: issued.token } : { id: b.id, egress };
      },
    }),
  );

  routes.push(
    route<EndBody, { id: string }>({
      method: 'POST',
      url: '/v1/runs/:id/end',
      scope: 'runs:write',
      schema: { body: END_SCHEMA, params: { type: 'object', properties: { id: ID } } },
      handler: async (req) => {
        const { id } = req.params;
        const b = req.body;
        const rec = sandbox.records.ended(id, { ...b }, new Date().toISOString());
        channels?.close(id);
        const kept = life.ended(id, b.reason);
        const agent = rec?.agent ?? '?';
        const revoked = revokeRun(id, 'run ended', req.principal!.actor);
        const subject = { agent, run: id };
        const limits: ('memory' | 'pids' | 'timeout')[] = [];
        if (b.memory_limit_hit || b.oom_killed) limits.push('memory');
        if (b.pids_limit_hit) limits.push('pids');
        if (b.reason === 'timeout') limits.push('timeout');
        for (const l of limits) count(deps.stats.limits, l);
        // A run ended by force was counted as such (killed, quarantined) when it was.
        if (!rec?.endedBy) count(deps.stats.ended, b.reason);
        const published = limits.map((limit) =>
          bus.publish({
            type: 'sandbox.limit_hit',
            severity: 'medium',
            source: 'sandbox',
            subject,
            data: { run: id, agent, limit, oomKilled: b.oom_killed ?? false },
          }),
        );
        published.push(
          bus.publish({
            type: 'sandbox.run_ended',
            severity: b.reason === 'exited' ? 'info' : 'medium',
            source: 'sandbox',
            subject,
            data: {
              run: id,
              agent,
              reason: b.reason,
              exitCode: b.exit_code,
              signal: b.signal,
              durationMs: Math.round(b.duration_ms),
              peakMemory: b.peak_memory,
              ...(b.leftover !== undefined ? { leftover: b.leftover } : {}),
              ...(b.cpu_ms !== undefined ? { cpuMs: Math.round(b.cpu_ms) } : {}),
            },
          }),
        );
        await Promise.all([revoked, kept, ...published]);
        // The runner tells its own terminal how the run ended when it was not by itself.
        const now = sandbox.records.get(id);
        return {
          id,
          recorded: true,
          ...(now?.endedBy
            ? { status: now.status, ended_by: now.endedBy, end_reason: now.endReason ?? '' }
            : {}),
        };
      },
    }),
  );

  routes.push(
    route<unknown, unknown, { host_wide?: boolean }>({
      method: 'GET',
      url: '/v1/runs',
      scope: 'runs:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { host_wide: { type: 'boolean' } },
        },
      },
      handler: async (req) => {
        const runs = sandbox.list();
        if (!req.query.host_wide) return { runs };
        // Other installations' runs on this host: only what their cgroups say (parent/run).
        return {
          runs,
          elsewhere: sandbox
            .hostWide()
            .filter((r) => r.parent !== sandbox.cgroupParent)
            .map((r) => `${r.parent}/${r.run}`),
        };
      },
    }),
  );

  routes.push(
    route<ReasonBody | undefined, { id: string }>({
      method: 'POST',
      url: '/v1/runs/:id/kill',
      scope: 'runs:kill',
      schema: { body: REASON_SCHEMA, params: { type: 'object', properties: { id: ID } } },
      handler: async (req) => {
        const { id } = req.params;
        control.notEnded(id);
        const reason = req.body?.reason ?? 'killed by an operator';
        const forced = control.kill(id, reason, req.principal!.actor);
        if (forced.outcome === 'gone')
          throw new RampartError('RAMPART_E_RUN_NOT_FOUND', `no run ${id} on this host`);
        await forced.recorded;
        return { id, killed: true };
      },
    }),
  );

  routes.push(
    route<ReasonBody | undefined, { id: string }>({
      method: 'POST',
      url: '/v1/runs/:id/quarantine',
      scope: 'runs:kill',
      schema: { body: REASON_SCHEMA, params: { type: 'object', properties: { id: ID } } },
      handler: async (req) => {
        const { id } = req.params;
        control.notEnded(id);
        const reason = req.body?.reason ?? 'quarantined by an operator';
        const forced = await control.quarantine(id, reason, req.principal!.actor);
        if (forced.outcome === 'gone')
          throw new RampartError('RAMPART_E_RUN_NOT_FOUND', `no run ${id} on this host`);
        await forced.recorded;
        return { id, evidence: forced.result };
      },
    }),
  );

  routes.push(
    route<ReasonBody | undefined>({
      method: 'POST',
      url: '/v1/runs/destroy',
      scope: 'runs:kill',
      schema: { body: DESTROY_SCHEMA },
      handler: async (req) => {
        const reason = req.body?.reason ?? 'the kill switch';
        const d = control.destroyAll(reason, req.principal!.actor, req.body?.host_wide === true);
        await d.recorded;
        return { destroyed: d.ids, ms: d.ms };
      },
    }),
  );
  return routes;
}
