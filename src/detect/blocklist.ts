// A blocklist of known malicious destinations: domains (a domain blocks its subdomains too),
// addresses and CIDR ranges, from local feed files in the common formats (hosts files,
// "0.0.0.0 evil.example", one domain or address per line, # comments). A lookup or a connection
// to one, through the egress proxy or seen by kernel telemetry, is a detection. The files are
// re-read when they change (checked every 5 s); a file that cannot be read keeps the last list
// and is reported in health.

import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { cidrContains } from '../cel/functions.js';
import type { StreamEvent } from '../core/events.js';
import { messageOf } from '../core/errors.js';
import type { Detection } from './engine.js';

/** The rule name blocklist detections carry. */
export const BLOCKLIST_RULE = 'blocklist-destination';

export interface BlocklistEntries {
  readonly domains: ReadonlySet<string>;
  readonly addresses: ReadonlySet<string>;
  readonly ranges: readonly string[];
}

/** Parses a feed: hosts-file lines, bare domains, addresses and CIDRs; the rest is ignored. */
export function parseFeed(text: string): BlocklistEntries {
  const domains = new Set<string>();
  const addresses = new Set<string>();
  const ranges: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    // hosts format: "0.0.0.0 evil.example [more names]"; the sink address is not an entry.
    const names = parts.length > 1 && isIP(parts[0]!) ? parts.slice(1) : parts;
    for (const n of names) {
      const v = n.toLowerCase().replace(/\.$/, '');
      if (isIP(v)) addresses.add(v);
      else if (/^[0-9a-f.:]+\/\d{1,3}$/.test(v) && isIP(v.split('/')[0]!)) ranges.push(v);
      else if (/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(v) && v !== 'localhost') domains.add(v);
    }
  }
  return { domains, addresses, ranges };
}

export class Blocklist {
  private entries: BlocklistEntries = { domains: new Set(), addresses: new Set(), ranges: [] };
  private stamps = '';
  private problem: string | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly files: readonly string[]) {
    this.reload();
    if (files.length > 0) {
      this.timer = setInterval(() => this.reload(), 5000);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.entries.domains.size + this.entries.addresses.size + this.entries.ranges.length;
  }

  /** Why the last reload failed (the previous list is kept), if it did. */
  get error(): string | undefined {
    return this.problem;
  }

  /** Re-reads the files when one changed. */
  reload(): void {
    try {
      const stamps = this.files
        .map((f) => {
          const st = statSync(f);
          return `${f}:${st.mtimeMs}:${st.size}`;
        })
        .join('|');
      if (stamps === this.stamps) return;
      const merged = { domains: new Set<string>(), addresses: new Set<string>(), ranges: [] as string[] };
      for (const f of this.files) {
        const e = parseFeed(readFileSync(f, 'utf8'));
        for (const d of e.domains) merged.domains.add(d);
        for (const a of e.addresses) merged.addresses.add(a);
        merged.ranges.push(...e.ranges);
      }
      this.entries = merged;
      this.stamps = stamps;
      this.problem = undefined;
    } catch (e) {
      this.problem = `a blocklist file cannot be read (the previous list is kept): ${messageOf(e)}`;
    }
  }

  /** The listed entry a host or address falls under, if any. */
  match(host: string, address: string): string | undefined {
    const h = host.toLowerCase().replace(/\.$/, '');
    if (h !== '') {
      if (this.entries.addresses.has(h)) return h;
      // The name, then each parent domain: a listed domain blocks its subdomains.
      for (let s = h; ;) {
        if (this.entries.domains.has(s)) return s;
        const dot = s.indexOf('.');
        if (dot === -1) break;
        s = s.slice(dot + 1);
      }
    }
    for (const a of [address, h]) {
      if (!a || !isIP(a)) continue;
      if (this.entries.addresses.has(a)) return a;
      const r = this.entries.ranges.find((c) => cidrContains(c, a));
      if (r) return r;
    }
    return undefined;
  }

  check(se: StreamEvent): Detection[] {
    const e = se.event;
    if (e.type !== 'egress.connection' && e.type !== 'net.connect') return [];
    if (this.size === 0) return [];
    const d = e.data as Record<string, unknown>;
    const host = typeof d['host'] === 'string' ? d['host'] : '';
    const address = typeof d['address'] === 'string' ? d['address'] : '';
    const hit = this.match(host, address);
    if (!hit) return [];
    const run = e.subject?.run ?? '';
    const agent = e.subject?.agent ?? '';
    return [
      {
        rule: BLOCKLIST_RULE,
        priority: 'high',
        output: `run ${run} (agent ${agent}) ${e.type === 'net.connect' ? 'connected to' : 'asked the proxy for'} ${host || address}, on the blocklist as ${hit}`,
        tags: ['T1071', 'blocklist'],
        run,
        agent,
        namespace: '',
        events: [se.seq],
        count: 1,
      },
    ];
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
