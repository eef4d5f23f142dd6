// rampart redact and rampart scan, as users run them (the real CLI, real files, real git).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { EXAMPLES, render } from '../redact/examples.js';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const g = new Gen(prng(2026));
const gh = render('github-pat-classic', EXAMPLES['github-pat-classic']!(g)).secret;
const aws = render('aws-access-key-id', EXAMPLES['aws-access-key-id']!(g)).secret;
const slack = render('slack-bot-token', EXAMPLES['slack-bot-token']!(g)).secret;

describe('rampart redact', () => {
  it('filters stdin to stdout, replacing only the secrets', () => {
    const t = tempDir();
    const input = `Using token ${gh}\nConnecting to https://user:pass@example.com\nnothing here\n`;
    const r = rampart(['redact', '--stats'], { cwd: t.dir, input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'Using token [REDACTED-GITHUB-TOKEN]\nConnecting to https://[REDACTED]@example.com\nnothing here\n',
    );
    assert.match(r.stderr, /redacted 2 secret\(s\)/);
    t.cleanup();
  });

  it('rejects file arguments with a usage error', () => {
    const r = rampart(['redact', 'file.log'], { cwd: '/' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RAMPART_E_USAGE/);
  });
});

describe('rampart scan', () => {
  const t = tempDir();
  before(() => {
    mkdirSync(join(t.dir, 'src'), { recursive: true });
    mkdirSync(join(t.dir, 'node_modules', 'dep'), { recursive: true });
    mkdirSync(join(t.dir, 'build'), { recursive: true });
    writeFileSync(join(t.dir, '.gitignore'), 'node_modules/\n*.log\n');
    writeFileSync(join(t.dir, 'src', '.gitignore'), 'generated.ts\n');
    writeFileSync(join(t.dir, 'src', 'app.ts'), `const a = 1;\n// deploy with\nconst token = "${gh}";\n`);
    writeFileSync(join(t.dir, 'src', 'generated.ts'), `const k = "${slack}";\n`);
    writeFileSync(join(t.dir, 'node_modules', 'dep', 'index.js'), `module.exports = "${slack}";\n`);
    writeFileSync(join(t.dir, 'debug.log'), `key ${slack}\n`);
    writeFileSync(join(t.dir, 'build', 'out.env'), `AWS_ACCESS_KEY_ID=${aws}\n`);
    writeFileSync(
      join(t.dir, 'clean.md'),
      '# Nothing to see\nUse ${GITHUB_TOKEN} from the environment of your CI.\n',
    );
    writeFileSync(join(t.dir, 'blob.bin'), Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(gh)]));
  });
  after(() => t.cleanup());

  it('text: compiler-style lines, honouring nested .gitignore files, never printing the secret; exit 1', () => {
    const r = rampart(['scan', '.'], { cwd: t.dir });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, /^build\/out\.env:1:19: high aws-access-key-id: .*\(fingerprint [0-9a-f]{24}\)$/);
    assert.match(lines[1]!, /^src\/app\.ts:3:16: high github-pat-classic: /);
    assert.ok(!r.stdout.includes(gh) && !r.stderr.includes(gh) && !r.stdout.includes(aws));
    assert.match(r.stderr, /blob\.bin: skipped, binary file/);
    assert.match(r.stderr, /2 secret\(s\) found/);
  });

  it('exit 0 on a clean path, 2 on a missing one', () => {
    assert.equal(rampart(['scan', 'clean.md'], { cwd: t.dir }).code, 0);
    const missing = rampart(['scan', 'nope'], { cwd: t.dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /RAMPART_E_USAGE: nope: no such file or directory/);
  });

  it('json doubles as a baseline that suppresses known findings', () => {
    const base = rampart(['scan', '.', '--format', 'json', '-o', 'baseline.json'], { cwd: t.dir });
    assert.equal(base.code, 1);
    const doc = JSON.parse(readFileSync(join(t.dir, 'baseline.json'), 'utf8')) as {
      findings: { ruleId: string; location: { line: number } }[];
    };
    assert.equal(doc.findings.length, 2);
    assert.ok(!readFileSync(join(t.dir, 'baseline.json'), 'utf8').includes(gh));
    // Moving the secret to another line keeps it suppressed; a new secret is still reported.
    writeFileSync(join(t.dir, 'src', 'app.ts'), `\n\n\nconst token = "${gh}";\nconst other = "${slack}";\n`);
    const r = rampart(['scan', '.', '--baseline', 'baseline.json'], { cwd: t.dir });
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /slack-bot-token/);
    assert.match(r.stderr, /2 suppressed by the baseline/);
  });

  it('sarif: a valid SARIF 2.1.0 log with rules, regions and fingerprints', () => {
    const r = rampart(['scan', '.', '--format', 'sarif'], { cwd: t.dir });
    assert.equal(r.code, 1);
    const sarif = JSON.parse(r.stdout) as {
      version: string;
      runs: {
        tool: { driver: { rules: { id: string; properties: Record<string, unknown> }[] } };
        results: {
          ruleId: string;
          ruleIndex: number;
          level: string;
          locations: {
            physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
          }[];
          partialFingerprints: Record<string, string>;
        }[];
        invocations: { toolExecutionNotifications?: unknown[] }[];
      }[];
    };
    assert.equal(sarif.version, '2.1.0');
    const run = sarif.runs[0]!;
    assert.ok(run.tool.driver.rules.length >= 80);
    for (const res of run.results) {
      assert.equal(run.tool.driver.rules[res.ruleIndex]!.id, res.ruleId);
      assert.equal(res.level, 'error');
      assert.match(res.locations[0]!.physicalLocation.artifactLocation.uri, /^(src|build)\//);
      assert.ok(res.locations[0]!.physicalLocation.region.startLine >= 1);
      assert.match(res.partialFingerprints['rampart/v1']!, /^[0-9a-f]{24}$/);
    }
    assert.ok(run.tool.driver.rules[0]!.properties['security-severity']);
    assert.ok(
      (run.invocations[0]!.toolExecutionNotifications ?? []).length >= 1,
      'the skipped binary is reported',
    );
  });

  it('--git RANGE scans only the lines added in the range, with their line numbers', () => {
    const repo = join(t.dir, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        encoding: 'utf8',
      });
    git('init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'old.txt'), `already here ${slack}\n`);
    git('add', '.');
    git('commit', '-qm', 'old');
    writeFileSync(join(repo, 'old.txt'), `already here ${slack}\nnew line\n`);
    writeFileSync(join(repo, 'new.yaml'), `a: 1\nb: 2\ntoken: ${gh}\n`);
    git('add', '.');
    git('commit', '-qm', 'new');
    const r = rampart(['scan', '--git', 'HEAD~1..HEAD', 'repo'], { cwd: t.dir });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout.trim(), r.stdout.trim().split('\n')[0]);
    assert.match(r.stdout, /^new\.yaml:3:8: high github-pat-classic: /);
    const single = rampart(['scan', '--git', 'HEAD', 'repo'], { cwd: t.dir });
    assert.equal(single.code, 1);
    const bad = rampart(['scan', '--git', 'nonexistent..HEAD', 'repo'], { cwd: t.dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /git diff nonexistent\.\.HEAD failed/);
  });
});
