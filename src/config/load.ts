// Loads rampart.yaml once: parse (YAML with positions), validate against the closed schema, turn
// into the typed Config, freeze. Every problem is reported with file:line:col and its key path,
// all of them in one pass, so a user fixes a config in one edit rather than one error at a time.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import validateGenerated from './validate.generated.js';
import { fastTrees } from '../core/fastyaml.js';
import { toPlain } from '../core/located.js';
import { LazyLocator, parseLocated, type Locating } from '../core/yaml.js';
import {
  RampartError,
  RampartErrorList,
  type ErrorCode,
  type SourceLocation,
  messageOf,
} from '../core/errors.js';
import { configSchema } from './schema.js';
import type { Config } from './types.js';
import { normalize, type RawConfig } from './normalize.js';

export type * from './types.js';
export { MAX_TOKEN_TTL_MS } from './types.js';
export { BUILTIN_PROFILES, parseListen } from './normalize.js';

export interface LoadOptions {
  /** Path given with --config; when set, a missing file is an error. */
  readonly file?: string | undefined;
  /** --data, which overrides data_dir. */
  readonly dataDir?: string | undefined;
  /** Directory relative paths on the command line are resolved against. */
  readonly cwd?: string;
}

export const DEFAULT_CONFIG_FILE = 'rampart.yaml';

/** Loads and validates the configuration. Throws RampartErrorList naming every problem. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const file = resolve(cwd, opts.file ?? DEFAULT_CONFIG_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.file === undefined) text = undefined;
    else if (code === 'ENOENT') {
      throw new RampartError('RAMPART_E_CONFIG_NOT_FOUND', `configuration file ${file} does not exist`);
    } else {
      throw new RampartError(
        'RAMPART_E_CONFIG_NOT_FOUND',
        `configuration file ${file} cannot be read (${code})`,
      );
    }
  }
  return parseConfig(text ?? '', text === undefined ? undefined : file, {
    dataDirOverride: opts.dataDir === undefined ? undefined : resolve(cwd, opts.dataDir),
    baseDir: text === undefined ? cwd : dirname(file),
  });
}

export interface ParseOptions {
  readonly dataDirOverride?: string | undefined;
  /** Directory that relative paths in the file are resolved against. */
  readonly baseDir: string;
}

/** What the fast reader takes on in a configuration file before handing it to the library. */
const CONFIG_TREE_LIMITS = { maxNodes: 100_000, maxDepth: 64 };

/** Parses configuration text. `file` names the source in errors (undefined: built-in defaults). */
export function parseConfig(text: string, file: string | undefined, opts: ParseOptions): Config {
  const where = file ?? '<defaults>';
  let raw: unknown;
  let locator: Locating;
  // Most configuration files are plain YAML the fast reader takes (every command reads one, and
  // the yaml library's composer costs milliseconds of each start); its values are the library's
  // (test/admission/fastyaml.test.ts). Positions are worked out only if a problem needs one.
  const fast = fastTrees(text, where, CONFIG_TREE_LIMITS, '1.2');
  if (fast !== undefined && fast.length <= 1) {
    raw = (fast.length === 0 ? undefined : toPlain(fast[0]!)) ?? {};
    locator = new LazyLocator(text, where);
  } else {
    const { doc, loc, errors } = parseLocated(text, where);
    locator = loc;
    if (errors.length > 0) {
      throw new RampartErrorList(
        errors.map((e) => new RampartError('RAMPART_E_CONFIG_PARSE', e.message, { location: e.location })),
      );
    }
    try {
      // A small alias budget: a config file has no business expanding one anchor thousands of times.
      raw = doc.toJS({ maxAliasCount: 64 }) ?? {};
    } catch (e) {
      throw new RampartError('RAMPART_E_CONFIG_PARSE', messageOf(e), { location: locator.at(0) });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RampartError(
      'RAMPART_E_CONFIG_INVALID',
      'the configuration must be a mapping of keys to values',
      {
        location: locator.at(0),
      },
    );
  }

  const validate = compileValidator();
  if (!validate(raw)) {
    throw new RampartErrorList(dedupe((validate.errors ?? []).map((e) => schemaError(e, locator))));
  }
  const problems: RampartError[] = [];
  // The validator has checked the tree against the schema and filled in its defaults: it is
  // what the schema's inferred type says (the one cast between them).
  const config = normalize(
    raw as RawConfig,
    { file, baseDir: opts.baseDir, dataDirOverride: opts.dataDirOverride, loc: locator },
    problems,
  );
  if (problems.length > 0) throw new RampartErrorList(problems);
  return deepFreeze(config);
}

// ---------------------------------------------------------------------------------------------

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaError(e: ErrorObject, loc: Locating): RampartError {
  const path = pointerToPath(e.instancePath);
  const dotted = formatPath(path);
  let code: ErrorCode = 'RAMPART_E_CONFIG_INVALID';
  let message: string;
  let location: SourceLocation;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      code = 'RAMPART_E_CONFIG_UNKNOWN_KEY';
      const known = knownKeys(path);
      const guess = closest(key, known);
      message =
        `unknown key "${formatPath([...path, key])}"` +
        (guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '');
      location = loc.key(path, key);
      break;
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      message = `missing required key "${formatPath([...path, key])}"`;
      location = loc.path(path);
      break;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      message = `${dotted}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
      location = loc.path(path);
      break;
    }
    case 'pattern':
      message = `${dotted}: ${describePattern(path)}`;
      location = loc.path(path);
      break;
    default:
      message = `${dotted || '(top level)'}: ${e.message ?? 'is invalid'}`;
      location = loc.path(path);
  }
  return new RampartError(code, message, { location, details: { path: dotted } });
}

function describePattern(path: (string | number)[]): string {
  const leaf = String(path[path.length - 1] ?? '');
  const s = schemaAt(path);
  const pattern = typeof s?.['pattern'] === 'string' ? s['pattern'] : '';
  if (pattern.includes('\\d+h')) return 'must be a duration such as 250ms, 30s, 5m or 1h30m';
  if (pattern.includes('kKmMgG')) return 'must be a size such as 512k, 1m or 2g';
  if (leaf === 'listen') return 'must be host:port, such as 127.0.0.1:7070 or [::1]:7070';
  return `does not match ${pattern}`;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function schemaAt(path: readonly (string | number)[]): Record<string, unknown> | undefined {
  let s: Record<string, unknown> | undefined = configSchema;
  for (const p of path) {
    if (!s) return undefined;
    if (typeof p === 'number') s = s['items'] as Record<string, unknown> | undefined;
    else s = (s['properties'] as Record<string, Record<string, unknown>> | undefined)?.[p];
  }
  return s;
}

function knownKeys(path: readonly (string | number)[]): string[] {
  const s = schemaAt(path);
  return Object.keys((s?.['properties'] as Record<string, unknown> | undefined) ?? {});
}

/** The known key within edit distance 2 of `key`, if exactly one is that close. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function dedupe(errors: RampartError[]): RampartError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = e.describe();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

function compileValidator(): Validator {
  // Compiled ahead of time by scripts/gen-validator.mjs (allErrors, useDefaults, strict).
  return validateGenerated as Validator;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
