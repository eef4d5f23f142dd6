// The native relay (relay.c, built to dist/rampart-relay.node): typed, and loaded once per proxy.
//
// The addon accepts connections, reads CONNECT, GET and HEAD heads and SOCKS5 handshakes, moves
// tunnel bytes and writes plain answers; every decision is made here in TypeScript and sent back as a command.
// See relay.c for the protocol.

import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RampartError, messageOf } from '../core/errors.js';

/** How a tunnel ended. */
export type TunnelEnd = 'end' | 'idle' | 'cut' | 'error';

export interface RelayEvents {
  /**
   * A CONNECT, GET or HEAD head (without its final CRLF CRLF), read whole and within the limits;
   * a GET or HEAD with nothing after it. The connection waits for tunnel(), send(), end(),
   * reject() or handoff().
   */
  head(id: number, listener: number, block: Buffer): void;
  /** Anything else: the connection is now Node's (`fd`), with the bytes read so far. */
  handoff(id: number, listener: number, fd: number, bytes: Buffer): void;
  /** A tunnel's connect failed; the connection waits for a reject(). */
  failed(id: number, errno: number): void;
  /**
   * A tunnel ended, with the bytes it carried each way; or a connection being answered failed,
   * or was cut, before its end().
   */
  closed(id: number, how: TunnelEnd, errno: number, up: number, down: number): void;
  /** What send() could not write at once has gone: the answer may go on. */
  drained(id: number): void;
  /**
   * A SOCKS5 handshake, read to the end of its request: `bytes` from the greeting on, the
   * request at `requestAt`, the username and password message at `authAt` (0: none). The
   * connection waits for tunnel() or reject(), as after a CONNECT's head.
   */
  socks(id: number, listener: number, bytes: Buffer, requestAt: number, authAt: number): void;
}

export interface RelayOptions {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** How often deadlines are checked. */
  readonly tickMs: number;
  /** Written to the client when a tunnel's origin connects. */
  readonly established: Buffer;
  /** The answers to a head over the size limit, and to one not finished in time. */
  readonly tooLarge: Buffer;
  readonly tooSlow: Buffer;
}

type Handle = { readonly __relay: unique symbol };

interface Addon {
  open(
    cb: (type: number, id: number, x: number, a: number, b: number, data?: Buffer) => void,
    o: RelayOptions,
  ): Handle;
  listenTcp(h: Handle, host: string, port: number, backlog: number): [number, number];
  listenUnix(h: Handle, path: string, backlog: number): number;
  unlisten(h: Handle, id: number): void;
  tunnel(h: Handle, id: number, address: string, port: number, timeoutMs: number): void;
  reject(h: Handle, id: number, answer: Buffer): void;
  cut(h: Handle, id: number): void;
  send(h: Handle, id: number, bytes: Buffer): boolean;
  end(h: Handle, id: number, last: Buffer): void;
  handoff(h: Handle, id: number): number;
  take(h: Handle, id: number): [number, Buffer] | null;
  adopt(h: Handle, fd: number, head: Buffer): number;
  close(h: Handle): void;
}

const ENDS: readonly TunnelEnd[] = ['end', 'idle', 'cut', 'error'];
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(constants.errno).map(([name, n]) => [n, name]),
);

/** ECONNREFUSED for 111, and so on. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/** A failed bind says which error it was as Node's own do: `code` is EADDRINUSE and the like. */
function withCode<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const n = (e as { errno?: unknown }).errno;
    if (typeof n === 'number') Object.assign(e as object, { code: errnoName(n) });
    throw e;
  }
}

/** Next to the bundle (dist/), or, for the compiled tests in build/, in dist/ at the root. */
function addonPath(): string | undefined {
  for (const rel of ['./rampart-relay.node', '../../../dist/rampart-relay.node']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

function load(): Addon {
  const path = addonPath();
  if (process.platform !== 'linux')
    throw new RampartError(
      'RAMPART_E_EGRESS_UNAVAILABLE',
      'the egress proxy runs on Linux only (splice, epoll)',
    );
  if (!path)
    throw new RampartError(
      'RAMPART_E_EGRESS_UNAVAILABLE',
      'the egress relay dist/rampart-relay.node is missing (build it: npm run build)',
    );
  const m = { exports: {} as Addon };
  try {
    process.dlopen(m, path);
  } catch (e) {
    throw new RampartError(
      'RAMPART_E_EGRESS_UNAVAILABLE',
      `the egress relay ${path} cannot be loaded: ${messageOf(e)}`,
    );
  }
  return m.exports;
}

/**
 * The relay, with its listeners and connections. Once closed, the calls that name a connection
 * or listener do nothing (what they name is gone: an admission still under way when the proxy
 * closed finds its connection closed); listening and adopting throw.
 */
export class NativeRelay {
  private readonly addon: Addon;
  private readonly handle: Handle;
  private closed = false;

  constructor(events: RelayEvents, opts: RelayOptions) {
    this.addon = load();
    this.handle = this.addon.open((type, id, x, a, b, data) => {
      if (type === 1) events.head(id, x, data!);
      else if (type === 2) events.handoff(id, x, a, data!);
      else if (type === 3) events.failed(id, a);
      else if (type === 4) events.closed(id, ENDS[x >>> 16] ?? 'error', x & 0xffff, a, b);
      else if (type === 5) events.drained(id);
      else events.socks(id, x, data!, a, b);
    }, opts);
  }

  /** Binds and listens on a numeric address; returns the listener's id and its port. */
  listenTcp(host: string, port: number): { id: number; port: number } {
    const [id, bound] = withCode(() => this.addon.listenTcp(this.handle, host, port, 511));
    return { id, port: bound };
  }

  listenUnix(path: string): number {
    return withCode(() => this.addon.listenUnix(this.handle, path, 511));
  }

  unlisten(id: number): void {
    if (!this.closed) this.addon.unlisten(this.handle, id);
  }

  /** Connects a decided CONNECT to the address that was checked. */
  tunnel(id: number, address: string, port: number, timeoutMs: number): void {
    if (!this.closed) this.addon.tunnel(this.handle, id, address, port, timeoutMs);
  }

  /** Answers a CONNECT that will not be tunnelled, then closes it. */
  reject(id: number, answer: Buffer): void {
    if (!this.closed) this.addon.reject(this.handle, id, answer);
  }

  /** Closes a tunnel, or a connection being answered, at once (closed() follows). */
  cut(id: number): void {
    if (!this.closed) this.addon.cut(this.handle, id);
  }

  /**
   * Writes part of the answer to a GET or HEAD; false when some of it waits for the client
   * (drained() follows) or the connection failed (closed() follows). Nothing is kept of `bytes`.
   */
  send(id: number, bytes: Buffer): boolean {
    return !this.closed && this.addon.send(this.handle, id, bytes);
  }

  /** The rest of the answer; the connection then closes, and nothing more is heard of it. */
  end(id: number, last: Buffer): void {
    if (!this.closed) this.addon.end(this.handle, id, last);
  }

  /** Gives a connection whose head was read to Node: its descriptor, or -1 when it is gone. */
  handoff(id: number): number {
    return this.closed ? -1 : this.addon.handoff(this.handle, id);
  }
  /**
   * A CONNECT being decided, taken over by Node (an inspected host): its descriptor and what the
   * client sent after the head. undefined when it is gone.
   */
  take(id: number): { fd: number; rest: Buffer } | undefined {
    const t = this.closed ? null : this.addon.take(this.handle, id);
    return t ? { fd: t[0], rest: t[1] } : undefined;
  }

  /** Takes over a connection Node accepted (its descriptor is duplicated); `head` goes first. */
  adopt(fd: number, head: Buffer): number {
    return this.addon.adopt(this.handle, fd, head);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.close(this.handle);
  }
}
