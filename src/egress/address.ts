// The address guard: which resolved addresses an agent may connect to.
//
// Hosts arrive in every spelling an attacker can think of: 127.1, 0177.0.0.1, 0x7f000001,
// 2130706433, [::ffff:127.0.0.1], [::ffff:7f00:1], 64:ff9b::7f00:1 (NAT64), 2002:7f00:1::
// (6to4), Teredo. Numeric hosts are parsed the way inet_aton and the URL standard do, so "what
// the proxy checks" and "what the kernel connects to" are the same 32 or 128 bits; IPv6 that
// embeds an IPv4 address is checked as that IPv4 address too. Ranges are compiled to
// (network, mask) pairs once, at load; a check is a few integer comparisons.

import { isIP } from 'node:net';

export type Family = 4 | 6;

export interface Address {
  readonly family: Family;
  /** 32 bits for IPv4, 128 for IPv6. */
  readonly value: bigint;
  /** Canonical text (dotted quad, or compressed IPv6). */
  readonly text: string;
}

interface CompiledRange {
  readonly family: Family;
  readonly network: bigint;
  readonly mask: bigint;
  /** IPv4 ranges again as unsigned 32-bit numbers: checked without BigInt arithmetic. */
  readonly network32: number;
  readonly mask32: number;
  readonly label: string;
  readonly cidr: string;
}

/** Why an address is refused by default: RFC 6890 special-purpose space and friends. */
const BLOCKED: readonly [string, string][] = [
  ['0.0.0.0/8', 'unspecified ("this network")'],
  ['10.0.0.0/8', 'private (RFC 1918)'],
  ['100.64.0.0/10', 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata lives here)'],
  ['172.16.0.0/12', 'private (RFC 1918)'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private (RFC 1918)'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved (and broadcast)'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['::ffff:0:0/96', 'IPv4-mapped IPv6'],
  ['::ffff:0:0:0/96', 'IPv4-translated IPv6 (SIIT)'],
  ['64:ff9b::/96', 'NAT64 (embeds IPv4)'],
  ['64:ff9b:1::/48', 'local NAT64 (embeds IPv4)'],
  ['2002::/16', '6to4 (embeds IPv4)'],
  ['2001::/32', 'Teredo (embeds IPv4)'],
  ['100::/64', 'discard-only'],
  ['2001:db8::/32', 'documentation'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
];

const MAX4 = 0xffffffffn;
const MAX6 = (1n << 128n) - 1n;

/** Parses an IPv4 address in any inet_aton spelling (1 to 4 parts, decimal/octal/hex). */
export function parseIPv4Loose(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  const parts = text.endsWith('.') ? text.slice(0, -1).split('.') : text.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const nums: bigint[] = [];
  for (const p of parts) {
    let n: bigint;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) n = p.length === 2 ? 0n : BigInt(p);
    else if (/^0[0-7]+$/.test(p)) n = BigInt('0o' + p.slice(1));
    else if (/^(0|[1-9][0-9]*)$/.test(p)) n = BigInt(p);
    else return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  for (const n of nums) if (n > 255n) return undefined;
  const rest = 4 - nums.length; // bytes the last part fills
  if (last >= 1n << BigInt(8 * rest)) return undefined;
  let v = 0n;
  for (const n of nums) v = (v << 8n) | n;
  return (v << BigInt(8 * rest)) | last;
}

function v4Text(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

/** Parses a strict IPv6 address (with an optional embedded dotted quad), no zone id. */
export function parseIPv6(text: string): bigint | undefined {
  if (isIP(text) !== 6) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = head.lastIndexOf(':');
  if (head.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIPv4Strict(head.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = head.slice(0, lastColon + 1) + '0:0';
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const fill = r === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt('0x' + (g || '0'));
  if (tailV4 !== undefined) v = (v & ~MAX4) | tailV4;
  return v;
}

function parseIPv4Strict(text: string): bigint | undefined {
  return isIP(text) === 4 ? parseIPv4Loose(text) : undefined;
}

function v6Text(v: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((v >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** A canonical dotted quad: four decimal parts without leading zeros (which would be octal). */
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/**
 * A host as a numeric address, when it is one in any spelling (brackets allowed for IPv6), or
 * undefined when it is a name to resolve.
 */
export function numericHost(host: string): Address | undefined {
  // The spelling nearly every address arrives in (from DNS, or a client that wrote a dotted
  // quad) without BigInt arithmetic; anything unusual takes the general path below.
  const q = DOTTED_QUAD.exec(host);
  if (q) {
    const a = Number(q[1]);
    const b = Number(q[2]);
    const c = Number(q[3]);
    const d = Number(q[4]);
    if (a <= 255 && b <= 255 && c <= 255 && d <= 255)
      return { family: 4, value: BigInt(a * 0x1000000 + ((b << 16) | (c << 8) | d)), text: host };
  }
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes('%')) return undefined; // zone ids are refused by the caller as malformed
  if (h.includes(':')) {
    const v = parseIPv6(h);
    return v === undefined ? undefined : { family: 6, value: v, text: v6Text(v) };
  }
  // A name whose last label is numeric is an IPv4 address to the URL standard.
  const labels = h.replace(/\.$/, '').split('.');
  const last = labels[labels.length - 1] ?? '';
  if (!/^(0[xX][0-9a-fA-F]*|[0-9]+)$/.test(last)) return undefined;
  const v = parseIPv4Loose(h);
  return v === undefined ? undefined : { family: 4, value: v, text: v4Text(v) };
}

/** A resolved address (strict text from DNS or a socket) as an Address. */
export function toAddress(text: string): Address | undefined {
  return numericHost(text);
}

/** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any. */
export function embeddedIPv4(a: Address): Address | undefined {
  if (a.family !== 6) return undefined;
  const v = a.value;
  let inner: bigint | undefined;
  if (v >> 32n === 0xffffn)
    inner = v & MAX4; // ::ffff:a.b.c.d
  else if (v >> 32n === 0xffff0000n)
    inner = v & MAX4; // ::ffff:0:a.b.c.d (SIIT)
  else if (v >> 32n === 0x64ff9b0000000000000000n)
    inner = v & MAX4; // 64:ff9b::/96
  else if (v >> 80n === 0x64ff9b0001n)
    inner = v & MAX4; // 64:ff9b:1::/48 (local NAT64)
  else if (v >> 112n === 0x2002n)
    inner = (v >> 80n) & MAX4; // 6to4 2002:AABB:CCDD::
  else if (v >> 96n === 0x20010000n) inner = ~v & MAX4; // Teredo: client address, inverted
  return inner === undefined ? undefined : { family: 4, value: inner, text: v4Text(inner) };
}

function compile(cidr: string, label: string): CompiledRange {
  const slash = cidr.lastIndexOf('/');
  if (slash < 0) throw new TypeError(`"${cidr}" is not a CIDR (address/prefix)`);
  const addr = numericHost(cidr.slice(0, slash));
  const bits = Number(cidr.slice(slash + 1));
  const width = addr?.family === 6 ? 128 : 32;
  if (!addr || !Number.isInteger(bits) || bits < 0 || bits > width || !/^\d+$/.test(cidr.slice(slash + 1)))
    throw new TypeError(`"${cidr}" is not a CIDR (address/prefix)`);
  const all = addr.family === 6 ? MAX6 : MAX4;
  const mask = bits === 0 ? 0n : (all << BigInt(width - bits)) & all;
  const v4 = addr.family === 4;
  return {
    family: addr.family,
    network: addr.value & mask,
    mask,
    network32: v4 ? Number(addr.value & mask) : 0,
    mask32: v4 ? Number(mask) : 0,
    label,
    cidr,
  };
}

function find(ranges: readonly CompiledRange[], a: Address): CompiledRange | undefined {
  if (a.family === 4) {
    const v = Number(a.value);
    for (const r of ranges) if (r.family === 4 && (v & r.mask32) >>> 0 === r.network32) return r;
    return undefined;
  }
  for (const r of ranges) if (r.family === 6 && (a.value & r.mask) === r.network) return r;
  return undefined;
}

export interface GuardVerdict {
  readonly allowed: boolean;
  /** Why not (or which explicit allow-range let it through). */
  readonly reason: string;
}

const PUBLIC: GuardVerdict = { allowed: true, reason: 'public address' };

/** Compiled once from configuration; checks are allocation-free comparisons. */
export class AddressGuard {
  private readonly blocked: CompiledRange[];
  private readonly allow: CompiledRange[];
  private readonly banned: CompiledRange[] = [];

  /**
   * `allowRanges`: internal ranges operators explicitly open (an internal registry, say).
   * `selfAddresses`: the proxy's own listening addresses, always refused.
   */
  constructor(allowRanges: readonly string[] = [], selfAddresses: readonly string[] = []) {
    this.blocked = BLOCKED.map(([c, l]) => compile(c, l));
    for (const s of selfAddresses) {
      const a = numericHost(s);
      if (a)
        this.blocked.unshift(compile(`${a.text}/${a.family === 4 ? 32 : 128}`, "the proxy's own address"));
    }
    this.allow = allowRanges.map((c) => compile(c, 'allow-range'));
  }

  /** Bans a CIDR or address at run time (the response engine's lever). */
  ban(cidr: string): string {
    const c = cidr.includes('/') ? cidr : `${cidr}/${numericHost(cidr)?.family === 6 ? 128 : 32}`;
    const r = compile(c, 'banned');
    if (!this.banned.some((b) => b.cidr === r.cidr)) this.banned.push(r);
    return r.cidr;
  }

  unban(cidr: string): boolean {
    const c = cidr.includes('/') ? cidr : `${cidr}/${numericHost(cidr)?.family === 6 ? 128 : 32}`;
    const r = compile(c, 'banned');
    const i = this.banned.findIndex(
      (b) => b.family === r.family && b.network === r.network && b.mask === r.mask,
    );
    if (i < 0) return false;
    this.banned.splice(i, 1);
    return true;
  }

  bans(): string[] {
    return this.banned.map((b) => b.cidr);
  }

  check(a: Address): GuardVerdict {
    // The embedded IPv4 address first, so the reason names what it really points at.
    const inner = embeddedIPv4(a);
    const candidates = inner ? [inner, a] : [a];
    for (const c of candidates) {
      const ban = find(this.banned, c);
      if (ban) return { allowed: false, reason: `${c.text} is banned (${ban.cidr})` };
    }
    for (const c of candidates) {
      if (find(this.allow, c)) continue;
      const r = find(this.blocked, c);
      if (r) {
        const via = c === inner ? ` (embedded in ${a.text})` : '';
        return { allowed: false, reason: `${c.text}${via} is ${r.label} (${r.cidr})` };
      }
    }
    for (const c of candidates) {
      const allowedBy = find(this.allow, c);
      if (allowedBy) return { allowed: true, reason: `allowed by ${allowedBy.cidr}` };
    }
    return PUBLIC;
  }
}
