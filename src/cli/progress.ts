// Progress of a long operation (audit verify of a large log, scan of a large tree, audit
// export) on a terminal: done, total, rate and time left, redrawn in place at most ten times a
// second on stderr. Silent when stderr is not a terminal (a pipe, a log, CI) or with --quiet, so
// what scripts read never has it.

import type { Io } from './io.js';

export interface Progress {
  update(done: number, total?: number): void;
  /** Clears the line (the command's own result follows). */
  end(): void;
}

const NONE: Progress = { update: () => undefined, end: () => undefined };

const count = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : `${Math.round(n)}`;
const span = (s: number): string =>
  s >= 3600
    ? `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60)}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s`
      : `${Math.ceil(s)}s`;

export function progress(io: Io, label: string, unit: string, quiet = false): Progress {
  if (quiet || (io.stderr as { isTTY?: boolean }).isTTY !== true) return NONE;
  const t0 = performance.now();
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      const rate = done / Math.max((now - t0) / 1000, 0.001);
      const left = total !== undefined && rate > 0 ? ` , ${span((total - done) / rate)} left` : '';
      const of = total !== undefined ? `/${count(total)}` : '';
      io.stderr.write(
        `\r${label}: ${count(done)}${of} ${unit} (${count(rate)}/s${left.replace(' ,', ',')})\x1b[K`,
      );
      drawn = true;
    },
    end() {
      if (drawn) io.stderr.write('\r\x1b[K');
    },
  };
}
