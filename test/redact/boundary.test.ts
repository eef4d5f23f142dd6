// A secret is redacted whatever it is glued to. Logs put credentials next to anything: a JSON
// escape (`"x\nghp_..."`), a word (`tokenghp_...`), a digit, an underscore, a quote, a control
// byte, a non-ASCII letter. For every rule's positive examples, each byte class before and each
// after, the redacted spans must cover the whole secret. A token (a secret that carries its own
// prefix) is glued directly; a secret found by its context (a key, a URL, a header) has the
// neighbours glued to the context's ends, since a byte inside `user:pass@host` changes the URL.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Gen, prng } from '../../bench/redact/corpus.js';
import { Redactor } from '../../src/redact/engine.js';
import { RULES } from '../../src/redact/rules.js';
import { EXAMPLES, render } from './examples.js';
import { rampart, startServer, type Server } from '../support/cli.js';
import { adminToken, api } from '../support/http.js';
import { tempDir, type TempDir } from '../support/tmp.js';

/** One representative of each byte class, as a secret's neighbour would be written in a log. */
const CLASSES: Record<string, string> = {
  nothing: '',
  lower: 'x',
  upper: 'Q',
  digit: '7',
  underscore: '_',
  hyphen: '-',
  dot: '.',
  slash: '/',
  colon: ':',
  equals: '=',
  'double quote': '"',
  'single quote': "'",
  space: ' ',
  tab: '\t',
  newline: '\n',
  'JSON \\n': '\\n',
  'JSON \\t': '\\t',
  'JSON \\"': '\\"',
  'JSON \\u': '\\u00e9',
  NUL: '\u0000',
  DEL: '\u007f',
  'latin-1': 'é',
  'other script': 'ж',
  emoji: '🔑',
};

const redactor = new Redactor();

/** Is [from, to) covered by the union of the matches' spans? */
function covered(matches: readonly { start: number; end: number }[], from: number, to: number): boolean {
  let at = from;
  for (const m of [...matches].sort((a, b) => a.start - b.start)) {
    if (m.start > at) break;
    at = Math.max(at, m.end);
  }
  return at >= to;
}

describe('redaction at any boundary', () => {
  it("redacts every rule's examples preceded and followed by every byte class (property)", () => {
    const failures: string[] = [];
    for (const r of RULES) {
      for (let seed = 1; seed <= 3; seed++) {
        const ex = render(r.id, EXAMPLES[r.id]!(new Gen(prng(seed * 104729 + r.id.length))));
        const found = ex.text.indexOf(ex.secret);
        assert.ok(found >= 0, r.id);
        // A token rule's secret carries its own keyword: glue to the secret itself. A rule that
        // needs context (a key, a URL, a header) has its neighbour before that context instead.
        const token = r.keywords.some((k) => ex.secret.toLowerCase().startsWith(k.toLowerCase()));
        const at = token ? found : 0;
        const lead = found - at;
        const end = token ? found + ex.secret.length : ex.text.length;
        for (const [beforeName, before] of Object.entries(CLASSES))
          for (const [afterName, after] of Object.entries(CLASSES)) {
            // Glued: the neighbours touch the secret's own characters, where the example had its
            // context (a key, a separator, a space) they are put between it and the secret.
            const text = ex.text.slice(0, at) + before + ex.text.slice(at, end) + after + ex.text.slice(end);
            const start = at + before.length + lead;
            const { matches } = redactor.redact(text);
            if (!covered(matches, start, start + ex.secret.length))
              failures.push(`${r.id}: ${beforeName} | secret | ${afterName}`);
          }
      }
    }
    const byClass = new Map<string, number>();
    for (const f of failures) {
      const k = f.split(': ')[1]!;
      byClass.set(k, (byClass.get(k) ?? 0) + 1);
    }
    assert.deepEqual(
      failures.slice(0, 40),
      [],
      `${failures.length} failures; by class: ${JSON.stringify([...byClass].sort((a, b) => b[1] - a[1]).slice(0, 60))}`,
    );
  });
});

describe('glued secrets stay out of the audit log', () => {
  let dir: TempDir;
  let server: Server;
  before(async () => {
    dir = tempDir();
    server = await startServer(['--listen', '127.0.0.1:0'], { cwd: dir.dir });
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  it('a decision context and a revocation reason holding `x\\nghp_...` are recorded redacted', async () => {
    const token = EXAMPLES['github-pat-classic']!(new Gen(prng(42))).secret;
    const admin = api(server.url, adminToken(dir.dir));
    const decided = await admin('POST', '/v1/decide', {
      principal: { type: 'agent', id: 'a1' },
      action: 'secret.read',
      resource: { type: 'vault', id: 'ci' },
      context: { out: `x\n${token}`, note: `token${token}` },
    });
    assert.equal(decided.status, 200, JSON.stringify(decided.json));
    const revoked = await admin('POST', '/v1/tokens/revocations', {
      kind: 'agent',
      value: 'a1',
      reason: `leaked as_${token}`,
    });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    await admin('POST', '/v1/audit/checkpoints');
    const tail = rampart(['audit', 'tail', '-n', '100'], { cwd: dir.dir });
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /REDACTED-GITHUB-TOKEN/);
    assert.ok(!tail.stdout.includes(token.slice(4)), 'the token is in an audit record');
  });
});
