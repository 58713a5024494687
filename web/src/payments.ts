import { request, seg } from './api.ts';

/** Payment provider and payout account calls of the web app (server/modules/payments). */
export interface ProviderInfo {
  provider: 'stripe' | 'sandbox';
  mode: 'live' | 'test' | 'sandbox';
  sandbox: boolean;
}

export interface Requirement {
  name: string;
  description: string;
}

export interface PayoutAccount {
  organizationId: string;
  provider: string;
  sandbox: boolean;
  state: 'not_connected' | 'onboarding' | 'restricted' | 'action_required' | 'active';
  accountId: string | null;
  canReceivePayouts: boolean;
  payoutsEnabled: boolean;
  chargesEnabled: boolean;
  detailsSubmitted: boolean;
  requirements: { currentlyDue: Requirement[]; pastDue: Requirement[]; deadline: string | null };
  disabledReason: string | null;
  holdReason: string | null;
  syncedAt: string | null;
}

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/payouts/account`;

export const payments = {
  provider: () => request<ProviderInfo>('GET', '/v1/payments/provider'),
  payoutAccount: (orgId: string) => request<PayoutAccount>('GET', base(orgId)),
  connect: (orgId: string, country: string) => request<PayoutAccount>('POST', base(orgId), { country }),
  onboardingLink: (orgId: string) =>
    request<{ url: string; expiresAt: string }>('POST', `${base(orgId)}/onboarding-link`),
  refresh: (orgId: string) => request<PayoutAccount>('POST', `${base(orgId)}/refresh`),
  sandboxOnboarding: (token: string) =>
    request<{ sandbox: true; accountId: string; displayName: string; usable: boolean; refreshUrl: string }>(
      'GET',
      `/v1/payments/sandbox/onboarding/${seg(token)}`,
    ),
  sandboxFinishOnboarding: (token: string, submit: boolean) =>
    request<{ redirect: string }>('POST', `/v1/payments/sandbox/onboarding/${seg(token)}`, { submit }),
  sandboxCheckout: (sessionId: string) =>
    request<{
      sandbox: true;
      sessionId: string;
      amount: number;
      currency: string;
      description: string;
      status: string;
      cancelUrl: string;
    }>('GET', `/v1/payments/sandbox/checkout/${seg(sessionId)}`),
  sandboxPay: (sessionId: string, card: string) =>
    request<{ paid: boolean; redirect: string | null }>(
      'POST',
      `/v1/payments/sandbox/checkout/${seg(sessionId)}/pay`,
      {
        card,
      },
    ),
};

export const payoutStateLabels: Record<PayoutAccount['state'], string> = {
  not_connected: 'Not connected',
  onboarding: 'Onboarding not finished',
  restricted: 'Restricted',
  action_required: 'Information due',
  active: 'Active',
};
