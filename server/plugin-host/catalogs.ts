import type { z } from 'zod';
import type { EventsService } from '../modules/events/index.ts';
import type { PluginManifest } from '../plugin-api/manifest.ts';
import type { ScopeCatalog } from '../scopes.ts';
import { type PluginProblem, problem } from './errors.ts';

/**
 * Adds a plugin's scopes and event types to the core catalogs, owned by
 * `plugin:<name>` (core modules pass `core`). Runs in requirement order, so an
 * event type may name a scope of the plugin itself, of core, or of a plugin it requires.
 */
export function registerCatalogEntries(
  manifest: Pick<PluginManifest<z.ZodObject>, 'name' | 'scopes' | 'eventTypes'>,
  catalogs: { scopes: ScopeCatalog; events: EventsService },
  owner = `plugin:${manifest.name}`,
): PluginProblem[] {
  const problems: PluginProblem[] = [];
  const conflict = (reason: string) => problems.push(problem(manifest.name, 'PLAZA_PLUGIN_CONFLICT', reason));

  for (const scope of manifest.scopes ?? []) {
    const existing = catalogs.scopes.get(scope.name);
    if (existing) conflict(`scope "${scope.name}" is already registered by ${existing.owner}`);
    else catalogs.scopes.register({ ...scope, owner });
  }
  const known = new Map(catalogs.events.types().map((t) => [t.type, t.owner]));
  for (const def of manifest.eventTypes ?? []) {
    if (known.has(def.type)) {
      conflict(`event type "${def.type}" is already registered by ${known.get(def.type)}`);
      continue;
    }
    if (def.scope !== null && !catalogs.scopes.get(def.scope)) {
      problems.push(
        problem(
          manifest.name,
          'PLAZA_PLUGIN_MANIFEST_INVALID',
          `event type "${def.type}" needs scope "${def.scope}", which neither core, this plugin nor a plugin it requires registers`,
        ),
      );
      continue;
    }
    catalogs.events.registerType({ ...def, owner });
    known.set(def.type, owner);
  }
  return problems;
}
