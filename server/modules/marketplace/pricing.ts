import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import type { Pricing } from './schemas.ts';

/** A price for one account, in minor units (`1900` EUR = €19.00). */
export interface PriceQuote {
  amount: number;
  /** ISO 4217, lowercase as Stripe writes it (`eur`). */
  currency: string;
  /** Recurring interval; null for a one-time price. */
  interval: 'month' | 'year' | null;
  /** How the marketplace shows it: "€19 / month", "Free for 14 days, then €19 / month". */
  label: string;
  /** The whole price in the listing's shape, when the quote replaces the declared one (usage units and cap too). */
  pricing?: Pricing;
  /**
   * The agency (organization id) whose resale price this is: the account pays it, and the
   * difference over the developer's price is the agency's markup in the ledger.
   */
  resoldBy?: string;
}

/**
 * `marketplace.pricing`: what an app costs an account now (plans, trials,
 * an agency's markup: the billing work). The listing's own `pricing` field
 * is what the developer declared; a quote is what this account would pay.
 * Return undefined to leave the app to the next pricing extension (or to
 * none: then the listing's declared pricing stands).
 */
export interface MarketplacePricing {
  quote(input: {
    appId: string;
    accountId: string | null;
    /** The developer's declared price when the caller has it (the version being installed). */
    pricing?: Pricing;
  }): Promise<PriceQuote | undefined>;
}

declare module '../../lib/extension-points.ts' {
  interface ExtensionPoints {
    'marketplace.pricing': MarketplacePricing;
  }
}

export function createPriceQuotes(extensions: ExtensionRegistry) {
  const pricing = extensions.define('marketplace.pricing', {
    owner: 'marketplace',
    description: 'Quotes what an app costs an account (plans, trials, agency markup)',
  });
  return {
    /** The first quote a `marketplace.pricing` extension gives, in setup order; undefined when none does. */
    async quote(
      appId: string,
      accountId: string | null = null,
      declared?: Pricing,
    ): Promise<PriceQuote | undefined> {
      for (const p of pricing.list()) {
        const quote = await p.value.quote({ appId, accountId, pricing: declared });
        if (quote) return quote;
      }
      return undefined;
    },
  };
}

export type PriceQuotes = ReturnType<typeof createPriceQuotes>;
