// The event bus: where components publish security events. Publishing writes the event to the
// audit log and resolves once it is durable; a failed write rejects the publish, and the event
// reaches no one. Delivery is the event stream's (stream.ts): it reads events back from the log,
// in the log's order, on every replica; the bus only tells it (and, through the store's
// notifications, the other replicas) that there is something new to read.

import { checkEvent, type BusEvent, type EventType } from '../core/events.js';
import type { AuditReceipt, Auditor } from '../core/types.js';
import type { Notifications } from '../store/types.js';
import { EVENTS_CHANNEL } from './stream.js';

export interface EventBusOptions {
  readonly auditor: Auditor;
  /** Told of every event on record (the local stream). */
  readonly onRecorded?: (receipt: AuditReceipt) => void;
  /** Other replicas are told through these, once per burst of events. */
  readonly notifications?: Notifications;
  readonly onNotifyError?: (error: unknown) => void;
}

export class EventBus {
  readonly stats = { published: 0 };
  private notifyAt = -1;

  constructor(private readonly opts: EventBusOptions) {}

  async publish<K extends EventType>(event: BusEvent<K>): Promise<AuditReceipt> {
    // A type outside the catalogue, or a level its type does not carry, is a programming error.
    checkEvent(event.type, event.severity);
    const receipt = await this.opts.auditor.record({
      actor: `component:${event.source}`,
      action: `event.${event.type}`,
      target: event.subject?.run ?? event.subject?.agent ?? '-',
      outcome: event.outcome ?? 'success',
      details: {
        severity: event.severity,
        ...(event.subject ? { subject: event.subject } : {}),
        data: event.data,
      },
    });
    this.stats.published++;
    this.opts.onRecorded?.(receipt);
    this.notify(receipt.seq);
    return receipt;
  }

  /** One notification per burst: the newest record number, after the current tick's publishes. */
  private notify(seq: number): void {
    const n = this.opts.notifications;
    if (!n) return;
    const scheduled = this.notifyAt >= 0;
    this.notifyAt = Math.max(this.notifyAt, seq);
    if (scheduled) return;
    setImmediate(() => {
      const at = this.notifyAt;
      this.notifyAt = -1;
      n.publish(EVENTS_CHANNEL, String(at)).catch((e: unknown) => this.opts.onNotifyError?.(e));
    });
  }
}
