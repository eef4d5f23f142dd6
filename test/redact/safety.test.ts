// No input can make redaction slow. Three layers of proof:
//  1. every pattern is free of super-linear backtracking (recheck, an automata-based ReDoS checker);
//  2. every quantifier in every pattern is bounded, so one attempt examines a bounded span;
//  3. for every rule, inputs built to make it work hardest (its keywords repeated back to back,
//     with separators, with maximal bodies that never terminate) scale linearly: five times the
//     input takes about five times as long, not twenty-five.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check } from 'recheck';
import { Redactor } from '../../src/redact/engine.js';
import { RULES, type Rule } from '../../src/redact/rules.js';

/** Quantifiers outside character classes that have no upper bound: *, +, {n,}. */
function unboundedQuantifiers(source: string): string[] {
  const found: string[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '*' || c === '+') found.push(`${c} at ${i}`);
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (m && m[2] !== undefined && m[3] === '') found.push(`${m[0]} at ${i}`);
    }
  }
  return found;
}

describe('redaction patterns are safe', () => {
  it('uses only bounded quantifiers', () => {
    for (const r of RULES) assert.deepEqual(unboundedQuantifiers(r.pattern.source), [], r.id);
  });

  it('has no super-linear backtracking in any pattern (recheck)', async () => {
    // A few checks at a time: recheck's fuzzing needs CPU, and starved it gives up with "unknown".
    const results: { id: string; status: string; detail: string }[] = [];
    const queue = [...RULES];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          // Sticky, as the engine runs them: each attempt is anchored at a keyword.
          const d = await check(r.pattern.source, r.pattern.flags + 'y', { timeout: 60_000 });
          results.push({
            id: r.id,
            status: d.status,
            detail: d.status === 'vulnerable' ? d.complexity.type : '',
          });
        }
      }),
    );
    const unsafe = results.filter((x) => x.status !== 'safe');
    assert.deepEqual(unsafe, [], 'patterns not proven safe');
  });
});

function adversarial(r: Rule, size: number): string[] {
  const out: string[] = [];
  const fill = (unit: string): string => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  for (const kw of r.keywords.slice(0, 2)) {
    const k = kw;
    out.push(fill(k)); // back to back
    out.push(fill(k + '=')); // assignment with no value
    out.push(fill(k + ' ')); // separated
    out.push(fill(k + '://:@')); // URL-ish punctuation
    out.push(fill(k + 'a'.repeat(5000) + ' ')); // longest bodies that end badly
    out.push(fill(k + '0'.repeat(40) + '-')); // digits and dashes
    out.push(fill(k + '\\n' + 'A'.repeat(70))); // escaped newlines, key-body-like
    if (r.back) out.push(fill('a'.repeat(r.back.max + 5) + k));
  }
  return out;
}

function timeOf(fn: () => void, tries = 2): number {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

describe('redaction stays linear on adversarial input', () => {
  it('every rule: 5x the input takes well under 25x the time', () => {
    const SMALL = 60_000;
    const LARGE = 300_000;
    const slow: string[] = [];
    for (const r of RULES) {
      const one = new Redactor({ rules: [r] });
      const small = adversarial(r, SMALL);
      const large = adversarial(r, LARGE);
      for (let i = 0; i < small.length; i++) {
        let ts = timeOf(() => one.find(small[i]!));
        let tl = timeOf(() => one.find(large[i]!));
        // Quadratic work would be 25x; allow noise on small timings with a floor. A busy machine
        // (another process on the other core) can make one pair look slow: a suspect pair is
        // measured again, best of 9, before it counts; quadratic work stays 25x every time.
        const suspect = (): boolean => tl > 2 && tl / Math.max(ts, 0.5) > 12;
        if (suspect()) {
          ts = timeOf(() => one.find(small[i]!), 9);
          tl = timeOf(() => one.find(large[i]!), 9);
        }
        if (suspect()) {
          // Still suspect: a pause of a few milliseconds can fake 12x on inputs this small. Go 25x
          // larger, where quadratic work is 625x over the small input and 25x over the large one.
          // Both must hold: a loaded machine once made the small input look fast alone
          // (0.9 -> 15.9 -> 113 ms, linear from large to huge), and quadratic work cannot hide
          // its 25x between the two largest.
          const huge = adversarial(r, SMALL * 25)[i]!;
          const th = timeOf(() => one.find(huge), 3);
          if (th / Math.max(ts, 0.5) > 100 && th / Math.max(tl, 0.5) > 12)
            slow.push(
              `${r.id} input ${i}: ${ts.toFixed(1)} ms -> ${tl.toFixed(1)} ms -> ${th.toFixed(1)} ms (25x)`,
            );
        }
        if (tl > 500) slow.push(`${r.id} input ${i}: ${tl.toFixed(0)} ms for 300 kB`);
      }
    }
    assert.deepEqual(slow, []);
  });

  it('a 10 MB single line of mixed adversarial content, through every rule at once', () => {
    const all = new Redactor();
    const unit = RULES.flatMap((r) => r.keywords.slice(0, 1)).join('=a ') + ' ';
    const text = unit.repeat(Math.ceil(10_000_000 / unit.length)).slice(0, 10_000_000);
    const t = performance.now();
    all.find(text);
    const ms = performance.now() - t;
    // Generous: a linear pass is well under a second here; a quadratic one would take hours.
    assert.ok(ms < 20_000, `10 MB took ${ms.toFixed(0)} ms`);
  });
});
