// The git gate, composed: identity's verifier for the runs' tokens, policy's git.push, the
// redaction engine's secret scanner over what a push adds, and the secrets broker's secret.use
// for the upstream credential. Part of the control plane's composition (controlplane.ts calls
// it); the egress proxy routes git.rampart.internal to the listener it returns.

import type { Component } from '../core/component.js';
import { startGitgate, type GitgateComponent } from '../gitgate/component.js';
import { scanText } from '../redact/scan.js';
import type { SecretsComponent } from '../secrets/component.js';
import type { Shared } from './shared.js';

export async function startGitgateFor(
  o: Shared & {
    readonly secrets: SecretsComponent | undefined;
    readonly started: <C extends Component>(c: C) => C;
  },
): Promise<GitgateComponent | undefined> {
  if (!o.config.gitgate.enabled) return undefined;
  const { policy, secrets } = o;
  return o.started(
    await startGitgate({
      settings: o.config.gitgate,
      dataDir: o.config.dataDir,
      bus: o.bus,
      log: o.log,
      verify: (token) => {
        const r = o.identity.verify(token);
        return r.ok ? { claims: r.claims } : `${r.kind}: ${r.reason}`;
      },
      decide: async (q) => {
        const d = await policy.decide(
          {
            principal: { type: 'agent', id: q.agent },
            action: 'git.push',
            resource: { type: 'repository', id: q.repo },
            context: {
              run: q.run,
              task: q.task,
              rule: q.rule,
              targets: [...q.targets],
              capabilities: [...q.capabilities],
            },
          },
          { actor: `agent:${q.agent}`, path: 'gitgate' },
        );
        return { allow: d.allow, reason: d.reasons.join('; ') };
      },
      scan: (text) =>
        scanText(o.redactor, text, 'push').map((f) => ({ rule: f.ruleId, line: f.location.line })),
      ...(secrets
        ? {
            credential: (vault: string, name: string, who: { agent: string; run: string; repo: string }) =>
              secrets.use(vault, name, { agent: who.agent, run: who.run, purpose: 'gitgate' }),
          }
        : {}),
    }),
  );
}
