// The `detect` and `respond` sections of the configuration schema: detection rules, kernel
// telemetry, baselines and the blocklist; response playbooks and the circuit breaker.

import { duration, obj, path } from './schema-parts.js';

export const detectSchema = obj({
  enabled: {
    type: 'boolean',
    description:
      'Run the detection rules on this replica. Replicas sharing PostgreSQL each read every event: enable detection on one of them, or each detects everything.',
    default: true,
  },
  rules: {
    type: 'array',
    items: path('A rules directory (YAML rule files; *.test.yaml are tests).'),
    description:
      "Rules directories, loaded in order, so a later one can override an earlier one's rules. Default: the rule set shipped with Rampart. List it first to keep it and add your own: [<shipped>, ./rules].",
  },
  include_shipped: {
    type: 'boolean',
    description: 'Load the shipped rule set before the directories in `rules`.',
    default: true,
  },
  watch: {
    type: 'boolean',
    description: 'Reload the rules when a directory changes (and poll them every 5 s).',
    default: true,
  },
  baselines: obj({
    enabled: {
      type: 'boolean',
      description:
        "Learn each agent's egress destinations, executables, directories outside its workspace and bytes out per run, and report what is new after the learning period.",
      default: true,
    },
    learning_runs: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description:
        'Finished runs of a scope (an agent, profile or namespace) during which its baseline is learned and nothing is reported.',
      default: 20,
    },
    learning_days: {
      type: 'integer',
      minimum: 0,
      maximum: 365,
      description:
        "Days since a scope's first run during which nothing is reported either (0: the runs alone decide).",
      default: 0,
    },
    by: {
      type: 'array',
      items: { enum: ['agent', 'profile', 'namespace'] },
      uniqueItems: true,
      minItems: 1,
      description:
        'What baselines are kept for: each agent, and each run profile and agent namespace when listed.',
      default: ['agent'],
    },
  }),
  blocklist: {
    type: 'array',
    items: path('A feed file: a hosts file, or one domain, address or CIDR per line (# comments).'),
    default: [],
    description:
      'Known malicious destinations: a connection or lookup to one (or to a subdomain of a listed domain) is a detection. Re-read when a file changes.',
  },
  telemetry: {
    enum: ['auto', 'off'],
    description:
      "Kernel telemetry from inside runs (eBPF: process exec and exit, file opens, connects, refused syscalls). auto: loaded when the control plane starts; when it cannot be, detection's health is degraded with the reason and runs still start (a profile with telemetry: required refuses them).",
    default: 'auto',
  },
  dedup_window: duration(
    'Repeats of one rule on one run within this window are counted on the first detection, then summarized once when the window ends.',
    '60s',
  ),
});

export const respondSchema = obj({
  enabled: {
    type: 'boolean',
    description:
      'Run the playbooks on detections on this replica (the one with detect.enabled). Every replica carries out orders for its own runs and applies blocks, bans and sever-external whatever this says.',
    default: true,
  },
  playbooks: {
    type: 'array',
    items: path('A playbooks directory (YAML playbook files).'),
    description:
      'Playbook directories, loaded after the shipped set (when include_shipped); a playbook with the name of an earlier one replaces it.',
  },
  include_shipped: {
    type: 'boolean',
    description: 'Load the shipped playbooks (playbooks/default) before the directories in `playbooks`.',
    default: true,
  },
  watch: {
    type: 'boolean',
    description: 'Reload the playbooks when a directory changes (and poll them every 5 s).',
    default: true,
  },
  dry_run: {
    type: 'boolean',
    description:
      'Every playbook records what it would have done (respond.action, outcome dry_run) and does nothing.',
    default: false,
  },
  breaker: obj(
    {
      window: duration('The circuit breaker counts actions over this sliding window.', '60s'),
      per_playbook: {
        type: 'integer',
        minimum: 1,
        maximum: 1000000,
        description: 'Actions one playbook may take in a window (containment of its own runs aside).',
        default: 20,
      },
      per_action: {
        type: 'integer',
        minimum: 1,
        maximum: 1000000,
        description:
          'Times one action (kill, quarantine, ...) may be taken in a window, by every playbook together.',
        default: 50,
      },
      per_agent: {
        type: 'integer',
        minimum: 1,
        maximum: 1000000,
        description: "Actions on one agent's runs in a window.",
        default: 10,
      },
    },
    {
      description:
        'Limits on automatic actions. Past one, that scope trips: its destructive actions (kill, quarantine, rotate, sever, destroy) stop and its runs are frozen instead, one critical respond.breaker event says so, and it stays tripped until a person resets it.',
    },
  ),
});
