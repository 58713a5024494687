/**
 * The plugin API: the only module a plugin may import from Plaza
 * (`import { definePlugin, z, defineRoute } from '../../server/plugin-api/index.ts'`).
 * Everything here is stable surface for plugin authors; the rest of `server/`
 * may change under them. A test scans plugins for imports that bypass it.
 */
export { z } from 'zod';
export type { Db, Queryable, Tx } from '../db/index.ts';
export {
  conflict,
  type ErrorCode,
  type FieldError,
  forbidden,
  invalid,
  notFound,
  PlazaError,
} from '../errors.ts';
export { readRawBody } from '../http/body.ts';
export { decodeCursor, encodeCursor, type Page, toPage } from '../http/pagination.ts';
export {
  type Access,
  type AnyRoute,
  defineRoute,
  Email,
  type HandlerInput,
  type Method,
  OrgKindSchema,
  Pagination,
  page,
  RoleSchema,
  Timestamp,
} from '../http/route.ts';
export { newId } from '../ids.ts';
export type { JobInfo, JobOptions } from '../jobs/types.ts';
export {
  type ExtensionErrorCode,
  ExtensionPointError,
  type ExtensionPointId,
  type ExtensionPoints,
} from '../lib/extension-points.ts';
export type { Logger } from '../logger.ts';
export type { PlazaEvent } from '../modules/events/index.ts';
export type { InstallationGate, InstallationGateInput } from '../modules/installations/index.ts';
export type {
  Direction,
  LedgerAccountKind,
  LedgerAccountRef,
  LedgerEntryInput,
  PostInput,
  PostResult,
  SourceRef,
} from '../modules/ledger/index.ts';
export type { MarketplacePricing, PriceQuote } from '../modules/marketplace/index.ts';
export type { Theme, ThemeRequest, ThemeResolver } from '../modules/oauth/index.ts';
export type {
  LimitedResource,
  OrganizationLimitInput,
  OrganizationLimits,
} from '../modules/organizations/index.ts';
export {
  type Actor,
  hasRole,
  type OrgContext,
  type OrgKind,
  type PlatformRole,
  type Role,
  SYSTEM_ACTOR,
} from '../tenancy.ts';
export type {
  PlatformChargeInput,
  PlatformChargeResult,
  PlatformChargeSettles,
  PlatformCheckoutInput,
  PluginAudit,
  PluginContext,
  PluginEvents,
  PluginJobDefinition,
  PluginJobs,
  PluginLedger,
  PluginMail,
  PluginOrg,
  PluginOrgs,
  PluginPayments,
  PluginRoutes,
  PluginSettings,
} from './context.ts';
export type {
  PluginContacts,
  PluginInstallations,
  PluginInstalledApp,
  PluginListing,
} from './core-data.ts';
export {
  definePlugin,
  type PluginEventType,
  type PluginManifest,
  type PluginPage,
  type PluginScope,
  type PluginSettingsDeclaration,
} from './manifest.ts';
