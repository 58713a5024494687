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

/** A theme with every value checked: colours go into CSS, so only hex colours pass. */
export function safeTheme(over: Partial<Theme> | undefined): Theme {
  return {
    brandName: (over?.brandName?.trim() || DEFAULT_THEME.brandName).slice(0, 80),
    brandColor: over?.brandColor && HEX.test(over.brandColor) ? over.brandColor : DEFAULT_THEME.brandColor,
    brandTextColor:
      over?.brandTextColor && HEX.test(over.brandTextColor)
        ? over.brandTextColor
        : DEFAULT_THEME.brandTextColor,
    logoUrl: over?.logoUrl && LOGO.test(over.logoUrl) ? over.logoUrl : null,
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
      const content = tpl(data);
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = layout({ ...data, content });
    },
  };
}

export type Views = ReturnType<typeof createViews>;
