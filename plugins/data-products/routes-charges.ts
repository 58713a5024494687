import { type AnyRoute, defineRoute, Timestamp, z } from '../../server/plugin-api/index.ts';
import type { DataProductCharges } from './charges.ts';

const ChargeSchema = z
  .object({
    id: z.string(),
    organizationId: z.string(),
    currency: z.string(),
    amount: z.number().int().describe('Minor units'),
    queries: z.number().int(),
    status: z.enum(['open', 'succeeded', 'failed']),
    failure: z.string().nullable(),
    createdAt: Timestamp,
    settledAt: Timestamp.nullable(),
  })
  .meta({ id: 'DataProductsCharge' });

/** Who sees what data product queries cost: the account that pays, and the operator. */
export function chargeRoutes(charges: DataProductCharges): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/charges',
      summary: "See what apps' data product queries cost the account",
      tag: 'Data products',
      access: { kind: 'org', orgKinds: ['account'] },
      params: z.object({ orgId: z.string() }),
      response: z
        .object({
          data: z.array(ChargeSchema),
          unbilled: z.array(
            z.object({ currency: z.string(), amount: z.number().int(), queries: z.number().int() }),
          ),
        })
        .meta({ id: 'DataProductsAccountCharges' }),
      handler: async ({ org }) => ({
        data: await charges.list(org.org.id),
        unbilled: await charges.unbilled(org.org.id),
      }),
    }),
    defineRoute({
      method: 'get',
      path: '/charges',
      summary: 'List data product charges',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      response: z.object({ data: z.array(ChargeSchema) }).meta({ id: 'DataProductsCharges' }),
      handler: async () => ({ data: await charges.list() }),
    }),
    defineRoute({
      method: 'post',
      path: '/charges/run',
      summary: 'Charge accounts for data product usage now',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      body: z.object({
        /** Usage recorded before this time is charged (default: the start of this month, UTC). */
        until: z.iso.datetime().optional(),
      }),
      response: z.object({ data: z.array(ChargeSchema) }).meta({ id: 'DataProductsChargeRun' }),
      handler: async ({ body }) => ({
        data: await charges.run(body.until ? new Date(body.until) : undefined),
      }),
    }),
  ];
}
