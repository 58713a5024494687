import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { notFound } from '../../errors.ts';
import type { AppClient } from '../../http/app-auth.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { NotificationsService } from '../notifications/index.ts';
import { createAttemptDays } from './attempt-days.ts';
import { createDeliveryEngine, ENDPOINT_DISABLED_EVENT, TEST_EVENT } from './delivery.ts';
import { createEndpoints } from './endpoints.ts';
import { createMessageLog } from './message-log.ts';
import type { AppRef, EventTypeInfo } from './model.ts';
import { createMutes } from './mutes.ts';
import { createReplay } from './replay.ts';
import type { WebhooksParts } from './scoped.ts';
import { createSecretBox } from './signing.ts';
import { type Lookup, systemLookup } from './ssrf.ts';

/**
 * Webhooks: endpoints of apps, the messages Plaza sends them, every attempt,
 * replays, endpoint health, and per-installation mutes. Endpoints are managed
 * by the app's developer organization (`forDeveloper`) or by the app itself
 * with its client-credentials token (`forApp`); both give an `AppRef`, and
 * the parts composed below (endpoints.ts, message-log.ts, replay.ts) are scoped
 * to that one app, so an app never reaches another app's endpoints, messages or
 * attempts; mutes.ts is the account's side.
 */
export type {
  AppRef,
  EndpointInput,
  EventTypeInfo,
  MessageFilters,
  MessageState,
  WebhookAttempt,
  WebhookEndpoint,
  WebhookMessage,
  WebhookMessageDetail,
} from './model.ts';

export { REPLAY_MISSING_MAX } from './replay.ts';

export type WebhooksService = ReturnType<typeof createWebhooksService>;

export function createWebhooksService(deps: {
  db: Db;
  config: Config;
  /** PLAZA_SECRET (or the generated one): the default key material for sealing endpoint secrets. */
  secret: string;
  jobs: JobQueue;
  log: Logger;
  events: EventsService;
  audit: AuditService;
  apps: AppsService;
  installations: InstallationsService;
  notifications: NotificationsService;
  /** DNS for the SSRF guard (tests simulate answers). */
  lookup?: Lookup;
}) {
  const { db, config, events, audit, apps, installations, notifications } = deps;
  const lookup = deps.lookup ?? systemLookup;
  const box = createSecretBox(config.webhooksSecretKey ?? deps.secret);
  const allowPrivate = config.webhooksAllowPrivate;

  events.registerType({
    type: TEST_EVENT,
    description: 'A test message sent from the console or the API to check an endpoint.',
    scope: null,
    owner: 'core',
    payload: z.object({ appId: z.string(), endpointId: z.string(), message: z.string() }),
  });
  events.registerType({
    type: ENDPOINT_DISABLED_EVENT,
    description:
      "One of the app's webhook endpoints was disabled by Plaza (it answered 410 Gone or kept failing); sent to the app's other endpoints.",
    scope: null,
    owner: 'core',
    payload: z.object({
      appId: z.string(),
      endpointId: z.string(),
      url: z.string(),
      reason: z.enum(['gone', 'failing']),
      failingSince: z.string().nullable(),
      disabledAt: z.string(),
    }),
  });

  const engine = createDeliveryEngine({
    db,
    jobs: deps.jobs,
    log: deps.log.child({ module: 'webhooks' }),
    events,
    audit,
    notifications,
    box,
    appName: async (appId) => (await apps.namesByIds([appId])).get(appId) ?? appId,
    options: {
      policy: {
        schedule: config.webhooksRetrySchedule,
        timeScale: config.webhooksTimeScale,
        retryAfterMaxSeconds: config.webhooksRetryAfterMaxSeconds,
      },
      timeoutMs: config.webhooksTimeoutMs,
      endpointConcurrency: config.webhooksEndpointConcurrency,
      workerConcurrency: config.webhooksWorkerConcurrency,
      disableAfterMs: config.webhooksDisableAfterHours * 3_600_000 * config.webhooksTimeScale,
      disableMinFailures: config.webhooksDisableMinFailures,
      pollMs: config.webhooksPollMs,
      payloadRetentionDays: config.webhooksPayloadRetentionDays,
      logRetentionDays: config.webhooksLogRetentionDays,
      allowPrivate,
      lookup,
    },
  });

  // Event catalog -------------------------------------------------------------

  let catalog: { size: number; list: EventTypeInfo[] } | undefined;
  function eventTypes(): EventTypeInfo[] {
    const types = events.types();
    if (catalog?.size !== types.length)
      catalog = {
        size: types.length,
        list: types.map((t) => ({
          type: t.type,
          description: t.description,
          scope: t.scope,
          owner: t.owner,
          schema: z.toJSONSchema(t.payload, { io: 'output', unrepresentable: 'any' }) as Record<
            string,
            unknown
          >,
        })),
      };
    return catalog.list;
  }

  const parts: WebhooksParts = {
    db,
    config,
    events,
    audit,
    installations,
    engine,
    box,
    allowPrivate,
    lookup,
  };

  return {
    engine,

    /** The app of a developer organization (404 when it is not theirs). */
    async forDeveloper(ctx: OrgContext, appId: string): Promise<AppRef> {
      const app = await apps.get(ctx, appId);
      return {
        appId: app.id,
        appName: app.name,
        organizationId: app.organizationId,
        actor: ctx.actor,
        via: 'developer',
      };
    },

    /** The app calling with its client-credentials token. */
    async forApp(client: AppClient, actor: Actor): Promise<AppRef> {
      const app = await apps.oauthClient(client.clientId);
      if (!app || app.appId !== client.appId) throw notFound('app');
      return {
        appId: app.appId,
        appName: app.live?.name ?? app.name,
        organizationId: app.organizationId,
        actor,
        via: 'app',
      };
    },

    /** Every event type with its description, scope and payload JSON schema. */
    eventTypes,

    ...createEndpoints(parts),
    ...createMessageLog(parts),
    ...createReplay(parts),
    ...createMutes(parts),
    /** Daily attempt counters and latency percentiles (dashboards). */
    ...createAttemptDays(db),

    /** Starts the delivery pump (worker processes). */
    start: () => engine.start(),
    stop: (timeoutMs?: number) => engine.stop(timeoutMs),
  };
}
