// The static checks every CEL expression Rampart loads passes, whatever it is written against: a
// worst-case cost, and regexes that cannot backtrack for ever (CEL's `matches` runs JavaScript
// regexes here, over input an agent controls).

import type { ASTNode } from '@marcbachmann/cel-js';

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/** Most evaluation steps a rule may cost in the worst case the input limits allow. */
export const COST_BUDGET = 1_000_000;

export interface StaticProblem {
  readonly message: string;
  /** Offset in the expression. */
  readonly offset: number;
}

/**
 * Worst-case cost of an expression: every node costs one step, and a comprehension runs its body
 * once per element of the longest list the input may carry (`listItems`). Also rejects
 * `matches` with a pattern that is not a literal or that nests quantifiers: CEL's regexes are JS
 * regexes here, and a nested quantifier over attacker-controlled input can backtrack for ever.
 */
export function analyze(ast: ASTNode, listItems: number): { cost: number; problems: StaticProblem[] } {
  const problems: StaticProblem[] = [];
  const cost = (n: ASTNode): number => {
    switch (n.op) {
      case 'value':
      case 'id':
        return 1;
      case '.':
      case '.?':
        return 1 + cost(n.args[0]);
      case 'call':
        return 1 + n.args[1].reduce((s, a) => s + cost(a), 0);
      case 'rcall': {
        const [name, target, args] = n.args;
        if (name === 'matches') {
          const pat = args[0];
          if (!pat || pat.op !== 'value' || typeof pat.args !== 'string') {
            problems.push({
              message: 'matches() needs a literal pattern (a pattern built from input could be anything)',
              offset: n.range.start,
            });
          } else if (nestedQuantifier(pat.args)) {
            problems.push({
              message: `matches("${pat.args}") nests quantifiers, which can backtrack exponentially; use glob(), startsWith() or a flatter pattern`,
              offset: pat.range.start,
            });
          }
        }
        const rest = args.reduce((s, a) => s + cost(a), 0);
        return 1 + cost(target) + (COMPREHENSIONS.has(name) ? listItems * rest : rest);
      }
      case 'list':
        return 1 + n.args.reduce((s, a) => s + cost(a), 0);
      case 'map':
        return 1 + n.args.reduce((s, [k, v]) => s + cost(k) + cost(v), 0);
      case '?:':
        return 1 + cost(n.args[0]) + cost(n.args[1]) + cost(n.args[2]);
      case '!_':
      case '-_':
        return 1 + cost(n.args);
      default:
        return 1 + cost(n.args[0]) + cost(n.args[1]);
    }
  };
  return { cost: cost(ast), problems };
}

/** True when a quantified group contains a quantifier: (a+)+, (a*b)*, (x{2,})+ ... */
export function nestedQuantifier(pattern: string): boolean {
  const stack: boolean[] = []; // per open group: does it contain a quantifier?
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') {
      stack.push(false);
      // (?:, (?=, (?!, (?<=, (?<!, (?<name>: the ? is syntax, not a quantifier.
      if (pattern[i + 1] === '?') {
        i += 2;
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!')
          while (i < pattern.length && pattern[i] !== '>') i++;
        else if (pattern[i] === '<') i++;
      }
    } else if (c === ')') {
      const had = stack.pop() ?? false;
      const next = pattern[i + 1];
      if (had && (next === '*' || next === '+' || next === '{' || next === '?')) return true;
      if (had && stack.length > 0) stack[stack.length - 1] = true;
    } else if ((c === '*' || c === '+' || c === '{' || c === '?') && stack.length > 0) {
      stack[stack.length - 1] = true;
    }
  }
  return false;
}

/** The first line of a cel-js error (the rest is a source excerpt; callers point at file:line:col). */
export function celMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? m).replace(/^(?:TypeError|ParseError):\s*/, '');
}
