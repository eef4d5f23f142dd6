// The `incidents`, `breakglass` and `gitgate` sections: durations to milliseconds, paths made absolute,
// approvers checked against the clients they must be, every problem named with its key path.

import type {
  BreakglassSettings,
  ConsoleSettings,
  GitgateSettings,
  IncidentsSettings,
} from '../core/settings.js';
import { exhaustive } from './infer.js';
import type { Ctx, RawConfig } from './normalize.js';

export function incidentsConfig(raw: RawConfig['incidents'], c: Ctx): IncidentsSettings {
  const { enabled, group_by, window, min_severity, runbooks, include_shipped, timeline, ...rest } = raw;
  exhaustive(rest);
  const { lead, max_records, ...more } = timeline;
  exhaustive(more);
  return {
    enabled,
    groupBy: group_by,
    windowMs: c.ms(['incidents', 'window'], window, 1000),
    minSeverity: min_severity,
    runbooks: (runbooks ?? []).map((d) => c.abs(d)),
    includeShipped: include_shipped,
    timelineLeadMs: c.ms(['incidents', 'timeline', 'lead'], lead),
    timelineMax: max_records,
  };
}

export function breakglassConfig(
  raw: RawConfig['breakglass'],
  clients: readonly string[],
  c: Ctx,
): BreakglassSettings {
  const { approvers, required, scopes, max_ttl, pending, emergency, overrides, ...rest } = raw;
  exhaustive(rest);
  approvers.forEach((a, i) => {
    if (!clients.includes(a))
      c.problem(
        ['breakglass', 'approvers', i],
        `breakglass.approvers[${i}]: "${a}" is not a client in auth.clients (an approver needs a credential of their own)`,
      );
  });
  if (approvers.length > 0 && required > approvers.length)
    c.problem(
      ['breakglass', 'required'],
      `breakglass.required: ${required} approvals can never be given by ${approvers.length} approver(s)`,
    );
  return {
    approvers,
    required,
    scopes,
    maxTtlMs: c.ms(['breakglass', 'max_ttl'], max_ttl, 1000),
    pendingMs: c.ms(['breakglass', 'pending'], pending, 1000),
    allowEmergency: emergency,
    overrides,
  };
}

export function gitgateConfig(raw: RawConfig['gitgate'], c: Ctx): GitgateSettings {
  const { enabled, git, upstreams, rules, max_push, timeout, ...rest } = raw;
  exhaustive(rest);
  const {
    branch,
    protected: kept,
    ci_paths,
    owner_paths,
    dependency_paths,
    max_file_size,
    max_files,
    scan_secrets,
    message_task,
    ...more
  } = rules;
  exhaustive(more);
  if (!branch.includes('{task}'))
    c.problem(
      ['gitgate', 'rules', 'branch'],
      `gitgate.rules.branch: "${branch}" does not name {task}, so every run could push every other run's branches`,
    );
  return {
    enabled,
    git,
    upstreams: upstreams.map((u) => ({
      repos: u.repos,
      url: u.url,
      credential: u.credential,
      username: u.username,
    })),
    rules: {
      branch,
      protected: kept,
      ciPaths: ci_paths,
      ownerPaths: owner_paths,
      dependencyPaths: dependency_paths,
      maxFileSize: c.bytes(['gitgate', 'rules', 'max_file_size'], max_file_size),
      maxFiles: max_files,
      scanSecrets: scan_secrets,
      messageTask: message_task,
    },
    maxPush: c.bytes(['gitgate', 'max_push'], max_push),
    timeoutMs: c.ms(['gitgate', 'timeout'], timeout, 1000),
  };
}

/** A console session lasts at most this long: "a short lifetime", even when configured longer. */
const MAX_SESSION_MS = 12 * 3_600_000;

export function consoleConfig(raw: RawConfig['console'], c: Ctx): ConsoleSettings {
  const { enabled, session_ttl, ...rest } = raw;
  exhaustive(rest);
  const ttl = c.ms(['console', 'session_ttl'], session_ttl, 60_000);
  if (ttl > MAX_SESSION_MS)
    c.problem(['console', 'session_ttl'], `console.session_ttl: ${session_ttl} is longer than 12h`);
  return { enabled, sessionTtlMs: Math.min(ttl, MAX_SESSION_MS) };
}
