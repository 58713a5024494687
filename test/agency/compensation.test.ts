import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * The bulk install saves each sub-account's OAuth grant outside the
 * installation's transaction; when the installation then fails for real (here
 * a PostgreSQL trigger refuses the row), the grant is taken back.
 */
let plaza: TestPlaza;
let app: TestApp;
let admin: Person;
let agency: OrgContext;
let subs: string[];

beforeAll(async () => {
  plaza = await startPlaza();
  const { core } = plaza;
  app = await registerApp(plaza, { name: 'Review Booster', redirectUris: ['https://rb.example.com/cb'] });
  admin = await person(plaza, 'Ada Agency');
  const ag = await core.organizations.create(admin.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await core.organizations.resolveContext(admin.actor, ag.id);
  subs = [];
  for (const name of ['Shop A', 'Shop B', 'Shop C'])
    subs.push((await core.organizations.createSubAccount(agency, { name })).id);
  // Refuses installations into the sub-accounts named in refused_accounts, like a database failing mid-request.
  await core.db.exec(`
    CREATE TABLE refused_accounts (account_id text PRIMARY KEY, errcode text NOT NULL);
    CREATE FUNCTION refuse_installation() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE code text;
    BEGIN
      SELECT errcode INTO code FROM refused_accounts WHERE account_id = NEW.account_id;
      IF code IS NOT NULL THEN RAISE EXCEPTION 'installation refused by the test' USING ERRCODE = code; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_installation BEFORE INSERT ON installations
      FOR EACH ROW EXECUTE FUNCTION refuse_installation();`);
});
afterAll(() => plaza?.close());

async function signedIn() {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: admin.email, password: admin.password })
    .expect(200);
  return { agent, csrf: res.body.csrfToken as string };
}

const grantsOf = async (accountId: string) =>
  (
    await plaza.core.db.query(
      "SELECT id FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1",
      [accountId],
    )
  ).length;

describe('bulk install compensation', () => {
  it('takes back the grant when the installation fails, and installs the others', async () => {
    // A unique violation is what a concurrent install winning the race looks like.
    await plaza.core.db.query("INSERT INTO refused_accounts VALUES ($1, '23505')", [subs[1]]);
    const { agent, csrf } = await signedIn();
    const res = await agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: subs.slice(0, 2) })
      .expect(200);
    expect(res.body.results.map((r: any) => r.status)).toEqual(['installed', 'already_installed']);
    expect(await grantsOf(subs[0])).toBe(1);
    expect(await grantsOf(subs[1])).toBe(0);
  });

  it('takes back the grant when the installation fails with an unexpected error, and answers 500', async () => {
    await plaza.core.db.query("INSERT INTO refused_accounts VALUES ($1, 'XX000')", [subs[2]]);
    const { agent, csrf } = await signedIn();
    const res = await agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: [subs[2]] })
      .expect(500);
    expect(res.body.code).toBe('PLAZA_INTERNAL');
    expect(await grantsOf(subs[2])).toBe(0);
    const rows = await plaza.core.db.query('SELECT 1 FROM installations WHERE account_id = $1', [subs[2]]);
    expect(rows).toHaveLength(0);

    // Once the failure is gone, the same request installs it.
    await plaza.core.db.query('DELETE FROM refused_accounts');
    const retry = await agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: [subs[2]] })
      .expect(200);
    expect(retry.body.results[0]).toMatchObject({ subAccountId: subs[2], status: 'installed' });
    expect(await grantsOf(subs[2])).toBe(1);
  });
});
