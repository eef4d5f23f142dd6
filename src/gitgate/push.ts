// One push, decided: what it would bring upstream (inspect.ts), every rule it breaks
// (rules.ts), policy's word on the push and on each broken rule (git.push: a rule policy waives
// no longer refuses), on record, and only then upstream. Any failure refuses: a push the gate
// could not check never reaches the upstream.

import type { GitBinding } from '../core/claims.js';
import { messageOf } from '../core/errors.js';
import type { EventPublisher } from '../core/events.js';
import { inspectPush, type Scan } from './inspect.js';
import type { Credential, Mirrors } from './mirror.js';
import { join } from 'node:path';
import {
  ZERO,
  type PushChange,
  type PushRules,
  type RefUpdate,
  type RuleId,
  type Violation,
} from './rules.js';

/** Policy's git.push: `rule` '' is the push as a whole; otherwise whether that rule's violations stand. */
export type PushDecider = (q: {
  readonly agent: string;
  readonly run: string;
  readonly repo: string;
  readonly task: string;
  readonly rule: RuleId | '';
  readonly targets: readonly string[];
  readonly capabilities: readonly string[];
}) => Promise<{ allow: boolean; reason: string }>;

export interface PushContext {
  readonly agent: string;
  readonly run: string;
  readonly binding: GitBinding;
  readonly capabilities: readonly string[];
  readonly upstream: { readonly url: string; readonly credential: () => Promise<Credential | undefined> };
}

export interface PushDeps {
  readonly git: string;
  readonly mirrors: Mirrors;
  readonly rules: PushRules;
  readonly decide: PushDecider | undefined;
  readonly scan: Scan | undefined;
  readonly scanSecrets: boolean;
  readonly maxFileSize: number;
  readonly timeoutMs: number;
  readonly bus: EventPublisher;
  readonly stats: { accepted: number; refused: number; failed: number };
}

export interface Verdict {
  readonly ok: boolean;
  /** What git prints to the agent, each line as "rampart: ...". */
  readonly lines: readonly string[];
}

/** The pre-receive step's question: the quarantine and the ref updates receive-pack reported. */
export interface HookRequest {
  readonly quarantine: string;
  readonly alternates: string;
  readonly updates: readonly RefUpdate[];
}

/** Parses what the hook wrote: three paths, then "old new ref" lines. */
export function parseHook(text: string): HookRequest {
  const lines = text.split('\n');
  const quarantine = lines[0] ?? '';
  const alternates = lines[2] ?? '';
  const updates: RefUpdate[] = [];
  for (const l of lines.slice(3)) {
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S+)$/.exec(l);
    if (m) updates.push({ old: m[1]!, new: m[2]!, ref: m[3]! });
  }
  // A push of deletions alone brings no objects, so receive-pack makes no quarantine.
  if ((!quarantine || !alternates) && updates.some((u) => u.new !== ZERO))
    throw new Error('the pre-receive step gave no quarantine');
  return { quarantine, alternates, updates };
}

export async function decidePush(d: PushDeps, c: PushContext, h: HookRequest): Promise<Verdict> {
  const { agent, run, binding } = c;
  const base = { run, agent, repo: binding.repo, task: binding.task };
  const refs = h.updates.map((u) => ({ ref: u.ref, old: u.old, new: u.new }));
  const own = join(d.mirrors.path(binding.repo), 'objects');
  const objects = h.quarantine
    ? { quarantine: h.quarantine, alternates: h.alternates }
    : { quarantine: own, alternates: own };
  let change: PushChange;
  const waived: { rule: string; reason: string }[] = [];
  let standing: Violation[];
  let policyRefusal: string | undefined;
  try {
    if (d.scanSecrets && !d.scan) throw new Error('the secret scanner is not running');
    change = await inspectPush({
      git: d.git,
      mirror: d.mirrors.path(binding.repo),
      objects,
      updates: h.updates,
      maxFileSize: d.maxFileSize,
      scan: d.scanSecrets ? d.scan : undefined,
      timeoutMs: d.timeoutMs,
    });
    const violations = d.rules.check(change, binding);
    if (!d.decide) throw new Error('the policy engine is not running');
    const ask = (rule: RuleId | '', targets: string[]): ReturnType<PushDecider> =>
      d.decide!({ ...base, rule, targets, capabilities: c.capabilities });
    const whole = await ask(
      '',
      refs.map((r) => r.ref),
    );
    if (!whole.allow) policyRefusal = whole.reason;
    const byRule = new Map<RuleId, Violation[]>();
    for (const v of violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
    standing = [];
    for (const [rule, vs] of byRule) {
      const r = await ask(
        rule,
        vs.map((v) => v.target),
      );
      if (r.allow) waived.push({ rule, reason: r.reason });
      else standing.push(...vs);
    }
  } catch (e) {
    return failed(d, base, refs, `the gate could not check the push: ${messageOf(e)}`);
  }
  const summary = {
    ...base,
    refs,
    commits: change.commits.slice(0, 1000).map((x) => x.id),
    files: new Set(change.files.map((f) => f.path)).size,
    paths: [...new Set(change.files.map((f) => f.path))].slice(0, 200),
    waived,
  };
  if (standing.length > 0 || policyRefusal !== undefined) {
    const lines = standing.map((v) => `rampart: ${v.rule}: ${v.target}: ${v.message}`);
    if (policyRefusal !== undefined) lines.push(`rampart: policy: ${binding.repo}: ${policyRefusal}`);
    lines.push(
      `rampart: push refused (${lines.length} problem${lines.length === 1 ? '' : 's'}); nothing reached the upstream`,
    );
    d.stats.refused++;
    // On record before the agent hears of it; if it cannot be written, the push is refused anyway.
    await d.bus
      .publish({
        type: 'gitgate.push',
        severity: standing.some((v) => v.rule === 'content.secret') ? 'high' : 'medium',
        source: 'gitgate',
        subject: { agent, run },
        outcome: 'denied',
        data: {
          ...summary,
          outcome: 'refused',
          violations: standing.map((v) => ({ rule: v.rule, target: v.target })),
          ...(policyRefusal !== undefined ? { reason: `policy: ${policyRefusal}` } : {}),
        },
      })
      .catch(() => undefined);
    return { ok: false, lines };
  }
  // Accepted: on record first, then upstream. No record, no push.
  try {
    await d.bus.publish({
      type: 'gitgate.push',
      severity: 'info',
      source: 'gitgate',
      subject: { agent, run },
      outcome: 'success',
      data: { ...summary, outcome: 'accepted', violations: [] },
    });
  } catch (e) {
    return failed(d, base, refs, `the push could not be put on record: ${messageOf(e)}`);
  }
  let answer;
  try {
    answer = await d.mirrors.push(
      binding.repo,
      c.upstream.url,
      await c.upstream.credential(),
      objects,
      h.updates,
    );
  } catch (e) {
    return failed(d, base, refs, `the upstream push failed: ${messageOf(e)}`);
  }
  if (!answer.ok)
    return failed(
      d,
      base,
      refs,
      `the upstream refused the push: ${answer.messages.join('; ')}`,
      answer.messages.map((m) => `rampart: upstream: ${m}`),
    );
  d.stats.accepted++;
  return { ok: true, lines: [] };
}

async function failed(
  d: PushDeps,
  base: { run: string; agent: string; repo: string; task: string },
  refs: { ref: string; old: string; new: string }[],
  reason: string,
  lines: string[] = [`rampart: error: ${reason}`],
): Promise<Verdict> {
  d.stats.failed++;
  await d.bus
    .publish({
      type: 'gitgate.push',
      severity: 'medium',
      source: 'gitgate',
      subject: { agent: base.agent, run: base.run },
      outcome: 'failure',
      data: {
        ...base,
        outcome: 'failed',
        refs,
        commits: [],
        files: 0,
        paths: [],
        violations: [],
        waived: [],
        reason,
      },
    })
    .catch(() => undefined);
  return { ok: false, lines: [...lines, 'rampart: nothing reached the upstream'] };
}
