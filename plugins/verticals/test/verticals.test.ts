import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startPlaza, type TestPlaza } from '../../../test/helpers/plaza.ts';
import {
  createOrg,
  registerApp,
  type SignedIn,
  signInWithPlatformRole,
  signUp,
} from '../../../test/helpers/world.ts';

/**
 * The verticals plugin on a real core and PostgreSQL, driven over HTTP the
 * way the web app and API users drive it.
 */
const SHIPPED = ['dental-clinic', 'gym', 'hair-salon', 'restaurant', 'retail-shop'];

import { VerticalPack } from '../schema.ts';
import { loadShippedPacks } from '../service.ts';

const SHIPPED_DIR = path.join(import.meta.dirname, '..', 'verticals');
/** A shipped pack's file as plain data (the gym is YAML, the others JSON). */
const packFile = (slug: string) => {
  const json = path.join(SHIPPED_DIR, `${slug}.json`);
  if (existsSync(json)) return JSON.parse(readFileSync(json, 'utf8'));
  return parseYaml(readFileSync(path.join(SHIPPED_DIR, `${slug}.yaml`), 'utf8'));
};

let plaza: TestPlaza;
let ann: SignedIn;
let bob: SignedIn;

beforeAll(async () => {
  plaza = await startPlaza({
    PLAZA_PLUGINS: 'verticals',
    PLAZA_PLUGINS_DIR: 'plugins',
    // Small, so one test can make an apply fail half-way (its sample contacts pass the limit).
    PLAZA_CONTACTS_MAX_PER_ACCOUNT: '6',
  });
  ann = await signUp(plaza, { name: 'Ann Admin' });
  bob = await signUp(plaza, { name: 'Bob Outsider' });
});
afterAll(() => plaza?.close());

const v = (orgId: string, rest: string) => `/v1/verticals/organizations/${orgId}${rest}`;
const post = (who: SignedIn, url: string, body: unknown) =>
  who.agent
    .post(url)
    .set('x-csrf-token', who.csrf)
    .send(body as object);

async function subAccount(who: SignedIn, agencyId: string, name: string) {
  const res = await post(who, `/v1/organizations/${agencyId}/sub-accounts`, { name }).expect(201);
  return res.body as { id: string };
}

/** Everything a vertical can change in an account, as the API shows it. */
async function stateOf(who: SignedIn, orgId: string) {
  const get = async (url: string) => (await who.agent.get(url).expect(200)).body;
  const contacts = await get(`/v1/organizations/${orgId}/contacts?limit=100&sort=name`);
  return {
    fields: (await get(`/v1/organizations/${orgId}/contact-fields`)).data.map(
      ({ createdAt, updatedAt, ...f }: Record<string, unknown>) => f,
    ),
    tags: (await get(`/v1/organizations/${orgId}/contact-tags`)).data,
    contacts: contacts.data.map((c: Record<string, unknown>) => [
      c.name,
      c.email,
      c.tags,
      c.customFields,
      c.sample,
    ]),
    pipelines: (await get(v(orgId, '/pipelines'))).data,
    emailTemplates: (await get(v(orgId, '/email-templates'))).data,
    checklist: (await get(v(orgId, '/checklist'))).data,
    applied: (await get(v(orgId, '/applied'))).data.map(
      ({ appliedAt, firstAppliedAt, ...a }: Record<string, unknown>) => a,
    ),
  };
}

const eventsOf = (orgId: string) =>
  plaza.core.db.query(
    "SELECT payload FROM events WHERE type = 'vertical.applied' AND organization_id = $1 ORDER BY id",
    [orgId],
  );

describe('shipped verticals', () => {
  it('the gallery lists the shipped verticals with previews', async () => {
    const account = await createOrg(ann, 'account', 'Gallery Co');
    const res = await ann.agent.get(v(account.id, '/catalog')).expect(200);
    const bySlug = new Map(res.body.data.map((e: { slug: string }) => [e.slug, e]));
    for (const slug of SHIPPED) {
      const entry = bySlug.get(slug) as any;
      expect(entry, slug).toBeDefined();
      expect(entry.source).toBe('builtin');
      expect(entry.counts.fields).toBeGreaterThanOrEqual(6);
      expect(entry.preview.pipelines[0].stages.length).toBeGreaterThanOrEqual(3);
      expect(entry.appliedVersion).toBeNull();
    }
  });

  for (const slug of SHIPPED) {
    it(`${slug}: plan, apply to a fresh account, apply again: the second changes nothing`, async () => {
      const account = await createOrg(ann, 'account', `Fresh ${slug}`);
      const pack = packFile(slug);
      const planned = await post(ann, v(account.id, '/plan'), { vertical: slug }).expect(200);
      expect(planned.body.summary.conflict).toBe(0);
      expect(planned.body.summary.add).toBeGreaterThan(10);
      // Nothing is written by a plan.
      expect((await stateOf(ann, account.id)).fields).toEqual([]);

      const first = await post(ann, v(account.id, '/apply'), { vertical: slug }).expect(200);
      expect(first.body.changed).toBe(true);
      const after = await stateOf(ann, account.id);
      expect(after.fields.map((f: { key: string }) => f.key)).toEqual(
        pack.fields.map((f: { key: string }) => f.key),
      );
      expect(after.pipelines.map((p: { key: string }) => p.key)).toEqual(
        pack.pipelines.map((p: { key: string }) => p.key),
      );
      expect(after.contacts).toHaveLength(pack.sampleContacts.length);
      expect(after.contacts.every((c: unknown[]) => c[4] === true)).toBe(true);
      expect(after.emailTemplates).toHaveLength(pack.emailTemplates.length);
      expect(after.checklist).toHaveLength(pack.checklist.length);
      expect(after.applied).toEqual([
        expect.objectContaining({ vertical: slug, version: pack.version, upgradeAvailable: false }),
      ]);

      const second = await post(ann, v(account.id, '/apply'), { vertical: slug }).expect(200);
      expect(second.body.changed).toBe(false);
      expect(second.body.summary.add).toBe(0);
      expect(second.body.summary.conflict).toBe(0);
      expect(await stateOf(ann, account.id)).toEqual(after);
      expect(await eventsOf(account.id)).toHaveLength(1);
    });
  }

  it('vertical.applied carries the vertical, version and what was added', async () => {
    const account = await createOrg(ann, 'account', 'Event Gym');
    await post(ann, v(account.id, '/apply'), { vertical: 'gym' }).expect(200);
    const [event] = await eventsOf(account.id);
    expect(event.payload).toMatchObject({
      accountId: account.id,
      vertical: 'gym',
      version: '1.0.0',
      fromVersion: null,
      conflicts: 0,
      fields: expect.arrayContaining(['membershipPlan', 'renewalDate']),
    });
    expect(event.payload.added).toBeGreaterThan(10);
  });

  it('removing sample data is one call; applying again does not bring it back', async () => {
    const account = await createOrg(ann, 'account', 'Sample Salon');
    await post(ann, v(account.id, '/apply'), { vertical: 'hair-salon' }).expect(200);
    await post(ann, `/v1/organizations/${account.id}/contacts`, { name: 'Real Client' }).expect(201);
    const res = await ann.agent
      .delete(v(account.id, '/applied/hair-salon/sample-data'))
      .set('x-csrf-token', ann.csrf)
      .expect(200);
    expect(res.body.removed).toBe(3);
    const again = await post(ann, v(account.id, '/apply'), { vertical: 'hair-salon' }).expect(200);
    expect(again.body.changed).toBe(false);
    const state = await stateOf(ann, account.id);
    expect(state.contacts.map((c: unknown[]) => c[0])).toEqual(['Real Client']);
    expect(state.applied[0]).toMatchObject({ sampleContacts: 0, samplesRemoved: true });
  });
});

describe('one transaction or nothing', () => {
  it('an apply that fails half-way (the contact limit, at the third sample) leaves nothing of the vertical', async () => {
    const account = await createOrg(ann, 'account', 'Full Clinic');
    for (const name of ['One', 'Two', 'Three', 'Four'])
      await post(ann, `/v1/organizations/${account.id}/contacts`, { name }).expect(201);
    const before = await stateOf(ann, account.id);
    const res = await post(ann, v(account.id, '/apply'), { vertical: 'dental-clinic' }).expect(409);
    expect(res.body.detail).toMatch(/limit of 6 contacts/);
    expect(await stateOf(ann, account.id)).toEqual(before);
    expect(await eventsOf(account.id)).toEqual([]);
    const rows = await plaza.core.db.query(
      `SELECT (SELECT count(*) FROM verticals_pipelines WHERE organization_id = $1)::int AS pipelines,
              (SELECT count(*) FROM verticals_applications WHERE organization_id = $1)::int AS applications,
              (SELECT count(*) FROM contact_fields WHERE organization_id = $1)::int AS fields`,
      [account.id],
    );
    expect(rows[0]).toEqual({ pipelines: 0, applications: 0, fields: 0 });
  });
});

describe('concurrent applies', () => {
  it('two applies of one vertical at once: one does the work, the other finds it done', async () => {
    const account = await createOrg(ann, 'account', 'Racing Restaurant');
    const [a, b] = await Promise.all([
      post(ann, v(account.id, '/apply'), { vertical: 'restaurant' }),
      post(ann, v(account.id, '/apply'), { vertical: 'restaurant' }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body.changed, b.body.changed].sort()).toEqual([false, true]);
    expect(await eventsOf(account.id)).toHaveLength(1);
    const state = await stateOf(ann, account.id);
    expect(state.contacts).toHaveLength(packFile('restaurant').sampleContacts.length);
  });
});

describe('upgrades', () => {
  it('shows the diff, adds only additions, keeps local changes as conflicts, removes what the version removes', async () => {
    const account = await createOrg(ann, 'account', 'Upgrade Dental');
    await post(ann, v(account.id, '/apply'), { vertical: 'dental-clinic' }).expect(200);
    // Local changes: a stage renamed, a template deleted by hand is not possible, so a field relabelled.
    await ann.agent
      .patch(v(account.id, '/pipelines/newPatients'))
      .set('x-csrf-token', ann.csrf)
      .send({ stages: { booked: 'Consult booked' } })
      .expect(200);
    await ann.agent
      .patch(`/v1/organizations/${account.id}/contact-fields/allergies`)
      .set('x-csrf-token', ann.csrf)
      .send({ label: 'Allergies and conditions' })
      .expect(200);

    const next = packFile('dental-clinic');
    next.version = '1.1.0';
    next.fields.push({ key: 'xrayDate', label: 'Last X-ray', type: 'date' });
    next.fields.find((f: { key: string }) => f.key === 'preferredDentist').label = 'Dentist';
    next.checklist.find((c: { key: string }) => c.key === 'addDentists').removed = true;
    next.tags = [
      ...next.tags.filter((t: string) => t !== 'family plan'),
      { name: 'family plan', removed: true },
    ];
    const operator = await signInWithPlatformRole(plaza, 'admin');
    await post(operator, '/v1/verticals/packs', { pack: next }).expect(201);

    const applied = (await ann.agent.get(v(account.id, '/applied')).expect(200)).body.data[0];
    expect(applied).toMatchObject({ version: '1.0.0', latestVersion: '1.1.0', upgradeAvailable: true });

    const planned = await post(ann, v(account.id, '/plan'), { vertical: 'dental-clinic' }).expect(200);
    expect(planned.body).toMatchObject({ fromVersion: '1.0.0', upgrade: true });
    const byKey = (kind: string, key: string) =>
      planned.body.items.find((i: { kind: string; key: string }) => i.kind === kind && i.key === key);
    expect(byKey('field', 'xrayDate').action).toBe('add');
    expect(byKey('field', 'preferredDentist')).toMatchObject({
      action: 'conflict',
      reason: expect.stringMatching(/changed in this version/),
    });
    expect(byKey('field', 'allergies')).toMatchObject({
      action: 'conflict',
      reason: expect.stringMatching(/changed in this account/),
    });
    expect(byKey('stage', 'newPatients.booked').action).toBe('conflict');
    expect(byKey('checklist', 'addDentists').action).toBe('remove');
    expect(byKey('tag', 'family plan').action).toBe('remove');
    expect(byKey('field', 'lastVisit').action).toBe('exists');

    await post(ann, v(account.id, '/apply'), { vertical: 'dental-clinic' }).expect(200);
    const state = await stateOf(ann, account.id);
    const field = (key: string) => state.fields.find((f: { key: string }) => f.key === key);
    expect(field('xrayDate')).toMatchObject({ label: 'Last X-ray', type: 'date' });
    expect(field('allergies').label).toBe('Allergies and conditions');
    expect(field('preferredDentist').label).toBe('Preferred dentist');
    expect(state.pipelines[0].stages[1].name).toBe('Consult booked');
    expect(state.checklist.map((c: { key: string }) => c.key)).not.toContain('addDentists');
    expect(state.applied[0]).toMatchObject({ version: '1.1.0', upgradeAvailable: false });
    const events = await eventsOf(account.id);
    expect(events.map((e) => [e.payload.fromVersion, e.payload.version])).toEqual([
      [null, '1.0.0'],
      ['1.0.0', '1.1.0'],
    ]);

    // Forced, the pack wins over local changes.
    const forced = await post(ann, v(account.id, '/apply'), {
      vertical: 'dental-clinic',
      force: true,
    }).expect(200);
    expect(forced.body.summary.update).toBe(3);
    const after = await stateOf(ann, account.id);
    expect(after.fields.find((f: { key: string }) => f.key === 'allergies').label).toBe('Allergies');
    expect(after.pipelines[0].stages[1].name).toBe('First visit booked');
    // An older version is never applied over a newer one.
    await post(ann, v(account.id, '/apply'), { vertical: 'dental-clinic', version: '1.0.0' }).expect(409);
  });
});

describe('agency templates', () => {
  it('capture a sub-account, apply it to another: equal configuration; apps through the bulk install', async () => {
    const app = await registerApp(plaza, {
      name: 'Booking Buddy',
      redirectUris: ['https://booking.example.com/cb'],
      scopes: [{ name: 'contacts:read' }, { name: 'contacts:write', optional: true }],
    });
    const { slug: appSlug } = await plaza.core.db.one('SELECT slug FROM apps WHERE id = $1', [app.appId]);
    const agency = await createOrg(ann, 'agency', 'Bright Agency');
    const first = await subAccount(ann, agency.id, 'Clinic One');
    const second = await subAccount(ann, agency.id, 'Clinic Two');

    // The agency's own pack adds the app to a shipped setup.
    const pack = packFile('dental-clinic');
    pack.slug = 'bright-dental';
    pack.name = 'Bright dental';
    pack.apps = [{ slug: appSlug, why: 'Our booking app', scopes: ['contacts:write'] }];
    await post(ann, `/v1/verticals/organizations/${agency.id}/templates`, { pack }).expect(201);

    // The plan names what the agency consents to for the sub-account.
    const planned = await post(ann, v(first.id, '/plan'), { vertical: 'bright-dental' }).expect(200);
    expect(planned.body.items.find((i: { kind: string }) => i.kind === 'app')).toMatchObject({
      action: 'add',
      label: 'Booking Buddy',
      reason: expect.stringContaining('granting contacts:read, contacts:write'),
    });
    const applied = await post(ann, v(first.id, '/apply'), { vertical: 'bright-dental' }).expect(200);
    expect(applied.body.apps).toEqual([{ slug: appSlug, status: 'installed', detail: null }]);
    const installed = await ann.agent.get(`/v1/organizations/${first.id}/installations`).expect(200);
    expect(installed.body.data[0]).toMatchObject({
      appId: app.appId,
      grantedScopes: ['contacts:read', 'contacts:write'],
    });

    // A local change that the capture must carry.
    await post(ann, `/v1/organizations/${first.id}/contact-fields`, {
      key: 'referredBy',
      label: 'Referred by',
      type: 'text',
    }).expect(201);
    const captured = await post(ann, v(first.id, '/capture'), {
      slug: 'clinic-one-setup',
      name: 'Clinic One setup',
      version: '1.0.0',
    }).expect(201);
    expect(captured.body.ownerId).toBe(agency.id);

    // The other sub-account sees it in its gallery and applies it.
    const gallery = await ann.agent.get(v(second.id, '/catalog')).expect(200);
    expect(gallery.body.data.find((e: { slug: string }) => e.slug === 'clinic-one-setup')).toMatchObject({
      source: 'agency',
    });
    const res = await post(ann, v(second.id, '/apply'), { vertical: 'clinic-one-setup' }).expect(200);
    expect(res.body.apps[0].status).toBe('installed');
    const config = async (orgId: string) => {
      const { slug, name, description, ...rest } = (
        await ann.agent.get(v(orgId, '/configuration')).expect(200)
      ).body;
      return rest;
    };
    expect(await config(second.id)).toEqual(await config(first.id));
  });

  it('a pack of one agency is invisible to another agency’s sub-accounts', async () => {
    const other = await createOrg(bob, 'agency', 'Other Agency');
    const sub = await subAccount(bob, other.id, 'Other Sub');
    const gallery = await bob.agent.get(v(sub.id, '/catalog')).expect(200);
    const slugs = gallery.body.data.map((e: { slug: string }) => e.slug);
    expect(slugs).not.toContain('bright-dental');
    expect(slugs).not.toContain('clinic-one-setup');
    await post(bob, v(sub.id, '/apply'), { vertical: 'bright-dental' }).expect(404);
  });
});

describe('refusals', () => {
  it('bad packs get 400 naming each field', async () => {
    const agency = await createOrg(ann, 'agency', 'Upload Agency');
    const pack = packFile('gym');
    pack.slug = 'bad-gym';
    const upload = (body: unknown) => post(ann, `/v1/verticals/organizations/${agency.id}/templates`, body);
    const fieldsOf = (res: { body: { fields: Array<{ field: string }> } }) =>
      res.body.fields.map((f) => f.field);
    // Shapes first: every field that is wrong.
    const shaped = structuredClone(pack);
    shaped.fields[0].type = 'colour';
    shaped.emailTemplates[1].body = 'Hi {{#if contact.name}} unclosed';
    shaped.version = 'one';
    const res = await upload({ pack: shaped }).expect(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(fieldsOf(res).sort()).toEqual([
      'body.pack.emailTemplates.1.body',
      'body.pack.fields.0.type',
      'body.pack.version',
    ]);
    // Then references within the pack: sample values of unknown fields, stage keys listed twice.
    const crossed = structuredClone(pack);
    crossed.sampleContacts[0].customFields.shoeSize = 44;
    crossed.sampleContacts[1].customFields.membershipPlan = 'Lifetime';
    crossed.pipelines[0].stages.push({ key: 'lead', name: 'Again' });
    const res2 = await upload({ pack: crossed }).expect(400);
    expect(fieldsOf(res2).sort()).toEqual([
      'body.pack.pipelines.0.stages.5',
      'body.pack.sampleContacts.0.customFields.shoeSize',
      'body.pack.sampleContacts.1.customFields.membershipPlan',
    ]);
    await upload({ pack }).expect(201);
    await upload({ pack }).expect(409);
    // A shipped slug is not the agency's to take.
    await post(ann, `/v1/verticals/organizations/${agency.id}/templates`, { pack: packFile('gym') }).expect(
      409,
    );
  });

  it('another person cannot see, plan or apply in an account; members of the account without admin cannot apply', async () => {
    const account = await createOrg(ann, 'account', 'Private Clinic');
    await bob.agent.get(v(account.id, '/catalog')).expect(404);
    await post(bob, v(account.id, '/plan'), { vertical: 'gym' }).expect(404);
    await post(bob, v(account.id, '/apply'), { vertical: 'gym' }).expect(404);
    await bob.agent.get(v(account.id, '/configuration')).expect(404);
    await post(ann, v(account.id, '/apply'), { vertical: 'no-such-vertical' }).expect(404);
    // A member (here an API key with the member role) sees the gallery but cannot apply.
    const key = await post(ann, `/v1/organizations/${account.id}/api-keys`, {
      name: 'member key',
      role: 'member',
    }).expect(201);
    const asMember = (req: ReturnType<typeof plaza.http.get>) =>
      req.set('Authorization', `Bearer ${key.body.secret}`);
    await asMember(plaza.http.get(v(account.id, '/catalog'))).expect(200);
    await asMember(plaza.http.post(v(account.id, '/apply')))
      .send({ vertical: 'gym' })
      .expect(403);
    expect(await eventsOf(account.id)).toEqual([]);
  });
});

describe('YAML packs', () => {
  const problemOf = (res: { body: { fields: Array<{ field: string; reason: string }> } }) => res.body.fields;

  it('the gym ships as YAML and loads exactly as its former JSON file', async () => {
    // gym.json as it was before the conversion (kept as a fixture).
    const before = JSON.parse(
      readFileSync(path.join(import.meta.dirname, 'fixtures', 'gym-1.0.0.json'), 'utf8'),
    );
    expect(existsSync(path.join(SHIPPED_DIR, 'gym.json'))).toBe(false);
    expect(packFile('gym')).toEqual(before);
    const loaded = loadShippedPacks(SHIPPED_DIR).find((p) => p.slug === 'gym');
    expect(loaded).toEqual(VerticalPack.parse(before));
    // And Plaza serves it as that pack.
    const account = await createOrg(ann, 'account', 'Yaml Gym');
    const served = await ann.agent.get(v(account.id, '/catalog/gym')).expect(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(VerticalPack.parse(before))));
  });

  it('a broken shipped YAML file stops the boot naming the file, line and column', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verticals-'));
    try {
      writeFileSync(
        path.join(dir, 'spa.yml'),
        'slug: spa\nversion: 1.0.0\nfields:\n  - key: a\n   label: b\n',
      );
      expect(() => loadShippedPacks(dir)).toThrow(/^verticals\/spa\.yml: line 5, column \d+: /);
      writeFileSync(path.join(dir, 'spa.yml'), toYaml({ ...packFile('gym'), slug: 'spa', version: 'x' }));
      expect(() => loadShippedPacks(dir)).toThrow(
        'verticals/spa.yml: version: a semantic version like 1.2.0',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('operators and agencies upload YAML; it is offered like a JSON upload', async () => {
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const spa = { ...packFile('gym'), slug: 'day-spa', name: 'Day spa' };
    const text = `# hand-written\n${toYaml(spa)}`;
    const saved = await post(operator, '/v1/verticals/packs', { yaml: text }).expect(201);
    expect(saved.body).toMatchObject({ slug: 'day-spa', version: '1.0.0' });
    const account = await createOrg(ann, 'account', 'Yaml Spa');
    const served = await ann.agent.get(v(account.id, '/catalog/day-spa')).expect(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(VerticalPack.parse(spa))));
    await post(ann, v(account.id, '/apply'), { vertical: 'day-spa' }).expect(200);
    expect((await stateOf(ann, account.id)).fields.map((f: { key: string }) => f.key)).toEqual(
      spa.fields.map((f: { key: string }) => f.key),
    );

    const agency = await createOrg(ann, 'agency', 'Yaml Agency');
    const own = toYaml({ ...spa, slug: 'agency-spa' });
    await post(ann, `/v1/verticals/organizations/${agency.id}/templates`, { yaml: own, shared: true }).expect(
      201,
    );
    const owned = await ann.agent.get(`/v1/verticals/organizations/${agency.id}/templates`).expect(200);
    expect(owned.body.data.map((p: { slug: string }) => p.slug)).toEqual(['agency-spa']);
  });

  it('YAML errors get 400 naming the line and column; schema errors name body.yaml.<path>', async () => {
    const agency = await createOrg(ann, 'agency', 'Yaml Refusals');
    const upload = (body: unknown) => post(ann, `/v1/verticals/organizations/${agency.id}/templates`, body);
    const good = toYaml({ ...packFile('gym'), slug: 'yaml-gym' });

    const syntax = await upload({ yaml: 'slug: yaml-gym\nversion: 1.0.0\nname: [Gym\n' }).expect(400);
    expect(syntax.headers['content-type']).toMatch(/problem\+json/);
    expect(problemOf(syntax)).toEqual([
      { field: 'body.yaml', reason: expect.stringMatching(/^line \d+, column \d+: /) },
    ]);
    expect(syntax.body).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });

    const indented = await upload({ yaml: 'slug: yaml-gym\nversion: 1.0.0\n\tname: Gym\n' }).expect(400);
    expect(problemOf(indented)[0].reason).toMatch(/^line 3, column 1: /);

    const schema = await upload({
      yaml: good.replace('type: select', 'type: colour').replace('version: 1.0.0', 'version: one'),
    }).expect(400);
    expect(
      problemOf(schema)
        .map((f) => f.field)
        .sort(),
    ).toEqual(['body.yaml.fields.0.type', 'body.yaml.version']);

    // Unsafe or needless YAML: tags, repeated keys, alias bombs, several documents.
    const refused = {
      tag: `${good}extra: !!js/function 'function () {}'\n`,
      strTag: good.replace('name: Gym and fitness studio', 'name: !!str Gym'),
      repeated: `${good}slug: again\n`,
      // 5 x 5 x 5 values from 30 aliases: the library's default limit (100) would expand it.
      bomb: ['a: &a [x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a]', 'c: [*b, *b, *b, *b, *b]'].join('\n'),
      twoDocs: `${good}---\n${good}`,
    };
    for (const [what, yaml] of Object.entries(refused)) {
      const res = await upload({ yaml }).expect(400);
      expect(problemOf(res), what).toEqual([
        { field: 'body.yaml', reason: expect.stringMatching(/^line \d+, column \d+: /) },
      ]);
    }
    expect(problemOf(await upload({ yaml: refused.repeated }).expect(400))[0].reason).toMatch(/unique/);

    // Exactly one of pack and yaml.
    const both = await upload({ yaml: good, pack: packFile('gym') }).expect(400);
    expect(problemOf(both)).toEqual([{ field: 'body.pack', reason: 'send pack or yaml, not both' }]);
    await upload({ shared: true }).expect(400);
    expect(
      (await ann.agent.get(`/v1/verticals/organizations/${agency.id}/templates`).expect(200)).body.data,
    ).toEqual([]);

    await upload({ yaml: good }).expect(201);
  });
});
