import type { Db } from '../../db/index.ts';
import { conflict, forbidden, invalid, notFound, PlazaError } from '../../errors.ts';
import type { Page } from '../../http/pagination.ts';
import { withCompensation } from '../../lib/compensation.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog, ScopeDefinition } from '../../scopes.ts';
import { hasRole, type OrgContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';

/**
 * Agency installs: an owner or admin of an agency installs an app into
 * several of its sub-accounts at once. Each sub-account gets what the consent
 * page would have given it: an OAuth grant (account = the sub-account, the
 * app's client, the approved scopes for the Plaza API) and an installation
 * carrying the grant id (`app.installed` through the outbox, audited in the
 * sub-account with the agency admin as the actor). The app then fetches each
 * installation's tokens with its client credentials
 * (`POST /v1/app/installations/:id/token`).
 *
 * Every sub-account is reported on its own; one that cannot take the app
 * leaves nothing behind: its grant is saved by the OAuth provider outside the
 * installation's transaction, so it is a compensated step, discarded when the
 * installation fails.
 */
export type BulkInstallStatus = 'installed' | 'already_installed' | 'not_sub_account' | 'not_installable';

export interface BulkInstallResult {
  subAccountId: string;
  status: BulkInstallStatus;
  /** The new installation, or the one already there. */
  installationId: string | null;
  /** Why it was not installed. */
  detail: string | null;
}

export interface BulkInstallInput {
  appId?: string;
  slug?: string;
  subAccountIds: string[];
  /** Optional scopes the admin chose (required ones are always granted and may be listed too). */
  scopes?: string[];
  /** The live version the preview showed; when the app has a newer one, nothing is installed (409). */
  versionId?: string;
}

export interface BulkInstallOutcome {
  app: { id: string; name: string };
  /** Null when no sub-account could take the app (no version was resolved). */
  versionId: string | null;
  grantedScopes: string[];
  results: BulkInstallResult[];
  installed: number;
  failed: number;
}

export interface BulkInstallPreview {
  app: {
    id: string;
    slug: string;
    name: string;
    tagline: string;
    developerName: string;
    iconUrl: string | null;
    privacyUrl: string | null;
    termsUrl: string | null;
    version: { id: string; number: number };
  };
  scopes: Array<{
    name: string;
    consentText: string;
    sensitivity: ScopeDefinition['sensitivity'];
    optional: boolean;
  }>;
  subAccounts: Page<{
    id: string;
    name: string;
    installed: boolean;
    installationId: string | null;
    grantedScopes: string[] | null;
    /** Whether this sub-account can take the app now (not installed yet and the app installable). */
    installable: boolean;
    reason: string | null;
  }>;
}

/** The OAuth grants a bulk install makes (the OAuth module's service). */
export interface GrantStore {
  /** Saves the grant an approved consent would have made; returns its id. */
  save(input: {
    accountId: string;
    clientId: string;
    granted: string[];
    rejected: string[];
  }): Promise<string>;
  /** Deletes a grant no installation took (never used for tokens). */
  discard(grantId: string): Promise<void>;
}

export interface BulkInstallDeps {
  db: Db;
  log: Logger;
  grants: GrantStore;
  apps: AppsService;
  installations: InstallationsService;
  organizations: OrganizationsService;
  marketplace: MarketplaceService;
  scopes: ScopeCatalog;
  audit: AuditService;
}

/** At most this many sub-accounts in one request. */
export const BULK_INSTALL_MAX = 100;

const reasonOf = (err: unknown) => (err instanceof PlazaError ? err.message : 'cannot be installed');

export function createBulkInstaller(deps: BulkInstallDeps) {
  const { db, log, grants, apps, installations, organizations, marketplace, scopes, audit } = deps;

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies install apps into sub-accounts');
    if (!hasRole(org, 'admin'))
      throw forbidden('installing apps into sub-accounts needs the admin or owner role');
  }

  return {
    /** What the bulk-install page shows: the app's scopes in plain words and the agency's sub-accounts. */
    async preview(
      org: OrgContext,
      slug: string,
      page: { limit: number; cursor?: string },
    ): Promise<BulkInstallPreview> {
      assertAgencyAdmin(org);
      const listing = await marketplace.getBySlug(slug);
      const subs = await organizations.listSubAccounts(org, page);
      const data: BulkInstallPreview['subAccounts']['data'] = [];
      for (const sub of subs.data) {
        const inst = await installations.findActive(sub.id, listing.appId);
        let reason: string | null = inst ? 'already installed' : null;
        if (!inst)
          await apps.assertInstallable(sub.id, listing.appId).catch((err) => {
            reason = reasonOf(err);
          });
        data.push({
          id: sub.id,
          name: sub.name,
          installed: Boolean(inst),
          installationId: inst?.id ?? null,
          grantedScopes: inst?.grantedScopes ?? null,
          installable: reason === null,
          reason,
        });
      }
      return {
        app: {
          id: listing.appId,
          slug: listing.slug,
          name: listing.name,
          tagline: listing.tagline,
          developerName: listing.developer.name,
          iconUrl: listing.iconUrl,
          privacyUrl: listing.privacyUrl,
          termsUrl: listing.termsUrl,
          version: listing.version,
        },
        scopes: listing.scopes.map((s) => ({
          name: s.name,
          consentText: s.description,
          sensitivity: scopes.get(s.name)?.sensitivity ?? 'basic',
          optional: s.optional,
        })),
        subAccounts: { data, nextCursor: subs.nextCursor },
      };
    },

    async install(org: OrgContext, input: BulkInstallInput): Promise<BulkInstallOutcome> {
      assertAgencyAdmin(org);
      const appId = input.slug ? (await marketplace.getBySlug(input.slug)).appId : input.appId;
      if (!appId) throw invalid('body.appId', 'name the app by appId or slug');
      const appName = (await apps.namesByIds([appId])).get(appId);
      if (appName === undefined) throw notFound('app');

      // Which of the ids are this agency's sub-accounts, and which of those may take the app.
      const results = new Map<string, BulkInstallResult>();
      const candidates: string[] = [];
      let versionId: string | null = null;
      const requested = [...new Set(input.subAccountIds)];
      for (const id of requested) {
        const sub = await organizations.byId(id);
        if (sub?.kind !== 'account' || sub.parentId !== org.org.id) {
          results.set(id, {
            subAccountId: id,
            status: 'not_sub_account',
            installationId: null,
            detail: 'not a sub-account of this agency',
          });
          continue;
        }
        const existing = await installations.findActive(id, appId);
        if (existing) {
          results.set(id, {
            subAccountId: id,
            status: 'already_installed',
            installationId: existing.id,
            detail: 'the app is already installed in this sub-account',
          });
          continue;
        }
        try {
          const target = await apps.assertInstallable(id, appId);
          // Sub-accounts are never a developer's test accounts: always the live version.
          versionId ??= target.versionId;
          if (target.versionId !== versionId) throw forbidden('another version of the app applies here');
          candidates.push(id);
        } catch (err) {
          results.set(id, {
            subAccountId: id,
            status: 'not_installable',
            installationId: null,
            detail: reasonOf(err),
          });
        }
      }

      // The scopes: required ones of the live version, plus the optional ones chosen.
      let granted: string[] = [];
      let rejected: string[] = [];
      let app = { id: appId, name: appName };
      let clientId = '';
      if (versionId) {
        const { app: found, version } = await apps.versionForReview(db, versionId);
        app = { id: found.id, name: version.name };
        clientId = found.clientId;
        if (input.versionId && input.versionId !== versionId)
          throw conflict(
            `${version.name} has a new version (${version.number}) since this page was shown: review its access again`,
            [{ field: 'body.versionId', reason: `the live version is now ${versionId}` }],
          );
        const declared = new Map(version.scopes.map((s) => [s.name, s]));
        const chosen = new Set(input.scopes ?? []);
        const unknown = [...chosen].filter((s) => !declared.has(s));
        if (unknown.length)
          throw invalid(
            'body.scopes',
            `${version.name} version ${version.number} does not ask for ${unknown.join(', ')}`,
          );
        granted = version.scopes
          .filter((s) => !s.optional || chosen.has(s.name))
          .map((s) => s.name)
          .sort();
        rejected = version.scopes.filter((s) => s.optional && !chosen.has(s.name)).map((s) => s.name);
        if (granted.length === 0)
          throw invalid('body.scopes', 'choose at least one scope: the app asks only for optional ones');
      }

      for (const id of candidates) {
        try {
          await installations.admit({
            accountId: id,
            appId,
            versionId: versionId!,
            grantedScopes: granted,
            actor: org.actor,
            via: 'bulk',
          });
        } catch (err) {
          if (!(err instanceof PlazaError) || err.status >= 500) throw err;
          results.set(id, {
            subAccountId: id,
            status: 'not_installable',
            installationId: null,
            detail: reasonOf(err),
          });
          continue;
        }
        try {
          const inst = await withCompensation(log, 'bulk install', async (step) => {
            const grantId = await step('grant', {
              do: () => grants.save({ accountId: id, clientId, granted, rejected }),
              undo: (saved) => grants.discard(saved),
            });
            return step('installation', {
              do: () =>
                db.transaction((tx) =>
                  installations.create(
                    {
                      accountId: id,
                      appId,
                      versionId: versionId!,
                      grantedScopes: granted,
                      actor: org.actor,
                      grantId,
                    },
                    tx,
                  ),
                ),
            });
          });
          results.set(id, { subAccountId: id, status: 'installed', installationId: inst.id, detail: null });
        } catch (err) {
          // The sub-account's plan has no room for another app (organization.limits): that one is not installable.
          if (err instanceof PlazaError && err.code === 'PLAZA_ENTITLEMENT') {
            results.set(id, {
              subAccountId: id,
              status: 'not_installable',
              installationId: null,
              detail: reasonOf(err),
            });
            continue;
          }
          if (!(err instanceof PlazaError && err.code === 'PLAZA_CONFLICT')) throw err;
          // A concurrent install won the race.
          const existing = await installations.findActive(id, appId);
          results.set(id, {
            subAccountId: id,
            status: 'already_installed',
            installationId: existing?.id ?? null,
            detail: 'the app is already installed in this sub-account',
          });
        }
      }

      const ordered = requested.map((id) => results.get(id)!);
      const installed = ordered.filter((r) => r.status === 'installed');
      await audit.record(db, {
        organizationId: org.org.id,
        actor: org.actor,
        action: 'app.bulk_installed',
        targetType: 'app',
        targetId: appId,
        data: {
          versionId,
          grantedScopes: granted,
          installed: installed.map((r) => ({
            subAccountId: r.subAccountId,
            installationId: r.installationId,
          })),
          skipped: ordered
            .filter((r) => r.status !== 'installed')
            .map((r) => ({ subAccountId: r.subAccountId, status: r.status })),
        },
      });
      return {
        app,
        versionId,
        grantedScopes: granted,
        results: ordered,
        installed: installed.length,
        failed: ordered.length - installed.length,
      };
    },
  };
}

export type BulkInstaller = ReturnType<typeof createBulkInstaller>;
