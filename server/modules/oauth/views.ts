import { readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import type { Context } from 'koa';

/**
 * Server-rendered OAuth pages (templates/oauth/*.hbs): sign in, choose the
 * account, consent, error. Plain HTML and one inline stylesheet, no external
 * assets and no script. Themeable through `Theme`: a plugin adds a
 * `ThemeResolver` to the `oauth.theme` extension point (per domain or account).
 */
export interface Theme {
  /** Shown in the header and the page title. */
  brandName: string;
  /** Buttons, links and the header rule: a CSS hex colour (#rgb or #rrggbb). */
  brandColor: string;
  /** Text on brandColor: a CSS hex colour. */
  brandTextColor: string;
  /** Optional logo (an https or same-origin URL), shown instead of the name. */
  logoUrl: string | null;
  /** Page background and body text (hex); the defaults when absent. */
  backgroundColor?: string;
  textColor?: string;
  /** A font stack of names only (letters, digits, spaces, commas, quotes, dashes). */
  fontFamily?: string;
  /** A favicon (https or same-origin URL). */
  faviconUrl?: string | null;
  /** Where "home" links go (an https or same-origin URL): the brand's own site on a white-label host. */
  homeUrl?: string | null;
}

/**
 * White-label (the branding module): the base theme of a request, under what
 * an `oauth.theme` plugin adds, and the hosts Plaza is the OAuth issuer on
 * besides its own (verified agency domains: discovery there names that host).
 */
export interface WhiteLabel {
  theme: ThemeResolver;
  /** Whether `hostname` (no port) is a verified agency domain now; called per request, keep it cheap. */
  isIssuerHost(hostname: string): boolean;
}

export interface ThemeRequest {
  /** The Host the person reached Plaza at (a white-label domain maps to its agency). */
  host: string;
  /** The account being installed into, once chosen. */
  accountId: string | null;
}

export type ThemeResolver = (
  req: ThemeRequest,
) => Partial<Theme> | undefined | Promise<Partial<Theme> | undefined>;

export const DEFAULT_THEME: Theme = {
  brandName: 'Plaza',
  brandColor: '#2f5bd3',
  brandTextColor: '#ffffff',
  logoUrl: null,
};

const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
const LOGO = /^(https:\/\/|\/)[^\s"'()<>\\]+$/;
const FONT = /^[A-Za-z0-9 ,"-]{1,200}$/;
const hex = (v: string | undefined) => (v && HEX.test(v) ? v : undefined);
const url = (v: string | null | undefined) =>
  v && (v === '/' || LOGO.test(v)) && !v.startsWith('//') ? v : null;

/** A theme with every value checked: colours go into CSS, so only hex colours pass. */
export function safeTheme(over: Partial<Theme> | undefined): Theme {
  return {
    brandName: (over?.brandName?.trim() || DEFAULT_THEME.brandName).slice(0, 80),
    brandColor: over?.brandColor && HEX.test(over.brandColor) ? over.brandColor : DEFAULT_THEME.brandColor,
    brandTextColor:
      over?.brandTextColor && HEX.test(over.brandTextColor)
        ? over.brandTextColor
        : DEFAULT_THEME.brandTextColor,
    logoUrl: url(over?.logoUrl),
    backgroundColor: hex(over?.backgroundColor),
    textColor: hex(over?.textColor),
    fontFamily: over?.fontFamily && FONT.test(over.fontFamily) ? over.fontFamily : undefined,
    faviconUrl: url(over?.faviconUrl),
    homeUrl: url(over?.homeUrl),
  };
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../templates/oauth');

export type Page = 'login' | 'choose-account' | 'consent' | 'error';

export function createViews(templatesDir = root) {
  const hbs = Handlebars.create();
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  let layout: HandlebarsTemplateDelegate | undefined;
  const pages = new Map<Page, HandlebarsTemplateDelegate>();
  const load = (name: string) =>
    hbs.compile(readFileSync(path.join(templatesDir, `${name}.hbs`), 'utf8'), { strict: false });

  return {
    /** Renders a page into ctx with the headers every OAuth page carries. */
    render(
      ctx: Context,
      page: Page,
      data: Record<string, unknown> & { theme: Theme; title: string },
      status = 200,
    ) {
      layout ??= load('layout');
      let tpl = pages.get(page);
      if (!tpl) {
        tpl = load(page);
        pages.set(page, tpl);
      }
      // Messages written with the platform's name read the brand's on a white-label page.
      const brand = data.theme.brandName;
      const rename = (v: unknown) =>
        typeof v === 'string' && brand !== DEFAULT_THEME.brandName ? v.replace(/\bPlaza\b/g, brand) : v;
      data = {
        ...data,
        heading: rename(data.heading),
        message: rename(data.message),
        emptyReason: rename(data.emptyReason),
        homeUrl: data.theme.homeUrl ?? data.homeUrl,
      };
      const content = tpl(data);
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = layout({ ...data, content });
    },
  };
}

export type Views = ReturnType<typeof createViews>;
