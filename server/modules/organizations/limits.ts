import type { Queryable } from '../../db/index.ts';
import type { ExtensionRegistry } from '../../lib/extension-points.ts';

/** What core counts against an organization's plan. */
export type LimitedResource = 'contacts' | 'seats' | 'installations';

/** What `organization.limits` sees of a create about to happen, inside its transaction. */
export interface OrganizationLimitInput {
  organizationId: string;
  resource: LimitedResource;
  /** How many are being added (1 today). */
  adding: number;
  /**
   * How many exist now, counted by core in `q` after it locked the
   * organization for this resource, so two concurrent creates never both see
   * room for one more.
   */
  current: number;
  /** The creating transaction: read in it; throwing rolls the create back. */
  q: Queryable;
}

/**
 * `organization.limits`: a plugin's say over creates that a plan limits
 * (billing). `check` returns to allow, or throws a PlazaError (402
 * `PLAZA_ENTITLEMENT` naming the feature and the plan that unlocks it). One
 * extension only. A degraded organization is refused the same way.
 */
export interface OrganizationLimits {
  check(input: OrganizationLimitInput): Promise<void>;
}

declare module '../../lib/extension-points.ts' {
  interface ExtensionPoints {
    'organization.limits': OrganizationLimits;
  }
}

export function createOrganizationLimits(extensions: ExtensionRegistry) {
  const point = extensions.define('organization.limits', {
    owner: 'organizations',
    description: 'May refuse a new contact, member or installation beyond the organization’s plan',
    single: true,
  });
  return {
    /**
     * Call inside the creating transaction, before the insert. Locks the
     * organization's row for the resource's count (a transaction-scoped
     * advisory lock, so other writes to the organization are not blocked),
     * counts with `count(q)` and asks the extension, if any.
     */
    async checkLimit(
      q: Queryable,
      input: { organizationId: string; resource: LimitedResource; adding?: number },
      count: (q: Queryable) => Promise<number>,
    ): Promise<void> {
      const ext = point.list()[0];
      if (!ext) return;
      await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `limits:${input.resource}:${input.organizationId}`,
      ]);
      const current = await count(q);
      await ext.value.check({ ...input, adding: input.adding ?? 1, current, q });
    },
  };
}

export type OrganizationLimitsAdmission = ReturnType<typeof createOrganizationLimits>;
