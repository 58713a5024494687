import type { Db, Queryable } from '../../db/index.ts';
import { conflict, type FieldError, forbidden, notFound, PlazaError } from '../../errors.ts';
import type { AccountContext, OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import {
  type ContactField,
  type ContactFieldInput,
  type ContactFieldPatchInput,
  LIMITS,
  Tag,
} from './schemas.ts';

/**
 * An account's contact custom-field definitions and its ready-made tags.
 * Definitions type the values of `contacts.custom_fields`: a contact write
 * whose value does not fit its field's type is refused with the field's path
 * (`body.customFields.visits`). Keys without a definition stay free-form, so
 * apps that keep their own keys are not broken by an account defining fields.
 *
 * Every write takes the caller's `Queryable`, so a template applied in one
 * transaction (the verticals plugin) defines fields and tags atomically with
 * the rest of it.
 */
const toField = (r: Record<string, any>): ContactField => ({
  key: r.key,
  label: r.label,
  type: r.type,
  options: r.options,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Why `value` does not fit `field`, or undefined when it does. */
export function fieldValueProblem(field: ContactField, value: unknown): string | undefined {
  switch (field.type) {
    case 'text':
      return typeof value === 'string' ? undefined : `"${field.label}" is a text field: send a string`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
        ? undefined
        : `"${field.label}" is a number field: send a number`;
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : `"${field.label}" is a yes/no field: send true or false`;
    case 'date':
      return typeof value === 'string' && DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))
        ? undefined
        : `"${field.label}" is a date field: send YYYY-MM-DD`;
    case 'select':
      return typeof value === 'string' && field.options.includes(value)
        ? undefined
        : `"${field.label}" is one of: ${field.options.join(', ')}`;
  }
}

export type ContactFields = ReturnType<typeof createContactFields>;

export function createContactFields(deps: { db: Db; audit: AuditService }) {
  const { db, audit } = deps;

  function assertAccount(ctx: AccountContext) {
    if (ctx.org.kind !== 'account') throw forbidden('only accounts have contacts');
  }

  async function list(accountId: string, q: Queryable = db): Promise<ContactField[]> {
    const rows = await q.query(
      'SELECT * FROM contact_fields WHERE organization_id = $1 ORDER BY position, key',
      [accountId],
    );
    return rows.map(toField);
  }

  async function one(q: Queryable, accountId: string, key: string) {
    const row = await q.maybeOne('SELECT * FROM contact_fields WHERE organization_id = $1 AND key = $2', [
      accountId,
      key,
    ]);
    return row ? toField(row) : undefined;
  }

  const fields = {
    list: (ctx: AccountContext, q: Queryable = db) => {
      assertAccount(ctx);
      return list(ctx.org.id, q);
    },

    /**
     * Defines a field. An existing key is a 409 unless `replace` is set
     * (a template upgrade forced by the account's admin), which rewrites its
     * label, type and options.
     */
    async define(
      ctx: OrgContext,
      input: ContactFieldInput,
      opts: { replace?: boolean; q?: Queryable } = {},
    ): Promise<ContactField> {
      assertAccount(ctx);
      if (!opts.q) return db.transaction((tx) => fields.define(ctx, input, { ...opts, q: tx }));
      const q = opts.q;
      const existing = await one(q, ctx.org.id, input.key);
      if (existing && !opts.replace)
        throw conflict(`the field ${input.key} already exists`, [
          { field: 'body.key', reason: 'already defined' },
        ]);
      if (!existing) {
        const { n } = await q.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM contact_fields WHERE organization_id = $1',
          [ctx.org.id],
        );
        if (n >= LIMITS.customFieldKeys)
          throw conflict(`an account has at most ${LIMITS.customFieldKeys} custom fields`);
      }
      const row = await q.one(
        `INSERT INTO contact_fields (organization_id, key, label, type, options, position)
         VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(position) + 1, 0) FROM contact_fields WHERE organization_id = $1))
         ON CONFLICT (organization_id, key) DO UPDATE
           SET label = EXCLUDED.label, type = EXCLUDED.type, options = EXCLUDED.options, updated_at = now()
         RETURNING *`,
        [ctx.org.id, input.key, input.label, input.type, input.options ?? []],
      );
      await audit.record(q, {
        organizationId: ctx.org.id,
        actor: ctx.actor,
        action: existing ? 'contact_field.replaced' : 'contact_field.created',
        targetType: 'contact_field',
        targetId: input.key,
        data: { label: input.label, type: input.type },
      });
      return toField(row);
    },

    async change(ctx: OrgContext, key: string, patch: ContactFieldPatchInput): Promise<ContactField> {
      assertAccount(ctx);
      return db.transaction(async (tx) => {
        const field = await one(tx, ctx.org.id, key);
        if (!field) throw notFound('contact field');
        if (patch.options && field.type !== 'select')
          throw new PlazaError('PLAZA_VALIDATION', `body.options: a ${field.type} field takes no options`, {
            fields: [{ field: 'body.options', reason: `a ${field.type} field takes no options` }],
          });
        if (patch.options && patch.options.length === 0)
          throw new PlazaError('PLAZA_VALIDATION', 'body.options: a select field needs at least one option', {
            fields: [{ field: 'body.options', reason: 'a select field needs at least one option' }],
          });
        const row = await tx.one(
          `UPDATE contact_fields SET label = coalesce($3, label), options = coalesce($4, options), updated_at = now()
           WHERE organization_id = $1 AND key = $2 RETURNING *`,
          [ctx.org.id, key, patch.label ?? null, patch.options ?? null],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'contact_field.changed',
          targetType: 'contact_field',
          targetId: key,
          data: { ...patch },
        });
        return toField(row);
      });
    },

    /** Removes the definition; the values contacts hold under the key stay (untyped). */
    async remove(ctx: OrgContext, key: string, q?: Queryable): Promise<void> {
      assertAccount(ctx);
      const run = async (t: Queryable) => {
        const row = await t.maybeOne(
          'DELETE FROM contact_fields WHERE organization_id = $1 AND key = $2 RETURNING key',
          [ctx.org.id, key],
        );
        if (!row) throw notFound('contact field');
        await audit.record(t, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'contact_field.deleted',
          targetType: 'contact_field',
          targetId: key,
        });
      };
      await (q ? run(q) : db.transaction(run));
    },

    /** Tags kept ready plus tags in use, with how many contacts carry each, A to Z. */
    async tags(ctx: OrgContext, q: Queryable = db): Promise<Array<{ name: string; contacts: number }>> {
      assertAccount(ctx);
      return q.query(
        `SELECT name, sum(n)::int AS contacts FROM (
           SELECT name, 0 AS n FROM contact_tags WHERE organization_id = $1
           UNION ALL
           SELECT unnest(tags) AS name, 1 AS n FROM contacts WHERE organization_id = $1
         ) t GROUP BY name ORDER BY name`,
        [ctx.org.id],
      );
    },

    /** Keeps tags ready (lowercased like contact tags); tags already there are left alone. Returns the added ones. */
    async addTags(ctx: OrgContext, names: string[], q: Queryable = db): Promise<string[]> {
      assertAccount(ctx);
      const problems: FieldError[] = [];
      const tags = names.flatMap((name, i) => {
        const parsed = Tag.safeParse(name);
        if (parsed.success) return [parsed.data];
        problems.push({ field: `body.tags.${i}`, reason: parsed.error.issues[0].message });
        return [];
      });
      if (problems.length)
        throw new PlazaError('PLAZA_VALIDATION', `${problems[0].field}: ${problems[0].reason}`, {
          fields: problems,
        });
      const added = await q.query<{ name: string }>(
        `INSERT INTO contact_tags (organization_id, name) SELECT $1, unnest($2::text[])
         ON CONFLICT DO NOTHING RETURNING name`,
        [ctx.org.id, [...new Set(tags)]],
      );
      if (added.length)
        await audit.record(q, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'contact_tag.created',
          targetType: 'contact_tag',
          data: { tags: added.map((r) => r.name) },
        });
      return added.map((r) => r.name);
    },

    /** Drops a ready-made tag (contacts that carry it keep it). */
    async removeTag(ctx: OrgContext, name: string, q: Queryable = db): Promise<boolean> {
      assertAccount(ctx);
      const row = await q.maybeOne(
        'DELETE FROM contact_tags WHERE organization_id = $1 AND name = $2 RETURNING name',
        [ctx.org.id, name.toLowerCase()],
      );
      return Boolean(row);
    },

    /**
     * Checks custom-field values against the account's definitions; throws
     * 400 naming each failing key (`body.customFields.<key>`).
     */
    async check(accountId: string, values: Record<string, unknown>, q: Queryable = db): Promise<void> {
      const keys = Object.keys(values);
      if (keys.length === 0) return;
      const rows = await q.query(
        'SELECT * FROM contact_fields WHERE organization_id = $1 AND key = ANY($2)',
        [accountId, keys],
      );
      const problems: FieldError[] = [];
      for (const row of rows) {
        const field = toField(row);
        const reason = fieldValueProblem(field, values[field.key]);
        if (reason) problems.push({ field: `body.customFields.${field.key}`, reason });
      }
      if (problems.length)
        throw new PlazaError('PLAZA_VALIDATION', `${problems[0].field}: ${problems[0].reason}`, {
          fields: problems,
        });
    },
  };
  return fields;
}
