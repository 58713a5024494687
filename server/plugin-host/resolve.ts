import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type PluginProblem, problem } from './errors.ts';
import { PLUGIN_NAME } from './manifest.ts';

export interface ImportedPlugin {
  /** The name as listed in PLAZA_PLUGINS, which is the folder name. */
  name: string;
  dir: string;
  /** The module's default export, not yet validated. */
  exported: unknown;
}

/** Absolute folder of a plugin: `<pluginsDir>/<name>`, pluginsDir absolute or relative to the cwd. */
export function pluginDir(pluginsDir: string, name: string): string {
  return path.resolve(process.cwd(), pluginsDir, name);
}

/** Imports `<pluginsDir>/<name>/index.ts`; every plugin is tried so one boot reports every broken one. */
export async function importPlugins(
  names: string[],
  pluginsDir: string,
): Promise<{ imported: ImportedPlugin[]; problems: PluginProblem[] }> {
  const imported: ImportedPlugin[] = [];
  const problems: PluginProblem[] = [];
  for (const name of names) {
    // The name becomes a path: refuse anything that could climb out of the plugins folder.
    if (!PLUGIN_NAME.test(name)) {
      problems.push(
        problem(
          name,
          'PLAZA_PLUGIN_NOT_FOUND',
          'is not a plugin folder name (lowercase letters, digits, hyphens)',
        ),
      );
      continue;
    }
    const dir = pluginDir(pluginsDir, name);
    const entry = path.join(dir, 'index.ts');
    if (!existsSync(entry)) {
      problems.push(
        problem(
          name,
          'PLAZA_PLUGIN_NOT_FOUND',
          `no ${entry} (PLAZA_PLUGINS_DIR is "${pluginsDir}"; a plugin is a folder with an index.ts)`,
        ),
      );
      continue;
    }
    try {
      const mod = (await import(pathToFileURL(entry).href)) as { default?: unknown };
      imported.push({ name, dir, exported: mod.default });
    } catch (err) {
      problems.push(
        problem(name, 'PLAZA_PLUGIN_NOT_FOUND', `cannot import ${entry}: ${(err as Error).message}`),
      );
    }
  }
  return { imported, problems };
}
