// The live event stream (/v1/events/stream, server-sent events) read with fetch rather than
// EventSource: the server names each message by its event type, and a reader that resumes from the
// last record number it saw after any break loses nothing the log holds.

import { sseReader } from '../../core/sse.js';

export interface LiveEvent {
  readonly seq: number;
  readonly time: string;
  readonly type: string;
  readonly severity: string;
  readonly source: string;
  readonly subject?: { agent?: string; run?: string };
  readonly outcome?: string;
  readonly data: Record<string, unknown>;
}

export interface StreamHandle {
  stop(): void;
}

/**
 * Follows the stream from `from` (a record number) or from now; `onBatch` gets events in log order,
 * a batch per network chunk. Reconnects with backoff from the last record seen.
 */
export function follow(
  opts: { from?: number; query?: string },
  onBatch: (events: LiveEvent[]) => void,
  onState: (state: 'live' | 'reconnecting' | 'signed-out') => void,
): StreamHandle {
  let stopped = false;
  let last = opts.from === undefined ? undefined : opts.from - 1;
  let controller: AbortController | undefined;
  let backoff = 500;
  const run = async (): Promise<void> => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const q = new URLSearchParams(opts.query ?? '');
        if (last !== undefined) q.set('from', String(last + 1));
        const res = await fetch(`/v1/events/stream?${q.toString()}`, {
          credentials: 'same-origin',
          signal: controller.signal,
          headers: { accept: 'text/event-stream' },
        });
        if (res.status === 401) {
          onState('signed-out');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState('live');
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        // One batch per network chunk: the view draws per frame, not per event.
        let batch: LiveEvent[] = [];
        const feed = sseReader((data) => {
          const e = JSON.parse(data) as LiveEvent;
          last = e.seq;
          batch.push(e);
        });
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          feed(value);
          if (batch.length > 0) {
            onBatch(batch);
            batch = [];
          }
        }
      } catch {
        // The connection broke (or was stopped): reconnect below, from the last record seen.
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  };
  void run();
  return {
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
