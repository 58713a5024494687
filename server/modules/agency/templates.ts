import type { z } from 'zod';
import type { Db } from '../../db/index.ts';
import { conflict, forbidden, notFound, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import { hasRole, type OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { ContactsService } from '../contacts/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import type { BulkInstaller } from './bulk-install.ts';
import type {
  ApplyChange,
  ApplyReport,
  TemplateApplication,
  TemplateSchema,
  TemplateSpec,
} from './schemas.ts';

/**
 * Sub-account templates: what a new sub-account of an agency starts with (a
 * default theme, apps with their optional scopes, contact fields, members to
 * invite), made in one step. Applying is idempotent: each item is compared
 * with what the sub-account has, and only what differs is done, so applying
 * again changes nothing and applying a changed template reports exactly what
 * it changed. Nothing a sub-account has is taken away by a template (an app
 * dropped from it stays installed, a member stays); items that cannot be
 * brought in line without the account's consent are reported as skipped.
 */
export type Template = z.output<typeof TemplateSchema>;
export type Change = z.output<typeof ApplyChange>;
export type Report = z.output<typeof ApplyReport>;

export interface TemplateDeps {
  db: Db;
  audit: AuditService;
  contacts: ContactsService;
  installations: InstallationsService;
  organizations: OrganizationsService;
  bulk: BulkInstaller;
}

const toTemplate = (r: any): Template => ({
  id: r.id,
  name: r.name,
  revision: r.revision,
  spec: r.spec,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Canonical JSON: equal values compare equal whatever their key order. */
const canon = (v: unknown): string =>
  JSON.stringify(v, (_, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );

const reasonOf = (err: unknown) => (err instanceof PlazaError ? err.message : 'could not be done');

export function createTemplates(deps: TemplateDeps) {
  const { db, audit, contacts, installations, organizations, bulk } = deps;

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies have sub-account templates');
    if (!hasRole(org, 'admin')) throw forbidden('templates need the admin or owner role');
  }

  async function get(org: OrgContext, id: string) {
    const row = await db.maybeOne('SELECT * FROM agency_templates WHERE id = $1 AND agency_id = $2', [
      id,
      org.org.id,
    ]);
    if (!row) throw notFound('template');
    return toTemplate(row);
  }

  const nameTaken = (err: unknown) =>
    err instanceof Error && /agency_templates_agency_id_name_key|unique/i.test(err.message)
      ? conflict('a template of this agency already has this name', [
          { field: 'body.name', reason: 'already used' },
        ])
      : err;

  async function applyTheme(org: OrgContext, sub: { id: string }, spec: TemplateSpec): Promise<Change[]> {
    if (!spec.theme) return [];
    const row = await db.maybeOne('SELECT theme FROM agency_sub_account_themes WHERE sub_account_id = $1', [
      sub.id,
    ]);
    if (row && canon(row.theme) === canon(spec.theme))
      return [{ item: 'theme', key: 'theme', action: 'unchanged', detail: null }];
    await db.query(
      `INSERT INTO agency_sub_account_themes (sub_account_id, agency_id, theme) VALUES ($1, $2, $3)
       ON CONFLICT (sub_account_id) DO UPDATE SET theme = $3, updated_at = now()`,
      [sub.id, org.org.id, JSON.stringify(spec.theme)],
    );
    return [
      {
        item: 'theme',
        key: 'theme',
        action: row ? 'updated' : 'created',
        // Branding resolves one theme per agency today; the sub-account's own values wait here for it.
        detail: "stored with the sub-account; pages show the agency's published theme",
      },
    ];
  }

  async function applyApps(org: OrgContext, sub: { id: string }, spec: TemplateSpec): Promise<Change[]> {
    const out: Change[] = [];
    for (const want of spec.apps) {
      const existing = await installations.findActive(sub.id, want.appId);
      if (existing) {
        const missing = want.scopes.filter((s) => !existing.grantedScopes.includes(s));
        out.push(
          missing.length
            ? {
                item: 'app',
                key: want.appId,
                action: 'skipped',
                detail: `installed without ${missing.join(', ')}: more access needs the account's consent`,
              }
            : { item: 'app', key: want.appId, action: 'unchanged', detail: null },
        );
        continue;
      }
      try {
        const r = await bulk.install(org, {
          appId: want.appId,
          subAccountIds: [sub.id],
          scopes: want.scopes,
        });
        const one = r.results[0];
        out.push(
          one.status === 'installed'
            ? { item: 'app', key: want.appId, action: 'created', detail: null }
            : one.status === 'already_installed'
              ? { item: 'app', key: want.appId, action: 'unchanged', detail: null }
              : { item: 'app', key: want.appId, action: 'failed', detail: one.detail },
        );
      } catch (err) {
        if (!(err instanceof PlazaError) || err.status >= 500) throw err;
        out.push({ item: 'app', key: want.appId, action: 'failed', detail: reasonOf(err) });
      }
    }
    return out;
  }

  async function applyFields(subCtx: OrgContext, spec: TemplateSpec): Promise<Change[]> {
    if (!spec.contactFields.length) return [];
    const have = new Map((await contacts.fields.list(subCtx)).map((f) => [f.key, f]));
    const out: Change[] = [];
    for (const want of spec.contactFields) {
      const cur = have.get(want.key);
      const options = want.options ?? [];
      if (!cur) {
        await contacts.fields.define(subCtx, want);
        out.push({ item: 'contactField', key: want.key, action: 'created', detail: null });
      } else if (cur.type !== want.type)
        out.push({
          item: 'contactField',
          key: want.key,
          action: 'skipped',
          detail: `the account has it as ${cur.type}; a field's type never changes (contacts hold values of it)`,
        });
      else if (cur.label !== want.label || canon(cur.options) !== canon(options)) {
        await contacts.fields.change(subCtx, want.key, {
          label: want.label,
          ...(want.type === 'select' ? { options } : {}),
        });
        out.push({ item: 'contactField', key: want.key, action: 'updated', detail: null });
      } else out.push({ item: 'contactField', key: want.key, action: 'unchanged', detail: null });
    }
    return out;
  }

  async function applyMembers(subCtx: OrgContext, spec: TemplateSpec): Promise<Change[]> {
    const out: Change[] = [];
    for (const m of spec.members) {
      try {
        await organizations.invite(subCtx, { email: m.email, role: m.role });
        out.push({ item: 'member', key: m.email, action: 'created', detail: `invited as ${m.role}` });
      } catch (err) {
        // Already a member, or an invitation is pending: the template holds already.
        if (err instanceof PlazaError && err.code === 'PLAZA_CONFLICT')
          out.push({ item: 'member', key: m.email, action: 'unchanged', detail: err.message });
        else if (err instanceof PlazaError && err.status < 500)
          out.push({ item: 'member', key: m.email, action: 'failed', detail: err.message });
        else throw err;
      }
    }
    return out;
  }

  async function apply(
    org: OrgContext,
    templateId: string,
    subAccountId: string,
    created = false,
  ): Promise<Report> {
    assertAgencyAdmin(org);
    const t = await get(org, templateId);
    const sub = await organizations.byId(subAccountId);
    if (!sub || sub.parentId !== org.org.id) throw notFound('sub-account');
    // The agency's admin reaches the sub-account with the agency role (paused or not).
    const subCtx = await organizations.resolveContext(org.actor, sub.id, undefined, { allowPaused: true });
    const changes = [
      ...(await applyTheme(org, sub, t.spec)),
      ...(await applyApps(org, sub, t.spec)),
      ...(await applyFields(subCtx, t.spec)),
      ...(await applyMembers(subCtx, t.spec)),
    ];
    const changed = changes.filter((c) => c.action === 'created' || c.action === 'updated').length;
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO agency_template_applications (template_id, sub_account_id, revision, changes, applied_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (template_id, sub_account_id) DO UPDATE SET revision = $3, changes = $4, applied_by = $5, applied_at = now()`,
        [t.id, sub.id, t.revision, JSON.stringify(changes), org.actor.userId],
      );
      await audit.record(tx, {
        organizationId: org.org.id,
        actor: org.actor,
        action: 'template.applied',
        targetType: 'organization',
        targetId: sub.id,
        data: { templateId: t.id, revision: t.revision, changed },
      });
    });
    return {
      templateId: t.id,
      revision: t.revision,
      subAccount: { id: sub.id, name: sub.name },
      created,
      changed,
      changes,
    };
  }

  return {
    async list(org: OrgContext): Promise<Template[]> {
      assertAgencyAdmin(org);
      const rows = await db.query('SELECT * FROM agency_templates WHERE agency_id = $1 ORDER BY name', [
        org.org.id,
      ]);
      return rows.map(toTemplate);
    },

    get: (org: OrgContext, id: string) => {
      assertAgencyAdmin(org);
      return get(org, id);
    },

    async create(org: OrgContext, input: { name: string } & TemplateSpec): Promise<Template> {
      assertAgencyAdmin(org);
      const { name, ...spec } = input;
      return db
        .transaction(async (tx) => {
          const row = await tx.one(
            `INSERT INTO agency_templates (id, agency_id, name, spec, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
            [newId('tpl'), org.org.id, name, JSON.stringify(spec), org.actor.userId],
          );
          await audit.record(tx, {
            organizationId: org.org.id,
            actor: org.actor,
            action: 'template.created',
            targetType: 'template',
            targetId: row.id,
            data: { name },
          });
          return toTemplate(row);
        })
        .catch((err) => {
          throw nameTaken(err);
        });
    },

    /** Replaces the template; a change of its content is a new revision (sub-accounts show as outdated). */
    async update(org: OrgContext, id: string, input: { name: string } & TemplateSpec): Promise<Template> {
      assertAgencyAdmin(org);
      const { name, ...spec } = input;
      return db
        .transaction(async (tx) => {
          const cur = await tx.maybeOne(
            'SELECT * FROM agency_templates WHERE id = $1 AND agency_id = $2 FOR UPDATE',
            [id, org.org.id],
          );
          if (!cur) throw notFound('template');
          const bump = canon(cur.spec) !== canon(spec);
          const row = await tx.one(
            `UPDATE agency_templates SET name = $2, spec = $3, revision = revision + $4, updated_at = now()
             WHERE id = $1 RETURNING *`,
            [id, name, JSON.stringify(spec), bump ? 1 : 0],
          );
          await audit.record(tx, {
            organizationId: org.org.id,
            actor: org.actor,
            action: 'template.changed',
            targetType: 'template',
            targetId: id,
            data: { name, revision: row.revision },
          });
          return toTemplate(row);
        })
        .catch((err) => {
          throw nameTaken(err);
        });
    },

    async remove(org: OrgContext, id: string): Promise<void> {
      assertAgencyAdmin(org);
      await get(org, id);
      await db.transaction(async (tx) => {
        await tx.query('DELETE FROM agency_templates WHERE id = $1 AND agency_id = $2', [id, org.org.id]);
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'template.deleted',
          targetType: 'template',
          targetId: id,
        });
      });
    },

    /**
     * Creates a sub-account and applies the template to it, in one step. With
     * a key (the request's Idempotency-Key) the sub-account is recorded under
     * it in the transaction that creates it: a retry after a crash before the
     * template was applied finds it and finishes applying (applying is
     * idempotent) instead of creating a second sub-account.
     */
    async provision(org: OrgContext, id: string, input: { name: string }, key?: string): Promise<Report> {
      assertAgencyAdmin(org);
      const t = await get(org, id);
      if (!key) {
        const sub = await organizations.createSubAccount(org, { name: input.name });
        return apply(org, id, sub.id, true);
      }
      const made = await db.transaction(async (tx) => {
        // One caller's requests with one key run one after the other (the idempotency module); two
        // admins racing with one key: the second's insert fails the primary key and rolls back its sub-account.
        const held = await tx.maybeOne(
          'SELECT * FROM agency_provisionings WHERE agency_id = $1 AND key = $2',
          [org.org.id, key],
        );
        if (held) return held;
        const sub = await organizations.createSubAccount(org, { name: input.name }, tx);
        return tx.one(
          `INSERT INTO agency_provisionings (agency_id, key, template_id, revision, name, sub_account_id, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [org.org.id, key, t.id, t.revision, input.name, sub.id, org.actor.userId],
        );
      });
      if (made.template_id !== t.id || made.name !== input.name)
        throw conflict('this Idempotency-Key already provisioned another sub-account; use a new key', [
          { field: 'header.idempotency-key', reason: 'already used for another provisioning' },
        ]);
      return apply(org, id, made.sub_account_id, true);
    },

    apply: (org: OrgContext, id: string, subAccountId: string) => apply(org, id, subAccountId),

    /** Where the template was applied, with the revision each sub-account took. */
    async applications(org: OrgContext, id: string): Promise<Array<z.output<typeof TemplateApplication>>> {
      const t = await get(org, id);
      assertAgencyAdmin(org);
      const rows = await db.query(
        'SELECT * FROM agency_template_applications WHERE template_id = $1 ORDER BY applied_at DESC',
        [t.id],
      );
      const subs = await organizations.byIds(rows.map((r) => r.sub_account_id));
      return rows.map((r) => ({
        subAccountId: r.sub_account_id,
        subAccountName: subs.get(r.sub_account_id)?.name ?? r.sub_account_id,
        revision: r.revision,
        outdated: r.revision < t.revision,
        appliedAt: r.applied_at.toISOString(),
        changes: r.changes,
      }));
    },
  };
}

export type Templates = ReturnType<typeof createTemplates>;
