import { defineModule } from '../module.ts';
import { createEventsService, DELIVER_JOB, type EventsService } from './service.ts';

export type { EventsService, EventType, PlazaEvent, Subscriber } from './service.ts';

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
      attempts: 8,
      backoff: { baseMs: 1000, maxMs: 10 * 60_000 },
      handler: (data) => events.deliver(data),
    },
  ],
  startWorkers: (events) => events.start(),
  stopWorkers: (events) => events.stop(),
});
