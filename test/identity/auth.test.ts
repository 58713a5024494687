import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { signUp, uniqueEmail } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_LOGIN_MAX_FAILURES: '3' });
});
afterAll(() => plaza.close());

describe('sign up, sign in, sign out', () => {
  it('signs up with a session cookie that is httpOnly and SameSite', async () => {
    const email = uniqueEmail();
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'Ann', email, password: 'a long enough password' });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email, name: 'Ann', platformRole: null });
    expect(res.body.user.id).toMatch(/^usr_[0-9a-z]{26}$/);
    const cookie = res.headers['set-cookie'][0];
    expect(cookie).toMatch(/^plaza_session=plz_sess_/);
    expect(cookie).toMatch(/httponly/i);
    expect(cookie).toMatch(/samesite=lax/i);
    // The cookie goes with its signature (plaza_session.sig).
    const both = (res.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const me = await plaza.http.get('/v1/me').set('Cookie', both).expect(200);
    expect(me.body.user.email).toBe(email);
    expect(me.body.csrfToken).toBe(res.body.csrfToken);
  });

  it('stores the password as an argon2id hash', async () => {
    const { user } = await signUp(plaza, { password: 'my secret password 1' });
    const row = await plaza.core.db.one('SELECT password_hash FROM users WHERE id = $1', [user.id]);
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(row.password_hash).not.toContain('my secret password 1');
  });

  it('refuses a duplicate email (any case) with 409 naming the field', async () => {
    const email = uniqueEmail();
    await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'A', email, password: 'a long enough password' })
      .expect(201);
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'B', email: email.toUpperCase(), password: 'a long enough password' })
      .expect(409);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({
      code: 'PLAZA_CONFLICT',
      status: 409,
      fields: [{ field: 'body.email' }],
    });
  });

  it('rejects bad input with every failing field', async () => {
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: '', email: 'not-an-email', password: 'short' })
      .expect(400);
    expect(res.body.code).toBe('PLAZA_VALIDATION');
    expect(res.body.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'body.email',
      'body.name',
      'body.password',
    ]);
  });

  it('signs in and out; the old cookie stops working', async () => {
    const email = uniqueEmail();
    await signUp(plaza, { email, password: 'another good password' });
    const login = await plaza.http
      .post('/v1/auth/login')
      .send({ email, password: 'another good password' })
      .expect(200);
    const cookie = (login.headers['set-cookie'] as unknown as string[])
      .map((c) => c.split(';')[0])
      .join('; ');
    await plaza.http.get('/v1/me').set('Cookie', cookie).expect(200);
    await plaza.http
      .post('/v1/auth/logout')
      .set('Cookie', cookie)
      .set('x-csrf-token', login.body.csrfToken)
      .expect(204);
    const after = await plaza.http.get('/v1/me').set('Cookie', cookie).expect(401);
    expect(after.body.code).toBe('PLAZA_UNAUTHENTICATED');
  });

  it('refuses a state change with a cookie but without the CSRF token', async () => {
    const who = await signUp(plaza);
    const res = await who.agent.post('/v1/organizations').send({ name: 'X', kind: 'developer' }).expect(403);
    expect(res.body.code).toBe('PLAZA_CSRF');
    await who.agent
      .post('/v1/organizations')
      .set('x-csrf-token', 'csrf_wrong')
      .send({ name: 'X', kind: 'developer' })
      .expect(403);
    const count = await plaza.core.db.one('SELECT count(*)::int AS n FROM memberships WHERE user_id = $1', [
      who.user.id,
    ]);
    expect(count.n).toBe(0);
  });

  it('locks sign-in after repeated failures, with Retry-After, even for the right password', async () => {
    const email = uniqueEmail();
    await signUp(plaza, { email, password: 'the right password!' });
    for (let i = 0; i < 3; i++) {
      const res = await plaza.http
        .post('/v1/auth/login')
        .send({ email, password: 'wrong password' })
        .expect(401);
      expect(res.body.code).toBe('PLAZA_BAD_CREDENTIALS');
    }
    const locked = await plaza.http
      .post('/v1/auth/login')
      .send({ email, password: 'the right password!' })
      .expect(429);
    expect(locked.body.code).toBe('PLAZA_LOGIN_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('answers an unknown email like a wrong password', async () => {
    const res = await plaza.http
      .post('/v1/auth/login')
      .send({ email: uniqueEmail(), password: 'whatever it is' })
      .expect(401);
    expect(res.body.code).toBe('PLAZA_BAD_CREDENTIALS');
  });

  it('records sign-ins in the audit log with IP', async () => {
    const email = uniqueEmail();
    const who = await signUp(plaza, { email, password: 'audit me please' });
    await plaza.http.post('/v1/auth/login').send({ email, password: 'audit me please' }).expect(200);
    const log = await who.agent.get('/v1/me/audit-log').expect(200);
    const actions = log.body.data.map((e: { action: string }) => e.action);
    expect(actions.filter((a: string) => a === 'session.created')).toHaveLength(2);
    expect(log.body.data[0].ip).toBeTruthy();
  });
});

describe('housekeeping', () => {
  it('the hourly cleanup job removes expired sessions and stale sign-in failures only', async () => {
    const who = await signUp(plaza);
    const db = plaza.core.db;
    await db.query(
      `INSERT INTO sessions (id, user_id, token_hash, csrf_token, expires_at)
       VALUES ('sess_expired_1', $1, 'hash-expired-1', 'csrf', now() - interval '1 minute')`,
      [who.user.id],
    );
    await db.query(
      `INSERT INTO login_failures (email, ip, at) VALUES ('old@example.test', '10.0.0.1', now() - interval '1 day'),
       ('recent@example.test', '10.0.0.1', now())`,
    );
    await plaza.core.jobs.enqueue('identity.cleanup', null);
    for (let i = 0; i < 200; i++) {
      if (!(await db.maybeOne("SELECT 1 FROM sessions WHERE id = 'sess_expired_1'"))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await db.maybeOne("SELECT 1 FROM sessions WHERE id = 'sess_expired_1'")).toBeUndefined();
    await who.agent.get('/v1/me').expect(200); // the live session stays
    const emails = (await db.query('SELECT email FROM login_failures ORDER BY email')).map((r) => r.email);
    expect(emails).toContain('recent@example.test');
    expect(emails).not.toContain('old@example.test');
  });
});
