import { z } from 'zod';
import { Timestamp } from '../../http/route.ts';
import { ContactFieldCreate } from '../contacts/index.ts';
import { Pricing } from '../marketplace/index.ts';

const Hex = z.string().regex(/^#[0-9a-fA-F]{6}$/, { message: 'must be a hex colour like #1a2b3c' });

/** The look a template gives its sub-accounts: values only (never CSS or HTML). */
export const TemplateTheme = z
  .object({
    brandName: z
      .string()
      .trim()
      .min(1)
      .max(60)
      .regex(/^[^<>{}]*$/, { message: 'must not contain < > { or }' })
      .optional(),
    colours: z
      .object({ primary: Hex, accent: Hex, background: Hex, text: Hex })
      .partial()
      .strict()
      .optional(),
    font: z.enum(['system', 'inter', 'roboto', 'source-sans', 'merriweather']).optional(),
  })
  .strict()
  .meta({ id: 'TemplateTheme' });

export const TemplateSpec = z
  .object({
    theme: TemplateTheme.nullable()
      .default(null)
      .describe('The default theme of the sub-account (values only)'),
    apps: z
      .array(
        z
          .object({
            appId: z.string().max(64),
            scopes: z
              .array(z.string().max(100))
              .max(50)
              .default([])
              .describe('Optional scopes to grant; required ones always are'),
          })
          .strict(),
      )
      .max(20)
      .default([])
      .refine((a) => new Set(a.map((x) => x.appId)).size === a.length, { message: 'an app is listed twice' }),
    contactFields: z
      .array(ContactFieldCreate)
      .max(50)
      .default([])
      .refine((a) => new Set(a.map((x) => x.key)).size === a.length, {
        message: 'a field key is listed twice',
      }),
    members: z
      .array(z.object({ email: z.email().max(254), role: z.enum(['admin', 'member']) }).strict())
      .max(50)
      .default([])
      .refine((a) => new Set(a.map((x) => x.email.toLowerCase())).size === a.length, {
        message: 'an email is listed twice',
      }),
  })
  .strict()
  .meta({ id: 'TemplateSpec' });
export type TemplateSpec = z.output<typeof TemplateSpec>;

export const TemplateInput = z
  .object({ name: z.string().trim().min(1).max(80) })
  .extend(TemplateSpec.shape)
  .strict()
  .meta({ id: 'TemplateInput' });

export const TemplateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    revision: z.number().int().describe('Grows with every change of the template'),
    spec: TemplateSpec,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'SubAccountTemplate' });

export const ApplyChange = z.object({
  item: z.enum(['theme', 'app', 'contactField', 'member']),
  key: z.string().describe('The app id, field key or email (theme: "theme")'),
  action: z
    .enum(['created', 'updated', 'unchanged', 'skipped', 'failed'])
    .describe(
      'skipped: left as it is (the detail says why); failed: could not be done now (e.g. a paid app not paid for)',
    ),
  detail: z.string().nullable(),
});

export const ApplyReport = z
  .object({
    templateId: z.string(),
    revision: z.number().int(),
    subAccount: z.object({ id: z.string(), name: z.string() }),
    created: z.boolean().describe('The sub-account was made by this request'),
    changed: z.number().int().describe('How many items this apply created or updated (0: nothing changed)'),
    changes: z.array(ApplyChange),
  })
  .meta({ id: 'TemplateApplyReport' });

export const TemplateApplication = z.object({
  subAccountId: z.string(),
  subAccountName: z.string(),
  revision: z.number().int(),
  outdated: z.boolean().describe('The template changed since it was applied here'),
  appliedAt: Timestamp,
  changes: z.array(ApplyChange),
});

export const Markup = z
  .object({
    type: z.enum(['percent', 'fixed']),
    value: z
      .number()
      .int({ message: 'must be a whole number' })
      .min(0, { message: 'must be 0 or more (a price never goes below the developer’s)' })
      .describe('percent: basis points (1500 = 15%); fixed: minor units added to the developer’s price'),
  })
  .strict()
  .meta({ id: 'ResaleMarkup' });

export const ResalePrice = z
  .object({
    appId: z.string(),
    appName: z.string(),
    markup: Markup,
    developerPricing: Pricing.describe(
      'What the developer asks: the agency’s cost (never shown to sub-accounts)',
    ),
    resalePricing: Pricing.describe('What the agency’s sub-accounts pay'),
    updatedAt: Timestamp,
  })
  .meta({ id: 'ResalePrice' });

export const PriceChange = z
  .object({
    id: z.string(),
    appId: z.string(),
    appName: z.string(),
    before: Markup.nullable(),
    after: Markup.nullable(),
    rollbackOf: z.string().nullable().describe('The change this one rolled back'),
    actorUserId: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'ResalePriceChange' });

export const Catalog = z
  .object({
    mode: z.enum(['all', 'allow', 'block']).describe('all apps; only appIds; all but appIds'),
    appIds: z.array(z.string().max(64)).max(500),
  })
  .meta({ id: 'AgencyCatalog' });
