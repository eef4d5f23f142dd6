// Refused requests on record, within a bound. Every refusal used to be its own permanent audit
// record, so a client looping with a bad token filled the disk, and then every component failed
// closed. Now, per source and reason:
//
// - the first refusal in a window is recorded at once (an attack shows up immediately);
// - the rest are counted, and one record per window gives the count;
// - past `perSource` refusals in a window the source is throttled: answered 429 without being
//   authenticated again, counted in that same record.
//
// Keys are bounded too: past MAX_KEYS sources in one window, new ones share an overflow key, and
// its record says so. So the records a window adds are at most about 2 x MAX_KEYS, whatever the
// request rate.

import type { EventPublisher } from '../core/events.js';

export type RefusalVerdict = 'record' | 'count' | 'throttle';

export interface RefusalSummary {
  readonly source: string;
  readonly reason: string;
  /** Refusals after the first in the window (the first was recorded on its own). */
  readonly count: number;
  /** Of those, answered 429 without authentication. */
  readonly throttled: number;
  readonly windowMs: number;
  /** True when the source is the overflow key: more sources than the bound in one window. */
  readonly overflow: boolean;
}

export interface RefusalLogOptions {
  readonly windowMs: number;
  /** Refusals a source may have in a window before it is throttled. */
  readonly perSource: number;
  /** Called once per window for every key that had more than its first refusal. */
  readonly onSummary: (s: RefusalSummary) => void;
}

const MAX_KEYS = 10_000;
const OVERFLOW = '*';

interface Entry {
  readonly source: string;
  readonly reason: string;
  seen: number;
  throttled: number;
}

export class RefusalLog {
  private entries = new Map<string, Entry>();
  private perSource = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  readonly stats = { refused: 0, recorded: 0, throttled: 0, summaries: 0 };

  constructor(private readonly opts: RefusalLogOptions) {
    if (!(opts.windowMs > 0) || !(opts.perSource >= 1))
      throw new TypeError('RefusalLog needs a window and a limit');
    this.timer = setInterval(() => this.flush(), opts.windowMs);
    this.timer.unref();
  }

  /** Is this source throttled already? Checked before authenticating, so a flood costs nothing. */
  throttled(source: string): boolean {
    const n = this.perSource.get(source) ?? this.perSource.get(OVERFLOW);
    if (n === undefined || n < this.opts.perSource) return false;
    this.note(source, 'throttled');
    return true;
  }

  /** A refusal: record it now, or count it for the window's summary. */
  refuse(source: string, reason: string): RefusalVerdict {
    this.stats.refused++;
    const known = this.perSource.has(source) || this.perSource.size < MAX_KEYS;
    const src = known ? source : OVERFLOW;
    this.perSource.set(src, (this.perSource.get(src) ?? 0) + 1);
    const e = this.note(src, reason);
    if (e.seen === 1) {
      this.stats.recorded++;
      return 'record';
    }
    return 'count';
  }

  private note(source: string, reason: string): Entry {
    const key = `${source}\u0000${reason}`;
    let e = this.entries.get(key);
    if (!e) {
      const k = this.entries.size < MAX_KEYS * 2 ? key : `${OVERFLOW}\u0000${reason}`;
      e = this.entries.get(k) ?? { source: k === key ? source : OVERFLOW, reason, seen: 0, throttled: 0 };
      this.entries.set(k, e);
    }
    if (reason === 'throttled') {
      e.throttled++;
      this.stats.throttled++;
    } else e.seen++;
    return e;
  }

  /** Ends the window: one summary per key that had more than its first refusal. */
  flush(): void {
    const entries = this.entries;
    this.entries = new Map();
    this.perSource = new Map();
    for (const e of entries.values()) {
      const count = Math.max(0, e.seen - 1) + e.throttled;
      if (count === 0) continue;
      this.stats.summaries++;
      this.opts.onSummary({
        source: e.source,
        reason: e.reason,
        count,
        throttled: e.throttled,
        windowMs: this.opts.windowMs,
        overflow: e.source === OVERFLOW,
      });
    }
  }

  /** Stops the window timer, reporting what the last window counted. */
  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/**
 * The control plane's refusal log: each window's summary published as one auth.rejected event
 * (on record like every other), a failure to record it handed to `onError`.
 */
export function auditedRefusals(
  auth: { readonly refusalWindowMs: number; readonly refusalsPerSource: number },
  bus: EventPublisher,
  onError: (e: unknown) => void,
): RefusalLog {
  return new RefusalLog({
    windowMs: auth.refusalWindowMs,
    perSource: auth.refusalsPerSource,
    onSummary: (s) =>
      void bus
        .publish({
          type: 'auth.rejected',
          severity: 'medium',
          outcome: 'denied',
          source: 'server',
          data: {
            route: '*',
            method: '*',
            reason: `${s.count} more refused request(s) in ${s.windowMs} ms${s.overflow ? ' from sources past the bound of distinct sources' : ''}${s.throttled > 0 ? `, ${s.throttled} of them throttled (429)` : ''}`,
            remote: s.source,
            kind: s.reason,
            count: s.count,
            throttled: s.throttled,
            windowMs: s.windowMs,
          },
        })
        .catch(onError),
  });
}
