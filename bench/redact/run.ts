// bench/redact: recall and false positives on a generated corpus, and redaction throughput and
// memory, for Rampart and for secretlint (recommended preset) side by side.
//
//   npm run bench:setup && node build/bench/redact/run.js [--per-context 10] [--mb 20]
//   [--accuracy-only: recall, decoys and precision, without the throughput runs]
//
// Recall: a planted secret counts as caught when a tool's output no longer contains it (Rampart:
// `redact`; secretlint: a reported range covering it, which is what its masking replaces).
// Decoys: a decoy counts as flagged when the tool reports anything in it.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lintSource } from '@secretlint/core';
import { creator as recommended } from '@secretlint/secretlint-rule-preset-recommend';
import { Redactor } from '../../src/redact/engine.js';
import { BIN, ROOT } from '../../test/support/cli.js';
import { decoySamples, secretSamples, syntheticLog, type Sample } from './corpus.js';
import { LITERALS, REFERENCES } from './references.js';

const { values } = parseArgs({
  options: {
    'per-context': { type: 'string', default: '10' },
    mb: { type: 'string', default: '20' },
    'skip-secretlint-mask': { type: 'boolean', default: false },
    'accuracy-only': { type: 'boolean', default: false },
  },
});
const PER = Number(values['per-context']);
const MB = Number(values.mb);
const out = join(ROOT, 'bench', 'out');
mkdirSync(out, { recursive: true });

// ------------------------------------------------------------------ recall and false positives
const samples = secretSamples(20261122, PER);
const decoys = decoySamples(20261123);
const rampart = new Redactor();
const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: recommended }] };

async function secretlintRanges(text: string): Promise<[number, number][]> {
  const res = await lintSource({
    source: { content: text, filePath: '/corpus/sample.txt', ext: '.txt', contentType: 'text' },
    options: { config },
  });
  return res.messages.map((m) => m.range as [number, number]);
}

const covered = (text: string, secret: string, ranges: [number, number][]): boolean => {
  for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
    if (
      !ranges.some(([a, b]) => a <= at && b >= at + secret.length) &&
      !ranges.some(([a, b]) => a < at + secret.length && b > at)
    )
      return false;
  }
  return true;
};

interface Score {
  caught: number;
  total: number;
}
const perKind = new Map<string, { r: Score; s: Score }>();
let rTime = 0;
let sTime = 0;
for (const smp of samples) {
  const k = perKind.get(smp.kind) ?? { r: { caught: 0, total: 0 }, s: { caught: 0, total: 0 } };
  perKind.set(smp.kind, k);
  let t = performance.now();
  const red = rampart.redact(smp.text).text;
  rTime += performance.now() - t;
  t = performance.now();
  const ranges = await secretlintRanges(smp.text);
  sTime += performance.now() - t;
  for (const secret of smp.secrets) {
    k.r.total++;
    k.s.total++;
    if (!red.includes(secret)) k.r.caught++;
    if (covered(smp.text, secret, ranges)) k.s.caught++;
  }
}
const flagged = { r: [] as Sample[], s: [] as Sample[] };
for (const d of decoys) {
  if (rampart.find(d.text).length > 0) flagged.r.push(d);
  if ((await secretlintRanges(d.text)).length > 0) flagged.s.push(d);
}

const pct = (s: Score): string => `${((100 * s.caught) / s.total).toFixed(1)}%`;
const sum = (pick: (x: { r: Score; s: Score }) => Score): Score =>
  [...perKind.values()]
    .map(pick)
    .reduce((a, b) => ({ caught: a.caught + b.caught, total: a.total + b.total }), { caught: 0, total: 0 });
const rAll = sum((x) => x.r);
const sAll = sum((x) => x.s);

console.log(
  `\n## Recall on ${samples.length} planted secrets (${perKind.size} kinds, ${PER} per kind and context) and ${decoys.length} decoys\n`,
);
console.log('| | Rampart | secretlint (preset-recommend) |');
console.log('| --- | --- | --- |');
console.log(
  `| Planted secrets caught | ${rAll.caught}/${rAll.total} (${pct(rAll)}) | ${sAll.caught}/${sAll.total} (${pct(sAll)}) |`,
);
console.log(
  `| Decoys flagged | ${flagged.r.length}/${decoys.length} | ${flagged.s.length}/${decoys.length} |`,
);
console.log(`| Time for the corpus (in process) | ${rTime.toFixed(0)} ms | ${sTime.toFixed(0)} ms |`);
if (flagged.s.length > 0)
  console.log(`\nsecretlint flagged: ${[...new Set(flagged.s.map((d) => d.kind))].join(', ')}`);
if (flagged.r.length > 0)
  console.log(`\nRampart flagged: ${flagged.r.map((d) => d.text.slice(0, 50)).join(' | ')}`);
console.log('\n| Kind | Rampart | secretlint |');
console.log('| --- | --- | --- |');
for (const [kind, k] of [...perKind].sort()) console.log(`| ${kind} | ${pct(k.r)} | ${pct(k.s)} |`);

// ------------------------------------------------------------------ precision on references
// Realistic false-positive shapes (code and configuration that refer to a secret) beside the same
// shapes with the secret written in. A tool's precision is the share of its flagged lines that
// hold a secret; its recall here, the share of written-in secrets it finds.
const refs = { r: 0, s: 0 };
const lits = { r: 0, s: 0 };
const refFlagged: string[] = [];
for (const shape of REFERENCES) {
  if (rampart.find(shape.text).length > 0) {
    refs.r++;
    refFlagged.push(shape.text.trim());
  }
  if ((await secretlintRanges(shape.text)).length > 0) refs.s++;
}
for (const shape of LITERALS) {
  if (rampart.find(shape.text).some((m) => m.secret === shape.secret)) lits.r++;
  if (covered(shape.text, shape.secret!, await secretlintRanges(shape.text))) lits.s++;
}
const precision = (tp: number, fp: number): string =>
  tp + fp === 0 ? 'n/a (nothing flagged)' : `${((100 * tp) / (tp + fp)).toFixed(1)}%`;
console.log(
  `\n## Precision on ${REFERENCES.length} references to secrets and ${LITERALS.length} written-in secrets in the same shapes\n`,
);
console.log('| | Rampart | secretlint (preset-recommend) |');
console.log('| --- | --- | --- |');
console.log(
  `| References flagged (false positives) | ${refs.r}/${REFERENCES.length} | ${refs.s}/${REFERENCES.length} |`,
);
console.log(`| Written-in secrets found | ${lits.r}/${LITERALS.length} | ${lits.s}/${LITERALS.length} |`);
console.log(`| Precision | ${precision(lits.r, refs.r)} | ${precision(lits.s, refs.s)} |`);
if (refFlagged.length > 0) console.log(`\nRampart flagged: ${refFlagged.join(' | ')}`);
if (values['accuracy-only']) process.exit(0);

// ------------------------------------------------------------------ throughput and memory
const logFile = join(out, `log-${MB}mb.log`);
writeFileSync(logFile, syntheticLog(7, MB * 1_000_000));

function timed(cmd: string): { ms: number; rssKb: number; stderr: string } {
  const r = spawnSync('/usr/bin/time', ['-f', '__RSS %M', 'sh', '-c', cmd], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const rss = /__RSS (\d+)/.exec(r.stderr);
  return { ms: NaN, rssKb: rss ? Number(rss[1]) : NaN, stderr: r.stderr };
}
function wall(cmd: string, runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)]!;
}

const node = process.execPath;
const startup = wall(`${node} ${BIN} redact < /dev/null > /dev/null`, 9);
const bare = wall(`${node} -e 0`, 9);
const e2e = wall(`${node} ${BIN} redact < ${logFile} > /dev/null`);
const e2ePipe = wall(`cat ${logFile} | ${node} ${BIN} redact > /dev/null`);
const stats = spawnSync('sh', ['-c', `${node} ${BIN} redact --stats < ${logFile} > /dev/null`], {
  encoding: 'utf8',
}).stderr;
const processing = /\((\d+) MB\/s\)/.exec(stats)?.[1];

// Memory: the same command over ever longer streams (the log repeated), peak RSS.
const mem: string[] = [];
for (const times of [1, 10, 50, 250]) {
  const m = timed(`for i in $(seq ${times}); do cat ${logFile}; done | ${node} ${BIN} redact > /dev/null`);
  mem.push(`${MB * times} MB: ${(m.rssKb / 1024).toFixed(0)} MiB`);
}

console.log(`\n## Throughput on a ${MB} MB log (${MB * 1_000_000} bytes, one secret every 200 lines)\n`);
console.log('| Measure | Rampart |');
console.log('| --- | --- |');
console.log(
  `| \`rampart redact < log > /dev/null\`, wall, median of 5 | ${e2e.toFixed(0)} ms = ${(MB / (e2e / 1000)).toFixed(0)} MB/s |`,
);
console.log(
  `| same through a pipe (\`cat log \\| rampart redact\`) | ${e2ePipe.toFixed(0)} ms = ${(MB / (e2ePipe / 1000)).toFixed(0)} MB/s |`,
);
console.log(
  `| of which start-up (\`rampart redact < /dev/null\`; bare \`node -e 0\` is ${bare.toFixed(0)} ms) | ${startup.toFixed(0)} ms |`,
);
console.log(
  `| processing rate reported by \`--stats\` (first byte read to last byte written) | ${processing} MB/s |`,
);
console.log(`| peak RSS by stream length | ${mem.join('; ')} |`);

if (!values['skip-secretlint-mask']) {
  const sl = join(ROOT, 'bench', 'node_modules', 'secretlint', 'bin', 'secretlint.js');
  const rc = join(out, 'secretlintrc.json');
  writeFileSync(rc, JSON.stringify({ rules: [{ id: '@secretlint/secretlint-rule-preset-recommend' }] }));
  const masked = join(out, 'masked.log');
  const t = performance.now();
  const r = spawnSync(
    node,
    [sl, logFile, '--secretlintrc', rc, '--format=mask-result', `--output=${masked}`],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const ms = performance.now() - t;
  console.log(
    `| secretlint masking (\`--format=mask-result\`) on the same log | ${ms.toFixed(0)} ms = ${(MB / (ms / 1000)).toFixed(1)} MB/s (exit ${r.status}) |`,
  );
  rmSync(masked, { force: true });
}
