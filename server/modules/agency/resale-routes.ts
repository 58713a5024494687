import { z } from 'zod';
import { type Access, defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import {
  Category,
  ListingDetailSchema,
  ListingSummarySchema,
  PRICING_TYPES,
  Pricing,
  SORTS,
} from '../marketplace/index.ts';
import {
  ApplyReport,
  Catalog,
  Markup,
  PriceChange,
  ResalePrice,
  TemplateApplication,
  TemplateInput,
  TemplateSchema,
} from './schemas.ts';
import type { AgencyService } from './service.ts';

/**
 * Agencies running their sub-accounts: templates that provision a sub-account
 * in one step, app resale at the agency's own price (prices, their journal and
 * rollback, which apps sub-accounts see, pausing one that does not pay), and
 * the dashboard. Sub-accounts see only their own price (offers) and, when
 * paused, the page that says why and how to pay.
 */
const AGENCY: Access = { kind: 'org', orgKinds: ['agency'], minRole: 'admin' };
const OrgParams = z.object({ orgId: z.string().max(64) });
const TemplateParams = OrgParams.extend({ templateId: z.string().max(64) });
const AppParams = OrgParams.extend({ appId: z.string().max(64) });
const SubParams = OrgParams.extend({ subAccountId: z.string().max(64) });

const PauseState = z
  .object({ pausedAt: Timestamp.nullable(), reason: z.string().nullable() })
  .meta({ id: 'SubAccountPauseState' });

const Offer = ListingSummarySchema.extend({
  pricing: Pricing.describe('What this account pays (its agency’s price where the agency resells the app)'),
  resold: z.boolean().describe('Sold by the account’s agency'),
}).meta({ id: 'AccountOffer' });

const Money = z.number().int().describe('Minor units');

const Dashboard = z
  .object({
    data: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        createdAt: Timestamp,
        paused: z.object({ since: Timestamp, reason: z.string().nullable() }).nullable(),
        pastDue: z.boolean(),
        apps: z.array(z.object({ appId: z.string(), name: z.string(), installedAt: Timestamp })),
        pays: z
          .array(
            z.object({
              appId: z.string(),
              appName: z.string(),
              status: z.enum(['pending_payment', 'trialing', 'active', 'past_due', 'canceled']),
              amount: Money.describe('Per interval (usage: this period so far)'),
              currency: z.string(),
              interval: z.enum(['month', 'year']).nullable(),
            }),
          )
          .describe('Its subscriptions, at the price it pays'),
        earnings: z
          .array(
            z.object({
              currency: z.string(),
              charges: z.number().int(),
              paid: Money.describe('What it paid, less refunds'),
              agencyShare: Money.describe(
                "The agency's part of those charges (in the ledger), less what refunds took back",
              ),
              markup: Money.describe('The resale markup in those charges (before refunds)'),
            }),
          )
          .describe("The agency's earnings from this sub-account, per currency"),
      }),
    ),
    nextCursor: z.string().nullable(),
    totals: z.object({
      subAccounts: z.number().int(),
      paused: z.number().int(),
      pastDue: z.number().int(),
      earnings: z.array(z.object({ currency: z.string(), paid: Money, agencyShare: Money, markup: Money })),
    }),
  })
  .meta({ id: 'AgencyDashboard' });

const ResaleSettings = Catalog.extend({
  pauseGraceDays: z
    .number()
    .int()
    .describe('Days after a failed payment before the agency may pause the sub-account'),
}).meta({ id: 'ResaleSettings' });

const PausedPage = z
  .object({
    organization: z.object({ id: z.string(), name: z.string() }),
    agencyName: z.string().nullable(),
    paused: z.boolean(),
    pausedAt: Timestamp.nullable(),
    reason: z.string().nullable(),
    due: z.array(
      z.object({
        invoiceId: z.string(),
        appName: z.string(),
        amount: Money,
        currency: z.string(),
        failedAt: Timestamp,
        payUrl: z.string().describe('Paying it resumes the account (once every overdue invoice is paid)'),
      }),
    ),
  })
  .meta({ id: 'PausedAccount' });

export function agencyManagementRoutes({ agency }: { agency: AgencyService }) {
  const { templates, resale } = agency;
  return [
    // Templates -------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/templates',
      summary: "An agency's sub-account templates",
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      response: z.object({ data: z.array(TemplateSchema) }),
      handler: async ({ org }) => ({ data: await templates.list(org) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/templates',
      summary: 'Create a sub-account template (theme, apps with scopes, contact fields, members to invite)',
      tag: 'Agencies',
      access: AGENCY,
      status: 201,
      params: OrgParams,
      body: TemplateInput,
      response: TemplateSchema,
      handler: ({ org, body }) => templates.create(org, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/templates/:templateId',
      summary: 'A sub-account template',
      tag: 'Agencies',
      access: AGENCY,
      params: TemplateParams,
      response: TemplateSchema,
      handler: ({ org, params }) => templates.get(org, params.templateId),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/templates/:templateId',
      summary:
        'Change a template (a change of its content is a new revision; apply it again to bring sub-accounts in line)',
      tag: 'Agencies',
      access: AGENCY,
      params: TemplateParams,
      body: TemplateInput,
      response: TemplateSchema,
      handler: ({ org, params, body }) => templates.update(org, params.templateId, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/templates/:templateId',
      summary: 'Delete a template (sub-accounts made from it keep what they have)',
      tag: 'Agencies',
      access: AGENCY,
      params: TemplateParams,
      handler: ({ org, params }) => templates.remove(org, params.templateId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/templates/:templateId/provision',
      summary: 'Create a sub-account from a template in one step',
      tag: 'Agencies',
      access: AGENCY,
      status: 201,
      params: TemplateParams,
      body: z.object({ name: z.string().trim().min(1).max(100) }).strict(),
      response: ApplyReport,
      // A retry after a lost answer must not make a second sub-account.
      idempotent: true,
      // The key also marks the sub-account, so a retry after a crash mid-way finishes it (templates.ts).
      handler: ({ org, params, body, ctx }) =>
        templates.provision(org, params.templateId, body, ctx.get('idempotency-key') || undefined),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/templates/:templateId/apply',
      summary:
        'Apply a template to a sub-account again (idempotent: reports what it changed, nothing when in line)',
      tag: 'Agencies',
      access: AGENCY,
      params: TemplateParams,
      body: z.object({ subAccountId: z.string().max(64) }).strict(),
      response: ApplyReport,
      handler: ({ org, params, body }) => templates.apply(org, params.templateId, body.subAccountId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/templates/:templateId/applications',
      summary: 'Where a template was applied, and which sub-accounts are behind its revision',
      tag: 'Agencies',
      access: AGENCY,
      params: TemplateParams,
      response: z.object({ data: z.array(TemplateApplication) }),
      handler: async ({ org, params }) => ({ data: await templates.applications(org, params.templateId) }),
    }),

    // Resale ----------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/resale/prices',
      summary: "The agency's resale prices (its cost and its sub-accounts' price)",
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      response: z.object({ data: z.array(ResalePrice) }),
      handler: async ({ org }) => ({ data: await resale.listPrices(org) }),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/resale/prices/:appId',
      summary: "Set the agency's price of a paid app: a markup over the developer's price (journaled)",
      tag: 'Agencies',
      access: AGENCY,
      params: AppParams,
      body: Markup,
      response: ResalePrice,
      handler: ({ org, params, body }) => resale.setPrice(org, params.appId, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/resale/prices/:appId',
      summary: "Stop reselling an app (sub-accounts then pay the developer's price; journaled)",
      tag: 'Agencies',
      access: AGENCY,
      params: AppParams,
      handler: ({ org, params }) => resale.removePrice(org, params.appId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/resale/price-changes',
      summary: 'The journal of resale price changes, newest first',
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      query: Pagination.extend({ appId: z.string().max(64).optional() }),
      response: page(PriceChange),
      handler: ({ org, query }) => resale.priceChanges(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/resale/price-changes/:changeId/rollback',
      summary: 'Put an app’s price back to what it was before a change (journaled as a change of its own)',
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams.extend({ changeId: z.string().max(64) }),
      response: z.object({
        change: z.string().describe('The journal entry of the rollback'),
        appId: z.string(),
        price: ResalePrice.nullable().describe('The price now (null: the app is no longer resold)'),
      }),
      handler: ({ org, params }) => resale.rollback(org, params.changeId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/resale/settings',
      summary: "Which apps the agency's sub-accounts see, and the grace period before pausing one",
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      response: ResaleSettings,
      handler: ({ org }) => agency.resaleSettings(org),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/resale/catalog',
      summary:
        "Choose which apps the agency's sub-accounts see and may install (all, allow-list, block-list)",
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      body: Catalog,
      response: ResaleSettings,
      handler: async ({ org, body }) => {
        await resale.setCatalog(org, body);
        return agency.resaleSettings(org);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/resale/pause-grace',
      summary: 'Days after a failed payment before a sub-account may be paused',
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      body: z.object({ days: z.number().int().min(0).max(90) }).strict(),
      response: ResaleSettings,
      handler: ({ org, body }) => agency.setPauseGrace(org, body.days),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/sub-accounts/:subAccountId/pause',
      summary:
        'Pause a sub-account whose payment failed past the grace period (its people get 423 until it pays)',
      tag: 'Agencies',
      access: AGENCY,
      params: SubParams,
      body: z.object({ reason: z.string().trim().max(300).optional() }).strict(),
      response: PauseState,
      handler: ({ org, params, body }) => agency.pause(org, params.subAccountId, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/sub-accounts/:subAccountId/resume',
      summary: 'Resume a paused sub-account by hand',
      tag: 'Agencies',
      access: AGENCY,
      params: SubParams,
      response: PauseState,
      handler: ({ org, params }) => agency.resume(org, params.subAccountId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/agency-dashboard',
      summary: 'Sub-accounts with their apps, what each pays and what the agency earned (search and filters)',
      tag: 'Agencies',
      access: AGENCY,
      params: OrgParams,
      query: Pagination.extend({
        q: z.string().trim().max(100).optional().describe('Part of the name, or the id'),
        status: z.enum(['paying', 'past_due', 'paused', 'no_apps']).optional(),
        appId: z.string().max(64).optional().describe('Only sub-accounts with this app installed'),
      }),
      response: Dashboard,
      handler: ({ org, query }) => agency.dashboard(org, query),
    }),

    // What sub-accounts see -------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/offers',
      summary: 'The marketplace as this account sees it: the apps it may install, at the price it pays',
      tag: 'Marketplace',
      access: { kind: 'org', orgKinds: ['account'] },
      params: OrgParams,
      query: Pagination.extend({
        q: z
          .string()
          .trim()
          .max(200)
          .optional()
          .transform((v) => v || undefined),
        category: Category.optional(),
        pricing: z.enum(PRICING_TYPES).optional(),
        sort: z.enum(SORTS).optional(),
      }),
      response: page(Offer),
      handler: ({ org, query }) => resale.offers(org, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/offers/:slug',
      summary:
        'An app page as this account sees it: at the price it pays (404 when its agency does not offer it)',
      tag: 'Marketplace',
      access: { kind: 'org', orgKinds: ['account'] },
      params: OrgParams.extend({ slug: z.string().min(1).max(64) }),
      response: ListingDetailSchema.extend({
        resold: z.boolean().describe('Sold by the account’s agency'),
      }).meta({
        id: 'AccountOfferPage',
      }),
      handler: ({ org, params }) => resale.offer(org, params.slug),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/paused-accounts/:orgId',
      summary:
        'Why an account is paused by its agency and how to pay what is due (its members and the agency admins)',
      tag: 'Agencies',
      access: { kind: 'user' },
      params: OrgParams,
      response: PausedPage,
      handler: ({ actor, params }) => agency.pausedPage(actor, params.orgId),
    }),
  ];
}
