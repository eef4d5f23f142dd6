// The in-process event bus. Publishing writes the event to the audit log first and only then
// tells subscribers, so nothing acts on an event that is not on record; a failed audit write
// rejects the publish and no subscriber runs. A subscriber that throws is logged and skipped:
// one broken detector must not stop the others or the publisher.

import type { BusEvent, EventType } from '../core/events.js';
import type { AuditReceipt, Auditor } from '../core/types.js';

export type Handler<K extends EventType> = (event: BusEvent<K>, receipt: AuditReceipt) => void;

export interface EventBusOptions {
  readonly auditor: Auditor;
  readonly onHandlerError?: (type: string, error: unknown) => void;
}

export class EventBus {
  private readonly handlers = new Map<string, Set<Handler<EventType>>>();
  readonly stats = { published: 0, handlerErrors: 0 };

  constructor(private readonly opts: EventBusOptions) {}

  async publish<K extends EventType>(event: BusEvent<K>): Promise<AuditReceipt> {
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
    for (const key of [event.type, '*']) {
      for (const h of this.handlers.get(key) ?? []) {
        try {
          (h as Handler<K>)(event, receipt);
        } catch (e) {
          this.stats.handlerErrors++;
          this.opts.onHandlerError?.(event.type, e);
        }
      }
    }
    return receipt;
  }

  /** Subscribes to one type, or '*' for all. Returns the unsubscribe function. */
  subscribe<K extends EventType>(type: K | '*', handler: Handler<K>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as Handler<EventType>);
    return () => set.delete(handler as Handler<EventType>);
  }
}
