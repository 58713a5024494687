import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyRoute, defineRoute } from '../../server/http/route.ts';
import { createPluginContext } from '../../server/plugin-host/context.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';
import { waitFor } from './harness.ts';

/**
 * Two fixture plugins on a real core: `notes` (tables, routes, an event, a job,
 * a subscription, config) and `notes-digest`, which requires it. PLAZA_PLUGINS
 * lists the dependant first; the host must still set `notes` up first.
 */
let plaza: TestPlaza;
let ann: SignedIn;
let annOrg: { id: string };

beforeAll(async () => {
  plaza = await startPlaza({
    PLAZA_PLUGIN_NOTES_SIGNATURE: 'signed by notes',
    PLAZA_PLUGIN_NOTES_DIGEST_HEADING: 'This week',
    PLAZA_PLUGINS: 'notes-digest,notes',
    // Relative to the process cwd (the repository root under vitest).
    PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
  });
  ann = await signUp(plaza, { name: 'Ann' });
  annOrg = await createOrg(ann, 'developer', 'Ann Co');
});
afterAll(async () => {
  await plaza?.close();
});

const writeNote = (who: SignedIn, orgId: string, body: Record<string, unknown>) =>
  who.agent.post(`/v1/notes/organizations/${orgId}/items`).set('x-csrf-token', who.csrf).send(body);

describe('loading', () => {
  it('sets plugins up in requirement order, whatever the PLAZA_PLUGINS order', () => {
    expect(plaza.core.plugins.list).toEqual([
      { name: 'notes', version: '1.2.0' },
      { name: 'notes-digest', version: '0.3.1' },
    ]);
  });

  it('applies each plugin migration once, under owner plugin:<name>', async () => {
    const rows = await plaza.core.db.query(
      "SELECT owner, name FROM plaza_migrations WHERE owner LIKE 'plugin:%' ORDER BY owner, name",
    );
    expect(rows).toEqual([
      { owner: 'plugin:notes', name: '001_notes.sql' },
      { owner: 'plugin:notes-digest', name: '001_digest.sql' },
    ]);
  });

  it('adds the scopes and event types of the manifest to the catalogs, owned by the plugin', () => {
    expect(plaza.core.scopes.get('notes:read')).toMatchObject({
      consentText: 'See your notes',
      sensitivity: 'basic',
      owner: 'plugin:notes',
    });
    expect(plaza.core.events.types().find((t) => t.type === 'notes.item_created')).toMatchObject({
      scope: 'notes:read',
      owner: 'plugin:notes',
    });
  });

  it('parses config: defaults apply, given values are used', async () => {
    const res = await plaza.http.get('/v1/notes').expect(200);
    expect(res.body).toEqual({ greeting: 'Welcome to notes', maxTitleLength: 200 });
  });
});

describe('routes', () => {
  it('a member writes a note under /v1/notes; the row and its event commit together', async () => {
    const res = await writeNote(ann, annOrg.id, { title: 'First note', body: 'hello' }).expect(201);
    expect(res.body).toMatchObject({ title: 'First note', body: 'hello', stampedAt: null });
    expect(res.body.id).toMatch(/^note_/);
    const event = await plaza.core.db.one(
      "SELECT organization_id, payload FROM events WHERE type = 'notes.item_created' AND payload->>'noteId' = $1",
      [res.body.id],
    );
    expect(event).toEqual({
      organization_id: annOrg.id,
      payload: { noteId: res.body.id, title: 'First note' },
    });
    const list = await ann.agent.get(`/v1/notes/organizations/${annOrg.id}/items`).expect(200);
    expect(list.body.data.map((n: { id: string }) => n.id)).toContain(res.body.id);
  });

  it("runs the plugin's job, which reads the plugin's config", async () => {
    const { body: note } = await writeNote(ann, annOrg.id, { title: 'Stamp me' }).expect(201);
    const stamped = await waitFor('the stamp job', async () => {
      const res = await ann.agent.get(`/v1/notes/organizations/${annOrg.id}/items/${note.id}`).expect(200);
      return res.body.stampedAt ? res.body : undefined;
    });
    expect(stamped.signature).toBe('signed by notes');
  });

  it("delivers the plugin's own event to the plugin that requires it", async () => {
    const org = await createOrg(ann, 'developer', 'Digest Co');
    await writeNote(ann, org.id, { title: 'Alpha' }).expect(201);
    await writeNote(ann, org.id, { title: 'Beta' }).expect(201);
    const digest = await waitFor('the digest', async () => {
      const res = await ann.agent.get(`/v1/notes-digest/organizations/${org.id}/digest`).expect(200);
      return res.body.titles.length === 2 ? res.body : undefined;
    });
    expect(digest).toEqual({ heading: 'This week', titles: ['Alpha', 'Beta'] });
  });

  it('validates input with the schema the plugin built from its config', async () => {
    const res = await writeNote(ann, annOrg.id, { title: 'x'.repeat(201) }).expect(400);
    expect(res.body.code).toBe('PLAZA_VALIDATION');
    expect(res.body.fields).toEqual([{ field: 'body.title', reason: expect.stringMatching(/200/) }]);
  });

  it("hides an organization's notes from everyone outside it", async () => {
    const { body: note } = await writeNote(ann, annOrg.id, { title: 'Private' }).expect(201);
    const bob = await signUp(plaza, { name: 'Bob' });
    await createOrg(bob, 'developer', 'Bob Co');
    for (const path of [
      `/v1/notes/organizations/${annOrg.id}/items`,
      `/v1/notes/organizations/${annOrg.id}/items/${note.id}`,
    ]) {
      const res = await bob.agent.get(path).expect(404);
      expect(res.body.code).toBe('PLAZA_NOT_FOUND');
      await plaza.http.get(path).expect(401);
    }
    await writeNote(bob, annOrg.id, { title: 'Intrusion' }).expect(404);
    const count = await plaza.core.db.one(
      "SELECT count(*)::int AS n FROM notes_items WHERE title = 'Intrusion'",
    );
    expect(count.n).toBe(0);
  });

  it('lists plugin routes in /openapi.json and in core.routes (the tenancy matrix walks it)', async () => {
    const res = await plaza.http.get('/openapi.json').expect(200);
    const items = res.body.paths['/v1/notes/organizations/{orgId}/items'];
    expect(Object.keys(items).sort()).toEqual(['get', 'post']);
    expect(items.post).toMatchObject({
      summary: 'Write a note',
      tags: ['Notes'],
      'x-plaza-access': { kind: 'org' },
    });
    expect(res.body.paths['/v1/notes-digest/organizations/{orgId}/digest'].get.summary).toBe(
      'Get the notes digest',
    );
    expect(res.body.components.schemas.NotesItem).toBeDefined();
    const paths = plaza.core.routes.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain('post /v1/notes/organizations/:orgId/items');
    expect(paths).toContain('get /v1/notes');
  });
});

describe('subscriptions', () => {
  it('hands a real organization.created event to the subscribed plugin', async () => {
    const org = await createOrg(ann, 'account', 'Fresh Account');
    const welcome = await waitFor('the welcome row', () =>
      plaza.core.db.maybeOne('SELECT * FROM notes_welcomes WHERE organization_id = $1', [org.id]),
    );
    expect(welcome.greeting).toBe('Welcome to notes');
    const event = await plaza.core.db.one('SELECT type, organization_id FROM events WHERE id = $1', [
      welcome.event_id,
    ]);
    expect(event).toEqual({ type: 'organization.created', organization_id: org.id });
  });
});

describe('the context narrows each plugin to what it declared', () => {
  const manifest = {
    name: 'probe',
    version: '1.0.0',
    requires: [],
    eventTypes: [],
    setup() {},
  };
  const context = () => createPluginContext(manifest, {}, plaza.core);

  it('refuses to emit an event type the plugin did not declare, even a core one, and rolls back', async () => {
    const { ctx } = context();
    const attempt = plaza.core.db.transaction(async (tx) => {
      await tx.query("INSERT INTO notes_items (id, organization_id, title) VALUES ('note_forged', $1, 'x')", [
        annOrg.id,
      ]);
      await ctx.events.emit(tx, annOrg.id, 'organization.created', { organizationId: annOrg.id });
    });
    await expect(attempt).rejects.toThrow(
      'plugin "probe" may only emit the event types its manifest declares; "organization.created" is not one',
    );
    expect(
      await plaza.core.db.maybeOne("SELECT 1 FROM notes_items WHERE id = 'note_forged'"),
    ).toBeUndefined();
  });

  it("refuses another plugin's event unless it is required, and unknown event types", () => {
    const { ctx } = context();
    expect(() => ctx.events.subscribe(['notes.item_created'], async () => {})).toThrow(
      'cannot subscribe to "notes.item_created" of plugin:notes: add "notes" to requires',
    );
    expect(() => ctx.events.subscribe(['nothing.here'], async () => {})).toThrow('no such event type');
  });

  it('queues only jobs the plugin defined, under its namespace', async () => {
    const { ctx } = context();
    await expect(ctx.jobs.enqueue('stamp', {})).rejects.toThrow('plugin "probe" has no job "stamp"');
    expect(() => ctx.jobs.define({ name: 'notes.stamp', handler: async () => {} })).toThrow(
      'without the plugin prefix',
    );
  });

  it('prefixes routes and refuses paths that would escape the prefix or lack :orgId', () => {
    const { ctx, routes } = context();
    const route = (path: string, access: AnyRoute['access'] = { kind: 'public' }) =>
      defineRoute({ method: 'get', path, summary: 'x', tag: 'x', access, handler: async () => undefined });
    ctx.routes.add(route('/things'));
    expect(routes.map((r) => r.path)).toEqual(['/v1/probe/things']);
    expect(() => ctx.routes.add(route('/v1/organizations'))).toThrow('must be relative to the plugin prefix');
    expect(() => ctx.routes.add(route('things'))).toThrow('must start with "/"');
    expect(() => ctx.routes.add(route('/orgs/:id/things', { kind: 'org' }))).toThrow('no :orgId');
    expect(() => ctx.routes.add(route('/things'))).toThrow('added twice');
  });

  it('closes registration once setup has returned', () => {
    const runtime = context();
    runtime.seal();
    expect(() => runtime.ctx.events.subscribe(['organization.created'], async () => {})).toThrow(
      'plugin "probe": events.subscribe is only allowed while setup runs',
    );
    expect(() => runtime.ctx.jobs.define({ name: 'late', handler: async () => {} })).toThrow(
      'only allowed while setup runs',
    );
  });
});
