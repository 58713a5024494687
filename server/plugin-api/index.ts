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
export type { Logger } from '../logger.ts';
export type { PlazaEvent } from '../modules/events/service.ts';
export { type Actor, hasRole, type OrgContext, type OrgKind, type Role } from '../tenancy.ts';
export type {
  PluginContext,
  PluginEvents,
  PluginJobDefinition,
  PluginJobs,
  PluginRoutes,
} from './context.ts';
export { definePlugin, type PluginEventType, type PluginManifest, type PluginScope } from './manifest.ts';
