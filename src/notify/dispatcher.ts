// Delivery to one channel: a bounded queue and one worker, so a slow or dead channel delays only
// itself, and nothing that publishes or records ever waits on a delivery. Each message is tried
// up to `attempts` times, waiting `backoff` doubled each time with jitter; one that runs out of
// tries is given up, counted, and reported (the caller publishes notify.delivery_failed). A
// full queue drops its oldest message, counted: the newest news matters most.

import type { StreamEvent } from '../core/events.js';
import type { Sender } from './channels.js';

export interface ChannelStats {
  sent: number;
  failed: number;
  dropped: number;
  retried: number;
  /** The last give-up, while no later message has been delivered. */
  failing: { at: string; error: string } | undefined;
}

export interface DispatcherOptions {
  readonly name: string;
  readonly sender: Sender;
  readonly attempts: number;
  readonly backoffMs: number;
  readonly timeoutMs: number;
  readonly queue: number;
  /** Called when a message is given up. */
  readonly onGiveUp: (se: StreamEvent, attempts: number, error: string) => void;
  /** Delivery latency, from the event's record to its delivery. */
  readonly observe?: (seconds: number) => void;
}

export class Dispatcher {
  readonly stats: ChannelStats = { sent: 0, failed: 0, dropped: 0, retried: 0, failing: undefined };
  private readonly queue: StreamEvent[] = [];
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: DispatcherOptions) {}

  get name(): string {
    return this.opts.name;
  }

  get queued(): number {
    return this.queue.length;
  }

  enqueue(se: StreamEvent): void {
    if (this.stopped) return;
    if (this.queue.length >= this.opts.queue) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.queue.push(se);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let se = this.queue.shift(); se && !this.stopped; se = this.queue.shift()) await this.deliver(se);
    } finally {
      this.running = false;
    }
  }

  private async deliver(se: StreamEvent): Promise<void> {
    let error = '';
    for (let attempt = 1; attempt <= this.opts.attempts && !this.stopped; attempt++) {
      try {
        await this.opts.sender.send(se, this.opts.timeoutMs);
        this.stats.sent++;
        this.stats.failing = undefined;
        const at = Date.parse(se.time);
        if (Number.isFinite(at)) this.opts.observe?.(Math.max(0, Date.now() - at) / 1000);
        return;
      } catch (e) {
        error = (e as Error).message;
      }
      if (attempt === this.opts.attempts) break;
      this.stats.retried++;
      const wait = this.opts.backoffMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        t.unref();
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    if (this.stopped) return;
    this.stats.failed++;
    this.stats.failing = { at: new Date().toISOString(), error };
    this.opts.onGiveUp(se, this.opts.attempts, error);
  }

  /** Stops at once: what is queued is left (and counted as dropped). */
  stop(): void {
    this.stopped = true;
    this.stats.dropped += this.queue.length;
    this.queue.length = 0;
    this.wake?.();
    this.opts.sender.close();
  }
}
