// The rule set. Each rule: a stable id, the label it redacts with, keywords for the one-pass
// prefilter, and a pattern that is anchored at a keyword occurrence (sticky, so it never scans),
// uses only bounded quantifiers, and is proven free of catastrophic backtracking by a test
// (recheck). Optional: an entropy floor, a validator (checksum, structure), a look-back for
// formats whose fixed part is not at the start.
//
// The secret is the first capture group that matched, or the whole match when a pattern has none.

import type { Severity } from '../core/types.js';
import { base64Credentials, checksumToken, entropy, jwtStructure } from './validate.js';
import { isReference } from './refs.js';

export interface RuleContext {
  /** The text being scanned and the span of the whole match in it. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface Rule {
  readonly id: string;
  readonly description: string;
  /** Redacted as [REDACTED-<label>]; an empty label redacts as [REDACTED] (URL userinfo). */
  readonly label: string;
  /** Family for reporting and corpus scoring: github, aws, pem, url, generic, ... */
  readonly kind: string;
  readonly severity: Severity;
  /** Case-insensitive; the pattern is tried where one occurs. */
  readonly keywords: readonly string[];
  /** Tried at the keyword's start (sticky); flags other than y and g are kept. */
  readonly pattern: RegExp;
  /**
   * For formats whose fixed part is not at the start: the match starts at most `max` characters
   * before the keyword, over characters of class `cls` (a one-character regex).
   */
  readonly back?: { readonly max: number; readonly cls: RegExp };
  /** The character before the match must not be a letter, digit or underscore. */
  readonly boundary?: boolean;
  /** Minimum Shannon entropy of the secret, bits per character. */
  readonly entropy?: number;
  readonly validate?: (secret: string, ctx: RuleContext) => boolean;
  /** Apply the placeholder allowlist (default true; long structured secrets such as keys opt out). */
  readonly placeholders?: boolean;
  /** Overlapping findings: the higher priority wins (specific formats over generic context rules). */
  readonly priority?: number;
}

const A = '[A-Za-z0-9]';
// Token bodies end where their length ends, with no look-ahead: a token glued to the text after
// it (`ghp_...x`, in a log that concatenates) is still a token, and its length bound, checksum or
// entropy, not the next character, is what tells it from a longer random string.

function token(
  id: string,
  kind: string,
  label: string,
  description: string,
  prefix: string,
  body: string,
  extra: Partial<Rule> = {},
): Rule {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return {
    id,
    kind,
    label,
    description,
    severity: 'high',
    keywords: [prefix],
    pattern: new RegExp(`${escaped}${body}`),
    boundary: true,
    priority: 20,
    ...extra,
  };
}

/** `key = value` in env files, YAML, JSON, INI, TOML and code: quoted or bare, possibly JSON-escaped. */
function assignment(keySource: string, valueSource: string): RegExp {
  return new RegExp(
    `(?:${keySource})[\\w.-]{0,24}?\\\\{0,2}["'\`]?\\s{0,4}(?::=|=>|[:=])\\s{0,4}\\\\{0,2}["'\`]?(${valueSource})`,
    'i',
  );
}

const GENERIC_VALUE = '[^\\s"\'`,;\\\\<>{}()\\[\\]]{8,200}';

export const RULES: readonly Rule[] = [
  // ------------------------------------------------------------------ GitHub
  token(
    'github-pat-classic',
    'github',
    'GITHUB-TOKEN',
    'GitHub personal access token (classic)',
    'ghp_',
    `${A}{36}`,
    {
      validate: checksumToken,
    },
  ),
  token('github-oauth', 'github', 'GITHUB-TOKEN', 'GitHub OAuth access token', 'gho_', `${A}{36}`, {
    validate: checksumToken,
  }),
  token(
    'github-user-to-server',
    'github',
    'GITHUB-TOKEN',
    'GitHub App user-to-server token',
    'ghu_',
    `${A}{36}`,
    {
      validate: checksumToken,
    },
  ),
  token(
    'github-server-to-server',
    'github',
    'GITHUB-TOKEN',
    'GitHub App installation (server-to-server) token',
    'ghs_',
    `${A}{36}`,
    {
      validate: checksumToken,
    },
  ),
  token('github-refresh', 'github', 'GITHUB-TOKEN', 'GitHub refresh token', 'ghr_', `${A}{36}`, {
    validate: checksumToken,
  }),
  token(
    'github-fine-grained-pat',
    'github',
    'GITHUB-TOKEN',
    'GitHub fine-grained personal access token',
    'github_pat_',
    `${A}{22}_${A}{59}`,
    {
      entropy: 4,
    },
  ),

  // ------------------------------------------------------------------ GitLab
  token(
    'gitlab-pat',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab personal, project or group access token',
    'glpat-',
    `[A-Za-z0-9_-]{20,64}(?:\\.[A-Za-z0-9_-]{2,12}){0,2}`,
    {
      entropy: 3.5,
    },
  ),
  token(
    'gitlab-pipeline-trigger',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab pipeline trigger token',
    'glptt-',
    `[A-Za-z0-9_-]{40}`,
  ),
  token(
    'gitlab-runner-registration',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab runner registration token',
    'GR1348941',
    `[A-Za-z0-9_-]{20}`,
  ),
  token(
    'gitlab-runner-auth',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab runner authentication token',
    'glrt-',
    `[A-Za-z0-9_.-]{20,80}`,
  ),
  token(
    'gitlab-deploy-token',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab deploy token',
    'gldt-',
    `[A-Za-z0-9_-]{20,64}`,
  ),
  token('gitlab-feed-token', 'gitlab', 'GITLAB-TOKEN', 'GitLab feed token', 'glft-', `[A-Za-z0-9_-]{20,64}`),
  token(
    'gitlab-oauth-secret',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab OAuth application secret',
    'gloas-',
    `[A-Za-z0-9_-]{64}`,
  ),
  token(
    'gitlab-scim-token',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab SCIM token',
    'glsoat-',
    `[A-Za-z0-9_-]{20,64}`,
  ),
  token(
    'gitlab-incoming-mail',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab incoming mail token',
    'glimt-',
    `[A-Za-z0-9_-]{25,64}`,
  ),
  token(
    'gitlab-agent-token',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab agent for Kubernetes token',
    'glagent-',
    `[A-Za-z0-9_-]{50,100}`,
  ),
  token(
    'gitlab-ci-job-token',
    'gitlab',
    'GITLAB-TOKEN',
    'GitLab CI/CD job token',
    'glcbt-',
    `[A-Za-z0-9]{1,5}_[A-Za-z0-9_-]{20,64}`,
  ),

  // ------------------------------------------------------------------ AWS
  {
    id: 'aws-access-key-id',
    kind: 'aws',
    label: 'AWS-ACCESS-KEY-ID',
    description: 'AWS access key id (long-term AKIA, temporary ASIA, and other principal prefixes)',
    severity: 'high',
    keywords: ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'APKA'],
    pattern: /(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}/,
    boundary: true,
    priority: 20,
  },
  {
    id: 'aws-secret-access-key',
    kind: 'aws',
    label: 'AWS-SECRET-ACCESS-KEY',
    description: 'AWS secret access key, next to its name (env, JSON, INI, YAML, command-line flags)',
    severity: 'critical',
    keywords: [
      'secret_access_key',
      'secretaccesskey',
      'secret-access-key',
      'aws_secret_key',
      'aws-secret-key',
      'awssecretkey',
    ],
    pattern:
      /(?:secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)\\{0,2}["'`]?(?:\s{0,4}(?::=|=>|[:=])\s{0,4}|\s{1,4})\\{0,2}["'`]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/i,
    entropy: 3.5,
    priority: 30,
  },
  {
    id: 'aws-session-token',
    kind: 'aws',
    label: 'AWS-SESSION-TOKEN',
    description: 'AWS session (security) token',
    // The value is consumed atomically (lookahead, then backreference): a run that is too long
    // fails in one pass instead of backtracking through it.
    severity: 'high',
    keywords: ['session_token', 'sessiontoken', 'session-token', 'security_token', 'securitytoken'],
    pattern:
      /(?:session|security)[_-]?token\\{0,2}["'`]?(?:\s{0,4}(?::=|=>|[:=])\s{0,4}|\s{1,4})\\{0,2}["'`]?(?=([A-Za-z0-9/+=]{100,2048}))\1(?![A-Za-z0-9/+=])/i,
    entropy: 4,
    priority: 30,
  },
  token(
    'aws-mws-key',
    'aws',
    'AWS-MWS-KEY',
    'Amazon Marketplace Web Service auth token',
    'amzn.mws.',
    '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  ),

  // ------------------------------------------------------------------ Google Cloud
  token(
    'gcp-api-key',
    'gcp',
    'GCP-API-KEY',
    'Google Cloud / Firebase / Gemini API key',
    'AIza',
    `[0-9A-Za-z_-]{35}`,
  ),
  token(
    'gcp-oauth-client-secret',
    'gcp',
    'GCP-OAUTH-SECRET',
    'Google OAuth client secret',
    'GOCSPX-',
    `[A-Za-z0-9_-]{28}`,
  ),
  token(
    'google-oauth-access-token',
    'gcp',
    'GOOGLE-OAUTH-TOKEN',
    'Google OAuth access token',
    'ya29.',
    `[0-9A-Za-z_-]{30,2048}`,
    {
      entropy: 4,
    },
  ),
  token(
    'google-oauth-refresh-token',
    'gcp',
    'GOOGLE-OAUTH-TOKEN',
    'Google OAuth refresh token',
    '1//0',
    `[0-9A-Za-z_-]{30,512}`,
    {
      entropy: 4,
    },
  ),
  {
    id: 'gcp-service-account-key-id',
    kind: 'gcp',
    label: 'GCP-PRIVATE-KEY-ID',
    description: 'Google service-account private key id (the key itself is caught by the private-key rule)',
    severity: 'medium',
    keywords: ['private_key_id'],
    pattern: /private_key_id\\{0,2}"\s{0,4}:\s{0,4}\\{0,2}"([0-9a-f]{40})/,
    priority: 30,
  },

  // ------------------------------------------------------------------ Azure
  {
    id: 'azure-storage-account-key',
    kind: 'azure',
    label: 'AZURE-STORAGE-KEY',
    description: 'Azure Storage account key in a connection string (AccountKey=)',
    severity: 'critical',
    keywords: ['accountkey='],
    pattern: /AccountKey=([A-Za-z0-9+/]{86}==)/i,
    priority: 30,
  },
  {
    id: 'azure-shared-access-key',
    kind: 'azure',
    label: 'AZURE-SHARED-ACCESS-KEY',
    description: 'Azure Service Bus / Event Hubs / IoT Hub shared access key (SharedAccessKey=)',
    severity: 'critical',
    keywords: ['sharedaccesskey='],
    pattern: /SharedAccessKey=([A-Za-z0-9+/]{42,44}={0,2})/i,
    entropy: 4,
    priority: 30,
  },
  {
    id: 'azure-sas-token',
    kind: 'azure',
    label: 'AZURE-SAS-SIGNATURE',
    description: 'Azure shared access signature (sig= in a SAS URL or token)',
    severity: 'high',
    keywords: ['sig='],
    pattern: /sig=((?:[A-Za-z0-9+/]|%2[BbFf]|%3[Dd]){40,120})/,
    validate: (_s, ctx) =>
      /[?&;]sv=\d{4}-\d{2}-\d{2}/.test(ctx.text.slice(Math.max(0, ctx.start - 400), ctx.end + 400)),
    priority: 30,
  },
  {
    id: 'azure-ad-client-secret',
    kind: 'azure',
    label: 'AZURE-CLIENT-SECRET',
    description: 'Microsoft Entra ID (Azure AD) application client secret',
    severity: 'critical',
    keywords: ['8q~', '7q~', '6q~', '5q~', '4q~', '3q~', '2q~', '1q~', '0q~', '9q~'],
    pattern: /[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/,
    back: { max: 3, cls: /[A-Za-z0-9_~.-]/ },
    boundary: true,
    entropy: 3.5,
    priority: 20,
  },

  // ------------------------------------------------------------------ Slack
  token(
    'slack-bot-token',
    'slack',
    'SLACK-TOKEN',
    'Slack bot token',
    'xoxb-',
    `[0-9]{10,13}-[0-9]{10,13}-${A}{24,34}`,
  ),
  token(
    'slack-user-token',
    'slack',
    'SLACK-TOKEN',
    'Slack user token',
    'xoxp-',
    `[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-f0-9]{32}`,
  ),
  token(
    'slack-app-token',
    'slack',
    'SLACK-TOKEN',
    'Slack app-level token',
    'xapp-',
    `[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[a-f0-9]{64}`,
  ),
  token(
    'slack-config-token',
    'slack',
    'SLACK-TOKEN',
    'Slack configuration token',
    'xoxe.xox',
    `[bp]-[0-9]-[A-Za-z0-9]{160,170}`,
  ),
  token(
    'slack-config-refresh-token',
    'slack',
    'SLACK-TOKEN',
    'Slack configuration refresh token',
    'xoxe-',
    `[0-9]-[A-Za-z0-9]{140,150}`,
  ),
  {
    id: 'slack-legacy-token',
    kind: 'slack',
    label: 'SLACK-TOKEN',
    description: 'Slack legacy workspace, refresh or session token (xoxa, xoxr, xoxs, xoxo)',
    severity: 'high',
    keywords: ['xoxa-', 'xoxr-', 'xoxs-', 'xoxo-'],
    pattern: /xox[arso]-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9]{10,64}(?![A-Za-z0-9])/,
    boundary: true,
    priority: 20,
  },
  {
    id: 'slack-webhook',
    kind: 'slack',
    label: 'SLACK-WEBHOOK',
    description: 'Slack incoming webhook or workflow trigger URL',
    severity: 'high',
    keywords: ['hooks.slack.com/'],
    pattern:
      /hooks\.slack\.com\/(?:services|workflows|triggers)\/((?:[A-Za-z0-9_]{6,16}\/){1,2}[A-Za-z0-9_]{20,48})/,
    priority: 20,
  },

  // ------------------------------------------------------------------ Payments
  {
    id: 'stripe-secret-key',
    kind: 'stripe',
    label: 'STRIPE-KEY',
    description: 'Stripe secret key (live or test)',
    severity: 'critical',
    keywords: ['sk_live_', 'sk_test_'],
    pattern: /sk_(?:live|test)_[0-9a-zA-Z]{24,247}(?![0-9a-zA-Z])/,
    boundary: true,
    priority: 20,
  },
  {
    id: 'stripe-restricted-key',
    kind: 'stripe',
    label: 'STRIPE-KEY',
    description: 'Stripe restricted key',
    severity: 'high',
    keywords: ['rk_live_', 'rk_test_'],
    pattern: /rk_(?:live|test)_[0-9a-zA-Z]{24,247}(?![0-9a-zA-Z])/,
    boundary: true,
    priority: 20,
  },
  token(
    'stripe-webhook-secret',
    'stripe',
    'STRIPE-WEBHOOK-SECRET',
    'Stripe webhook signing secret',
    'whsec_',
    `[0-9a-zA-Z+/]{32,88}`,
    {
      entropy: 3.5,
    },
  ),
  token(
    'square-access-token',
    'payments',
    'SQUARE-TOKEN',
    'Square access token',
    'sq0atp-',
    `[0-9A-Za-z_-]{22}`,
  ),
  token(
    'square-oauth-secret',
    'payments',
    'SQUARE-TOKEN',
    'Square OAuth secret',
    'sq0csp-',
    `[0-9A-Za-z_-]{43}`,
  ),
  {
    id: 'braintree-access-token',
    kind: 'payments',
    label: 'BRAINTREE-TOKEN',
    description: 'PayPal Braintree access token',
    severity: 'critical',
    keywords: ['access_token$production$', 'access_token$sandbox$'],
    pattern: /access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}/,
    priority: 20,
  },

  // ------------------------------------------------------------------ AI providers
  token(
    'openai-project-key',
    'openai',
    'OPENAI-KEY',
    'OpenAI project API key',
    'sk-proj-',
    `[A-Za-z0-9_-]{40,250}`,
    { entropy: 4 },
  ),
  token(
    'openai-service-account-key',
    'openai',
    'OPENAI-KEY',
    'OpenAI service account key',
    'sk-svcacct-',
    `[A-Za-z0-9_-]{40,250}`,
    {
      entropy: 4,
    },
  ),
  token(
    'openai-admin-key',
    'openai',
    'OPENAI-KEY',
    'OpenAI admin key',
    'sk-admin-',
    `[A-Za-z0-9_-]{40,250}`,
    { entropy: 4 },
  ),
  {
    id: 'openai-legacy-key',
    kind: 'openai',
    label: 'OPENAI-KEY',
    description: 'OpenAI user API key (legacy format, T3BlbkFJ marker)',
    severity: 'critical',
    keywords: ['t3blbkfj'],
    pattern: /sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?![A-Za-z0-9])/,
    back: { max: 23, cls: /[A-Za-z0-9-]/ },
    boundary: true,
    priority: 20,
  },
  token(
    'anthropic-api-key',
    'anthropic',
    'ANTHROPIC-KEY',
    'Anthropic API key',
    'sk-ant-api03-',
    `[A-Za-z0-9_-]{93}AA`,
  ),
  token(
    'anthropic-admin-key',
    'anthropic',
    'ANTHROPIC-KEY',
    'Anthropic admin API key',
    'sk-ant-admin01-',
    `[A-Za-z0-9_-]{93}AA`,
  ),
  {
    id: 'anthropic-oauth-token',
    kind: 'anthropic',
    label: 'ANTHROPIC-KEY',
    description: 'Anthropic OAuth access or refresh token (Claude Code sessions)',
    severity: 'critical',
    keywords: ['sk-ant-oat', 'sk-ant-ort'],
    pattern: /sk-ant-o[ar]t[0-9]{2}-[A-Za-z0-9_-]{60,200}(?![A-Za-z0-9_-])/,
    boundary: true,
    entropy: 4,
    priority: 20,
  },
  token(
    'huggingface-token',
    'huggingface',
    'HUGGINGFACE-TOKEN',
    'Hugging Face access token',
    'hf_',
    `[A-Za-z]{34}`,
    { entropy: 3.8 },
  ),
  token(
    'huggingface-org-token',
    'huggingface',
    'HUGGINGFACE-TOKEN',
    'Hugging Face organization API token',
    'api_org_',
    `[A-Za-z]{34}`,
    {
      entropy: 3.8,
    },
  ),
  token('replicate-token', 'ai', 'REPLICATE-TOKEN', 'Replicate API token', 'r8_', `[A-Za-z0-9]{37}`, {
    entropy: 3.8,
  }),
  token('groq-api-key', 'ai', 'GROQ-KEY', 'Groq API key', 'gsk_', `[A-Za-z0-9]{52}`, {
    entropy: 4,
  }),
  token('perplexity-api-key', 'ai', 'PERPLEXITY-KEY', 'Perplexity API key', 'pplx-', `[A-Za-z0-9]{48}`, {
    entropy: 4,
  }),
  token('xai-api-key', 'ai', 'XAI-KEY', 'xAI API key', 'xai-', `[A-Za-z0-9]{80}`, { entropy: 4 }),

  // ------------------------------------------------------------------ Package registries and CI
  token('npm-token', 'npm', 'NPM-TOKEN', 'npm access token', 'npm_', `${A}{36}`, {
    validate: checksumToken,
  }),
  {
    id: 'npmrc-auth-token',
    kind: 'npm',
    label: 'NPM-TOKEN',
    description: 'Registry credential in .npmrc (_authToken, _auth, _password)',
    severity: 'high',
    keywords: ['_authtoken', '_auth=', '_password='],
    // .npmrc keys stand at the start of a line or after a registry's `:` (//host/:_authToken=);
    // Compose's POSTGRES_PASSWORD= is not one.
    pattern: /(?<=^|[:\s])_(?:authToken|auth|password)\s{0,4}=\s{0,4}["']?([A-Za-z0-9+/=._-]{8,512})/im,
    entropy: 3,
    priority: 30,
  },
  token(
    'pypi-token',
    'pypi',
    'PYPI-TOKEN',
    'PyPI upload token',
    'pypi-AgEIcHlwaS5vcmc',
    `[A-Za-z0-9_-]{50,300}`,
  ),
  token(
    'pypi-test-token',
    'pypi',
    'PYPI-TOKEN',
    'TestPyPI upload token',
    'pypi-AgENdGVzdC5weXBpLm9yZw',
    `[A-Za-z0-9_-]{50,300}`,
  ),
  token(
    'dockerhub-pat',
    'docker',
    'DOCKER-TOKEN',
    'Docker Hub personal access token',
    'dckr_pat_',
    `[A-Za-z0-9_-]{27}`,
  ),
  token(
    'dockerhub-oat',
    'docker',
    'DOCKER-TOKEN',
    'Docker Hub organization access token',
    'dckr_oat_',
    `[A-Za-z0-9_-]{32}`,
  ),
  {
    id: 'docker-config-auth',
    kind: 'docker',
    label: 'DOCKER-AUTH',
    description: 'Registry credential in a Docker config.json ("auth": base64 of user:password)',
    severity: 'high',
    keywords: ['"auth"'],
    pattern: /"auth"\s{0,4}:\s{0,4}"([A-Za-z0-9+/]{8,512}={0,2})"/,
    validate: base64Credentials,
    priority: 30,
  },
  token('rubygems-token', 'registry', 'RUBYGEMS-TOKEN', 'RubyGems API key', 'rubygems_', `[a-f0-9]{48}`),
  token('nuget-api-key', 'registry', 'NUGET-KEY', 'NuGet API key', 'oy2', `[a-z0-9]{43}`, {
    entropy: 4,
  }),
  token('clojars-token', 'registry', 'CLOJARS-TOKEN', 'Clojars deploy token', 'CLOJARS_', `[a-z0-9]{60}`),
  token(
    'circleci-pat',
    'ci',
    'CIRCLECI-TOKEN',
    'CircleCI personal API token',
    'CCIPAT_',
    `[A-Za-z0-9]{22}_[a-f0-9]{40}`,
  ),
  token('buildkite-token', 'ci', 'BUILDKITE-TOKEN', 'Buildkite API access token', 'bkua_', `[a-f0-9]{40}`),
  token('postman-api-key', 'ci', 'POSTMAN-KEY', 'Postman API key', 'PMAK-', `[a-f0-9]{24}-[a-f0-9]{34}`),

  // ------------------------------------------------------------------ Messaging and email
  {
    id: 'twilio-api-key',
    kind: 'twilio',
    label: 'TWILIO-KEY',
    description: 'Twilio API key SID, next to its name',
    severity: 'high',
    keywords: ['twilio'],
    pattern:
      /twilio[\w.-]{0,20}?(?:api[_-]?key|key[_-]?sid|sid)\\{0,2}["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}\\{0,2}["'`]?(SK[0-9a-f]{32})(?![A-Za-z0-9])/i,
    priority: 30,
  },
  {
    id: 'twilio-auth-token',
    kind: 'twilio',
    label: 'TWILIO-AUTH-TOKEN',
    description: 'Twilio auth token, next to its name',
    severity: 'critical',
    keywords: ['twilio'],
    pattern:
      /twilio[\w.-]{0,20}?(?:auth[_-]?token|secret|token)\\{0,2}["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}\\{0,2}["'`]?([a-f0-9]{32})(?![A-Za-z0-9])/i,
    priority: 30,
  },
  {
    id: 'sendgrid-api-key',
    kind: 'sendgrid',
    label: 'SENDGRID-KEY',
    description: 'SendGrid API key',
    severity: 'high',
    keywords: ['SG.'],
    pattern: /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/,
    boundary: true,
    priority: 20,
  },
  token('mailgun-api-key', 'email', 'MAILGUN-KEY', 'Mailgun private API key', 'key-', `[0-9a-z]{32}`, {
    validate: (_s, ctx) => /mailgun/i.test(ctx.text.slice(Math.max(0, ctx.start - 200), ctx.end + 200)),
    entropy: 3.5,
    priority: 15,
  }),
  {
    id: 'mailchimp-api-key',
    kind: 'email',
    label: 'MAILCHIMP-KEY',
    description: 'Mailchimp API key',
    severity: 'high',
    keywords: ['-us'],
    pattern: /[0-9a-f]{32}-us[0-9]{1,2}(?![0-9A-Za-z])/,
    back: { max: 32, cls: /[0-9a-f]/ },
    boundary: true,
    entropy: 3.3,
    priority: 20,
  },
  {
    id: 'discord-webhook',
    kind: 'chat',
    label: 'DISCORD-WEBHOOK',
    description: 'Discord webhook URL',
    severity: 'high',
    keywords: ['discord.com/api/webhooks/', 'discordapp.com/api/webhooks/'],
    pattern: /discord(?:app)?\.com\/api\/webhooks\/([0-9]{17,20}\/[A-Za-z0-9_-]{60,80})/,
    priority: 20,
  },
  {
    id: 'teams-webhook',
    kind: 'chat',
    label: 'TEAMS-WEBHOOK',
    description: 'Microsoft Teams incoming webhook URL',
    severity: 'high',
    keywords: ['.webhook.office.com/webhookb2/'],
    pattern: /\.webhook\.office\.com\/webhookb2\/([A-Za-z0-9@/-]{60,300})/,
    priority: 20,
  },
  {
    id: 'telegram-bot-token',
    kind: 'chat',
    label: 'TELEGRAM-TOKEN',
    description: 'Telegram bot token',
    severity: 'high',
    keywords: [':aa'],
    pattern: /[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])/,
    back: { max: 10, cls: /[0-9]/ },
    boundary: true,
    priority: 20,
  },

  // ------------------------------------------------------------------ Infrastructure and SaaS
  token('shopify-access-token', 'saas', 'SHOPIFY-TOKEN', 'Shopify access token', 'shpat_', `[a-fA-F0-9]{32}`),
  token(
    'shopify-custom-app-token',
    'saas',
    'SHOPIFY-TOKEN',
    'Shopify custom app access token',
    'shpca_',
    `[a-fA-F0-9]{32}`,
  ),
  token(
    'shopify-private-app-token',
    'saas',
    'SHOPIFY-TOKEN',
    'Shopify private app access token',
    'shppa_',
    `[a-fA-F0-9]{32}`,
  ),
  token(
    'shopify-shared-secret',
    'saas',
    'SHOPIFY-TOKEN',
    'Shopify shared secret',
    'shpss_',
    `[a-fA-F0-9]{32}`,
  ),
  token(
    'digitalocean-pat',
    'cloud',
    'DIGITALOCEAN-TOKEN',
    'DigitalOcean personal access token',
    'dop_v1_',
    `[a-f0-9]{64}`,
  ),
  token(
    'digitalocean-oauth',
    'cloud',
    'DIGITALOCEAN-TOKEN',
    'DigitalOcean OAuth token',
    'doo_v1_',
    `[a-f0-9]{64}`,
  ),
  token(
    'digitalocean-refresh',
    'cloud',
    'DIGITALOCEAN-TOKEN',
    'DigitalOcean refresh token',
    'dor_v1_',
    `[a-f0-9]{64}`,
  ),
  token('heroku-api-key', 'cloud', 'HEROKU-KEY', 'Heroku API key (new format)', 'HRKU-', `[A-Za-z0-9_-]{60}`),
  token('flyio-token', 'cloud', 'FLYIO-TOKEN', 'Fly.io access token', 'fo1_', `[A-Za-z0-9_-]{43}`),
  {
    id: 'flyio-macaroon',
    kind: 'cloud',
    label: 'FLYIO-TOKEN',
    description: 'Fly.io macaroon token',
    severity: 'high',
    keywords: ['fm1r_', 'fm1a_', 'fm2_'],
    pattern: /fm(?:1[ar]|2)_[A-Za-z0-9+/]{100,2048}={0,3}/,
    boundary: true,
    priority: 20,
  },
  token(
    'supabase-service-key',
    'cloud',
    'SUPABASE-KEY',
    'Supabase personal access token',
    'sbp_',
    `[a-f0-9]{40}`,
  ),
  token(
    'supabase-secret-key',
    'cloud',
    'SUPABASE-KEY',
    'Supabase secret API key',
    'sb_secret_',
    `[A-Za-z0-9_-]{31,64}`,
  ),
  {
    id: 'planetscale-token',
    kind: 'cloud',
    label: 'PLANETSCALE-TOKEN',
    description: 'PlanetScale service token, password or OAuth token',
    severity: 'high',
    keywords: ['pscale_tkn_', 'pscale_pw_', 'pscale_oauth_'],
    pattern: /pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}(?![A-Za-z0-9_.-])/,
    boundary: true,
    priority: 20,
  },
  token('linear-api-key', 'saas', 'LINEAR-KEY', 'Linear API key', 'lin_api_', `[A-Za-z0-9]{40}`),
  {
    id: 'doppler-token',
    kind: 'saas',
    label: 'DOPPLER-TOKEN',
    description: 'Doppler personal, service, CLI, SCIM or audit token',
    severity: 'high',
    keywords: ['dp.pt.', 'dp.st.', 'dp.ct.', 'dp.sa.', 'dp.scim.', 'dp.audit.'],
    pattern: /dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9._-]{40,64}(?![A-Za-z0-9])/,
    boundary: true,
    priority: 20,
  },
  token('pulumi-token', 'saas', 'PULUMI-TOKEN', 'Pulumi access token', 'pul-', `[a-f0-9]{40}`),
  {
    id: 'terraform-cloud-token',
    kind: 'saas',
    label: 'TERRAFORM-TOKEN',
    description: 'Terraform Cloud / Enterprise API token',
    severity: 'high',
    keywords: ['.atlasv1.'],
    pattern: /[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}(?![A-Za-z0-9_=-])/,
    back: { max: 14, cls: /[A-Za-z0-9]/ },
    boundary: true,
    priority: 20,
  },
  token(
    'vault-service-token',
    'vault',
    'VAULT-TOKEN',
    'HashiCorp Vault service token',
    'hvs.',
    `[A-Za-z0-9_-]{90,120}`,
  ),
  token(
    'vault-batch-token',
    'vault',
    'VAULT-TOKEN',
    'HashiCorp Vault batch token',
    'hvb.',
    `[A-Za-z0-9_-]{138,300}`,
  ),
  token(
    'onepassword-service-account',
    'vault',
    'ONEPASSWORD-TOKEN',
    '1Password service account token',
    'ops_eyJ',
    `[A-Za-z0-9+/=_-]{250,2048}`,
  ),
  {
    id: 'onepassword-secret-key',
    kind: 'vault',
    label: 'ONEPASSWORD-SECRET-KEY',
    description: '1Password account secret key',
    severity: 'critical',
    keywords: ['A3-'],
    pattern: /A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}/,
    boundary: true,
    priority: 20,
  },
  token(
    'databricks-token',
    'cloud',
    'DATABRICKS-TOKEN',
    'Databricks personal access token',
    'dapi',
    `[a-f0-9]{32}(?:-[0-9])?`,
    {
      entropy: 3.2,
    },
  ),
  {
    id: 'age-secret-key',
    kind: 'pem',
    label: 'PRIVATE-KEY',
    description: 'age encryption secret key',
    severity: 'critical',
    keywords: ['AGE-SECRET-KEY-1'],
    pattern: /AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/,
    boundary: true,
    priority: 20,
  },
  token(
    'sentry-org-token',
    'observability',
    'SENTRY-TOKEN',
    'Sentry organization auth token',
    'sntrys_eyJ',
    `[A-Za-z0-9+/=_-]{80,400}`,
  ),
  token(
    'sentry-user-token',
    'observability',
    'SENTRY-TOKEN',
    'Sentry user auth token',
    'sntryu_',
    `[a-f0-9]{64}`,
  ),
  token(
    'grafana-cloud-token',
    'observability',
    'GRAFANA-TOKEN',
    'Grafana Cloud access policy token',
    'glc_',
    `[A-Za-z0-9+/]{32,400}={0,2}`,
  ),
  token(
    'grafana-service-account-token',
    'observability',
    'GRAFANA-TOKEN',
    'Grafana service account token',
    'glsa_',
    `[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}`,
  ),
  token(
    'newrelic-user-key',
    'observability',
    'NEWRELIC-KEY',
    'New Relic user API key',
    'NRAK-',
    `[A-Z0-9]{27}`,
  ),
  token(
    'newrelic-insert-key',
    'observability',
    'NEWRELIC-KEY',
    'New Relic insights insert key',
    'NRII-',
    `[A-Za-z0-9_-]{32}`,
  ),
  {
    id: 'datadog-api-key',
    kind: 'observability',
    label: 'DATADOG-KEY',
    description: 'Datadog API or application key, next to its name',
    severity: 'high',
    keywords: [
      'dd_api_key',
      'dd_app_key',
      'datadog_api_key',
      'datadog_app_key',
      'dd-api-key',
      'dd-application-key',
      'datadog',
    ],
    pattern:
      /(?:dd|datadog)[\w.-]{0,20}?(?:api|app|application)[_-]?key\\{0,2}["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}\\{0,2}["'`]?([a-f0-9]{32,40})(?![A-Za-z0-9])/i,
    priority: 30,
  },
  {
    id: 'cloudflare-api-token',
    kind: 'cloud',
    label: 'CLOUDFLARE-TOKEN',
    description: 'Cloudflare API token or global API key, next to its name',
    severity: 'high',
    keywords: ['cloudflare', 'cf_api_token', 'cf_api_key'],
    pattern:
      /(?:cloudflare|cf)[\w.-]{0,20}?(?:token|key)\\{0,2}["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}\\{0,2}["'`]?([A-Za-z0-9_-]{37,40})(?![A-Za-z0-9_-])/i,
    entropy: 3.5,
    priority: 30,
  },
  token(
    'cloudflare-origin-ca-key',
    'cloud',
    'CLOUDFLARE-TOKEN',
    'Cloudflare Origin CA key',
    'v1.0-',
    `[a-f0-9]{24}-[a-f0-9]{146}`,
  ),
  {
    id: 'okta-api-token',
    kind: 'saas',
    label: 'OKTA-TOKEN',
    description: 'Okta API token, next to its name',
    severity: 'critical',
    keywords: ['okta'],
    pattern:
      /okta[\w.-]{0,20}?(?:token|key)\\{0,2}["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}\\{0,2}["'`]?(00[A-Za-z0-9_-]{40})(?![A-Za-z0-9_-])/i,
    priority: 30,
  },
  token(
    'facebook-access-token',
    'saas',
    'FACEBOOK-TOKEN',
    'Facebook / Meta access token',
    'EAAC',
    `[A-Za-z0-9]{100,400}`,
    { entropy: 4 },
  ),
  token(
    'mapbox-secret-token',
    'saas',
    'MAPBOX-TOKEN',
    'Mapbox secret access token',
    'sk.eyJ',
    `[A-Za-z0-9_-]{50,300}\\.[A-Za-z0-9_-]{20,100}`,
  ),
  token(
    'rampart-admin-token',
    'rampart',
    'RAMPART-TOKEN',
    'Rampart admin API token',
    'rampart_admin_',
    `[A-Za-z0-9_-]{43}`,
  ),

  // ------------------------------------------------------------------ Tokens by structure
  {
    id: 'jwt',
    kind: 'jwt',
    label: 'JWT',
    description: 'JSON Web Token (signed, three parts, header with "alg")',
    severity: 'high',
    keywords: ['eyJ'],
    pattern: /eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{0,1024}(?![A-Za-z0-9_-])/,
    boundary: true,
    validate: jwtStructure,
    priority: 15,
  },
  {
    id: 'private-key',
    kind: 'pem',
    label: 'PRIVATE-KEY',
    description:
      'PEM or OpenSSH private key of any type (RSA, EC, DSA, Ed25519, PKCS#8, encrypted, PGP), multi-line or JSON-escaped; a block cut off before its END line is redacted to where it stops',
    severity: 'critical',
    keywords: ['-----begin'],
    // A body never contains "-----", so it ends at the END line or at the next BEGIN: bodies of
    // different keys never overlap, which keeps scanning linear however many headers a line has.
    pattern:
      /-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----(?:\\{1,3}[rn]|[\r\n \t]|[A-Za-z0-9+/=:,.]|-(?!----)){0,32768}(?:-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----)?/,
    // A key has a base64 body; "-----BEGIN PRIVATE KEY-----\n...\n-----END" in documentation does not.
    validate: (secret) => /[A-Za-z0-9+/]{40}/.test(secret),
    placeholders: false,
    priority: 40,
  },
  {
    id: 'putty-private-key',
    kind: 'pem',
    label: 'PRIVATE-KEY',
    description: 'PuTTY private key file (PPK) private lines',
    severity: 'critical',
    keywords: ['private-lines:'],
    pattern:
      /Private-Lines: [0-9]{1,3}(?:\\r|\\n|[\r\n])((?:[A-Za-z0-9+/=]{1,128}(?:\\r|\\n|[\r\n]){1,2}){1,64})/,
    placeholders: false,
    priority: 40,
  },

  // ------------------------------------------------------------------ Credentials in URLs and connection strings
  ...(
    [
      ['postgres-uri', 'PostgreSQL connection string', ['postgres://', 'postgresql://'], 'postgres(?:ql)?'],
      [
        'mysql-uri',
        'MySQL / MariaDB connection string',
        ['mysql://', 'mariadb://', 'mysqlx://'],
        '(?:mysqlx?|mariadb)',
      ],
      ['mongodb-uri', 'MongoDB connection string', ['mongodb://'], 'mongodb'],
      ['mongodb-srv-uri', 'MongoDB SRV connection string', ['mongodb+srv://'], 'mongodb\\+srv'],
      [
        'redis-uri',
        'Redis / Valkey connection string',
        ['redis://', 'rediss://', 'valkey://'],
        '(?:rediss?|valkey)',
      ],
      ['amqp-uri', 'AMQP (RabbitMQ) connection string', ['amqp://', 'amqps://'], 'amqps?'],
    ] as const
  ).map(([id, description, keywords, scheme]): Rule => ({
    id,
    kind: 'url',
    label: '',
    description,
    severity: 'critical',
    keywords,
    pattern: new RegExp(`${scheme}:\\/\\/([^\\s:@\\/?#"'<>\`]{0,256}:[^\\s@\\/"'<>\`]{1,256})@`, 'i'),
    priority: 25,
  })),
  {
    id: 'url-userinfo',
    kind: 'url',
    label: '',
    description: 'Password in a URL (https://user:password@host, percent-encoded or not)',
    severity: 'high',
    keywords: ['://'],
    pattern: /:\/\/([^\s:@/?#"'<>`]{0,256}:[^\s@/"'<>`]{1,256})@/,
    priority: 20,
  },
  {
    id: 'url-password-parameter',
    kind: 'url',
    label: 'PASSWORD',
    description: 'Password in a URL query (?password=, &pwd=, JDBC URLs)',
    severity: 'high',
    keywords: ['password=', 'pwd=', 'passwd='],
    pattern: /(?:password|pwd|passwd)=([^&\s#"'<>`;]{1,256})/i,
    validate: (_s, ctx) => /[?&]$/.test(ctx.text.slice(Math.max(0, ctx.start - 1), ctx.start)),
    priority: 25,
  },
  {
    id: 'connection-string-password',
    kind: 'connection-string',
    label: 'PASSWORD',
    description: 'Password in an ADO.NET / ODBC / JDBC-style connection string (Password=...;)',
    severity: 'high',
    keywords: ['password=', 'pwd='],
    pattern: /(?:password|pwd)\s{0,2}=\s{0,2}([^;"'\r\n]{1,128})/i,
    validate: (_s, ctx) => {
      const before = ctx.text.slice(Math.max(0, ctx.start - 300), ctx.start);
      return (
        /;\s{0,2}$/.test(before) &&
        /(?:server|data source|host|user id|uid|database|initial catalog)\s{0,2}=/i.test(before)
      );
    },
    priority: 25,
  },

  // ------------------------------------------------------------------ HTTP authorization
  {
    id: 'authorization-bearer',
    kind: 'auth-header',
    label: 'BEARER-TOKEN',
    description: 'Bearer token (Authorization header, curl -H, logged request headers)',
    severity: 'high',
    keywords: ['bearer'],
    pattern: /bearer\s{1,4}([A-Za-z0-9._~+/-]{16,4096}={0,2})(?![A-Za-z0-9._~+/=-])/i,
    entropy: 3,
    priority: 10,
  },
  {
    id: 'authorization-basic',
    kind: 'auth-header',
    label: 'BASIC-CREDENTIALS',
    description: 'Basic credentials (Authorization: Basic base64(user:password))',
    severity: 'high',
    keywords: ['basic '],
    pattern: /basic\s{1,4}([A-Za-z0-9+/]{8,1024}={0,2})/i,
    validate: base64Credentials,
    priority: 10,
  },
  {
    id: 'authorization-token',
    kind: 'auth-header',
    label: 'AUTHORIZATION',
    description: 'Other Authorization / X-API-Key / X-Auth-Token header values',
    severity: 'high',
    keywords: ['authorization', 'x-api-key', 'x-auth-token', 'api-key:', 'private-token'],
    pattern:
      /(?:proxy-)?(?:authorization|x-api-key|x-auth-token|api-key|private-token)\\{0,2}["']?\s{0,4}[:=]\s{0,4}\\{0,2}["']?(?:(?:token|apikey|key|sso-key|digest)\s{1,4})?([A-Za-z0-9._~+/:=-]{16,4096})/i,
    entropy: 3,
    validate: (s) => !/^(?:bearer|basic)$/i.test(s),
    priority: 8,
  },

  // ------------------------------------------------------------------ Generic, gated by entropy
  {
    id: 'generic-password',
    kind: 'generic',
    label: 'PASSWORD',
    description: 'Password assigned to a key named like one (password, passwd, pwd), gated by entropy',
    severity: 'high',
    keywords: ['password', 'passwd', 'pwd'],
    pattern: assignment('password|passwd|pwd', '[^\\s"\'`,;\\\\<>]{6,200}'),
    entropy: 2.8,
    priority: 5,
  },
  {
    id: 'generic-secret',
    kind: 'generic',
    label: 'SECRET',
    description: 'Value of a key named secret, client_secret, secret_key ..., gated by entropy',
    severity: 'high',
    keywords: ['secret'],
    pattern: assignment('secret', GENERIC_VALUE),
    entropy: 3.3,
    priority: 5,
  },
  {
    id: 'generic-token',
    kind: 'generic',
    label: 'TOKEN',
    description: 'Value of a key named token, access_token, auth_token ..., gated by entropy',
    severity: 'high',
    keywords: ['token'],
    pattern: assignment('token', '[^\\s"\'`,;\\\\<>{}()\\[\\]]{16,4096}'),
    entropy: 3.5,
    priority: 5,
  },
  {
    id: 'generic-api-key',
    kind: 'generic',
    label: 'API-KEY',
    description:
      'Value of a key named api_key, apikey, access_key, private_key, credentials ..., gated by entropy',
    severity: 'high',
    keywords: [
      'api_key',
      'apikey',
      'api-key',
      'access_key',
      'accesskey',
      'access-key',
      'private_key',
      'privatekey',
      'credential',
      'auth_key',
      'signing_key',
      'encryption_key',
      'master_key',
    ],
    pattern: assignment(
      'api[_-]?key|access[_-]?key|private[_-]?key|privatekey|credentials?|auth[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key',
      GENERIC_VALUE,
    ),
    entropy: 3.5,
    priority: 5,
  },
  {
    id: 'cli-secret-flag',
    kind: 'generic',
    label: 'SECRET',
    description: 'Secret passed as a command-line flag (--password x, --token=x, --api-key x)',
    severity: 'high',
    keywords: [
      '--password',
      '--passwd',
      '--pass',
      '--token',
      '--api-key',
      '--apikey',
      '--secret',
      '--client-secret',
      '--access-token',
      '--auth-token',
    ],
    pattern:
      /--(?:password|passwd|pass|token|api-?key|secret|client-secret|access-token|auth-token)(?:=|\s{1,4})(?:"([^"\r\n]{4,256})"|'([^'\r\n]{4,256})'|([^\s"'`;|&]{4,256}))/i,
    // A password is a password whatever its entropy (`--password hunter2`); a token or key that
    // measures like a word is not one.
    validate: (s, ctx) =>
      !s.startsWith('-') &&
      !isReference(s) &&
      (/^--pass/i.test(ctx.text.slice(ctx.start, ctx.end)) || entropy(s) >= 2.5),
    priority: 12,
  },
  {
    id: 'cli-password-attached',
    kind: 'generic',
    label: 'PASSWORD',
    description:
      'Password attached to -p on a MySQL or MariaDB client command line (mysql -pSECRET; -p alone prompts)',
    severity: 'high',
    keywords: ['mysql', 'mariadb'],
    pattern:
      /(?:mysql(?:dump|admin|import|show|check|binlog|slap|pump|sh)?|mariadb(?:-dump|-admin|-import|-check|-show|-binlog)?)\b[^\n;|&]{0,300}?\s-p([^\s"'`;|&$(){}<>\\][^\s"'`;|&]{0,255})/,
    validate: (s) => !isReference(s),
    priority: 12,
  },
  {
    id: 'cli-password-option',
    kind: 'generic',
    label: 'PASSWORD',
    description:
      'Password given to a client by its own option: sshpass -p SECRET, redis-cli -a SECRET, curl -u user:SECRET',
    severity: 'high',
    keywords: ['sshpass', 'redis-cli', 'curl'],
    pattern:
      /(?:sshpass(?:\s{1,4}-(?:[fdP]\s{0,4}[^\s-]\S{0,128}|[evhV])){0,6}\s{1,4}-p\s{0,4}|redis-cli[^\n;|&]{0,300}?\s(?:-a|--pass)\s{1,4}|curl[^\n;|&]{0,300}?\s(?:-u\s{0,4}|--(?:proxy-)?user(?:=|\s{1,4}))["']?[^\s:"'$]{1,128}:)["']?([^\s"'`;|&$(){}<>\\][^\s"'`;|&]{0,255})/,
    validate: (s) => !isReference(s),
    priority: 12,
  },
  {
    id: 'env-password-assignment',
    kind: 'generic',
    label: 'PASSWORD',
    description:
      'Password in a client variable set for one command: PGPASSWORD=SECRET psql, MYSQL_PWD, REDISCLI_AUTH, SSHPASS',
    severity: 'high',
    keywords: ['pgpassword=', 'mysql_pwd=', 'rediscli_auth=', 'sshpass='],
    pattern: /(?:PGPASSWORD|MYSQL_PWD|REDISCLI_AUTH|SSHPASS)=["']?([^\s"'`;|&$(){}<>\\][^\s"'`;|&]{0,255})/i,
    validate: (s) => !isReference(s),
    priority: 12,
  },
  {
    id: 'netrc-password',
    kind: 'generic',
    label: 'PASSWORD',
    description: 'Password in a .netrc entry (machine host login user password secret)',
    severity: 'high',
    keywords: ['password '],
    pattern: /password\s{1,4}([^\s]{4,256})/i,
    validate: (_s, ctx) =>
      /machine\s+\S+\s+login\s+\S+\s+$/i.test(ctx.text.slice(Math.max(0, ctx.start - 300), ctx.start)),
    priority: 12,
  },
];
