import { parseInput } from '../http/route.ts';
import type { AgencyService } from '../modules/agency/index.ts';
import type { AppsService } from '../modules/apps/index.ts';
import { ContactCreate, type ContactsService } from '../modules/contacts/index.ts';
import type { InstallationsService } from '../modules/installations/index.ts';
import type { MarketplaceService } from '../modules/marketplace/index.ts';
import type { OrganizationsService } from '../modules/organizations/index.ts';
import type { PluginContacts, PluginInstallations } from '../plugin-api/core-data.ts';

export interface CoreDataServices {
  contacts: ContactsService;
  installations: InstallationsService;
  apps: AppsService;
  marketplace: MarketplaceService;
  agency: AgencyService;
  organizations: OrganizationsService;
}

export interface CoreDataFacades {
  contacts: PluginContacts;
  installations: PluginInstallations;
}

/** `ctx.contacts` and `ctx.installations` of one plugin (plugin-api/core-data.ts). */
export function createCoreDataFacades(plugin: string, s: CoreDataServices): CoreDataFacades {
  // Sample sets are the plugin's own: another plugin's samples are out of its reach.
  const set = (name: string) => `${plugin}:${name}`;
  const contacts: PluginContacts = {
    fields: (account, q) => s.contacts.fields.list(account, q),
    defineField: (tx, account, field, opts) =>
      s.contacts.fields.define(account, field, { replace: opts?.replace, q: tx }),
    removeField: (tx, account, key) => s.contacts.fields.remove(account, key, tx),
    tags: (account, q) => s.contacts.fields.tags(account, q),
    addTags: (tx, account, tags) => s.contacts.fields.addTags(account, tags, tx),
    removeTag: (tx, account, tag) => s.contacts.fields.removeTag(account, tag, tx),
    createSample: (tx, account, contact, name) =>
      s.contacts.createSample(tx, account, parseInput('body', ContactCreate, contact), set(name)),
    deleteSamples: (tx, account, name) => s.contacts.deleteSamples(tx, account, set(name)),
    countSamples: (account, name, q) => s.contacts.countSamples(account, set(name), q),
  };

  const installations: PluginInstallations = {
    async list(account) {
      const found = [];
      let cursor: string | undefined;
      do {
        const page = await s.installations.listForAccount(account, { limit: 100, cursor });
        found.push(...page.data);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const info = await s.apps.installedAppInfo(
        found.map((i) => i.appId),
        found.map((i) => i.versionId),
      );
      return found.map((i) => ({
        installationId: i.id,
        appId: i.appId,
        slug: info.apps.get(i.appId)?.slug ?? i.appId,
        name: info.apps.get(i.appId)?.name ?? i.appId,
        grantedScopes: i.grantedScopes,
      }));
    },
    async listing(slug) {
      try {
        const l = await s.marketplace.getBySlug(slug);
        return {
          appId: l.appId,
          slug: l.slug,
          name: l.name,
          tagline: l.tagline,
          iconUrl: l.iconUrl,
          scopes: l.scopes.map((x) => ({ name: x.name, description: x.description, optional: x.optional })),
        };
      } catch (err) {
        if ((err as { status?: number }).status === 404) return undefined;
        throw err;
      }
    },
    async bulkInstall(actor, agencyId, input) {
      const agency = await s.organizations.resolveContext(actor, agencyId);
      return s.agency.bulkInstall(agency, {
        slug: input.slug,
        subAccountIds: input.subAccountIds,
        scopes: input.scopes ?? [],
      });
    },
  };
  return { contacts, installations };
}

/** A context built without the core (the host's unit tests): using these throws. */
export function missingCoreData(): CoreDataFacades {
  const missing = () => {
    throw new Error('ctx.contacts and ctx.installations need the core (createCore)');
  };
  return {
    contacts: new Proxy({} as PluginContacts, { get: () => missing }),
    installations: new Proxy({} as PluginInstallations, { get: () => missing }),
  };
}
