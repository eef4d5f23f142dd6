// Token buckets keyed by a string (an agent, a token, an address): `rate` tokens a second up to
// `burst`. Used by the API (per agent and per workload token) and by the egress proxy.
//
// Memory is bounded: a bucket that has refilled to `burst` is the same as no bucket, so those are
// dropped first when the map is full; only then the oldest. Keys come from verified identities,
// so an attacker cannot mint enough of them to push other agents' buckets out.

export interface BucketLimit {
  /** Tokens added per second. */
  readonly rate: number;
  /** Most tokens a bucket holds (and the first burst allowed). */
  readonly burst: number;
}

/** Route classes with their own limits: agent-facing API, token refresh, egress connections. */
export type RateClass = 'api' | 'refresh' | 'egress';

/** Limits per class, per agent (all its tokens together) and per token. */
export type RateLimits = Readonly<
  Record<RateClass, { readonly perAgent: BucketLimit; readonly perToken: BucketLimit }>
>;

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: BucketLimit,
    private readonly maxKeys = 100_000,
  ) {
    if (!(limit.rate > 0) || !(limit.burst >= 1)) throw new TypeError('rate must be > 0 and burst >= 1');
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token for `key` at `now` (epoch ms). Returns 0 when taken, otherwise how many ms
   * until one will be available (nothing is taken then).
   */
  take(key: string, now: number): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      b = { tokens: this.limit.burst, at: now };
      this.buckets.set(key, b);
    } else if (now > b.at) {
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) * this.limit.rate) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / this.limit.rate));
  }

  /** Forgets `key` (its next request starts from a full bucket). */
  delete(key: string): void {
    this.buckets.delete(key);
  }

  private evict(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.limit.rate) / 1000 >= this.limit.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}
