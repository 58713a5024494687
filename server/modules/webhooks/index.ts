import { defineModule } from '../module.ts';
import { webhookRoutes } from './routes.ts';
import { createWebhooksService, type WebhooksService } from './service.ts';
import type { Lookup } from './ssrf.ts';

export type { AttemptDay, EndpointLatency } from './attempt-days.ts';
export type { WebhookEndpoint, WebhookMessage, WebhooksService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    webhooks: WebhooksService;
  }
  interface ModuleOptions {
    /** The DNS answers the SSRF guard sees (default: the system resolver). */
    webhooks?: { lookup?: Lookup };
  }
}

/** Webhooks: endpoints, signed delivery with retries, dead letters, replay, mutes. */
export default defineModule({
  name: 'webhooks',
  requires: ['events', 'audit', 'apps', 'installations', 'notifications'],
  tables: [
    'webhook_endpoints',
    'webhook_endpoint_secrets',
    'webhook_payloads',
    'webhook_messages',
    'webhook_queue',
    'webhook_attempts',
    'webhook_mutes',
    'webhook_attempt_days',
  ],
  createService: (deps) => createWebhooksService({ ...deps, lookup: deps.options.webhooks?.lookup }),
  routes: ({ webhooks }) => webhookRoutes({ webhooks }),
  startWorkers: (webhooks) => webhooks.start(),
  // Attempts in flight finish side by side with running jobs, within the same time.
  stop: (webhooks, timeoutMs) => webhooks.stop(timeoutMs),
});
