// Host patterns: exact names and `*.example.com` (any depth of subdomain, not the apex), each
// with optional ports. Compiled once into hash lookups: a check walks the host's labels, never
// the rule list.

export interface HostRule {
  /** The pattern as written: "github.com", "*.githubusercontent.com", "registry.npmjs.org:443". */
  readonly pattern: string;
  /** Where it came from, for records: "list:github", "profile:ci.allow[2]". */
  readonly source: string;
}

interface Compiled {
  readonly rule: HostRule;
  /** Undefined: any port. */
  readonly ports: ReadonlySet<number> | undefined;
}

const HOST_RE = /^(\*\.)?([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/;

/** Lower-cases, strips one trailing dot; undefined when not a valid DNS name. */
export function normalizeHost(host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h.length === 0 || h.length > 253) return undefined;
  return /^([a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}$/.test(h) ? h : undefined;
}

export function parsePattern(pattern: string): { host: string; wildcard: boolean; ports?: number[] } {
  const m = /^([^:]+)(?::(\d{1,5}(?:,\d{1,5})*))?$/.exec(pattern.trim().toLowerCase());
  if (!m || !HOST_RE.test(m[1]!))
    throw new TypeError(`"${pattern}" is not a host pattern (host, *.domain, optional :port[,port])`);
  const wildcard = m[1]!.startsWith('*.');
  const ports = m[2]?.split(',').map(Number);
  if (ports?.some((p) => p < 1 || p > 65535)) throw new TypeError(`"${pattern}": port out of range`);
  return { host: wildcard ? m[1]!.slice(2) : m[1]!, wildcard, ...(ports ? { ports } : {}) };
}

export class HostMatcher {
  private readonly exact = new Map<string, Compiled[]>();
  private readonly suffix = new Map<string, Compiled[]>();

  constructor(rules: readonly HostRule[]) {
    for (const rule of rules) {
      const p = parsePattern(rule.pattern);
      const c: Compiled = { rule, ports: p.ports ? new Set(p.ports) : undefined };
      const map = p.wildcard ? this.suffix : this.exact;
      const list = map.get(p.host) ?? [];
      list.push(c);
      map.set(p.host, list);
    }
  }

  get size(): number {
    return this.exact.size + this.suffix.size;
  }

  /** The first rule matching host:port (host already normalized), or undefined. */
  match(host: string, port: number): HostRule | undefined {
    const hit = (list: Compiled[] | undefined): HostRule | undefined =>
      list?.find((c) => c.ports === undefined || c.ports.has(port))?.rule;
    const e = hit(this.exact.get(host));
    if (e) return e;
    // *.example.com matches a.example.com and a.b.example.com, not example.com.
    for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
      const s = hit(this.suffix.get(host.slice(i + 1)));
      if (s) return s;
    }
    return undefined;
  }
}

/** Ready-made allow-lists operators name in profiles (`lists: [github, npm]`). */
export const HOST_LISTS: Readonly<Record<string, readonly string[]>> = {
  github: [
    'github.com:443,22',
    'api.github.com:443',
    'codeload.github.com:443',
    'uploads.github.com:443',
    'objects.githubusercontent.com:443',
    'raw.githubusercontent.com:443',
    '*.githubusercontent.com:443',
    'ghcr.io:443',
    'pkg-containers.githubusercontent.com:443',
  ],
  npm: ['registry.npmjs.org:443', 'registry.yarnpkg.com:443'],
  pypi: ['pypi.org:443', 'files.pythonhosted.org:443'],
  dockerhub: [
    'registry-1.docker.io:443',
    'auth.docker.io:443',
    'production.cloudflare.docker.com:443',
    'index.docker.io:443',
  ],
  crates: ['crates.io:443', 'index.crates.io:443', 'static.crates.io:443'],
  goproxy: ['proxy.golang.org:443', 'sum.golang.org:443', 'storage.googleapis.com:443'],
  debian: ['deb.debian.org:80,443', 'security.debian.org:80,443'],
};
