import { newId } from '../../server/ids.ts';
import { onboardSandboxPayoutAccount, paySandboxCheckout } from '../helpers/payments.ts';
import type { TestPlaza } from '../helpers/plaza.ts';
import type { SignedIn } from '../helpers/world.ts';

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
  await onboardSandboxPayoutAccount(plaza, who, partnerOrgId);
  const { provider } = plaza.core.payments;
  const invoiceId = newId('inv');
  const charge = await paySandboxCheckout(plaza, invoiceId, 100_000n);
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
