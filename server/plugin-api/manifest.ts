import type { z } from 'zod';
import type { OrgKind, PlatformRole, Role } from '../tenancy.ts';
import type { PluginContext } from './context.ts';

/**
 * What a plugin declares about itself. The host validates it before anything
 * of the plugin runs, so a broken plugin stops the boot with its name and the
 * reason instead of failing later at run time.
 */
export interface PluginManifest<
  S extends z.ZodObject = z.ZodObject<Record<string, never>>,
  T extends z.ZodObject = z.ZodObject<Record<string, never>>,
> {
  /** Lowercase letters, digits and single hyphens (`billing`, `data-products`); equals the folder name. */
  name: string;
  /** Semantic version of the plugin (`1.2.0`). */
  version: string;
  description?: string;
  /** Plugins that must be loaded too; they are set up before this one. */
  requires?: string[];
  /**
   * The plugin's settings. Each key `fooBar` is read from the environment
   * variable `PLAZA_PLUGIN_<NAME>_FOO_BAR` and validated at boot. Values
   * arrive as strings: use `z.coerce.number()`, `z.stringbool()` and so on.
   */
  config?: S;
  /** Scopes this plugin adds to the catalog (an app requests them, the consent screen shows them). */
  scopes?: PluginScope[];
  /** Event types this plugin emits. It may emit only these. */
  eventTypes?: PluginEventType[];
  /**
   * Error codes this plugin answers with, each `PLAZA_<PLUGIN>_<NAME>` with its
   * HTTP status and title; `ctx.error(code, detail)` makes one. Problem
   * documents carry the code, and the OpenAPI document lists it.
   */
  errors?: Record<string, { status: number; title: string }>;
  /** Folder of `NNN_name.sql` migrations, relative to the plugin (default `migrations` when it exists). */
  migrations?: string;
  /** Per-organization settings, changed by the organization's admins in the web app (`ctx.settings`). */
  settings?: PluginSettingsDeclaration<T>;
  /** Pages the web app shows for this plugin (Vue files in `plugins/<name>/web/`). */
  web?: { pages: PluginPage[] };
  /** Called once at boot, after migrations, in requirement order. Throwing stops the boot. */
  setup(ctx: PluginContext<z.output<S>, z.output<T>>): void | Promise<void>;
}

export interface PluginSettingsDeclaration<T extends z.ZodObject = z.ZodObject> {
  /**
   * Per-organization settings. Every field has a default, so an organization
   * that never saved reads defaults. Fields the form renders: string, number,
   * integer, boolean, enum (`.describe()` gives the label's help text).
   */
  schema: T;
  /** Least org role that may read and change them (default 'admin'). */
  minRole?: Role;
  /** Org kinds that have them (default: all). */
  orgKinds?: OrgKind[];
}

export interface PluginPage {
  /**
   * URL segment(s) under the area: org pages at `/orgs/:orgId/x/<plugin>/<path>`,
   * operator pages at `/operator/x/<plugin>/<path>`.
   */
  path: string;
  /** Vue single-file component, relative to `plugins/<name>/web/` (e.g. 'PlanPage.vue'). */
  component: string;
  /** Navigation label. */
  title: string;
  area: 'org' | 'operator';
  /** org area: least org role that sees it in the nav and may open it (default 'member'). */
  minRole?: Role;
  /** org area: which org kinds (default all). */
  orgKinds?: OrgKind[];
  /** operator area: platform roles that see it and may open it (default ['admin']). */
  platformRoles?: PlatformRole[];
}

export interface PluginScope {
  /** `resource:action`, e.g. `invoices:read`. */
  name: string;
  /** Plain words for the consent screen: "See your invoices". */
  consentText: string;
  /** `personal` and `financial` scopes get a closer look in app review. */
  sensitivity: 'basic' | 'personal' | 'financial';
}

export interface PluginEventType {
  /** Dotted, lowercase: `invoice.paid`. */
  type: string;
  description: string;
  /** The scope an app needs to receive it as a webhook; null for platform-internal events. */
  scope: string | null;
  /** Schema of the payload; `emit` checks every payload against it. */
  payload: z.ZodType;
}

/**
 * Declares a plugin. It returns the manifest unchanged; its job is typing:
 * `ctx.config` in `setup` gets the type of the `config` schema.
 *
 * ```ts
 * export default definePlugin({ name: 'notes', version: '1.0.0', setup(ctx) { ... } });
 * ```
 */
export function definePlugin<
  S extends z.ZodObject = z.ZodObject<Record<string, never>>,
  T extends z.ZodObject = z.ZodObject<Record<string, never>>,
>(manifest: PluginManifest<S, T>): PluginManifest<S, T> {
  return manifest;
}
