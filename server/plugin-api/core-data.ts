import type { Queryable, Tx } from '../db/index.ts';
import type { BulkInstallOutcome } from '../modules/agency/index.ts';
import type { ContactField, ContactFieldInput } from '../modules/contacts/index.ts';
import type { Actor, OrgContext } from '../tenancy.ts';

/**
 * Core data a plugin may read and add to through its context: an account's
 * contact custom fields, tags and sample contacts (`ctx.contacts`), and the
 * apps installed in it (`ctx.installations`). Every call takes the account's
 * `OrgContext` (the `org` of an org route, so the caller's membership was
 * checked by the router), and writes take the plugin's transaction, so a
 * plugin can change its own tables and these in one commit.
 */
export interface PluginContacts {
  /** The account's custom-field definitions, in display order. */
  fields(account: OrgContext, q?: Queryable): Promise<ContactField[]>;
  /** Defines a field in `tx`; an existing key is a 409 unless `replace` (overwrites label, type, options). */
  defineField(
    tx: Tx,
    account: OrgContext,
    field: ContactFieldInput,
    opts?: { replace?: boolean },
  ): Promise<ContactField>;
  /** Removes a field's definition (values on contacts stay); 404 when there is none. */
  removeField(tx: Tx, account: OrgContext, key: string): Promise<void>;
  /** Ready-made tags and tags in use, with how many contacts carry each. */
  tags(account: OrgContext, q?: Queryable): Promise<Array<{ name: string; contacts: number }>>;
  /** Keeps tags ready (lowercased); returns those that were not there yet. */
  addTags(tx: Tx, account: OrgContext, tags: string[]): Promise<string[]>;
  /** Drops a ready-made tag (contacts keep it); false when it was not there. */
  removeTag(tx: Tx, account: OrgContext, tag: string): Promise<boolean>;
  /**
   * Adds an example contact marked as sample data of `set` (stored as
   * `<plugin>:<set>`), checked like any contact write (400 naming the field).
   * Null when a contact with its email already exists: samples never touch real data.
   */
  createSample(
    tx: Tx,
    account: OrgContext,
    contact: {
      name?: string;
      email?: string | null;
      phone?: string | null;
      tags?: string[];
      customFields?: Record<string, string | number | boolean>;
    },
    set: string,
  ): Promise<{ id: string } | null>;
  /** Deletes this plugin's sample contacts of `set` in the account; returns how many. */
  deleteSamples(tx: Tx, account: OrgContext, set: string): Promise<number>;
  /** How many of this plugin's sample contacts of `set` the account has. */
  countSamples(account: OrgContext, set: string, q?: Queryable): Promise<number>;
}

export interface PluginInstalledApp {
  installationId: string;
  appId: string;
  slug: string;
  name: string;
  grantedScopes: string[];
}

export interface PluginListing {
  appId: string;
  slug: string;
  name: string;
  tagline: string;
  iconUrl: string | null;
  /** The live version's scopes in plain words; optional ones are granted only when chosen. */
  scopes: Array<{ name: string; description: string; optional: boolean }>;
}

export interface PluginInstallations {
  /** The account's active installations. */
  list(account: OrgContext): Promise<PluginInstalledApp[]>;
  /** A marketplace listing by slug; undefined when the app is not listed. */
  listing(slug: string): Promise<PluginListing | undefined>;
  /**
   * The agency bulk install (one consent for many sub-accounts): `actor` must
   * be an owner or admin of the agency `agencyId` (else 404/403), as on the
   * bulk-install page. Required scopes are always granted, `scopes` adds
   * optional ones. Each sub-account is reported on its own.
   */
  bulkInstall(
    actor: Actor,
    agencyId: string,
    input: { slug: string; subAccountIds: string[]; scopes?: string[] },
  ): Promise<BulkInstallOutcome>;
}
