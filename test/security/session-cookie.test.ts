import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { uniqueEmail } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza();
});
afterAll(() => plaza.close());

describe('the session cookie', () => {
  it('is signed, and a missing or forged signature is not accepted', async () => {
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'Sig', email: uniqueEmail(), password: 'a long enough password' })
      .expect(201);
    const set = res.headers['set-cookie'] as unknown as string[];
    const session = set.find((c) => c.startsWith('plaza_session='))!.split(';')[0];
    const sig = set.find((c) => c.startsWith('plaza_session.sig='))?.split(';')[0];
    expect(sig, `set-cookie: ${set.join(' | ')}`).toBeDefined();
    for (const c of set) expect(c).toMatch(/httponly/i);

    await plaza.http.get('/v1/me').set('Cookie', `${session}; ${sig}`).expect(200);
    await plaza.http.get('/v1/me').set('Cookie', session).expect(401);
    const forged = `plaza_session.sig=${sig!.split('=')[1].replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A'))}`;
    await plaza.http.get('/v1/me').set('Cookie', `${session}; ${forged}`).expect(401);
    // A signature of another token does not carry over either.
    const other = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'Other', email: uniqueEmail(), password: 'a long enough password' })
      .expect(201);
    const otherSig = (other.headers['set-cookie'] as unknown as string[])
      .find((c) => c.startsWith('plaza_session.sig='))!
      .split(';')[0];
    await plaza.http.get('/v1/me').set('Cookie', `${session}; ${otherSig}`).expect(401);
  });

  it('is cleared, signature included, on sign-out', async () => {
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'Out', email: uniqueEmail(), password: 'a long enough password' })
      .expect(201);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const out = await plaza.http
      .post('/v1/auth/logout')
      .set('Cookie', cookie)
      .set('x-csrf-token', res.body.csrfToken)
      .expect(204);
    const cleared = (out.headers['set-cookie'] as unknown as string[]).join(' | ');
    expect(cleared).toMatch(/plaza_session=;[^|]*expires=Thu, 01 Jan 1970/);
    expect(cleared).toMatch(/plaza_session\.sig=[^;|]*;[^|]*expires=Thu, 01 Jan 1970/);
  });
});
