// Docker Engine bodies are read as the Engine reads them (Go's encoding/json into its structs):
// keys in any case, repeated keys decoded into the same value, null as Go treats it. A property
// test writes every checked field in generated spellings and orders and requires the finding a
// plain spelling gives; a differential test sends generated bodies to a real dockerd and
// compares what the Engine stored with what Rampart decoded.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { checkAll, EMPTY_POLICY } from '../../src/admission/engine.js';
import { fromDockerCreate } from '../../src/admission/formats/engine.js';
import { CONTAINER_CREATE } from '../../src/admission/formats/engine-types.js';
import { decodeEngineBody, parseJsonPairs } from '../../src/admission/formats/gojson.js';
import { get, toPlain } from '../../src/admission/tree.js';
import { dockerSkip, importBusybox, startDockerd, type Dockerd } from '../support/docker.js';

interface Field {
  readonly path: readonly string[];
  readonly bad: unknown;
  readonly good: unknown;
  readonly check: string;
  /** null clears it (pointer, slice, map); otherwise null leaves the earlier value. */
  readonly clearedByNull: boolean;
}

const HC = 'HostConfig';
const FIELDS: readonly Field[] = [
  { path: [HC, 'Privileged'], bad: true, good: false, check: 'no-privileged', clearedByNull: false },
  { path: [HC, 'Binds'], bad: ['/:/host'], good: [], check: 'no-host-mounts', clearedByNull: true },
  { path: [HC, 'PidMode'], bad: 'host', good: '', check: 'no-host-pid', clearedByNull: false },
  { path: [HC, 'NetworkMode'], bad: 'host', good: 'none', check: 'no-host-network', clearedByNull: false },
  { path: [HC, 'IpcMode'], bad: 'host', good: 'private', check: 'no-host-ipc', clearedByNull: false },
  { path: [HC, 'UTSMode'], bad: 'host', good: '', check: 'no-host-uts', clearedByNull: false },
  { path: [HC, 'UsernsMode'], bad: 'host', good: '', check: 'no-host-userns', clearedByNull: false },
  {
    path: [HC, 'CgroupnsMode'],
    bad: 'host',
    good: 'private',
    check: 'no-host-cgroupns',
    clearedByNull: false,
  },
  { path: [HC, 'CapAdd'], bad: ['SYS_ADMIN'], good: [], check: 'no-added-capabilities', clearedByNull: true },
  {
    path: [HC, 'SecurityOpt'],
    bad: ['no-new-privileges:true', 'seccomp=unconfined'],
    good: ['no-new-privileges:true'],
    check: 'seccomp-required',
    clearedByNull: true,
  },
  {
    path: [HC, 'Devices'],
    bad: [{ PathOnHost: '/dev/mem', PathInContainer: '/dev/mem', CgroupPermissions: 'rwm' }],
    good: [],
    check: 'devices-allowed',
    clearedByNull: true,
  },
  {
    path: [HC, 'Mounts'],
    bad: [{ Type: 'bind', Source: '/', Target: '/host' }],
    good: [],
    check: 'no-host-mounts',
    clearedByNull: true,
  },
  { path: [HC, 'MaskedPaths'], bad: [], good: null, check: 'no-unmasked-paths', clearedByNull: true },
  { path: [HC, 'OomKillDisable'], bad: true, good: false, check: 'no-oom-kill-disable', clearedByNull: true },
  { path: [HC, 'PublishAllPorts'], bad: true, good: false, check: 'no-publish-all', clearedByNull: false },
  { path: ['User'], bad: '0', good: '1000:1000', check: 'run-as-non-root', clearedByNull: false },
];

/** An object written as JSON with its keys exactly as given, duplicates and all (render). */
type Pairs = [string, unknown][];
class PairList {
  constructor(readonly items: Pairs) {}
}
const obj = (...items: Pairs): PairList => new PairList(items);
function render(v: unknown): string {
  if (v instanceof PairList)
    return `{${v.items.map(([k, x]) => `${JSON.stringify(k)}:${render(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

const findings = (body: string): string[] => {
  const w = fromDockerCreate(parseJsonPairs(body, 'body.json'), 'body.json');
  return checkAll([w], { profile: 'default' }, EMPTY_POLICY, new Date('2026-12-01T00:00:00Z')).map(
    (f) => f.ruleId,
  );
};

/** A spelling of `name` in random case (Go matches keys case-insensitively). */
const casing = (name: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((flips) =>
      [...name]
        .map((c, i) => (flips[i] ? (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) : c))
        .join(''),
    );

type Variant = 'plain' | 'good-then-bad' | 'bad-then-null' | 'split-parent' | 'bad-then-good';

describe('Docker Engine bodies decoded as the Engine decodes them', () => {
  it('finds every checked field in any case, after duplicates and nulls, as Go resolves them (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FIELDS),
        fc.constantFrom<Variant>('plain', 'good-then-bad', 'bad-then-null', 'split-parent', 'bad-then-good'),
        fc.nat(),
        (f, variant, seed) => {
          const rng = fc.sample(fc.tuple(...f.path.map(casing), ...f.path.map(casing)), {
            numRuns: 1,
            seed,
          })[0]!;
          const first = rng.slice(0, f.path.length);
          const second = rng.slice(f.path.length);
          const leaf = f.path.length - 1;
          const nest = (keys: readonly string[], value: unknown): Pairs => {
            let v: unknown = value;
            for (let i = keys.length - 1; i >= 1; i--) v = obj([keys[i]!, v]);
            return [[keys[0]!, v]];
          };
          let top: Pairs;
          let expected: boolean;
          if (variant === 'plain') {
            top = nest(first, f.bad);
            expected = true;
          } else if (
            variant === 'good-then-bad' ||
            variant === 'bad-then-good' ||
            variant === 'bad-then-null'
          ) {
            const [a, b] =
              variant === 'good-then-bad'
                ? [f.good, f.bad]
                : variant === 'bad-then-good'
                  ? [f.bad, f.good]
                  : [f.bad, null];
            // Both under one parent, the leaf key spelled two ways: the last one decides.
            const leafPairs: Pairs = [
              [first[leaf]!, a],
              [second[leaf]!, b],
            ];
            top = leaf === 0 ? leafPairs : nest(first.slice(0, leaf), obj(...leafPairs));
            expected = variant === 'good-then-bad' || (variant === 'bad-then-null' && !f.clearedByNull);
          } else {
            // The parent written twice: the second decodes into the first, which keeps the bad value.
            if (leaf === 0) return;
            top = [...nest(first, f.bad), [second[0]!, obj(['Memory', 1_073_741_824])]];
            expected = true;
          }
          const body = render(obj(['Image', 'x@sha256:' + 'a'.repeat(64)], ...top));
          const got = findings(body).includes(f.check);
          assert.equal(got, expected, `${variant}: ${body} gave ${got ? '' : 'no '}${f.check}`);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('refuses what the Engine refuses: wrong types, numbers out of range, trailing text', () => {
    for (const body of [
      '{"HostConfig":{"Privileged":"true"}}',
      '{"HostConfig":{"Privileged":1}}',
      '{"HostConfig":{"PidsLimit":1.5}}',
      '{"HostConfig":{"Memory":99999999999999999999}}',
      '{"HostConfig":[]}',
      '{"Image":"x"} {"HostConfig":{"Privileged":true}}',
      '{"Image":"x",}',
    ])
      assert.throws(() => findings(body), /Engine expects|not valid JSON/, body);
  });

  it('refuses keys spelled with the characters Go versions fold differently', () => {
    // Dotless i and dotted I fold onto I from Go 1.21 only; long s and the Kelvin sign always did.
    for (const key of ['Prıvileged', 'PrİVILEGED', '\u017fecurityOpt', '\u212aernelMemory'])
      assert.throws(() => findings(`{"HostConfig":{"${key}":true}}`), /fold differently/, key);
  });

  it('keeps map keys (Labels, Sysctls) exactly as written', () => {
    const m = decodeEngineBody(
      CONTAINER_CREATE,
      parseJsonPairs('{"labels":{"A":"1","a":"2"},"HostConfig":{"sysctls":{"kernel.msgmax":"1"}}}', 'b'),
      'body',
    );
    assert.deepEqual(toPlain(get(m, 'Labels')!), { A: '1', a: '2' });
    assert.deepEqual(toPlain(get(m, 'HostConfig', 'Sysctls')!), { 'kernel.msgmax': '1' });
  });
});

const skip = dockerSkip();

describe('differential: Rampart decodes what a real dockerd stores', { skip }, () => {
  let d: Dockerd;
  before(async () => {
    d = await startDockerd();
    await importBusybox(d);
  });
  after(() => d?.stop());

  // Fields the Engine stores as sent. (Not SecurityOpt: the daemon adds label=disable to it for a
  // privileged or host-PID container, which is the daemon's doing, not decoding.)
  const compared: [path: readonly string[], plain: unknown][] = [
    [[HC, 'Privileged'], false],
    [[HC, 'PidMode'], ''],
    [[HC, 'UsernsMode'], ''],
    [[HC, 'CapAdd'], null],
    [[HC, 'Binds'], null],
    [[HC, 'GroupAdd'], null],
    [[HC, 'ReadonlyRootfs'], false],
    [['User'], ''],
  ];
  const values: Record<string, unknown[]> = {
    Privileged: [true, false, null],
    PidMode: ['host', '', null],
    UsernsMode: ['host', '', null],
    CapAdd: [['NET_ADMIN'], [], null],
    Binds: [['/tmp:/h:ro'], [], null],
    GroupAdd: [['100'], [], null],
    ReadonlyRootfs: [true, false, null],
    User: ['0', '1000:1000', null],
  };

  it('agrees with the Engine on 150 generated bodies of cased and repeated keys', async () => {
    const samples = fc.sample(
      fc.array(fc.tuple(fc.constantFrom(...compared.map(([p]) => p)), fc.nat(2), fc.nat(), fc.boolean()), {
        minLength: 1,
        maxLength: 6,
      }),
      { numRuns: 150, seed: 20261202 },
    );
    const disagreements: string[] = [];
    for (const writes of samples) {
      const hc: Pairs = [];
      const top: Pairs = [['Image', 'rampart-test/busybox:1']];
      for (const [path, which, seed, hcTwice] of writes) {
        const name = path[path.length - 1]!;
        const spelled = fc.sample(casing(name), { numRuns: 1, seed })[0]!;
        const value = values[name]![which];
        if (path.length === 1) top.push([spelled, value]);
        else if (hcTwice) top.push([fc.sample(casing(HC), { numRuns: 1, seed })[0]!, obj([spelled, value])]);
        else hc.push([spelled, value]);
      }
      if (hc.length > 0) top.push([HC, obj(...hc)]);
      const body = render(obj(...top));
      const created = await d.api('POST', '/containers/create', body);
      if (created.status !== 201) {
        disagreements.push(`${body}: the Engine refused it (${created.body.trim()})`);
        continue;
      }
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      const stored = JSON.parse((await d.api('GET', `/containers/${id}/json`)).body) as Record<
        string,
        Record<string, unknown>
      >;
      const ours = decodeEngineBody(CONTAINER_CREATE, parseJsonPairs(body, 'b'), 'body');
      for (const [path, plain] of compared) {
        const engine = path.length === 1 ? stored['Config']![path[0]!] : stored[path[0]!]![path[1]!];
        const node = get(ours, ...path);
        const mine = node === undefined ? plain : toPlain(node);
        const norm = (v: unknown): string =>
          JSON.stringify(v === null && Array.isArray(plain) ? [] : (v ?? plain));
        if (norm(engine) !== norm(mine))
          disagreements.push(`${body}: ${path.join('.')} engine ${norm(engine)}, rampart ${norm(mine)}`);
      }
      await d.api('DELETE', `/containers/${id}`);
    }
    assert.deepEqual(disagreements, []);
  });
});
