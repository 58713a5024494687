import { newId } from '../../server/ids.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import type { TestPlaza } from '../helpers/plaza.ts';
import type { SignedIn } from '../helpers/world.ts';

/** A fresh database with every module's migrations (the ledger's among them). */
export async function createLedgerDatabase(): Promise<TestDatabase> {
  return createTestDatabase();
}

/**
 * A paid payout of `partnerOrgId` on the sandbox provider: its payout account
 * onboarded by `who` (an admin of it), a customer's charge of `developerOrgId`'s
 * app recorded as settled long ago, and a payout run. An agency partner gets
 * its part through a developer rule with an agency share.
 */
export async function paidPayout(
  plaza: Pick<TestPlaza, 'core' | 'http'>,
  who: SignedIn,
  partnerOrgId: string,
  developerOrgId: string,
): Promise<string> {
  const api = (path: string) =>
    who.agent.post(`/v1/organizations/${partnerOrgId}/payouts/account${path}`).set('x-csrf-token', who.csrf);
  await api('').send({}).expect(200);
  const link = (await api('/onboarding-link').expect(200)).body;
  const token = new URL(link.url).pathname.split('/').pop();
  await plaza.http.get(`/v1/payments/sandbox/onboarding/${token}`).expect(200);
  await plaza.http.post(`/v1/payments/sandbox/onboarding/${token}`).send({ submit: true }).expect(200);
  const { provider } = plaza.core.payments;
  const invoiceId = newId('inv');
  const session = await provider.createCheckout({
    idempotencyKey: `checkout:${invoiceId}`,
    mode: 'payment',
    amount: 100_000n,
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
  const charge = await provider.retrieveCharge(
    (await provider.retrieveCheckout(session.sessionId)).paymentIntentId!,
  );
  const agency = partnerOrgId !== developerOrgId;
  if (agency)
    await plaza.core.ledger.addRule(
      {
        scope: 'developer',
        target: developerOrgId,
        tiers: [{ upTo: null, platformBps: 2500 }],
        agencyBps: 5000,
      },
      null,
    );
  await plaza.core.db.transaction((tx) =>
    plaza.core.ledger.recordCharge(tx, {
      invoiceId,
      providerChargeId: charge.chargeId,
      provider: provider.name,
      customerOrgId: 'org_customer',
      developerOrgId,
      agencyOrgId: agency ? partnerOrgId : null,
      appId: 'app_paid',
      amount: charge.amount,
      currency: 'USD',
      processingFee: charge.fee,
      settlesAt: new Date(Date.now() - 40 * 86_400_000),
    }),
  );
  await plaza.core.ledger.runPayouts('test');
  const [payout] = await plaza.core.ledger.payoutsOf(partnerOrgId);
  if (payout?.state !== 'paid') throw new Error(`no paid payout for ${partnerOrgId}`);
  return payout.id;
}
