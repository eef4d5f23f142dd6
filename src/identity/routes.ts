// Workload identity over HTTP: the JWKS, issuing (for runners and operators), refreshing and
// introspection (for agents: their own token), revocation and key rotation (for operators).
//
// A token is on record before anyone can use it: it is signed, the issue is audited (with its jti,
// expiry and fingerprint, never the token), and only then returned. If the record cannot be
// written the caller gets 503 and no token.

import { GIT_BINDING_SCHEMA, type GitBinding } from '../core/claims.js';
import { route, type ApiRequest, type Route } from '../core/component.js';
import { RampartError, RampartErrorList } from '../core/errors.js';
import type { Auditor } from '../core/types.js';
import type { RevocationKind } from '../store/types.js';
import type { IdentityService, Issued } from './service.js';
import type { WorkloadClaims } from './token.js';

export interface IdentityRouteDeps {
  readonly identity: IdentityService;
  readonly auditor: Auditor;
  /** The namespace an agent belongs to, from the policy entities, when it is registered. */
  readonly agentNamespace: (agent: string) => string | undefined;
}

const ISSUE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['agent'],
  properties: {
    agent: { type: 'string', minLength: 1, maxLength: 128 },
    run: { type: 'string', minLength: 1, maxLength: 128 },
    namespace: { type: 'string', minLength: 1, maxLength: 128 },
    capabilities: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 128 } },
    // The real ceiling (identity.token_ttl) is the service's to state; this only bounds the number.
    ttl_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
    git: GIT_BINDING_SCHEMA,
  },
} as const;

const REVOKE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    kind: { enum: ['jti', 'agent', 'run', 'namespace', 'all'] },
    value: { type: 'string', minLength: 1, maxLength: 128 },
    reason: { type: 'string', maxLength: 500 },
  },
} as const;

interface IssueBody {
  agent: string;
  run?: string;
  namespace?: string;
  capabilities?: string[];
  ttl_seconds?: number;
  git?: GitBinding;
}

/** What a token says, as the API shows it (and as RFC 7662 introspection would). */
function describe(c: WorkloadClaims): Record<string, unknown> {
  return {
    agent: c.sub,
    run: c.run,
    namespace: c.ns,
    capabilities: c.caps,
    jti: c.jti,
    issuer: c.iss,
    audience: c.aud,
    issued_at: new Date(c.iat * 1000).toISOString(),
    expires_at: new Date(c.exp * 1000).toISOString(),
    run_started_at: new Date(c.rst * 1000).toISOString(),
    ...(c.git ? { git: c.git } : {}),
  };
}

export function identityRoutes(deps: IdentityRouteDeps): Route<never, never, never>[] {
  const { identity, auditor } = deps;

  /** Audits an issued token (never the token itself), then hands it out. */
  const onRecord = async (
    req: ApiRequest<unknown, unknown, unknown>,
    action: string,
    issued: Issued,
    extra: Record<string, unknown> = {},
  ) => {
    await auditor.record({
      actor: req.principal?.actor ?? 'anonymous',
      action,
      target: `agent:${issued.claims.sub}`,
      outcome: 'success',
      details: {
        ...describe(issued.claims),
        kid: issued.kid,
        fingerprint: auditor.fingerprint(issued.token),
        ...extra,
      },
    });
    return { token: issued.token, ...describe(issued.claims), kid: issued.kid };
  };

  return [
    route({
      method: 'GET',
      url: '/.well-known/jwks.json',
      scope: 'public',
      handler: async (_req, reply) => {
        reply.header('cache-control', 'public, max-age=60');
        return identity.jwks();
      },
    }),
    route<IssueBody>({
      method: 'POST',
      url: '/v1/tokens',
      scope: 'tokens:issue',
      schema: { body: ISSUE_SCHEMA },
      handler: async (req) => {
        const b = req.body;
        const namespace = b.namespace ?? deps.agentNamespace(b.agent);
        const request = {
          agent: b.agent,
          run: b.run,
          namespace,
          capabilities: b.capabilities ?? [],
          ttlMs: b.ttl_seconds === undefined ? undefined : b.ttl_seconds * 1000,
          git: b.git,
        };
        const problems = [
          ...(namespace === undefined
            ? [
                new RampartError(
                  'RAMPART_E_TOKEN_REQUEST_INVALID',
                  `agent ${b.agent} is not a registered entity with a namespace: give --namespace, or register it (rampart entity put agent ${b.agent} --attr namespace=NS)`,
                ),
              ]
            : []),
          ...identity.issueProblems(request),
        ];
        if (problems.length > 0 || namespace === undefined) throw new RampartErrorList(problems);
        const issued = await identity.issue({
          agent: b.agent,
          run: b.run,
          namespace,
          capabilities: b.capabilities ?? [],
          ttlMs: b.ttl_seconds === undefined ? undefined : b.ttl_seconds * 1000,
          git: b.git,
        });
        return onRecord(req, 'token.issue', issued);
      },
    }),
    route({
      method: 'POST',
      url: '/v1/tokens/refresh',
      scope: 'agent',
      rateClass: 'refresh',
      handler: async (req) => {
        const current = req.principal!.workload!;
        const issued = await identity.refresh(current, req.principal!.actor);
        return onRecord(req, 'token.refresh', issued, { replaces: current.jti });
      },
    }),
    route({
      method: 'GET',
      url: '/v1/whoami',
      scope: 'agent',
      handler: async (req) => describe(req.principal!.workload!),
    }),
    route<{ token: string }>({
      method: 'POST',
      url: '/v1/tokens/introspect',
      scope: 'tokens:issue',
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 8192 } },
        },
      },
      handler: async (req) => {
        const r = identity.verify(req.body.token);
        return r.ok
          ? { active: true, ...describe(r.claims), kid: r.kid }
          : { active: false, kind: r.kind, reason: r.reason };
      },
    }),
    route<{ kind: RevocationKind; value?: string; reason?: string }>({
      method: 'POST',
      url: '/v1/tokens/revocations',
      scope: 'tokens:revoke',
      schema: { body: REVOKE_SCHEMA },
      handler: async (req) => {
        const { kind, value, reason } = req.body;
        if ((kind === 'all') !== (value === undefined))
          throw new RampartError(
            'RAMPART_E_BAD_REQUEST',
            kind === 'all' ? '"all" takes no value' : `revoking by ${kind} needs a value`,
          );
        // The identity.revoked event it publishes is the audit record (with who asked).
        const r = await identity.revoke(
          kind,
          value ?? '',
          reason ?? 'revoked by an operator',
          req.principal!.actor,
        );
        return { revocation: r };
      },
    }),
    route({
      method: 'GET',
      url: '/v1/tokens/revocations',
      scope: 'tokens:revoke',
      handler: async () => ({ revocations: await identity.revocationList() }),
    }),
    route({
      method: 'POST',
      url: '/v1/tokens/keys/rotate',
      scope: 'admin',
      handler: async () => identity.rotate('requested'),
    }),
  ];
}
