import Handlebars from 'handlebars';
import { z } from '../../server/plugin-api/index.ts';

/**
 * A vertical pack: a versioned, declarative starting setup for one kind of
 * business (a dental clinic, a gym). Shipped packs live in `verticals/*.json|yaml`;
 * operators and agencies upload more, and an agency can capture a sub-account
 * as one. Everything is data: applying a pack only adds what it lists.
 *
 * An item a newer version drops is marked `removed: true` (instead of being
 * left out), so an upgrade removes it where the account did not change it;
 * an item left out is simply no longer offered and stays where it was applied.
 */
const KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const SLUG = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const HEX = /^#[0-9a-fA-F]{6}$/;

const Key = z.string().regex(KEY, { message: 'keys are 1-64 letters, digits or _, starting with a letter' });
const Text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(max, { message: `at most ${max} characters` });
const Removed = z
  .boolean()
  .optional()
  .describe('Marks an item this version removes: an upgrade deletes it where the account left it unchanged');

export const FIELD_TYPES = ['text', 'number', 'boolean', 'date', 'select'] as const;

const Field = z
  .object({
    key: Key,
    label: Text(80),
    type: z.enum(FIELD_TYPES),
    options: z.array(Text(100)).max(50).optional(),
    removed: Removed,
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.type === 'select' && !f.options?.length)
      ctx.addIssue({
        code: 'custom',
        path: ['options'],
        message: 'a select field needs at least one option',
      });
    if (f.type !== 'select' && f.options?.length)
      ctx.addIssue({ code: 'custom', path: ['options'], message: `a ${f.type} field takes no options` });
  });

const TagName = z
  .string()
  .trim()
  .min(1, { message: 'must not be empty' })
  .max(40, { message: 'at most 40 characters' })
  .regex(/^[^,\p{Cc}]+$/u, { message: 'no commas or control characters' })
  .transform((v) => v.toLowerCase());
const TagItem = z.union([
  TagName.transform((name) => ({ name, removed: undefined as boolean | undefined })),
  z.object({ name: TagName, removed: Removed }).strict(),
]);

const Stage = z.object({ key: Key, name: Text(60), removed: Removed }).strict();
const Pipeline = z
  .object({ key: Key, name: Text(60), stages: z.array(Stage).min(1).max(20), removed: Removed })
  .strict();

/** A Handlebars template that compiles; the reason names Handlebars' complaint. */
const Template = (max: number) =>
  Text(max).superRefine((src, ctx) => {
    try {
      Handlebars.precompile(src, { strict: false });
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `not a valid Handlebars template: ${(err as Error).message.split('\n')[0]}`,
      });
    }
  });

const EmailTemplate = z
  .object({
    key: Key,
    name: Text(80),
    subject: Template(200),
    body: Template(20_000),
    removed: Removed,
  })
  .strict();

const ChecklistItem = z
  .object({ key: Key, title: Text(120), description: z.string().max(1000).optional(), removed: Removed })
  .strict();

const App = z
  .object({
    slug: z.string().regex(SLUG, { message: 'a marketplace slug: lowercase letters, digits and dashes' }),
    why: Text(300).describe('Why this app suits the vertical (shown in the preview)'),
    scopes: z
      .array(z.string().max(100))
      .max(50)
      .optional()
      .describe('Optional scopes to grant when installing (required ones are always granted)'),
  })
  .strict();

const Theme = z
  .object({
    brandColor: z.string().regex(HEX, { message: 'a colour like #1a73e8' }).optional(),
    brandTextColor: z.string().regex(HEX, { message: 'a colour like #ffffff' }).optional(),
    accentColor: z.string().regex(HEX, { message: 'a colour like #ff7043' }).optional(),
    font: z.string().max(60).optional(),
  })
  .strict();

const SampleValue = z.union([z.string().max(2000), z.number().finite(), z.boolean()]);
const SampleContact = z
  .object({
    key: Key,
    name: Text(200),
    email: z.email({ message: 'must be an email address' }).optional(),
    phone: z.string().max(40).optional(),
    tags: z.array(TagName).max(20).optional(),
    customFields: z.record(Key, SampleValue).optional(),
  })
  .strict();

export const VerticalPack = z
  .object({
    slug: z
      .string()
      .max(40, { message: 'at most 40 characters' })
      .regex(SLUG, { message: 'lowercase letters and digits, words joined by single dashes' }),
    version: z.string().regex(SEMVER, { message: 'a semantic version like 1.2.0' }),
    name: Text(80),
    description: Text(500),
    /** One emoji or short mark for the gallery card. */
    icon: z.string().max(8).optional(),
    color: z.string().regex(HEX, { message: 'a colour like #1a73e8' }).optional(),
    fields: z.array(Field).max(50).default([]),
    tags: z.array(TagItem).max(100).default([]),
    pipelines: z.array(Pipeline).max(10).default([]),
    apps: z.array(App).max(20).default([]),
    theme: Theme.optional(),
    sampleContacts: z.array(SampleContact).max(50).default([]),
    emailTemplates: z.array(EmailTemplate).max(30).default([]),
    checklist: z.array(ChecklistItem).max(50).default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    const unique = (section: string, keys: string[]) => {
      const seen = new Set<string>();
      keys.forEach((k, i) => {
        if (seen.has(k))
          ctx.addIssue({ code: 'custom', path: [section, i], message: `"${k}" is listed twice` });
        seen.add(k);
      });
    };
    unique(
      'fields',
      p.fields.map((f) => f.key),
    );
    unique(
      'tags',
      p.tags.map((t) => t.name),
    );
    unique(
      'pipelines',
      p.pipelines.map((x) => x.key),
    );
    unique(
      'apps',
      p.apps.map((a) => a.slug),
    );
    unique(
      'sampleContacts',
      p.sampleContacts.map((c) => c.key),
    );
    unique(
      'emailTemplates',
      p.emailTemplates.map((t) => t.key),
    );
    unique(
      'checklist',
      p.checklist.map((c) => c.key),
    );
    p.pipelines.forEach((pl, i) => {
      const seen = new Set<string>();
      pl.stages.forEach((s, j) => {
        if (seen.has(s.key))
          ctx.addIssue({
            code: 'custom',
            path: ['pipelines', i, 'stages', j],
            message: `"${s.key}" is listed twice`,
          });
        seen.add(s.key);
      });
    });
    // Sample contacts use the pack's own fields, with values of their types.
    const fields = new Map(p.fields.filter((f) => !f.removed).map((f) => [f.key, f]));
    p.sampleContacts.forEach((c, i) => {
      for (const [key, value] of Object.entries(c.customFields ?? {})) {
        const path = ['sampleContacts', i, 'customFields', key];
        const field = fields.get(key);
        if (!field) {
          ctx.addIssue({ code: 'custom', path, message: `no field "${key}" in this pack's fields` });
          continue;
        }
        const problem = valueProblem(field, value);
        if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
      }
    });
  });

export type VerticalPack = z.output<typeof VerticalPack>;
export type PackField = VerticalPack['fields'][number];

const DATE = /^\d{4}-\d{2}-\d{2}$/;
export function valueProblem(field: Pick<PackField, 'type' | 'options'>, value: unknown): string | undefined {
  switch (field.type) {
    case 'text':
      return typeof value === 'string' ? undefined : 'a text field takes a string';
    case 'number':
      return typeof value === 'number' ? undefined : 'a number field takes a number';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'a yes/no field takes true or false';
    case 'date':
      return typeof value === 'string' && DATE.test(value) ? undefined : 'a date field takes YYYY-MM-DD';
    case 'select':
      return typeof value === 'string' && field.options?.includes(value)
        ? undefined
        : `one of: ${field.options?.join(', ')}`;
  }
}

/** -1, 0 or 1: semantic versions compared part by part. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  return 0;
}
