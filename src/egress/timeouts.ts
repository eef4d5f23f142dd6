// Every deadline of the proxy's own Node sockets on one timer: a plain exchange's connect
// deadline and how long a kept-alive origin connection may stay idle. (The deadlines of clients'
// connections are the native relay's, relay.c, and node:http's.)
//
// Why not a timer per socket: Node's timers cost more instructions per connection than the rest
// of the proxy's own work. Here a deadline is a map entry, and one interval goes through them. A
// deadline fires up to one interval late, which for timeouts of seconds is nothing.

import type { Duplex } from 'node:stream';

interface Deadline {
  readonly at: number;
  readonly fire: () => void;
}

export class Timeouts {
  private readonly deadlines = new Map<Duplex, Deadline>();
  private readonly timer: NodeJS.Timeout;

  /** `everyMs`: how often deadlines are checked, so how late one may fire. */
  constructor(everyMs: number) {
    if (!(everyMs > 0)) throw new TypeError('everyMs must be a positive number');
    this.timer = setInterval(() => this.sweep(performance.now()), everyMs);
    this.timer.unref();
  }

  /** Calls `fire` (by default: destroys `s`) `ms` from now, unless cleared before. */
  after(s: Duplex, ms: number, fire: () => void = () => s.destroy()): void {
    this.deadlines.set(s, { at: performance.now() + ms, fire });
  }

  clear(s: Duplex): void {
    this.deadlines.delete(s);
  }

  /** Runs what is due at `now` (performance.now() time). */
  sweep(now: number): void {
    for (const [s, d] of this.deadlines)
      if (s.destroyed)
        this.deadlines.delete(s); // closed before its deadline: nothing to do
      else if (d.at <= now) {
        this.deadlines.delete(s);
        d.fire();
      }
  }

  close(): void {
    clearInterval(this.timer);
    this.deadlines.clear();
  }
}
