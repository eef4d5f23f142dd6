// Runs every compiled test file (build/**/*.test.js) with Node's test runner.
//
// PostgreSQL: tests that need it run for real when one answers on RAMPART_TEST_PG (default
// postgres://root@127.0.0.1:5432/test). Without one they are skipped with a printed notice,
// except under CI=true, where a missing PostgreSQL fails the run before any test starts.
//
// Alone: a file named *.alone.test.js acts on the whole host (a host-wide kill switch, say) and
// would reach the runs of test files beside it, so it runs after the others, by itself.
//
// Warnings: every Node process of the run (test files, and the Rampart processes they start)
// preloads scripts/warnings.mjs, which writes each process warning to one file; any warning fails
// the run, printed at the end, even when every test passed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const build = join(root, 'build');

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue; // build/bench/node_modules links to the bench's peers
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = find(build)
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();

const pgUrl = new URL(process.env.RAMPART_TEST_PG ?? 'postgres://root@127.0.0.1:5432/test');
const pgUp = await new Promise((resolve) => {
  const s = net.connect({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  s.setTimeout(2000);
  s.on('connect', () => (s.destroy(), resolve(true)));
  s.on('error', () => resolve(false));
  s.on('timeout', () => (s.destroy(), resolve(false)));
});
if (!pgUp) {
  if (process.env.CI === 'true') {
    console.error(`test: PostgreSQL is not reachable at ${pgUrl.host}, and CI=true requires it. Failing.`);
    process.exit(1);
  }
  console.error(
    `test: NOTICE: PostgreSQL is not reachable at ${pgUrl.host}; PostgreSQL tests will be skipped.`,
  );
}

console.error(`test: ${files.length} test files`);
const warningsDir = mkdtempSync(join(tmpdir(), 'rampart-warnings-'));
const warnings = join(warningsDir, 'warnings.txt');
const preload = `--import=${join(root, 'scripts', 'warnings.mjs')}`;
const env = {
  ...process.env,
  RAMPART_TEST_PG_UP: pgUp ? '1' : '0',
  RAMPART_TEST_WARNINGS: warnings,
  NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', preload].join(' ').trim(),
};
const alone = files.filter((f) => f.endsWith('.alone.test.js'));
const batches = [
  { concurrency: 2, files: files.filter((f) => !alone.includes(f)) },
  { concurrency: 1, files: alone },
].filter((b) => b.files.length > 0);
let status = 0;
for (const b of batches) {
  const res = spawnSync(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${b.concurrency}`,
      '--test-reporter=spec',
      ...b.files.map((f) => relative(root, f)),
    ],
    { cwd: root, stdio: 'inherit', env },
  );
  if (res.status !== 0) status = res.status ?? 1;
}
const printed = existsSync(warnings) ? readFileSync(warnings, 'utf8') : '';
rmSync(warningsDir, { recursive: true, force: true });
if (printed !== '') {
  console.error(`test: FAIL: Node processes of this run printed warnings:\n${printed}`);
  process.exit(1);
}
process.exit(status);
