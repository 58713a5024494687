import { z } from 'zod';
import type { PluginManifest } from '../plugin-api/manifest.ts';
import { SCOPE_NAME } from '../scopes.ts';
import { describeValue, plainIssue, valueAt } from './issues.ts';

/** Plugin names: they become a folder, a URL segment, a table prefix, a job namespace and an env var. */
export const PLUGIN_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const NAME_RULE =
  'must be lowercase letters and digits, words joined by single hyphens, starting with a letter';
// semver.org's own expression (2.0.0), without build metadata captures.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** camelCase keys map one way to UPPER_SNAKE variables; anything else would be ambiguous. */
export const CONFIG_KEY = /^[a-z][a-zA-Z0-9]*$/;

const pluginName = z.string().max(40, { message: 'must be at most 40 characters' }).regex(PLUGIN_NAME, {
  message: NAME_RULE,
});
const zodSchema = (what: string) =>
  z.custom<z.ZodType>((v) => v instanceof z.ZodType, { message: `must be a zod schema (${what})` });

const manifestSchema = z.strictObject({
  name: pluginName,
  version: z.string().regex(SEMVER, { message: 'must be semver' }),
  description: z.string().max(500).optional(),
  requires: z.array(pluginName).optional(),
  config: zodSchema('z.object({...})')
    .refine((s) => s instanceof z.ZodObject, { message: 'must be a zod object schema (z.object({...}))' })
    .superRefine((s, ctx) => {
      if (!(s instanceof z.ZodObject)) return;
      for (const key of Object.keys(s.shape))
        if (!CONFIG_KEY.test(key))
          ctx.addIssue({ code: 'custom', path: [key], message: 'must be a camelCase key', input: key });
    })
    .optional(),
  scopes: z
    .array(
      z.strictObject({
        name: z.string().regex(SCOPE_NAME, { message: 'must be resource:action in lowercase' }),
        consentText: z.string().min(1).max(300),
        sensitivity: z.enum(['basic', 'personal', 'financial']),
      }),
    )
    .optional(),
  eventTypes: z
    .array(
      z.strictObject({
        type: z.string().regex(EVENT_TYPE, { message: 'must be dotted lowercase words (invoice.paid)' }),
        description: z.string().min(1).max(500),
        scope: z.string().nullable(),
        payload: zodSchema('z.object({...})'),
      }),
    )
    .optional(),
  errors: z
    .record(
      z
        .string()
        .regex(/^PLAZA_[A-Z0-9]+(_[A-Z0-9]+)+$/, { message: 'must be PLAZA_<PLUGIN>_<NAME> in UPPER_SNAKE' }),
      z.strictObject({ status: z.number().int().min(400).max(599), title: z.string().min(1).max(200) }),
    )
    .optional(),
  migrations: z.string().min(1).optional(),
  settings: z
    .strictObject({
      schema: zodSchema('z.object({...})').refine((s) => s instanceof z.ZodObject, {
        message: 'must be a zod object schema (z.object({...}))',
      }),
      minRole: z.enum(['owner', 'admin', 'member']).optional(),
      orgKinds: z
        .array(z.enum(['developer', 'agency', 'account']))
        .min(1)
        .optional(),
    })
    .optional(),
  web: z
    .strictObject({
      pages: z.array(
        z.strictObject({
          path: z.string().regex(/^[a-z0-9-]+(\/[a-z0-9-]+)*$/, {
            message: 'must be lowercase URL segments (plan, plans/history)',
          }),
          component: z
            .string()
            .regex(/^[A-Za-z0-9_-]+\.vue$/, { message: 'must be a .vue file name in web/' }),
          title: z.string().min(1).max(60),
          area: z.enum(['org', 'operator']),
          minRole: z.enum(['owner', 'admin', 'member']).optional(),
          orgKinds: z
            .array(z.enum(['developer', 'agency', 'account']))
            .min(1)
            .optional(),
          platformRoles: z
            .array(z.enum(['admin', 'reviewer']))
            .min(1)
            .optional(),
        }),
      ),
    })
    .optional(),
  setup: z.custom<PluginManifest['setup']>((v) => typeof v === 'function', {
    message: 'must be a function (setup(ctx) { ... })',
  }),
});

/** Validates a default export; returns the manifest or every problem as a sentence. */
export function validateManifest(
  value: unknown,
): { ok: true; manifest: PluginManifest<z.ZodObject> } | { ok: false; reasons: string[] } {
  if (value === null || typeof value !== 'object')
    return { ok: false, reasons: ['index.ts must `export default definePlugin({ ... })`'] };
  const parsed = manifestSchema.safeParse(value, { error: plainIssue });
  if (parsed.success) {
    // A plugin's codes carry its name (or, for a hyphenated name, its initials:
    // PLAZA_DP_ for data-products), so a problem document says whose error it is.
    const words = parsed.data.name.toUpperCase().split('-');
    const prefixes = [`PLAZA_${words.join('_')}_`];
    if (words.length > 1) prefixes.push(`PLAZA_${words.map((w) => w[0]).join('')}_`);
    const foreign = Object.keys(parsed.data.errors ?? {}).filter(
      (c) => !prefixes.some((p) => c.startsWith(p)),
    );
    if (foreign.length)
      return {
        ok: false,
        reasons: foreign.map((c) => `manifest.errors.${c} must start with ${prefixes.join(' or ')}`),
      };
    // An organization that never saved reads the defaults, so every field needs one.
    const schema = (value as PluginManifest).settings?.schema;
    const noDefault = Object.entries(schema?.shape ?? {})
      .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
      .map(([key]) => key);
    if (noDefault.length)
      return {
        ok: false,
        reasons: [`manifest.settings.schema fields need a default (.default(...)): ${noDefault.join(', ')}`],
      };
    return { ok: true, manifest: value as PluginManifest<z.ZodObject> };
  }
  return { ok: false, reasons: parsed.error.issues.map((issue) => describeIssue(value, issue)) };
}

function describeIssue(manifest: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const where = ['manifest', ...issue.path.map(String)].join('.');
    return `${where} has unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  const where = ['manifest', ...issue.path.map(String)].join('.');
  const value = valueAt(manifest, issue.path);
  const got = value === undefined ? '' : ` (got ${describeValue(value)})`;
  return `${where} ${issue.message}${got}`;
}
