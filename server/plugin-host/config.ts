import type { z } from 'zod';
import { type PluginProblem, problem } from './errors.ts';
import { describeValue, plainIssue } from './issues.ts';

export type Env = Record<string, string | undefined>;

/** `data-products` + `maxRows` -> `PLAZA_PLUGIN_DATA_PRODUCTS_MAX_ROWS`. */
export function configVariable(plugin: string, key: string): string {
  return `${configPrefix(plugin)}${upperSnake(key)}`;
}

export const configPrefix = (plugin: string) => `PLAZA_PLUGIN_${upperSnake(plugin)}_`;

const upperSnake = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replaceAll('-', '_')
    .toUpperCase();

/**
 * Reads a plugin's settings from its variables and validates them with its
 * schema. Unset and empty variables both mean "not given", so schema defaults
 * apply, as for core options. Each problem names the variable to fix.
 */
export function parsePluginConfig(
  plugin: string,
  schema: z.ZodObject | undefined,
  env: Env,
): { ok: true; value: Record<string, unknown> } | { ok: false; problems: PluginProblem[] } {
  if (!schema) return { ok: true, value: {} };
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const raw = env[configVariable(plugin, key)];
    input[key] = raw === '' ? undefined : raw;
  }
  const parsed = schema.safeParse(input, { error: plainIssue });
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const variable = key ? configVariable(plugin, key) : `${configPrefix(plugin)}*`;
      const raw = key ? input[key] : undefined;
      const got = raw === undefined ? '' : ` (got ${describeValue(raw)})`;
      return problem(plugin, 'PLAZA_PLUGIN_CONFIG_INVALID', `${variable} ${issue.message}${got}`);
    }),
  };
}

/** Every variable a set of plugins reads, to spot typos and two plugins claiming one variable. */
export function configVariables(
  plugins: Array<{ name: string; schema?: z.ZodObject }>,
): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const p of plugins)
    for (const key of Object.keys(p.schema?.shape ?? {})) {
      const variable = configVariable(p.name, key);
      owners.set(variable, [...(owners.get(variable) ?? []), p.name]);
    }
  return owners;
}
