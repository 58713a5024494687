import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Provisioning a sub-account from a template dies after the sub-account was
 * committed and before the template was applied (a PostgreSQL trigger fails
 * the template's first write, as a process dying there would leave it: the
 * sub-account exists, nothing of the template, no kept answer for the key).
 * The client retries with the same Idempotency-Key: still one sub-account, now
 * fully applied.
 */
let plaza: TestPlaza;
let app: TestApp;
let admin: Person;
let agency: OrgContext;
let templateId: string;

beforeAll(async () => {
  plaza = await startPlaza();
  const { core } = plaza;
  app = await registerApp(plaza, { name: 'Free Forms', redirectUris: ['https://ff.example.com/cb'] });
  admin = await person(plaza, 'Ada Agency');
  const ag = await core.organizations.create(admin.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await core.organizations.resolveContext(admin.actor, ag.id);
  templateId = (
    await core.agency.templates.create(agency, {
      name: 'Clinic',
      theme: { brandName: 'Bright Clinic', colours: { primary: '#114477' } },
      apps: [{ appId: app.appId, scopes: [] }],
      contactFields: [{ key: 'insurer', label: 'Insurer', type: 'text' }],
      members: [],
    })
  ).id;
  await core.db.exec(`
    CREATE TABLE crash_switch (on_ boolean NOT NULL);
    CREATE FUNCTION crash_before_theme() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM crash_switch WHERE on_) THEN RAISE EXCEPTION 'the process died here'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER crash_before_theme BEFORE INSERT ON agency_sub_account_themes
      FOR EACH ROW EXECUTE FUNCTION crash_before_theme();`);
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

describe('provisioning a sub-account from a template, crash and retry', () => {
  it('a retry with the same key finishes the same sub-account instead of making a second', async () => {
    const { agent, csrf } = await signedIn();
    const provision = (name: string, key: string) =>
      agent
        .post(`/v1/organizations/${agency.org.id}/templates/${templateId}/provision`)
        .set('x-csrf-token', csrf)
        .set('idempotency-key', key)
        .send({ name });

    await plaza.core.db.query('INSERT INTO crash_switch VALUES (true)');
    await provision('Crash Clinic', 'prov-1').expect(500);
    // The crash's state: the sub-account is there, nothing of the template is.
    const after = await plaza.core.organizations.childrenOf(agency.org.id);
    expect(after.map((s) => s.name)).toEqual(['Crash Clinic']);
    expect(await plaza.core.installations.findActive(after[0].id, app.appId)).toBeUndefined();
    const none = await agent.get(`/v1/organizations/${agency.org.id}/templates/${templateId}/applications`);
    expect(none.body.data ?? none.body).toHaveLength(0);

    await plaza.core.db.query('DELETE FROM crash_switch');
    const retry = await provision('Crash Clinic', 'prov-1').expect(201);
    expect(retry.body.subAccount).toEqual({ id: after[0].id, name: 'Crash Clinic' });
    expect(Object.fromEntries(retry.body.changes.map((c: any) => [`${c.item}:${c.key}`, c.action]))).toEqual({
      'theme:theme': 'created',
      [`app:${app.appId}`]: 'created',
      'contactField:insurer': 'created',
    });
    expect((await plaza.core.organizations.childrenOf(agency.org.id)).map((s) => s.id)).toEqual([
      after[0].id,
    ]);
    expect(await plaza.core.installations.findActive(after[0].id, app.appId)).toBeDefined();
    const applied = await agent.get(
      `/v1/organizations/${agency.org.id}/templates/${templateId}/applications`,
    );
    expect((applied.body.data ?? applied.body).map((a: any) => [a.subAccountId, a.revision])).toEqual([
      [after[0].id, 1],
    ]);

    // The key belongs to that sub-account: another name under it is refused, naming the header.
    const other = await provision('Other Clinic', 'prov-1').expect(409);
    expect(other.body.fields[0].field).toBe('header.idempotency-key');
    // A new key makes a new sub-account.
    await provision('Second Clinic', 'prov-2').expect(201);
    expect(await plaza.core.organizations.childrenOf(agency.org.id)).toHaveLength(2);
  });
});
