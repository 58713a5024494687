import path from 'node:path';
import type { MigrationSource } from '../db/migrate.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

/**
 * Core modules in dependency order. Each owns the tables its migrations
 * create; other modules reach them only through its service.
 */
export const CORE_MODULES = [
  'jobs',
  'events',
  'identity',
  'organizations',
  'audit',
  'mail',
  'apps',
  'reviews',
  'notifications',
  'installations',
  'marketplace',
  'contacts',
  'oauth',
  'webhooks',
] as const;

export function coreMigrationSources(): MigrationSource[] {
  return CORE_MODULES.map((name) => ({
    owner: name,
    dir: name === 'jobs' ? path.join(here, '..', 'jobs', 'migrations') : path.join(here, name, 'migrations'),
  }));
}
