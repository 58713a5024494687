import type supertest from 'supertest';
import { expect } from 'vitest';
import { newId } from '../../server/ids.ts';
import type { ListingInput } from '../../server/modules/marketplace/service.ts';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import type { TestPlaza } from './plaza.ts';

/**
 * A marketplace listing without the registry behind it; `publish` puts it live
 * the way the apps service does when a version goes live
 * (`marketplace.publish` inside a transaction).
 */
export function listing(over: Partial<ListingInput> & { slug: string; name: string }): ListingInput {
  return {
    appId: newId('app'),
    tagline: '',
    description: '',
    category: 'other',
    pricing: { type: 'free' },
    scopes: [],
    developer: { organizationId: newId('org'), name: 'Some Developer' },
    iconUrl: null,
    screenshotUrls: [],
    supportUrl: null,
    privacyUrl: null,
    termsUrl: null,
    versionId: newId('ver'),
    versionNumber: 1,
    publishedAt: new Date().toISOString(),
    ...over,
  };
}

export async function publish(plaza: TestPlaza, l: ListingInput): Promise<ListingInput> {
  await plaza.core.db.transaction((tx) => plaza.core.marketplace.publish(tx, l));
  return l;
}

export async function withdraw(plaza: TestPlaza, appId: string): Promise<void> {
  await plaza.core.db.transaction((tx) => plaza.core.marketplace.withdraw(tx, appId));
}

/** Installs an app in an account through the installations service (as the OAuth flow will). */
export function installListing(
  plaza: TestPlaza,
  accountId: string,
  l: ListingInput,
  userId: string | null = null,
) {
  return plaza.core.installations.create({
    accountId,
    appId: l.appId,
    versionId: l.versionId,
    grantedScopes: l.scopes.map((s) => s.name),
    actor: { ...SYSTEM_ACTOR, userId },
  });
}

/** Waits (bounded) until the app page shows `count` installs: the count follows events, asynchronously. */
export async function waitForInstallCount(plaza: TestPlaza, slug: string, count: number): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 200; i++) {
    const res = await plaza.http.get(`/v1/marketplace/apps/${slug}`);
    last = res.body.installCount;
    if (last === count) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`install count of ${slug} stayed ${last}, expected ${count}`);
}

/** Every page of a search, following nextCursor. */
export async function walk(plaza: TestPlaza, query: Record<string, string | number>): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const res: supertest.Response = await plaza.http
      .get('/v1/marketplace/apps')
      .query({ ...query, ...(cursor ? { cursor } : {}) })
      .expect(200);
    expect(res.body.data.length).toBeLessThanOrEqual(Number(query.limit ?? 20));
    items.push(...res.body.data);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('pagination did not end');
}
