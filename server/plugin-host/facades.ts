import { invalid, notFound } from '../errors.ts';
import type { LedgerService } from '../modules/ledger/index.ts';
import type { Organization, OrganizationsService } from '../modules/organizations/index.ts';
import type { PaymentsService } from '../modules/payments/index.ts';
import type { PluginLedger, PluginOrg, PluginOrgs, PluginPayments } from '../plugin-api/context.ts';

export interface PlatformServices {
  organizations: OrganizationsService;
  ledger: LedgerService;
  payments: PaymentsService;
}

export interface PlatformFacades {
  orgs: PluginOrgs;
  ledger: PluginLedger;
  payments: PluginPayments;
}

/**
 * The accounts a plugin's own money moves through. Partners' accounts
 * (pending, payable, in transit, disputes) belong to payouts and revenue share.
 */
const PLUGIN_ACCOUNT_KINDS = new Set<string>([
  'customer_receivable',
  'platform_revenue',
  'provider_cash',
  'processing_fees',
]);

const pluginOrg = (o: Organization): PluginOrg => ({
  id: o.id,
  name: o.name,
  kind: o.kind,
  parentId: o.parentId ?? null,
  createdAt: new Date(o.createdAt),
});

/** `ctx.orgs`, `ctx.ledger` and `ctx.payments` of one plugin, each narrowed to it. */
export function createPlatformFacades(plugin: string, s: PlatformServices): PlatformFacades {
  const owner = `plugin:${plugin}`;
  return {
    orgs: {
      async get(orgId) {
        const org = await s.organizations.byId(orgId);
        if (!org) throw notFound('organization');
        return pluginOrg(org);
      },
      children: async (agencyId) => (await s.organizations.childrenOf(agencyId)).map(pluginOrg),
      members: (orgId) => s.organizations.membersOf(orgId),
    },
    ledger: {
      post(tx, input) {
        const foreign = (input.entries ?? []).find((e) => !PLUGIN_ACCOUNT_KINDS.has(e.account?.kind));
        if (foreign)
          return Promise.reject(
            invalid(
              'entries',
              `plugins post to ${[...PLUGIN_ACCOUNT_KINDS].join(', ')}, not ${foreign.account?.kind}`,
            ),
          );
        // The key carries the plugin's name, so it never replays core's or another plugin's transaction.
        return s.ledger.post(tx, { ...input, idempotencyKey: `${plugin}:${input.idempotencyKey}` });
      },
      balance: (account, currency) => s.ledger.balance(account, currency),
    },
    payments: {
      provider: s.payments.provider.name,
      checkout: (input) =>
        s.payments.platformCharges.checkout({
          owner,
          organizationId: input.organizationId,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          reference: input.reference,
          successUrl: input.successUrl,
          cancelUrl: input.cancelUrl,
        }),
      chargeSavedMethod: (input) =>
        s.payments.platformCharges.chargeSavedMethod({
          owner,
          organizationId: input.organizationId,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          reference: input.idempotencyKey,
        }),
    },
  };
}

/** A context built without the core (the host's unit tests): using these throws. */
export function missingPlatformFacades(): PlatformFacades {
  const missing = () => {
    throw new Error('ctx.orgs, ctx.ledger and ctx.payments need the core (createCore)');
  };
  return {
    orgs: new Proxy({} as PluginOrgs, { get: () => missing }),
    ledger: new Proxy({} as PluginLedger, { get: () => missing }),
    payments: new Proxy({} as PluginPayments, { get: () => missing }),
  };
}
