// The `incidents`, `breakglass` and `console` sections of the configuration schema: where people
// take over from the automatic response, the loud way to get more than their credentials allow,
// and the screen they watch.

import { SCOPES } from '../core/scopes.js';
import { duration, obj, path } from './schema-parts.js';

export const incidentsSchema = obj({
  enabled: {
    type: 'boolean',
    description:
      'Open and group incidents from detections, playbook actions, tripped breakers and break-glass requests. Every replica may: a change is a compare-and-set in the store, so replicas never duplicate an incident.',
    default: true,
  },
  group_by: {
    type: 'array',
    items: { enum: ['run', 'agent'] },
    uniqueItems: true,
    minItems: 1,
    description:
      'A detection joins the open incident of its run, or of its agent when listed: one attack is one incident.',
    default: ['run', 'agent'],
  },
  window: duration(
    'A detection joins an open incident whose last activity is at most this old; after it, a new incident opens.',
    '1h',
  ),
  min_severity: {
    enum: ['info', 'low', 'medium', 'high', 'critical'],
    description:
      'Detections below this open no incident (they still join an open one of their run or agent).',
    default: 'medium',
  },
  runbooks: {
    type: 'array',
    items: path('A runbooks directory (Markdown files with rules: and tags: front matter).'),
    description:
      'Runbook directories, after the shipped set (when include_shipped); a runbook with the name of an earlier one replaces it.',
  },
  include_shipped: {
    type: 'boolean',
    description: 'Load the shipped runbooks (runbooks/default) before the directories in `runbooks`.',
    default: true,
  },
  timeline: obj(
    {
      lead: duration(
        "How long before an incident's first event its timeline starts (the run's start, what led up to it).",
        '10m',
      ),
      max_records: {
        type: 'integer',
        minimum: 10,
        maximum: 1000000,
        description:
          'Most records a timeline holds (each with its inclusion proof); it says when it stopped there.',
        default: 10000,
      },
    },
    { description: "Timelines: every audit record about the incident's runs and agents, with proofs." },
  ),
});

export const breakglassSchema = obj({
  approvers: {
    type: 'array',
    uniqueItems: true,
    items: { type: 'string', minLength: 1 },
    default: [],
    description:
      "Clients (auth.clients names, each a person's own token file) who may approve break-glass requests. Empty: break-glass is off, except emergency self-approval when allowed.",
  },
  required: {
    type: 'integer',
    minimum: 1,
    maximum: 20,
    default: 2,
    description: 'Approvals needed, each from a different approver, never the requester (K of N).',
  },
  scopes: {
    type: 'array',
    uniqueItems: true,
    items: { enum: [...SCOPES] },
    default: [...SCOPES],
    description: 'Scopes a request may ask for.',
  },
  max_ttl: duration('Longest access a request may ask for; its clock starts at approval.', '1h'),
  pending: duration('A request nobody approves within this lapses.', '30m'),
  overrides: {
    type: 'boolean',
    default: true,
    description:
      "Whether a request may ask for a policy override: an agent's denied decisions of the listed actions allowed for the grant's time, each tagged and on record. It never turns a policy error into an allow.",
  },
  emergency: {
    type: 'boolean',
    default: true,
    description:
      'Whether a requester may approve their own request with --emergency: allowed, critical on every channel, and its incident stays open until a review is recorded.',
  },
});

export const consoleSchema = obj({
  enabled: {
    type: 'boolean',
    default: true,
    description:
      'Serve the web console at /console (sign in with an API token once, then a session cookie). Off: there is no console (/console is not found) and session cookies are not accepted.',
  },
  session_ttl: duration(
    "How long a console session lasts from sign-in, whatever it does meanwhile (at most 12h); then the browser asks for the token again. The session never outlives a change of the token's scopes: it carries the scopes it was opened with, and signing out ends it on every replica.",
    '1h',
  ),
});
