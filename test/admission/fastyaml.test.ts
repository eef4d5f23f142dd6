// The fast YAML path must never read a spec differently from the yaml library: an admission
// check that sees a different document from the one Docker or Kubernetes deploys is a bypass.
// Whenever the fast path answers, its tree (values, key order, every file:line:col) must equal
// the library's; where the library refuses a text, the fast path must give up, never accept it.
// Checked on every YAML file in the repository and on hundreds of thousands of generated texts
// built from the constructs specs are written in, plus random damage to them.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Document } from 'yaml';
import { fastTrees, TAG_STARTS } from '../../src/core/fastyaml.js';
import { DEFAULT_LIMITS, libraryTrees, toPlain, type LNode } from '../../src/admission/tree.js';
import { parseLocated } from '../../src/core/yaml.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** The whole tree as plain data, order and locations included. */
function plain(n: LNode): unknown {
  const at = `${n.loc.line}:${n.loc.column}`;
  if (n.kind === 'scalar') return { at, v: n.value };
  if (n.kind === 'seq') return { at, s: n.items.map(plain) };
  return {
    at,
    m: [...n.entries].map(([k, v]) => [k, `${n.keys.get(k)?.line}:${n.keys.get(k)?.column}`, plain(v)]),
  };
}

type Verdict = 'bailed' | 'same';

/** The text with everything but printable ASCII escaped, so a failure shows what it is. */
const show = (t: string): string =>
  JSON.stringify(t).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Compares the two readers on one text; throws with the text when they disagree. */
function compare(text: string, version: '1.1' | '1.2' = '1.1'): Verdict {
  const fast = fastTrees(text, 'x.yml', DEFAULT_LIMITS, version);
  if (fast === undefined) return 'bailed';
  let lib: LNode[];
  try {
    lib = libraryTrees(text, 'x.yml', DEFAULT_LIMITS, version);
  } catch (e) {
    assert.fail(`the fast path accepted a text the library refuses (${String(e)}): ${show(text)}`);
  }
  assert.deepEqual(fast.map(plain), lib.map(plain), `trees differ (YAML ${version}) for ${show(text)}`);
  return 'same';
}

/**
 * The configuration's reading of a text (core/yaml's parseLocated, then toJS, as parseConfig does)
 * against the fast path's, which parseConfig takes for a single document.
 */
function compareConfig(text: string): Verdict {
  const fast = fastTrees(text, 'rampart.yaml', { maxNodes: 100_000, maxDepth: 64 }, '1.2');
  if (fast === undefined || fast.length > 1) return 'bailed';
  const { doc, errors } = parseLocated(text, 'rampart.yaml');
  assert.deepEqual(errors, [], `the fast path accepted a configuration the library refuses: ${show(text)}`);
  assert.deepEqual(
    (fast.length === 0 ? undefined : toPlain(fast[0]!)) ?? {},
    doc.toJS({ maxAliasCount: 64 }) ?? {},
    `configuration values differ for ${show(text)}`,
  );
  return 'same';
}

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'build' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.(ya?ml|json)$/.test(name) && statSync(p).size < 1 << 20) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------- the generator

/** Plain scalars that YAML 1.1 resolves to something other than the string, and near misses. */
const PLAIN = [
  'agent',
  'ghcr.io/acme/agent:1.0',
  'ghcr.io/acme/a@sha256:0f3d',
  'ALL',
  'NET_ADMIN',
  'x y',
  'a  b',
  'yes',
  'no',
  'on',
  'off',
  'Yes',
  'NO',
  'On',
  'y',
  'n',
  'Y',
  'N',
  'true',
  'False',
  'TRUE',
  'null',
  'Null',
  'NULL',
  '~',
  '0440',
  '0o440',
  '0x1F',
  '0b101',
  '1_000',
  '1e3',
  '1.5e-3',
  '6.8523015e+5',
  '.inf',
  '-.Inf',
  '.NaN',
  '12:30:00',
  '1:20',
  '190:20:30',
  '+12',
  '-0',
  '0.5',
  '.5',
  '1.',
  '010',
  '08',
  '09.5',
  '2024-01-01',
  '2024-01-01T10:00:00Z',
  '2001-12-14 21:59:43.10 -5',
  '1.0',
  '-1',
  '0',
  'a:b',
  'http://x:80/p',
  'a#b',
  '-a',
  '?a',
  ':a',
  'a:',
  'a,b',
  'a]',
  'a}',
  'a[b',
  '=',
  '<<',
  '127.0.0.1:5900:5900',
  'no-new-privileges:true',
  'seccomp=unconfined',
  '${VAR}',
  '${VAR:-x}',
  'é',
  'a\u2028b',
  'a\u0085b',
  'a\u2029',
  '\u00a0',
  'a\ufeffb',
  'a\u000bb',
  'a\u0000b',
  'a\u00a0b',
  '@x',
  '`x',
  '%x',
  '!x',
  '!!str x',
  '&a x',
  '*a',
  '|',
  '>',
  '- a',
  '? a',
  ': a',
  'a: b',
  'a #c',
  '"',
  "'",
  'a"b',
  "a'b",
  '0o',
  '0x',
  '+',
  '-',
  '.',
  '...',
  '---',
];
const QUOTED = [
  '"a\\qb"',
  '"\\x41"',
  '"\\u00e9"',
  "'it''s'",
  '"a\\"b"',
  '"\\/"',
  '"\\t"',
  '"\\N"',
  '"\\_"',
  '"a # b"',
  "'a # b'",
  '""',
  "''",
  '"yes"',
  "'0440'",
  '"a: b"',
  '"\\U0001F600"',
  '"\\ud800"',
];

const scalar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PLAIN) },
  { weight: 2, arbitrary: fc.constantFrom(...QUOTED) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => `'${s.replace(/'/g, "''")}'`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((v) => `'${v.replace(/'/g, "''")}'`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);
const key = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom('image', 'user', 'ports', 'cap_drop', 'a', 'b', 'c', 'x-y', 'mode'),
  },
  { weight: 2, arbitrary: scalar },
);

type Gen =
  | { readonly t: 'scalar'; readonly v: string }
  | { readonly t: 'map'; readonly flow: boolean; readonly e: readonly (readonly [string, Gen])[] }
  | { readonly t: 'seq'; readonly flow: boolean; readonly i: readonly Gen[] };

const { node } = fc.letrec<{ node: Gen }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar.map((v): Gen => ({ t: 'scalar', v })),
    fc.record({
      t: fc.constant('map' as const),
      flow: fc.boolean(),
      e: fc.array(fc.tuple(key, tie('node')), { maxLength: 4 }),
    }),
    fc.record({
      t: fc.constant('seq' as const),
      flow: fc.boolean(),
      i: fc.array(tie('node'), { maxLength: 4 }),
    }),
  ),
}));

const comment = fc.constantFrom('', '', '', ' # note', '  #x', '#x', ' #', ' # a: b');
/** Indentation steps: two spaces is usual, four and one happen. */
const step = fc.constantFrom(2, 2, 2, 4, 1);

function flow(g: Gen): string {
  if (g.t === 'scalar') return g.v;
  if (g.t === 'seq') return `[${g.i.map(flow).join(', ')}]`;
  return `{${g.e.map(([k, v]) => `${k}: ${flow(v)}`).join(', ')}}`;
}

/** Renders a node as block YAML; `c` and `s` draw comments and indent steps in turn. */
function render(g: Gen, indent: number, c: () => string, s: () => number): string[] {
  const pad = ' '.repeat(indent);
  if (g.t === 'scalar' || g.flow || (g.t === 'map' ? g.e.length === 0 : g.i.length === 0))
    return [pad + flow(g) + c()];
  const out: string[] = [];
  if (g.t === 'map') {
    for (const [k, v] of g.e) {
      if (v.t === 'scalar' || v.flow) out.push(`${pad}${k}: ${flow(v)}${c()}`);
      else {
        out.push(`${pad}${k}:${c()}`);
        // A sequence may sit at its key's own indentation, as Compose files often write it.
        const next = v.t === 'seq' && s() === 1 ? indent : indent + s();
        out.push(...render(v, next, c, s));
      }
    }
    return out;
  }
  for (const v of g.i) {
    if (v.t === 'scalar' || v.flow) out.push(`${pad}- ${flow(v)}${c()}`);
    else {
      const inner = render(v, indent + 2, c, s);
      out.push(`${pad}- ${inner[0]!.slice(indent + 2)}`, ...inner.slice(1));
    }
  }
  return out;
}

const document = fc.tuple(node, fc.infiniteStream(comment), fc.infiniteStream(step)).map(([g, cs, ss]) => {
  const c = cs[Symbol.iterator]();
  const s = ss[Symbol.iterator]();
  return render(
    g,
    0,
    () => c.next().value as string,
    () => s.next().value as number,
  ).join('\n');
});

const text = fc
  .tuple(fc.array(document, { minLength: 1, maxLength: 3 }), fc.constantFrom('---\n', '--- # doc\n', '---'))
  .map(([docs, sep]) => docs.join(`\n${sep}`) + '\n');

/** Random damage: a character that means something in YAML, put anywhere, or one taken away. */
const DAMAGE = [...':#-\'"[]{},&*!|>%@`?~ \n\t\\.\r\u0085\u2028\u00a0\ufeff'];
const damaged = fc
  .tuple(
    text,
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(...DAMAGE), fc.boolean()), { minLength: 1, maxLength: 3 }),
  )
  .map(([t, edits]) => {
    let s = t;
    for (const [pos, ch, insert] of edits) {
      const i = pos % (s.length + 1);
      s = insert ? s.slice(0, i) + ch + s.slice(i) : s.slice(0, i) + s.slice(i + 1);
    }
    return s;
  });

// ---------------------------------------------------------------- the tests

describe('fast YAML path agrees with the yaml library', () => {
  it('on every YAML and JSON file in the repository', () => {
    const files = [...yamlFiles(join(ROOT, 'test')), ...yamlFiles(join(ROOT, 'policies'))];
    assert.ok(files.length >= 10, `found only ${files.length} files`);
    for (const f of files) {
      try {
        compare(readFileSync(f, 'utf8'));
      } catch (e) {
        assert.fail(`${f}: ${String(e)}`);
      }
    }
  });

  it('takes the fast path on the shapes specs are written in (or it would only be slower)', () => {
    const compose = `services:\n  svc:\n    image: ghcr.io/acme/agent:1.0   # pinned below\n    user: "1000:1000"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n    ports: ["127.0.0.1:5900:5900"]\n    environment:\n      LOG_LEVEL: info\n    deploy:\n      resources:\n        limits: { memory: 1g, cpus: "1", pids: 128 }\n`;
    const k8s = `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: a, namespace: agents }\nspec:\n  template:\n    spec:\n      containers:\n        - name: agent\n          image: ghcr.io/acme/agent:1.0\n          securityContext:\n            capabilities: { drop: [ALL] }\n---\napiVersion: v1\nkind: Pod\n`;
    assert.equal(compare(compose), 'same');
    assert.equal(compare(k8s), 'same');
  });

  it('on generated specs: same tree or a bail, never a different one', () => {
    let same = 0;
    fc.assert(
      fc.property(text, (t) => {
        if (compare(t) === 'same') same++;
      }),
      { numRuns: 4000 },
    );
    // The property means nothing if the generator only makes texts the fast path gives up on.
    assert.ok(same > 1000, `the fast path answered only ${same} of 4000 generated texts`);
  });

  it('in YAML 1.2 too (configuration files): same tree or a bail, and the same values parseConfig reads', () => {
    let same = 0;
    fc.assert(
      fc.property(fc.oneof(text, damaged), (t) => {
        if (compare(t, '1.2') === 'same') same++;
        compareConfig(t);
      }),
      { numRuns: 6000 },
    );
    assert.ok(same > 500, `the fast path answered only ${same} of 6000 texts`);
    for (const f of yamlFiles(join(ROOT, 'test'))) compareConfig(readFileSync(f, 'utf8'));
  });

  it('on damaged specs: same tree or a bail, never a different one', () => {
    let same = 0;
    fc.assert(
      fc.property(damaged, (t) => {
        if (compare(t) === 'same') same++;
      }),
      { numRuns: 6000 },
    );
    assert.ok(same > 500, `the fast path answered only ${same} of 6000 damaged texts`);
  });

  it('gives up on what it does not read: anchors, merge keys, tags, block scalars, tabs', () => {
    for (const t of [
      'a: &x 1\nb: *x\n',
      'a: {b: 1}\nc:\n  <<: {d: 2}\n',
      'a: !!str 1\n',
      'a: |\n  text\n',
      'a: >\n  text\n',
      'a:\n\tb: 1\n',
      'a: "multi\n  line"\n',
      'a: b\n  c\n',
      '%YAML 1.1\n---\na: 1\n',
      '? complex\n: key\n',
      'a: 1\na: 2\n',
      'a: 1\r\n',
      '\ufeffa: 1\n',
    ])
      assert.equal(fastTrees(t, 'x.yml', DEFAULT_LIMITS, '1.1'), undefined, JSON.stringify(t));
  });

  it('gives up past the node and depth limits, so the library reports them with a position', () => {
    const deep = Array.from({ length: 70 }, (_, i) => `${' '.repeat(i * 2)}k:`).join('\n') + ' 1\n';
    assert.equal(fastTrees(deep, 'x.yml', DEFAULT_LIMITS, '1.1'), undefined);
    assert.equal(fastTrees('a: [1, 2, 3]\n', 'x.yml', { maxNodes: 3, maxDepth: 64 }, '1.1'), undefined);
  });
});

describe('fast YAML path: what its shortcuts rest on', () => {
  it('the YAML 1.1 tags it resolves are the ones its first-character shortcut was derived from', () => {
    // A yaml release that adds or changes a tag must fail here, not silently change values.
    const tests = (
      new Document(null, { version: '1.1' }).schema.tags as { default?: unknown; test?: RegExp }[]
    )
      .filter((t) => t.default === true && t.test)
      .map((t) => t.test!.source);
    assert.deepEqual(tests, [
      '^(?:~|[Nn]ull|NULL)?$',
      '^(?:Y|y|[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$',
      '^(?:N|n|[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$',
      '^[-+]?0b[0-1_]+$',
      '^[-+]?0[0-7_]+$',
      '^[-+]?[0-9][0-9_]*$',
      '^[-+]?0x[0-9a-fA-F_]+$',
      '^(?:[-+]?\\.(?:inf|Inf|INF)|\\.nan|\\.NaN|\\.NAN)$',
      '^[-+]?(?:[0-9][0-9_]*)?(?:\\.[0-9_]*)?[eE][-+]?[0-9]+$',
      '^[-+]?(?:[0-9][0-9_]*)?\\.[0-9_]*$',
      '^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$',
      '^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*$',
      '^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:t|T|[ \\t]+)([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2}(\\.[0-9]+)?)(?:[ \\t]*(Z|[-+][012]?[0-9](?::[0-9]{2})?))?)?$',
    ]);
    // None matches a text whose first character is outside TAG_STARTS.
    for (let c = 0x20; c < 0x7f; c++) {
      const ch = String.fromCharCode(c);
      if (TAG_STARTS.includes(ch)) continue;
      for (const rest of [
        '',
        '1',
        '3',
        'ull',
        'es',
        'rue',
        'n',
        'ff',
        '.5',
        '0',
        'b1',
        'x1',
        'e3',
        ':30',
        'inf',
      ])
        for (const src of tests)
          assert.ok(!new RegExp(src).test(ch + rest), `${JSON.stringify(ch + rest)} matches ${src}`);
    }
  });
});
