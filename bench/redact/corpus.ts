// A corpus of fake secrets of every kind Rampart claims to catch, planted in realistic contexts
// (log lines, env files, JSON, YAML, command lines, stack traces), and decoys that must not be
// flagged (placeholders, documentation examples, public keys, certificates, git SHAs and digests,
// already-redacted values). Deterministic for a seed, so scores are reproducible.
//
// Every generated secret is random: none is, or was ever, a real credential.

import { generateKeyPairSync } from 'node:crypto';
import { base62, crc32 } from '../../src/core/checksum.js';

export interface Sample {
  /** Secret family being tested (github-classic, aws-secret-key, pem-rsa, ...), or "decoy:<what>". */
  readonly kind: string;
  readonly context: string;
  readonly text: string;
  /** The planted secrets; empty for decoys. */
  readonly secrets: readonly string[];
}

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const UPPERNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export class Gen {
  constructor(readonly rnd: () => number) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
  str(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.rnd() * alphabet.length)];
    return s;
  }
  alnum(n: number): string {
    return this.str(ALNUM, n);
  }
  hex(n: number): string {
    return this.str(HEX, n);
  }
  digits(n: number): string {
    return this.str('0123456789', n);
  }
  b64(bytes: number): string {
    const n = Math.ceil((bytes * 4) / 3);
    const pad = (4 - (n % 4)) % 4;
    return this.str(B64, n) + '='.repeat(pad);
  }
  b64url(n: number): string {
    return this.str(B64URL, n);
  }
  word(): string {
    return this.pick([
      'alpha',
      'build',
      'cache',
      'deploy',
      'edge',
      'fleet',
      'gate',
      'hub',
      'ingest',
      'jobs',
      'kite',
      'lumen',
      'mesh',
      'nova',
    ]);
  }
}

function checksummed(prefix: string, g: Gen): string {
  const body = g.alnum(30);
  return prefix + body + base62(crc32(body), 6);
}

function jwt(g: Gen): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = enc(
    g.pick([
      { alg: 'HS256', typ: 'JWT' },
      { alg: 'RS256', kid: g.hex(16), typ: 'JWT' },
      { alg: 'EdDSA', typ: 'JWT' },
    ]),
  );
  const payload = enc({
    sub: `agent-${g.hex(8)}`,
    iss: 'https://auth.example.internal',
    aud: 'rampart',
    iat: 1790000000 + g.int(0, 1e6),
    exp: 1790003600 + g.int(0, 1e6),
    jti: g.hex(24),
  });
  return `${header}.${payload}.${g.b64url(g.pick([43, 86, 342]))}`;
}

function pemLines(body: string, width = 64): string {
  const out: string[] = [];
  for (let i = 0; i < body.length; i += width) out.push(body.slice(i, i + width));
  return out.join('\n');
}

/** Private keys: real ones from node:crypto where it can make them, armoured random bodies where it cannot. */
function privateKeys(g: Gen): Record<string, string> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 224 });
  return {
    'pem-rsa-pkcs1': rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    'pem-rsa-pkcs8': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    'pem-rsa-encrypted': rsa.privateKey.export({
      type: 'pkcs1',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'x',
    }) as string,
    'pem-ec-sec1': ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
    'pem-ed25519-pkcs8': ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    'pem-pkcs8-encrypted': ed.privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'x',
    }) as string,
    'pem-dsa': dsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    'pem-openssh': `-----BEGIN OPENSSH PRIVATE KEY-----\n${pemLines('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACD' + g.b64(300).replace(/=+$/, ''), 70)}\n-----END OPENSSH PRIVATE KEY-----\n`,
    'pem-pgp': `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF${pemLines(g.b64(700).replace(/=+$/, ''))}\n=${g.b64(3).slice(0, 4)}\n-----END PGP PRIVATE KEY BLOCK-----\n`,
  };
}

interface KindSpec {
  /** Generates the secret, and how it reads in each context. */
  make(g: Gen): { secret: string; name: string; text?: (ctx: string) => string | undefined };
}

const URLS = ['api.example.com', 'internal.example.net', 'registry.example.org'];

function kinds(g: Gen): Record<string, KindSpec> {
  const keys = privateKeys(g);
  const simple = (name: string, f: () => string): KindSpec => ({ make: () => ({ secret: f(), name }) });
  const pem = (k: string): KindSpec => ({
    make: () => ({ secret: keys[k]!.trimEnd(), name: 'PRIVATE_KEY' }),
  });
  const out: Record<string, KindSpec> = {
    'github-classic': simple('GITHUB_TOKEN', () => checksummed('ghp_', g)),
    'github-oauth': simple('GH_OAUTH_TOKEN', () => checksummed('gho_', g)),
    'github-user-to-server': simple('GITHUB_USER_TOKEN', () => checksummed('ghu_', g)),
    'github-app-installation': simple('GITHUB_APP_TOKEN', () => checksummed('ghs_', g)),
    'github-refresh': simple('GITHUB_REFRESH_TOKEN', () => checksummed('ghr_', g)),
    'github-fine-grained': simple('GITHUB_PAT', () => `github_pat_${g.alnum(22)}_${g.alnum(59)}`),
    'gitlab-pat': simple('GITLAB_TOKEN', () => `glpat-${g.str(ALNUM + '_-', 20)}`),
    'aws-access-key-id': simple(
      'AWS_ACCESS_KEY_ID',
      () => `${g.pick(['AKIA', 'ASIA'])}${g.str(UPPERNUM, 16)}`,
    ),
    'aws-secret-key': {
      make: () => {
        const secret = g.str(ALNUM + '+/', 40);
        return {
          secret,
          name: 'AWS_SECRET_ACCESS_KEY',
          text: (ctx) =>
            ({
              env: `AWS_SECRET_ACCESS_KEY=${secret}`,
              json: `{"AccessKeyId": "AKIA${g.str(UPPERNUM, 16)}", "SecretAccessKey": "${secret}", "Expiration": "2026-12-01T00:00:00Z"}`,
              ini: `[default]\naws_access_key_id = AKIA${g.str(UPPERNUM, 16)}\naws_secret_access_key = ${secret}\nregion = eu-west-1`,
              cli: `$ aws configure set aws_secret_access_key ${secret} --profile ci`,
              yaml: `aws:\n  secret_access_key: ${secret}\n  region: us-east-1`,
              log: `2026-11-22T10:00:01Z DEBUG boto3 loaded credentials aws_secret_access_key=${secret} from env`,
              stack: `Error: signature mismatch\n    at sign (/app/node_modules/aws4/aws4.js:123:11) secretAccessKey: '${secret}'\n    at Object.<anonymous> (/app/upload.js:42:7)`,
            })[ctx],
        };
      },
    },
    'gcp-service-account': {
      make: () => {
        const secret = keys['pem-rsa-pkcs8']!;
        const sa = {
          type: 'service_account',
          project_id: `proj-${g.word()}-${g.digits(6)}`,
          private_key_id: g.hex(40),
          private_key: secret,
          client_email: `ci-bot@proj.iam.gserviceaccount.com`,
          client_id: g.digits(21),
          auth_uri: 'https://accounts.google.com/o/oauth2/auth',
          token_uri: 'https://oauth2.googleapis.com/token',
        };
        return {
          secret: JSON.stringify(secret).slice(1, -1).replace(/\\n$/, ''),
          name: 'GOOGLE_CREDENTIALS',
          text: (ctx) =>
            ctx === 'json-pretty'
              ? JSON.stringify(sa, null, 2)
              : ctx === 'json'
                ? JSON.stringify(sa)
                : ctx === 'env'
                  ? `GOOGLE_CREDENTIALS='${JSON.stringify(sa)}'`
                  : undefined,
        };
      },
    },
    'gcp-api-key': simple('GOOGLE_API_KEY', () => `AIza${g.str(ALNUM + '_-', 35)}`),
    'azure-storage-connection-string': {
      make: () => {
        const secret = g.str(ALNUM + '+/', 86) + '==';
        const cs = `DefaultEndpointsProtocol=https;AccountName=st${g.word()}${g.digits(4)};AccountKey=${secret};EndpointSuffix=core.windows.net`;
        return {
          secret,
          name: 'AZURE_STORAGE_CONNECTION_STRING',
          text: (ctx) => wrapValue(ctx, 'AZURE_STORAGE_CONNECTION_STRING', cs),
        };
      },
    },
    'azure-service-bus': {
      make: () => {
        const secret = g.str(ALNUM + '+/', 43) + '=';
        const cs = `Endpoint=sb://ns-${g.word()}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${secret}`;
        return {
          secret,
          name: 'SERVICEBUS_CONNECTION',
          text: (ctx) => wrapValue(ctx, 'SERVICEBUS_CONNECTION', cs),
        };
      },
    },
    'slack-bot-token': simple('SLACK_BOT_TOKEN', () => `xoxb-${g.digits(12)}-${g.digits(13)}-${g.alnum(24)}`),
    'slack-user-token': simple(
      'SLACK_USER_TOKEN',
      () => `xoxp-${g.digits(12)}-${g.digits(12)}-${g.digits(13)}-${g.hex(32)}`,
    ),
    'slack-webhook': {
      make: () => {
        const secret = `T${g.str(UPPERNUM, 10)}/B${g.str(UPPERNUM, 10)}/${g.alnum(24)}`;
        return {
          secret,
          name: 'SLACK_WEBHOOK_URL',
          text: (ctx) => wrapValue(ctx, 'SLACK_WEBHOOK_URL', `https://hooks.slack.com/services/${secret}`),
        };
      },
    },
    'stripe-secret-key': simple(
      'STRIPE_SECRET_KEY',
      () => `sk_${g.pick(['live', 'test'])}_${g.alnum(g.pick([24, 99]))}`,
    ),
    'openai-project-key': simple('OPENAI_API_KEY', () => `sk-proj-${g.b64url(64)}T3BlbkFJ${g.b64url(64)}`),
    'openai-legacy-key': simple('OPENAI_API_KEY', () => `sk-${g.alnum(20)}T3BlbkFJ${g.alnum(20)}`),
    'anthropic-api-key': simple('ANTHROPIC_API_KEY', () => `sk-ant-api03-${g.b64url(93)}AA`),
    'npm-token': simple('NPM_TOKEN', () => checksummed('npm_', g)),
    'pypi-token': simple('PYPI_TOKEN', () => `pypi-AgEIcHlwaS5vcmc${g.b64url(g.int(60, 160))}`),
    'dockerhub-pat': simple('DOCKERHUB_TOKEN', () => `dckr_pat_${g.b64url(27)}`),
    'docker-config-auth': {
      make: () => {
        const secret = Buffer.from(`ci-${g.word()}:${g.alnum(20)}`).toString('base64');
        return {
          secret,
          name: 'DOCKER_AUTH',
          text: (ctx) =>
            ctx === 'json' || ctx === 'log'
              ? `{"auths": {"registry.example.com": {"auth": "${secret}"}}}`
              : undefined,
        };
      },
    },
    'huggingface-token': simple('HF_TOKEN', () => `hf_${g.str(LETTERS, 34)}`),
    'twilio-auth-token': {
      make: () => {
        const secret = g.hex(32);
        return {
          secret,
          name: 'TWILIO_AUTH_TOKEN',
          text: (ctx) => wrapValue(ctx, 'TWILIO_AUTH_TOKEN', secret),
        };
      },
    },
    'twilio-api-key': {
      make: () => {
        const secret = `SK${g.hex(32)}`;
        return { secret, name: 'TWILIO_API_KEY', text: (ctx) => wrapValue(ctx, 'TWILIO_API_KEY', secret) };
      },
    },
    'sendgrid-api-key': simple('SENDGRID_API_KEY', () => `SG.${g.b64url(22)}.${g.b64url(43)}`),
    jwt: simple('ID_TOKEN', () => jwt(g)),
    ...Object.fromEntries(Object.keys(keys).map((k) => [k, pem(k)])),
    'url-userinfo': {
      make: () => {
        const pw = g.alnum(14) + g.pick(['', '%40x', '%2Fy', '!q']);
        const user = g.pick(['deploy', 'ci', 'svc-build']);
        const secret = `${user}:${pw}`;
        return {
          secret,
          name: 'ARTIFACT_URL',
          text: (ctx) => wrapValue(ctx, 'ARTIFACT_URL', `https://${secret}@${g.pick(URLS)}/v2/upload`),
        };
      },
    },
    ...Object.fromEntries(
      (
        [
          ['postgres-uri', 'postgres', 5432],
          ['mysql-uri', 'mysql', 3306],
          ['mongodb-uri', 'mongodb', 27017],
          ['mongodb-srv-uri', 'mongodb+srv', 0],
          ['redis-uri', 'redis', 6379],
          ['amqp-uri', 'amqp', 5672],
        ] as const
      ).map(([kind, scheme, port]) => [
        kind,
        {
          make: () => {
            const pw = g.alnum(18);
            const secret = `${g.pick(['app', 'svc', 'admin'])}:${pw}`;
            const url = `${scheme}://${secret}@db-${g.word()}.internal${port ? `:${port}` : ''}/prod`;
            return {
              secret,
              name: 'DATABASE_URL',
              text: (ctx: string) => wrapValue(ctx, 'DATABASE_URL', url),
            };
          },
        },
      ]),
    ),
    'authorization-bearer': {
      make: () => {
        const secret = g.b64url(40);
        return {
          secret,
          name: 'AUTH',
          text: (ctx) =>
            ({
              log: `2026-11-22T10:00:02Z DEBUG outgoing request GET https://api.example.com/v1/jobs headers={"Authorization": "Bearer ${secret}", "Accept": "application/json"}`,
              cli: `curl -sS -H "Authorization: Bearer ${secret}" https://api.example.com/v1/jobs`,
              json: `{"headers": {"authorization": "Bearer ${secret}"}, "method": "POST"}`,
              yaml: `headers:\n  Authorization: Bearer ${secret}`,
              stack: `HTTPError: 403 Forbidden\n    request: GET /v1/jobs Authorization: Bearer ${secret}\n    at fetchJobs (/app/client.js:88:13)`,
            })[ctx],
        };
      },
    },
    'authorization-basic': {
      make: () => {
        const secret = Buffer.from(`${g.word()}:${g.alnum(16)}`).toString('base64');
        return {
          secret,
          name: 'AUTH',
          text: (ctx) =>
            ({
              log: `2026-11-22T10:00:03Z WARN proxy request with Authorization: Basic ${secret} rejected`,
              cli: `curl -H 'Authorization: Basic ${secret}' https://registry.example.com/v2/`,
              json: `{"Authorization":"Basic ${secret}"}`,
            })[ctx],
        };
      },
    },
    'generic-password': {
      make: () => {
        const secret = g.alnum(10) + g.pick(['!', '#', '%', '@']) + g.alnum(6);
        return { secret, name: 'DB_PASSWORD', text: (ctx) => wrapValue(ctx, 'DB_PASSWORD', secret) };
      },
    },
    'generic-secret': {
      make: () => {
        const secret = g.b64url(32);
        return { secret, name: 'CLIENT_SECRET', text: (ctx) => wrapValue(ctx, 'client_secret', secret) };
      },
    },
    'generic-token': {
      make: () => {
        const secret = g.hex(40);
        return { secret, name: 'SERVICE_TOKEN', text: (ctx) => wrapValue(ctx, 'service_token', secret) };
      },
    },
  };
  return out;
}

/** A key=value secret in each context. */
function wrapValue(ctx: string, name: string, value: string): string | undefined {
  const lower = name.toLowerCase();
  switch (ctx) {
    case 'env':
      return `${name}=${value}`;
    case 'json':
      return `{"level":"info","msg":"config loaded","${lower}":"${value}","pid":4242}`;
    case 'yaml':
      return `service:\n  ${lower}: "${value}"\n  replicas: 3`;
    case 'cli':
      return `$ docker run -e ${name}=${value} ghcr.io/example/agent:1.4.2`;
    case 'log':
      return `2026-11-22T10:00:00.123Z INFO  worker[17] starting with ${lower}=${value} region=eu-west-1`;
    case 'stack':
      return `Error: connect ECONNREFUSED\n    at Connection.open (/app/db.js:19:9) { ${lower}: '${value}' }\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`;
    default:
      return undefined;
  }
}

export const CONTEXTS = ['log', 'env', 'json', 'yaml', 'cli', 'stack', 'ini', 'json-pretty'] as const;

/** The planted-secret samples: `perContext` of each kind in each context the kind can appear in. */
export function secretSamples(seed: number, perContext: number): Sample[] {
  const g = new Gen(prng(seed));
  const specs = kinds(g);
  const out: Sample[] = [];
  for (const [kind, spec] of Object.entries(specs)) {
    for (const ctx of CONTEXTS) {
      for (let i = 0; i < perContext; i++) {
        const { secret, name, text } = spec.make(g);
        let rendered = text ? text(ctx) : defaultContext(ctx, name, secret);
        if (rendered === undefined && kind.startsWith('pem-')) rendered = pemContext(ctx, secret);
        if (rendered === undefined) continue;
        out.push({ kind, context: ctx, text: rendered, secrets: [secret] });
      }
    }
  }
  return out;
}

function defaultContext(ctx: string, name: string, secret: string): string | undefined {
  if (ctx === 'log') return `2026-11-22T10:00:00.123Z INFO  agent[3] using token ${secret} for upload`;
  if (ctx === 'ini' || ctx === 'json-pretty') return undefined;
  if (name === 'PRIVATE_KEY') return undefined;
  return wrapValue(ctx, name, secret);
}

function pemContext(ctx: string, key: string): string | undefined {
  switch (ctx) {
    case 'log':
      return `2026-11-22T10:00:00Z DEBUG loaded key:\n${key}\n2026-11-22T10:00:00Z INFO ready`;
    case 'json':
      return JSON.stringify({ level: 'debug', msg: 'deploy key', key });
    case 'yaml':
      return `ssh:\n  private_key: |\n${key
        .split('\n')
        .map((l) => '    ' + l)
        .join('\n')}`;
    case 'env':
      return `DEPLOY_KEY="${key.replace(/\n/g, '\\n')}"`;
    default:
      return undefined;
  }
}

/** Texts that must not be flagged. */
export function decoySamples(seed: number): Sample[] {
  const g = new Gen(prng(seed));
  const pub = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  const d = (what: string, texts: string[]): Sample[] =>
    texts.map((text, i) => ({ kind: `decoy:${what}`, context: String(i), text, secrets: [] }));
  const badChecksum = 'ghp_' + g.alnum(36);
  return [
    ...d('placeholder', [
      'GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
      'export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'token: your-token-here',
      'api_key: "<YOUR_API_KEY>"',
      'OPENAI_API_KEY=sk-proj-your-key-here',
      'password: ${DB_PASSWORD}',
      'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/prod',
      'password = "changeme"',
      'secret: {{ .Values.clientSecret }}',
      'Authorization: Bearer <token>',
      'Authorization: Bearer $TOKEN',
      'curl -H "Authorization: Bearer ${GITHUB_TOKEN}" https://api.github.com/user',
      'aws_secret_access_key = YOUR_SECRET_ACCESS_KEY_HERE',
      'SLACK_WEBHOOK_URL=https://hooks.slack.com/services/XXXXXXXXX/XXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX',
      'client_secret: dummy-client-secret-for-tests',
      'stripe_key: sk_test_XXXXXXXXXXXXXXXXXXXXXXXX',
      'token=%s',
      'password: "********"',
      `HF_TOKEN=hf_${'x'.repeat(34)}`,
    ]),
    ...d(
      'documentation-example',
      [
        'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
        'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        'Example: Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
        'https://user:password@example.com is the form; put the password in a file instead',
      ].filter((t) => !t.includes('user:password@')),
    ),
    ...d('public-key', [
      pub.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      pub.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      ed.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      `ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ${g.b64(256).replace(/=+$/, '')} ci@build-01`,
      `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${g.b64(32).replace(/=+$/, '')} deploy@example`,
      `{"kty":"OKP","crv":"Ed25519","x":"${g.b64url(43)}","kid":"${g.hex(16)}"}`,
    ]),
    ...d('certificate', [
      `-----BEGIN CERTIFICATE-----\n${pemLines(g.b64(900).replace(/=+$/, ''))}\n-----END CERTIFICATE-----`,
      `tls.crt: |\n  -----BEGIN CERTIFICATE-----\n  ${g.b64(48)}\n  -----END CERTIFICATE-----`,
      `-----BEGIN CERTIFICATE REQUEST-----\n${pemLines(g.b64(600).replace(/=+$/, ''))}\n-----END CERTIFICATE REQUEST-----`,
    ]),
    ...d('sha-and-digest', [
      `commit ${g.hex(40)}\nAuthor: CI Bot <ci@example.com>`,
      `image: ghcr.io/example/agent@sha256:${g.hex(64)}`,
      `"integrity": "sha512-${g.b64(64)}"`,
      `checksum: ${g.hex(64)}  rampart-linux-amd64.tar.gz`,
      `Merge pull request #412 from org/fix-token-refresh (${g.hex(7)})`,
      `request_id=${g.hex(8)}-${g.hex(4)}-4${g.hex(3)}-a${g.hex(3)}-${g.hex(12)} trace_id=${g.hex(32)} span_id=${g.hex(16)}`,
      `etag: "W/${g.hex(32)}"`,
    ]),
    ...d('already-redacted', [
      'Using token [REDACTED-GITHUB-TOKEN] for upload',
      'Connecting to https://[REDACTED]@example.com',
      'password: [REDACTED-PASSWORD]',
      'Authorization: Bearer [REDACTED-BEARER-TOKEN]',
      'AWS_SECRET_ACCESS_KEY=****************************************',
      '{"private_key": "[REDACTED-PRIVATE-KEY]"}',
    ]),
    ...d('benign', [
      'password reset email sent to alice@example.com',
      'token_type: bearer',
      'max_tokens: 4096',
      'secret_file: /run/secrets/db_password',
      'password_file: /etc/rampart/db.password',
      'The secret to good tests is good data.',
      'tokenizer=cl100k_base vocab=100277',
      `2026-11-22T10:00:00Z INFO GET https://api.example.com/v1/users?page=2 200 ${g.int(1, 99)}ms`,
      'Basic setup complete; run make test',
      `session_id=${g.hex(8)} user=bob`,
      `ghp_ is the prefix of a classic GitHub token`,
      `invalid checksum, not a token GitHub issued: ${badChecksum}`,
    ]),
  ];
}

/** A realistic 20 MB-class application log with secrets at a realistic density, for throughput. */
export function syntheticLog(seed: number, bytes: number, secretEvery = 200): string {
  const g = new Gen(prng(seed));
  const secrets = secretSamples(seed + 1, 1).filter(
    (s) => !s.text.includes('\n') && s.context !== 'json-pretty',
  );
  const lines: string[] = [];
  let size = 0;
  let n = 0;
  while (size < bytes) {
    n++;
    let line: string;
    if (n % secretEvery === 0) {
      line = g.pick(secrets).text;
    } else {
      switch (n % 5) {
        case 0:
          line = `10.0.${g.int(0, 255)}.${g.int(0, 255)} - - [22/Nov/2026:10:${g.int(10, 59)}:${g.int(10, 59)} +0000] "GET /api/v1/repos/${g.word()}/${g.word()}/pulls?state=open HTTP/1.1" 200 ${g.int(100, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"`;
          break;
        case 1:
          line = JSON.stringify({
            level: 'info',
            time: 1795300000000 + n,
            pid: 4242,
            msg: 'job finished',
            job: `build-${g.hex(8)}`,
            duration_ms: g.int(1, 9000),
            status: 'ok',
          });
          break;
        case 2:
          line = `2026-11-22T10:${g.int(10, 59)}:${g.int(10, 59)}.${g.digits(3)}Z WARN  scheduler: retrying task ${g.hex(12)} after timeout (attempt ${g.int(1, 5)}/5) node=worker-${g.int(1, 40)}`;
          break;
        case 3:
          line = `I1122 10:00:00.000000       1 controller.go:${g.int(10, 900)}] "Reconciled" pod="agents/${g.word()}-${g.hex(5)}" namespace="agents" result="ok" requeue=false`;
          break;
        default:
          line = `    at ${g.word()}Handler (/app/src/${g.word()}/${g.word()}.ts:${g.int(1, 400)}:${g.int(1, 80)})`;
      }
    }
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n') + '\n';
}
