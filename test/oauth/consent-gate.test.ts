import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { authorizationUrl, browserAgent, installByConsent, relyingParty } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * The consent page's install: installation gates refuse before anything is
 * saved (the paywall fixture plugin), and the grant the provider saved is
 * taken back when the installation then fails (a PostgreSQL trigger).
 */
const CALLBACK = 'https://gated.example.com/cb';
let plaza: PlazaServer;
let app: TestApp;
let who: Person;
let shop: OrgContext;

beforeAll(async () => {
  plaza = await startPlazaServer({
    env: {
      PLAZA_PLUGINS: 'paywall',
      PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
      PLAZA_PLUGIN_PAYWALL_WEBHOOK_SECRET: 'paywall-webhook-secret',
    },
  });
  app = await registerApp(plaza, { name: 'Gated App', redirectUris: [CALLBACK] });
  who = await person(plaza, 'Gina Gate');
  shop = await account(plaza, who, 'Gated Shop');
});
afterAll(() => plaza?.close());

const install = async () => {
  const start = await authorizationUrl(await relyingParty(plaza, app), CALLBACK, 'contacts:read');
  return installByConsent(plaza, browserAgent(plaza), start, who, shop.org.id);
};
const grants = async () =>
  (
    await plaza.core.db.query(
      "SELECT 1 FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1",
      [shop.org.id],
    )
  ).length;
const installations = async () =>
  (await plaza.core.db.query('SELECT 1 FROM installations WHERE account_id = $1', [shop.org.id])).length;

describe('install on the consent page', () => {
  it('an installation gate refuses before anything is saved (the page answers with its status)', async () => {
    await plaza.core.db.query("INSERT INTO paywall_prices VALUES ($1, 500, 'eur')", [app.appId]);
    try {
      await expect(install()).rejects.toThrow(/consent answered 402/);
      expect(await grants()).toBe(0);
      expect(await installations()).toBe(0);
    } finally {
      await plaza.core.db.query('DELETE FROM paywall_prices WHERE app_id = $1', [app.appId]);
    }
  });

  it('a paid app refused for payment offers a "Pay and install" button to its checkout page', async () => {
    const paid = await registerApp(plaza, {
      name: 'Paid App',
      redirectUris: [CALLBACK],
      pricing: { type: 'one_time', amount: 1_200, currency: 'USD' },
    });
    const start = await authorizationUrl(await relyingParty(plaza, paid), CALLBACK, 'contacts:read');
    const err = (await installByConsent(plaza, browserAgent(plaza), start, who, shop.org.id).catch(
      (e) => e,
    )) as Error & { page?: string };
    expect(err.message).toMatch(/consent answered 402/);
    const page = err.page!;
    const [, href] = /<a class="button primary" href="([^"]+)"[^>]*>Pay and install<\/a>/.exec(page) ?? [];
    expect(href).toBeTruthy();
    // The link is the checkout the payments module opened for this account's subscription.
    const session = await plaza.core.db.one(
      `SELECT i.checkout_url FROM payments_invoices i
       JOIN payments_subscriptions s ON s.id = i.subscription_id WHERE s.account_id = $1 AND s.app_id = $2`,
      [shop.org.id, paid.appId],
    );
    expect(href!.replaceAll('&amp;', '&')).toBe(session.checkout_url);
    // The address is a button, not text to copy out of the message.
    const message = /<div class="alert" role="alert"><p>([^<]*)<\/p>/.exec(page)![1]!;
    expect(message).toContain('pay 12.00 USD at the link below');
    expect(message).not.toContain('http');
    expect(await grants()).toBe(0);
  });

  it('takes back the saved grant when the installation fails, and installs on the next try', async () => {
    await plaza.core.db.exec(`
      CREATE FUNCTION consent_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'XX000'; END $$;
      CREATE TRIGGER consent_refuse BEFORE INSERT ON installations
        FOR EACH ROW EXECUTE FUNCTION consent_refuse();`);
    await expect(install()).rejects.toThrow(/consent answered 500/);
    expect(await grants()).toBe(0);
    expect(await installations()).toBe(0);

    await plaza.core.db.exec('DROP TRIGGER consent_refuse ON installations; DROP FUNCTION consent_refuse();');
    const callback = await install();
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(await grants()).toBe(1);
    expect(await installations()).toBe(1);
  });
});
