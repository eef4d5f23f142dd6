// Durations ("250ms", "90s", "5m", "2h", "1h30m") and sizes ("512k", "2g", "1mb", "64MiB") as
// people write them in config files and flags.

const DURATION_RE = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t.length > 32) return undefined;
  if (/^\d+$/.test(t)) return undefined; // a bare number is ambiguous: require a unit
  const m = DURATION_RE.exec(t);
  if (!m) return undefined;
  const [, h, min, s, ms] = m;
  return (Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) * 1000 + Number(ms ?? 0);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$/i;
const SIZE_POW: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };

/** Bytes (binary multiples: 1k = 1024), or undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const pow = SIZE_POW[m[2]!.toLowerCase()];
  if (pow === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * 1024 ** pow);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
