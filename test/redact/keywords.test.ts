import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { KeywordAutomaton } from '../../src/redact/keywords.js';
import { RULES } from '../../src/redact/rules.js';

const KEYWORDS = [...new Set(RULES.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))];
const automaton = new KeywordAutomaton(KEYWORDS);

function naive(text: string): string[] {
  const lower = text.toLowerCase();
  const out: string[] = [];
  for (let end = 1; end <= lower.length; end++) {
    for (let k = 0; k < KEYWORDS.length; k++) {
      const kw = KEYWORDS[k]!;
      if (end >= kw.length && lower.startsWith(kw, end - kw.length)) out.push(`${k}@${end - kw.length}`);
    }
  }
  return out.sort();
}

function viaString(text: string): string[] {
  const out: string[] = [];
  automaton.scan(text, 0, text.length, (k, s) => out.push(`${k}@${s}`));
  return out.sort();
}

function viaBytes(text: string): string[] {
  const out: string[] = [];
  const b = Buffer.from(text, 'latin1');
  automaton.scanBytes(b, 0, b.length, (k, s) => out.push(`${k}@${s}`));
  return out.sort();
}

function viaJsBytes(text: string): string[] {
  const out: string[] = [];
  const b = Buffer.from(text, 'latin1');
  const buf = new Int32Array(128);
  const resume = { at: 0, state: 0 };
  while (resume.at < b.length) {
    const n = automaton.scanBytesInto(b, resume.at, b.length, buf, resume);
    for (let h = 0; h < n; h += 2) out.push(`${buf[h]}@${buf[h + 1]}`);
  }
  return out.sort();
}

it('the string, JavaScript-bytes and WebAssembly scanners report exactly the keyword occurrences (property)', () => {
  const piece = fc.oneof(
    fc.constantFrom(...KEYWORDS, ...KEYWORDS.map((k) => k.toUpperCase())),
    fc.string({ maxLength: 8 }),
    fc.constantFrom(' ', '\n', '=', '\u00e9', '\u00ff'),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
      const text = parts.join('');
      const expected = naive(text);
      // Characters above latin1 have no byte form; the byte scanners see latin1 text only.
      const latin1 = [...text].every((c) => c.charCodeAt(0) <= 0xff);
      return (
        JSON.stringify(viaString(text)) === JSON.stringify(expected) &&
        (!latin1 ||
          (JSON.stringify(viaBytes(text)) === JSON.stringify(expected) &&
            JSON.stringify(viaJsBytes(text)) === JSON.stringify(expected)))
      );
    }),
    { numRuns: 500 },
  );
});

it('scans inputs larger than the WebAssembly memory it starts with', () => {
  const text = 'x'.repeat(3_000_000) + 'ghp_' + 'y'.repeat(1000) + 'bearer';
  assert.deepEqual(viaBytes(text), viaString(text));
  assert.equal(viaBytes(text).length, 2);
});
