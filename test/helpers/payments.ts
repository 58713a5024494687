import type { PaymentProvider } from '../../server/modules/payments/index.ts';
import { type FakeStripe, startFakeStripe } from '../fake-stripe/server.ts';
import { type PlazaServer, startPlazaServer, type TestPlaza } from './plaza.ts';
import type { SignedIn } from './world.ts';

type ProviderCharge = Awaited<ReturnType<PaymentProvider['retrieveCharge']>>;

export interface PlazaOnFakeStripe {
  fake: FakeStripe;
  plaza: PlazaServer;
  close(): Promise<void>;
}

/**
 * Plaza on a real port with its payments on the Stripe adapter (the real
 * stripe SDK), pointed at a fresh fake Stripe that sends its signed webhooks
 * back to Plaza's `/v1/payments/stripe/webhook`.
 */
export async function startPlazaOnFakeStripe(): Promise<PlazaOnFakeStripe> {
  const fake = await startFakeStripe();
  const plaza = await startPlazaServer({ env: fake.env() });
  fake.setWebhookUrl(`${plaza.baseUrl}/v1/payments/stripe/webhook`);
  return {
    fake,
    plaza,
    async close() {
      await fake.close();
      await plaza.close();
    },
  };
}

/** Connects `orgId`'s payout account on the sandbox provider and completes its hosted onboarding. */
export async function onboardSandboxPayoutAccount(
  plaza: Pick<TestPlaza, 'http'>,
  who: Pick<SignedIn, 'agent' | 'csrf'>,
  orgId: string,
): Promise<void> {
  const api = (path: string) =>
    who.agent.post(`/v1/organizations/${orgId}/payouts/account${path}`).set('x-csrf-token', who.csrf);
  await api('').send({}).expect(200);
  const link = (await api('/onboarding-link').expect(200)).body;
  const token = new URL(link.url).pathname.split('/').pop();
  await plaza.http.get(`/v1/payments/sandbox/onboarding/${token}`).expect(200);
  await plaza.http.post(`/v1/payments/sandbox/onboarding/${token}`).send({ submit: true }).expect(200);
}

/** A customer pays `amount` (USD) for `invoiceId` on the sandbox's hosted page; returns the charge. */
export async function paySandboxCheckout(
  plaza: Pick<TestPlaza, 'core' | 'http'>,
  invoiceId: string,
  amount: bigint,
): Promise<ProviderCharge> {
  const { provider } = plaza.core.payments;
  const session = await provider.createCheckout({
    idempotencyKey: `checkout:${invoiceId}`,
    mode: 'payment',
    amount,
    currency: 'USD',
    description: 'Pro plan',
    transferGroup: invoiceId,
    saveCard: false,
    successUrl: 'http://plaza.test/ok',
    cancelUrl: 'http://plaza.test/cancel',
    metadata: { invoice: invoiceId },
  });
  await plaza.http
    .post(`/v1/payments/sandbox/checkout/${session.sessionId}/pay`)
    .send({ card: '4242424242424242' })
    .expect(200);
  return provider.retrieveCharge((await provider.retrieveCheckout(session.sessionId)).paymentIntentId!);
}
