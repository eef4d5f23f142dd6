// Rampart's CEL functions over hosts, globs and addresses, shared by every CEL environment (policy,
// detection) and by the closures they compile to: one definition, so a rule means the same on
// cel-js and compiled.

/** Host pattern: exact, or "*.example.com" for any subdomain (not the apex). */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return h === p;
}

/** hostMatches with the pattern prepared once: what compiled rules call with a constant pattern. */
export function compileHostPattern(pattern: string): (host: string) => boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) {
    const suffix = p.slice(1);
    return (host) => {
      const h = host.toLowerCase().replace(/\.$/, '');
      return h.endsWith(suffix) && h.length > suffix.length;
    };
  }
  return (host) => host.toLowerCase().replace(/\.$/, '') === p;
}

/**
 * glob with the pattern prepared once. The shapes rules use most ("LIT", "*LIT", "LIT*", "*LIT*",
 * with no other * or ?) become one string test; anything else runs the general matcher. Same
 * answers as glob() (test/cel/functions.test.ts checks the two on generated patterns).
 */
export function compileGlob(pattern: string): (s: string) => boolean {
  const lead = pattern.startsWith('*');
  const trail = pattern.length > 1 && pattern.endsWith('*');
  const lit = pattern.slice(lead ? 1 : 0, trail ? -1 : undefined);
  if (pattern === '*') return () => true;
  if (lit.includes('*') || lit.includes('?')) return (s) => glob(s, pattern);
  if (lead && trail) return (s) => s.includes(lit);
  if (lead) return (s) => s.endsWith(lit);
  if (trail) return (s) => s.startsWith(lit);
  return (s) => s === lit;
}

/** Glob with * and ?, linear-time (no backtracking blow-up). */
export function glob(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    // A * in the pattern is a wildcard even where the text has a literal *: checked first.
    if (pi < pattern.length && pattern[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

/** Whether `s` matches any of the globs. */
export function globAny(s: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => glob(s, p));
}

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : undefined;
}

function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split('::').length > 2) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const words = (x: string | undefined): number[] | undefined => {
    if (x === undefined || x === '') return [];
    const out: number[] = [];
    for (const part of x.split(':')) {
      if (part.includes('.')) {
        const v4 = parseIPv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const h = words(head);
  const t = words(tail);
  if (!h || !t) return undefined;
  if (tail === undefined) return h.length === 8 ? h : undefined;
  if (h.length + t.length > 7) return undefined;
  return [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** Whether `ip` is inside `cidr` (IPv4 or IPv6). Malformed input is simply not contained. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (net === undefined) return false;
  const v4 = parseIPv4(net);
  const target4 = parseIPv4(ip);
  const toBits = (words: number[], width: number): string =>
    words.map((w) => w.toString(2).padStart(width, '0')).join('');
  let a: string;
  let b: string;
  if (v4 && target4) {
    a = toBits(v4, 8);
    b = toBits(target4, 8);
  } else {
    const n6 = parseIPv6(net);
    const t6 = parseIPv6(ip);
    if (!n6 || !t6) return false;
    a = toBits(n6, 16);
    b = toBits(t6, 16);
  }
  const bits = bitsText === undefined ? a.length : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > a.length) return false;
  return a.slice(0, bits) === b.slice(0, bits);
}

/** Shannon entropy of `s` in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * Whether a host name has a label that looks generated rather than chosen: data smuggled out in
 * DNS names, or a domain-generation algorithm. A label counts when it is long (32+ characters:
 * a hex or base32 chunk) or when it is 16+ characters, mixes letters and digits, and has the
 * entropy of random text (3.5+ bits per character). The registrable part (the last two labels)
 * is left out: "a1b2c3d4e5f6g7h8.example.com" is suspect, "github.com" never.
 */
export function randomLooking(host: string): boolean {
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  for (const l of labels.slice(0, Math.max(0, labels.length - 2))) {
    if (l.length >= 32) return true;
    if (l.length >= 16 && /[a-z]/.test(l) && /\d/.test(l) && entropy(l) >= 3.5) return true;
  }
  return false;
}

/**
 * Whether a request target (path and query) carries a base64 or base64url blob: 40+ characters
 * of that alphabet in one run, with both letter cases and a digit (prose and paths rarely do).
 */
export function base64Blob(target: string): boolean {
  for (const m of target.matchAll(/[A-Za-z0-9+/_-]{40,}={0,2}/g)) {
    const s = m[0];
    if (/[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s)) return true;
  }
  return false;
}
