import type { Core } from '../core.ts';
import { VersionFields } from '../modules/apps/index.ts';
import { CHECKLIST_KEYS } from '../modules/reviews/index.ts';
import type { Actor, OrgContext } from '../tenancy.ts';
import { drawIcon, drawScreenshot } from './art.ts';
import { DEMO_APPS, DEMO_INSTALLS, DEMO_TEST_ACCOUNTS, type DemoAccount } from './demo-apps.ts';

export interface DemoAppsResult {
  live: string[];
  queued: string[];
  installs: number;
  reviews: number;
}

/**
 * Puts the demo apps in the marketplace the way real apps get there: the
 * developer creates each app, fills in its version, uploads its pictures and
 * submits it; the automated checks run (the job's own code path, called now
 * because no worker runs yet); the operator claims and approves. Then the
 * demo accounts install apps (through the same installability rule as OAuth)
 * and rate them. Any refusal on the way is a bug in the fixtures: it throws.
 */
export async function seedDemoApps(
  core: Core,
  who: {
    operator: Actor;
    developer: OrgContext;
    accounts: Record<Exclude<DemoAccount, 'testShop'>, OrgContext>;
  },
): Promise<DemoAppsResult> {
  const { apps, reviews, installations, marketplace, organizations } = core;
  const dev = who.developer;

  const testAccounts: OrgContext[] = [];
  for (const name of DEMO_TEST_ACCOUNTS) {
    const org = await organizations.createTestAccount(dev, { name });
    testAccounts.push(await organizations.resolveContext(dev.actor, org.id));
  }
  const accounts: Record<DemoAccount, OrgContext> = { ...who.accounts, testShop: testAccounts[0] };

  const created = new Map<string, { appId: string; versionId: string; scopes: string[] }>();
  const result: DemoAppsResult = { live: [], queued: [], installs: 0, reviews: 0 };
  const checklist = Object.fromEntries(CHECKLIST_KEYS.map((k) => [k, true]));

  for (const demo of DEMO_APPS) {
    // The same schema the API parses a version with (defaults included).
    const fields = VersionFields.parse(demo.version);
    const { name, tagline, description, category, supportUrl, privacyUrl, termsUrl } = fields;
    const { app, version } = await apps.create(dev, {
      slug: demo.slug,
      name,
      tagline,
      description,
      category,
      supportUrl,
      privacyUrl,
      termsUrl,
    });
    await apps.updateVersion(dev, app.id, version.id, {
      redirectUris: fields.redirectUris,
      installUrl: fields.installUrl,
      scopes: fields.scopes,
      webhookEvents: fields.webhookEvents,
      pricing: fields.pricing,
    });
    const png = (bytes: Buffer) => ({ contentType: 'image/png', bytes });
    await apps.uploadAsset(dev, app.id, version.id, 'icon', png(drawIcon(demo.color, demo.letter)));
    for (const shot of demo.screenshots)
      await apps.uploadAsset(
        dev,
        app.id,
        version.id,
        'screenshot',
        png(drawScreenshot(demo.color, name, shot)),
      );

    const submitted = await reviews.submit(dev, app.id, version.id);
    await reviews.runChecksNow(submitted.submission!.id);
    if ((await apps.getVersion(dev, app.id, version.id)).state !== 'queued') {
      const { checks } = await reviews.status(dev, app.id, version.id);
      const failed = checks.filter((c) => !c.passed).map((c) => `${c.title}: ${c.reason}`);
      throw new Error(`demo app ${demo.slug} did not pass the automated checks: ${failed.join('; ')}`);
    }
    if (demo.goal === 'live') {
      await reviews.claim(who.operator, version.id);
      await reviews.approve(who.operator, version.id, { checklist, comment: demo.approvalComment });
      result.live.push(demo.slug);
    } else result.queued.push(demo.slug);
    created.set(demo.slug, {
      appId: app.id,
      versionId: version.id,
      scopes: fields.scopes.map((s) => s.name),
    });
  }

  for (const install of DEMO_INSTALLS) {
    const ctx = accounts[install.account];
    const app = created.get(install.slug);
    if (!app) throw new Error(`demo install of unknown app ${install.slug}`);
    // What the OAuth grant checks: live apps anywhere, unreviewed ones only in the developer's test accounts.
    const target = await apps.assertInstallable(ctx.org.id, app.appId);
    await installations.create({
      accountId: ctx.org.id,
      appId: app.appId,
      versionId: target.versionId,
      grantedScopes: app.scopes,
      actor: ctx.actor,
    });
    result.installs++;
    if (install.review) {
      const { rating } = await marketplace.putRating(ctx, install.slug, {
        rating: install.review.rating,
        body: install.review.body,
      });
      result.reviews++;
      if (install.review.reply) await marketplace.reply(dev, install.slug, rating.id, install.review.reply);
    }
  }
  // The install counter follows app.installed events once workers run; count now so the first page is right.
  for (const slug of result.live) await marketplace.recountInstalls(created.get(slug)!.appId);
  return result;
}
