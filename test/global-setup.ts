import { buildWeb } from '../scripts/build-web.ts';

/**
 * Builds web/dist once, before any test file runs. Browser tests in two
 * workers would otherwise each start a build of a missing or stale dist and
 * serve one another a half-written one (pages without their chunks).
 */
export default async function setup(): Promise<void> {
  await buildWeb({ ifStale: true, quiet: true });
}
