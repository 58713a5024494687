import type { Db } from '../../db/index.ts';
import { createLedgerCore } from './core.ts';
import type { LedgerPort } from './port.ts';
import { createRevenue } from './revenue.ts';

export interface LedgerDeps {
  db: Db;
  /** The clock (tests move it); default the system's. */
  now?: () => Date;
}

export type LedgerService = Awaited<ReturnType<typeof createLedgerService>>;

/**
 * The ledger: the double-entry book, the revenue-share schedule, charges and
 * refunds with their split. Payments calls it through `LedgerPort`.
 */
export function createLedgerService({ db, now = () => new Date() }: LedgerDeps) {
  const core = createLedgerCore({ db });
  const revenue = createRevenue({ db, core, now });
  const port: LedgerPort = {
    post: core.post,
    splitCharge: revenue.splitCharge,
    recordCharge: revenue.recordCharge,
    recordRefund: revenue.recordRefund,
    recordTransferReversal: revenue.recordTransferReversal,
  };
  return { ...core, ...revenue, ...port, now };
}
