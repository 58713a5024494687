import type { z } from 'zod';
import type { PluginContext } from './context.ts';

/**
 * What a plugin declares about itself. The host validates it before anything
 * of the plugin runs, so a broken plugin stops the boot with its name and the
 * reason instead of failing later at run time.
 */
export interface PluginManifest<S extends z.ZodObject = z.ZodObject<Record<string, never>>> {
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
  /** Called once at boot, after migrations, in requirement order. Throwing stops the boot. */
  setup(ctx: PluginContext<z.output<S>>): void | Promise<void>;
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
export function definePlugin<S extends z.ZodObject = z.ZodObject<Record<string, never>>>(
  manifest: PluginManifest<S>,
): PluginManifest<S> {
  return manifest;
}
