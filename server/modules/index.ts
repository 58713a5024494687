import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { MigrationSource } from '../db/migrate.ts';
import { JOBS_MIGRATIONS } from '../jobs/index.ts';
import { migrationSource } from '../plugin-host/migrations.ts';
import { orderByRequirements } from '../plugin-host/order.ts';
import type { CoreModule } from './module.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

/**
 * Every folder here with an `index.ts` is a core module: its default export is
 * a `defineModule(...)`. Adding a module is adding its folder.
 */
async function loadModules(): Promise<CoreModule[]> {
  const folders = readdirSync(here, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(here, e.name, 'index.ts')))
    .map((e) => e.name)
    .sort();
  const modules: CoreModule[] = [];
  for (const folder of folders) {
    const def = (await import(`./${folder}/index.ts`)).default as CoreModule | undefined;
    if (def?.name !== folder)
      throw new Error(
        `server/modules/${folder}/index.ts must export default defineModule({ name: '${folder}', ... })`,
      );
    modules.push({ ...def, dir: path.join(here, folder) });
  }
  const names = new Set(folders);
  for (const m of modules)
    for (const r of [...(m.requires ?? []), ...(m.routesUse ?? [])])
      if (!names.has(r)) throw new Error(`module ${m.name} requires "${r}", which is no module`);
  const { ordered, problems } = orderByRequirements(
    modules.map((m) => ({ ...m, requires: [...(m.requires ?? [])] })),
  );
  if (problems.length)
    throw new Error(problems.map((p) => p.message.replace('plugins', 'modules')).join('; '));
  return ordered;
}

/** Core modules in dependency order: each comes after the modules it requires. */
export const CORE_MODULES: CoreModule[] = await loadModules();

/** Migrations of the platform (the PostgreSQL job runner) and of every module, in that order. */
export function coreMigrationSources(): MigrationSource[] {
  return [
    JOBS_MIGRATIONS,
    ...CORE_MODULES.flatMap((m) => {
      const { source, problems } = migrationSource(m.name, m.dir, m.migrations, m.name);
      if (problems.length) throw new Error(problems.map((p) => p.message).join('; '));
      return source ? [source] : [];
    }),
  ];
}
