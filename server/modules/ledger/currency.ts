/**
 * ISO 4217 currencies the ledger accepts, with their exponent (digits after
 * the decimal point of one major unit). Amounts are always integer minor
 * units; the exponent is only used to read and write them for people.
 */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = {
  AED: 2,
  AUD: 2,
  BGN: 2,
  BHD: 3,
  BRL: 2,
  CAD: 2,
  CHF: 2,
  CLP: 0,
  CNY: 2,
  CZK: 2,
  DKK: 2,
  EUR: 2,
  GBP: 2,
  HKD: 2,
  HUF: 2,
  IDR: 2,
  ILS: 2,
  INR: 2,
  ISK: 0,
  JOD: 3,
  JPY: 0,
  KRW: 0,
  KWD: 3,
  MXN: 2,
  MYR: 2,
  NOK: 2,
  NZD: 2,
  OMR: 3,
  PHP: 2,
  PLN: 2,
  RON: 2,
  SEK: 2,
  SGD: 2,
  THB: 2,
  TND: 3,
  TRY: 2,
  TWD: 2,
  UGX: 0,
  USD: 2,
  VND: 0,
  XAF: 0,
  XOF: 0,
  ZAR: 2,
};

/** Largest amount of one entry: 10^15 minor units (ten trillion dollars), far inside bigint and JSON numbers. */
export const MAX_AMOUNT = 10n ** 15n;

export const isCurrency = (code: unknown): code is string =>
  typeof code === 'string' && Object.hasOwn(CURRENCY_EXPONENTS, code);

export function exponentOf(currency: string): number {
  const e = CURRENCY_EXPONENTS[currency];
  if (e === undefined) throw new Error(`unknown currency ${currency}`);
  return e;
}

/** Why an amount is not acceptable, or undefined when it is (strictly positive, integer, at most MAX_AMOUNT). */
export function amountProblem(amount: unknown): string | undefined {
  if (typeof amount !== 'bigint') return 'must be an integer number of minor units';
  if (amount <= 0n) return 'must be greater than 0';
  if (amount > MAX_AMOUNT) return `must be at most ${MAX_AMOUNT}`;
  return undefined;
}

/** `1234n, 'USD'` → `12.34`; `5n, 'JPY'` → `5`; for CSV and people, never for arithmetic. */
export function formatMinor(amount: bigint, currency: string): string {
  const e = exponentOf(currency);
  const neg = amount < 0n;
  const digits = (neg ? -amount : amount).toString().padStart(e + 1, '0');
  const major = e === 0 ? digits : `${digits.slice(0, -e)}.${digits.slice(-e)}`;
  return neg ? `-${major}` : major;
}
