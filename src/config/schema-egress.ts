// The egress section's inspection keys: which hosts the proxy terminates and inspects, which
// credentials it adds to their requests (from the secrets broker), and the bounds it keeps.

import { path, size } from './schema-parts.js';

const HOST_PATTERN = {
  type: 'string',
  minLength: 1,
  maxLength: 260,
  description: 'A host pattern: host or *.domain.',
} as const;

export const egressInspectionSchema = {
  inspect: {
    type: 'array',
    items: HOST_PATTERN,
    maxItems: 1000,
    description:
      "Hosts the proxy terminates with a leaf from the installation's CA, re-originates with full verification, and inspects (credential injection, outbound DLP, egress.request policy). Every other host stays an opaque tunnel. The hosts of `inject` rules are inspected too.",
    default: [],
  },
  inject: {
    type: 'array',
    maxItems: 1000,
    default: [],
    description:
      "Credentials the proxy adds to requests: a secret from the broker bound to a host, a path prefix and a header. Whatever the agent puts in that header is dropped; the agent's run never holds the value.",
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['secret'],
      properties: {
        profile: {
          enum: ['claude-code', 'codex'],
          description:
            "Ready-made host, header and scheme for an agent's model provider: claude-code (api.anthropic.com, x-api-key, drops Authorization), codex (api.openai.com, Authorization: Bearer). Keys given here override it.",
        },
        host: {
          ...HOST_PATTERN,
          description: 'The host pattern the credential is for (required without profile).',
        },
        path: {
          type: 'string',
          pattern: '^/',
          maxLength: 1024,
          description: 'Only requests whose path starts with this get it.',
          default: '/',
        },
        header: {
          type: 'string',
          pattern: '^[A-Za-z0-9-]{1,64}$',
          description: "The header set (default: Authorization, or the profile's).",
        },
        scheme: {
          enum: ['bearer', 'basic', 'raw'],
          description:
            "The header's value: Bearer <secret>, Basic base64(username:secret), or the secret itself.",
        },
        username: {
          type: 'string',
          minLength: 1,
          maxLength: 256,
          description: 'The user name of a basic credential.',
        },
        strip: {
          type: 'array',
          items: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' },
          maxItems: 16,
          description: 'More headers the agent may put its placeholder in, dropped from the request.',
        },
        secret: {
          type: 'string',
          pattern: '^vault:[^/]+/.+$',
          description:
            "The credential, from the secrets broker as vault:VAULT/NAME; decided by policy as secret.use (context.host, context.path) for the run's agent.",
        },
      },
    },
  },
  inspect_max_body: size(
    'Largest request body inspected. A larger one is refused where a credential is injected, and passed on and recorded as uninspected elsewhere.',
    '256m',
  ),
  origin_ca_file: path(
    "PEM file of extra trust anchors for inspected origins (an internal service's CA), added to Node's built-in roots. Default: none.",
  ),
  hosts: {
    type: 'object',
    additionalProperties: { type: 'string', minLength: 2, maxLength: 45 },
    maxProperties: 1000,
    description:
      'Names the proxy resolves to a fixed address instead of asking DNS (an internal mirror, a test origin); the address guard still checks the address.',
    default: {},
  },
} as const;
