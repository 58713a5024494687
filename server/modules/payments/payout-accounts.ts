import type { Db, Queryable, Row } from '../../db/index.ts';
import { conflict, PlazaError } from '../../errors.ts';
import type { OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { PayoutAccountStatus } from '../ledger/index.ts';
import type { PaymentProvider, ProviderAccount } from './provider.ts';
import type { EventHandler } from './provider-events.ts';

/**
 * A partner's payout account: a connected account in the recipient
 * configuration, onboarded through single-use Account Links, its state kept
 * in step from the provider (events, the return from onboarding, or on
 * demand). Payouts are held, with the reason in words, until it can receive.
 */
export type PayoutAccountState = 'not_connected' | 'onboarding' | 'restricted' | 'action_required' | 'active';

export interface PayoutAccountView {
  organizationId: string;
  provider: string;
  /** True on the embedded sandbox provider: no real money moves. */
  sandbox: boolean;
  state: PayoutAccountState;
  accountId: string | null;
  canReceivePayouts: boolean;
  payoutsEnabled: boolean;
  chargesEnabled: boolean;
  detailsSubmitted: boolean;
  requirements: { currentlyDue: string[]; pastDue: string[]; deadline: string | null };
  disabledReason: string | null;
  /** Why payouts are held, shown to the partner; null when they are not. */
  holdReason: string | null;
  syncedAt: string | null;
}

/** Requirement names as Stripe writes them (`individual.verification.document`) in words. */
export function describeRequirement(name: string): string {
  const words: Record<string, string> = {
    external_account: 'Bank account for payouts',
    'tos_acceptance.date': 'Acceptance of the services agreement',
    'tos_acceptance.ip': 'Acceptance of the services agreement',
    'individual.verification.document': 'Identity document',
    'individual.first_name': 'First name',
    'individual.last_name': 'Last name',
    'individual.dob.day': 'Date of birth',
    'individual.id_number': 'Tax identification number',
    'individual.ssn_last_4': 'Last 4 digits of the SSN',
    'company.tax_id': 'Company tax id',
    'business_profile.url': 'Business website',
    'business_profile.mcc': 'Business category',
  };
  return words[name] ?? name.replaceAll('_', ' ').replaceAll('.', ' › ');
}

function stateOf(row: Row | undefined): PayoutAccountState {
  if (!row) return 'not_connected';
  if (!row.details_submitted && !row.transfers_active) return 'onboarding';
  if (!row.transfers_active || row.past_due.length) return 'restricted';
  if (row.currently_due.length) return 'action_required';
  return 'active';
}

function holdReason(row: Row | undefined): string | null {
  const state = stateOf(row);
  switch (state) {
    case 'not_connected':
      return 'No payout account is connected yet.';
    case 'onboarding':
      return 'Onboarding of the payout account is not finished.';
    case 'restricted': {
      const due = [...new Set([...(row!.past_due as string[]), ...(row!.currently_due as string[])])];
      return due.length
        ? `The payout account is restricted until the provider gets: ${due.map(describeRequirement).join(', ')}.`
        : `The payout account cannot receive payouts${row!.disabled_reason ? ` (${row!.disabled_reason})` : ''}.`;
    }
    default:
      // `action_required` is still paid out: the provider only restricts after the deadline.
      return null;
  }
}

function view(orgId: string, provider: PaymentProvider, row: Row | undefined): PayoutAccountView {
  const state = stateOf(row);
  return {
    organizationId: orgId,
    provider: row?.provider ?? provider.name,
    sandbox: (row?.provider ?? provider.name) === 'sandbox',
    state,
    accountId: row?.provider_account_id ?? null,
    canReceivePayouts: state === 'active' || state === 'action_required',
    payoutsEnabled: row?.payouts_enabled ?? false,
    chargesEnabled: row?.charges_enabled ?? false,
    detailsSubmitted: row?.details_submitted ?? false,
    requirements: {
      currentlyDue: row?.currently_due ?? [],
      pastDue: row?.past_due ?? [],
      deadline: row?.deadline ? new Date(row.deadline).toISOString() : null,
    },
    disabledReason: row?.disabled_reason ?? null,
    holdReason: holdReason(row),
    syncedAt: row?.synced_at ? new Date(row.synced_at).toISOString() : null,
  };
}

export function createPayoutAccounts(deps: {
  db: Db;
  provider: PaymentProvider;
  audit: AuditService;
  baseUrl: string;
}) {
  const { db, provider, audit, baseUrl } = deps;

  const rowOf = (q: Queryable, orgId: string) =>
    q.maybeOne('SELECT * FROM payments_payout_accounts WHERE organization_id = $1', [orgId]);

  /** Writes what the provider reports; the newest read wins, so events in any order end in the current state. */
  async function store(q: Queryable, orgId: string, a: ProviderAccount, readAt: Date) {
    return q.maybeOne(
      `UPDATE payments_payout_accounts SET transfers_active = $2, payouts_enabled = $3, charges_enabled = $4,
         details_submitted = $5, currently_due = $6, past_due = $7, deadline = $8, disabled_reason = $9,
         synced_at = $10, updated_at = now()
       WHERE organization_id = $1 AND (synced_at IS NULL OR synced_at <= $10) RETURNING *`,
      [
        orgId,
        a.transfersActive,
        a.payoutsEnabled,
        a.chargesEnabled,
        a.detailsSubmitted,
        a.currentlyDue,
        a.pastDue,
        a.deadline,
        a.disabledReason,
        readAt,
      ],
    );
  }

  const urls = (orgId: string) => ({
    // The refresh URL is a signed-in page: it re-authenticates the person, then mints a new link.
    refreshUrl: `${baseUrl}/orgs/${orgId}/payouts-account?onboarding=refresh`,
    returnUrl: `${baseUrl}/orgs/${orgId}/payouts-account?onboarding=return`,
  });

  return {
    async status(orgId: string): Promise<PayoutAccountView> {
      return view(orgId, provider, await rowOf(db, orgId));
    },

    /** Creates the connected account once (a retry or a second click returns the same one). */
    async connect(
      org: OrgContext,
      input: { country: string; email: string | null },
    ): Promise<PayoutAccountView> {
      const existing = await rowOf(db, org.org.id);
      if (existing) return view(org.org.id, provider, existing);
      const { accountId } = await provider.createRecipientAccount({
        idempotencyKey: `acct:${org.org.id}`,
        displayName: org.org.name,
        email: input.email,
        country: input.country,
        metadata: { plaza_organization: org.org.id },
      });
      const row = await db.transaction(async (tx) => {
        const inserted = await tx.maybeOne(
          `INSERT INTO payments_payout_accounts (organization_id, provider, provider_account_id)
           VALUES ($1, $2, $3) ON CONFLICT (organization_id) DO NOTHING RETURNING *`,
          [org.org.id, provider.name, accountId],
        );
        if (!inserted) return rowOf(tx, org.org.id);
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'payouts.account_connected',
          targetType: 'payout_account',
          targetId: accountId,
          data: { provider: provider.name, country: input.country },
        });
        return inserted;
      });
      return view(org.org.id, provider, row);
    },

    /** A fresh single-use onboarding link (each visit of the refresh URL asks for another). */
    async onboardingLink(org: OrgContext): Promise<{ url: string; expiresAt: string }> {
      const row = await rowOf(db, org.org.id);
      if (!row) throw conflict('connect a payout account first (POST …/payouts/account)');
      if (row.provider !== provider.name)
        throw new PlazaError(
          'PLAZA_CONFLICT',
          `this payout account lives on the ${row.provider} provider, but Plaza now runs on ${provider.name}`,
        );
      const link = await provider.createOnboardingLink({
        accountId: row.provider_account_id,
        ...urls(org.org.id),
      });
      return { url: link.url, expiresAt: link.expiresAt.toISOString() };
    },

    /** Reads the account from the provider now (the return from onboarding, or "refresh" in the console). */
    async sync(orgId: string): Promise<PayoutAccountView> {
      const row = await rowOf(db, orgId);
      if (!row) return view(orgId, provider, row);
      const readAt = new Date();
      const a = await provider.retrieveAccount(row.provider_account_id);
      const updated = await store(db, orgId, a, readAt);
      return view(orgId, provider, updated ?? (await rowOf(db, orgId)));
    },

    /**
     * `account.updated`: fetch the account (never trust the event's copy, it may be older than
     * one already applied) and store it with the time it was read.
     */
    onAccountEvent: (async (event) => {
      const accountId = event.account ?? event.objectId;
      const row = await db.maybeOne(
        'SELECT organization_id FROM payments_payout_accounts WHERE provider_account_id = $1',
        [accountId],
      );
      if (!row) return null;
      const readAt = new Date();
      const account = await provider.retrieveAccount(accountId);
      return async (tx) => {
        await store(tx, row.organization_id, account, readAt);
      };
    }) satisfies EventHandler,

    /** The ledger's question before paying a partner: can the account receive, and is its balance not negative? */
    async payoutStatus(orgId: string): Promise<PayoutAccountStatus> {
      const row = await rowOf(db, orgId);
      const v = view(orgId, provider, row);
      if (!row || !v.canReceivePayouts)
        return {
          canReceive: false,
          reason: v.holdReason ?? 'The payout account cannot receive payouts.',
          providerAccountId: row?.provider_account_id,
        };
      const providerBalance = await provider.accountBalance(row.provider_account_id);
      const negative = providerBalance.find((b) => b.amount < 0n);
      return {
        canReceive: !negative,
        reason: negative
          ? `The payout account's ${negative.currency} balance is negative on the provider.`
          : undefined,
        providerAccountId: row.provider_account_id,
        providerBalance,
      };
    },

    /** Connected account id of a partner, when it has one. */
    async accountIdOf(orgId: string): Promise<string | null> {
      return (await rowOf(db, orgId))?.provider_account_id ?? null;
    },
  };
}

export type PayoutAccounts = ReturnType<typeof createPayoutAccounts>;
