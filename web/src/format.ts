import type { Pricing } from './generated/openapi.ts';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** "Nov 22, 2025, 1:50 PM"; a dash for missing or unreadable values. */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : dateTime.format(d);
}

export function formatDate(value: string | null | undefined): string {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : dateOnly.format(d);
}

export const kindLabels: Record<string, string> = {
  developer: 'Developer',
  agency: 'Agency',
  account: 'Account',
};

export const roleLabels: Record<string, string> = {
  owner: 'Owner',
  admin: 'Admin',
  member: 'Member',
};

export interface TextPart {
  text: string;
  href?: string;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"')\]]+/g;

/**
 * Splits plain text into text and link parts, so a template can render links
 * without v-html. Trailing sentence punctuation stays out of the link.
 */
export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trailing = /[.,;:!?]+$/.exec(url)?.[0] ?? '';
    if (trailing) url = url.slice(0, -trailing.length);
    const start = match.index ?? 0;
    if (start > last) parts.push({ text: text.slice(last, start) });
    parts.push({ text: url, href: url });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

// Money and marketplace numbers ---------------------------------------------

const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(currency: string): Intl.NumberFormat {
  let f = moneyFormats.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    } catch {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'XXX' });
    }
    moneyFormats.set(currency, f);
  }
  return f;
}

/**
 * Integer minor units + ISO currency -> "$12.50", "¥1,200", "12,50 €".
 * The number of minor digits comes from the currency itself (JPY has none).
 */
export function formatMoney(amountMinor: number, currency: string): string {
  const f = moneyFormat(currency);
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(amountMinor / 10 ** digits);
}

/** The pricing of a version, as the API sends it. */
export type PricingInfo = Pricing;

export const pricingTypeLabels: Record<string, string> = {
  free: 'Free',
  one_time: 'One-time payment',
  recurring: 'Subscription',
  usage: 'Usage-based',
};

/** Short price for a card: "Free", "$49.00 once", "$9.99 / month". */
export function priceShort(p: PricingInfo | null | undefined): string {
  if (!p || p.type === 'free') return 'Free';
  if (p.type === 'one_time') return `${formatMoney(p.amount, p.currency)} once`;
  if (p.type === 'recurring') return `${formatMoney(p.amount, p.currency)} / ${p.interval}`;
  return `${formatMoney(p.unitAmount, p.currency)} per ${p.unitName}`;
}

/** The whole price in words, for an app page. */
export function priceLong(p: PricingInfo | null | undefined): string {
  if (!p || p.type === 'free') return 'Free to install and use.';
  if (p.type === 'one_time') return `${formatMoney(p.amount, p.currency)}, paid once.`;
  if (p.type === 'recurring') {
    const every = p.interval === 'year' ? 'a year' : 'a month';
    const trial = p.trialDays ? ` ${p.trialDays}-day free trial.` : '';
    return `${formatMoney(p.amount, p.currency)} ${every}.${trial}`;
  }
  return `${formatMoney(p.unitAmount, p.currency)} per ${p.unitName}, at most ${formatMoney(p.cappedAmount, p.currency)} a month.`;
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const plain = new Intl.NumberFormat();

/** 1234 -> "1.2K" */
export function formatCount(n: number | null | undefined): string {
  return compact.format(n ?? 0);
}

export function formatNumber(n: number | null | undefined): string {
  return plain.format(n ?? 0);
}

/** "3 days", "5 hours", "12 minutes": a duration given in seconds. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 3600) return unit(Math.max(1, Math.round(s / 60)), 'minute');
  if (s < 2 * 86_400) return unit(Math.round(s / 3600), 'hour');
  return unit(Math.round(s / 86_400), 'day');
}

/** How long ago a timestamp was, in words ("2 hours"). */
export function ageOf(value: string | null | undefined, now = Date.now()): string {
  if (!value) return '—';
  const t = new Date(value).getTime();
  if (Number.isNaN(t)) return '—';
  return formatDuration((now - t) / 1000);
}

export const categoryLabels: Record<string, string> = {
  analytics: 'Analytics',
  communication: 'Communication',
  crm: 'CRM',
  marketing: 'Marketing',
  payments: 'Payments',
  productivity: 'Productivity',
  reporting: 'Reporting',
  scheduling: 'Scheduling',
  support: 'Support',
  other: 'Other',
};

export const versionStateLabels: Record<string, string> = {
  draft: 'Draft',
  checking: 'Automated checks running',
  queued: 'In the review queue',
  in_review: 'In review',
  changes_requested: 'Changes requested',
  live: 'Live',
  retired: 'Retired',
};

/** How many minor digits a currency has (USD 2, JPY 0, KWD 3). */
export function minorDigits(currency: string): number {
  return moneyFormat(currency).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * "12.5" in USD -> 1250 minor units, without floating point: the text is split
 * at the decimal separator. Null when it is not a plain positive amount or has
 * more decimals than the currency.
 */
export function parseMoney(text: string, currency: string): number | null {
  const t = text.trim().replace(/[\s,](?=\d{3}\b)/g, '');
  const m = /^(\d+)(?:[.,](\d*))?$/.exec(t);
  if (!m) return null;
  const digits = minorDigits(currency);
  const fraction = m[2] ?? '';
  if (fraction.length > digits) return null;
  const value = Number(m[1]) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0');
  return Number.isSafeInteger(value) ? value : null;
}

/** 1250 minor units of USD -> "12.50" (for an input field). */
export function minorToText(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  if (digits === 0) return String(minor);
  const s = String(Math.abs(minor)).padStart(digits + 1, '0');
  return `${minor < 0 ? '-' : ''}${s.slice(0, -digits)}.${s.slice(-digits)}`;
}
