/**
 * Brand themes: an agency admin uploads a logo and a favicon (judged by their
 * bytes), saves a draft whose values are checked (hostile values and colours
 * that fail WCAG AA are a 400 naming the field), publishes it as numbered
 * versions; sub-accounts show their agency's live theme, others the platform's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpeg, png } from '../helpers/images.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
let owner: SignedIn;
let agency: { id: string };
let sub: { id: string };

const good = {
  brandName: 'Northwind Apps',
  colours: { primary: '#0b5d1e', accent: '#c2410c', background: '#ffffff', text: '#111827' },
  font: 'serif',
  emailSenderName: 'Northwind Support',
  replyTo: 'help@northwind.example',
  supportUrl: 'https://northwind.example/help',
  supportEmail: 'help@northwind.example',
  footerText: 'Northwind Ltd, 1 Harbour Road',
};

beforeAll(async () => {
  plaza = await startPlaza();
  owner = await signUp(plaza, { name: 'Nina Northwind' });
  agency = await createOrg(owner, 'agency', 'Northwind Agency');
  const res = await owner.agent
    .post(`/v1/organizations/${agency.id}/sub-accounts`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: 'Harbour Cafe' })
    .expect(201);
  sub = res.body;
}, 60_000);
afterAll(async () => plaza?.close());

const put = (body: object) =>
  owner.agent.put(`/v1/organizations/${agency.id}/branding/theme`).set('x-csrf-token', owner.csrf).send(body);
const upload = (kind: 'logo' | 'favicon', type: string, bytes: Buffer) =>
  owner.agent
    .post(`/v1/organizations/${agency.id}/branding/${kind}`)
    .set('x-csrf-token', owner.csrf)
    .set('content-type', type)
    .send(bytes);
const fieldsOf = (res: { body: { fields?: Array<{ field: string; reason: string }> } }) =>
  (res.body.fields ?? []).map((e) => e.field);

describe('brand assets', () => {
  it('takes a logo and a square favicon by their bytes, and refuses what the bytes contradict', async () => {
    const logo = await upload('logo', 'image/png', png(240, 60)).expect(201);
    expect(logo.body).toMatchObject({ kind: 'logo', contentType: 'image/png', width: 240, height: 60 });
    const served = await plaza.http.get(logo.body.url).expect(200);
    expect(served.headers['content-type']).toBe('image/png');
    expect(Buffer.compare(served.body, png(240, 60))).toBe(0);

    await upload('favicon', 'image/png', png(64, 64)).expect(201);
    const notSquare = await upload('favicon', 'image/png', png(64, 32)).expect(400);
    expect(notSquare.body.detail).toMatch(/square/);
    // A JPEG sent as PNG, and text sent as an image.
    const lie = await upload('logo', 'image/png', jpeg(100, 40)).expect(415);
    expect(lie.body.detail).toMatch(/JPEG image, not image\/png/);
    await upload('logo', 'image/png', Buffer.from('<svg onload="alert(1)"></svg>')).expect(415);
  });
});

describe('theme values', () => {
  it('refuses hostile values with the field that carries them', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ brandName: '</style><script>alert(1)</script>' }, 'body.brandName'],
      [{ brandName: 'Evil {{constructor}}' }, 'body.brandName'],
      [{ colours: { ...good.colours, primary: 'red;}body{background:url(//x)' } }, 'body.colours.primary'],
      [{ colours: { ...good.colours, background: 'expression(alert(1))' } }, 'body.colours.background'],
      [{ font: 'Comic Sans"; } * { display:none' }, 'body.font'],
      [{ supportUrl: 'javascript:alert(1)' }, 'body.supportUrl'],
      [{ supportUrl: 'http://northwind.example' }, 'body.supportUrl'],
      [{ emailSenderName: 'Nina\r\nBcc: victim@example.com' }, 'body.emailSenderName'],
      [{ replyTo: 'not an address' }, 'body.replyTo'],
      [{ footerText: '<img src=x onerror=alert(1)>' }, 'body.footerText'],
    ];
    for (const [over, field] of cases) {
      const res = await put({ ...good, ...over }).expect(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(fieldsOf(res), JSON.stringify(over)).toContain(field);
    }
    const state = await owner.agent.get(`/v1/organizations/${agency.id}/branding/theme`).expect(200);
    expect(state.body.draft).toBeNull();
  });

  it('refuses colours that fail WCAG AA, naming the colour and the ratio', async () => {
    const grey = await put({
      ...good,
      colours: { ...good.colours, text: '#999999', background: '#ffffff' },
    }).expect(400);
    expect(fieldsOf(grey)).toEqual(['body.colours.text']);
    expect(grey.body.fields[0].reason).toMatch(/contrast 2\.8\d:1, WCAG AA needs at least 4\.5:1/);
    const link = await put({ ...good, colours: { ...good.colours, primary: '#7fb2ff' } }).expect(400);
    expect(fieldsOf(link)).toContain('body.colours.primary');
  });

  it('refuses another agency’s logo in the theme', async () => {
    const other = await signUp(plaza, { name: 'Oscar Other' });
    const otherAgency = await createOrg(other, 'agency', 'Other Agency');
    const theirs = await other.agent
      .post(`/v1/organizations/${otherAgency.id}/branding/logo`)
      .set('x-csrf-token', other.csrf)
      .set('content-type', 'image/png')
      .send(png(100, 40))
      .expect(201);
    const res = await put({ ...good, logoAssetId: theirs.body.id }).expect(400);
    expect(fieldsOf(res)).toEqual(['body.logoAssetId']);
  });
});

describe('publishing', () => {
  it('numbers versions; the sub-account shows the live one, an unrelated account the platform brand', async () => {
    const logo = await upload('logo', 'image/png', png(200, 50)).expect(201);
    await put({ ...good, logoAssetId: logo.body.id }).expect(200);
    // Nothing published yet: the sub-account still shows the platform.
    expect(await plaza.core.branding.effectiveThemeFor(sub.id)).toBeNull();

    const publish = () =>
      owner.agent
        .post(`/v1/organizations/${agency.id}/branding/theme/publish`)
        .set('x-csrf-token', owner.csrf)
        .expect(200);
    expect((await publish()).body.version).toBe(1);
    const v1 = await plaza.core.branding.effectiveThemeFor(sub.id);
    expect(v1).toMatchObject({ branded: true, version: 1, brandName: 'Northwind Apps', font: 'serif' });
    expect(v1?.colours.onPrimary).toBe('#ffffff');

    await put({ ...good, logoAssetId: logo.body.id, brandName: 'Northwind Cloud' }).expect(200);
    // A saved draft changes nothing live.
    expect((await plaza.core.branding.effectiveThemeFor(sub.id))?.brandName).toBe('Northwind Apps');
    expect((await publish()).body.version).toBe(2);
    expect((await plaza.core.branding.effectiveThemeFor(sub.id))?.brandName).toBe('Northwind Cloud');
    // The logo of version 1 is still served to a page opened before the publish.
    await plaza.http.get(v1!.logoUrl!).expect(200);

    const stranger = await signUp(plaza, { name: 'Sam Stranger' });
    const shop = await createOrg(stranger, 'account', 'Corner Shop');
    expect(await plaza.core.branding.effectiveThemeFor(shop.id)).toBeNull();
    // The sub-account's members read their brand through the API.
    const eff = await owner.agent.get(`/v1/organizations/${sub.id}/branding/effective`).expect(200);
    expect(eff.body).toMatchObject({ branded: true, brandName: 'Northwind Cloud', version: 2 });
  });

  it('keeps the theme to agencies: a sub-account has none of its own', async () => {
    await owner.agent.get(`/v1/organizations/${sub.id}/branding/theme`).expect(403);
  });
});
