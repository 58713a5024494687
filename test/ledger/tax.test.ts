import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { createLedgerService, type LedgerService } from '../../server/modules/ledger/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let t: TestDatabase;
let db: Db;
let ledger: LedgerService;
let n = 0;
const clock = new Date('2026-06-15T12:00:00Z');

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
  ledger = createLedgerService({ db, now: () => clock });
});
afterAll(async () => {
  await t?.drop();
});

async function charges(party: string, count: number, amount: bigint, currency = 'USD', fee = 0n) {
  for (let i = 0; i < count; i++)
    await db.transaction((tx) =>
      ledger.recordCharge(tx, {
        invoiceId: `inv_tax_${++n}`,
        providerChargeId: `ch_tax_${n}`,
        provider: 'sandbox',
        customerOrgId: 'org_c',
        developerOrgId: party,
        appId: 'app_t',
        amount,
        currency,
        processingFee: fee,
        settlesAt: clock,
      }),
    );
}

describe('tax figures per payee and calendar year', () => {
  it('flags 1099-NEC from $2,000, 1099-K above $20,000 and 200 transactions, DAC7 unless under 30 sales and €2,000', async () => {
    await charges('org_nec_yes', 1, 266_700n); // keeps 75%: 2,000.25
    await charges('org_nec_no', 1, 266_600n); // 1,999.50
    await charges('org_k_yes', 201, 10_000n); // $20,100 in 201 charges
    await charges('org_k_no', 200, 10_050n); // $20,100 in 200 charges
    await charges('org_dac7_count', 30, 1_000n, 'EUR'); // 30 sales, €300
    await charges('org_dac7_no', 29, 6_000n, 'EUR'); // 29 sales, €1,740
    await charges('org_dac7_amount', 2, 100_000n, 'EUR'); // 2 sales, €2,000
    const figures = new Map((await ledger.taxFigures(2026)).map((f) => [f.party, f]));
    expect(figures.get('org_nec_yes')).toMatchObject({ payeeEarnings: 200_025n, form1099Nec: true });
    expect(figures.get('org_nec_no')).toMatchObject({ payeeEarnings: 199_950n, form1099Nec: false });
    expect(figures.get('org_k_yes')).toMatchObject({ gross: 2_010_000n, transactions: 201, form1099K: true });
    expect(figures.get('org_k_no')).toMatchObject({ gross: 2_010_000n, transactions: 200, form1099K: false });
    expect(figures.get('org_dac7_count')).toMatchObject({ transactions: 30, dac7: true, form1099Nec: false });
    expect(figures.get('org_dac7_no')).toMatchObject({ transactions: 29, gross: 174_000n, dac7: false });
    expect(figures.get('org_dac7_amount')).toMatchObject({ transactions: 2, gross: 200_000n, dac7: true });
    // Other years are empty; one payee can be asked alone.
    expect(await ledger.taxFigures(2025)).toEqual([]);
    expect((await ledger.taxFigures(2026, 'org_k_no')).map((f) => f.party)).toEqual(['org_k_no']);
  });

  it('counts refunds of the year and takes the payee share back from its earnings', async () => {
    await charges('org_refunded', 1, 10_000n, 'USD', 300n);
    await db.transaction((tx) =>
      ledger.recordRefund(tx, {
        refundId: 'ref_tax',
        invoiceId: `inv_tax_${n}`,
        providerRefundId: 're_tax',
        provider: 'sandbox',
        amount: 10_000n,
        currency: 'USD',
      }),
    );
    const [f] = await ledger.taxFigures(2026, 'org_refunded');
    expect(f).toMatchObject({
      gross: 10_000n,
      fees: 300n,
      refunds: 10_000n,
      payeeEarnings: 0n,
      transactions: 1,
    });
    const csv = ledger.taxCsv([f]);
    expect(csv).toBe(
      'payee,year,currency,gross,transactions,fees,refunds,payee_earnings,1099_nec,1099_k,dac7\r\n' +
        'org_refunded,2026,USD,100.00,1,3.00,100.00,0.00,no,no,no\r\n',
    );
  });
});
