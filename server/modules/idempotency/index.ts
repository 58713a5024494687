import { defineModule } from '../module.ts';
import { createIdempotencyService, type IdempotencyService } from './service.ts';

export {
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_TTL_MS,
  type IdempotencyService,
  parseIdempotencyKey,
  REPLAYED_HEADER,
} from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    idempotency: IdempotencyService;
  }
}

/**
 * Idempotency keys of routes declared `idempotent: true`: the router keeps
 * the first successful answer per caller and key and replays it (service.ts).
 */
export default defineModule({
  name: 'idempotency',
  tables: ['idempotency_keys'],
  createService: ({ db }) => createIdempotencyService({ db }),
  jobs: (idempotency) => [
    {
      name: 'idempotency.cleanup',
      // Keys live 24 hours; expired ones are ignored at once and deleted here.
      handler: async () => void (await idempotency.cleanup()),
      everyMs: 60 * 60 * 1000,
    },
  ],
});
