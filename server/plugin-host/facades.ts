import { invalid, notFound } from '../errors.ts';
import type { LedgerEntryInput, LedgerService } from '../modules/ledger/index.ts';
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
  'customer_credit_liability',
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

  /**
   * A plugin may credit an agency's pending balance (its markup when it rebills a sub-account)
   * only for the agency that is the parent of an organization whose receivable the same
   * transaction debits: a plugin cannot pay an arbitrary partner, nor take from one.
   */
  async function checkAgencyShares(entries: LedgerEntryInput[], shares: LedgerEntryInput[]) {
    const parents = new Set<string>();
    for (const e of entries)
      if (e.account.kind === 'customer_receivable' && e.direction === 'debit' && e.account.party) {
        const org = await s.organizations.byId(e.account.party);
        if (org?.parentId) parents.add(org.parentId);
      }
    for (const e of shares) {
      const party = e.account.party;
      if (e.direction !== 'credit')
        throw invalid('entries', 'plugins only credit partner_pending (an agency’s share), never debit it');
      if (!party || !parents.has(party))
        throw invalid(
          'entries',
          `partner_pending ${party ?? '(no party)'} is not the agency of an organization whose customer_receivable this transaction debits`,
        );
      const agency = await s.organizations.byId(party);
      if (agency?.kind !== 'agency') throw invalid('entries', `partner_pending ${party} is not an agency`);
    }
  }
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
      async post(tx, input) {
        const entries = input.entries ?? [];
        const foreign = entries.find(
          (e) => !PLUGIN_ACCOUNT_KINDS.has(e.account?.kind) && e.account?.kind !== 'partner_pending',
        );
        if (foreign)
          throw invalid(
            'entries',
            `plugins post to ${[...PLUGIN_ACCOUNT_KINDS].join(', ')} (and partner_pending of an agency), not ${foreign.account?.kind}`,
          );
        const shares = entries.filter((e) => e.account.kind === 'partner_pending');
        if (shares.length) await checkAgencyShares(entries, shares);
        // The key carries the plugin's name, so it never replays core's or another plugin's transaction.
        const keyed = { ...input, idempotencyKey: `${plugin}:${input.idempotencyKey}` };
        return shares.length ? s.ledger.postPartnerShares(tx, keyed, 'agency') : s.ledger.post(tx, keyed);
      },
      balance: (account, currency, tx) => s.ledger.balance(account, currency, tx),
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
          ...(input.settles ? { settles: input.settles } : {}),
        }),
      chargeSavedMethod: (input) =>
        s.payments.platformCharges.chargeSavedMethod({
          owner,
          organizationId: input.organizationId,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          reference: input.idempotencyKey,
          ...(input.settles ? { settles: input.settles } : {}),
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
