// One generated example per rule: a text in which that rule (and no weaker one) must find the
// secret. Built at run time from random parts, so no credential-shaped literal is committed.

import { keyPair } from '../support/keys.js';
import type { Gen } from '../../bench/redact/corpus.js';
import { base62, crc32 } from '../../src/core/checksum.js';

export interface Example {
  readonly text: string;
  readonly secret: string;
}

const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const AZ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function checksummed(prefix: string, g: Gen): string {
  const body = g.alnum(30);
  return prefix + body + base62(crc32(body), 6);
}

const p = (...parts: string[]): string => parts.join('');
const tok = (secret: string, line = `using ${secret} now`): Example => ({ text: line, secret });
const val = (secret: string, line: string): Example => ({ text: line, secret });

export const EXAMPLES: Record<string, (g: Gen) => Example> = {
  'github-pat-classic': (g) => tok(checksummed(p('gh', 'p_'), g), ''),
  'github-oauth': (g) => tok(checksummed(p('gh', 'o_'), g)),
  'github-user-to-server': (g) => tok(checksummed(p('gh', 'u_'), g)),
  'github-server-to-server': (g) => tok(checksummed(p('gh', 's_'), g)),
  'github-refresh': (g) => tok(checksummed(p('gh', 'r_'), g)),
  'github-fine-grained-pat': (g) => tok(p('github', '_pat_', g.alnum(22), '_', g.alnum(59))),
  'gitlab-pat': (g) => tok(p('gl', 'pat-', g.alnum(20))),
  'gitlab-pipeline-trigger': (g) => tok(p('gl', 'ptt-', g.hex(40))),
  'gitlab-runner-registration': (g) => tok(p('GR13', '48941', g.alnum(20))),
  'gitlab-runner-auth': (g) => tok(p('gl', 'rt-', g.alnum(20))),
  'gitlab-deploy-token': (g) => tok(p('gl', 'dt-', g.alnum(20))),
  'gitlab-feed-token': (g) => tok(p('gl', 'ft-', g.alnum(20))),
  'gitlab-oauth-secret': (g) => tok(p('gl', 'oas-', g.alnum(64))),
  'gitlab-scim-token': (g) => tok(p('gl', 'soat-', g.alnum(20))),
  'gitlab-incoming-mail': (g) => tok(p('gl', 'imt-', g.alnum(25))),
  'gitlab-agent-token': (g) => tok(p('gl', 'agent-', g.alnum(50))),
  'gitlab-ci-job-token': (g) => tok(p('gl', 'cbt-', '64_', g.alnum(20))),
  'aws-access-key-id': (g) => tok(p('AK', 'IA', g.str(UP, 16))),
  'aws-secret-access-key': (g) => {
    const s = g.str(AZ + '0123456789+/', 40);
    return val(s, `aws_secret_access_key = ${s}`);
  },
  'aws-session-token': (g) => {
    const s = g.b64(300).replace(/=+$/, '');
    return val(s, `AWS_SESSION_TOKEN=${s}`);
  },
  'aws-mws-key': (g) =>
    tok(p('amzn.', 'mws.', g.hex(8), '-', g.hex(4), '-', g.hex(4), '-', g.hex(4), '-', g.hex(12))),
  'gcp-api-key': (g) => tok(p('AI', 'za', g.str(AZ + '0123456789_-', 35))),
  'gcp-oauth-client-secret': (g) => tok(p('GOC', 'SPX-', g.alnum(28))),
  'google-oauth-access-token': (g) => tok(p('ya', '29.', g.b64url(120))),
  'google-oauth-refresh-token': (g) => tok(p('1/', '/0', g.b64url(90))),
  'gcp-service-account-key-id': (g) => {
    const s = g.hex(40);
    return val(s, `{"type": "service_account", "private_key_id": "${s}"}`);
  },
  'azure-storage-account-key': (g) => {
    const s = g.str(AZ + '0123456789+/', 86) + '==';
    return val(
      s,
      `DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${s};EndpointSuffix=core.windows.net`,
    );
  },
  'azure-shared-access-key': (g) => {
    const s = g.str(AZ + '0123456789+/', 43) + '=';
    return val(s, `Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=${s}`);
  },
  'azure-sas-token': (g) => {
    const s = g.str(AZ + '0123456789', 40) + '%3D';
    return val(s, `https://x.blob.core.windows.net/c?sv=2022-11-02&ss=b&sp=r&se=2026-12-01&sig=${s}`);
  },
  'azure-ad-client-secret': (g) => tok(p(g.alnum(3), '8', 'Q~', g.str(AZ + '0123456789_.-', 34))),
  'slack-bot-token': (g) => tok(p('xo', 'xb-', g.digits(12), '-', g.digits(13), '-', g.alnum(24))),
  'slack-user-token': (g) =>
    tok(p('xo', 'xp-', g.digits(12), '-', g.digits(12), '-', g.digits(13), '-', g.hex(32))),
  'slack-app-token': (g) => tok(p('xa', 'pp-1-', g.str(UP, 11), '-', g.digits(13), '-', g.hex(64))),
  'slack-config-token': (g) => tok(p('xoxe.', 'xoxp-1-', g.alnum(163))),
  'slack-config-refresh-token': (g) => tok(p('xo', 'xe-1-', g.alnum(146))),
  'slack-legacy-token': (g) => tok(p('xo', 'xs-', g.digits(10), '-', g.digits(12), '-', g.alnum(32))),
  'slack-webhook': (g) => {
    const s = p('T', g.str(UP, 10), '/B', g.str(UP, 10), '/', g.alnum(24));
    return val(s, `webhook: https://hooks.slack.com/services/${s}`);
  },
  'stripe-secret-key': (g) => tok(p('sk', '_live_', g.alnum(24))),
  'stripe-restricted-key': (g) => tok(p('rk', '_live_', g.alnum(24))),
  'stripe-webhook-secret': (g) => tok(p('wh', 'sec_', g.alnum(32))),
  'square-access-token': (g) => tok(p('sq0', 'atp-', g.b64url(22))),
  'square-oauth-secret': (g) => tok(p('sq0', 'csp-', g.b64url(43))),
  'braintree-access-token': (g) =>
    tok(p('access_token$', 'production$', g.str('abcdefghijklmnopqrstuvwxyz0123456789', 16), '$', g.hex(32))),
  'openai-project-key': (g) => tok(p('sk-', 'proj-', g.b64url(80))),
  'openai-service-account-key': (g) => tok(p('sk-', 'svcacct-', g.b64url(80))),
  'openai-admin-key': (g) => tok(p('sk-', 'admin-', g.b64url(80))),
  'openai-legacy-key': (g) => tok(p('sk-', g.alnum(20), 'T3Blbk', 'FJ', g.alnum(20))),
  'anthropic-api-key': (g) => tok(p('sk-ant-', 'api03-', g.b64url(93), 'AA')),
  'anthropic-admin-key': (g) => tok(p('sk-ant-', 'admin01-', g.b64url(93), 'AA')),
  'anthropic-oauth-token': (g) => tok(p('sk-ant-', 'oat01-', g.b64url(95))),
  'huggingface-token': (g) => tok(p('h', 'f_', g.str(AZ, 34))),
  'huggingface-org-token': (g) => tok(p('api', '_org_', g.str(AZ, 34))),
  'replicate-token': (g) => tok(p('r8', '_', g.alnum(37))),
  'groq-api-key': (g) => tok(p('gs', 'k_', g.alnum(52))),
  'perplexity-api-key': (g) => tok(p('pp', 'lx-', g.alnum(48))),
  'xai-api-key': (g) => tok(p('xa', 'i-', g.alnum(80))),
  'npm-token': (g) => tok(checksummed(p('np', 'm_'), g)),
  'npmrc-auth-token': (g) => {
    const s = g.b64url(36);
    return val(s, `//registry.example.com/:_authToken=${s}`);
  },
  'pypi-token': (g) => tok(p('pypi-', 'AgEIcHlwaS5vcmc', g.b64url(70))),
  'pypi-test-token': (g) => tok(p('pypi-', 'AgENdGVzdC5weXBpLm9yZw', g.b64url(70))),
  'dockerhub-pat': (g) => tok(p('dckr', '_pat_', g.b64url(27))),
  'dockerhub-oat': (g) => tok(p('dckr', '_oat_', g.b64url(32))),
  'docker-config-auth': (g) => {
    const s = Buffer.from(`ci:${g.alnum(16)}`).toString('base64');
    return val(s, `{"auths": {"registry.example.com": {"auth": "${s}"}}}`);
  },
  'rubygems-token': (g) => tok(p('rubygems', '_', g.hex(48))),
  'nuget-api-key': (g) => tok(p('oy', '2', g.str('abcdefghijklmnopqrstuvwxyz0123456789', 43))),
  'clojars-token': (g) => tok(p('CLOJARS', '_', g.str('abcdefghijklmnopqrstuvwxyz0123456789', 60))),
  'circleci-pat': (g) => tok(p('CCI', 'PAT_', g.alnum(22), '_', g.hex(40))),
  'buildkite-token': (g) => tok(p('bk', 'ua_', g.hex(40))),
  'postman-api-key': (g) => tok(p('PM', 'AK-', g.hex(24), '-', g.hex(34))),
  'twilio-api-key': (g) => {
    const s = p('S', 'K', g.hex(32));
    return val(s, `TWILIO_API_KEY=${s}`);
  },
  'twilio-auth-token': (g) => {
    const s = g.hex(32);
    return val(s, `twilio_auth_token: ${s}`);
  },
  'sendgrid-api-key': (g) => tok(p('S', 'G.', g.b64url(22), '.', g.b64url(43))),
  'mailgun-api-key': (g) => val(p('key', '-', g.str('abcdefghijklmnopqrstuvwxyz0123456789', 32)), ''),
  'mailchimp-api-key': (g) => tok(p(g.hex(32), '-us', '14')),
  'discord-webhook': (g) => {
    const s = p(g.digits(18), '/', g.b64url(68));
    return val(s, `https://discord.com/api/webhooks/${s}`);
  },
  'teams-webhook': (g) => {
    const s = p(g.hex(8), '-', g.hex(4), '@', g.hex(8), '/IncomingWebhook/', g.hex(32), '/', g.hex(8));
    return val(s, `https://example.webhook.office.com/webhookb2/${s}`);
  },
  'telegram-bot-token': (g) => tok(p(g.digits(10), ':A', 'A', g.b64url(33))),
  'shopify-access-token': (g) => tok(p('sh', 'pat_', g.hex(32))),
  'shopify-custom-app-token': (g) => tok(p('sh', 'pca_', g.hex(32))),
  'shopify-private-app-token': (g) => tok(p('sh', 'ppa_', g.hex(32))),
  'shopify-shared-secret': (g) => tok(p('sh', 'pss_', g.hex(32))),
  'digitalocean-pat': (g) => tok(p('dop', '_v1_', g.hex(64))),
  'digitalocean-oauth': (g) => tok(p('doo', '_v1_', g.hex(64))),
  'digitalocean-refresh': (g) => tok(p('dor', '_v1_', g.hex(64))),
  'heroku-api-key': (g) => tok(p('HR', 'KU-', g.b64url(60))),
  'flyio-token': (g) => tok(p('fo', '1_', g.b64url(43))),
  'flyio-macaroon': (g) => tok(p('fm', '2_', g.str(AZ + '0123456789+/', 120))),
  'supabase-service-key': (g) => tok(p('sb', 'p_', g.hex(40))),
  'supabase-secret-key': (g) => tok(p('sb_', 'secret_', g.b64url(40))),
  'planetscale-token': (g) => tok(p('pscale', '_tkn_', g.b64url(43))),
  'linear-api-key': (g) => tok(p('lin', '_api_', g.alnum(40))),
  'doppler-token': (g) => tok(p('dp.', 'pt.', g.alnum(43))),
  'pulumi-token': (g) => tok(p('pu', 'l-', g.hex(40))),
  'terraform-cloud-token': (g) => tok(p(g.alnum(14), '.atlas', 'v1.', g.b64url(67))),
  'vault-service-token': (g) => tok(p('hv', 's.', g.b64url(95))),
  'vault-batch-token': (g) => tok(p('hv', 'b.', g.b64url(150))),
  'onepassword-service-account': (g) => tok(p('ops', '_eyJ', g.b64url(300))),
  'onepassword-secret-key': (g) =>
    tok(p('A3-', g.str(UP, 6), '-', g.str(UP, 11), '-', g.str(UP, 5), '-', g.str(UP, 5), '-', g.str(UP, 5))),
  'databricks-token': (g) => tok(p('da', 'pi', g.hex(32))),
  'age-secret-key': (g) => tok(p('AGE-SECRET', '-KEY-1', g.str('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58))),
  'sentry-org-token': (g) => tok(p('sntrys', '_eyJ', g.b64url(120))),
  'sentry-user-token': (g) => tok(p('sntryu', '_', g.hex(64))),
  'grafana-cloud-token': (g) => tok(p('gl', 'c_', g.str(AZ + '0123456789+/', 80))),
  'grafana-service-account-token': (g) => tok(p('gl', 'sa_', g.alnum(32), '_', g.hex(8))),
  'newrelic-user-key': (g) => tok(p('NR', 'AK-', g.str(UP, 27))),
  'newrelic-insert-key': (g) => tok(p('NR', 'II-', g.b64url(32))),
  'datadog-api-key': (g) => {
    const s = g.hex(32);
    return val(s, `DD_API_KEY=${s}`);
  },
  'cloudflare-api-token': (g) => {
    const s = g.b64url(40);
    return val(s, `CLOUDFLARE_API_TOKEN=${s}`);
  },
  'cloudflare-origin-ca-key': (g) => tok(p('v1', '.0-', g.hex(24), '-', g.hex(146))),
  'okta-api-token': (g) => {
    const s = p('00', g.b64url(40));
    return val(s, `okta_api_token: ${s}`);
  },
  'facebook-access-token': (g) => tok(p('EA', 'AC', g.alnum(150))),
  'mapbox-secret-token': (g) => tok(p('sk.', 'eyJ', g.b64url(80), '.', g.b64url(22))),
  'rampart-admin-token': (g) => tok(p('rampart', '_admin_', g.b64url(43))),
  jwt: () => {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    return tok(
      `${enc({ alg: 'ES256', typ: 'JWT' })}.${enc({ sub: 'agent-7', exp: 1890000000 })}.${'s'.repeat(0)}abcdEFGH1234ijklMNOP5678qrstUVWX`,
    );
  },
  'private-key': () => {
    const k = (
      keyPair({ type: 'ec', namedCurve: 'P-256' }).privateKey.export({
        type: 'sec1',
        format: 'pem',
      }) as string
    ).trimEnd();
    return val(k, `key:\n${k}\nnext line`);
  },
  'putty-private-key': (g) => {
    const s = `${g.b64(48)}\n${g.b64(48)}\n`;
    return val(
      s,
      `PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 2\n${s}Private-MAC: ${g.hex(40)}`,
    );
  },
  'postgres-uri': (g) => val(p('app:', g.alnum(16)), ''),
  'mysql-uri': (g) => val(p('root:', g.alnum(16)), ''),
  'mongodb-uri': (g) => val(p('svc:', g.alnum(16)), ''),
  'mongodb-srv-uri': (g) => val(p('svc:', g.alnum(16)), ''),
  'redis-uri': (g) => val(p(':', g.alnum(24)), ''),
  'amqp-uri': (g) => val(p('guest:', g.alnum(16)), ''),
  'url-userinfo': (g) => val(p('deploy:', g.alnum(10), '%40', g.alnum(4)), ''),
  'url-password-parameter': (g) => {
    const s = g.alnum(14);
    return val(s, `jdbc:postgresql://db:5432/app?user=app&password=${s}&ssl=true`);
  },
  'connection-string-password': (g) => {
    const s = p(g.alnum(8), '!', g.alnum(4));
    return val(
      s,
      `Server=tcp:db.example.net,1433;Initial Catalog=app;User ID=app;Password=${s};Encrypt=True`,
    );
  },
  'authorization-bearer': (g) => {
    const s = g.b64url(40);
    return val(s, `Authorization: Bearer ${s}`);
  },
  'authorization-basic': (g) => {
    const s = Buffer.from(`ci:${g.alnum(16)}`).toString('base64');
    return val(s, `Authorization: Basic ${s}`);
  },
  'authorization-token': (g) => {
    const s = g.b64url(32);
    return val(s, `X-Api-Key: ${s}`);
  },
  'generic-password': (g) => {
    const s = p(g.alnum(9), '#', g.alnum(5));
    return val(s, `db_password: ${s}`);
  },
  'generic-secret': (g) => {
    const s = g.b64url(32);
    return val(s, `client_secret = "${s}"`);
  },
  'generic-token': (g) => {
    const s = g.hex(40);
    return val(s, `"refresh_token": "${s}"`);
  },
  'generic-api-key': (g) => {
    const s = g.b64url(32);
    return val(s, `API_KEY=${s}`);
  },
  'cli-secret-flag': (g) => {
    const s = p(g.alnum(10), '$', g.alnum(4));
    return val(s, `mysql -h db -u root --password '${s}' app`);
  },
  'cli-password-attached': (g) => {
    const s = p(g.alnum(6), '!', g.digits(4));
    return val(s, `mysqldump -h db.internal -u backup -p${s} --single-transaction prod`);
  },
  'cli-password-option': (g) => {
    const s = p(g.alnum(8), g.digits(2));
    return val(s, `redis-cli -h cache.internal -p 6379 -a ${s} ping`);
  },
  'env-password-assignment': (g) => {
    const s = p(g.alnum(7), g.digits(3));
    return val(s, `PGPASSWORD=${s} psql -h db.internal -U app prod`);
  },
  'netrc-password': (g) => {
    const s = p(g.alnum(12));
    return val(s, `machine api.example.com login ci password ${s}`);
  },
};

/** Fills in examples whose text depends on the secret (the URL rules above). */
export function render(rule: string, ex: Example): Example {
  const scheme: Record<string, string> = {
    'postgres-uri': 'postgresql',
    'mysql-uri': 'mysql',
    'mongodb-uri': 'mongodb',
    'mongodb-srv-uri': 'mongodb+srv',
    'redis-uri': 'rediss',
    'amqp-uri': 'amqps',
    'url-userinfo': 'https',
  };
  if (scheme[rule])
    return { ...ex, text: `connecting to ${scheme[rule]}://${ex.secret}@host.internal:1234/db` };
  if (rule === 'mailgun-api-key') return { ...ex, text: `MAILGUN_API_KEY=${ex.secret}  # mailgun` };
  if (ex.text === '') return { ...ex, text: ex.secret };
  return ex;
}
