import { z } from '../../server/plugin-api/index.ts';
import { FIELD_TYPES } from './schema.ts';

/** Response shapes of the verticals routes (OpenAPI ids start with Vertical). */
const removed = { removed: z.boolean().optional() };

export const PackDocument = z
  .object({
    slug: z.string(),
    version: z.string(),
    name: z.string(),
    description: z.string(),
    icon: z.string().optional(),
    color: z.string().optional(),
    fields: z.array(
      z.object({
        key: z.string(),
        label: z.string(),
        type: z.enum(FIELD_TYPES),
        options: z.array(z.string()).optional(),
        ...removed,
      }),
    ),
    tags: z.array(z.object({ name: z.string(), ...removed })),
    pipelines: z.array(
      z.object({
        key: z.string(),
        name: z.string(),
        stages: z.array(z.object({ key: z.string(), name: z.string(), ...removed })),
        ...removed,
      }),
    ),
    apps: z.array(z.object({ slug: z.string(), why: z.string(), scopes: z.array(z.string()).optional() })),
    theme: z.record(z.string(), z.string()).optional(),
    sampleContacts: z.array(
      z.object({
        key: z.string(),
        name: z.string(),
        email: z.string().optional(),
        phone: z.string().optional(),
        tags: z.array(z.string()).optional(),
        customFields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
      }),
    ),
    emailTemplates: z.array(
      z.object({ key: z.string(), name: z.string(), subject: z.string(), body: z.string(), ...removed }),
    ),
    checklist: z.array(
      z.object({ key: z.string(), title: z.string(), description: z.string().optional(), ...removed }),
    ),
  })
  .meta({ id: 'VerticalPack' });

export const Source = z
  .enum(['builtin', 'operator', 'agency', 'account', 'developer'])
  .describe(
    'builtin: shipped with Plaza; operator: uploaded by the operator; agency/account: your own or your agency’s',
  );

export const CatalogSummary = z
  .object({
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    icon: z.string().nullable(),
    color: z.string().nullable(),
    version: z.string().describe('The newest version this organization may apply'),
    versions: z.array(z.string()),
    source: Source,
    appliedVersion: z.string().nullable().describe('The version applied to this account, if any'),
    counts: z.object({
      fields: z.number().int(),
      tags: z.number().int(),
      pipelines: z.number().int(),
      apps: z.number().int(),
      sampleContacts: z.number().int(),
      emailTemplates: z.number().int(),
      checklist: z.number().int(),
    }),
    preview: z.object({
      fields: z.array(z.object({ label: z.string(), type: z.string() })),
      pipelines: z.array(z.object({ name: z.string(), stages: z.array(z.string()) })),
      apps: z.array(z.object({ slug: z.string(), why: z.string() })),
      checklist: z.array(z.string()),
    }),
  })
  .meta({ id: 'VerticalSummary' });

export const PlanItemSchema = z.object({
  kind: z.enum([
    'field',
    'tag',
    'pipeline',
    'stage',
    'emailTemplate',
    'checklist',
    'sampleContact',
    'app',
    'theme',
  ]),
  key: z.string(),
  label: z.string(),
  action: z
    .enum(['add', 'exists', 'conflict', 'update', 'remove', 'skip', 'recommend'])
    .describe(
      'add: will be added; exists: already there; conflict: differs (kept unless forced); update/remove: forced or removed by the new version; skip: cannot be done here; recommend: an app to install yourself',
    ),
  reason: z.string().nullable(),
});

const Counts = z.object({
  add: z.number().int(),
  exists: z.number().int(),
  conflict: z.number().int(),
  update: z.number().int(),
  remove: z.number().int(),
  skip: z.number().int(),
  recommend: z.number().int(),
});

export const PlanSchema = z
  .object({
    vertical: z.object({ slug: z.string(), name: z.string(), version: z.string(), source: Source }),
    fromVersion: z.string().nullable().describe('The version applied before (null: first apply)'),
    upgrade: z.boolean(),
    items: z.array(PlanItemSchema),
    summary: Counts,
  })
  .meta({ id: 'VerticalPlan' });

export const ApplyResult = PlanSchema.extend({
  changed: z
    .boolean()
    .describe('False when the account already had everything (applying again changes nothing)'),
  apps: z
    .array(z.object({ slug: z.string(), status: z.string(), detail: z.string().nullable() }))
    .describe('Apps installed through the agency bulk install after the rest committed'),
}).meta({ id: 'VerticalApplyResult' });

export const AppliedVertical = z
  .object({
    vertical: z.string(),
    name: z.string(),
    version: z.string(),
    latestVersion: z.string(),
    upgradeAvailable: z.boolean(),
    appliedAt: z.string(),
    firstAppliedAt: z.string(),
    sampleContacts: z.number().int(),
    samplesRemoved: z.boolean(),
  })
  .meta({ id: 'VerticalApplied' });

export const SavedPack = z
  .object({
    id: z.string(),
    slug: z.string(),
    version: z.string(),
    name: z.string(),
    source: z.enum(['upload', 'capture']),
    shared: z.boolean(),
    createdAt: z.string(),
  })
  .meta({ id: 'VerticalSavedPack' });

export const PipelineSchema = z
  .object({
    key: z.string(),
    name: z.string(),
    stages: z.array(z.object({ key: z.string(), name: z.string() })),
  })
  .meta({ id: 'VerticalPipeline' });

export const EmailTemplateSchema = z
  .object({ key: z.string(), name: z.string(), subject: z.string(), body: z.string() })
  .meta({ id: 'VerticalEmailTemplate' });

export const ChecklistItemSchema = z
  .object({
    key: z.string(),
    title: z.string(),
    description: z.string(),
    done: z.boolean(),
    doneAt: z.string().nullable(),
  })
  .meta({ id: 'VerticalChecklistItem' });
