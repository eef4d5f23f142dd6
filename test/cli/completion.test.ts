// Shell completion, built from the commands' own usage texts, checked in a real bash; progress
// on a terminal, and none when stderr is not one.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { BIN, rampart } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

describe('shell completion', () => {
  const script = rampart(['completion', 'bash'], { cwd: '/' });

  const dir = tempDir();
  const file = join(dir.dir, 'rampart.bash');
  writeFileSync(file, script.stdout);
  after(() => dir.cleanup());

  /** What bash offers after the words typed so far (the last one being completed). */
  function complete(...words: string[]): string[] {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source ${file}; COMP_WORDS=(rampart ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _rampart; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  }

  it('completes commands, subcommands and options in bash', () => {
    assert.equal(script.code, 0, script.stderr);
    assert.deepEqual(complete('au'), ['audit']);
    assert.deepEqual(complete('e').sort(), ['egress', 'entity', 'events']);
    assert.deepEqual(complete('egress', 'k'), ['kill-switch']);
    assert.deepEqual(complete('audit', 'tail', '--ac'), ['--action']);
    assert.ok(complete('run', '--').includes('--no-network'));
  });

  it('prints zsh and fish scripts, and refuses another shell', () => {
    assert.match(
      rampart(['completion', 'zsh'], { cwd: '/' }).stdout,
      /^#compdef rampart\n[^]*complete -o default -F _rampart rampart/,
    );
    const fish = rampart(['completion', 'fish'], { cwd: '/' }).stdout;
    assert.match(fish, /^complete -c rampart -n "__fish_seen_subcommand_from egress" -a "[^"]*kill-switch/m);
    assert.match(fish, /^complete -c rampart -n __fish_use_subcommand -a audit -d "Verify, read/m);
    const bad = rampart(['completion', 'tcsh'], { cwd: '/' });
    assert.equal(bad.code, 2);
    assert.ok(BIN);
  });
});

describe('progress of long operations', () => {
  const tree = tempDir();
  for (let i = 0; i < 40; i++) writeFileSync(join(tree.dir, `f${i}.txt`), `line ${i}\n`);
  after(() => tree.cleanup());

  async function scan(tty: boolean, ...extra: string[]): Promise<{ code: number; stderr: string }> {
    const stderr = Object.assign(new PassThrough(), { isTTY: tty });
    const stdout = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    stdout.resume();
    const code = await main(['scan', '.', ...extra], {
      stdout,
      stderr,
      stdin: new PassThrough(),
      cwd: tree.dir,
    });
    return { code, stderr: err };
  }

  it('shows files and rate on a terminal, then clears its line', async () => {
    const r = await scan(true);
    assert.equal(r.code, 0);
    // ESC [ K erases to the end of the line; shown here as <EL> to keep the patterns readable.
    const shown = r.stderr.replaceAll('\u001b[K', '<EL>');
    assert.match(shown, /\rscanning: \d+ files \(\d+k?\/s\)<EL>/);
    assert.match(shown, /\r<EL>rampart: scanned 40 file\(s\)/, 'the line cleared before the summary');
  });

  it('stays silent when stderr is not a terminal, or with --quiet', async () => {
    // Only the summary line: no progress, no control characters.
    const summary = 'rampart: scanned 40 file(s), 310 bytes: 0 secret(s) found\n';
    assert.equal((await scan(false)).stderr, summary);
    assert.equal((await scan(true, '--quiet')).stderr, summary);
  });
});
