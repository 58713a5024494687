import { z } from 'zod';
import type { Db, Queryable } from '../db/index.ts';
import { type FieldError, PlazaError } from '../errors.ts';
import type { AuditService } from '../modules/audit/index.ts';
import type { PluginSettingsDeclaration } from '../plugin-api/manifest.ts';
import type { Actor } from '../tenancy.ts';

/** The host's settings table; plugins reach it only through `ctx.settings` and the host routes. */
export const SETTINGS_MIGRATIONS = {
  owner: 'plugin-host',
  dir: new URL('./migrations', import.meta.url).pathname,
};

/**
 * One plugin's per-organization settings. What is stored is what an admin
 * saved; reading parses field by field, so a value the schema no longer
 * accepts (after an upgrade) reads as the field's default instead of failing.
 */
export function createSettingsStore(
  plugin: string,
  decl: PluginSettingsDeclaration,
  deps: { db: Db; audit: AuditService },
) {
  const shape = decl.schema.shape as Record<string, z.ZodType>;

  const fromStored = (stored: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(shape).map(([key, field]) => {
        const parsed = field.safeParse(stored[key]);
        return [key, parsed.success ? parsed.data : field.parse(undefined)];
      }),
    );

  async function stored(orgId: string, q: Queryable): Promise<Record<string, unknown>> {
    const row = await q.maybeOne<{ settings: Record<string, unknown> }>(
      'SELECT settings FROM plaza_plugin_settings WHERE organization_id = $1 AND plugin = $2',
      [orgId, plugin],
    );
    return row?.settings ?? {};
  }

  return {
    decl,
    get: async (orgId: string, q: Queryable = deps.db) => fromStored(await stored(orgId, q)),

    /** Merges `values` over what is saved, validates the whole, saves and audits in `q`. */
    async set(
      q: Queryable,
      orgId: string,
      values: Record<string, unknown>,
      actor: Actor,
      where = 'values',
    ): Promise<Record<string, unknown>> {
      const fields: FieldError[] = Object.keys(values)
        .filter((k) => !(k in shape))
        .map((k) => ({ field: `${where}.${k}`, reason: 'is not a setting of this plugin' }));
      // Two saves at once would each merge over the same old values: the second waits for the first.
      await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`plugin-settings:${plugin}:${orgId}`]);
      const current = await stored(orgId, q);
      const parsed = decl.schema.safeParse({ ...fromStored(current), ...values });
      if (!parsed.success)
        fields.push(
          ...parsed.error.issues.map((i) => ({
            field: [where, ...i.path.map(String)].join('.'),
            reason: i.message,
          })),
        );
      if (fields.length || !parsed.success)
        throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), {
          fields,
        });
      const next = parsed.data as Record<string, unknown>;
      await q.query(
        `INSERT INTO plaza_plugin_settings (organization_id, plugin, settings, updated_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id, plugin) DO UPDATE SET settings = $3, updated_at = now(), updated_by = $4`,
        [orgId, plugin, JSON.stringify(next), actor.userId],
      );
      const changed = Object.keys(next).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]));
      await deps.audit.record(q, {
        organizationId: orgId,
        actor,
        action: `${plugin}.settings_updated`,
        targetType: 'plugin',
        targetId: plugin,
        data: { changed: Object.fromEntries(changed.map((k) => [k, next[k]])) },
      });
      return next;
    },

    /** The form's JSON Schema: input side, so defaults are shown and optional fields are optional. */
    jsonSchema: () => z.toJSONSchema(decl.schema, { io: 'input', unrepresentable: 'any' }),
  };
}

export type SettingsStore = ReturnType<typeof createSettingsStore>;
