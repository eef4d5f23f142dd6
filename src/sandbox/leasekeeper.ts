// The runner's half of a run's leases: while the run lives, it asks the control plane about the
// leases its files are under (POST /v1/leases/refresh, a long poll) and does what the answer
// says: a renewed lease with a new value (a rotation) replaces its file atomically; an ended one
// (revoked, expired, no longer allowed) removes it. On the Swarm runtime the files are Swarm
// secrets, which cannot change: leases are renewed there, and an ended or rotated one is said on
// the terminal (the run keeps what it was given until it ends).

import { messageOf } from '../core/errors.js';
import type { RefreshAnswer, RefreshRequest } from '../core/leases.js';
import { putSecretFile, removeSecretFile } from './secretfiles.js';

export interface HeldLease {
  readonly id: string;
  /** The file under /run/secrets. */
  readonly file: string;
  /** The version it holds (stored secrets), null for dynamic credentials. */
  version: number | null;
}

export interface LeaseKeeperOptions {
  readonly run: string;
  /** The run's secrets directory on the host; undefined where files cannot change (Swarm). */
  readonly dir: string | undefined;
  readonly uid: number;
  readonly leases: readonly HeldLease[];
  /** One refresh request; resolves with the answer for every lease asked about. */
  readonly refresh: (body: RefreshRequest) => Promise<readonly RefreshAnswer[]>;
  /** Said on the run's terminal (never a value). */
  readonly say: (line: string) => void;
  /** How long one request waits for news (ms). */
  readonly waitMs?: number;
}

export class LeaseKeeper {
  private stopped = false;
  private readonly held: Map<string, HeldLease>;
  readonly done: Promise<void>;

  constructor(private readonly o: LeaseKeeperOptions) {
    this.held = new Map(o.leases.map((l) => [l.id, { ...l }]));
    this.done = this.held.size > 0 ? this.loop() : Promise.resolve();
  }

  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped && this.held.size > 0) {
      try {
        const answers = await this.o.refresh({
          run: this.o.run,
          leases: [...this.held.values()].map((l) => ({
            id: l.id,
            ...(l.version !== null ? { version: l.version } : {}),
          })),
          wait_ms: this.o.waitMs ?? 20_000,
        });
        if (this.stopped) return;
        for (const a of answers) this.apply(a);
        failures = 0;
      } catch (e) {
        if (this.stopped) return;
        // The control plane away for a moment: its leases keep their expiry meanwhile.
        if (failures++ === 0) this.o.say(`could not refresh the run's leases (retrying): ${messageOf(e)}`);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** Math.min(failures, 5))).unref());
      }
    }
  }

  private apply(a: RefreshAnswer): void {
    const lease = this.held.get(a.id);
    if (!lease) return;
    if (a.state === 'ended') {
      this.held.delete(a.id);
      if (this.o.dir) removeSecretFile(this.o.dir, lease.file);
      this.o.say(
        `secret ${lease.file}: its lease ended (${a.reason})${this.o.dir ? '; the file is removed' : '; a Swarm secret stays until the run ends'}`,
      );
      return;
    }
    if (a.value_base64 === undefined) return;
    if (!this.o.dir) {
      this.o.say(
        `secret ${lease.file}: version ${a.version ?? '?'} is out; a Swarm run gets it at its next start`,
      );
      lease.version = a.version ?? lease.version;
      return;
    }
    putSecretFile(this.o.dir, lease.file, Buffer.from(a.value_base64, 'base64'), this.o.uid);
    lease.version = a.version ?? lease.version;
  }
}
