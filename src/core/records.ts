// Audit records as readers see them: the stored entry's fields that filters, timelines and
// reports look at, and finding the first record at a time by bisection (records are appended in
// time order). Shared by `rampart audit tail` and incident timelines, which may not import each
// other.

/** A stored audit record's entry, parsed: the fields readers use. */
export interface StoredEntry {
  time: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details?: {
    subject?: { agent?: string; run?: string };
    data?: Record<string, unknown>;
  } & Record<string, unknown>;
}

/** Where records are read from (the store's audit log, or an interface onto it). */
export interface RecordSource {
  records(from: number, limit: number): Promise<readonly { readonly seq: number; readonly entry: string }[]>;
}

/**
 * The first record whose time is at or after `since` (or, with `after`, strictly after it) among
 * the first `size`, by bisection: one record read per step.
 */
export async function firstAt(
  source: RecordSource,
  size: number,
  since: string,
  after = false,
): Promise<number> {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const [row] = await source.records(mid, 1);
    if (!row) break;
    const t = (JSON.parse(row.entry) as StoredEntry).time;
    if (t < since || (after && t === since)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
