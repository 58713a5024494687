import { defineModule } from '../module.ts';
import { createEventsService, DELIVER_JOB, type EventsService } from './service.ts';

export type { EventsService, EventType, PlazaEvent, PreparedEvent, Subscriber } from './service.ts';

/** How `events.deliver` retries a subscriber's event (the job's attempts and backoff). */
export const DELIVERY_RETRIES = { attempts: 8, backoff: { baseMs: 1000, maxMs: 10 * 60_000 } };

/**
 * The longest an event's redelivery to a subscriber can trail its first delivery while
 * processes run: every backoff between tries, plus a job lease or dispatch lease (at most
 * `leaseMs` each) expiring for each try when workers die mid-way.
 */
export function redeliveryHorizonMs(leaseMs: number): number {
  const { attempts, backoff } = DELIVERY_RETRIES;
  let total = 0;
  for (let a = 1; a < attempts; a++) total += Math.min(backoff.maxMs, backoff.baseMs * 2 ** (a - 1));
  return total + (attempts + 1) * leaseMs;
}

declare module '../module.ts' {
  interface ModuleServices {
    events: EventsService;
  }
}

/** Events with an outbox: emitted in the writer's transaction, dispatched to subscribers after commit. */
export default defineModule({
  name: 'events',
  tables: ['events'],
  createService: ({ db, jobs, log, config }) =>
    createEventsService({
      db,
      jobs,
      log,
      pollMs: config.jobsPollMs,
      maxPayloadBytes: config.webhooksMaxPayloadBytes,
    }),
  // A slow or failing subscriber retries alone, with backoff.
  jobs: (events) => [
    {
      name: DELIVER_JOB,
      concurrency: 4,
      ...DELIVERY_RETRIES,
      handler: (data) => events.deliver(data),
    },
  ],
  startWorkers: (events) => events.start(),
  stopWorkers: (events) => events.stop(),
});
