// The `gitgate` section of the configuration schema: where each repository's upstream is, with
// which credential from the secrets broker, and the push rules every agent push is held to.

import { duration, obj, path, size } from './schema-parts.js';

const globs = (description: string, dflt: readonly string[]) =>
  ({
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 512 },
    maxItems: 256,
    description,
    default: dflt,
  }) as const;

export const gitgateSchema = obj({
  enabled: {
    type: 'boolean',
    description:
      'Serve the git gate: runs reach it as http://git.rampart.internal/ORG/NAME.git through their egress channel. Off: the name answers nothing, and no push gets through Rampart.',
    default: true,
  },
  git: path('The git program the gate runs (receive-pack, upload-pack, http-backend).', 'git'),
  upstreams: {
    type: 'array',
    maxItems: 1000,
    default: [],
    description:
      'Where repositories live, first match wins. A run bound to a repository no entry names can neither fetch nor push.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['repos', 'url'],
      properties: {
        repos: {
          type: 'string',
          pattern: '^[A-Za-z0-9_.*-]+/[A-Za-z0-9_.*-]+$',
          description: 'Repositories this entry serves, ORG/NAME with * for any part (acme/*).',
        },
        url: {
          type: 'string',
          pattern: '^(https?|file)://',
          description:
            'The upstream URL; {repo}, {org} and {name} are replaced (https://github.com/{repo}.git).',
        },
        credential: {
          type: 'string',
          pattern: '^vault:[^/]+/.+$',
          description:
            "The upstream credential, from the secrets broker as vault:VAULT/NAME ({org}, {name} and {repo} replaced): a stored secret (a token, or USER:PASSWORD), or a dynamic engine's role (a GitHub App installation token for that one repository). Read for each use, decided by policy as secret.use; never given to the agent.",
        },
        username: {
          type: 'string',
          minLength: 1,
          maxLength: 128,
          description: 'The user name sent with a token credential.',
          default: 'x-access-token',
        },
      },
    },
  },
  rules: obj(
    {
      branch: {
        type: 'string',
        minLength: 1,
        maxLength: 256,
        description:
          "The branches a run may push, as a glob where {task} is the run's task (* is any characters but /).",
        default: 'agent/issue-{task}-*',
      },
      protected: globs('Branches never pushed by an agent, besides the upstream default branch (HEAD).', [
        'main',
        'master',
        'release/*',
      ]),
      ci_paths: globs('CI configuration: changes need the ci.edit capability.', [
        '.github/workflows/**',
        '.github/actions/**',
        '.gitlab-ci.yml',
        '.gitlab/ci/**',
        '.circleci/**',
        'Jenkinsfile',
        '.buildkite/**',
        'azure-pipelines.yml',
        '.travis.yml',
        '.drone.yml',
      ]),
      owner_paths: globs('Ownership and review rules: changes need the codeowners.edit capability.', [
        '**/CODEOWNERS',
      ]),
      dependency_paths: globs('Dependency manifests and lockfiles: changes need the deps.edit capability.', [
        '**/package.json',
        '**/package-lock.json',
        '**/npm-shrinkwrap.json',
        '**/yarn.lock',
        '**/pnpm-lock.yaml',
        '**/requirements*.txt',
        '**/Pipfile',
        '**/Pipfile.lock',
        '**/poetry.lock',
        '**/pyproject.toml',
        '**/go.mod',
        '**/go.sum',
        '**/Cargo.toml',
        '**/Cargo.lock',
        '**/Gemfile',
        '**/Gemfile.lock',
        '**/pom.xml',
        '**/build.gradle',
        '**/build.gradle.kts',
        '**/composer.json',
        '**/composer.lock',
      ]),
      max_file_size: size('Largest file a push may add.', '10m'),
      max_files: {
        type: 'integer',
        minimum: 1,
        maximum: 1000000,
        description: 'Most files one push may change.',
        default: 2000,
      },
      scan_secrets: {
        type: 'boolean',
        description:
          "Scan every line a push adds (in every commit, not only the last) with Rampart's secret scanner; a finding refuses the push.",
        default: true,
      },
      message_task: {
        type: 'boolean',
        description: "Every pushed commit's message must name the run's task (#123, issue-123, PROJ-123).",
        default: true,
      },
    },
    { description: 'The checks of every push. Each refusal can be waived by policy (git.push).' },
  ),
  max_push: size('Largest push (its pack) the gate accepts; a larger one is cut off.', '1g'),
  timeout: duration('Longest a fetch or push may take, upstream included, before it fails.', '5m'),
});
