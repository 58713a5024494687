import { z } from 'zod';
import { Timestamp } from '../../http/route.ts';
import { SCOPE_NAME } from '../../scopes.ts';
import { Category, Pricing } from '../marketplace/index.ts';
import { VERSION_STATES } from './transitions.ts';

/**
 * The shapes of an app version, shared by the API (validation + OpenAPI), the
 * manifest import/export, the review diff and the marketplace listing, and
 * the API shapes of apps and versions other modules answer with (review).
 */
export const ScopeRequest = z
  .object({
    name: z.string().regex(SCOPE_NAME, { message: 'must be resource:action' }),
    justification: z
      .string()
      .trim()
      .max(500)
      .default('')
      .describe('Why the app needs it (reviewers read this)'),
    optional: z.boolean().default(false).describe('Shown as a checkbox on the consent screen'),
  })
  .meta({ id: 'ScopeRequest' });

// http(s) only: these become links on the marketplace page (the review checks then require https).
const Url = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2000);

/** Listing text: what the marketplace shows. Reviewed like the rest of the version. */
export const ListingFields = z.object({
  name: z.string().trim().min(2).max(60),
  tagline: z.string().trim().max(120).default(''),
  description: z.string().max(20_000).default('').describe('Markdown; raw HTML is not rendered'),
  category: Category.default('other'),
  supportUrl: Url.nullable().default(null),
  privacyUrl: Url.nullable().default(null),
  termsUrl: Url.nullable().default(null),
});

/** Everything a developer edits on a draft version (all optional on PATCH). */
export const VersionFields = ListingFields.extend({
  redirectUris: z.array(z.string().max(2000)).max(20).default([]),
  installUrl: z
    .string()
    .trim()
    .max(2000)
    .nullable()
    .default(null)
    .describe(
      "The app's own page that starts installing it (it begins the OAuth flow). The marketplace's Install button sends people there with ?plaza_url=<this Plaza>. https, or http only for localhost; reviewed like redirect URIs",
    ),
  scopes: z.array(ScopeRequest).max(50).default([]),
  webhookEvents: z
    .array(
      z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, {
        message: 'must be an event type like contact.created',
      }),
    )
    .max(100)
    .default([]),
  pricing: Pricing.default({ type: 'free' }),
});
export type VersionFields = z.output<typeof VersionFields>;

/**
 * The declarative manifest: one JSON document per version, kept in the
 * developer's repository and imported back. Assets are referenced, not embedded.
 */
export const AppManifest = z
  .object({
    $schema: z.string().optional(),
    manifestVersion: z.literal(1),
    slug: z.string(),
    version: VersionFields,
    /** Uploaded assets of the same app, by id (upload through the API first). */
    assets: z
      .object({
        iconAssetId: z.string().max(64).nullable().default(null),
        screenshotAssetIds: z.array(z.string().max(64)).max(8).default([]),
      })
      .optional(),
  })
  .meta({ id: 'AppManifest' });
export type AppManifest = z.output<typeof AppManifest>;

export const SLUG = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;
/** Slugs that would collide with pages or mislead users. */
export const RESERVED_SLUGS = new Set([
  'admin',
  'api',
  'app',
  'apps',
  'docs',
  'help',
  'login',
  'logout',
  'marketplace',
  'new',
  'oauth',
  'plaza',
  'search',
  'settings',
  'signup',
  'support',
  'v1',
]);

// API shapes ---------------------------------------------------------------------

export const OrgParams = z.object({ orgId: z.string().max(64) });
export const AppParams = OrgParams.extend({ appId: z.string().max(64) });
export const VersionParams = AppParams.extend({ versionId: z.string().max(64) });

export const VersionState = z.enum(VERSION_STATES);
export const ReviewKind = z.enum(['full', 'fast_track']);

export const AssetSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['icon', 'screenshot']),
    url: z.string().describe('Public, stable URL of the image'),
    contentType: z.enum(['image/png', 'image/jpeg', 'image/webp']),
    bytes: z.number().int(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'AppAsset' });

export const VersionSummarySchema = z.object({
  id: z.string(),
  number: z.number().int(),
  state: VersionState,
});

export const AppVersionSchema = VersionFields.extend({
  id: z.string(),
  appId: z.string(),
  organizationId: z.string(),
  number: z.number().int(),
  state: VersionState,
  editable: z.boolean().describe('Draft or changes requested: the developer may change it'),
  descriptionHtml: z
    .string()
    .describe('The description rendered as the marketplace shows it (raw HTML is not rendered)'),
  icon: AssetSchema.nullable(),
  screenshots: z.array(AssetSchema),
  reviewKind: ReviewKind.nullable(),
  submittedAt: Timestamp.nullable(),
  decidedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
}).meta({ id: 'AppVersion' });

export const AppStatusSchema = z.enum(['active', 'suspended', 'unpublished']);

export const AdminAppSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    developer: z.object({ organizationId: z.string(), name: z.string() }),
    status: AppStatusSchema,
    statusReason: z.string().nullable().describe('Why it was suspended or unpublished'),
    statusChangedAt: Timestamp.nullable(),
    liveVersion: VersionSummarySchema.nullable(),
    openVersion: VersionSummarySchema.nullable().describe(
      'The version on its way (draft ... in review), if any',
    ),
    createdAt: Timestamp,
  })
  .meta({ id: 'AdminApp' });

export const AppSchema = z
  .object({
    id: z.string(),
    organizationId: z.string(),
    slug: z.string(),
    name: z.string(),
    clientId: z.string().describe('OAuth client id (cl_...)'),
    status: AppStatusSchema,
    statusReason: z.string().nullable(),
    statusChangedAt: Timestamp.nullable(),
    liveVersionId: z.string().nullable(),
    liveVersion: VersionSummarySchema.nullable(),
    openVersion: VersionSummarySchema.nullable().describe(
      'The version on its way (draft ... in review), if any',
    ),
    clientSecrets: z
      .array(
        z.object({
          id: z.string(),
          prefix: z.string(),
          createdAt: Timestamp,
          expiresAt: Timestamp.nullable().describe('Set once rotated: the end of its overlap window'),
        }),
      )
      .describe('Secrets that work now (the value itself is shown only once)'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'App' });

const ListingChange = z.object({
  field: z.enum(['name', 'tagline', 'description', 'category', 'supportUrl', 'privacyUrl', 'termsUrl']),
  before: z.string().nullable(),
  after: z.string().nullable(),
});
const ScopeOut = z.object({ name: z.string(), justification: z.string(), optional: z.boolean() });
export const VersionDiffSchema = z
  .object({
    version: VersionSummarySchema,
    against: VersionSummarySchema.nullable().describe('The live version compared with (null: first version)'),
    firstVersion: z.boolean(),
    scopes: z.object({
      added: z.array(ScopeOut),
      removed: z.array(ScopeOut),
      changed: z.array(
        z.object({
          name: z.string(),
          before: z.object({ justification: z.string(), optional: z.boolean() }),
          after: z.object({ justification: z.string(), optional: z.boolean() }),
        }),
      ),
    }),
    redirectUris: z.object({ added: z.array(z.string()), removed: z.array(z.string()) }),
    installUrl: z
      .object({ before: z.string().nullable(), after: z.string().nullable() })
      .nullable()
      .describe('The install link, when it changed (a change needs a full review)'),
    webhookEvents: z.object({ added: z.array(z.string()), removed: z.array(z.string()) }),
    pricing: z.object({ changed: z.boolean(), before: Pricing.nullable(), after: Pricing }),
    listing: z.array(ListingChange),
    assets: z.object({
      icon: z.object({ before: z.string().nullable(), after: z.string().nullable() }).nullable(),
      screenshots: z.object({ before: z.array(z.string()), after: z.array(z.string()) }).nullable(),
    }),
    unchanged: z.boolean(),
    reviewKind: ReviewKind,
    reviewReasons: z.array(z.string()).describe('Why a full review is needed'),
  })
  .meta({ id: 'VersionDiff' });
