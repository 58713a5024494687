import path from 'node:path';
import Handlebars from 'handlebars';
import {
  type Access,
  definePlugin,
  defineRoute,
  notFound,
  type OrgContext,
  z,
} from '../../server/plugin-api/index.ts';
import {
  AppliedVertical,
  ApplyResult,
  CatalogSummary,
  ChecklistItemSchema,
  EmailTemplateSchema,
  PackDocument,
  PipelineSchema,
  PlanSchema,
  SavedPack,
} from './dto.ts';
import type { VerticalPack } from './schema.ts';
import {
  type CatalogEntry,
  createVerticalsService,
  loadShippedPacks,
  PlanRequest,
  packFromUpload,
  parsePack,
} from './service.ts';

/**
 * Vertical templates: declarative packs (custom fields, tags, pipelines,
 * email templates, checklist, sample data, recommended apps, theme values)
 * that an account admin applies to their account, or an agency admin to a
 * sub-account (agency admins reach sub-accounts with their agency role), to
 * start in minutes. See README.md beside this file.
 */
const Org = z.object({ orgId: z.string().max(64) });
const Key = z.string().max(64);
const ACCOUNT: Access = { kind: 'org', orgKinds: ['account'] };
const ACCOUNT_ADMIN: Access = { kind: 'org', orgKinds: ['account'], minRole: 'admin' };
const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });
const PackBody = z.object({
  pack: z
    .unknown()
    .optional()
    .describe(
      'A vertical pack (JSON), checked against the pack schema; problems name body.pack.<path>. Send this or yaml',
    ),
  yaml: z
    .string()
    .max(500_000)
    .optional()
    .describe(
      'The pack as YAML text (one document, no tags, few aliases); syntax errors name line and column, schema problems body.yaml.<path>',
    ),
  shared: z.boolean().default(true).describe("Offered to the agency's sub-accounts"),
});

function summary(versions: CatalogEntry[], appliedVersion: string | null) {
  const { pack, source } = versions[0];
  const live = <T extends { removed?: boolean }>(xs: T[]) => xs.filter((x) => !x.removed);
  return {
    slug: pack.slug,
    name: pack.name,
    description: pack.description,
    icon: pack.icon ?? null,
    color: pack.color ?? null,
    version: pack.version,
    versions: versions.map((v) => v.pack.version),
    source,
    appliedVersion,
    counts: {
      fields: live(pack.fields).length,
      tags: live(pack.tags).length,
      pipelines: live(pack.pipelines).length,
      apps: pack.apps.length,
      sampleContacts: pack.sampleContacts.length,
      emailTemplates: live(pack.emailTemplates).length,
      checklist: live(pack.checklist).length,
    },
    preview: {
      fields: live(pack.fields).map((f) => ({ label: f.label, type: f.type })),
      pipelines: live(pack.pipelines).map((p) => ({
        name: p.name,
        stages: live(p.stages).map((s) => s.name),
      })),
      apps: pack.apps.map((a) => ({ slug: a.slug, why: a.why })),
      checklist: live(pack.checklist).map((c) => c.title),
    },
  };
}

export default definePlugin({
  name: 'verticals',
  version: '1.0.0',
  description:
    'Vertical templates: start an account as a dental clinic, salon, restaurant or gym in minutes.',
  scopes: [
    {
      name: 'verticals:read',
      consentText: 'See which industry template your account uses',
      sensitivity: 'basic',
    },
  ],
  eventTypes: [
    {
      type: 'vertical.applied',
      description:
        'A vertical template was applied to an account (first time or upgrade): what it added, so apps can configure themselves.',
      scope: 'verticals:read',
      payload: z.object({
        accountId: z.string(),
        vertical: z.string(),
        name: z.string(),
        version: z.string(),
        fromVersion: z.string().nullable(),
        added: z.number().int(),
        updated: z.number().int(),
        removed: z.number().int(),
        conflicts: z.number().int(),
        apps: z.array(z.string()),
        fields: z.array(z.string()),
      }),
    },
  ],
  errors: {
    PLAZA_VERTICALS_NOT_ACCOUNT: { status: 403, title: 'Verticals apply to accounts' },
    PLAZA_VERTICALS_FORBIDDEN: { status: 403, title: 'Not allowed to change verticals here' },
  },
  web: {
    pages: [
      {
        path: 'gallery',
        component: 'GalleryPage.vue',
        title: 'Industry templates',
        area: 'org',
        orgKinds: ['account', 'agency'],
      },
      {
        path: 'packs',
        component: 'PacksPage.vue',
        title: 'Industry templates',
        area: 'operator',
        platformRoles: ['admin'],
      },
    ],
  },
  setup(ctx) {
    const shipped = loadShippedPacks(path.join(import.meta.dirname, 'verticals'));
    const verticals = createVerticalsService(ctx, shipped);

    /** Who owns what an account captures: its agency when the caller administers it, else the account. */
    async function captureOwner(org: OrgContext): Promise<string> {
      if (!org.org.parentId || !org.actor.userId) return org.org.id;
      const members = await ctx.orgs.members(org.org.parentId);
      const me = members.find((m) => m.userId === org.actor.userId);
      return me && (me.role === 'admin' || me.role === 'owner') ? org.org.parentId : org.org.id;
    }

    ctx.routes.add(
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/catalog',
        summary: 'List the vertical templates this organization can apply',
        tag: 'Verticals',
        access: { kind: 'org', orgKinds: ['account', 'agency'] },
        params: Org,
        response: list(CatalogSummary),
        handler: async ({ org }) => {
          const all = await verticals.catalog(org);
          const applied =
            org.org.kind === 'account'
              ? new Map((await verticals.applied(org)).map((a) => [a.vertical, a.version]))
              : new Map();
          const slugs = [...new Set(all.map((e) => e.pack.slug))];
          return {
            data: slugs.map((slug) =>
              summary(
                all.filter((e) => e.pack.slug === slug),
                applied.get(slug) ?? null,
              ),
            ),
          };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/catalog/:vertical',
        summary: 'Get a vertical template (all it contains)',
        tag: 'Verticals',
        access: { kind: 'org', orgKinds: ['account', 'agency'] },
        params: Org.extend({ vertical: z.string().max(40) }),
        query: z.object({ version: z.string().max(20).optional() }),
        response: PackDocument,
        handler: async ({ org, params, query }) =>
          (await verticals.resolve(org, params.vertical, query.version)).pack,
      }),
      defineRoute({
        method: 'post',
        path: '/organizations/:orgId/plan',
        summary: 'Plan applying a vertical template: what it adds, what exists, what conflicts',
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        params: Org,
        body: PlanRequest,
        response: PlanSchema,
        handler: ({ org, body }) => verticals.plan(org, body),
      }),
      defineRoute({
        method: 'post',
        path: '/organizations/:orgId/apply',
        summary: 'Apply or upgrade a vertical template (one transaction; applying again changes nothing)',
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        params: Org,
        body: PlanRequest,
        response: ApplyResult,
        idempotent: true,
        handler: ({ org, body }) => verticals.apply(org, body),
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/applied',
        summary: 'List the vertical templates applied to an account',
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org,
        response: list(AppliedVertical),
        handler: async ({ org }) => ({ data: await verticals.applied(org) }),
      }),
      defineRoute({
        method: 'delete',
        path: '/organizations/:orgId/applied/:vertical/sample-data',
        summary: "Remove a vertical template's sample data from an account",
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        params: Org.extend({ vertical: z.string().max(40) }),
        response: z.object({ removed: z.number().int() }),
        handler: ({ org, params }) => verticals.removeSamples(org, params.vertical),
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/configuration',
        summary: "An account's configuration as a vertical pack (what a capture would save)",
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        params: Org,
        response: PackDocument,
        handler: ({ org }) =>
          verticals.configuration(org, {
            slug: 'configuration',
            name: org.org.name.slice(0, 80) || 'Account',
            version: '1.0.0',
            description: `The configuration of ${org.org.name}`.slice(0, 500),
          }),
      }),
      defineRoute({
        method: 'post',
        path: '/organizations/:orgId/capture',
        summary: 'Capture an account as a vertical template (shared with the agency’s sub-accounts)',
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        status: 201,
        params: Org,
        body: z
          .object({
            slug: z.string().max(40),
            name: z.string().max(80),
            version: z.string().max(20).default('1.0.0'),
            description: z.string().max(500).optional(),
            shared: z.boolean().default(true),
          })
          .strict(),
        response: SavedPack.omit({ createdAt: true, name: true, source: true }).extend({
          ownerId: z.string(),
          pack: PackDocument,
        }),
        handler: async ({ org, body }) => {
          const pack = await verticals.configuration(org, {
            slug: body.slug,
            name: body.name,
            version: body.version,
            description: body.description ?? `Captured from ${org.org.name}`.slice(0, 500),
          });
          // The captured pack is checked like an upload (slug, version), naming body.<field>.
          const checked = parsePack(pack, 'body');
          const owner = await captureOwner(org);
          const saved = await verticals.save(owner, checked, {
            source: 'capture',
            shared: body.shared,
            actor: org.actor,
            org,
          });
          return { ...saved, ownerId: owner, pack: checked };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/templates',
        summary: 'List the vertical templates an organization made (uploaded or captured)',
        tag: 'Verticals',
        access: { kind: 'org', orgKinds: ['account', 'agency'], minRole: 'admin' },
        params: Org,
        response: list(SavedPack),
        handler: async ({ org }) => ({ data: await verticals.owned(org.org.id) }),
      }),
      defineRoute({
        method: 'post',
        path: '/organizations/:orgId/templates',
        summary: 'Upload a vertical template for an agency’s sub-accounts',
        tag: 'Verticals',
        access: { kind: 'org', orgKinds: ['agency'], minRole: 'admin' },
        status: 201,
        params: Org,
        body: PackBody,
        response: SavedPack.pick({ id: true, slug: true, version: true, shared: true }),
        handler: ({ org, body }) =>
          verticals.save(org.org.id, packFromUpload(body), {
            source: 'upload',
            shared: body.shared,
            actor: org.actor,
            org,
          }),
      }),
      defineRoute({
        method: 'get',
        path: '/packs',
        summary: "List the operator's uploaded vertical templates",
        tag: 'Verticals',
        access: { kind: 'platform', roles: ['admin'] },
        response: list(SavedPack),
        handler: async () => ({ data: await verticals.owned(null) }),
      }),
      defineRoute({
        method: 'post',
        path: '/packs',
        summary: 'Upload a vertical template for every account (operator)',
        tag: 'Verticals',
        access: { kind: 'platform', roles: ['admin'] },
        status: 201,
        body: PackBody.omit({ shared: true }),
        response: SavedPack.pick({ id: true, slug: true, version: true, shared: true }),
        handler: ({ body, actor }) =>
          verticals.save(null, packFromUpload(body), {
            source: 'upload',
            shared: true,
            actor,
            org: null,
          }),
      }),

      // What a vertical added, as the account uses and changes it ---------------------

      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/pipelines',
        summary: "List an account's pipelines and their stages",
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org,
        response: list(PipelineSchema),
        handler: async ({ org }) => {
          const [pipelines, stages] = await Promise.all([
            ctx.db.query(
              'SELECT key, name FROM verticals_pipelines WHERE organization_id = $1 ORDER BY position, key',
              [org.org.id],
            ),
            ctx.db.query(
              'SELECT pipeline_key, key, name FROM verticals_stages WHERE organization_id = $1 ORDER BY position, key',
              [org.org.id],
            ),
          ]);
          return {
            data: pipelines.map((p) => ({
              key: p.key,
              name: p.name,
              stages: stages
                .filter((s) => s.pipeline_key === p.key)
                .map((s) => ({ key: s.key, name: s.name })),
            })),
          };
        },
      }),
      defineRoute({
        method: 'patch',
        path: '/organizations/:orgId/pipelines/:pipelineKey',
        summary: 'Rename a pipeline or one of its stages',
        tag: 'Verticals',
        access: ACCOUNT_ADMIN,
        params: Org.extend({ pipelineKey: Key }),
        body: z
          .object({
            name: z.string().trim().min(1).max(60).optional(),
            stages: z
              .record(Key, z.string().trim().min(1).max(60))
              .optional()
              .describe('Stage key -> new name'),
          })
          .strict(),
        response: z.object({ ok: z.boolean() }),
        handler: async ({ org, params, body }) => {
          await ctx.db.transaction(async (tx) => {
            const found = await tx.maybeOne(
              'SELECT 1 FROM verticals_pipelines WHERE organization_id = $1 AND key = $2 FOR UPDATE',
              [org.org.id, params.pipelineKey],
            );
            if (!found) throw notFound('pipeline');
            if (body.name)
              await tx.query(
                'UPDATE verticals_pipelines SET name = $3 WHERE organization_id = $1 AND key = $2',
                [org.org.id, params.pipelineKey, body.name],
              );
            for (const [key, name] of Object.entries(body.stages ?? {})) {
              const row = await tx.maybeOne(
                'UPDATE verticals_stages SET name = $4 WHERE organization_id = $1 AND pipeline_key = $2 AND key = $3 RETURNING key',
                [org.org.id, params.pipelineKey, key, name],
              );
              if (!row) throw notFound(`stage ${key}`);
            }
          });
          return { ok: true };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/email-templates',
        summary: "List an account's email templates",
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org,
        response: list(EmailTemplateSchema),
        handler: async ({ org }) => ({
          data: await ctx.db.query<{ key: string; name: string; subject: string; body: string }>(
            'SELECT key, name, subject, body FROM verticals_email_templates WHERE organization_id = $1 ORDER BY key',
            [org.org.id],
          ),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/organizations/:orgId/email-templates/:templateKey/preview',
        summary: 'Render an email template with sample values',
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org.extend({ templateKey: Key }),
        body: z.object({ data: z.record(z.string(), z.unknown()).default({}) }).strict(),
        response: z.object({ subject: z.string(), text: z.string() }),
        handler: async ({ org, params, body }) => {
          const t = await ctx.db.maybeOne(
            'SELECT subject, body FROM verticals_email_templates WHERE organization_id = $1 AND key = $2',
            [org.org.id, params.templateKey],
          );
          if (!t) throw notFound('email template');
          const data = { account: { name: org.org.name }, ...body.data };
          // Plain-text emails: no HTML escaping of values.
          const render = (src: string) => Handlebars.compile(src, { noEscape: true })(data);
          return { subject: render(t.subject), text: render(t.body) };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/organizations/:orgId/checklist',
        summary: "An account's getting-started checklist",
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org,
        response: list(ChecklistItemSchema),
        handler: async ({ org }) => {
          const rows = await ctx.db.query(
            'SELECT key, title, description, done_at FROM verticals_checklist WHERE organization_id = $1 ORDER BY position, key',
            [org.org.id],
          );
          return {
            data: rows.map((r) => ({
              key: r.key,
              title: r.title,
              description: r.description,
              done: r.done_at !== null,
              doneAt: r.done_at ? r.done_at.toISOString() : null,
            })),
          };
        },
      }),
      defineRoute({
        method: 'put',
        path: '/organizations/:orgId/checklist/:itemKey',
        summary: 'Tick or untick a checklist item',
        tag: 'Verticals',
        access: ACCOUNT,
        params: Org.extend({ itemKey: Key }),
        body: z.object({ done: z.boolean() }).strict(),
        response: z.object({ key: z.string(), done: z.boolean() }),
        handler: async ({ org, params, body }) => {
          const row = await ctx.db.maybeOne(
            `UPDATE verticals_checklist SET done_at = CASE WHEN $3 THEN coalesce(done_at, now()) END,
               done_by = CASE WHEN $3 THEN $4 END
             WHERE organization_id = $1 AND key = $2 RETURNING key`,
            [org.org.id, params.itemKey, body.done, org.actor.userId],
          );
          if (!row) throw notFound('checklist item');
          return { key: params.itemKey, done: body.done };
        },
      }),
    );
  },
});

export type { VerticalPack };
