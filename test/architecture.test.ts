// docs/architecture.md says which module may import which; this keeps it true. Every relative
// import in src/ is resolved to the module (first directory under src/) it lands in and checked
// against the table below, which mirrors the document's.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './support/cli.js';

const COMPONENTS = [
  'redact',
  'policy',
  'identity',
  'admission',
  'sandbox',
  'egress',
  'secrets',
  'detect',
  'respond',
  'notify',
  'sinks',
  'incidents',
  'breakglass',
  'gitgate',
  'drill',
  'console',
];

/**
 * module -> npm packages it may import (node: built-ins are free). A runtime dependency is one
 * module's business: the HTTP framework is the server's, the SQL drivers the store's, and a
 * component that wanted fastify would be reaching past its door.
 */
const PACKAGES: Record<string, readonly string[]> = {
  core: ['yaml'], // parseLocated: YAML with positions, shared by every parser of user files
  config: ['ajv'],
  store: ['pg', 'better-sqlite3'],
  log: ['pino'],
  cel: ['@marcbachmann/cel-js'],
  identity: ['jose'],
  policy: ['@marcbachmann/cel-js', 'yaml'],
  admission: ['@marcbachmann/cel-js', 'yaml'],
  redact: ['ignore'],
  // The in-sandbox preload is bundled with undici (a devDependency) into one file.
  sandbox: ['undici'],
  // The dynamic PostgreSQL engine and the PostgreSQL rotator speak to the database themselves.
  secrets: ['pg'],
  detect: ['@marcbachmann/cel-js'],
  respond: [],
  notify: ['nodemailer'],
  sinks: [],
  // The egress CA's certificates (X.509 on WebCrypto); the reflection polyfill its injector needs.
  egress: ['@peculiar/x509', 'reflect-metadata'],
  // Runbooks' front matter.
  incidents: ['yaml'],
  breakglass: [],
  gitgate: [],
  drill: [],
  // The browser code (src/console/web), bundled into dist/console at build time.
  console: ['preact', 'htm', 'uplot'],
  server: ['fastify', 'pino', 'prom-client'],
  cli: ['yaml'],
};

/** Files whose dynamic import() takes a computed specifier, and why that is safe. */
const COMPUTED_IMPORTS: Record<string, string> = {
  'src/cli/main.ts': 'loads ./commands/<name>.js for a name from its own COMMANDS table',
};

/** module -> modules it may import (besides itself). `store-types` is src/store/types.ts alone. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  config: ['core'],
  store: ['core', 'config'],
  audit: ['core', 'store'],
  events: ['core', 'store-types'],
  log: ['core'],
  cel: [],
  ...Object.fromEntries(COMPONENTS.map((c) => [c, ['core', 'store-types', 'cel']])),
  server: ['*'],
  cli: ['*'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('architecture', () => {
  it('every import in src/ is one docs/architecture.md allows', () => {
    const src = join(ROOT, 'src');
    const problems: string[] = [];
    for (const file of files(src)) {
      const from = relative(src, file).split(sep)[0]!;
      const allowed = MAY_IMPORT[from];
      assert.ok(
        allowed,
        `src/${from} is not in the architecture table; add it to docs/architecture.md and here`,
      );
      const text = readFileSync(file, 'utf8');
      const relativeSpecs = [
        ...text.matchAll(/^(?:import|export)\b[^;]*?from '(\.{1,2}\/[^']+)'/gms),
        ...text.matchAll(/\b(?:import|require)\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
      ];
      for (const m of relativeSpecs) {
        const target = relative(src, resolve(dirname(file), m[1]!));
        const parts = target.split(sep);
        const to =
          parts[0] === 'store' && parts[1] === 'types.js' && from !== 'store' ? 'store-types' : parts[0]!;
        if (to === from || allowed.includes('*') || allowed.includes(to)) continue;
        if (to === 'store-types' && allowed.includes('store')) continue;
        problems.push(
          `${relative(ROOT, file)} imports ${m[1]} (src/${from} may import ${allowed.join(', ') || 'nothing'})`,
        );
      }
    }
    assert.deepEqual(problems, []);
  });

  it('every npm package a module imports is one the table gives it, and every package is a dependency', () => {
    const src = join(ROOT, 'src');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const problems: string[] = [];
    for (const file of files(src)) {
      const from = relative(src, file).split(sep)[0]!;
      const text = readFileSync(file, 'utf8');
      const specs = [
        ...text.matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gms),
        ...text.matchAll(/\b(?:import|require)\(\s*'([^']+)'\s*\)/g),
      ].map((m) => m[1]!);
      for (const spec of specs) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!(PACKAGES[from] ?? []).includes(name))
          problems.push(
            `${relative(ROOT, file)} imports package ${name} (src/${from} may import ${PACKAGES[from]?.join(', ') || 'none'})`,
          );
        // Bundled at build time, so a devDependency: the sandbox's preload, the console's web code.
        const bundled = from === 'sandbox' || relative(src, file).startsWith(join('console', 'web'));
        if (!(name in pkg.dependencies) && !(bundled && name in pkg.devDependencies))
          problems.push(`${relative(ROOT, file)} imports ${name}, which is not a dependency in package.json`);
      }
      // A computed specifier escapes the tables above: allowed only where listed, with a reason.
      for (const m of text.matchAll(/\b(?:import|require)\(\s*([^'\s)][^)]*)\)/g)) {
        const where = relative(ROOT, file);
        if (m[1]!.startsWith('`')) problems.push(`${where} imports a template string ${m[1]}`);
        else if (!(where in COMPUTED_IMPORTS))
          problems.push(`${where} imports a computed specifier (${m[1]})`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('every component has one door, and only the server composes them', () => {
    const src = join(ROOT, 'src');
    const problems: string[] = [];
    for (const c of [...COMPONENTS.filter((c) => c !== 'redact'), 'audit', 'events']) {
      const door = join(src, c, 'component.ts');
      let text: string;
      try {
        text = readFileSync(door, 'utf8');
      } catch {
        problems.push(`src/${c}/ has no component.ts`);
        continue;
      }
      if (!/export (?:async )?function start[A-Z]\w*\(/.test(text))
        problems.push(`src/${c}/component.ts exports no start function`);
    }
    // Metrics belong to the component that counts them: the control plane registers only its own
    // (events published, refused requests).
    const cp = readFileSync(join(src, 'server', 'controlplane.ts'), 'utf8');
    for (const m of cp.matchAll(/metrics\.(?:counter|gauge)\(\s*'([^']+)'/g))
      if (!/^rampart_(events|auth)_/.test(m[1]!)) problems.push(`controlplane.ts registers ${m[1]}`);
    // Nobody but the server and the CLI imports a component's door.
    for (const file of files(src)) {
      const from = relative(src, file).split(sep)[0]!;
      if (from === 'server' || from === 'cli') continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from '(\.{1,2}\/[^']+\/component\.js)'/g)) {
        const to = relative(src, resolve(dirname(file), m[1]!)).split(sep)[0]!;
        if (to !== from && to !== 'core')
          problems.push(`${relative(ROOT, file)} imports another component's door ${m[1]}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the document lists every module under src/', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    for (const e of readdirSync(join(ROOT, 'src'), { withFileTypes: true })) {
      if (e.isDirectory())
        assert.match(
          doc,
          new RegExp(`src/${e.name}/`),
          `docs/architecture.md does not mention src/${e.name}/`,
        );
    }
  });
});
