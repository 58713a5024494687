import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Actor,
  conflict,
  hasRole,
  newId,
  notFound,
  type OrgContext,
  PlazaError,
  type PluginContext,
  type Queryable,
  type Tx,
  z,
} from '../../server/plugin-api/index.ts';
import { type AccountState, changes, type PlanItem, plan, summarize } from './plan.ts';
import { compareVersions, VerticalPack } from './schema.ts';
import { describeProblem, parsePackYaml } from './yaml.ts';

export type Source = 'builtin' | 'operator' | 'agency' | 'account';

export interface CatalogEntry {
  pack: VerticalPack;
  source: Source;
}

type Ctx = PluginContext<Record<string, never>, Record<string, never>>;

const PACK_FILE = /\.(json|ya?ml)$/;

/**
 * Reads and checks the shipped packs (`*.json`, `*.yaml`, `*.yml`); a broken
 * one stops the boot with its file and field, or its line and column.
 */
export function loadShippedPacks(dir: string): VerticalPack[] {
  return readdirSync(dir)
    .filter((f) => PACK_FILE.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(dir, file), 'utf8');
      let raw: unknown;
      if (file.endsWith('.json')) raw = JSON.parse(text);
      else {
        const read = parsePackYaml(text);
        if (!read.ok) throw new Error(`verticals/${file}: ${describeProblem(read.problem)}`);
        raw = read.value;
      }
      const parsed = VerticalPack.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`verticals/${file}: ${issue.path.join('.')}: ${issue.message}`);
      }
      return parsed.data;
    });
}

/** Parses a pack from a request, reporting every problem under `field` (`body.pack.fields.0.type`). */
export function parsePack(value: unknown, field: string): VerticalPack {
  const parsed = VerticalPack.safeParse(value);
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.map((i) => ({
    field: [field, ...i.path.map(String)].join('.'),
    reason: i.message,
  }));
  throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), {
    fields,
  });
}

/**
 * An upload's pack: `pack` (JSON) or `yaml` (the pack as YAML text), exactly
 * one. YAML that does not parse is a 400 naming `body.yaml` with its line and
 * column; a pack that parses is checked like JSON, naming `body.yaml.<path>`.
 */
export function packFromUpload(body: { pack?: unknown; yaml?: string }): VerticalPack {
  const both = body.pack !== undefined && body.yaml !== undefined;
  if (both || (body.pack === undefined && body.yaml === undefined)) {
    const reason = both ? 'send pack or yaml, not both' : 'send the pack as pack (JSON) or yaml (text)';
    throw new PlazaError('PLAZA_VALIDATION', `body.pack: ${reason}`, {
      fields: [{ field: 'body.pack', reason }],
    });
  }
  if (body.yaml === undefined) return parsePack(body.pack, 'body.pack');
  const read = parsePackYaml(body.yaml);
  if (!read.ok) {
    const reason = describeProblem(read.problem);
    throw new PlazaError('PLAZA_VALIDATION', `body.yaml: ${reason}`, {
      fields: [{ field: 'body.yaml', reason }],
      extra: { line: read.problem.line, column: read.problem.column },
    });
  }
  return parsePack(read.value, 'body.yaml');
}

export type VerticalsService = ReturnType<typeof createVerticalsService>;

export function createVerticalsService(ctx: Ctx, shipped: VerticalPack[]) {
  const { db } = ctx;

  // Catalog --------------------------------------------------------------------

  /**
   * Every pack version an organization may apply: shipped ones, the
   * operator's uploads, and packs of its own or (for a sub-account) its
   * agency's shared ones. Newest version first within a slug.
   */
  async function catalog(org: OrgContext, q: Queryable = db): Promise<CatalogEntry[]> {
    const rows = await q.query<{ owner_id: string | null; pack: unknown; shared: boolean }>(
      `SELECT owner_id, pack, shared FROM verticals_packs
       WHERE owner_id IS NULL OR owner_id = $1 OR (owner_id = $2 AND shared)`,
      [org.org.id, org.org.parentId],
    );
    const entries: CatalogEntry[] = [
      ...shipped.map((pack) => ({ pack, source: 'builtin' as const })),
      ...rows.map((r) => ({
        pack: VerticalPack.parse(r.pack),
        source: (r.owner_id === null
          ? 'operator'
          : r.owner_id === org.org.id
            ? org.org.kind
            : 'agency') as Source,
      })),
    ];
    return entries.sort(
      (a, b) => a.pack.slug.localeCompare(b.pack.slug) || compareVersions(b.pack.version, a.pack.version),
    );
  }

  async function resolve(org: OrgContext, slug: string, version?: string, q: Queryable = db) {
    const versions = (await catalog(org, q)).filter((e) => e.pack.slug === slug);
    if (versions.length === 0) throw notFound('vertical');
    const entry = version ? versions.find((e) => e.pack.version === version) : versions[0];
    if (!entry) throw notFound(`version ${version} of ${slug}`);
    return { ...entry, latest: versions[0].pack.version };
  }

  // State ----------------------------------------------------------------------

  type AppsInfo = Pick<AccountState, 'apps' | 'listed'> & { slugs: string[] };

  /**
   * Which of the pack's apps are installed and listed. Read before an apply's
   * transaction: installations and listings are not changed by it, and the
   * marketplace reads need not hold the account's lock.
   */
  async function appsOf(org: OrgContext, pack: VerticalPack): Promise<AppsInfo> {
    const slugs = pack.apps.map((a) => a.slug);
    const apps = slugs.length ? await ctx.installations.list(org) : [];
    const listed: AccountState['listed'] = new Map();
    for (const slug of slugs) {
      const listing = await ctx.installations.listing(slug);
      if (listing)
        listed.set(slug, {
          name: listing.name,
          required: listing.scopes.filter((s) => !s.optional).map((s) => s.name),
          optional: listing.scopes.filter((s) => s.optional).map((s) => s.name),
        });
    }
    return { slugs, apps: new Set(apps.map((a) => a.slug)), listed };
  }

  async function stateOf(
    org: OrgContext,
    pack: VerticalPack,
    q: Queryable,
    known?: AppsInfo,
  ): Promise<AccountState> {
    const id = org.org.id;
    // One after another: `q` may be a transaction, which is a single connection.
    const fields = await ctx.contacts.fields(org, q);
    const tags = await ctx.contacts.tags(org, q);
    const pipelines = await q.query('SELECT key, name FROM verticals_pipelines WHERE organization_id = $1', [
      id,
    ]);
    const stages = await q.query(
      'SELECT pipeline_key, key, name FROM verticals_stages WHERE organization_id = $1',
      [id],
    );
    const templates = await q.query(
      'SELECT key, name, subject, body FROM verticals_email_templates WHERE organization_id = $1',
      [id],
    );
    const checklist = await q.query(
      'SELECT key, title, description FROM verticals_checklist WHERE organization_id = $1',
      [id],
    );
    const samples = await q.query(
      'SELECT key FROM verticals_samples WHERE organization_id = $1 AND slug = $2',
      [id, pack.slug],
    );
    const application = await q.maybeOne(
      'SELECT samples_removed_at FROM verticals_applications WHERE organization_id = $1 AND slug = $2',
      [id, pack.slug],
    );
    const theme = await q.maybeOne('SELECT theme FROM verticals_themes WHERE organization_id = $1', [id]);
    return {
      fields: new Map(fields.map((f) => [f.key, { label: f.label, type: f.type, options: f.options }])),
      tags: new Set(tags.map((t) => t.name)),
      pipelines: new Map(pipelines.map((r) => [r.key, { name: r.name }])),
      stages: new Map(stages.map((r) => [`${r.pipeline_key}.${r.key}`, { name: r.name }])),
      emailTemplates: new Map(
        templates.map((r) => [r.key, { name: r.name, subject: r.subject, body: r.body }]),
      ),
      checklist: new Map(checklist.map((r) => [r.key, { title: r.title, description: r.description }])),
      samples: new Set(samples.map((r) => r.key)),
      samplesRemoved: Boolean(application?.samples_removed_at),
      // The apps read before (when they were read for this pack), else now.
      ...(known && pack.apps.every((a) => known.slugs.includes(a.slug)) ? known : await appsOf(org, pack)),
      theme: theme?.theme ?? null,
    };
  }

  async function previousOf(orgId: string, slug: string, q: Queryable) {
    const row = await q.maybeOne<{ version: string; pack: unknown }>(
      'SELECT version, pack FROM verticals_applications WHERE organization_id = $1 AND slug = $2',
      [orgId, slug],
    );
    return row ? VerticalPack.parse(row.pack) : null;
  }

  function assertAdmin(org: OrgContext) {
    if (org.org.kind !== 'account')
      throw ctx.error('PLAZA_VERTICALS_NOT_ACCOUNT', 'verticals apply to accounts');
    if (!hasRole(org, 'admin'))
      throw ctx.error('PLAZA_VERTICALS_FORBIDDEN', 'applying a vertical needs the admin role');
  }

  async function planFor(org: OrgContext, input: PlanRequest, q: Queryable, apps?: AppsInfo) {
    const entry = await resolve(org, input.vertical, input.version, q);
    const previous = await previousOf(org.org.id, entry.pack.slug, q);
    if (previous && compareVersions(entry.pack.version, previous.version) < 0)
      throw conflict(
        `this account has version ${previous.version} of ${entry.pack.name}; a vertical is never downgraded`,
        [{ field: 'body.version', reason: `older than the applied ${previous.version}` }],
      );
    const state = await stateOf(org, entry.pack, q, apps);
    const items = plan({
      pack: entry.pack,
      previous,
      state,
      force: input.force ?? false,
      subAccount: org.org.parentId !== null,
    });
    return { entry, previous, items };
  }

  // Writing one item -------------------------------------------------------------

  async function write(tx: Tx, org: OrgContext, pack: VerticalPack, item: PlanItem) {
    const id = org.org.id;
    const removing = item.action === 'remove';
    switch (item.kind) {
      case 'field': {
        if (removing) return ctx.contacts.removeField(tx, org, item.key);
        const f = pack.fields.find((x) => x.key === item.key)!;
        await ctx.contacts.defineField(
          tx,
          org,
          { key: f.key, label: f.label, type: f.type, options: f.options },
          { replace: item.action === 'update' },
        );
        return;
      }
      case 'tag':
        if (removing) await ctx.contacts.removeTag(tx, org, item.key);
        else await ctx.contacts.addTags(tx, org, [item.key]);
        return;
      case 'pipeline': {
        if (removing)
          return void (await tx.query(
            'DELETE FROM verticals_pipelines WHERE organization_id = $1 AND key = $2',
            [id, item.key],
          ));
        const p = pack.pipelines.find((x) => x.key === item.key)!;
        await tx.query(
          `INSERT INTO verticals_pipelines (organization_id, key, name, position)
           VALUES ($1, $2, $3, (SELECT coalesce(max(position) + 1, 0) FROM verticals_pipelines WHERE organization_id = $1))
           ON CONFLICT (organization_id, key) DO UPDATE SET name = EXCLUDED.name`,
          [id, p.key, p.name],
        );
        return;
      }
      case 'stage': {
        const [pipelineKey, stageKey] = item.key.split('.');
        if (removing)
          return void (await tx.query(
            'DELETE FROM verticals_stages WHERE organization_id = $1 AND pipeline_key = $2 AND key = $3',
            [id, pipelineKey, stageKey],
          ));
        const p = pack.pipelines.find((x) => x.key === pipelineKey)!;
        const position = p.stages.findIndex((s) => s.key === stageKey);
        await tx.query(
          `INSERT INTO verticals_stages (organization_id, pipeline_key, key, name, position) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id, pipeline_key, key) DO UPDATE SET name = EXCLUDED.name`,
          [id, pipelineKey, stageKey, p.stages[position].name, position],
        );
        return;
      }
      case 'emailTemplate': {
        if (removing)
          return void (await tx.query(
            'DELETE FROM verticals_email_templates WHERE organization_id = $1 AND key = $2',
            [id, item.key],
          ));
        const t = pack.emailTemplates.find((x) => x.key === item.key)!;
        await tx.query(
          `INSERT INTO verticals_email_templates (organization_id, key, name, subject, body) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id, key) DO UPDATE SET name = EXCLUDED.name, subject = EXCLUDED.subject, body = EXCLUDED.body`,
          [id, t.key, t.name, t.subject, t.body],
        );
        return;
      }
      case 'checklist': {
        if (removing)
          return void (await tx.query(
            'DELETE FROM verticals_checklist WHERE organization_id = $1 AND key = $2',
            [id, item.key],
          ));
        const c = pack.checklist.find((x) => x.key === item.key)!;
        await tx.query(
          `INSERT INTO verticals_checklist (organization_id, key, title, description, position)
           VALUES ($1, $2, $3, $4, (SELECT coalesce(max(position) + 1, 0) FROM verticals_checklist WHERE organization_id = $1))
           ON CONFLICT (organization_id, key) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description`,
          [id, c.key, c.title, c.description ?? ''],
        );
        return;
      }
      case 'sampleContact': {
        const c = pack.sampleContacts.find((x) => x.key === item.key)!;
        const created = await ctx.contacts.createSample(
          tx,
          org,
          { name: c.name, email: c.email, phone: c.phone, tags: c.tags, customFields: c.customFields },
          pack.slug,
        );
        await tx.query(
          'INSERT INTO verticals_samples (organization_id, slug, key, contact_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
          [id, pack.slug, c.key, created?.id ?? null],
        );
        return;
      }
      case 'theme':
        await tx.query(
          `INSERT INTO verticals_themes (organization_id, slug, theme) VALUES ($1, $2, $3)
           ON CONFLICT (organization_id) DO UPDATE SET slug = EXCLUDED.slug, theme = EXCLUDED.theme, applied_at = NULL`,
          [id, pack.slug, JSON.stringify(pack.theme)],
        );
        return;
      case 'app':
        // Installed after the commit (an install is an OAuth grant, outside this transaction).
        return;
    }
  }

  // Apps after the commit ----------------------------------------------------------

  async function installApps(org: OrgContext, pack: VerticalPack, items: PlanItem[]) {
    const results: Array<{ slug: string; status: string; detail: string | null }> = [];
    for (const item of items.filter((i) => i.kind === 'app' && i.action === 'add')) {
      const app = pack.apps.find((a) => a.slug === item.key)!;
      try {
        const out = await ctx.installations.bulkInstall(org.actor, org.org.parentId!, {
          slug: app.slug,
          subAccountIds: [org.org.id],
          scopes: app.scopes,
        });
        const r = out.results[0];
        results.push({ slug: app.slug, status: r.status, detail: r.detail });
      } catch (err) {
        // Not the agency's admin, or the app cannot be installed now: the rest of the vertical stands.
        const detail = err instanceof PlazaError ? err.message : 'could not be installed';
        if (!(err instanceof PlazaError)) ctx.log.warn({ err, app: app.slug }, 'vertical app install failed');
        results.push({ slug: app.slug, status: 'not_installed', detail });
      }
    }
    return results;
  }

  return {
    catalog,
    resolve,

    async plan(org: OrgContext, input: PlanRequest) {
      const { entry, previous, items } = await planFor(org, input, db);
      return shape(entry, previous, items);
    },

    /**
     * Applies a pack in one transaction: the plan is made again inside it
     * (under a per-account lock, so two applies cannot interleave), every
     * item written, the version recorded and `vertical.applied` emitted, or
     * nothing at all. Apps are installed once it committed.
     */
    async apply(org: OrgContext, input: PlanRequest) {
      assertAdmin(org);
      const known = await appsOf(org, (await resolve(org, input.vertical, input.version)).pack);
      const out = await db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(hashtext('verticals:' || $1))", [org.org.id]);
        const { entry, previous, items } = await planFor(org, input, tx, known);
        const pack = entry.pack;
        const writes = changes(items);
        // New tags go in as one write (one audit entry); everything else item by item.
        const newTags = writes.filter((i) => i.kind === 'tag' && i.action === 'add').map((i) => i.key);
        if (newTags.length) await ctx.contacts.addTags(tx, org, newTags);
        for (const item of writes)
          if (!(item.kind === 'tag' && item.action === 'add')) await write(tx, org, pack, item);
        const versionChanged = previous?.version !== pack.version;
        if (writes.length || versionChanged) {
          await tx.query(
            `INSERT INTO verticals_applications (organization_id, slug, version, pack, applied_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (organization_id, slug) DO UPDATE
               SET version = EXCLUDED.version, pack = EXCLUDED.pack, applied_by = EXCLUDED.applied_by, applied_at = now()`,
            [org.org.id, pack.slug, pack.version, JSON.stringify(pack), org.actor.userId],
          );
          await tx.query(
            `INSERT INTO verticals_history (id, organization_id, slug, from_version, to_version, forced, changes, applied_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [
              newId('vah'),
              org.org.id,
              pack.slug,
              previous?.version ?? null,
              pack.version,
              input.force ?? false,
              JSON.stringify(writes),
              org.actor.userId,
            ],
          );
          const counts = summarize(items);
          await ctx.events.emit(tx, org.org.id, 'vertical.applied', {
            accountId: org.org.id,
            vertical: pack.slug,
            name: pack.name,
            version: pack.version,
            fromVersion: previous?.version ?? null,
            added: counts.add,
            updated: counts.update,
            removed: counts.remove,
            conflicts: counts.conflict,
            apps: pack.apps.map((a) => a.slug),
            fields: pack.fields.filter((f) => !f.removed).map((f) => f.key),
          });
          await ctx.audit.record(tx, {
            organizationId: org.org.id,
            actor: org.actor,
            action: 'verticals.applied',
            targetType: 'vertical',
            targetId: pack.slug,
            data: { version: pack.version, fromVersion: previous?.version ?? null, changes: writes.length },
          });
        }
        return { entry, previous, items, changed: writes.length > 0 || versionChanged };
      });
      const apps = await installApps(org, out.entry.pack, out.items);
      return { ...shape(out.entry, out.previous, out.items), changed: out.changed, apps };
    },

    /** Removes the account's sample contacts of a vertical in one go; they are not added back later. */
    async removeSamples(org: OrgContext, slug: string) {
      assertAdmin(org);
      return db.transaction(async (tx) => {
        const app = await tx.maybeOne(
          'SELECT 1 FROM verticals_applications WHERE organization_id = $1 AND slug = $2 FOR UPDATE',
          [org.org.id, slug],
        );
        if (!app) throw notFound('applied vertical');
        const removed = await ctx.contacts.deleteSamples(tx, org, slug);
        await tx.query(
          'UPDATE verticals_applications SET samples_removed_at = coalesce(samples_removed_at, now()) WHERE organization_id = $1 AND slug = $2',
          [org.org.id, slug],
        );
        await tx.query(
          'UPDATE verticals_samples SET contact_id = NULL WHERE organization_id = $1 AND slug = $2',
          [org.org.id, slug],
        );
        await ctx.audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'verticals.samples_removed',
          targetType: 'vertical',
          targetId: slug,
          data: { removed },
        });
        return { removed };
      });
    },

    /** The verticals applied to an account, with the newest version it could upgrade to. */
    async applied(org: OrgContext) {
      const rows = await db.query(
        'SELECT slug, version, pack, applied_at, first_applied_at, samples_removed_at FROM verticals_applications WHERE organization_id = $1 ORDER BY first_applied_at',
        [org.org.id],
      );
      const all = await catalog(org);
      return Promise.all(
        rows.map(async (r) => {
          const latest = all.find((e) => e.pack.slug === r.slug)?.pack.version ?? r.version;
          return {
            vertical: r.slug as string,
            name: (r.pack as VerticalPack).name,
            version: r.version as string,
            latestVersion: latest,
            upgradeAvailable: compareVersions(latest, r.version) > 0,
            appliedAt: (r.applied_at as Date).toISOString(),
            firstAppliedAt: (r.first_applied_at as Date).toISOString(),
            sampleContacts: await ctx.contacts.countSamples(org, r.slug),
            samplesRemoved: r.samples_removed_at !== null,
          };
        }),
      );
    },

    /**
     * The account's configuration as a pack: its custom fields, ready-made
     * and used tags, pipelines, email templates, checklist, installed apps
     * (with the optional scopes they were granted) and suggested theme.
     * Sample contacts are not captured (they are example data).
     */
    async configuration(
      org: OrgContext,
      meta: { slug: string; name: string; version: string; description: string },
    ) {
      const id = org.org.id;
      const [fields, tags, pipelines, stages, templates, checklist, apps, theme] = await Promise.all([
        ctx.contacts.fields(org),
        ctx.contacts.tags(org),
        db.query(
          'SELECT key, name FROM verticals_pipelines WHERE organization_id = $1 ORDER BY position, key',
          [id],
        ),
        db.query(
          'SELECT pipeline_key, key, name FROM verticals_stages WHERE organization_id = $1 ORDER BY position, key',
          [id],
        ),
        db.query(
          'SELECT key, name, subject, body FROM verticals_email_templates WHERE organization_id = $1 ORDER BY key',
          [id],
        ),
        db.query(
          'SELECT key, title, description FROM verticals_checklist WHERE organization_id = $1 ORDER BY position, key',
          [id],
        ),
        ctx.installations.list(org),
        db.maybeOne('SELECT theme FROM verticals_themes WHERE organization_id = $1', [id]),
      ]);
      const optionalScopes = async (slug: string, granted: string[]) => {
        const listing = await ctx.installations.listing(slug);
        const optional = new Set(listing?.scopes.filter((s) => s.optional).map((s) => s.name) ?? []);
        return granted.filter((s) => optional.has(s)).sort();
      };
      return parsePack(
        {
          ...meta,
          fields: fields.map((f) => ({
            key: f.key,
            label: f.label,
            type: f.type,
            ...(f.type === 'select' ? { options: f.options } : {}),
          })),
          tags: tags.map((t) => t.name),
          pipelines: pipelines
            .map((p) => ({
              key: p.key,
              name: p.name,
              stages: stages
                .filter((s) => s.pipeline_key === p.key)
                .map((s) => ({ key: s.key, name: s.name })),
            }))
            .filter((p) => p.stages.length > 0),
          apps: await Promise.all(
            apps
              .sort((a, b) => a.slug.localeCompare(b.slug))
              .map(async (a) => ({
                slug: a.slug,
                why: `Installed in the account this template was captured from (${a.name})`,
                scopes: await optionalScopes(a.slug, a.grantedScopes),
              })),
          ),
          ...(theme ? { theme: theme.theme } : {}),
          emailTemplates: templates.map((t) => ({
            key: t.key,
            name: t.name,
            subject: t.subject,
            body: t.body,
          })),
          checklist: checklist.map((c) => ({
            key: c.key,
            title: c.title,
            ...(c.description ? { description: c.description } : {}),
          })),
        },
        'configuration',
      );
    },

    /** Saves a pack as the operator's (owner null), an agency's or an account's own. */
    async save(
      owner: string | null,
      pack: VerticalPack,
      opts: { source: 'upload' | 'capture'; shared: boolean; actor: Actor; org: OrgContext | null },
    ) {
      // Where the slug and version came from in the request, for the problem's fields.
      const at = opts.source === 'capture' ? 'body' : 'body.pack';
      if (shipped.some((p) => p.slug === pack.slug) && owner !== null)
        throw conflict(`"${pack.slug}" is a shipped vertical; choose another slug`, [
          { field: `${at}.slug`, reason: 'taken by a shipped vertical' },
        ]);
      if (shipped.some((p) => p.slug === pack.slug && compareVersions(p.version, pack.version) >= 0))
        throw conflict(`version ${pack.version} of ${pack.slug} is not newer than the shipped one`, [
          { field: `${at}.version`, reason: 'not newer than the shipped version' },
        ]);
      return db.transaction(async (tx) => {
        const clash = await tx.maybeOne(
          'SELECT 1 FROM verticals_packs WHERE coalesce(owner_id, $1) = coalesce($2, $1) AND slug = $3 AND version = $4',
          ['', owner, pack.slug, pack.version],
        );
        if (clash)
          throw conflict(`version ${pack.version} of ${pack.slug} exists; raise the version`, [
            { field: `${at}.version`, reason: 'already uploaded' },
          ]);
        const id = newId('vpk');
        await tx.query(
          `INSERT INTO verticals_packs (id, owner_id, slug, version, pack, source, shared, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            id,
            owner,
            pack.slug,
            pack.version,
            JSON.stringify(pack),
            opts.source,
            opts.shared,
            opts.actor.userId,
          ],
        );
        if (opts.org)
          await ctx.audit.record(tx, {
            organizationId: opts.org.org.id,
            actor: opts.actor,
            action: opts.source === 'capture' ? 'verticals.captured' : 'verticals.uploaded',
            targetType: 'vertical',
            targetId: pack.slug,
            data: { version: pack.version, packId: id },
          });
        return { id, slug: pack.slug, version: pack.version, shared: opts.shared };
      });
    },

    /** Packs an organization (or the operator: null) owns. */
    async owned(owner: string | null) {
      const rows = await db.query(
        `SELECT id, slug, version, pack, source, shared, created_at FROM verticals_packs
         WHERE coalesce(owner_id, '') = coalesce($1, '') ORDER BY slug, created_at DESC`,
        [owner],
      );
      return rows.map((r) => ({
        id: r.id as string,
        slug: r.slug as string,
        version: r.version as string,
        name: (r.pack as VerticalPack).name,
        source: r.source as 'upload' | 'capture',
        shared: r.shared as boolean,
        createdAt: (r.created_at as Date).toISOString(),
      }));
    },
  };
}

export const PlanRequest = z
  .object({
    vertical: z.string().max(40).describe('The vertical slug (dental-clinic)'),
    version: z
      .string()
      .max(20)
      .optional()
      .describe('A version of it (default: the newest this account may use)'),
    force: z
      .boolean()
      .optional()
      .describe(
        'Overwrite local changes (conflicts), add back what the account deleted, remove changed items',
      ),
  })
  .strict();
export type PlanRequest = z.output<typeof PlanRequest>;

function shape(entry: CatalogEntry & { latest: string }, previous: VerticalPack | null, items: PlanItem[]) {
  return {
    vertical: {
      slug: entry.pack.slug,
      name: entry.pack.name,
      version: entry.pack.version,
      source: entry.source,
    },
    fromVersion: previous?.version ?? null,
    upgrade: previous !== null && previous.version !== entry.pack.version,
    items,
    summary: summarize(items),
  };
}
