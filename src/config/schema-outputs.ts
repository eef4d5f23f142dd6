// The `notify` and `sinks` sections of the configuration schema: where people are told, and
// where the audit log is streamed off the host. config/outputs.ts turns them into settings.

import { duration, obj, path } from './schema-parts.js';

/** An output's name: in health, metrics, records and its stored cursor. */
const outputName = (what: string) =>
  ({ type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: what }) as const;

export const notifySchema = obj({
  channels: {
    type: 'array',
    default: [],
    description:
      'Where people are told: events of the listed types at or above a severity go to each channel, retried with backoff; nothing waits on a delivery.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'type'],
      properties: {
        name: outputName('Channel name, in health, metrics and records.'),
        type: {
          enum: ['webhook', 'slack', 'pagerduty', 'email'],
          description:
            'webhook: JSON signed with HMAC-SHA256 (X-Rampart-Signature: t=<unix time>,v1=<hex> over "<t>.<body>"); slack: a Slack-compatible incoming webhook; pagerduty: Events API v2 (trigger with a dedup_key per run or agent and rule); email: SMTP.',
        },
        url: {
          type: 'string',
          pattern: '^https?://',
          description:
            'Where to send, when it is not a secret (a collector; PagerDuty defaults to https://events.pagerduty.com/v2/enqueue). Give url or url_file.',
        },
        url_file: path('Secret file holding the URL (mode 0600): a Slack webhook URL is a credential.'),
        secret_file: path(
          'webhook: secret file holding the HMAC key; pagerduty: the integration routing key.',
        ),
        min_severity: {
          enum: ['info', 'low', 'medium', 'high', 'critical'],
          description: 'Least severe event sent.',
          default: 'high',
        },
        types: {
          type: 'array',
          uniqueItems: true,
          items: { type: 'string', pattern: '^[a-z_]+\\.[a-z_]+$' },
          description:
            'Event types sent. Default: respond.notify, respond.breaker, health.changed, detect.rules_load_failed, respond.playbooks_load_failed, detect.telemetry, notify.delivery_failed, incident.opened, incident.acknowledged, incident.resolved and drill.scenario_failed. Break-glass events go to every channel whatever this says.',
        },
        tags: {
          type: 'array',
          uniqueItems: true,
          items: { type: 'string', minLength: 1, maxLength: 64 },
          description:
            "Only events that carry one of these tags (detections, playbook notifications and incidents carry their rules' tags): a team hears of its own. Default: every event. Break-glass always goes to every channel.",
        },
        phases: {
          type: 'array',
          uniqueItems: true,
          items: {
            enum: ['detection', 'analysis', 'containment', 'eradication', 'recovery', 'lessons_learned'],
          },
          description:
            'Incident events only while the incident is in one of these phases. Default: every phase.',
        },
        smtp: {
          type: 'object',
          additionalProperties: false,
          required: ['host', 'from', 'to'],
          description: 'email: the SMTP server and the message envelope.',
          properties: {
            host: { type: 'string', minLength: 1, description: 'SMTP server.' },
            port: { type: 'integer', minimum: 1, maximum: 65535, default: 25, description: 'SMTP port.' },
            tls: {
              enum: ['starttls', 'tls', 'none'],
              default: 'starttls',
              description:
                'starttls: upgrade (required); tls: TLS from the start (465); none: plain (a local relay only).',
            },
            user: { type: 'string', minLength: 1, description: 'User to authenticate as.' },
            password_file: path('Secret file holding the SMTP password (mode 0600).'),
            from: { type: 'string', minLength: 3, description: 'From address.' },
            to: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', minLength: 3 },
              description: 'Recipients.',
            },
          },
        },
      },
    },
  },
  retry: obj({
    attempts: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      default: 6,
      description: 'Tries per message before it is given up (and a notify.delivery_failed event says so).',
    },
    backoff: duration('The first wait between tries; doubled after each, with jitter.', '500ms'),
    timeout: duration('Longest one try may take.', '5s'),
  }),
  queue: {
    type: 'integer',
    minimum: 1,
    maximum: 1000000,
    default: 1000,
    description: 'Messages waiting per channel; past it the oldest is dropped and counted.',
  },
});

export const sinksSchema = obj({
  outputs: {
    type: 'array',
    default: [],
    description:
      'Where every audit record is also streamed, so history lives off the host: syslog (RFC 5424, TCP or TLS), Splunk HEC, Elasticsearch bulk; and a witness that receives every signed checkpoint. Each output reads the log from its own stored cursor: nothing is lost while it is down, nothing waits on it.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'type'],
      properties: {
        name: outputName('Output name, in health, metrics and its stored cursor.'),
        type: {
          enum: ['syslog', 'splunk', 'elasticsearch', 'witness'],
          description:
            'syslog: RFC 5424 messages with octet-counting framing (RFC 6587) over TCP or TLS; splunk: the HTTP Event Collector; elasticsearch: the _bulk API (each record indexed by its sequence number, so a retry never duplicates); witness: each new signed checkpoint POSTed as text.',
        },
        address: {
          type: 'string',
          pattern: '^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$',
          description: 'syslog: host:port of the collector.',
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          description: 'syslog: TLS, verifying the collector with this CA (and its name).',
          properties: {
            ca_file: path('PEM CA bundle that signs the collector certificate.'),
            server_name: {
              type: 'string',
              minLength: 1,
              description: 'Name to verify (default: the host).',
            },
          },
        },
        url: {
          type: 'string',
          pattern: '^https?://',
          description: 'splunk, elasticsearch, witness: the base URL (the witness: where to POST).',
        },
        token_file: path(
          'Secret file: the Splunk HEC token, the Elasticsearch API key, or the witness bearer token (mode 0600).',
        ),
        index: {
          type: 'string',
          pattern: '^[a-z0-9][a-z0-9._-]{0,254}$',
          default: 'rampart-audit',
          description: 'elasticsearch: the index.',
        },
        batch: {
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 500,
          description: 'Records sent at once.',
        },
      },
    },
  },
  max_lag: {
    type: 'integer',
    minimum: 1,
    maximum: 100000000,
    default: 10000,
    description:
      'Records an output may be behind the log before its health says so (the log is its buffer: nothing is dropped).',
  },
});
