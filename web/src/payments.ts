import { request, seg } from './api.ts';

import type { components, ResponseOf } from './generated/openapi.ts';

/** Payment provider and payout account calls of the web app (server/modules/payments). */
export type ProviderInfo = ResponseOf<'/v1/payments/provider', 'get'>;
export type PayoutAccount = components['schemas']['PayoutAccount'];
export type Requirement = PayoutAccount['requirements']['currentlyDue'][number];

type Sandbox = '/v1/payments/sandbox';

type Subscriptions = '/v1/organizations/{orgId}/subscriptions';
export type Subscription = ResponseOf<Subscriptions, 'get'>['data'][number];
export type Invoice = Subscription['invoices'][number];

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/payouts/account`;

export const payments = {
  provider: () => request<ProviderInfo>('GET', '/v1/payments/provider'),
  payoutAccount: (orgId: string) => request<PayoutAccount>('GET', base(orgId)),
  connect: (orgId: string, country: string) => request<PayoutAccount>('POST', base(orgId), { country }),
  onboardingLink: (orgId: string) =>
    request<ResponseOf<'/v1/organizations/{orgId}/payouts/account/onboarding-link', 'post'>>(
      'POST',
      `${base(orgId)}/onboarding-link`,
    ),
  refresh: (orgId: string) => request<PayoutAccount>('POST', `${base(orgId)}/refresh`),
  subscriptions: (orgId: string) =>
    request<ResponseOf<Subscriptions, 'get'>>('GET', `/v1/organizations/${seg(orgId)}/subscriptions`),
  payLink: (orgId: string, subscriptionId: string) =>
    request<ResponseOf<`${Subscriptions}/{subscriptionId}/pay-link`, 'post'>>(
      'POST',
      `/v1/organizations/${seg(orgId)}/subscriptions/${seg(subscriptionId)}/pay-link`,
    ),
  sandboxOnboarding: (token: string) =>
    request<ResponseOf<`${Sandbox}/onboarding/{token}`, 'get'>>(
      'GET',
      `/v1/payments/sandbox/onboarding/${seg(token)}`,
    ),
  sandboxFinishOnboarding: (token: string, submit: boolean) =>
    request<ResponseOf<`${Sandbox}/onboarding/{token}`, 'post'>>(
      'POST',
      `/v1/payments/sandbox/onboarding/${seg(token)}`,
      { submit },
    ),
  sandboxCheckout: (sessionId: string) =>
    request<ResponseOf<`${Sandbox}/checkout/{sessionId}`, 'get'>>(
      'GET',
      `/v1/payments/sandbox/checkout/${seg(sessionId)}`,
    ),
  sandboxPay: (sessionId: string, card: string) =>
    request<ResponseOf<`${Sandbox}/checkout/{sessionId}/pay`, 'post'>>(
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

export const subscriptionStatusLabels: Record<Subscription['status'], string> = {
  pending_payment: 'Waiting for payment',
  trialing: 'Trial',
  active: 'Active',
  past_due: 'Payment due',
  canceled: 'Canceled',
};
