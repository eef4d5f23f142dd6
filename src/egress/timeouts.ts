// Every timeout of the proxy's own connections on one timer: the front door's header deadline,
// the origin's connect deadline, and idle tunnels.
//
// Why not a timer per socket: a tunnel had three (the header deadline, the connect deadline, the
// idle timeout), and Node's timers, with socket.setTimeout's refresh on every read and write,
// cost more instructions per tunnel than the rest of the proxy's own work. Here a deadline is a
// map entry, idleness is read off the sockets' byte counters, and one interval goes through
// them. A timeout fires up to one interval late, which for timeouts of seconds is nothing.

import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

interface Deadline {
  readonly at: number;
  readonly fire: () => void;
}

interface Idle {
  readonly other: Socket;
  readonly ms: number;
  /** Bytes moved (both sockets, both ways) when last seen, and since when they have stood. */
  bytes: number;
  since: number;
}

const moved = (a: Socket, b: Socket): number => a.bytesRead + a.bytesWritten + b.bytesRead + b.bytesWritten;

export class Timeouts {
  private readonly deadlines = new Map<Duplex, Deadline>();
  private readonly idle = new Map<Socket, Idle>();
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

  /** Destroys both sockets once neither has moved a byte for `ms`. */
  watchIdle(a: Socket, b: Socket, ms: number): void {
    this.idle.set(a, { other: b, ms, bytes: moved(a, b), since: performance.now() });
  }

  unwatch(a: Socket): void {
    this.idle.delete(a);
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
    for (const [a, e] of this.idle) {
      const bytes = moved(a, e.other);
      if (bytes !== e.bytes) {
        e.bytes = bytes;
        e.since = now;
      } else if (now - e.since >= e.ms) {
        this.idle.delete(a);
        a.destroy();
        e.other.destroy();
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.deadlines.clear();
    this.idle.clear();
  }
}
