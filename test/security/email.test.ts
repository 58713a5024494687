import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { linkToken, mailTo, verifyEmail } from '../helpers/email.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signInWithPlatformRole, signUp, uniqueEmail } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_DEV_MAILBOX: 'true', PLAZA_PUBLIC_URL: 'http://localhost:3000' });
});
afterAll(() => plaza.close());

async function invite(owner: Awaited<ReturnType<typeof signUp>>, orgId: string, email: string) {
  await owner.agent
    .post(`/v1/organizations/${orgId}/invitations`)
    .set('x-csrf-token', owner.csrf)
    .send({ email, role: 'admin' })
    .expect(201);
  return linkToken(await mailTo(plaza, email, /invited you/), '/invitations');
}

describe('the dev mailbox', () => {
  it('is off unless enabled, and never on by itself for a public URL, in production or with SMTP', () => {
    expect(loadConfig({}).devMailbox).toBe(true); // npm start on a laptop: http://localhost:3000
    expect(loadConfig({ PLAZA_PUBLIC_URL: 'https://plaza.example.com' }).devMailbox).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).devMailbox).toBe(false);
    expect(loadConfig({ SMTP_URL: 'smtp://mail:25' }).devMailbox).toBe(false);
    expect(
      loadConfig({ PLAZA_PUBLIC_URL: 'https://plaza.example.com', PLAZA_DEV_MAILBOX: 'true' }).devMailbox,
    ).toBe(true);
  });

  it('the container images turn it off', async () => {
    const { readFileSync } = await import('node:fs');
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/PLAZA_DEV_MAILBOX=false/);
    expect(compose).toMatch(/PLAZA_DEV_MAILBOX: "false"/);
    expect(compose).not.toMatch(/PLAZA_DEV_MAILBOX: "?true/);
  });

  it('is readable by platform admins only', async () => {
    const someone = await signUp(plaza);
    await plaza.http.get('/v1/dev/mailbox').expect(401);
    const refused = await someone.agent.get('/v1/dev/mailbox').expect(403);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
    const admin = await signInWithPlatformRole(plaza, 'admin');
    await mailTo(plaza, someone.user.email);
    const box = await admin.agent.get('/v1/dev/mailbox').expect(200);
    expect(box.body.data.some((m: { to: string }) => m.to === someone.user.email)).toBe(true);
  });
});

describe('email verification', () => {
  it('a new account is unverified until its person follows the emailed link', async () => {
    const who = await signUp(plaza);
    expect(who.user).toMatchObject({ emailVerified: false });
    const mail = await mailTo(plaza, who.user.email, /verify/i);
    expect(mail.text).toContain('http://localhost:3000/verify-email?token=');
    const token = linkToken(mail, '/verify-email');
    // A token altered by one character is refused, naming the field.
    const forged = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const bad = await plaza.http.post('/v1/auth/verify-email').send({ token: forged }).expect(400);
    expect(bad.body.fields[0].field).toBe('body.token');
    const ok = await plaza.http.post('/v1/auth/verify-email').send({ token }).expect(200);
    expect(ok.body.user).toMatchObject({ id: who.user.id, emailVerified: true });
    const me = await who.agent.get('/v1/me').expect(200);
    expect(me.body.user.emailVerified).toBe(true);
  });

  it('an expired link is refused', async () => {
    const who = await signUp(plaza);
    const token = plaza.core.identity.emailVerificationToken(
      { id: who.user.id, email: who.user.email },
      new Date(Date.now() - 1000),
    );
    const res = await plaza.http.post('/v1/auth/verify-email').send({ token }).expect(400);
    expect(res.body.detail).toMatch(/expired/);
  });

  it('sends a new link on request', async () => {
    const who = await signUp(plaza);
    await mailTo(plaza, who.user.email, /verify/i);
    await who.agent.post('/v1/auth/verify-email/resend').set('x-csrf-token', who.csrf).expect(202);
    for (let i = 0; i < 100; i++) {
      const n = (await plaza.core.mail.mailbox(200)).filter((m) => m.to === who.user.email).length;
      if (n === 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await plaza.core.mail.mailbox(200)).filter((m) => m.to === who.user.email)).toHaveLength(2);
  });

  it('closes the takeover chain: an invitation is accepted only with a verified matching email', async () => {
    const owner = await signUp(plaza);
    await verifyEmail(plaza, owner);
    const org = await createOrg(owner, 'developer');
    const victimEmail = uniqueEmail('victim');
    const token = await invite(owner, org.id, victimEmail);
    // An attacker who learnt the link signs up with the invited address but cannot read its mail.
    const attacker = await signUp(plaza, { email: victimEmail });
    const refused = await attacker.agent
      .post(`/v1/invitations/${token}/accept`)
      .set('x-csrf-token', attacker.csrf)
      .expect(403);
    expect(refused.body.code).toBe('PLAZA_EMAIL_UNVERIFIED');
    expect(refused.body.detail).toMatch(/verify/);
    await attacker.agent.get(`/v1/organizations/${org.id}`).expect(404);
    // The owner of the address verifies it (the link went to their mailbox) and may accept.
    await verifyEmail(plaza, attacker);
    await attacker.agent
      .post(`/v1/invitations/${token}/accept`)
      .set('x-csrf-token', attacker.csrf)
      .expect(200);
  });

  it('sign-in works before verification', async () => {
    const email = uniqueEmail();
    await signUp(plaza, { email, password: 'a long enough password' });
    const res = await plaza.http
      .post('/v1/auth/login')
      .send({ email, password: 'a long enough password' })
      .expect(200);
    expect(res.body.user.emailVerified).toBe(false);
  });
});

describe('password reset', () => {
  it('answers the same whether or not the address exists, and mails only real accounts', async () => {
    const who = await signUp(plaza);
    const known = await plaza.http
      .post('/v1/auth/password/forgot')
      .send({ email: who.user.email })
      .expect(202);
    const ghost = uniqueEmail('ghost');
    const unknown = await plaza.http.post('/v1/auth/password/forgot').send({ email: ghost }).expect(202);
    expect(unknown.body).toEqual(known.body);
    await mailTo(plaza, who.user.email, /reset/i);
    await new Promise((r) => setTimeout(r, 300));
    expect((await plaza.core.mail.mailbox(200)).some((m) => m.to === ghost)).toBe(false);
  });

  it('resets the password once with a short-lived token stored only as a hash, and ends other sessions', async () => {
    const who = await signUp(plaza, { password: 'the old password!' });
    await plaza.http.post('/v1/auth/password/forgot').send({ email: who.user.email }).expect(202);
    const mail = await mailTo(plaza, who.user.email, /reset/i);
    expect(mail.text).toMatch(/valid for 30 minutes/);
    const token = linkToken(mail, '/reset-password');
    const stored = await plaza.core.db.query('SELECT token_hash FROM password_resets WHERE user_id = $1', [
      who.user.id,
    ]);
    expect(stored).toHaveLength(1);
    expect(stored[0].token_hash).not.toContain(token);

    const short = await plaza.http
      .post('/v1/auth/password/reset')
      .send({ token, password: 'short' })
      .expect(400);
    expect(short.body.fields[0].field).toBe('body.password');
    await plaza.http
      .post('/v1/auth/password/reset')
      .send({ token, password: 'a brand new password' })
      .expect(204);
    const again = await plaza.http
      .post('/v1/auth/password/reset')
      .send({ token, password: 'another new password' })
      .expect(400);
    expect(again.body.fields[0].field).toBe('body.token');

    await who.agent.get('/v1/me').expect(401); // the old session ended
    await plaza.http
      .post('/v1/auth/login')
      .send({ email: who.user.email, password: 'the old password!' })
      .expect(401);
    const login = await plaza.http
      .post('/v1/auth/login')
      .send({ email: who.user.email, password: 'a brand new password' })
      .expect(200);
    // Following a link from the mailbox proves the address too.
    expect(login.body.user.emailVerified).toBe(true);
  });

  it('refuses an expired reset link', async () => {
    const who = await signUp(plaza);
    await plaza.http.post('/v1/auth/password/forgot').send({ email: who.user.email }).expect(202);
    const token = linkToken(await mailTo(plaza, who.user.email, /reset/i), '/reset-password');
    await plaza.core.db.query(
      "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = $1",
      [who.user.id],
    );
    const res = await plaza.http
      .post('/v1/auth/password/reset')
      .send({ token, password: 'a brand new password' })
      .expect(400);
    expect(res.body.fields[0]).toMatchObject({ field: 'body.token' });
  });
});
