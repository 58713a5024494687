import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecks } from '../../server/modules/reviews/checks.ts';
import { completeApp, developer, waitForChecks } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type SignedIn, signInWithPlatformRole } from '../helpers/world.ts';

/**
 * The install link of a version: the app's own page that starts the OAuth
 * flow, where the marketplace's Install button sends people with
 * `?plaza_url=`. Validated like a redirect URI, reviewed like one (a change
 * needs a full review), carried by the manifest and the marketplace listing.
 */
let plaza: TestPlaza;
let reviewer: SignedIn;
beforeAll(async () => {
  plaza = await startPlaza();
  reviewer = await signInWithPlatformRole(plaza, 'reviewer');
});
afterAll(() => plaza.close());

const CHECKLIST = {
  listing_accurate: true,
  scopes_needed: true,
  redirect_uris_owned: true,
  policies_reachable: true,
  pricing_clear: true,
  content_acceptable: true,
};

/** Submits, waits for the checks, claims and approves: the version goes live. */
async function approve(
  api: Awaited<ReturnType<typeof completeApp>>['api'],
  appId: string,
  versionId: string,
) {
  await api.submit(appId, versionId).expect(200);
  const status = await waitForChecks(api, appId, versionId);
  expect(status.state, JSON.stringify(status.checks)).toBe('queued');
  const review = (action: string) =>
    reviewer.agent.post(`/v1/review/versions/${versionId}/${action}`).set('x-csrf-token', reviewer.csrf);
  await review('claim').expect(200);
  await review('approve').send({ checklist: CHECKLIST }).expect(200);
}

describe('install link on a version', () => {
  it('accepts https and loopback http, refuses the rest naming the field, and clears with null', async () => {
    const dev = await developer(plaza);
    const { api, appId, versionId } = await completeApp(dev);
    const fresh = await api.version(appId, versionId).expect(200);
    expect(fresh.body.installUrl).toBeNull();

    for (const [url, reason] of [
      ['http://example.com/install', /must use https/],
      ['ftp://example.com/install', /must use https/],
      ['https://example.com/install#go', /fragment/],
      ['https://user:pw@example.com/install', /user name or password/],
      ['/install', /absolute URL/],
      ['', /absolute URL/],
    ] as const) {
      const res = await api.patch(appId, versionId, { installUrl: url }).expect(400);
      expect(res.body.fields, url).toEqual([
        { field: 'body.installUrl', reason: expect.stringMatching(reason) },
      ]);
    }

    const saved = await api
      .patch(appId, versionId, { installUrl: 'https://sync.example.com/plaza/install?from=plaza' })
      .expect(200);
    expect(saved.body.installUrl).toBe('https://sync.example.com/plaza/install?from=plaza');
    const loopback = await api
      .patch(appId, versionId, { installUrl: 'http://127.0.0.1:3005/install' })
      .expect(200);
    expect(loopback.body.installUrl).toBe('http://127.0.0.1:3005/install');
    // Absent leaves it; null removes it.
    expect((await api.patch(appId, versionId, { tagline: 'New words' }).expect(200)).body.installUrl).toBe(
      'http://127.0.0.1:3005/install',
    );
    expect((await api.patch(appId, versionId, { installUrl: null }).expect(200)).body.installUrl).toBeNull();
  });

  it('travels in the manifest, both ways', async () => {
    const dev = await developer(plaza);
    const { api, appId, versionId } = await completeApp(dev);
    await api.patch(appId, versionId, { installUrl: 'https://sync.example.com/install' }).expect(200);
    const path = `${api.base}/${appId}/versions/${versionId}/manifest`;
    const manifest = (await dev.agent.get(path).expect(200)).body;
    expect(manifest.version.installUrl).toBe('https://sync.example.com/install');

    manifest.version.installUrl = 'http://sync.example.com/install';
    const refused = await api.send('put', path).send(manifest).expect(400);
    expect(refused.body.fields).toEqual([
      { field: 'body.version.installUrl', reason: expect.stringMatching(/https/) },
    ]);
    manifest.version.installUrl = 'https://sync.example.com/v2/install';
    const imported = await api.send('put', path).send(manifest).expect(200);
    expect(imported.body.installUrl).toBe('https://sync.example.com/v2/install');
  });

  it('lists the live install link on the marketplace page with plaza_url, and a change needs a full review', async () => {
    const dev = await developer(plaza);
    const { api, appId, versionId, created } = await completeApp(dev, 'Install Link App');
    const slug = created.app.slug as string;
    await api
      .patch(appId, versionId, { installUrl: 'https://sync.example.com/install?ref=market' })
      .expect(200);
    await approve(api, appId, versionId);

    const page = (await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body;
    const link = new URL(page.installUrl);
    expect(`${link.origin}${link.pathname}`).toBe('https://sync.example.com/install');
    expect(link.searchParams.get('ref')).toBe('market');
    expect(link.searchParams.get('plaza_url')).toBe(plaza.core.config.baseUrl);

    // Version 2: only listing text changed -> fast track; the install link changed too -> full review.
    const v2 = (await api.newVersion(appId).expect(201)).body;
    expect(v2.installUrl).toBe('https://sync.example.com/install?ref=market');
    await api.patch(appId, v2.id, { tagline: 'Even better' }).expect(200);
    const textOnly = (await api.diff(appId, v2.id).expect(200)).body;
    expect(textOnly).toMatchObject({ reviewKind: 'fast_track', installUrl: null });

    await api.patch(appId, v2.id, { installUrl: null }).expect(200);
    const removed = (await api.diff(appId, v2.id).expect(200)).body;
    expect(removed).toMatchObject({
      reviewKind: 'full',
      reviewReasons: ['changes the install link'],
      installUrl: { before: 'https://sync.example.com/install?ref=market', after: null },
      unchanged: false,
    });
    await approve(api, appId, v2.id);
    const after = (await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body;
    expect(after.installUrl).toBeNull();
    expect(after.tagline).toBe('Even better');
  });
});

describe('automated checks', () => {
  const base = {
    name: 'X',
    tagline: '',
    description: '',
    category: 'other' as const,
    supportUrl: null,
    privacyUrl: null,
    termsUrl: null,
    redirectUris: [],
    scopes: [],
    webhookEvents: [],
    pricing: { type: 'free' as const },
    iconAssetId: null,
    screenshotAssetIds: [],
  };
  const catalogs = { scope: () => undefined, eventType: () => undefined };
  const urlsCheck = (installUrl: string | null) =>
    runChecks({ ...base, installUrl }, catalogs).find((c) => c.check === 'urls_https')!;

  it('checks the install link is well-formed https (loopback http allowed, like redirect URIs)', () => {
    expect(urlsCheck('https://example.com/install')).toMatchObject({
      passed: true,
      reason: 'installUrl: well-formed https URLs',
    });
    expect(urlsCheck('http://localhost:3005/install').passed).toBe(true);
    expect(urlsCheck('http://example.com/install')).toMatchObject({
      passed: false,
      reason: expect.stringMatching(/^installUrl must use https/),
    });
    expect(urlsCheck(null)).toMatchObject({ passed: true, reason: 'no URLs to check' });
  });
});
