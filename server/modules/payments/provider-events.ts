import type { Db, Tx } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { ProviderEvent } from './provider.ts';

/**
 * Processes provider events (Stripe webhooks, sandbox events) once each.
 *
 * A handler works in two steps: `prepare` fetches the object the event names
 * from the provider (an event's copy can be stale when events arrive out of
 * order, so it is never trusted), then `apply` writes in the transaction that
 * also records the event id. A redelivered event finds its id and does
 * nothing; two deliveries at once meet on the primary key and the second
 * waits, then does nothing. A handler that throws leaves no trace, so the
 * provider's retry runs it again.
 */
export type EventHandler = (event: ProviderEvent) => Promise<((tx: Tx) => Promise<void>) | null>;

export type EventOutcome = 'processed' | 'duplicate' | 'ignored';

export function createProviderEvents(deps: { db: Db; log: Logger; provider: string }) {
  const { db, log, provider } = deps;
  const handlers = new Map<string, EventHandler[]>();

  return {
    /** Adds a handler for an event type (several parts of payments may listen to one type). */
    on(type: string, handler: EventHandler) {
      handlers.set(type, [...(handlers.get(type) ?? []), handler]);
    },

    /** The event types some handler listens to (what the Stripe endpoint should be subscribed to). */
    types: () => [...handlers.keys()].sort(),

    async process(event: ProviderEvent): Promise<EventOutcome> {
      const seen = await db.maybeOne(
        'SELECT 1 FROM payments_provider_events WHERE provider = $1 AND event_id = $2',
        [provider, event.id],
      );
      if (seen) return 'duplicate';
      const list = handlers.get(event.type) ?? [];
      const applies: Array<(tx: Tx) => Promise<void>> = [];
      for (const h of list) {
        const apply = await h(event);
        if (apply) applies.push(apply);
      }
      const outcome = await db.transaction(async (tx) => {
        const inserted = await tx.maybeOne(
          `INSERT INTO payments_provider_events (provider, event_id, type, object_id, account, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING event_id`,
          [provider, event.id, event.type, event.objectId || null, event.account, event.created],
        );
        if (!inserted) return 'duplicate' as const;
        for (const apply of applies) await apply(tx);
        return applies.length ? ('processed' as const) : ('ignored' as const);
      });
      log.debug({ eventId: event.id, type: event.type, outcome }, 'payments: provider event');
      return outcome;
    },
  };
}

export type ProviderEvents = ReturnType<typeof createProviderEvents>;
