import { defineModule } from '../module.ts';
import { createEventsService, type EventsService } from './service.ts';

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
  startWorkers: (events) => events.start(),
  stopWorkers: (events) => events.stop(),
});
