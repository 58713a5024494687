import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appClient, type Developer, developer } from '../helpers/apps.ts';
import { jpeg, png, webp } from '../helpers/images.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { uniqueSlug } from '../helpers/world.ts';

let plaza: TestPlaza;
let dev: Developer;
let api: ReturnType<typeof appClient>;
let appId: string;
let versionId: string;

beforeAll(async () => {
  plaza = await startPlaza();
  dev = await developer(plaza);
  api = appClient(dev);
  const created = await api.create({ name: 'Pictures', slug: uniqueSlug('pics') }).expect(201);
  appId = created.body.app.id;
  versionId = created.body.version.id;
});
afterAll(() => plaza.close());

const pathOf = (url: string) => new URL(url).pathname;

describe('icon and screenshot uploads', () => {
  it('stores a PNG icon and serves it publicly with its type and nosniff', async () => {
    const bytes = png(128, 128);
    const res = await api.upload(appId, versionId, 'icon', 'image/png', bytes).expect(200);
    expect(res.body.icon).toMatchObject({
      kind: 'icon',
      contentType: 'image/png',
      bytes: bytes.length,
      width: 128,
      height: 128,
    });
    const served = await plaza.http.get(pathOf(res.body.icon.url)).buffer(true).expect(200);
    expect(served.headers['content-type']).toBe('image/png');
    expect(served.headers['x-content-type-options']).toBe('nosniff');
    expect(served.headers['cache-control']).toMatch(/immutable/);
    expect(Buffer.compare(served.body, bytes)).toBe(0);
    await plaza.http.get('/v1/assets/ast_00000000000000000000000000').expect(404);
    await plaza.http.get('/v1/assets/..%2F..%2Fsecret').expect(404);
  });

  it('takes JPEG and WebP screenshots in order, up to the per-version limit', async () => {
    const a = await api.upload(appId, versionId, 'screenshots', 'image/jpeg', jpeg(1280, 800)).expect(200);
    const b = await api.upload(appId, versionId, 'screenshots', 'image/webp', webp(1024, 768)).expect(200);
    expect(b.body.screenshots.map((s: { contentType: string }) => s.contentType)).toEqual([
      'image/jpeg',
      'image/webp',
    ]);
    expect(b.body.screenshots[0]).toMatchObject({ width: 1280, height: 800 });
    const served = await plaza.http.get(pathOf(a.body.screenshots[0].url)).expect(200);
    expect(served.headers['content-type']).toBe('image/jpeg');
    // Reorder and remove through PATCH, by asset id.
    const ids = b.body.screenshots.map((s: { id: string }) => s.id);
    const reordered = await api.patch(appId, versionId, { screenshotAssetIds: [ids[1]] }).expect(200);
    expect(reordered.body.screenshots.map((s: { id: string }) => s.id)).toEqual([ids[1]]);
    const bad = await api
      .patch(appId, versionId, { screenshotAssetIds: [reordered.body.icon.id] })
      .expect(400);
    expect(bad.body.fields[0]).toEqual({
      field: 'body.screenshotAssetIds.0',
      reason: 'not a screenshot uploaded for this app',
    });
  });

  it('judges the bytes, not the header: a PNG sent as image/jpeg and a text file sent as image/png are refused', async () => {
    const mislabelled = await api.upload(appId, versionId, 'icon', 'image/jpeg', png(128, 128)).expect(415);
    expect(mislabelled.body.detail).toMatch(/PNG image, not image\/jpeg/);
    expect(mislabelled.body.fields[0].field).toBe('body');
    const text = await api
      .upload(
        appId,
        versionId,
        'icon',
        'image/png',
        Buffer.from('<svg onload="alert(1)"></svg> not an image'),
      )
      .expect(415);
    expect(text.body.detail).toMatch(/not a PNG, JPEG or WebP image/);
    const gif = await api.upload(appId, versionId, 'icon', 'image/gif', Buffer.from('GIF89a')).expect(415);
    expect(gif.body.fields[0].field).toBe('header.content-type');
    const truncated = await api
      .upload(appId, versionId, 'icon', 'image/png', png(128, 128).subarray(0, 16))
      .expect(415);
    expect(truncated.body.detail).toMatch(/not a readable PNG/);
  });

  it('refuses files over the size caps with 413, and icons that are not square or too small', async () => {
    const bigIcon = png(128, 128, { padTo: 512 * 1024 + 1 });
    const res = await api.upload(appId, versionId, 'icon', 'image/png', bigIcon).expect(413);
    expect(res.body.code).toBe('PLAZA_PAYLOAD_TOO_LARGE');
    await api.upload(appId, versionId, 'icon', 'image/png', png(128, 128, { padTo: 500 * 1024 })).expect(200);
    const bigShot = png(640, 400, { padTo: 2 * 1024 * 1024 + 10 });
    await api.upload(appId, versionId, 'screenshots', 'image/png', bigShot).expect(413);
    const wide = await api.upload(appId, versionId, 'icon', 'image/png', png(128, 100)).expect(400);
    expect(wide.body.fields).toEqual([{ field: 'body', reason: 'an icon must be square (got 128×100)' }]);
    await api.upload(appId, versionId, 'icon', 'image/png', png(32, 32)).expect(400);
    const empty = await api.upload(appId, versionId, 'icon', 'image/png', Buffer.alloc(0)).expect(400);
    expect(empty.body.fields[0].field).toBe('body');
  });

  it('stores the bytes through the storage interface under the data folder', async () => {
    const res = await api.upload(appId, versionId, 'icon', 'image/png', png(256, 256)).expect(200);
    const row = await plaza.core.db.one('SELECT storage_key FROM app_assets WHERE id = $1', [
      res.body.icon.id,
    ]);
    expect(row.storage_key).toBe(`apps/${appId}/${res.body.icon.id}.png`);
    const bytes = await plaza.core.storage.get(row.storage_key);
    expect(bytes?.length).toBe(res.body.icon.bytes);
  });

  it('documents upload bodies in the OpenAPI contract', async () => {
    const doc = (await plaza.http.get('/openapi.json').expect(200)).body;
    const op = doc.paths['/v1/organizations/{orgId}/apps/{appId}/versions/{versionId}/icon'].put;
    expect(Object.keys(op.requestBody.content)).toEqual(['image/png', 'image/jpeg', 'image/webp']);
  });
});
