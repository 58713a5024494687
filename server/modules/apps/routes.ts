import { z } from 'zod';
import { PlazaError } from '../../errors.ts';
import { readRawBody } from '../../http/body.ts';
import { type Access, defineRoute, Pagination, page, RoleSchema, Timestamp } from '../../http/route.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import { type OrganizationsService, OrganizationWithRole } from '../organizations/index.ts';
import { IMAGE_TYPES } from './images.ts';
import {
  AdminAppSchema,
  AppManifest,
  AppParams,
  AppSchema,
  AppStatusSchema,
  AppVersionSchema,
  ListingFields,
  OrgParams,
  VersionDiffSchema,
  VersionFields,
  VersionParams,
} from './schemas.ts';
import { type AppsService, ASSET_LIMITS } from './service.ts';

const DEVELOPER: Access = { kind: 'org', orgKinds: ['developer'] };
const DEVELOPER_ADMIN: Access = { kind: 'org', orgKinds: ['developer'], minRole: 'admin' };

/** PATCH body: every field optional, no defaults (absent means unchanged), plus asset references. */
const VersionPatch = z
  .object({
    ...Object.fromEntries(
      Object.entries(VersionFields.shape).map(([k, v]) => [
        k,
        v instanceof z.ZodDefault ? (v.removeDefault() as z.ZodType) : (v as z.ZodType),
      ]),
    ),
    iconAssetId: z.string().max(64).nullable().describe('An icon uploaded for this app, or null to remove'),
    screenshotAssetIds: z
      .array(z.string().max(64))
      .max(ASSET_LIMITS.screenshot.perVersion)
      .describe('Screenshots uploaded for this app, in display order (remove or reorder)'),
  })
  .partial()
  .meta({ id: 'AppVersionPatch' });

const CreateApp = ListingFields.extend({
  slug: z.string().trim().max(40).describe('Unique, permanent; lowercase letters, digits and dashes'),
}).meta({ id: 'AppCreate' });

const Reason = z.string().trim().min(1, { message: 'must not be empty' }).max(1000);

function uploadRoute(apps: AppsService, kind: 'icon' | 'screenshot') {
  const rawBody = { contentTypes: [...IMAGE_TYPES], maxBytes: ASSET_LIMITS[kind].maxBytes };
  return defineRoute({
    method: kind === 'icon' ? 'put' : 'post',
    path: `/v1/organizations/:orgId/apps/:appId/versions/:versionId/${kind === 'icon' ? 'icon' : 'screenshots'}`,
    summary: kind === 'icon' ? 'Upload the version icon' : 'Add a version screenshot',
    tag: 'Apps',
    access: DEVELOPER,
    params: VersionParams,
    rawBody,
    response: AppVersionSchema,
    handler: async ({ org, params, ctx }) =>
      apps.uploadAsset(org, params.appId, params.versionId, kind, await readRawBody(ctx, rawBody)),
  });
}

export function appRoutes({
  apps,
  organizations,
  scopes,
}: {
  apps: AppsService;
  organizations: OrganizationsService;
  scopes: ScopeCatalog;
}) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/scopes',
      summary: 'List the scopes apps can request',
      tag: 'Apps',
      access: { kind: 'public' },
      response: z.object({
        data: z.array(
          z.object({
            name: z.string(),
            consentText: z.string(),
            sensitivity: z.enum(['basic', 'personal', 'financial']),
            owner: z.string(),
          }),
        ),
      }),
      handler: async () => ({ data: scopes.list() }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps',
      summary: 'Create an app',
      tag: 'Apps',
      access: DEVELOPER,
      status: 201,
      params: OrgParams,
      body: CreateApp,
      response: z.object({
        app: AppSchema,
        version: AppVersionSchema,
        clientSecret: z.string().describe('plz_cs_...: shown this once, stored hashed'),
      }),
      handler: ({ org, body }) => apps.create(org, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps',
      summary: 'List apps',
      tag: 'Apps',
      access: DEVELOPER,
      params: OrgParams,
      query: Pagination,
      response: page(AppSchema),
      handler: ({ org, query }) => apps.list(org, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId',
      summary: 'Get an app',
      tag: 'Apps',
      access: DEVELOPER,
      params: AppParams,
      response: AppSchema,
      handler: ({ org, params }) => apps.get(org, params.appId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/client-secrets',
      summary: 'Rotate the client secret',
      tag: 'Apps',
      access: DEVELOPER_ADMIN,
      status: 201,
      params: AppParams,
      body: z
        .object({
          overlapHours: z
            .number()
            .int()
            .min(0)
            .max(24 * 30)
            .optional()
            .describe(
              'How long the current secret keeps working (default PLAZA_CLIENT_SECRET_OVERLAP_HOURS)',
            ),
        })
        .default({}),
      response: z.object({
        clientId: z.string(),
        clientSecret: z.string().describe('The new secret, shown this once'),
        previousSecretsExpireAt: Timestamp.nullable(),
        app: AppSchema,
      }),
      handler: ({ org, params, body }) => apps.rotateClientSecret(org, params.appId, body.overlapHours),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/unpublish',
      summary: 'Unpublish an app',
      tag: 'Apps',
      access: DEVELOPER_ADMIN,
      params: AppParams,
      body: z.object({ reason: Reason.optional() }).default({}),
      response: AppSchema,
      handler: ({ org, params, body }) => apps.unpublish(org, params.appId, body.reason ?? null),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/republish',
      summary: 'Republish an app',
      tag: 'Apps',
      access: DEVELOPER_ADMIN,
      params: AppParams,
      response: AppSchema,
      handler: ({ org, params }) => apps.republish(org, params.appId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/versions',
      summary: 'List app versions',
      tag: 'Apps',
      access: DEVELOPER,
      params: AppParams,
      query: Pagination,
      response: page(AppVersionSchema),
      handler: ({ org, params, query }) => apps.listVersions(org, params.appId, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/versions',
      summary: 'Create the next version',
      tag: 'Apps',
      access: DEVELOPER,
      status: 201,
      params: AppParams,
      response: AppVersionSchema,
      handler: ({ org, params }) => apps.createVersion(org, params.appId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId',
      summary: 'Get an app version',
      tag: 'Apps',
      access: DEVELOPER,
      params: VersionParams,
      response: AppVersionSchema,
      handler: ({ org, params }) => apps.getVersion(org, params.appId, params.versionId),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId',
      summary: 'Edit a draft version',
      tag: 'Apps',
      access: DEVELOPER,
      params: VersionParams,
      body: VersionPatch,
      response: AppVersionSchema,
      handler: ({ org, params, body }) => apps.updateVersion(org, params.appId, params.versionId, body),
    }),
    uploadRoute(apps, 'icon'),
    uploadRoute(apps, 'screenshot'),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/manifest',
      summary: 'Export a version manifest',
      tag: 'Apps',
      access: DEVELOPER,
      params: VersionParams,
      response: AppManifest,
      handler: ({ org, params }) => apps.exportManifest(org, params.appId, params.versionId),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/manifest',
      summary: 'Import a version manifest',
      tag: 'Apps',
      access: DEVELOPER,
      params: VersionParams,
      body: AppManifest,
      response: AppVersionSchema,
      handler: ({ org, params, body }) => apps.importManifest(org, params.appId, params.versionId, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/diff',
      summary: 'Compare a version with the live one',
      tag: 'Apps',
      access: DEVELOPER,
      params: VersionParams,
      response: VersionDiffSchema,
      handler: ({ org, params }) => apps.diff(org, params.appId, params.versionId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/assets/:assetId',
      summary: 'Get an app image',
      tag: 'Apps',
      access: { kind: 'public' },
      params: z.object({ assetId: z.string().max(64) }),
      handler: async ({ params, ctx }) => {
        const asset = /^ast_[0-9a-z]{26}$/.test(params.assetId)
          ? await apps.readAsset(params.assetId)
          : undefined;
        if (!asset) throw new PlazaError('PLAZA_NOT_FOUND', 'asset not found');
        ctx.set('Content-Type', asset.contentType);
        ctx.set('X-Content-Type-Options', 'nosniff');
        ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
        ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
        ctx.set('Content-Disposition', 'inline');
        ctx.body = asset.bytes;
      },
    }),
    // Development mode: test accounts the developer org owns.
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/test-accounts',
      summary: 'List test accounts',
      tag: 'Apps',
      access: DEVELOPER,
      params: OrgParams,
      query: Pagination,
      response: page(OrganizationWithRole),
      handler: ({ org, query }) => organizations.listTestAccounts(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/test-accounts',
      summary: 'Create a test account',
      tag: 'Apps',
      access: DEVELOPER_ADMIN,
      status: 201,
      params: OrgParams,
      body: z.object({ name: z.string().trim().min(1, { message: 'must not be empty' }).max(200) }),
      response: OrganizationWithRole,
      handler: ({ org, body }) => organizations.createTestAccount(org, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/test-accounts/:accountId/test-users',
      // A made-up person, so an app can try users:read before review; they cannot sign in.
      summary: 'Add a test user to a test account',
      tag: 'Apps',
      access: DEVELOPER_ADMIN,
      status: 201,
      params: OrgParams.extend({ accountId: z.string().max(64) }),
      body: z.object({
        name: z.string().trim().min(1, { message: 'must not be empty' }).max(200),
        email: z.email({ message: 'must be an email address' }).max(320).optional(),
        role: z.enum(['member', 'admin']).default('member'),
      }),
      response: z.object({
        userId: z.string(),
        name: z.string(),
        email: z.string(),
        role: RoleSchema,
        joinedAt: Timestamp,
      }),
      handler: ({ org, params, body }) => organizations.addTestUser(org, params.accountId, body),
    }),
    // Platform admins.
    defineRoute({
      method: 'get',
      path: '/v1/admin/apps',
      summary: 'List all apps (platform admins)',
      tag: 'Apps',
      access: { kind: 'platform', roles: ['admin'] },
      query: Pagination.extend({
        status: AppStatusSchema.optional(),
        q: z.string().trim().max(200).optional().describe('Words in the app address (slug) or name'),
      }),
      response: page(AdminAppSchema),
      handler: ({ query }) => apps.adminList(query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/apps/:appId/suspend',
      summary: 'Suspend an app',
      tag: 'Apps',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ appId: z.string().max(64) }),
      body: z.object({ reason: Reason }),
      response: AppSchema,
      handler: ({ actor, params, body }) => apps.suspend(actor, params.appId, body.reason),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/apps/:appId/reinstate',
      summary: 'Reinstate a suspended app',
      tag: 'Apps',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ appId: z.string().max(64) }),
      response: AppSchema,
      handler: ({ actor, params }) => apps.reinstate(actor, params.appId),
    }),
  ];
}
