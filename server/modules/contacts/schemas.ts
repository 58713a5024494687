import { z } from 'zod';
import { Pagination, Timestamp } from '../../http/route.ts';

/**
 * The contact schemas shared by the people routes (`/v1/organizations/:orgId/contacts`),
 * the app routes (`/v1/contacts`), the events and the OpenAPI document.
 */
export const LIMITS = {
  nameChars: 200,
  tags: 20,
  tagChars: 40,
  customFieldKeys: 50,
  customFieldValueChars: 2000,
  /** JSON size of all custom fields of one contact. */
  customFieldBytes: 16 * 1024,
  searchChars: 200,
} as const;

/** A phone number as people type it: `+1 (555) 123-4567`, `+44 20 7946 0958`. */
const PHONE_SEPARATORS = /[\s().\-/]/g;
const E164 = /^\+[1-9]\d{6,14}$/;

/** `+1 (555) 123-4567` -> `+15551234567`; undefined when it is not an international number. */
export function normalizePhone(input: string): string | undefined {
  let s = input.trim().replace(PHONE_SEPARATORS, '');
  if (s.startsWith('00')) s = `+${s.slice(2)}`;
  return E164.test(s) ? s : undefined;
}

const Name = z
  .string()
  .trim()
  .max(LIMITS.nameChars, { message: `at most ${LIMITS.nameChars} characters` });

/** Null or empty clears it. Stored lowercase (one contact per address in an account). */
const ContactEmail = z
  .string()
  .trim()
  .max(320, { message: 'at most 320 characters' })
  .transform((v) => v.toLowerCase())
  .pipe(z.union([z.literal(''), z.email({ message: 'must be an email address like ann@example.com' })]))
  .nullable()
  .transform((v) => (v ? v : null));

const ContactPhone = z
  .string()
  .max(40, { message: 'at most 40 characters' })
  .nullable()
  .transform((v, ctx) => {
    if (v === null || v.trim() === '') return null;
    const normalized = normalizePhone(v);
    if (!normalized) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an international number: + then the country code and number, like +15551234567',
      });
      return z.NEVER;
    }
    return normalized;
  });

export const Tag = z
  .string()
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(LIMITS.tagChars, { message: `at most ${LIMITS.tagChars} characters` })
  .regex(/^[^,\p{Cc}]+$/u, { message: 'no commas or control characters' })
  .transform((v) => v.toLowerCase());

const Tags = z
  .array(Tag)
  .max(LIMITS.tags, { message: `at most ${LIMITS.tags} tags` })
  .transform((tags) => [...new Set(tags)]);

export const CUSTOM_FIELD_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const CustomFieldKey = z.string().regex(CUSTOM_FIELD_KEY, {
  message: 'keys are 1-64 letters, digits or _, starting with a letter',
});
export const CustomFieldValue = z.union([
  z.string().max(LIMITS.customFieldValueChars, {
    message: `at most ${LIMITS.customFieldValueChars} characters`,
  }),
  z.number().finite(),
  z.boolean(),
]);
const CustomFields = z
  .record(CustomFieldKey, CustomFieldValue)
  .describe(
    `Flat map of your own fields: string, number or boolean values; at most ${LIMITS.customFieldKeys} keys and ${LIMITS.customFieldBytes} bytes of JSON`,
  );

export const ContactCreate = z
  .object({
    name: Name.optional(),
    email: ContactEmail.optional(),
    phone: ContactPhone.optional(),
    tags: Tags.optional(),
    customFields: CustomFields.optional(),
  })
  .strict()
  .meta({ id: 'ContactCreate' });

export const ContactPatch = z
  .object({
    name: Name.optional(),
    email: ContactEmail.optional(),
    phone: ContactPhone.optional(),
    tags: Tags.optional().describe('Replaces the tags'),
    customFields: z
      .record(CustomFieldKey, CustomFieldValue.nullable())
      .optional()
      .describe('Merged into the custom fields; a key set to null is removed'),
  })
  .strict()
  .meta({ id: 'ContactPatch' });

export type ContactCreateInput = z.output<typeof ContactCreate>;
export type ContactPatchInput = z.output<typeof ContactPatch>;

export const ChangedBy = z
  .union([
    z.object({ type: z.literal('user'), userId: z.string(), name: z.string().nullable() }),
    z.object({
      type: z.literal('app'),
      appId: z.string(),
      installationId: z.string(),
      name: z.string().nullable(),
    }),
    z.object({ type: z.literal('system') }),
  ])
  .describe('Who made the change: a person, an app (installation), or Plaza itself')
  .meta({ id: 'ContactChangedBy' });

export const ContactSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    name: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable().describe('E.164: +15551234567'),
    tags: z.array(z.string()),
    customFields: z.record(z.string(), CustomFieldValue),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    createdBy: ChangedBy,
    updatedBy: ChangedBy,
    sample: z
      .boolean()
      .describe('Example data a template added (vertical templates); removed with its sample data'),
  })
  .meta({ id: 'Contact' });

export const ContactSort = z.enum(['created', 'name', 'updated']);

export const ContactListQuery = Pagination.extend({
  q: z
    .string()
    .trim()
    .max(LIMITS.searchChars, { message: `at most ${LIMITS.searchChars} characters` })
    .optional()
    .describe('Text to find in the name, email or phone (any part of them, case-insensitive)'),
  tags: z
    .string()
    .max(LIMITS.tags * (LIMITS.tagChars + 1), { message: 'too long' })
    .optional()
    .describe('Comma-separated tags; a contact must have all of them')
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const out: string[] = [];
      for (const raw of v.split(',')) {
        if (!raw.trim()) continue;
        const parsed = Tag.safeParse(raw);
        if (!parsed.success) {
          ctx.addIssue({ code: 'custom', message: `"${raw.trim()}": ${parsed.error.issues[0].message}` });
          return z.NEVER;
        }
        out.push(parsed.data);
      }
      return out.length ? [...new Set(out)] : undefined;
    }),
  sort: ContactSort.default('created').describe(
    'created: newest first (default); name: A to Z; updated: most recently changed first',
  ),
});
export type ContactListInput = z.output<typeof ContactListQuery>;

export const ContactParams = z.object({ contactId: z.string().max(64) });

// Custom field definitions ------------------------------------------------------

export const CONTACT_FIELD_TYPES = ['text', 'number', 'boolean', 'date', 'select'] as const;
export const ContactFieldType = z
  .enum(CONTACT_FIELD_TYPES)
  .describe('text: a string; number; boolean; date: YYYY-MM-DD; select: one of `options`');

const FieldLabel = z
  .string()
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(80, { message: 'at most 80 characters' });
const FieldOptions = z
  .array(
    z
      .string()
      .trim()
      .min(1, { message: 'must not be empty' })
      .max(100, { message: 'at most 100 characters' }),
  )
  .max(50, { message: 'at most 50 options' })
  .refine((o) => new Set(o).size === o.length, { message: 'options must be distinct' });

/** A select field needs options; other types take none. */
function checkOptions(def: { type?: string; options?: string[] }, ctx: z.core.$RefinementCtx) {
  if (def.type === 'select' && !def.options?.length)
    ctx.addIssue({ code: 'custom', path: ['options'], message: 'a select field needs at least one option' });
  if (def.type && def.type !== 'select' && def.options?.length)
    ctx.addIssue({ code: 'custom', path: ['options'], message: `a ${def.type} field takes no options` });
}

export const ContactFieldCreate = z
  .object({
    key: z.string().regex(CUSTOM_FIELD_KEY, {
      message: 'keys are 1-64 letters, digits or _, starting with a letter',
    }),
    label: FieldLabel,
    type: ContactFieldType,
    options: FieldOptions.optional(),
  })
  .strict()
  .superRefine(checkOptions)
  .meta({ id: 'ContactFieldCreate' });

export const ContactFieldPatch = z
  .object({ label: FieldLabel.optional(), options: FieldOptions.optional() })
  .strict()
  .describe('The type of a field cannot change (contacts already hold values of it)')
  .meta({ id: 'ContactFieldPatch' });

export const ContactFieldSchema = z
  .object({
    key: z.string(),
    label: z.string(),
    type: ContactFieldType,
    options: z.array(z.string()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'ContactField' });

export const ContactTagSchema = z
  .object({
    name: z.string(),
    contacts: z.number().int().describe('How many contacts carry it'),
  })
  .meta({ id: 'ContactTag' });

export type ContactFieldInput = z.output<typeof ContactFieldCreate>;
export type ContactFieldPatchInput = z.output<typeof ContactFieldPatch>;
export type ContactField = z.output<typeof ContactFieldSchema>;
export const ContactFieldParams = z.object({ fieldKey: z.string().max(64) });
