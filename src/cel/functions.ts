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

/** Glob with * and ?, linear-time (no backtracking blow-up). */
export function glob(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      star = pi++;
      mark = si;
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
