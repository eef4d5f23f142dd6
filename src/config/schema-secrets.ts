// The `secrets` section of the configuration schema: leases, dynamic engines (PostgreSQL,
// GitHub App), rotation. config/secrets.ts turns it into SecretsSettings.

import { duration, obj, path } from './schema-parts.js';

export const secretsSchema = obj({
  lease_ttl: duration(
    "Lifetime of a lease on a stored secret delivered to a run; the run's runner renews it.",
    '15m',
  ),
  lease_max_ttl: duration('No lease on a stored secret is renewed past this long after it was issued.', '2h'),
  sweep_interval: duration('How often expired leases are revoked and failed revocations retried.', '1s'),
  revoke_timeout: duration(
    'Time one credential may take to be revoked before the attempt counts as failed (and is retried).',
    '10s',
  ),
  postgres: {
    type: 'array',
    default: [],
    description:
      'Dynamic PostgreSQL credentials: each entry is a vault whose names are role templates (vault:VAULT/ROLE makes a role per lease).',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['vault', 'connection_file', 'roles'],
      properties: {
        vault: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
          description: 'The vault these roles are asked for by (policy grants it as any vault).',
        },
        connection_file: path(
          'Secret file (0600) holding the connection URL of a role that may create roles: postgresql://USER:PASSWORD@HOST:PORT/DB.',
        ),
        deliver_host: {
          type: 'string',
          pattern: '^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$',
          description:
            "host:port put in the URL runs receive, when they reach the database by another address than the control plane. Default: the connection file's.",
        },
        roles: {
          type: 'array',
          minItems: 1,
          description: 'Role templates.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'creation'],
            properties: {
              name: {
                type: 'string',
                pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
                description: 'The name in vault:VAULT/NAME.',
              },
              creation: {
                type: 'string',
                minLength: 1,
                description:
                  "SQL run to create the role, with {{name}}, {{password}} and {{expiration}}; it must use all three (VALID UNTIL is the database's own backstop).",
              },
              revocation: {
                type: 'string',
                minLength: 1,
                description:
                  'SQL run before the role is dropped (with {{name}}). Default: none. Rampart always refuses new logins, terminates the sessions, reassigns and drops what the role owns, and drops it.',
              },
              ttl: duration('Lifetime of one credential; the run renews it.', '5m'),
              max_ttl: duration('No credential is renewed past this long after it was made.', '1h'),
            },
          },
        },
      },
    },
  },
  github: {
    type: 'array',
    default: [],
    description:
      'GitHub App installation tokens: each entry is a vault whose names are repositories (vault:VAULT/NAME gives a token for that one repository, lasting at most 55 minutes).',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['vault', 'app_id', 'private_key_file', 'repositories'],
      properties: {
        vault: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
          description: 'The vault these tokens are asked for by.',
        },
        app_id: { type: 'integer', minimum: 1, description: "The GitHub App's id (the JWT's iss)." },
        private_key_file: path("Secret file (0600) holding the app's RSA private key (PEM)."),
        api_url: {
          type: 'string',
          pattern: '^https://',
          description: 'The REST API base (GitHub Enterprise: https://HOST/api/v3).',
          default: 'https://api.github.com',
        },
        ca_file: path("PEM bundle to verify the API's certificate with. Default: the system's."),
        repositories: {
          type: 'array',
          minItems: 1,
          description: 'What each name gives: one repository of one installation, with these permissions.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'installation_id', 'repository', 'permissions'],
            properties: {
              name: {
                type: 'string',
                pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
                description: 'The name in vault:VAULT/NAME.',
              },
              installation_id: { type: 'integer', minimum: 1, description: "The app's installation id." },
              repository: {
                type: 'string',
                pattern: '^[A-Za-z0-9._-]{1,100}$',
                description: 'The one repository the token is for (its name, without the owner).',
              },
              permissions: {
                type: 'object',
                minProperties: 1,
                propertyNames: { pattern: '^[a-z_]{1,64}$' },
                additionalProperties: { enum: ['read', 'write'] },
                description: 'Permissions asked for, such as {contents: write, pull_requests: write}.',
              },
            },
          },
        },
      },
    },
  },
  rotation: {
    type: 'array',
    default: [],
    description: 'Stored secrets rotated on a schedule (and by `rampart secret rotate`).',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['secret', 'rotator'],
      properties: {
        secret: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
          description: 'VAULT/NAME of the stored secret.',
        },
        every: duration('Rotate it this often (such as 1h). Default: only when asked.'),
        length: {
          type: 'integer',
          minimum: 16,
          maximum: 256,
          description: 'Characters of a new value (letters and digits).',
          default: 32,
        },
        rotator: {
          type: 'object',
          additionalProperties: false,
          description:
            'What makes the new value valid upstream: a command (the value on its stdin) or a PostgreSQL role (ALTER ROLE ... PASSWORD).',
          properties: {
            command: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', minLength: 1 },
              description:
                'argv of a program that receives the new value on stdin and exits 0 once it is in force.',
            },
            postgres_role: {
              type: 'string',
              pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$',
              description: 'The role whose password is the secret.',
            },
            connection_file: path(
              'With postgres_role: secret file (0600) holding the connection URL of a role that may alter it.',
            ),
          },
        },
      },
    },
  },
});
