import { defineModule } from '../module.ts';
import { cliRoutes } from './routes.ts';
import { type CliService, createCliService } from './service.ts';

export type { CliService, StreamMessage } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    cli: CliService;
  }
}

/** What the `plaza` developer CLI needs: device sign-in, the live webhook stream, test events, dev tokens. */
export default defineModule({
  name: 'cli',
  requires: ['apps', 'events', 'identity', 'organizations', 'oauth', 'installations'],
  tables: ['cli_device_codes', 'cli_stream_listeners'],
  createService: (deps) => createCliService(deps),
  jobs: (cli) => [{ name: 'cli.cleanup', everyMs: 60 * 60_000, handler: () => cli.cleanup() }],
  routes: ({ cli, config }) => cliRoutes({ cli, baseUrl: config.baseUrl }),
  start: (cli) => cli.start(),
  stop: (cli) => cli.stop(),
});
