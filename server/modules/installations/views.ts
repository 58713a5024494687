import type { z } from 'zod';
import { installLinkFor } from '../../lib/urls.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import type { AppsService } from '../apps/index.ts';
import type { InstalledAppSchema, ScopeInWordsSchema } from './schemas.ts';
import type { Installation } from './service.ts';

/**
 * What an account's installed-apps page shows of each installation: the app
 * (name, icon), the consented version, who installed it, the granted scopes
 * in plain words, and whether the app's live version asks for more access
 * than the account granted (with the link that starts the approval: the
 * app's own install link, which leads to Plaza's consent page, where the
 * installation is upgraded in place).
 */
export type ScopeInWords = z.output<typeof ScopeInWordsSchema>;
export type InstalledApp = z.output<typeof InstalledAppSchema>;

type Scope = { name: string; optional: boolean };

/**
 * Scopes of the live version the installation lacks: new ones, and ones that
 * became required. Optional scopes the account already declined on the
 * installed version are not asked again. Nothing when the installation is on
 * the live version or a newer one (development mode).
 */
export function pendingScopes(
  granted: string[],
  installed: { number: number; scopes: Scope[] } | undefined,
  live: { number: number; scopes: Scope[] } | null,
): Scope[] {
  if (!live || (installed && installed.number >= live.number)) return [];
  const has = new Set(granted);
  const offered = new Set((installed?.scopes ?? []).map((s) => s.name));
  return live.scopes.filter((s) => !has.has(s.name) && (!s.optional || !offered.has(s.name)));
}

export function createInstalledAppsView(deps: {
  apps: Pick<AppsService, 'installedAppInfo'>;
  users: (ids: string[]) => Promise<Map<string, { name: string }>>;
  scopes: ScopeCatalog;
  /** This Plaza's public URL, handed to apps as `plaza_url`. */
  baseUrl: string;
}) {
  const inWords = (name: string): ScopeInWords => {
    const def = deps.scopes.get(name);
    return { name, description: def?.consentText ?? name, sensitivity: def?.sensitivity ?? 'basic' };
  };

  return async function describe(installations: Installation[]): Promise<InstalledApp[]> {
    const appIds = [...new Set(installations.map((i) => i.appId))];
    const versionIds = [...new Set(installations.map((i) => i.versionId))];
    const userIds = [...new Set(installations.map((i) => i.installedBy).filter((u): u is string => !!u))];
    const [info, users] = await Promise.all([
      deps.apps.installedAppInfo(appIds, versionIds),
      deps.users(userIds),
    ]);
    return installations.map(({ grantId: _grantId, ...inst }) => {
      const app = info.apps.get(inst.appId);
      const version = info.versions.get(inst.versionId);
      const pending = pendingScopes(inst.grantedScopes, version, app?.live ?? null);
      return {
        ...inst,
        app: {
          id: inst.appId,
          slug: app?.slug ?? '',
          name: app?.name ?? version?.name ?? inst.appId,
          iconUrl: app?.iconUrl ?? version?.iconUrl ?? null,
          status: app?.status ?? 'active',
        },
        version: { id: inst.versionId, number: version?.number ?? null },
        installedByName: inst.installedBy ? (users.get(inst.installedBy)?.name ?? null) : null,
        scopes: inst.grantedScopes.map(inWords),
        upgrade:
          pending.length && app?.live && app.status === 'active'
            ? {
                versionId: app.live.versionId,
                versionNumber: app.live.number,
                scopes: pending.map((s) => ({ ...inWords(s.name), optional: s.optional })),
                approveUrl: app.live.installUrl ? installLinkFor(app.live.installUrl, deps.baseUrl) : null,
              }
            : null,
      };
    });
  };
}

export type DescribeInstallations = ReturnType<typeof createInstalledAppsView>;
