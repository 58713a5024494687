import { z } from 'zod';
import { Timestamp } from '../../http/route.ts';

/**
 * Theme values end up in CSS custom properties, HTML text, email headers and
 * links, so each one is held to the narrowest shape that serves it: colours
 * are six-digit hex, fonts come from a list, URLs are https, text carries no
 * markup or control characters. Output is escaped as well; these rules make
 * a hostile value a 400 with its field instead of something to escape.
 */
export const FONTS = {
  system: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  humanist: '"Segoe UI", "Noto Sans", "Helvetica Neue", Arial, sans-serif',
  serif: 'Georgia, "Times New Roman", serif',
  rounded: '"Nunito", "Varela Round", system-ui, sans-serif',
  mono: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
} as const;
export type FontName = keyof typeof FONTS;
export const FontSchema = z.enum(Object.keys(FONTS) as [FontName, ...FontName[]]);

const HEX = /^#[0-9a-f]{6}$/i;
// No markup, no CSS/template punctuation, no control characters (header injection in emails).
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const PLAIN = /^[^<>{}\\`\u0000-\u001f\u007f]*$/;

const Colour = z.string().trim().regex(HEX, { message: 'must be a hex colour like #1a2b3c' }).toLowerCase();
const Plain = (max: number) =>
  z.string().trim().max(max).regex(PLAIN, {
    message: 'must be plain text (no <, >, {, }, backslash, backtick or control characters)',
  });
const HttpsUrl = z
  .string()
  .trim()
  .max(500)
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'https:' && !u.username && !u.password && !/["'<>\s\\]/.test(s);
      } catch {
        return false;
      }
    },
    { message: 'must be an https URL' },
  );
const MailAddress = z.email({ message: 'must be an email address' }).max(320).trim();

export const ThemeColours = z
  .object({
    primary: Colour.describe('Buttons and links; text on it is white or black, whichever reads better'),
    accent: Colour.describe('Highlights: the header rule, focus rings'),
    background: Colour.describe('Page background'),
    text: Colour.describe('Body text on the background'),
  })
  .meta({ id: 'ThemeColours' });

export const ThemeInput = z
  .object({
    brandName: Plain(60).min(1, { message: 'must not be empty' }),
    logoAssetId: z.string().max(64).nullable().default(null).describe('An uploaded logo, or null'),
    faviconAssetId: z.string().max(64).nullable().default(null).describe('An uploaded favicon, or null'),
    colours: ThemeColours,
    font: FontSchema.default('system'),
    emailSenderName: Plain(60)
      .refine((s) => !/["@]/.test(s), { message: 'must not contain " or @' })
      .nullable()
      .default(null)
      .describe(
        'The sender name of emails (the address stays the platform’s until a sending domain is verified)',
      ),
    replyTo: MailAddress.nullable().default(null),
    supportUrl: HttpsUrl.nullable().default(null),
    supportEmail: MailAddress.nullable().default(null),
    footerText: Plain(500).nullable().default(null),
  })
  .meta({ id: 'ThemeInput' });
export type ThemeInput = z.output<typeof ThemeInput>;

export const ThemeSchema = ThemeInput.extend({
  logoUrl: z.string().nullable(),
  faviconUrl: z.string().nullable(),
}).meta({ id: 'Theme' });

export const ThemeState = z
  .object({
    draft: ThemeSchema.nullable().describe('What is being edited (null: nothing saved yet)'),
    published: ThemeSchema.extend({ version: z.number().int(), publishedAt: Timestamp })
      .nullable()
      .describe('The live theme (null: none published, the platform brand shows)'),
  })
  .meta({ id: 'ThemeState' });

export const BrandAssetSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['logo', 'favicon']),
    contentType: z.string(),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    url: z.string(),
  })
  .meta({ id: 'BrandAsset' });

/** What a page or an email is rendered with: a published theme resolved for a host or an account. */
export const EffectiveThemeSchema = z
  .object({
    branded: z.boolean().describe('False: the platform’s own brand'),
    organizationId: z.string().nullable().describe('The agency whose theme this is'),
    version: z.number().int().nullable(),
    brandName: z.string(),
    logoUrl: z.string().nullable(),
    faviconUrl: z.string().nullable(),
    colours: ThemeColours.extend({ onPrimary: z.string() }),
    font: FontSchema,
    fontStack: z.string(),
    supportUrl: z.string().nullable(),
    supportEmail: z.string().nullable(),
    footerText: z.string().nullable(),
    emailSenderName: z.string().nullable(),
    replyTo: z.string().nullable(),
    baseUrl: z.string().describe('Where this brand is served: the agency’s active domain, or the platform'),
  })
  .meta({ id: 'EffectiveTheme' });
export type EffectiveTheme = z.output<typeof EffectiveThemeSchema>;

export const DomainState = z.enum(['pending_dns', 'verifying', 'active', 'misconfigured', 'removed']);

export const DomainSchema = z
  .object({
    id: z.string(),
    hostname: z.string(),
    state: DomainState,
    records: z
      .array(z.object({ type: z.enum(['TXT', 'CNAME']), name: z.string(), value: z.string() }))
      .describe('The DNS records to create'),
    lastCheckedAt: Timestamp.nullable(),
    lastResult: z
      .object({ ok: z.boolean(), txt: z.string(), cname: z.string() })
      .nullable()
      .describe('What the last check found, in words'),
    nextCheckAt: Timestamp.nullable(),
    failures: z.number().int(),
    verifiedAt: Timestamp.nullable(),
    removedAt: Timestamp.nullable(),
    removedReason: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'CustomDomain' });
export type Domain = z.output<typeof DomainSchema>;

/** A hostname an agency may claim: lowercase DNS labels, at least two, no IP addresses, no port. */
export const Hostname = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/, {
    message: 'must be a domain name like app.example.com',
  });

// WCAG 2.x relative luminance and contrast ratio.
function luminance(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  const c = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
/** White or black, whichever reads better on `bg`. */
export const onColour = (bg: string) =>
  contrast(bg, '#ffffff') >= contrast(bg, '#000000') ? '#ffffff' : '#000000';

/** WCAG AA: 4.5:1 for text (body text and links), 3:1 for interface parts (the accent). */
export function contrastProblems(c: ThemeInput['colours']): Array<{ field: string; reason: string }> {
  const out: Array<{ field: string; reason: string }> = [];
  const need = (field: string, fg: string, bg: string, min: number, what: string) => {
    const ratio = contrast(fg, bg);
    if (ratio < min)
      out.push({
        field: `body.colours.${field}`,
        reason: `${what}: contrast ${ratio.toFixed(2)}:1, WCAG AA needs at least ${min}:1`,
      });
  };
  need('text', c.text, c.background, 4.5, `text ${c.text} on background ${c.background}`);
  need('primary', c.primary, c.background, 4.5, `links in ${c.primary} on background ${c.background}`);
  need(
    'primary',
    onColour(c.primary),
    c.primary,
    4.5,
    `button text on ${c.primary} (neither white nor black reads)`,
  );
  need('accent', c.accent, c.background, 3, `accent ${c.accent} on background ${c.background}`);
  return out;
}

export const SendingDomainSchema = z
  .object({
    id: z.string(),
    domain: z.string(),
    state: z.enum(['pending', 'verified', 'removed']),
    records: z
      .array(
        z.object({
          type: z.literal('TXT'),
          name: z.string(),
          value: z.string(),
          purpose: z.enum(['SPF', 'DKIM', 'DMARC']),
        }),
      )
      .describe('The DNS records to create'),
    lastCheckedAt: Timestamp.nullable(),
    lastResult: z
      .object({ ok: z.boolean(), spf: z.string(), dkim: z.string(), dmarc: z.string() })
      .nullable(),
    verifiedAt: Timestamp.nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'SendingDomain' });
export type SendingDomain = z.output<typeof SendingDomainSchema>;
