// `rampart check` on several files and on directories: only one Compose project's files are
// merged (a file and its override, or -f files), everything else is checked file by file; a
// directory is walked honouring .gitignore, skipping what is not a spec; unreadable input is
// exit 2, never an internal error.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const DB = (image: string) => `services:\n  db:\n    image: ${image}\n    read_only: true\n`;

describe('rampart check across files and directories', () => {
  const t = tempDir();
  after(() => t.cleanup());
  mkdirSync(join(t.dir, 'one'));
  mkdirSync(join(t.dir, 'two'));
  writeFileSync(join(t.dir, 'one', 'compose.yaml'), DB('postgres:16'));
  writeFileSync(join(t.dir, 'two', 'compose.yaml'), DB('mysql:8'));
  const json = (...args: string[]) => {
    const r = rampart(['check', '--format', 'json', ...args], { cwd: t.dir });
    return {
      ...r,
      body:
        r.code === 2
          ? undefined
          : (JSON.parse(r.stdout) as { workloads: number; findings: { message: string }[] }),
    };
  };

  it('two unrelated projects stay two: their db services are not merged into one', () => {
    const r = json('one/compose.yaml', 'two/compose.yaml');
    assert.notEqual(r.code, 2, r.stderr);
    assert.equal(r.body!.workloads, 2);
    assert.ok(r.body!.findings.some((f) => f.message.includes('postgres:16')));
    assert.ok(r.body!.findings.some((f) => f.message.includes('mysql:8')));
  });

  it('-f files are one project, merged in the order given', () => {
    const r = json('-f', 'one/compose.yaml', '-f', 'two/compose.yaml');
    assert.equal(r.body!.workloads, 1);
    assert.ok(!r.body!.findings.some((f) => f.message.includes('postgres:16')), 'the later file wins');
  });

  it('walks a directory honouring .gitignore, and skips what is not a spec', () => {
    mkdirSync(join(t.dir, 'repo', '.github', 'workflows'), { recursive: true });
    mkdirSync(join(t.dir, 'repo', 'ignored'));
    writeFileSync(join(t.dir, 'repo', 'compose.yaml'), DB('redis:7'));
    writeFileSync(join(t.dir, 'repo', '.github', 'workflows', 'ci.yml'), 'on: push\njobs: {}\n');
    writeFileSync(join(t.dir, 'repo', 'chart.yaml'), 'image: {{ .Values.image }}\n  bad: [\n');
    writeFileSync(join(t.dir, 'repo', 'ignored', 'compose.yaml'), DB('never:1'));
    writeFileSync(join(t.dir, 'repo', '.gitignore'), 'ignored/\n');
    const r = json('repo');
    assert.notEqual(r.code, 2, r.stderr);
    assert.equal(r.body!.workloads, 1);
    assert.ok(r.body!.findings.some((f) => f.message.includes('redis:7')));
    assert.ok(!r.body!.findings.some((f) => f.message.includes('never:1')), '.gitignore is honoured');
    assert.match(r.stderr, /2 file\(s\) skipped \(not specs\)/);
  });

  it('unreadable or missing input is exit 2 with the reason, never an internal error', () => {
    const missing = rampart(['check', 'nope.yaml'], { cwd: t.dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /RAMPART_E_ADMISSION_INPUT: nope\.yaml: no such file or directory/);
    const named = rampart(['check', 'one/compose.yaml', join(t.dir, 'repo', 'chart.yaml')], { cwd: t.dir });
    assert.equal(named.code, 2, 'a file named on the command line must parse');
    assert.doesNotMatch(named.stderr + missing.stderr, /RAMPART_E_INTERNAL|EISDIR/);
  });
});
