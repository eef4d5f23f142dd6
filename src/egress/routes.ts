// Egress control over HTTP: status, bans (the response engine's lever) and the kill switch for
// external traffic. The proxy acts first; the record follows.

import { route, type ApiRequest, type Route } from '../core/component.js';
import { RampartError, messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import type { AddressGuard } from './address.js';
import type { CertificateAuthority } from './ca.js';
import type { Interceptor } from './intercept.js';
import type { EgressProxy } from './proxy.js';

export interface EgressRouteDeps {
  readonly proxy: EgressProxy;
  readonly guard: AddressGuard;
  readonly bus: EventPublisher;
  readonly listen: string;
  /** Present when hosts are inspected. */
  readonly ca?: CertificateAuthority;
  readonly interceptor?: Interceptor;
}

const NO_CA =
  'no host is inspected here, so there is no egress CA (egress.inspect and egress.inject in the configuration)';

const TARGET = {
  type: 'object',
  additionalProperties: false,
  required: ['target'],
  properties: { target: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export function egressRoutes(deps: EgressRouteDeps): Route<never, never, never>[] {
  const { proxy, guard, bus } = deps;

  const ban = (action: 'ban' | 'unban') => async (req: ApiRequest<{ target: string }>) => {
    let target: string;
    try {
      if (action === 'ban') target = guard.ban(req.body.target);
      else if (guard.unban(req.body.target)) target = req.body.target;
      else throw new RampartError('RAMPART_E_BAD_REQUEST', `${req.body.target} is not banned`);
    } catch (e) {
      if (e instanceof RampartError) throw e;
      throw new RampartError('RAMPART_E_BAD_REQUEST', messageOf(e));
    }
    // A ban also ends what is already open to the banned addresses.
    const tunnelsCut = action === 'ban' ? proxy.enforceGuard() : 0;
    await bus.publish({
      type: 'egress.ban',
      severity: 'medium',
      source: 'egress',
      data: { target, action, by: req.principal?.actor ?? 'unknown', tunnelsCut },
    });
    return { target, bans: guard.bans(), tunnels_cut: tunnelsCut };
  };

  return [
    route({
      method: 'GET',
      url: '/v1/egress',
      scope: 'egress:control',
      handler: async () => ({
        listen: deps.listen,
        kill_switch: proxy.killSwitch,
        open_tunnels: proxy.openTunnels,
        bans: guard.bans(),
        stats: proxy.stats,
        ...(deps.interceptor && deps.ca
          ? {
              inspection: {
                ...deps.interceptor.stats,
                leaves: deps.ca.stats,
                ca: deps.ca.certificate.fingerprint,
              },
            }
          : {}),
      }),
    }),
    route({
      method: 'GET',
      url: '/v1/egress/ca',
      scope: 'egress:control',
      handler: async () => {
        if (!deps.ca) throw new RampartError('RAMPART_E_NOT_FOUND', NO_CA);
        const c = deps.ca.certificate;
        return {
          certificate: c.pem,
          fingerprint: c.fingerprint,
          not_after: c.notAfter,
          leaves: deps.ca.cachedLeaves,
        };
      },
    }),
    route({
      method: 'POST',
      url: '/v1/egress/ca/rotate',
      scope: 'egress:control',
      handler: async (req) => {
        if (!deps.ca) throw new RampartError('RAMPART_E_NOT_FOUND', NO_CA);
        const previous = deps.ca.certificate.fingerprint;
        const c = await deps.ca.rotate();
        await bus.publish({
          type: 'egress.ca_rotated',
          severity: 'medium',
          source: 'egress',
          data: {
            by: req.principal?.actor ?? 'unknown',
            fingerprint: c.fingerprint,
            previous,
            notAfter: c.notAfter,
          },
        });
        return { certificate: c.pem, fingerprint: c.fingerprint, not_after: c.notAfter, previous };
      },
    }),
    route<{ target: string }>({
      method: 'POST',
      url: '/v1/egress/bans',
      scope: 'egress:control',
      schema: { body: TARGET },
      handler: ban('ban'),
    }),
    route<{ target: string }>({
      method: 'POST',
      url: '/v1/egress/bans/remove',
      scope: 'egress:control',
      schema: { body: TARGET },
      handler: ban('unban'),
    }),
    route<{ on: boolean }>({
      method: 'POST',
      url: '/v1/egress/kill-switch',
      scope: 'egress:control',
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['on'],
          properties: { on: { type: 'boolean' } },
        },
      },
      handler: async (req) => {
        const tunnelsCut = proxy.setKillSwitch(req.body.on);
        await bus.publish({
          type: 'egress.kill_switch',
          severity: req.body.on ? 'critical' : 'medium',
          source: 'egress',
          data: { on: req.body.on, by: req.principal!.actor, tunnelsCut },
        });
        return { kill_switch: req.body.on, tunnels_cut: tunnelsCut };
      },
    }),
  ];
}
