import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { signUp, uniqueEmail } from '../helpers/world.ts';

/**
 * Sign-in locks: an email is locked after PLAZA_LOGIN_MAX_FAILURES failures;
 * many failures from one address (everyone behind a proxy shares one) slow
 * that address's failed attempts down but never refuse a right password for
 * an account that is not locked itself.
 */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_LOGIN_MAX_FAILURES: '2' });
});
afterAll(() => plaza.close());

const login = (email: string, password: string) =>
  plaza.http.post('/v1/auth/login').send({ email, password });

describe('sign-in lockout', () => {
  it('a noisy address does not lock out a different person with the right password', async () => {
    const person = await signUp(plaza, { password: 'the right password' });
    // 2 x 4 = 8 failures is the per-address threshold; go past it with made-up emails.
    for (let i = 0; i < 10; i++) {
      const res = await login(uniqueEmail('guess'), 'wrong password');
      expect(res.status, JSON.stringify(res.body)).toBe(401);
    }
    const ok = await login(person.user.email, 'the right password');
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    // Wrong guesses from that address are still answered (slowly), not with a lock of everyone.
    expect((await login(uniqueEmail('guess'), 'wrong password')).status).toBe(401);
  });

  it('keeps the per-email lock, even for the right password', async () => {
    const person = await signUp(plaza, { password: 'the right password' });
    await login(person.user.email, 'wrong one').expect(401);
    await login(person.user.email, 'wrong two').expect(401);
    const locked = await login(person.user.email, 'the right password').expect(429);
    expect(locked.body.code).toBe('PLAZA_LOGIN_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });
});
