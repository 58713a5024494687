import { z } from 'zod';
import { type Access, type AnyRoute, defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import { type AppRef, REPLAY_MISSING_MAX, type WebhooksService } from './service.ts';

/**
 * Webhook routes. Every endpoint/message route exists twice with the same
 * shapes: for the app's developer organization under
 * `/v1/organizations/:orgId/apps/:appId`, and for the app itself with its
 * client-credentials token under `/v1/app`. Plus the public event catalog
 * and the account admin's mutes per installation.
 */
const Id = z.string().max(64);

const EventTypeSchema = z
  .object({
    type: z.string(),
    description: z.string(),
    scope: z
      .string()
      .nullable()
      .describe(
        'The scope an installation must grant for the app to receive it; null: only the app the event is about',
      ),
    owner: z.string().describe('core, or plugin:<name>'),
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the `data` of the message'),
  })
  .meta({ id: 'WebhookEventType' });

const EndpointSchema = z
  .object({
    id: z.string(),
    appId: z.string(),
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.string()).describe('Empty: every event type the app may receive'),
    installationIds: z.array(z.string()).describe('Empty: every installation of the app'),
    enabled: z.boolean(),
    disabledReason: z.enum(['manual', 'gone', 'failing']).nullable(),
    disabledAt: Timestamp.nullable(),
    rateLimit: z.number().int().nullable().describe('Messages per second; null: no limit'),
    failingSince: Timestamp.nullable().describe('First failure of the current run of failures'),
    consecutiveFailures: z.number().int(),
    lastAttemptAt: Timestamp.nullable(),
    lastSuccessAt: Timestamp.nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });

const Url = z
  .string()
  .max(2000)
  .describe('https URL (http to loopback only when the server allows private destinations)');
const EventTypes = z.array(z.string().max(100)).max(200);
const InstallationIds = z.array(z.string().max(64)).max(100);
const RateLimit = z.number().int().min(1).max(100_000).nullable();

const EndpointCreate = z
  .object({
    url: Url,
    description: z.string().max(500).optional(),
    eventTypes: EventTypes.optional().describe(
      'Event types to receive (see /v1/event-types); empty or absent: all',
    ),
    installationIds: InstallationIds.optional().describe(
      'Limit to these installations; empty or absent: all',
    ),
    enabled: z.boolean().optional(),
    rateLimit: RateLimit.optional().describe('Messages per second; null or absent: no limit'),
  })
  .meta({ id: 'WebhookEndpointCreate' });

const EndpointPatch = z
  .object({
    url: Url.optional(),
    description: z.string().max(500).optional(),
    eventTypes: EventTypes.optional(),
    installationIds: InstallationIds.optional(),
    enabled: z.boolean().optional().describe('false disables (pending messages fail); true enables again'),
    rateLimit: RateLimit.optional(),
  })
  .meta({ id: 'WebhookEndpointPatch' });

const MessageState = z.enum(['pending', 'delivered', 'failed']);
const Trigger = z.enum(['scheduled', 'replay', 'test']);

const MessageSchema = z
  .object({
    id: z.string().describe('The webhook-id header: the same on every attempt'),
    endpointId: z.string(),
    appId: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    accountId: z.string().nullable(),
    installationId: z.string().nullable(),
    state: MessageState.describe('failed: attempts used up or endpoint disabled (the dead-letter list)'),
    trigger: Trigger,
    attempts: z.number().int(),
    nextAttemptAt: Timestamp.nullable(),
    lastAttemptAt: Timestamp.nullable(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    deliveredAt: Timestamp.nullable(),
    failedAt: Timestamp.nullable(),
    failureReason: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'WebhookMessage' });

const MessageDetail = MessageSchema.extend({
  payload: z.unknown().describe('The body as sent; null once payload retention deleted it'),
}).meta({ id: 'WebhookMessageDetail' });

const AttemptSchema = z
  .object({
    id: z.string(),
    messageId: z.string(),
    endpointId: z.string(),
    url: z.string(),
    startedAt: Timestamp,
    durationMs: z.number().int(),
    statusCode: z.number().int().nullable(),
    success: z.boolean(),
    responseBody: z.string().nullable().describe('The first 4 KB of the answer'),
    error: z.string().nullable().describe('Network error, timeout or refused destination'),
    trigger: Trigger,
  })
  .meta({ id: 'WebhookAttempt' });

const SecretSchema = z
  .object({
    secret: z.string().describe('whsec_...: the current signing secret'),
    createdAt: Timestamp,
    previous: z
      .array(z.object({ secret: z.string(), createdAt: Timestamp, expiresAt: Timestamp.nullable() }))
      .describe('Older secrets still signing until they expire (rotation overlap)'),
  })
  .meta({ id: 'WebhookEndpointSecret' });

const StatsSchema = z
  .object({
    windowHours: z.number().int(),
    attempts: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    successRate: z.number().nullable().describe('succeeded / attempts; null without attempts'),
    latencyMs: z.object({ p50: z.number().int().nullable(), p95: z.number().int().nullable() }),
    messages: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
  })
  .meta({ id: 'WebhookEndpointStats' });

const Range = z
  .object({
    since: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'WebhookReplayRange' });

const MessageQuery = Pagination.extend({
  endpointId: Id.optional(),
  state: MessageState.optional(),
  eventType: z.string().max(100).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Created at or after'),
  until: z.iso.datetime({ offset: true }).optional().describe('Created before'),
});

const AttemptQuery = Pagination.extend({
  success: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

const MutesSchema = z
  .object({
    installationId: z.string(),
    appId: z.string(),
    muted: z.array(z.string()),
    mutable: z
      .array(z.object({ type: z.string(), description: z.string(), scope: z.string() }))
      .describe('Event types this installation lets the app receive, which may be muted'),
  })
  .meta({ id: 'WebhookMutes' });

type Shape = Record<string, z.ZodType>;

interface Op {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  path: string;
  summary: string;
  params?: Shape;
  query?: z.ZodObject<any>;
  body?: z.ZodType;
  status?: number;
  response?: z.ZodType;
  /** The developer-organization role the route needs (README: roles in a developer organization). */
  minRole?: 'admin';
  handler: (ref: AppRef, input: { params: any; query: any; body: any }) => Promise<unknown>;
}

export function webhookRoutes({ webhooks }: { webhooks: WebhooksService }): AnyRoute[] {
  const EndpointParams = { endpointId: Id };
  const MessageParams = { messageId: Id };

  const ops: Op[] = [
    {
      method: 'get',
      path: '/webhook-endpoints',
      summary: 'List webhook endpoints',
      query: Pagination,
      response: page(EndpointSchema),
      handler: (ref, { query }) => webhooks.listEndpoints(ref, query),
    },
    {
      method: 'post',
      path: '/webhook-endpoints',
      summary: 'Create a webhook endpoint',
      minRole: 'admin',
      body: EndpointCreate,
      status: 201,
      response: z.object({
        endpoint: EndpointSchema,
        secret: z.string().describe('whsec_...: verify signatures with it (also readable later)'),
      }),
      handler: (ref, { body }) => webhooks.createEndpoint(ref, body),
    },
    {
      method: 'get',
      path: '/webhook-endpoints/:endpointId',
      summary: 'Get a webhook endpoint',
      params: EndpointParams,
      response: EndpointSchema,
      handler: (ref, { params }) => webhooks.getEndpoint(ref, params.endpointId),
    },
    {
      method: 'patch',
      path: '/webhook-endpoints/:endpointId',
      summary: 'Change, disable or enable a webhook endpoint',
      minRole: 'admin',
      params: EndpointParams,
      body: EndpointPatch,
      response: EndpointSchema,
      handler: (ref, { params, body }) => webhooks.updateEndpoint(ref, params.endpointId, body),
    },
    {
      method: 'delete',
      path: '/webhook-endpoints/:endpointId',
      summary: 'Delete a webhook endpoint with its messages',
      minRole: 'admin',
      params: EndpointParams,
      handler: (ref, { params }) => webhooks.deleteEndpoint(ref, params.endpointId),
    },
    {
      method: 'get',
      path: '/webhook-endpoints/:endpointId/secret',
      summary: "Get a webhook endpoint's signing secret",
      minRole: 'admin',
      params: EndpointParams,
      response: SecretSchema,
      handler: (ref, { params }) => webhooks.getSecret(ref, params.endpointId),
    },
    {
      method: 'post',
      path: '/webhook-endpoints/:endpointId/secret/rotate',
      summary: "Rotate a webhook endpoint's signing secret",
      minRole: 'admin',
      params: EndpointParams,
      body: z
        .object({
          overlapHours: z
            .number()
            .int()
            .min(0)
            .max(24 * 30)
            .optional()
            .describe(
              'How long messages also carry the old signature (default PLAZA_WEBHOOKS_SECRET_OVERLAP_HOURS)',
            ),
        })
        .default({}),
      status: 201,
      response: z.object({
        secret: z.string().describe('The new whsec_ secret'),
        previousSecretsExpireAt: Timestamp.nullable(),
      }),
      handler: (ref, { params, body }) => webhooks.rotateSecret(ref, params.endpointId, body.overlapHours),
    },
    {
      method: 'post',
      path: '/webhook-endpoints/:endpointId/test',
      summary: 'Send a test message (webhook.test) to a webhook endpoint',
      params: EndpointParams,
      status: 201,
      response: MessageSchema,
      handler: (ref, { params }) => webhooks.sendTest(ref, params.endpointId),
    },
    {
      method: 'get',
      path: '/webhook-endpoints/:endpointId/stats',
      summary: 'Success rate and latency of a webhook endpoint',
      params: EndpointParams,
      query: z.object({
        hours: z.coerce
          .number()
          .int()
          .min(1)
          .max(24 * 90)
          .default(24),
      }),
      response: StatsSchema,
      handler: (ref, { params, query }) => webhooks.endpointStats(ref, params.endpointId, query.hours),
    },
    {
      method: 'get',
      path: '/webhook-endpoints/:endpointId/attempts',
      summary: 'Attempt log of a webhook endpoint, newest first',
      params: EndpointParams,
      query: AttemptQuery,
      response: page(AttemptSchema),
      handler: (ref, { params, query }) => webhooks.listEndpointAttempts(ref, params.endpointId, query),
    },
    {
      method: 'post',
      path: '/webhook-endpoints/:endpointId/replay',
      summary: 'Replay the failed messages of a webhook endpoint created in a time range',
      params: EndpointParams,
      body: Range,
      response: z.object({ replayed: z.number().int() }),
      handler: (ref, { params, body }) => webhooks.replayFailed(ref, params.endpointId, body),
    },
    {
      method: 'post',
      path: '/webhook-endpoints/:endpointId/replay-missing',
      summary: 'Send a webhook endpoint the events of a time range it would have received but never got',
      params: EndpointParams,
      body: Range,
      response: z.object({
        created: z.number().int(),
        truncated: z
          .boolean()
          .describe(`More than ${REPLAY_MISSING_MAX} events: call again from a later since`),
      }),
      handler: (ref, { params, body }) => webhooks.replayMissing(ref, params.endpointId, body),
    },
    {
      method: 'get',
      path: '/webhook-messages',
      summary: 'List webhook messages, newest first (state=failed: the dead-letter list)',
      query: MessageQuery,
      response: page(MessageSchema),
      handler: (ref, { query }) => webhooks.listMessages(ref, query),
    },
    {
      method: 'get',
      path: '/webhook-messages/:messageId',
      summary: 'Get a webhook message with its body',
      params: MessageParams,
      response: MessageDetail,
      handler: (ref, { params }) => webhooks.getMessage(ref, params.messageId),
    },
    {
      method: 'get',
      path: '/webhook-messages/:messageId/attempts',
      summary: 'Attempts of a webhook message, oldest first',
      params: MessageParams,
      query: Pagination,
      response: page(AttemptSchema),
      handler: (ref, { params, query }) => webhooks.listAttempts(ref, params.messageId, query),
    },
    {
      method: 'post',
      path: '/webhook-messages/:messageId/replay',
      summary: 'Send a webhook message again',
      params: MessageParams,
      response: MessageSchema,
      handler: (ref, { params }) => webhooks.replayMessage(ref, params.messageId),
    },
  ];

  const DEVELOPER: Access = { kind: 'org', orgKinds: ['developer'] };
  const developerRoutes = ops.map((op) =>
    defineRoute({
      method: op.method,
      path: `/v1/organizations/:orgId/apps/:appId${op.path}`,
      summary: op.summary,
      tag: 'Webhooks',
      access: op.minRole ? { ...DEVELOPER, minRole: op.minRole } : DEVELOPER,
      params: z.object({ orgId: Id, appId: Id, ...op.params }),
      query: op.query,
      body: op.body,
      status: op.status,
      response: op.response,
      handler: async ({ org, params, query, body }) =>
        op.handler(await webhooks.forDeveloper(org, params.appId), { params, query, body }),
    }),
  );
  const appRoutes = ops.map((op) =>
    defineRoute({
      method: op.method,
      path: `/v1/app${op.path}`,
      summary: `App: ${op.summary.charAt(0).toLowerCase()}${op.summary.slice(1)}`,
      tag: 'App API',
      access: { kind: 'app_client' },
      params: op.params ? z.object(op.params) : undefined,
      query: op.query,
      body: op.body,
      status: op.status,
      response: op.response,
      handler: async ({ client, actor, params, query, body }) =>
        op.handler(await webhooks.forApp(client, actor), { params, query, body }),
    }),
  );

  return [
    defineRoute({
      method: 'get',
      path: '/v1/event-types',
      summary: 'Event types apps can receive as webhooks, with the scope each needs and its payload schema',
      tag: 'Webhooks',
      access: { kind: 'public' },
      response: z.object({ data: z.array(EventTypeSchema) }),
      handler: async () => ({ data: webhooks.eventTypes() }),
    }),
    ...developerRoutes,
    ...appRoutes,
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/installations/:installationId/webhook-mutes',
      summary: 'Event types muted for an installation',
      tag: 'Webhooks',
      access: { kind: 'org', orgKinds: ['account'] },
      params: z.object({ orgId: Id, installationId: Id }),
      response: MutesSchema,
      handler: ({ org, params }) => webhooks.listMutes(org, params.installationId),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/installations/:installationId/webhook-mutes',
      summary:
        'Set the event types muted for an installation (the app stops receiving them from this account)',
      tag: 'Webhooks',
      access: { kind: 'org', orgKinds: ['account'], minRole: 'admin' },
      params: z.object({ orgId: Id, installationId: Id }),
      body: z.object({ eventTypes: z.array(z.string().max(100)).max(200) }),
      response: MutesSchema,
      handler: ({ org, params, body }) => webhooks.setMutes(org, params.installationId, body.eventTypes),
    }),
  ];
}
