// What the control plane hands every composer of a component it starts late in its sequence
// (egress.ts, gitgate.ts): the configuration, the bus, the log, and the services components are
// given as functions (identity's verifier, policy's decisions, the redaction engine).

import type { Config } from '../config/load.js';
import type { EventPublisher } from '../core/events.js';
import type { Log } from '../core/types.js';
import type { IdentityService } from '../identity/service.js';
import type { PolicyService } from '../policy/service.js';
import type { Redactor } from '../redact/engine.js';

export interface Shared {
  readonly config: Config;
  readonly bus: EventPublisher;
  readonly log: Log;
  readonly identity: IdentityService;
  readonly policy: PolicyService;
  readonly redactor: Redactor;
}
