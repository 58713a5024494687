import { defineRoute, invalid, z } from '../../server/plugin-api/index.ts';
import type { BillingContext } from './context.ts';
import type { EventOutcome, Metering, UsageEventInput } from './metering.ts';

const EventBody = z.object({
  transactionId: z.string().trim().min(1).max(200).describe('Idempotency key of the event, per account'),
  meter: z.string().min(1).max(64).describe('The meter key'),
  value: z
    .number()
    .int()
    .min(0)
    .max(1e12)
    .optional()
    .describe('Whole units (default 1); COUNT meters ignore it'),
  uniqueKey: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('What UNIQUE COUNT meters count distinct values of'),
  timestamp: z.iso.datetime({ offset: true }).optional().describe('When the usage happened (default now)'),
});
type EventBody = z.output<typeof EventBody>;

const Outcome = z
  .object({
    transactionId: z.string(),
    status: z.enum(['accepted', 'duplicate', 'conflict', 'rejected']),
    field: z.string().optional(),
    reason: z.string().optional(),
  })
  .meta({ id: 'BillingEventOutcome' });

const BatchResult = z
  .object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    /** Events refused (unknown meter, too late) or in conflict with an earlier one of the same transactionId. */
    refused: z.array(Outcome.extend({ index: z.number().int() })),
  })
  .meta({ id: 'BillingBatchResult' });

const MeterUsage = z
  .object({
    meter: z.string(),
    name: z.string(),
    aggregation: z.enum(['count', 'sum', 'max', 'unique_count', 'latest']),
    unit: z.string(),
    value: z.number().int(),
    events: z.number().int(),
    included: z.number().int().nullable(),
    overage: z.number().int().nullable().describe('Overage so far, minor units of the plan currency'),
  })
  .meta({ id: 'BillingMeterUsage' });

export const Usage = z
  .object({
    accountId: z.string(),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
    currency: z.string().nullable(),
    meters: z.array(MeterUsage),
  })
  .meta({ id: 'BillingUsage' });

const Meter = z
  .object({
    id: z.string(),
    key: z.string(),
    name: z.string(),
    aggregation: z.enum(['count', 'sum', 'max', 'unique_count', 'latest']),
    unit: z.string(),
    coreEvent: z.string().nullable(),
  })
  .meta({ id: 'BillingMeter' });

const AccountParams = z.object({ accountId: z.string() });
const AtQuery = z.object({
  at: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('A moment inside the period to read (default now)'),
});

const toInput = (e: EventBody): UsageEventInput => ({
  ...e,
  timestamp: e.timestamp ? new Date(e.timestamp) : undefined,
});

function summarize(outcomes: EventOutcome[]) {
  return {
    accepted: outcomes.filter((o) => o.status === 'accepted').length,
    duplicates: outcomes.filter((o) => o.status === 'duplicate').length,
    refused: outcomes.flatMap((o, index) =>
      o.status === 'conflict' || o.status === 'rejected'
        ? [{ index, ...o, field: 'field' in o ? `events.${index}.${o.field}` : undefined }]
        : [],
    ),
  };
}

/** The core events a meter may count (one unit per event), subscribed to at setup. */
export const METERABLE_CORE_EVENTS = [
  'contact.created',
  'contact.updated',
  'contact.deleted',
  'app.installed',
  'app.uninstalled',
] as const;

/**
 * Who reports usage: an app installed in the account, with the `billing:usage`
 * scope (the account comes from its token, never from the body), or the
 * operator (platform admin, session or API key) for any account. Who reads it:
 * the account's members, the app, the operator.
 */
export function meteringRoutes(b: BillingContext) {
  const { ctx, metering } = b;

  async function single(accountId: string, body: EventBody) {
    const [o] = await metering.ingest(accountId, [toInput(body)]);
    if (o.status === 'rejected') throw invalid(`body.${o.field}`, o.reason);
    if (o.status === 'conflict') throw ctx.error('PLAZA_BILLING_EVENT_CONFLICT', o.reason);
    return { transactionId: o.transactionId, status: o.status };
  }
  const batch = async (accountId: string, events: EventBody[]) =>
    summarize(await metering.ingest(accountId, events.map(toInput)));

  const Batch = z.object({ events: z.array(EventBody).min(1).max(1000) });
  const Single = z.object({ transactionId: z.string(), status: z.enum(['accepted', 'duplicate']) });

  ctx.routes.add(
    defineRoute({
      method: 'post',
      path: '/events',
      summary: 'Report one usage event (idempotent per transactionId)',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:usage' },
      body: EventBody,
      response: Single,
      handler: async ({ app, body }) => {
        await b.callLimit.hit(app.app.installationId);
        return single(app.org.id, body);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/events/batch',
      summary: 'Report up to 1,000 usage events; each is accepted, a duplicate, or refused with its reason',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:usage' },
      body: Batch,
      response: BatchResult,
      handler: async ({ app, body }) => {
        await b.callLimit.hit(app.app.installationId);
        return batch(app.org.id, body.events);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/usage',
      summary: "The installing account's usage in the current period",
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:usage' },
      query: AtQuery,
      response: Usage,
      handler: ({ app, query }) => b.usageOf(app.org.id, query.at ? new Date(query.at) : new Date()),
    }),
    defineRoute({
      method: 'post',
      path: '/accounts/:accountId/events/batch',
      summary: 'Report usage events for an account (operator)',
      tag: 'Billing',
      access: { kind: 'platform', roles: ['admin'] },
      params: AccountParams,
      body: Batch,
      response: BatchResult,
      handler: async ({ params, body }) => {
        await ctx.orgs.get(params.accountId); // 404 for an organization that does not exist
        return batch(params.accountId, body.events);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/accounts/:accountId/usage',
      summary: "An account's usage in a period (operator)",
      tag: 'Billing',
      access: { kind: 'platform', roles: ['admin'] },
      params: AccountParams,
      query: AtQuery,
      response: Usage,
      handler: ({ params, query }) => b.usageOf(params.accountId, query.at ? new Date(query.at) : new Date()),
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/usage',
      summary: "The organization's usage per meter in the current period, with what the plan includes",
      tag: 'Billing',
      access: { kind: 'org' },
      query: AtQuery,
      response: Usage,
      handler: ({ org, query }) => b.usageOf(org.org.id, query.at ? new Date(query.at) : new Date()),
    }),
    defineRoute({
      method: 'get',
      path: '/meters',
      summary: 'The meters usage is counted on',
      tag: 'Billing',
      access: { kind: 'user' },
      response: z.object({ data: z.array(Meter) }),
      handler: async () => ({ data: [...(await metering.meters(true)).values()] }),
    }),
    defineRoute({
      method: 'post',
      path: '/meters',
      summary: 'Create a meter (operator); coreEvent makes a core event count one unit per occurrence',
      tag: 'Billing',
      access: { kind: 'platform', roles: ['admin'] },
      body: z.object({
        key: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,63}$/, 'lowercase letters, digits and _, starting with a letter'),
        name: z.string().trim().min(1).max(100),
        aggregation: z.enum(['count', 'sum', 'max', 'unique_count', 'latest']),
        unit: z.string().trim().min(1).max(30).default('unit'),
        coreEvent: z.enum(METERABLE_CORE_EVENTS).nullable().default(null),
      }),
      status: 201,
      response: Meter,
      handler: async ({ body, actor }) => {
        const meter = await metering.createMeter(body);
        if (!meter) throw ctx.error('PLAZA_BILLING_DUPLICATE', `a meter "${body.key}" exists already`);
        await ctx.audit.record(ctx.db, {
          organizationId: null,
          actor,
          action: 'billing.meter_created',
          targetType: 'billing_meter',
          targetId: meter.id,
          data: { key: meter.key, aggregation: meter.aggregation },
        });
        return meter;
      },
    }),
  );
}

export type { Metering };
