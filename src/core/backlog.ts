// Records written behind the answer, with a bound. A decision that must be on record is answered
// at once while its record is committed in the background (within one group commit), unless the
// caller asks for durability, the backlog is full, or records have been failing: then the answer
// waits for its record, and a record that cannot be written means no answer. A slow disk slows
// answers down; it never lets unrecorded decisions pile up without bound.

import type { Clock } from './clock.js';

export interface BacklogFailure {
  /** Epoch ms of the first failure since records last succeeded. */
  readonly since: number;
  readonly error: string;
}

export class RecordBacklog {
  private pending = 0;
  private failure: BacklogFailure | undefined;

  constructor(
    private readonly opts: {
      /** Records queued and not yet committed, at most. */
      readonly max: number;
      readonly clock: Clock;
      /** Told once per run of failures. */
      readonly onFailure: (error: string) => void;
    },
  ) {}

  /** Set while records fail (health reports it). */
  get failing(): BacklogFailure | undefined {
    return this.failure;
  }

  /** Writes a record: waited for when `durable`, when the backlog is full, or while writes fail. */
  async submit(write: () => Promise<unknown>, durable: boolean): Promise<void> {
    if (durable || this.pending >= this.opts.max || this.failure !== undefined) {
      await write();
      this.failure = undefined;
      return;
    }
    this.pending++;
    write().then(
      () => {
        this.pending--;
      },
      (e: unknown) => {
        this.pending--;
        if (this.failure === undefined) {
          const error = e instanceof Error ? e.message : String(e);
          this.failure = { since: this.opts.clock.now(), error };
          this.opts.onFailure(error);
        }
      },
    );
  }
}
