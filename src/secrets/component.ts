// The secrets component's door: sealed, versioned secrets in the store (the KEK from the data
// directory), every read for an agent decided by policy, every operation on record; its routes,
// health, metrics and stop. Leases, dynamic credentials, rotation and honeytokens are not built
// yet (docs/secrets.md says what is).

import type { Component } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import type { Auditor } from '../core/types.js';
import type { SecretStore } from '../store/types.js';
import { secretsRoutes } from './routes.js';
import { Sealer } from './seal.js';
import { SecretsService, type SecretDecider } from './service.js';

export interface SecretsComponentDeps {
  readonly dataDir: string;
  readonly store: SecretStore;
  readonly auditor: Auditor;
  readonly clock: Clock;
  /** The policy decision point's secret.read (throwing denies). */
  readonly decide: SecretDecider;
}

export interface SecretsComponent extends Component {
  readonly service: SecretsService;
}

/**
 * Starts it. The KEK file is made on first start, while the store holds no secret; once it does,
 * a missing or wrong KEK refuses to start (RAMPART_E_SECRETS_KEK), found by opening one secret.
 */
export async function startSecrets(deps: SecretsComponentDeps): Promise<SecretsComponent> {
  const sealer = Sealer.load(deps.dataDir, { create: (await deps.store.count()) === 0 });
  const service = new SecretsService({
    store: deps.store,
    sealer,
    auditor: deps.auditor,
    decide: deps.decide,
    now: () => deps.clock.now(),
  });
  await service.check();
  return {
    name: 'secrets',
    service,
    routes: secretsRoutes(service),
    health: () => ({ status: 'ok', detail: `sealed with key-encryption key "${sealer.current}"` }),
    metrics: [
      {
        kind: 'counter',
        name: 'rampart_secrets_operations_total',
        help: 'Secret operations: versions put, values read, reads denied by policy.',
        read: () => ({ ...service.stats }),
        label: 'operation',
      },
    ],
    subscriptions: [],
    stop: () => Promise.resolve(),
  };
}
